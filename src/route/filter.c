/*
 * filter.c: routes' `where:` filters, compiled once and matched per message.
 *
 * A compiled condition is checked cheapest first: facility and severity are one bit test
 * each (a key not given is a mask with every bit set), then the globs, then the regexes. The
 * globs are compiled to a token array and matched over the message's slices directly (no
 * NUL-terminated copy, as fnmatch would need), with the classic single-backtrack algorithm:
 * linear in the text for each '*' that has to back off, never exponential.
 */
#include "route/filter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/peer.h"
#include "core/text.h"

/* ---- globs ---- */

enum tok_kind { TOK_LIT, TOK_ANY, TOK_SET, TOK_STAR };

struct tok {
    uint8_t kind;
    uint8_t byte;      /* TOK_LIT: lower-cased when the glob folds case */
    uint16_t set;      /* TOK_SET: index into sets */
};

/* Most patterns in routes are a name, a prefix ("php-fpm*") or a suffix ("*.example.net"):
 * those are compared as one literal, without the token loop. */
enum glob_shape { SHAPE_GENERAL, SHAPE_EXACT, SHAPE_PREFIX, SHAPE_SUFFIX };

struct tl_glob {
    bool fold;
    uint8_t shape;        /* enum glob_shape */
    size_t n_tok;
    struct tok *tok;
    uint8_t (*sets)[32];  /* 256-bit byte sets, case-folded already when fold */
    uint8_t *lit;         /* the literal of EXACT, PREFIX and SUFFIX (folded when fold) */
    size_t lit_len;
};

static const struct {
    const char *name;
    int (*is)(int);
} classes[] = {
    { "alnum", isalnum }, { "alpha", isalpha }, { "blank", isblank }, { "cntrl", iscntrl },
    { "digit", isdigit }, { "graph", isgraph }, { "lower", islower }, { "print", isprint },
    { "punct", ispunct }, { "space", isspace }, { "upper", isupper }, { "xdigit", isxdigit },
};

