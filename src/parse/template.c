/*
 * template.c: templates with {placeholders} (see template.h).
 *
 * A template compiles to a list of segments, each a literal run of its text or one
 * placeholder, so rendering a message is one pass over the segments with no parsing.
 */
#include "parse/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/addr.h"
#include "core/peer.h"
#include "core/sb.h"
#include "core/text.h"

/* In the order of tl_template_placeholders: the index is the value. */
enum ph {
    PH_HOSTNAME,
    PH_APP,
    PH_YEAR,
    PH_MONTH,
    PH_DAY,
    PH_HOUR,
    PH_FACILITY,
    PH_SEVERITY,
    PH_INPUT,
    PH_PEER_IP,
    PH_PEER_NAME,
    PH_COUNT,
    PH_LITERAL = PH_COUNT,
};

const struct tl_template_placeholder tl_template_placeholders[] = {
    [PH_HOSTNAME] = {"hostname", "HOSTNAME of the message; without one, the sender's IP "
                                 "address (`localhost` for unix inputs)"},
    [PH_APP] = {"app", "APP-NAME (RFC 5424) or TAG (RFC 3164)"},
    [PH_YEAR] = {"year", "year the message was received (local time), 4 digits"},
    [PH_MONTH] = {"month", "month it was received, 01-12"},
    [PH_DAY] = {"day", "day of the month it was received, 01-31"},
    [PH_HOUR] = {"hour", "hour it was received, 00-23"},
    [PH_FACILITY] = {"facility", "facility name: `kern`, `user`, `mail`, ..., `local7`"},
    [PH_SEVERITY] = {"severity", "severity name: `emerg`, `alert`, `crit`, `err`, `warning`, "
                                 "`notice`, `info`, `debug`"},
    [PH_INPUT] = {"input", "name of the input that received the message"},
    [PH_PEER_IP] = {"peer_ip", "IP address of the sender (`local` for unix inputs)"},
    [PH_PEER_NAME] = {"peer_name", "first name in the TLS sender's certificate (DNS name, else "
                                   "IP address, else CN); `anonymous` without a certificate "
                                   "or on other transports"},
};

const size_t tl_template_n_placeholders = PH_COUNT;

_Static_assert(sizeof(tl_template_placeholders) / sizeof(tl_template_placeholders[0]) ==
                   PH_COUNT, "one row per placeholder");

/* A component longer than this is cut: file names have limits, and a sender must not be able
 * to make one path fill the output's path buffer. */
#define COMPONENT_MAX 128
/* "allowed: {hostname}, ..." */
#define LIST_LEN 512

struct seg {
    enum ph ph;
    size_t off;  /* PH_LITERAL: the run text[off .. off + len) */
    size_t len;
};

struct tl_template {
    struct seg *segs;
    size_t n_segs;
    bool constant;
    char text[];
};

