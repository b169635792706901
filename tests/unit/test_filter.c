/*
 * test_filter.c: routes' `where:` filters, table-driven: every key alone, keys together, lists,
 * `not`, and the errors of bad values, over a mix of parsed RFC 3164 and RFC 5424 messages
 * from TLS-verified, anonymous and plain senders. The glob matcher is checked against
 * glibc's fnmatch(3) on fixed and pseudo-random patterns; regex matching against several
 * threads at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fnmatch.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/msg.h"
#include "core/peer.h"
#include "parse/parse.h"
#include "route/filter.h"

/* 2026-01-20T12:00:00Z */
#define RECV 1768910400LL

enum peer_kind { PEER_NONE, PEER_RELAY, PEER_ANON, PEER_WEB };

static const struct {
    const char *raw;
    enum peer_kind peer;
} samples[] = {
    /* 0: auth.info */
    { "<38>Jan 20 12:00:00 web01 sshd[123]: Accepted publickey for root from 192.0.2.9",
      PEER_RELAY },
    /* 1: authpriv.notice */
    { "<85>Jan 20 12:00:01 web01 sudo: pam_unix(sudo:auth): authentication failure",
      PEER_RELAY },
    /* 2: user.err, RFC 5424 */
    { "<11>1 2026-01-20T12:00:02Z web02 nginx 99 - - upstream timed out (110: Connection "
      "timed out)", PEER_RELAY },
    /* 3: user.notice, RFC 5424 with structured data */
    { "<13>1 2026-01-20T12:00:03Z db01.example.net php-fpm7.4 - - [x@1 a=\"b\"] child 42 "
      "exited: ERROR", PEER_RELAY },
    /* 4: local7.debug from an anonymous TLS sender */
    { "<191>Jan 20 12:00:04 web01 app: debug details", PEER_ANON },
    /* 5: kern.emerg, no hostname, plain sender */
    { "<0>1 2026-01-20T12:00:05Z - kernel - - - Oops", PEER_NONE },
    /* 6: daemon.warning, upper-case hostname */
    { "<28>Jan 20 12:00:06 WEB03 php-fpm-worker[7]: WARNING: pool www busy, request timeout",
      PEER_WEB },
    /* 7: kern.warning, Latin-1 bytes (not UTF-8) and a UTF-8 word */
    { "<4>Jan 20 12:00:07 web01 kernel: caf\xe9 error in Caf\xc3\xa9 module", PEER_WEB },
};
#define N_MSG (sizeof(samples) / sizeof(samples[0]))

static struct tl_msg *msgs[N_MSG];

static struct tl_peer_id *make_peer(enum peer_kind k)
{
    static const char *const relay[] = { "relay1.example.net", "192.0.2.7" };
    static const char *const web[] = { "web.example.org", "www.example.org" };
    switch (k) {
    case PEER_RELAY:
        return tl_peer_id_new(true, relay[0], "CN=relay1", "DNS:relay1.example.net, "
                              "IP:192.0.2.7", NULL, relay, 2);
    case PEER_WEB:
        return tl_peer_id_new(true, web[0], "CN=web", "DNS:web.example.org, "
                              "DNS:www.example.org", NULL, web, 2);
    case PEER_ANON: {
        /* A certificate was shown, but the input is auth: anon: nobody checked it. */
        static const char *const mallory[] = { "relay1.example.net" };
        return tl_peer_id_new(false, mallory[0], "CN=mallory", "DNS:relay1.example.net", NULL,
                              mallory, 1);
    }
    default:
        return NULL;
    }
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_MSG; i++) {
        msgs[i] = tl_msg_new(samples[i].raw, strlen(samples[i].raw));
        assert_non_null(msgs[i]);
        msgs[i]->recv_sec = RECV;
        tl_parse(msgs[i]);
        msgs[i]->peer_id = make_peer(samples[i].peer);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_MSG; i++) {
        tl_msg_unref(msgs[i]);
    }
    return 0;
}