static void set_add(uint8_t *set, unsigned c)
{
    set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool set_has(const uint8_t *set, unsigned c)
{
    return set[c >> 3] >> (c & 7) & 1;
}

static uint8_t fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static void glob_fail(struct tl_err *err, const char *pattern, size_t at, const char *why)
{
    char q[64 * 4 + 4];
    tl_quote_bytes(q, (const uint8_t *)pattern, strlen(pattern), 64);
    TL_ERR(err, TL_E_CONFIG, NULL, "glob '%s': %s at offset %zu", q, why, at);
}

/*
 * Reads the bracket expression starting at p[i] == '[' into set; returns the index after
 * its ']', or 0 when it is not closed, names an unknown class or holds a collating symbol
 * or an equivalence class (which a C-locale matcher has no use for). fnmatch(3) rules: '!' or
 * '^' first negates, a ']' first is a member, a-z is a range, [:name:] a class, and a
 * backslash quotes the next byte. With fold_case a letter stands for both cases, before a
 * negation applies ([!a] folded excludes 'a' and 'A'), and a class of one case ([:upper:])
 * for the letters of both.
 */
static size_t bracket(const char *p, size_t i, bool fold_case, uint8_t *set, struct tl_err *err)
{
    const uint8_t *u = (const uint8_t *)p;
    size_t start = i;
    bool negate = false;
    uint8_t tmp[32] = { 0 };

    i++;
    if (u[i] == '!' || u[i] == '^') {
        negate = true;
        i++;
    }
    bool first = true;
    while (u[i] != '\0' && (first || u[i] != ']')) {
        first = false;
        if (u[i] == '[' && (u[i + 1] == '.' || u[i + 1] == '=')) {
            glob_fail(err, p, i, "collating symbols [. .] and equivalence classes "
                      "[= =] are not supported (write \\[ for a literal bracket)");
            return 0;
        }
        if (u[i] == '[' && u[i + 1] == ':') {
            const char *end = strstr(p + i + 2, ":]");
            size_t n = end ? (size_t)(end - (p + i + 2)) : 0;
            size_t c = 0;
            while (end && c < sizeof(classes) / sizeof(classes[0]) &&
                   (strlen(classes[c].name) != n || memcmp(classes[c].name, p + i + 2, n) != 0)) {
                c++;
            }
            if (!end || c == sizeof(classes) / sizeof(classes[0])) {
                glob_fail(err, p, i, "unknown character class");
                return 0;
            }
            for (unsigned b = 0; b < 256; b++) {
                if (classes[c].is((int)b)) {
                    set_add(tmp, b);
                }
            }
            i += n + 4;
            continue;
        }
        if (u[i] == '\\' && u[i + 1] != '\0') {
            i++;
        }
        unsigned lo = u[i++];
        unsigned hi = lo;
        if (u[i] == '-' && u[i + 1] != ']' && u[i + 1] != '\0') {
            i++;
            if (u[i] == '\\' && u[i + 1] != '\0') {
                i++;
            }
            hi = u[i++];
        }
        /* Folded, as fnmatch's FNM_CASEFOLD: both ends and the byte are lower-cased, so
         * [A-c] is a-c in either case and [U-a] is empty. */
        if (fold_case) {
            lo = fold((uint8_t)lo);
            hi = fold((uint8_t)hi);
        }
        for (unsigned b = lo; b <= hi; b++) {
            if (!fold_case) {
                set_add(tmp, b);
                continue;
            }
            /* An upper-case byte in the range is in only when its lower case is. */
            if (fold((uint8_t)b) <= hi) {
                set_add(tmp, b);
            }
            if (b >= 'a' && b <= 'z') {
                set_add(tmp, b - 32);
            }
        }
    }
    if (u[i] != ']') {
        glob_fail(err, p, start, "'[' is not closed (write \\[ for a literal bracket)");
        return 0;
    }
    for (unsigned b = 'A'; fold_case && b <= 'Z'; b++) {
        if (set_has(tmp, b) || set_has(tmp, b + 32)) {
            set_add(tmp, b);
            set_add(tmp, b + 32);
        }
    }
    for (unsigned b = 0; b < 256; b++) {
        if (set_has(tmp, b) != negate) {
            set_add(set, b);
        }
    }
    return i + 1;
}

/* Sets g->shape and g->lit when the tokens are literals with at most a '*' at one end. */
static bool find_shape(struct tl_glob *g)
{
    size_t from = 0;
    size_t to = g->n_tok;
    uint8_t shape = SHAPE_EXACT;
    if (to > 0 && g->tok[to - 1].kind == TOK_STAR) {
        to--;
        shape = SHAPE_PREFIX;
    } else if (to > 0 && g->tok[0].kind == TOK_STAR) {
        from = 1;
        shape = SHAPE_SUFFIX;
    }
    for (size_t i = from; i < to; i++) {
        if (g->tok[i].kind != TOK_LIT) {
            g->shape = SHAPE_GENERAL;
            return true;
        }
    }
    g->lit = malloc(to - from + 1);
    if (!g->lit) {
        return false;
    }
    for (size_t i = from; i < to; i++) {
        g->lit[g->lit_len++] = g->tok[i].byte;
    }
    g->shape = shape;
    return true;
}

void tl_glob_free(struct tl_glob *g)
{
    if (!g) {
        return;
    }
    free(g->tok);
    free(g->sets);
    free(g->lit);
    free(g);
}

struct tl_glob *tl_glob_compile(const char *pattern, bool fold_case, struct tl_err *err)
{
    size_t len = strlen(pattern);
    if (len > TL_GLOB_MAX) {
        glob_fail(err, pattern, TL_GLOB_MAX, "the pattern is too long (at most "
                  "4096 bytes)");
        return NULL;
    }
    struct tl_glob *g = calloc(1, sizeof(*g));
    if (!g || !(g->tok = calloc(len + 1, sizeof(*g->tok))) ||
        !(g->sets = calloc(len / 2 + 1, sizeof(*g->sets)))) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory compiling a glob");
        tl_glob_free(g);
        return NULL;
    }
    g->fold = fold_case;
    size_t n_sets = 0;
    size_t i = 0;
    while (i < len) {
        struct tok *t = &g->tok[g->n_tok];
        uint8_t c = (uint8_t)pattern[i];
        if (c == '*') {
            /* "**" is "*": one star token keeps the backtracking simple. */
            if (g->n_tok == 0 || g->tok[g->n_tok - 1].kind != TOK_STAR) {
                t->kind = TOK_STAR;
                g->n_tok++;
            }
            i++;
            continue;
        }
        if (c == '?') {
            t->kind = TOK_ANY;
            g->n_tok++;
            i++;
            continue;
        }
        if (c == '[') {
            uint8_t *set = g->sets[n_sets];
            size_t next = bracket(pattern, i, fold_case, set, err);
            if (next == 0) {
                tl_glob_free(g);
                return NULL;
            }
            t->kind = TOK_SET;
            t->set = (uint16_t)n_sets++;
            g->n_tok++;
            i = next;
            continue;
        }
        if (c == '\\') {
            if (i + 1 == len) {
                glob_fail(err, pattern, i, "a trailing backslash quotes nothing");
                tl_glob_free(g);
                return NULL;
            }
            c = (uint8_t)pattern[++i];
        }
        t->kind = TOK_LIT;
        t->byte = fold_case ? fold(c) : c;
        g->n_tok++;
        i++;
    }
    if (!find_shape(g)) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory compiling a glob");
        tl_glob_free(g);
        return NULL;
    }
    return g;
}

