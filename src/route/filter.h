/*
 * filter.h: the `where:` filter of a route: which messages the route carries.
 *
 *   where:
 *     facility: [auth, authpriv]       # any of these facilities (names or 0..23)
 *     severity: warning                # see below
 *     program: ["nginx", "php-fpm*"]   # globs on APP-NAME (RFC 3164: the TAG without [pid])
 *     hostname: "web*"                 # globs on HOSTNAME, ASCII case-insensitive
 *     peer_name: "*.example.net"       # globs on the sender's verified TLS identity
 *     message: "(?i)error|timeout"     # PCRE2 regexes searched in MSG
 *     not: { severity: debug }         # the same keys; the message must NOT match them all
 *
 * Every key given must match; a key with a list matches when any item does; a key not given
 * matches everything. `not` holds the same keys and excludes the messages that match all of
 * its keys (`not: {program: cron, severity: info}` drops cron's info lines, not all of cron).
 *
 * Severity, the one key where a single value and a list differ:
 *   severity: warning        a single name is a threshold: warning or more severe
 *                            (emerg, alert, crit, err, warning), as rsyslog's `auth.warning`
 *   severity: [err, crit]    a list names severities exactly: err or crit only
 *   severity: debug..notice  a range, inclusive, either order (syslog-ng's level(a..b));
 *                            also as a list item: [emerg, "info..debug"]
 * so "exactly warning" is written [warning]. Names are those of RFC 5424 §6.2.1 (plus warn,
 * error, panic) or the numbers 0..7.
 *
 * Globs are fnmatch(3) patterns without flags: * any run of bytes, ? one byte, [abc] [a-z]
 * [!x] [^x] [[:digit:]] sets, \ quotes the next byte; '/' and a leading '.' are not special.
 * program is case-sensitive; hostname and peer_name are compared ASCII case-insensitively, as
 * DNS names are (a letter in a set stands for both cases, so [[:upper:]] is any letter there,
 * where glibc's FNM_CASEFOLD would match none). An absent field is the empty string (matched
 * by "*" or "").
 *
 * peer_name matches a message only when its connection's certificate was verified (a TLS
 * input with auth other than anon): the first name of the certificate and every name it is
 * matched by (dNSNames, IP SANs, or the CN without them). Messages from anonymous or plain
 * senders never match it, so a route cannot be chosen by a name nobody checked.
 *
 * message regexes are PCRE2, compiled with UTF and MATCH_INVALID_UTF and JIT-compiled: the
 * pattern is UTF-8, inline flags such as (?i) work, a message that is not valid UTF-8 is still
 * searched (its invalid bytes match no pattern item, not even '.'). Each match may take at
 * most TL_FILTER_MATCH_LIMIT steps; a regex that gives up (or errs) counts as not matching
 * and is counted in tl_filter_regex_errors.
 *
 * Threads: tl_filter_compile and tl_filter_free run on the thread that loads the
 * configuration; a compiled filter is immutable and tl_filter_match may run on any number of
 * worker threads at once. PCRE2 needs a match data block per concurrent match: each thread
 * gets its own (with a JIT stack) on its first regex match, kept in thread-local storage and
 * freed when the thread exits, so matching allocates nothing per message.
 */
#ifndef TL_ROUTE_FILTER_H
#define TL_ROUTE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/msg.h"

/* PCRE2's match limit for each regex match: far above any sane pattern on a 64 KiB message,
 * far below what would stall a worker. */
#define TL_FILTER_MATCH_LIMIT 1000000u

/* The values of one key as the configuration wrote them. */
struct tl_filter_values {
    const char *const *v;  /* borrowed by tl_filter_compile, which keeps copies */
    size_t n;              /* 0: the key is not given */
    bool is_list;          /* written as a sequence ([a, b]) rather than a single value */
};

struct tl_filter_keys {
    struct tl_filter_values facility;
    struct tl_filter_values severity;
    struct tl_filter_values program;
    struct tl_filter_values hostname;
    struct tl_filter_values peer_name;
    struct tl_filter_values message;
};

/* What the config loader fills for one route's `where:`. */
struct tl_filter_spec {
    struct tl_filter_keys where;
    struct tl_filter_keys where_not;  /* `not:`; no key given means no `not` */
};

struct tl_filter;

/*
 * Compiles spec into a filter; nothing in spec is kept. Returns NULL on an invalid value,
 * with err (TL_E_CONFIG; may be NULL) one sentence naming the key (and the item of a list)
 * and the value, for the loader to prefix with file:line, e.g.
 *   "where.severity: unknown severity 'warnin'; use emerg, alert, crit, err, warning,
 *    notice, info, debug or 0..7"
 *   "where.not.message[1]: invalid regex '(?i)err(or': missing closing parenthesis at
 *    offset 11"
 * and also NULL (TL_E_RESOURCE) when out of memory. A spec without any key gives a filter
 * that matches every message.
 */
struct tl_filter *tl_filter_compile(const struct tl_filter_spec *spec, struct tl_err *err);

void tl_filter_free(struct tl_filter *f);

/* Whether the route with filter f carries m. NULL (a route without `where`) carries all.
 * Any thread; no allocation but each thread's first regex match. */
bool tl_filter_match(const struct tl_filter *f, const struct tl_msg *m);

/* How many regex matches gave up (match limit, JIT stack) or failed, since compilation. */
uint64_t tl_filter_regex_errors(const struct tl_filter *f);

/*
 * A glob matcher on byte strings with the semantics above, exposed for the tests and for
 * other keys that take globs. tl_glob_compile returns NULL with err set (TL_E_CONFIG) for
 * an invalid pattern (an unclosed '[', a trailing backslash, an unknown [:class:], a
 * [.coll.] or [=equiv=] in a set, longer than TL_GLOB_MAX); TL_E_RESOURCE when out of
 * memory.
 */
#define TL_GLOB_MAX 4096  /* bytes in a pattern */

struct tl_glob;
struct tl_glob *tl_glob_compile(const char *pattern, bool fold_case, struct tl_err *err);
bool tl_glob_match(const struct tl_glob *g, const uint8_t *s, size_t len);
void tl_glob_free(struct tl_glob *g);

#endif