/* The parser must see the samples as the table below assumes. */
static void test_samples_parse_as_expected(void **state)
{
    (void)state;
    static const struct {
        int fac, sev;
        const char *app, *host;
    } want[N_MSG] = {
        { 4, 6, "sshd", "web01" },   { 10, 5, "sudo", "web01" },
        { 1, 3, "nginx", "web02" },  { 1, 5, "php-fpm7.4", "db01.example.net" },
        { 23, 7, "app", "web01" },   { 0, 0, "kernel", "" },
        { 3, 4, "php-fpm-worker", "WEB03" }, { 0, 4, "kernel", "web01" },
    };
    for (size_t i = 0; i < N_MSG; i++) {
        const struct tl_msg *m = msgs[i];
        assert_int_equal(m->facility, want[i].fac);
        assert_int_equal(m->severity, want[i].sev);
        assert_int_equal(m->app_name.len, strlen(want[i].app));
        assert_memory_equal(tl_msg_at(m, m->app_name), want[i].app, m->app_name.len);
        assert_int_equal(m->hostname.len, strlen(want[i].host));
        assert_memory_equal(tl_msg_at(m, m->hostname), want[i].host, m->hostname.len);
    }
}

/* One key of a case: "program" or "not.program", its values, and whether it is a list. */
struct kv {
    const char *key;
    const char *v[4];
    bool list;
};

struct fcase {
    const char *name;
    struct kv kv[4];
    const char *expect;  /* one '1' or '0' per sample: does the route carry it? */
};