static bool tok_match(const struct tl_glob *g, const struct tok *t, uint8_t c)
{
    switch (t->kind) {
    case TOK_LIT:
        return t->byte == (g->fold ? fold(c) : c);
    case TOK_ANY:
        return true;
    case TOK_SET:
        return set_has(g->sets[t->set], c);
    default:
        return false;
    }
}

static bool lit_equal(const struct tl_glob *g, const uint8_t *s)
{
    if (!g->fold) {
        return memcmp(s, g->lit, g->lit_len) == 0;
    }
    for (size_t i = 0; i < g->lit_len; i++) {
        if (fold(s[i]) != g->lit[i]) {
            return false;
        }
    }
    return true;
}

bool tl_glob_match(const struct tl_glob *g, const uint8_t *s, size_t len)
{
    switch (g->shape) {
    case SHAPE_EXACT:
        return len == g->lit_len && lit_equal(g, s);
    case SHAPE_PREFIX:
        return len >= g->lit_len && lit_equal(g, s);
    case SHAPE_SUFFIX:
        return len >= g->lit_len && lit_equal(g, s + len - g->lit_len);
    default:
        break;
    }
    size_t p = 0;
    size_t i = 0;
    size_t star = SIZE_MAX;  /* the last '*' seen, and where its match ends for now */
    size_t star_i = 0;

    while (i < len) {
        if (p < g->n_tok && g->tok[p].kind == TOK_STAR) {
            star = p++;
            star_i = i;
        } else if (p < g->n_tok && tok_match(g, &g->tok[p], s[i])) {
            p++;
            i++;
        } else if (star != SIZE_MAX) {
            /* Let the last '*' take one more byte and try the rest again; earlier stars
             * never need to change, since each other token takes exactly one byte. */
            p = star + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (p < g->n_tok && g->tok[p].kind == TOK_STAR) {
        p++;
    }
    return p == g->n_tok;
}

/* ---- the per-thread PCRE2 state ---- */

/* PCRE2 wants one match data block per concurrent match; the JIT stack is per thread too. */
struct match_state {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
};

static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static pthread_key_t state_key;
static bool state_key_ok;
static _Thread_local struct match_state *thread_state;

static void state_free(void *p)
{
    struct match_state *st = p;
    if (!st) {
        return;
    }
    pcre2_match_data_free(st->md);
    pcre2_match_context_free(st->mc);
    pcre2_jit_stack_free(st->js);
    free(st);
}

static void state_key_init(void)
{
    state_key_ok = pthread_key_create(&state_key, state_free) == 0;
}

/* This thread's state, created on its first regex match; NULL when out of memory. */
static struct match_state *match_state(void)
{
    if (thread_state) {
        return thread_state;
    }
    (void)pthread_once(&state_once, state_key_init);
    struct match_state *st = calloc(1, sizeof(*st));
    if (!st || !state_key_ok) {
        free(st);
        return NULL;
    }
    /* Only whether it matched is needed: one ovector pair. A JIT stack from 32 KiB up to
     * 1 MiB (reserved, used on demand) for patterns that backtrack deeply. */
    st->md = pcre2_match_data_create(1, NULL);
    st->mc = pcre2_match_context_create(NULL);
    st->js = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
    if (!st->md || !st->mc || pthread_setspecific(state_key, st) != 0) {
        state_free(st);
        return NULL;
    }
    if (st->js) {
        pcre2_jit_stack_assign(st->mc, NULL, st->js);
    }
    pcre2_set_match_limit(st->mc, TL_FILTER_MATCH_LIMIT);
    thread_state = st;
    return st;
}

/* ---- compiled conditions ---- */

struct regex {
    pcre2_code *code;
    bool jit;
};

/* A glob of literal shape (a name, a prefix, a suffix), compared inline when matching: a
 * string of len bytes can match when len - l.len (unsigned) <= slack (0 for a name,
 * SIZE_MAX - l.len otherwise, which excludes exactly len < l.len), and its bytes from
 * (len - l.len) & from_end on must be the literal (from_end: SIZE_MAX for a suffix). */
struct lit {
    const uint8_t *s;  /* the glob's literal, folded when the key folds case */
    size_t len;
    size_t slack;
    size_t from_end;
};

/* One key's globs, split at compile time: the literal shapes (nearly every pattern a route
 * names) are compared here without a call, the others go through tl_glob_match. */
struct names {
    struct tl_glob **glob;     /* all of them, owned; n == 0: the key is not given */
    size_t n;
    struct lit *lit;
    size_t n_lit;
    struct tl_glob **general;  /* borrowed from glob */
    size_t n_general;
    bool fold;
};

struct cond {
    uint32_t facility_mask;  /* bit f: facility f passes */
    uint32_t severity_mask;  /* bit s: severity s passes */
    struct names program;
    struct names hostname;
    struct names peer_name;
    struct regex *message;
    size_t n_message;
};

struct tl_filter {
    bool has_where;
    bool has_not;
    struct cond where;
    struct cond where_not;
    atomic_uint_fast64_t *regex_errors;  /* a separate block: matching takes f as const */
};

static void names_free(struct names *k)
{
    for (size_t i = 0; k->glob && i < k->n; i++) {
        tl_glob_free(k->glob[i]);
    }
    free(k->glob);
    free(k->lit);
    free(k->general);
}

static void cond_fini(struct cond *c)
{
    names_free(&c->program);
    names_free(&c->hostname);
    names_free(&c->peer_name);
    for (size_t i = 0; c->message && i < c->n_message; i++) {
        pcre2_code_free(c->message[i].code);
    }
    free(c->message);
}

void tl_filter_free(struct tl_filter *f)
{
    if (!f) {
        return;
    }
    cond_fini(&f->where);
    cond_fini(&f->where_not);
    free(f->regex_errors);
    free(f);
}

/* "where.program[2]" or "where.not.severity": names the key (and item) in errors. */
static void key_name(char *out, size_t cap, const char *scope, const char *key,
                     const struct tl_filter_values *v, size_t i)
{
    if (v->is_list) {
        snprintf(out, cap, "%s.%s[%zu]", scope, key, i);
    } else {
        snprintf(out, cap, "%s.%s", scope, key);
    }
}

static bool values_ok(const char *scope, const char *key, const struct tl_filter_values *v,
                      struct tl_err *err)
{
    if (v->n == 0 && v->is_list) {
        TL_ERR(err, TL_E_CONFIG, NULL, "%s.%s: an empty list matches nothing; remove the key "
               "or give it values", scope, key);
        return false;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (!v->v[i]) {
            char k[64];
            key_name(k, sizeof(k), scope, key, v, i);
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: no value", k);
            return false;
        }
    }
    return true;
}

static bool compile_facility(const char *scope, const struct tl_filter_values *v, uint32_t *mask,
                             struct tl_err *err)
{
    *mask = (1u << 24) - 1;
    if (v->n == 0) {
        return true;
    }
    *mask = 0;
    for (size_t i = 0; i < v->n; i++) {
        int f = tl_facility_from_name(v->v[i]);
        if (f < 0) {
            char k[64];
            char q[64 * 4 + 4];
            key_name(k, sizeof(k), scope, "facility", v, i);
            tl_quote_bytes(q, (const uint8_t *)v->v[i], strlen(v->v[i]), 64);
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: unknown facility '%s'; use kern, user, mail, "
                   "daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security, "
                   "console, solaris-cron, local0 .. local7 or 0..23", k, q);
            return false;
        }
        *mask |= 1u << f;
    }
    return true;
}

/* One severity item: a name (as a threshold or exactly) or a range "a..b". */
static bool severity_item(const char *s, bool threshold, uint32_t *mask, const char *key,
                          struct tl_err *err)
{
    char q[64 * 4 + 4];
    const char *dots = strstr(s, "..");
    int lo;
    int hi;

    tl_quote_bytes(q, (const uint8_t *)s, strlen(s), 64);
    if (dots) {
        char a[32];
        size_t n = (size_t)(dots - s);
        if (n >= sizeof(a)) {
            n = sizeof(a) - 1;
        }
        memcpy(a, s, n);
        a[n] = '\0';
        lo = tl_severity_from_name(a);
        hi = tl_severity_from_name(dots + 2);
        if (lo < 0 || hi < 0) {
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: '%s' is not a range of two severities; write it "
                   "as 'from..to', e.g. 'warning..emerg', with emerg, alert, crit, err, "
                   "warning, notice, info, debug or 0..7", key, q);
            return false;
        }
        if (lo > hi) {
            int t = lo;
            lo = hi;
            hi = t;
        }
    } else {
        hi = tl_severity_from_name(s);
        if (hi < 0) {
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: unknown severity '%s'; use emerg, alert, crit, "
                   "err, warning, notice, info, debug or 0..7", key, q);
            return false;
        }
        /* Lower numbers are more severe: "warning" as a threshold is 0..4. */
        lo = threshold ? 0 : hi;
    }
    for (int s2 = lo; s2 <= hi; s2++) {
        *mask |= 1u << s2;
    }
    return true;
}

