/*
 * values.c: the value syntaxes of the configuration (sizes, durations, listen addresses,
 * ...) and the operations of each key type (tl_conf_ktypes): how one value is parsed and
 * stored, shown and described. Pure functions, safe from any thread.
 */
#include "conf/conf.h"

#include "conf/diag.h"
#include "conf/keys.h"
#include "core/names.h"
#include "parse/template.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct unit {
    const char *name;
    uint64_t mult;
};

/* Sizes are binary multiples whatever the spelling: "k", "KB" and "KiB" are all 1024. */
static const struct unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1024},
    {"kb", 1024},
    {"kib", 1024},
    {"m", 1024 * 1024},
    {"mb", 1024 * 1024},
    {"mib", 1024 * 1024},
    {"g", 1024 * 1024 * 1024},
    {"gb", 1024 * 1024 * 1024},
    {"gib", 1024 * 1024 * 1024},
};

/* A bare number is seconds. */
static const struct unit duration_units[] = {
    {"", 1000},
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

/* Reads decimal digits; false when there are none or the value overflows. */
static bool digits(const char *s, uint64_t *v, const char **end)
{
    uint64_t x = 0;
    const char *p = s;

    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');

        if (x > (UINT64_MAX - d) / 10) {
            return false;
        }
        x = x * 10 + d;
        p++;
    }
    if (p == s) {
        return false;
    }
    *v = x;
    *end = p;
    return true;
}

/* NUMBER [spaces] UNIT, the unit matched without regard to case. */
static bool number_with_unit(const char *s, const struct unit *units, size_t n_units,
                             uint64_t *out)
{
    uint64_t v;
    const char *p;
    bool spaced = false;
    size_t i;

    if (s == NULL || !digits(s, &v, &p)) {
        return false;
    }
    while (*p == ' ') {
        p++;
        spaced = true;
    }
    for (i = 0; i < n_units; i++) {
        if (strcasecmp(p, units[i].name) != 0) {
            continue;
        }
        if (spaced && units[i].name[0] == '\0') {
            return false;
        }
        if (v > UINT64_MAX / units[i].mult) {
            return false;
        }
        *out = v * units[i].mult;
        return true;
    }
    return false;
}

bool tl_parse_size(const char *s, uint64_t *out)
{
    return number_with_unit(s, size_units, sizeof(size_units) / sizeof(size_units[0]), out);
}

bool tl_parse_duration_ms(const char *s, uint64_t *out)
{
    return number_with_unit(s, duration_units,
                            sizeof(duration_units) / sizeof(duration_units[0]), out);
}

static enum tl_rc parse_port(const char *s, size_t len, uint16_t *port, struct tl_err *err)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the port is missing after ':'");
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            TL_FAIL(err, TL_E_CONFIG, NULL, "port '%.*s' is not a number",
                    (int)(len > 32 ? 32 : len), s);
        }
        if (v <= 65535) {
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (v > 65535) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "port '%.*s' is out of range 0..65535",
                (int)(len > 32 ? 32 : len), s);
    }
    *port = (uint16_t)v;
    return TL_OK;
}

static bool all_digits(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return len > 0;
}


/* The inside of "[...]": an IPv6 address, optionally with a zone ("fe80::1%eth0"). */
static enum tl_rc valid_v6(const char *s, size_t len, struct tl_err *err)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    const char *pct = memchr(s, '%', len);
    size_t alen = pct ? (size_t)(pct - s) : len;
    size_t i;

    if (alen == 0 || alen >= sizeof(buf)) {
        goto bad;
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (inet_pton(AF_INET6, buf, &a6) != 1) {
        goto bad;
    }
    if (pct != NULL) {
        if (alen + 1 == len || len - alen > 17) {
            goto bad;
        }
        for (i = alen + 1; i < len; i++) {
            char c = s[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.')) {
                goto bad;
            }
        }
    }
    return TL_OK;
bad:
    TL_FAIL(err, TL_E_CONFIG, NULL, "'%.*s' is not an IPv6 address", (int)(len > 64 ? 64 : len),
            s);
}

enum tl_rc tl_parse_listen(const char *s, uint16_t default_port, char **host, uint16_t *port,
                           struct tl_err *err)
{
    const char *h;
    size_t hlen;
    const char *colon;
    size_t len;