static const struct fcase cases[] = {
    { "no keys: everything", { { 0 } }, "11111111" },

    /* facility */
    { "facility name", { { "facility", { "auth" }, false } }, "10000000" },
    { "facility list", { { "facility", { "auth", "authpriv" }, true } }, "11000000" },
    { "facility number and case", { { "facility", { "KERN", "23" }, true } }, "00001101" },
    { "facility one-item list", { { "facility", { "user" }, true } }, "00110000" },

    /* severity: a single name is a threshold, a list is exact, a.b is a range */
    { "severity threshold", { { "severity", { "warning" }, false } }, "00100111" },
    { "severity threshold err", { { "severity", { "err" }, false } }, "00100100" },
    { "severity threshold debug is all", { { "severity", { "debug" }, false } }, "11111111" },
    { "severity threshold emerg", { { "severity", { "emerg" }, false } }, "00000100" },
    { "severity exact list", { { "severity", { "warning" }, true } }, "00000011" },
    { "severity list", { { "severity", { "err", "debug" }, true } }, "00101000" },
    { "severity range", { { "severity", { "notice..info" }, false } }, "11010000" },
    { "severity range reversed", { { "severity", { "info..notice" }, false } }, "11010000" },
    { "severity range and name in a list",
      { { "severity", { "emerg", "6..7" }, true } }, "10001100" },
    { "severity aliases", { { "severity", { "warn", "error", "panic" }, true } }, "00100111" },

    /* program: globs, case-sensitive */
    { "program exact", { { "program", { "nginx" }, false } }, "00100000" },
    { "program globs", { { "program", { "nginx", "php-fpm*" }, true } }, "00110010" },
    { "program is case-sensitive", { { "program", { "SSHD" }, false } }, "00000000" },
    { "program ? and set", { { "program", { "s?d[a-z]", "kern[!x]l" }, true } }, "01000101" },
    { "program class", { { "program", { "php-fpm[[:digit:]]*" }, false } }, "00010000" },

    /* hostname: globs, case-insensitive; an absent hostname is "" */
    { "hostname glob", { { "hostname", { "web*" }, false } }, "11101011" },
    { "hostname case-insensitive", { { "hostname", { "WEB0[12]" }, false } }, "11101001" },
    { "hostname suffix", { { "hostname", { "*.example.net" }, false } }, "00010000" },
    { "hostname empty", { { "hostname", { "" }, false } }, "00000100" },
    { "hostname star matches absent", { { "hostname", { "*" }, false } }, "11111111" },

    /* peer_name: verified identities only, every name of the certificate */
    { "peer_name first name", { { "peer_name", { "relay1.example.net" }, false } },
      "11110000" },
    { "peer_name glob", { { "peer_name", { "*.example.net" }, false } }, "11110000" },
    { "peer_name IP SAN", { { "peer_name", { "192.0.2.*" }, false } }, "11110000" },
    { "peer_name second dNSName", { { "peer_name", { "WWW.example.org" }, false } },
      "00000011" },
    { "peer_name star needs a verified peer", { { "peer_name", { "*" }, false } },
      "11110011" },

    /* message: PCRE2 on MSG only */
    { "message regex", { { "message", { "(?i)error|timeout" }, false } }, "00010011" },
    { "message case-sensitive", { { "message", { "ERROR" }, false } }, "00010000" },
    { "message list", { { "message", { "^Oops$", "timed out" }, true } }, "00100100" },
    { "message not the header", { { "message", { "sshd|web01|Jan" }, false } }, "00000000" },
    { "message UTF-8 (?i)", { { "message", { "(?i)CAF\xc3\x89" }, false } }, "00000001" },
    { "message anchored", { { "message", { "^Accepted" }, false } }, "10000000" },
    { "message empty regex", { { "message", { "" }, false } }, "11111111" },

    /* keys together: all must match */
    { "facility and severity",
      { { "facility", { "auth", "authpriv" }, true }, { "severity", { "info" }, false } },
      "11000000" },
    { "facility and severity exact",
      { { "facility", { "auth", "authpriv" }, true }, { "severity", { "notice" }, true } },
      "01000000" },
    { "program and hostname",
      { { "program", { "php-fpm*" }, false }, { "hostname", { "web*" }, false } }, "00000010" },
    { "the issue's web route",
      { { "program", { "nginx", "php-fpm*" }, true }, { "hostname", { "web*" }, false },
        { "message", { "(?i)error|timeout" }, false }, { "not.severity", { "debug" }, true } },
      "00000010" },

    /* not: excludes what matches all of its keys */
    { "not severity", { { "not.severity", { "debug" }, true } }, "11110111" },
    { "not threshold", { { "not.severity", { "err" }, false } }, "11011011" },
    { "not program", { { "not.program", { "kernel" }, false } }, "11111010" },
    { "not is a conjunction",
      { { "not.program", { "kernel" }, false }, { "not.severity", { "emerg" }, false } },
      "11111011" },
    { "where and not",
      { { "hostname", { "web*" }, false }, { "not.program", { "sshd", "sudo" }, true } },
      "00101011" },
    { "not message", { { "not.message", { "(?i)error" }, false } }, "11101110" },
    { "not peer_name", { { "not.peer_name", { "*.example.org" }, false } }, "11111100" },
    { "not facility", { { "not.facility", { "kern" }, false } }, "11111010" },
    { "not hostname", { { "not.hostname", { "web0?" }, false } }, "00010100" },
};

/* Fills spec from a case; the strings stay the case's (compile copies what it keeps). */
static void spec_from(const struct kv *kv, size_t n, struct tl_filter_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    for (size_t i = 0; i < n && kv[i].key; i++) {
        const char *key = kv[i].key;
        struct tl_filter_keys *k = &spec->where;
        if (strncmp(key, "not.", 4) == 0) {
            k = &spec->where_not;
            key += 4;
        }
        struct tl_filter_values *v = strcmp(key, "facility") == 0    ? &k->facility
                                     : strcmp(key, "severity") == 0  ? &k->severity
                                     : strcmp(key, "program") == 0   ? &k->program
                                     : strcmp(key, "hostname") == 0  ? &k->hostname
                                     : strcmp(key, "peer_name") == 0 ? &k->peer_name
                                     : strcmp(key, "message") == 0   ? &k->message
                                                                     : NULL;
        assert_non_null(v);
        v->v = kv[i].v;
        v->n = 0;
        while (v->n < 4 && kv[i].v[v->n]) {
            v->n++;
        }
        v->is_list = kv[i].list;
    }
}