static bool compile_severity(const char *scope, const struct tl_filter_values *v, uint32_t *mask,
                             struct tl_err *err)
{
    *mask = 0xff;
    if (v->n == 0) {
        return true;
    }
    *mask = 0;
    for (size_t i = 0; i < v->n; i++) {
        char k[64];
        key_name(k, sizeof(k), scope, "severity", v, i);
        if (!severity_item(v->v[i], !v->is_list, mask, k, err)) {
            return false;
        }
    }
    return true;
}

static bool compile_globs(const char *scope, const char *key, const struct tl_filter_values *v,
                          bool fold_case, struct names *out, struct tl_err *err)
{
    out->fold = fold_case;
    if (v->n == 0) {
        return true;
    }
    out->glob = calloc(v->n, sizeof(*out->glob));
    out->lit = calloc(v->n, sizeof(*out->lit));
    out->general = calloc(v->n, sizeof(*out->general));
    if (!out->glob || !out->lit || !out->general) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory compiling %s.%s", scope, key);
        return false;
    }
    for (size_t i = 0; i < v->n; i++) {
        struct tl_err why;
        struct tl_glob *g = tl_glob_compile(v->v[i], fold_case, &why);
        if (!g) {
            char k[64];
            key_name(k, sizeof(k), scope, key, v, i);
            TL_ERR(err, why.code, NULL, "%s: %s", k, why.cause);
            return false;
        }
        out->glob[out->n++] = g;
        if (g->shape == SHAPE_GENERAL) {
            out->general[out->n_general++] = g;
        } else {
            out->lit[out->n_lit++] = (struct lit){
                .s = g->lit,
                .len = g->lit_len,
                .slack = g->shape == SHAPE_EXACT ? 0 : SIZE_MAX - g->lit_len,
                .from_end = g->shape == SHAPE_SUFFIX ? SIZE_MAX : 0,
            };
        }
    }
    return true;
}

