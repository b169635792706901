/*
 * values.c: the value syntaxes of the configuration: sizes, durations, listen addresses.
 * Pure functions, safe from any thread.
 */
#include "conf/conf.h"

#include "core/names.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static bool parse_port(const char *s, size_t len, uint16_t *port, char *why, size_t whylen)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0) {
        snprintf(why, whylen, "the port is missing after ':'");
        return false;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            snprintf(why, whylen, "port '%.*s' is not a number", (int)(len > 32 ? 32 : len), s);
            return false;
        }
        if (v <= 65535) {
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (v > 65535) {
        snprintf(why, whylen, "port '%.*s' is out of range 0..65535", (int)(len > 32 ? 32 : len),
                 s);
        return false;
    }
    *port = (uint16_t)v;
    return true;
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
static bool valid_v6(const char *s, size_t len, char *why, size_t whylen)
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
    return true;
bad:
    snprintf(why, whylen, "'%.*s' is not an IPv6 address", (int)(len > 64 ? 64 : len), s);
    return false;
}

bool tl_parse_listen(const char *s, uint16_t default_port, char **host, uint16_t *port,
                     char *why, size_t whylen)
{
    const char *h;
    size_t hlen;
    const char *colon;
    size_t len;

    *host = NULL;
    if (s == NULL || s[0] == '\0') {
        snprintf(why, whylen, "it is empty");
        return false;
    }
    len = strlen(s);
    *port = default_port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL) {
            snprintf(why, whylen, "'[' has no matching ']'");
            return false;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        if (!valid_v6(h, hlen, why, whylen)) {
            return false;
        }
        if (close[1] == ':') {
            if (!parse_port(close + 2, strlen(close + 2), port, why, whylen)) {
                return false;
            }
        } else if (close[1] != '\0') {
            snprintf(why, whylen, "unexpected text after ']'; write [address]:port");
            return false;
        }
    } else {
        colon = strchr(s, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            snprintf(why, whylen, "an IPv6 address needs brackets, e.g. [::1]:514 or [::]:514");
            return false;
        }
        if (colon == NULL && all_digits(s, len)) {
            /* "514": a port on all addresses. */
            return parse_port(s, len, port, why, whylen);
        }
        h = s;
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon != NULL && !parse_port(colon + 1, strlen(colon + 1), port, why, whylen)) {
            return false;
        }
        if (hlen > 0 && !tl_hostname_check(h, hlen, why, whylen)) {
            return false;
        }
        if (hlen == 0) {
            return true;
        }
    }
    *host = strndup(h, hlen);
    if (*host == NULL) {
        snprintf(why, whylen, "out of memory");
        return false;
    }
    return true;
}