static void check_case(const char *name, const struct tl_filter_spec *spec, const char *expect,
                       bool invert)
{
    struct tl_err err;
    struct tl_filter *f = tl_filter_compile(spec, &err);
    if (!f) {
        fail_msg("%s: %s", name, err.cause);
    }
    char got[N_MSG + 1];
    for (size_t i = 0; i < N_MSG; i++) {
        got[i] = tl_filter_match(f, msgs[i]) ? '1' : '0';
    }
    got[N_MSG] = '\0';
    char want[N_MSG + 1];
    for (size_t i = 0; i <= N_MSG; i++) {
        want[i] = invert && expect[i] ? (char)('0' + '1' - expect[i]) : expect[i];
    }
    if (strcmp(got, want) != 0) {
        fail_msg("%s%s: carries %s, want %s", invert ? "not: " : "", name, got, want);
    }
    assert_int_equal(tl_filter_regex_errors(f), 0);
    tl_filter_free(f);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct tl_filter_spec spec;
        spec_from(cases[c].kv, 4, &spec);
        assert_int_equal(strlen(cases[c].expect), N_MSG);
        check_case(cases[c].name, &spec, cases[c].expect, false);

        /* The same keys under `not` carry exactly the other messages. */
        bool only_where = spec.where_not.facility.n + spec.where_not.severity.n +
                              spec.where_not.program.n + spec.where_not.hostname.n +
                              spec.where_not.peer_name.n + spec.where_not.message.n == 0;
        if (only_where && c > 0) {
            struct tl_filter_spec neg = { .where_not = spec.where };
            check_case(cases[c].name, &neg, cases[c].expect, true);
        }
    }
}

static void test_null_filter_carries_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_MSG; i++) {
        assert_true(tl_filter_match(NULL, msgs[i]));
    }
    assert_int_equal(tl_filter_regex_errors(NULL), 0);
    tl_filter_free(NULL);
}

struct bad {
    struct kv kv[2];
    const char *err;
};