static bool compile_regexes(const char *scope, const struct tl_filter_values *v,
                            struct regex **out, size_t *n, struct tl_err *err)
{
    if (v->n == 0) {
        return true;
    }
    *out = calloc(v->n, sizeof(**out));
    if (!*out) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory compiling %s.message", scope);
        return false;
    }
    for (size_t i = 0; i < v->n; i++) {
        int code;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)v->v[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
        if (!re) {
            char k[64];
            char q[128 * 4 + 4];
            PCRE2_UCHAR msg[160];
            key_name(k, sizeof(k), scope, "message", v, i);
            tl_quote_bytes(q, (const uint8_t *)v->v[i], strlen(v->v[i]), 128);
            if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0) {
                snprintf((char *)msg, sizeof(msg), "error %d", code);
            }
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: invalid regex '%s': %s at offset %zu", k, q,
                   (const char *)msg, (size_t)off);
            return false;
        }
        /* Without JIT support on this machine the interpreter runs the same pattern. */
        (*out)[*n].code = re;
        (*out)[*n].jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
        (*n)++;
    }
    return true;
}

static bool keys_given(const struct tl_filter_keys *k)
{
    return k->facility.n || k->severity.n || k->program.n || k->hostname.n || k->peer_name.n ||
           k->message.n || k->facility.is_list || k->severity.is_list || k->program.is_list ||
           k->hostname.is_list || k->peer_name.is_list || k->message.is_list;
}