    *host = NULL;
    if (s == NULL || s[0] == '\0') {
        TL_FAIL(err, TL_E_CONFIG, NULL, "it is empty");
    }
    len = strlen(s);
    *port = default_port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL) {
            TL_FAIL(err, TL_E_CONFIG, NULL, "'[' has no matching ']'");
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        TL_TRY(valid_v6(h, hlen, err));
        if (close[1] == ':') {
            TL_TRY(parse_port(close + 2, strlen(close + 2), port, err));
        } else if (close[1] != '\0') {
            TL_FAIL(err, TL_E_CONFIG, NULL, "unexpected text after ']'; write [address]:port");
        }
    } else {
        colon = strchr(s, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            TL_FAIL(err, TL_E_CONFIG, NULL,
                    "an IPv6 address needs brackets, e.g. [::1]:514 or [::]:514");
        }
        if (colon == NULL && all_digits(s, len)) {
            /* "514": a port on all addresses. */
            return parse_port(s, len, port, err);
        }
        h = s;
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon != NULL) {
            TL_TRY(parse_port(colon + 1, strlen(colon + 1), port, err));
        }
        if (hlen == 0) {
            return TL_OK;
        }
        TL_TRY(tl_hostname_check(h, hlen, err));
    }
    *host = strndup(h, hlen);
    if (*host == NULL) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "out of memory");
    }
    return TL_OK;
}

/* ---- one value of each key type -------------------------------------------------------- */

const char *tl_conf_size_text(uint64_t v, char *out, size_t cap)
{
    if (v != 0 && v % GIB == 0) {
        snprintf(out, cap, "%lluGiB", (unsigned long long)(v / GIB));
    } else if (v != 0 && v % MIB == 0) {
        snprintf(out, cap, "%lluMiB", (unsigned long long)(v / MIB));
    } else if (v != 0 && v % KIB == 0) {
        snprintf(out, cap, "%lluKiB", (unsigned long long)(v / KIB));
    } else {
        snprintf(out, cap, "%llu", (unsigned long long)v);
    }
    return out;
}

const char *tl_conf_duration_text(uint64_t v, char *out, size_t cap)
{
    if (v != 0 && v % HOUR == 0) {
        snprintf(out, cap, "%lluh", (unsigned long long)(v / HOUR));
    } else if (v != 0 && v % MINUTE == 0) {
        snprintf(out, cap, "%llum", (unsigned long long)(v / MINUTE));
    } else if (v != 0 && v % SEC == 0) {
        snprintf(out, cap, "%llus", (unsigned long long)(v / SEC));
    } else if (v != 0) {
        snprintf(out, cap, "%llums", (unsigned long long)v);
    } else {
        snprintf(out, cap, "0");
    }
    return out;
}

static bool parse_uint(const char *s, uint64_t *out, bool *overflow)
{
    uint64_t v = 0;
    const char *p;

    *overflow = false;
    if (s[0] == '\0') {
        return false;
    }
    for (p = s; *p != '\0'; p++) {
        unsigned d;

        if (*p < '0' || *p > '9') {
            return false;
        }
        d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            *overflow = true;
        } else {
            v = v * 10 + d;
        }
    }
    *out = v;
    return !*overflow;
}

/* Octal digits, optionally "0o"-prefixed (YAML 1.2 style); read as octal like chmod. */
static bool parse_mode(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;

    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        s += 2;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '7' || ++n > 6) {
            return false;
        }
        v = v * 8 + (uint64_t)(*s - '0');
    }
    *out = v;
    return n > 0;
}

static bool parse_bool(const char *s, uint64_t *out)
{
    if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0) {
        *out = 1;
        return true;
    }
    if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) {
        *out = 0;
        return true;
    }
    return false;
}

bool tl_conf_valid_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 64) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

static void put_uint(unsigned char *field, size_t size, uint64_t v)
{
    uint8_t v8 = (uint8_t)v;
    uint16_t v16 = (uint16_t)v;
    uint32_t v32 = (uint32_t)v;

    switch (size) {
    case 1:
        memcpy(field, &v8, 1);
        break;
    case 2:
        memcpy(field, &v16, 2);
        break;
    case 4:
        memcpy(field, &v32, 4);
        break;
    default:
        memcpy(field, &v, sizeof(v));
        break;
    }
}


/* A number: in k's range when its type has one, then into its field. */
static enum tl_rc set_number(const struct key *k, void *base, const struct kvalue *v,
                             uint64_t n, uint64_t *num, struct tl_err *err)
{
    char r[64];

    if (tl_conf_ktypes[k->type].show != NULL && (n < k->min || n > k->max)) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is out of range; allowed: %s", v->shown,
                tl_conf_range_text(k, r, sizeof(r)));
    }
    put_uint((unsigned char *)base + k->off, k->size, n);
    *num = n;
    return TL_OK;
}