static void test_errors_name_key_and_value(void **state)
{
    (void)state;
    static const struct bad bad[] = {
        { { { "facility", { "authx" }, false } },
          "where.facility: unknown facility 'authx'; use kern, user, mail, daemon, auth, syslog, "
          "lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, local0 .. "
          "local7 or 0..23" },
        { { { "facility", { "auth", "24" }, true } },
          "where.facility[1]: unknown facility '24'; use kern, user, mail, daemon, auth, syslog, "
          "lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, local0 .. "
          "local7 or 0..23" },
        { { { "severity", { "warnin" }, false } },
          "where.severity: unknown severity 'warnin'; use emerg, alert, crit, err, warning, "
          "notice, info, debug or 0..7" },
        { { { "not.severity", { "info", "8" }, true } },
          "where.not.severity[1]: unknown severity '8'; use emerg, alert, crit, err, warning, "
          "notice, info, debug or 0..7" },
        { { { "severity", { "warning.." }, false } },
          "where.severity: 'warning..' is not a range of two severities; write it as "
          "'from..to', e.g. 'warning..emerg', with emerg, alert, crit, err, warning, notice, "
          "info, debug or 0..7" },
        { { { "severity", { "..." }, false } },
          "where.severity: '...' is not a range of two severities; write it as 'from..to', "
          "e.g. 'warning..emerg', with emerg, alert, crit, err, warning, notice, info, debug "
          "or 0..7" },
        { { { "program", { "nginx", "php[" }, true } },
          "where.program[1]: glob 'php[': '[' is not closed (write \\[ for a literal bracket) "
          "at offset 3" },
        { { { "hostname", { "web\\" }, false } },
          "where.hostname: glob 'web\\x5c': a trailing backslash quotes nothing at offset 3" },
        { { { "not.peer_name", { "[[:dgit:]]" }, false } },
          "where.not.peer_name: glob '[[:dgit:]]': unknown character class at offset 1" },
        { { { "program", { "x[[.a.]]" }, false } },
          "where.program: glob 'x[[.a.]]': collating symbols [. .] and equivalence classes [= =] "
          "are not supported (write \\[ for a literal bracket) at offset 2" },
        { { { "message", { "(?i)err(or" }, false } },
          "where.message: invalid regex '(?i)err(or': missing closing parenthesis at offset "
          "10" },
        { { { "not.message", { "ok", "a{2,1}" }, true } },
          "where.not.message[1]: invalid regex 'a{2,1}': numbers out of order in {} quantifier "
          "at offset 5" },
        { { { "message", { "caf\xe9" }, false } },
          "where.message: invalid regex 'caf\\xe9': UTF-8 error: 2 bytes missing at end at "
          "offset 3" },
        { { { "program", { NULL }, true } },
          "where.program: an empty list matches nothing; remove the key or give it values" },
        /* A good key does not hide a bad one after it. */
        { { { "facility", { "auth" }, false }, { "not.hostname", { "a[b" }, false } },
          "where.not.hostname: glob 'a[b': '[' is not closed (write \\[ for a literal "
          "bracket) at offset 1" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tl_filter_spec spec;
        struct tl_err err;
        spec_from(bad[i].kv, 2, &spec);
        struct tl_filter *f = tl_filter_compile(&spec, &err);
        if (f) {
            fail_msg("case %zu compiled", i);
        }
        assert_int_equal(err.code, TL_E_CONFIG);
        assert_string_equal(err.remedy, "");
        if (strcmp(err.cause, bad[i].err) != 0) {
            fail_msg("case %zu:\n got: %s\nwant: %s", i, err.cause, bad[i].err);
        }
    }
}

/* A regex that backtracks without end gives up at the match limit: no match, counted. */
static void test_regex_limit_is_counted(void **state)
{
    (void)state;
    static const char *const re[] = { "^(a+)+$" };
    struct tl_filter_spec spec = { .where.message = { re, 1, false } };
    struct tl_err err;
    struct tl_filter *f = tl_filter_compile(&spec, &err);
    assert_non_null(f);

    char raw[128] = "<13>1 2026-01-20T12:00:00Z h app - - - ";
    size_t n = strlen(raw);
    memset(raw + n, 'a', 40);
    raw[n + 40] = 'b';
    struct tl_msg *m = tl_msg_new(raw, n + 41);
    assert_non_null(m);
    m->recv_sec = RECV;
    tl_parse(m);
    assert_int_equal(m->msg.len, 41);
    assert_false(tl_filter_match(f, m));
    assert_int_equal(tl_filter_regex_errors(f), 1);

    /* The same pattern on a message it matches quickly. */
    struct tl_msg *ok = tl_msg_new(raw, n + 40);
    assert_non_null(ok);
    ok->recv_sec = RECV;
    tl_parse(ok);
    assert_true(tl_filter_match(f, ok));
    assert_int_equal(tl_filter_regex_errors(f), 1);
    tl_msg_unref(ok);
    tl_msg_unref(m);
    tl_filter_free(f);
}

/* ---- several worker threads on one filter ---- */

struct worker {
    const struct tl_filter *f;
    const char *want;
    int bad;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < N_MSG; i++) {
            if (tl_filter_match(w->f, msgs[i]) != (w->want[i] == '1')) {
                w->bad++;
            }
        }
    }
    return NULL;
}

static void test_threads_share_one_filter(void **state)
{
    (void)state;
    static const char *const re[] = { "(?i)error|timeout", "^Oops$" };
    static const char *const prog[] = { "*" };
    struct tl_filter_spec spec = {
        .where.message = { re, 2, true },
        .where.program = { prog, 1, false },
    };
    struct tl_err err;
    struct tl_filter *f = tl_filter_compile(&spec, &err);
    assert_non_null(f);

    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ f, "00010111", 0 };
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
    assert_int_equal(tl_filter_regex_errors(f), 0);
    tl_filter_free(f);
}

/* ---- globs against fnmatch(3) ---- */