static bool compile_cond(const char *scope, const struct tl_filter_keys *k, struct cond *c,
                         struct tl_err *err)
{
    static const char *const names[] = { "facility", "severity", "program",
                                         "hostname", "peer_name", "message" };
    const struct tl_filter_values *all[] = { &k->facility, &k->severity, &k->program,
                                             &k->hostname, &k->peer_name, &k->message };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (!values_ok(scope, names[i], all[i], err)) {
            return false;
        }
    }
    return compile_facility(scope, &k->facility, &c->facility_mask, err) &&
           compile_severity(scope, &k->severity, &c->severity_mask, err) &&
           compile_globs(scope, "program", &k->program, false, &c->program, err) &&
           compile_globs(scope, "hostname", &k->hostname, true, &c->hostname, err) &&
           compile_globs(scope, "peer_name", &k->peer_name, true, &c->peer_name, err) &&
           compile_regexes(scope, &k->message, &c->message, &c->n_message, err);
}

struct tl_filter *tl_filter_compile(const struct tl_filter_spec *spec, struct tl_err *err)
{
    struct tl_filter *f = calloc(1, sizeof(*f));
    if (!f || !(f->regex_errors = calloc(1, sizeof(*f->regex_errors)))) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory compiling a route filter");
        tl_filter_free(f);
        return NULL;
    }
    atomic_init(f->regex_errors, 0);
    f->has_where = keys_given(&spec->where);
    f->has_not = keys_given(&spec->where_not);
    if (!compile_cond("where", &spec->where, &f->where, err) ||
        !compile_cond("where.not", &spec->where_not, &f->where_not, err)) {
        tl_filter_free(f);
        return NULL;
    }
    return f;
}