static int find_placeholder(const char *name, size_t len)
{
    for (int i = 0; i < PH_COUNT; i++) {
        if (strlen(tl_template_placeholders[i].name) == len &&
            memcmp(tl_template_placeholders[i].name, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

static enum tl_rc unknown(const char *text, const char *open, const char *close,
                          struct tl_err *err)
{
    char ph[TL_SHOW_LEN];
    char shown[TL_SHOW_LEN];
    char list[LIST_LEN];
    struct tl_sb sb;

    tl_sb_init(&sb, list, sizeof(list));
    for (int i = 0; i < PH_COUNT; i++) {
        tl_sb_printf(&sb, "%s{%s}", i > 0 ? ", " : "", tl_template_placeholders[i].name);
    }
    tl_sb_done(&sb);
    /* No "did you mean" here: short names like {hour} are too close to typos of unrelated
     * ones ({hots} for {hostname}). */
    TL_FAIL(err, TL_E_CONFIG, NULL, "unknown placeholder '%s' in '%s'; allowed: %s",
            tl_show_text(open, (size_t)(close - open + 1), ph, sizeof(ph)),
            tl_show_text(text, strlen(text), shown, sizeof(shown)), list);
}

/*
 * Splits text into segments: into segs when it is not NULL (it has room for *n of them, as
 * an earlier call without segs counted), and counts them in *n. TL_E_CONFIG when text is not
 * a valid template.
 */
static enum tl_rc scan(const char *text, struct seg *segs, size_t *n, struct tl_err *err)
{
    char shown[TL_SHOW_LEN];
    const char *p = text;
    size_t k = 0;

    while (*p != '\0') {
        struct seg s = {.ph = PH_LITERAL, .off = (size_t)(p - text)};

        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *open2 = strchr(p + 1, '{');
            int ph;

            if (close == NULL || (open2 != NULL && open2 < close)) {
                TL_FAIL(err, TL_E_CONFIG, NULL,
                        "unclosed '{' in '%s'; placeholders look like {hostname}",
                        tl_show_text(text, strlen(text), shown, sizeof(shown)));
            }
            ph = find_placeholder(p + 1, (size_t)(close - p - 1));
            if (ph < 0) {
                return unknown(text, p, close, err);
            }
            s.ph = (enum ph)ph;
            p = close + 1;
        } else {
            s.len = strcspn(p, "{");
            p += s.len;
        }
        if (segs != NULL) {
            segs[k] = s;
        }
        k++;
    }
    *n = k;
    return TL_OK;
}

enum tl_rc tl_template_check(const char *text, struct tl_err *err)
{
    size_t n;

    return scan(text, NULL, &n, err);
}

enum tl_rc tl_template_new(const char *text, struct tl_template **out, struct tl_err *err)
{
    size_t len = strlen(text);
    struct tl_template *t;
    size_t n;

    *out = NULL;
    TL_TRY(scan(text, NULL, &n, err));
    t = calloc(1, sizeof(*t) + len + 1);
    if (t == NULL || (t->segs = calloc(n > 0 ? n : 1, sizeof(*t->segs))) == NULL) {
        free(t);
        TL_FAIL(err, TL_E_RESOURCE, NULL, "out of memory compiling a template");
    }
    memcpy(t->text, text, len + 1);
    TL_TRY(scan(t->text, t->segs, &t->n_segs, err));
    t->constant = true;
    for (size_t i = 0; i < t->n_segs; i++) {
        t->constant = t->constant && t->segs[i].ph == PH_LITERAL;
    }
    *out = t;
    return TL_OK;
}

void tl_template_free(struct tl_template *t)
{
    if (t != NULL) {
        free(t->segs);
        free(t);
    }
}

bool tl_template_is_constant(const struct tl_template *t)
{
    return t->constant;
}

bool tl_template_put_path_component(struct tl_buf *b, const uint8_t *p, size_t n)
{
    bool ok = true;

    if (n == 0) {
        return tl_buf_putc(b, '-');
    }
    if (n > COMPONENT_MAX) {
        n = COMPONENT_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];

        if (c == '/' || c < 0x20 || c == 0x7f || (i == 0 && c == '.')) {
            c = '_';
        }
        ok = tl_buf_putc(b, c) && ok;
    }
    return ok;
}

static bool put_num(struct tl_buf *b, int v, int width)
{
    char tmp[16];
    int n = snprintf(tmp, sizeof(tmp), "%0*d", width, v);

    return tl_buf_append(b, tmp, (size_t)n);
}

static bool put_ip(struct tl_buf *b, const struct tl_msg *m, tl_template_put_fn *put)
{
    char ip[TL_ADDR_STRLEN];
    size_t n = tl_addr_format(&m->peer, false, ip, sizeof(ip));

    return put(b, (const uint8_t *)ip, n);
}

static bool put_date(struct tl_buf *b, enum ph ph, const struct tl_msg *m, struct tm *tm,
                     bool *have_tm)
{
    if (!*have_tm) {
        time_t t = (time_t)m->recv_sec;

        localtime_r(&t, tm);
        *have_tm = true;
    }
    switch (ph) {
    case PH_YEAR:
        return put_num(b, tm->tm_year + 1900, 4);
    case PH_MONTH:
        return put_num(b, tm->tm_mon + 1, 2);
    case PH_DAY:
        return put_num(b, tm->tm_mday, 2);
    case PH_HOUR:
    default:
        return put_num(b, tm->tm_hour, 2);
    }
}

bool tl_template_render(const struct tl_template *t, const struct tl_msg *m,
                        const char *input_name, tl_template_put_fn *put, struct tl_buf *b)
{
    struct tm tm;
    bool have_tm = false;
    bool ok = true;

    for (size_t i = 0; i < t->n_segs; i++) {
        const struct seg *s = &t->segs[i];
        bool put_ok = true;

        switch (s->ph) {
        case PH_LITERAL:
            put_ok = tl_buf_append(b, t->text + s->off, s->len);
            break;
        case PH_HOSTNAME:
            if (m->hostname.len > 0) {
                put_ok = put(b, tl_msg_at(m, m->hostname), m->hostname.len);
            } else if (m->peer.family == AF_UNIX || m->peer.family == 0) {
                put_ok = tl_buf_puts(b, "localhost");
            } else {
                put_ok = put_ip(b, m, put);
            }
            break;
        case PH_APP:
            put_ok = put(b, tl_msg_at(m, m->app_name), m->app_name.len);
            break;
        case PH_PEER_IP:
            put_ok = put_ip(b, m, put);
            break;
        case PH_PEER_NAME:
            /* The first name of the sender's TLS certificate: who proved to be sending. */
            if (m->peer_id != NULL && m->peer_id->name != NULL) {
                put_ok = put(b, (const uint8_t *)m->peer_id->name, strlen(m->peer_id->name));
            } else {
                put_ok = tl_buf_puts(b, "anonymous");
            }
            break;
        case PH_FACILITY:
            put_ok = tl_buf_puts(b, tl_facility_name(m->facility));
            break;
        case PH_SEVERITY:
            put_ok = tl_buf_puts(b, tl_severity_name(m->severity));
            break;
        case PH_INPUT:
            put_ok = tl_buf_puts(b, input_name);
            break;
        case PH_YEAR:
        case PH_MONTH:
        case PH_DAY:
        case PH_HOUR:
        default:
            put_ok = put_date(b, s->ph, m, &tm, &have_tm);
            break;
        }
        ok = ok && put_ok;
    }
    return ok;
}