static void glob_vs_fnmatch(const char *pattern, const char *s, bool fold)
{
    struct tl_err err;
    struct tl_glob *g = tl_glob_compile(pattern, fold, &err);
    if (!g) {
        fail_msg("glob '%s' refused: %s", pattern, err.cause);
    }
    bool want = fnmatch(pattern, s, fold ? FNM_CASEFOLD : 0) == 0;
    bool got = tl_glob_match(g, (const uint8_t *)s, strlen(s));
    /* Folded, glibc lower-cases the text first and then asks isupper(): [[:upper:]] matches
     * no letter at all. Here a folded glob reads every letter as both cases, classes too. */
    if (fold && (strstr(pattern, "[:upper:]") || strstr(pattern, "[:lower:]"))) {
        want = got;  /* checked on its own in test_glob_fixed */
    }
    if (got != want) {
        fail_msg("glob '%s'%s on '%s': %d, fnmatch says %d", pattern, fold ? " (fold)" : "", s,
                 got, want);
    }
    tl_glob_free(g);
}

static const char *const pats[] = {
        "", "*", "**", "?", "a", "a*", "*a", "*a*", "a*b*c", "a?c", "[abc]", "[!abc]", "[^abc]",
        "[a-c]x", "[]]", "[!]]", "[]-a]", "[a-]", "[\\]]", "\\*", "\\?", "a\\b", "[[:digit:]]*",
        "[[:alpha:][:digit:]]", "[[:upper:]]", "*.example.net", "web*", "php-fpm*", "*[0-9]",
        "a*a*a*a*b", ".*", "/x/*", "[z-a]", "*\\[*",
    };
static const char *const strs[] = {
        "", "a", "b", "abc", "aXbYc", "ac", "abbc", "]", "-", "x", "*", "?", "ab", "aaaaaaaaaab",
        "aaaaaaaaaa", "web01", "WEB01", "relay1.example.net", "php-fpm7.4", "1", "Q", "q",
        ".hidden", "/x/y/z", "[", "z[", "\\",
};
#define N_PATS (sizeof(pats) / sizeof(pats[0]))
#define N_STRS (sizeof(strs) / sizeof(strs[0]))