/* ---- matching ---- */

static bool same_bytes(const uint8_t *s, const uint8_t *lit, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != lit[i]) {
            return false;
        }
    }
    return true;
}

static bool same_folded(const uint8_t *s, const uint8_t *lit, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (fold(s[i]) != lit[i]) {
            return false;
        }
    }
    return true;
}

/* Whether any glob of k matches s: the same answer as tl_glob_match on each of them. */
static inline bool names_match(const struct names *k, const uint8_t *s, size_t len)
{
    const struct lit *l = k->lit;
    const struct lit *end = l + k->n_lit;
    for (; l < end; l++) {
        size_t extra = len - l->len;
        if (extra > l->slack) {
            continue;
        }
        const uint8_t *at = s + (extra & l->from_end);
        if (k->fold ? same_folded(at, l->s, l->len) : same_bytes(at, l->s, l->len)) {
            return true;
        }
    }
    for (size_t i = 0; i < k->n_general; i++) {
        if (tl_glob_match(k->general[i], s, len)) {
            return true;
        }
    }
    return false;
}

static bool peer_matches(const struct names *k, const struct tl_peer_id *id)
{
    if (!id || !id->verified) {
        return false;
    }
    if (id->name && names_match(k, (const uint8_t *)id->name, strlen(id->name))) {
        return true;
    }
    for (size_t i = 0; i < id->n_dns; i++) {
        if (id->dns[i] && names_match(k, (const uint8_t *)id->dns[i], strlen(id->dns[i]))) {
            return true;
        }
    }
    return false;
}

static bool message_matches(const struct tl_filter *f, const struct cond *c,
                            const struct tl_msg *m)
{
    struct match_state *st = match_state();
    if (!st) {
        atomic_fetch_add_explicit(f->regex_errors, 1, memory_order_relaxed);
        return false;
    }
    PCRE2_SPTR s = (PCRE2_SPTR)tl_msg_at(m, m->msg);
    for (size_t i = 0; i < c->n_message; i++) {
        const struct regex *re = &c->message[i];
        int rc = re->jit ? pcre2_jit_match(re->code, s, m->msg.len, 0, 0, st->md, st->mc)
                         : pcre2_match(re->code, s, m->msg.len, 0, 0, st->md, st->mc);
        if (rc >= 0) {
            return true;
        }
        if (rc != PCRE2_ERROR_NOMATCH) {
            atomic_fetch_add_explicit(f->regex_errors, 1, memory_order_relaxed);
        }
    }
    return false;
}

static inline bool cond_matches(const struct tl_filter *f, const struct cond *c,
                                const struct tl_msg *m)
{
    if (!(c->facility_mask >> m->facility & 1) || !(c->severity_mask >> m->severity & 1)) {
        return false;
    }
    if (c->program.n && !names_match(&c->program, tl_msg_at(m, m->app_name), m->app_name.len)) {
        return false;
    }
    if (c->hostname.n &&
        !names_match(&c->hostname, tl_msg_at(m, m->hostname), m->hostname.len)) {
        return false;
    }
    if (c->peer_name.n && !peer_matches(&c->peer_name, m->peer_id)) {
        return false;
    }
    return c->n_message == 0 || message_matches(f, c, m);
}

bool tl_filter_match(const struct tl_filter *f, const struct tl_msg *m)
{
    if (!f) {
        return true;
    }
    if (f->has_where && !cond_matches(f, &f->where, m)) {
        return false;
    }
    return !(f->has_not && cond_matches(f, &f->where_not, m));
}

uint64_t tl_filter_regex_errors(const struct tl_filter *f)
{
    return f ? atomic_load_explicit(f->regex_errors, memory_order_relaxed) : 0;
}