/* A copy of the text into its char * field, replacing what was there. */
static enum tl_rc set_text(const struct key *k, void *base, const struct kvalue *v,
                           struct tl_err *err)
{
    unsigned char *field = (unsigned char *)base + k->off;
    char *copy = strndup(v->s, v->len);
    char *old;

    if (copy == NULL) {
        TL_FAIL(err, TL_E_RESOURCE, NULL, "out of memory");
    }
    memcpy(&old, field, sizeof(old));
    free(old);
    memcpy(field, &copy, sizeof(copy));
    return TL_OK;
}

static enum tl_rc set_uint(const struct key *k, void *base, const struct kvalue *v,
                           uint64_t *num, struct tl_err *err)
{
    char r[64];
    uint64_t n = 0;
    bool overflow;

    if (!parse_uint(v->s, &n, &overflow)) {
        if (overflow) {
            TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is out of range; allowed: %s", v->shown,
                    tl_conf_range_text(k, r, sizeof(r)));
        }
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a whole number; allowed: %s", v->shown,
                tl_conf_range_text(k, r, sizeof(r)));
    }
    return set_number(k, base, v, n, num, err);
}

static enum tl_rc set_size(const struct key *k, void *base, const struct kvalue *v,
                           uint64_t *num, struct tl_err *err)
{
    uint64_t n = 0;

    if (!tl_parse_size(v->s, &n)) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a size; use a number of bytes, or a number "
                "with k, KiB, M, MiB, G or GiB (e.g. 64KiB)", v->shown);
    }
    return set_number(k, base, v, n, num, err);
}

static enum tl_rc set_duration(const struct key *k, void *base, const struct kvalue *v,
                               uint64_t *num, struct tl_err *err)
{
    uint64_t n = 0;

    if (!tl_parse_duration_ms(v->s, &n)) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a duration; use a number with ms, s, m or h "
                "(e.g. 250ms, 5m), or a bare number of seconds", v->shown);
    }
    return set_number(k, base, v, n, num, err);
}

/* One of k->words (its value: from_name's, or the index), or a synonym (through
 * from_name). */
static enum tl_rc set_enum(const struct key *k, void *base, const struct kvalue *v,
                           uint64_t *num, struct tl_err *err)
{
    char list[LIST_LEN];
    bool synonym = false;
    size_t i;
    size_t j;

    for (i = 0; k->words[i] != NULL; i++) {
        if (strcmp(v->s, k->words[i]) == 0) {
            break;
        }
    }
    for (j = 0; k->words[i] == NULL && k->synonyms != NULL && k->synonyms[j] != NULL; j++) {
        synonym |= strcasecmp(v->s, k->synonyms[j]) == 0; /* as booleans are read */
    }
    if (k->words[i] == NULL && k->refused != NULL && strcmp(v->s, k->refused) == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "%s", k->refused_why);
    }
    if (k->words[i] == NULL && !synonym) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not one of %s", v->shown,
                tl_conf_join_words(k->words, list, sizeof(list)));
    }
    if (k->from_name != NULL) {
        int r = k->from_name(v->s);

        if (r < 0) {
            TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not supported by this build", v->shown);
        }
        return set_number(k, base, v, (uint64_t)r, num, err);
    }
    return set_number(k, base, v, i, num, err);
}

static enum tl_rc set_bool(const struct key *k, void *base, const struct kvalue *v,
                           uint64_t *num, struct tl_err *err)
{
    uint64_t n = 0;

    if (!parse_bool(v->s, &n)) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a boolean; use true, false, yes or no",
                v->shown);
    }
    return set_number(k, base, v, n, num, err);
}

static enum tl_rc set_mode(const struct key *k, void *base, const struct kvalue *v,
                           uint64_t *num, struct tl_err *err)
{
    uint64_t n = 0;

    if (!parse_mode(v->s, &n) || n > k->max) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not an octal file mode; use up to 4 octal "
                "digits, e.g. \"0640\"", v->shown);
    }
    return set_number(k, base, v, n, num, err);
}

static enum tl_rc set_name(const struct key *k, void *base, const struct kvalue *v,
                           uint64_t *num, struct tl_err *err)
{
    (void)num;
    if (!tl_conf_valid_name(v->s, v->len)) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a valid name; use 1 to 64 letters, digits, "
                "'_', '.' or '-'", v->shown);
    }
    return set_text(k, base, v, err);
}

static enum tl_rc check_path(const struct kvalue *v, struct tl_err *err)
{
    if (v->len == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the path is empty");
    }
    if (v->len > MAX_PATH_LEN) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the path is longer than %d bytes", MAX_PATH_LEN);
    }
    return TL_OK;
}