static void test_glob_fixed(void **state)
{
    (void)state;
    for (size_t p = 0; p < N_PATS; p++) {
        for (size_t s = 0; s < N_STRS; s++) {
            glob_vs_fnmatch(pats[p], strs[s], false);
            glob_vs_fnmatch(pats[p], strs[s], true);
        }
    }

    /* Folded, a class of one case stands for letters of both. */
    struct tl_err err;
    struct tl_glob *g = tl_glob_compile("x[[:upper:]]", true, &err);
    assert_non_null(g);
    assert_true(tl_glob_match(g, (const uint8_t *)"xa", 2));
    assert_true(tl_glob_match(g, (const uint8_t *)"XQ", 2));
    assert_false(tl_glob_match(g, (const uint8_t *)"x1", 2));
    assert_false(tl_glob_match(g, (const uint8_t *)"xab", 3));
    tl_glob_free(g);
    g = tl_glob_compile("[![:lower:]]", true, &err);
    assert_non_null(g);
    assert_false(tl_glob_match(g, (const uint8_t *)"A", 1));
    assert_true(tl_glob_match(g, (const uint8_t *)"7", 1));
    tl_glob_free(g);
    /* Bytes outside ASCII are plain bytes, folded or not. */
    g = tl_glob_compile("caf\xc3[\xa9\x89]", true, &err);
    assert_non_null(g);
    assert_true(tl_glob_match(g, (const uint8_t *)"CAF\xc3\xa9", 5));
    assert_false(tl_glob_match(g, (const uint8_t *)"caf\xc3\xa8", 5));
    tl_glob_free(g);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Random patterns and strings over a small alphabet, so that they meet often. */
static void test_glob_random(void **state)
{
    (void)state;
    static const char palpha[] = "abAB**?[]!^-\\";
    static const char salpha[] = "abAB-]!";
    size_t compared = 0;
    for (int round = 0; round < 20000; round++) {
        char pat[12];
        char s[12];
        size_t pn = rnd(sizeof(pat));
        size_t sn = rnd(sizeof(s));
        for (size_t i = 0; i < pn; i++) {
            pat[i] = palpha[rnd(sizeof(palpha) - 1)];
        }
        pat[pn] = '\0';
        for (size_t i = 0; i < sn; i++) {
            s[i] = salpha[rnd(sizeof(salpha) - 1)];
        }
        s[sn] = '\0';
        struct tl_err err;
        bool fold = rnd(2);
        struct tl_glob *g = tl_glob_compile(pat, fold, &err);
        if (!g) {
            /* Refused: an unclosed '[' (fnmatch reads it as a literal) or a trailing '\'. */
            assert_true(strchr(pat, '[') || pat[pn - 1] == '\\');
            continue;
        }
        tl_glob_free(g);
        glob_vs_fnmatch(pat, s, fold);
        compared++;
    }
    /* Most patterns must have been compared, not refused. */
    assert_true(compared > 10000);
}

/* A message whose APP-NAME and HOSTNAME are both s, from a verified sender named s. */
static struct tl_msg *named_msg(const char *s)
{
    size_t len = strlen(s);
    struct tl_msg *m = tl_msg_new(s, len);
    assert_non_null(m);
    m->app_name = m->hostname = (struct tl_slice){ 0, (uint32_t)len };
    m->peer_id = tl_peer_id_new(true, s, NULL, NULL, NULL, NULL, 0);
    assert_non_null(m->peer_id);
    return m;
}

/* The filter compiles name, prefix and suffix globs into inline comparisons of its own and
 * leaves the rest to tl_glob_match: both must give the glob's answer, alone and in lists
 * that mix the two kinds (any item matching is enough). */
static void test_filter_names_as_globs(void **state)
{
    (void)state;
    static const char *const keys[] = { "program", "hostname", "peer_name" };
    for (size_t k = 0; k < 3; k++) {
        bool fold = k > 0;
        for (size_t p = 0; p < N_PATS; p++) {
            for (size_t q = 0; q <= N_PATS; q++) {
                if (q < N_PATS && q % 5 != p % 5) {
                    continue;  /* a sample of the pairs is enough */
                }
                const char *items[2] = { pats[p], q < N_PATS ? pats[q] : NULL };
                struct tl_filter_spec spec = { 0 };
                struct tl_filter_values v = { items, items[1] ? 2 : 1, true };
                if (k == 0) {
                    spec.where.program = v;
                } else if (k == 1) {
                    spec.where.hostname = v;
                } else {
                    spec.where.peer_name = v;
                }
                struct tl_err err;
                struct tl_filter *f = tl_filter_compile(&spec, &err);
                if (!f) {
                    fail_msg("%s: %s", keys[k], err.cause);
                }
                struct tl_glob *g[2] = { tl_glob_compile(items[0], fold, &err),
                                         items[1] ? tl_glob_compile(items[1], fold, &err)
                                                  : NULL };
                assert_non_null(g[0]);
                for (size_t s = 0; s < N_STRS; s++) {
                    const uint8_t *b = (const uint8_t *)strs[s];
                    size_t n = strlen(strs[s]);
                    bool want = tl_glob_match(g[0], b, n) || (g[1] && tl_glob_match(g[1], b, n));
                    struct tl_msg *m = named_msg(strs[s]);
                    if (tl_filter_match(f, m) != want) {
                        fail_msg("%s: ['%s'%s%s] on '%s': %d, the globs say %d", keys[k],
                                 items[0], items[1] ? "', '" : "", items[1] ? items[1] : "",
                                 strs[s], !want, want);
                    }
                    tl_msg_unref(m);
                }
                tl_glob_free(g[0]);
                tl_glob_free(g[1]);
                tl_filter_free(f);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_parse_as_expected),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_null_filter_carries_all),
        cmocka_unit_test(test_errors_name_key_and_value),
        cmocka_unit_test(test_regex_limit_is_counted),
        cmocka_unit_test(test_threads_share_one_filter),
        cmocka_unit_test(test_glob_fixed),
        cmocka_unit_test(test_glob_random),
        cmocka_unit_test(test_filter_names_as_globs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