static enum tl_rc set_path(const struct key *k, void *base, const struct kvalue *v,
                           uint64_t *num, struct tl_err *err)
{
    (void)num;
    TL_TRY(check_path(v, err));
    return set_text(k, base, v, err);
}

static enum tl_rc set_sockpath(const struct key *k, void *base, const struct kvalue *v,
                               uint64_t *num, struct tl_err *err)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    /* The only section with this type; transport is set first. A file input's path is a
     * glob of files, not a socket. */
    const struct tl_conf_input *in = base;

    (void)num;
    TL_TRY(check_path(v, err));
    if (in->transport != TL_TR_FILE && v->len >= max) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is too long for a unix socket (%zu bytes; at most "
                "%zu)", v->shown, v->len, max - 1);
    }
    return set_text(k, base, v, err);
}

static enum tl_rc set_template(const struct key *k, void *base, const struct kvalue *v,
                               uint64_t *num, struct tl_err *err)
{
    (void)num;
    TL_TRY(check_path(v, err));
    if (v->s[v->len - 1] == '/') {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' ends with '/'; it must name a file", v->shown);
    }
    TL_TRY(tl_template_check(v->s, err));
    return set_text(k, base, v, err);
}

/* The options the file input compiles it with (in/in_file.c), so that --check refuses what
 * the start would. */
static enum tl_rc set_regex(const struct key *k, void *base, const struct kvalue *v,
                            uint64_t *num, struct tl_err *err)
{
    PCRE2_UCHAR why[256];
    PCRE2_SIZE at = 0;
    int code = 0;
    pcre2_code *re;

    (void)num;
    if (v->len == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the value is empty");
    }
    re = pcre2_compile((PCRE2_SPTR)v->s, v->len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code,
                       &at, NULL);
    if (re == NULL) {
        pcre2_get_error_message(code, why, sizeof(why));
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a valid regex: %s at offset %zu (PCRE2 "
                "syntax)", v->shown, (const char *)why, (size_t)at);
    }
    pcre2_code_free(re);
    return set_text(k, base, v, err);
}

/* A text with placeholders: a Kafka record key, a forward output's hash_key. */
static enum tl_rc set_keytext(const struct key *k, void *base, const struct kvalue *v,
                              uint64_t *num, struct tl_err *err)
{
    (void)num;
    if (v->len == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the value is empty");
    }
    TL_TRY(tl_template_check(v->s, err));
    return set_text(k, base, v, err);
}

static bool topic_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/* A Kafka topic template: outside its placeholders only what Kafka allows in a topic name
 * (letters, digits, '.', '_', '-'), and not "." or "..". The placeholders' values are made
 * to fit when a message is produced. */
static enum tl_rc set_topic(const struct key *k, void *base, const struct kvalue *v,
                            uint64_t *num, struct tl_err *err)
{
    char bad[8];
    size_t literal = 0;

    TL_TRY(set_keytext(k, base, v, num, err));
    /* Stored: a refusal below leaves it to tl_conf_free, like any other error. */
    if (strcmp(v->s, ".") == 0 || strcmp(v->s, "..") == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a valid Kafka topic name", v->shown);
    }
    for (const char *p = v->s; *p != '\0'; p++) {
        if (*p == '{') {
            p = strchr(p, '}'); /* tl_template_check found the closing brace */
            continue;
        }
        if (!topic_char(*p)) {
            TL_FAIL(err, TL_E_CONFIG, NULL, "'%s': a Kafka topic name holds only letters, "
                    "digits, '.', '_' and '-' (besides placeholders); '%s' is not allowed",
                    v->shown, tl_show_text(p, 1, bad, sizeof(bad)));
        }
        literal++;
    }
    if (literal > KAFKA_TOPIC_MAX) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the topic name is longer than Kafka allows (%d "
                "characters)", KAFKA_TOPIC_MAX);
    }
    return TL_OK;
}

static enum tl_rc set_string(const struct key *k, void *base, const struct kvalue *v,
                             uint64_t *num, struct tl_err *err)
{
    (void)num;
    if (v->len == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the value is empty");
    }
    return set_text(k, base, v, err);
}

/* Into tl_conf_input's host and port; the default port is the transport's, so the
 * transport must have been set first (walk_map sets the kind key first). */
static enum tl_rc set_listen(const struct key *k, void *base, const struct kvalue *v,
                             uint64_t *num, struct tl_err *err)
{
    struct tl_conf_input *in = base;
    char why[LIST_LEN + 2 * SHOW_LEN];
    char *host = NULL;
    uint16_t port = 0;
    uint16_t def = in->transport == TL_TR_TLS    ? DEFAULT_TLS_PORT
                   : in->transport == TL_TR_RELP ? DEFAULT_RELP_PORT
                                                 : DEFAULT_PORT;

    (void)k;
    (void)num;
    struct tl_err e;
    if (tl_parse_listen(v->s, def, &host, &port, &e) != TL_OK) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a listen address: %s; use host:port, "
                "[v6]:port, :port or port", v->shown, tl_err_text(&e, why, sizeof(why)));
    }
    free(in->host);
    in->host = host;
    in->port = port;
    return TL_OK;
}

static const char *uint_text(uint64_t v, char *out, size_t cap)
{
    snprintf(out, cap, "%llu", (unsigned long long)v);
    return out;
}

/* Each row: store, set, show, words, expected (before and after the range or words), doc. */
const struct ktype_ops tl_conf_ktypes[KT_COUNT] = {
    [KT_UINT] = {KS_NUMBER, set_uint, uint_text, false, "a whole number in ", "", "integer "},
    [KT_SIZE] = {KS_NUMBER, set_size, tl_conf_size_text, false, "a size in ", " (e.g. 64KiB)",
                 "size "},
    [KT_DURATION] = {KS_NUMBER, set_duration, tl_conf_duration_text, false, "a duration in ",
                     " (e.g. 250ms, 1s, 5m)", "duration "},
    [KT_ENUM] = {KS_NUMBER, set_enum, NULL, true, "one of ", "", ""},
    [KT_BOOL] = {KS_NUMBER, set_bool, NULL, false, "true or false", "", "boolean"},
    [KT_MODE] = {KS_NUMBER, set_mode, NULL, false, "an octal file mode (e.g. \"0640\")", "",
                 "octal mode"},
    [KT_NAME] = {KS_STRING, set_name, NULL, false,
                 "a name of 1 to 64 letters, digits, '_', '.' or '-'", "", "name"},
    [KT_PATH] = {KS_STRING, set_path, NULL, false, "a path", "", "path"},
    [KT_SOCKPATH] = {KS_STRING, set_sockpath, NULL, false, "a path", "", "path"},
    [KT_TEMPLATE] = {KS_STRING, set_template, NULL, false,
                     "a path, optionally with placeholders such as {hostname}", "",
                     "path template"},
    [KT_LISTEN] = {KS_NONE, set_listen, NULL, false,
                   "an address and port (e.g. \"0.0.0.0:514\")", "", "address"},
    [KT_LIST] = {KS_NONE, NULL, NULL, false, "a list", "", "list"},
    [KT_NAMES] = {KS_NONE, NULL, NULL, false, "a name or a list of names", "", "name or list"},
    [KT_STRING] = {KS_STRING, set_string, NULL, false, "a text", "", "text"},
    [KT_REGEX] = {KS_STRING, set_regex, NULL, false, "a regular expression", "", "regex"},
    [KT_STRLIST] = {KS_STRLIST, NULL, NULL, false, "a text or a list of them", "",
                    "text or list"},
    [KT_TARGETS] = {KS_NONE, NULL, NULL, false,
                    "a list of addresses (e.g. [\"loghost.example.net:6514\"])", "",
                    "address or list"},
    [KT_TLS] = {KS_NONE, NULL, NULL, false, "a mapping of TLS settings", "", "mapping"},
    [KT_QUEUE] = {KS_NONE, NULL, NULL, false, "a mapping of queue settings", "", "mapping"},
    [KT_METRICS] = {KS_NONE, NULL, NULL, false, "a mapping of metrics settings (listen)", "",
                    "mapping"},
    [KT_TOPIC] = {KS_STRING, set_topic, NULL, false,
                  "a topic name, optionally with placeholders such as {facility}", "",
                  "topic template"},
    [KT_KEYTEXT] = {KS_STRING, set_keytext, NULL, false,
                    "a text, optionally with placeholders such as {hostname}", "",
                    "text template"},
    [KT_SASL] = {KS_NONE, NULL, NULL, false, "a mapping of SASL settings", "", "mapping"},
    [KT_PROPS] = {KS_NONE, NULL, NULL, false, "a mapping of librdkafka properties", "",
                  "mapping"},
    [KT_RATELIMIT] = {KS_NONE, NULL, NULL, false, "a mapping of rate limit settings", "",
                      "mapping"},
    [KT_FILTER] = {KS_NONE, NULL, NULL, false, "a value or a list of values", "",
                   "value or list"},
    [KT_WHERE] = {KS_NONE, NULL, NULL, false, "a mapping of filter keys", "", "mapping"},
};
