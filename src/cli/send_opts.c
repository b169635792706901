/* send_opts.c: the options and the usage text of `tlslog send`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/send_int.h"
#include "core/names.h"
#include "transport/tls_verify.h"

static const char usage_text[] =
    "usage: tlslog send --server HOST:PORT [options] [MESSAGE ...]\n"
    "\n"
    "Sends syslog messages, like logger(1), over TLS (RFC 5425, the default), RELP (plain\n"
    "or over TLS; every message acknowledged), TCP or UDP.\n"
    "Each MESSAGE argument is one message; without any, each line of stdin is one message.\n"
    "Exit status 0 only when every message was written (for RELP: acknowledged) and the\n"
    "connection closed in order (over TLS: after waiting a moment for a refusal of our\n"
    "certificate, which TLS 1.3 servers send after our side of the handshake).\n"
    "\n"
    "connection:\n"
    "  --server HOST:PORT      the receiver (port default: 6514 for tls, 2514 for relp, 514\n"
    "                          otherwise)\n"
    "  --transport T           tls (default), tcp, udp, or relp (acknowledged; over TLS\n"
    "                          when any TLS option below is given, as in tlslogd's config)\n"
    "  --timeout SECONDS       bound on connecting, the handshake, a stalled write and the\n"
    "                          close (default 10; also 500ms, 1m)\n"
    "TLS (RFC 5425 §5):\n"
    "  --ca FILE               the CA that issued the server's certificate (\"system\": the\n"
    "                          system trust store)\n"
    "  --cert FILE --key FILE  our client certificate (chain) and key, for mutual\n"
    "                          authentication\n"
    "  --auth MODE             how the server is checked: name (default: the certificate\n"
    "                          carries HOST, or a --peer name), certvalid (any certificate\n"
    "                          of the CA), fingerprint (--fingerprint), anon (not checked)\n"
    "  --peer NAME             a name the server's certificate may carry (repeatable;\n"
    "                          default HOST)\n"
    "  --fingerprint FP        SHA256:AB:CD:... of the server's certificate (repeatable;\n"
    "                          implies --auth fingerprint)\n"
    "message:\n"
    "  --framing F             octet-counted (default on tls) or lf (default on tcp)\n"
    "  --format F              rfc5424 (default) or rfc3164\n"
    "  --priority FAC.SEV      facility and severity, default user.notice\n"
    "  --tag TAG               APP-NAME / TAG, default tlslog\n"
    "  --hostname NAME         HOSTNAME field, default this host's name\n"
    "  --count N               send the one MESSAGE N times, suffixed \" seq=1\" .. \" seq=N\"\n"
    "  --rate N                at most N messages per second\n";

enum {
    OPT_SERVER = 256,
    OPT_TRANSPORT,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_AUTH,
    OPT_PEER,
    OPT_FINGERPRINT,
    OPT_FRAMING,
    OPT_FORMAT,
    OPT_PRIORITY,
    OPT_TAG,
    OPT_HOSTNAME,
    OPT_COUNT,
    OPT_RATE,
    OPT_TIMEOUT,
};

static const struct option long_options[] = {
    { "server", required_argument, NULL, OPT_SERVER },
    { "transport", required_argument, NULL, OPT_TRANSPORT },
    { "ca", required_argument, NULL, OPT_CA },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "auth", required_argument, NULL, OPT_AUTH },
    { "peer", required_argument, NULL, OPT_PEER },
    { "fingerprint", required_argument, NULL, OPT_FINGERPRINT },
    { "framing", required_argument, NULL, OPT_FRAMING },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "priority", required_argument, NULL, OPT_PRIORITY },
    { "tag", required_argument, NULL, OPT_TAG },
    { "hostname", required_argument, NULL, OPT_HOSTNAME },
    { "count", required_argument, NULL, OPT_COUNT },
    { "rate", required_argument, NULL, OPT_RATE },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* ---- options ------------------------------------------------------------------------------ */

static bool parse_transport(const char *v, enum tl_transport *t)
{
    if (strcmp(v, "tls") == 0) {
        *t = TL_TR_TLS;
    } else if (strcmp(v, "tcp") == 0) {
        *t = TL_TR_TCP;
    } else if (strcmp(v, "udp") == 0) {
        *t = TL_TR_UDP;
    } else if (strcmp(v, "relp") == 0) {
        *t = TL_TR_RELP;
    } else {
        return false;
    }
    return true;
}

static bool parse_auth(const char *v, enum tl_auth_mode *a)
{
    static const struct {
        const char *name;
        enum tl_auth_mode mode;
    } modes[] = {
        { "anon", TL_AUTH_ANON },
        { "certvalid", TL_AUTH_CERTVALID },
        { "name", TL_AUTH_NAME },
        { "fingerprint", TL_AUTH_FINGERPRINT },
    };
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(v, modes[i].name) == 0) {
            *a = modes[i].mode;
            return true;
        }
    }
    return false;
}

static bool parse_priority(const char *v, unsigned *fac, unsigned *sev)
{
    const char *dot = strchr(v, '.');
    char fname[32];
    if (dot == NULL || (size_t)(dot - v) >= sizeof(fname)) {
        return false;
    }
    memcpy(fname, v, (size_t)(dot - v));
    fname[dot - v] = '\0';
    int f = tl_facility_from_name(fname);
    int s = tl_severity_from_name(dot + 1);
    if (f < 0 || s < 0) {
        return false;
    }
    *fac = (unsigned)f;
    *sev = (unsigned)s;
    return true;
}

/* Printable ASCII without spaces: what RFC 5424 header fields may hold (§6). */
static bool header_text_ok(const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 33 || v[i] > 126) {
            return false;
        }
    }
    return true;
}

static int take_option(struct opts *o, int c, char *v)
{
    unsigned long n;
    char why[200];
    struct tl_err e;
    switch (c) {
    case OPT_SERVER:
        o->server = v;
        return -1;
    case OPT_TRANSPORT:
        if (!parse_transport(v, &o->transport)) {
            return tl_cli_usage_error(PROG, "--transport '%s': use tls, tcp, udp or relp", v);
        }
        return -1;
    case OPT_CA:
        o->ca = v;
        return -1;
    case OPT_CERT:
        o->cert = v;
        return -1;
    case OPT_KEY:
        o->key = v;
        return -1;
    case OPT_AUTH:
        if (!parse_auth(v, &o->auth)) {
            return tl_cli_usage_error(PROG, "--auth '%s': use name, certvalid, fingerprint or "
                                            "anon", v);
        }
        return -1;
    case OPT_PEER:
        if (tl_name_pattern_check(v, &e) != TL_OK) {
            return tl_cli_usage_error(PROG, "--peer %s", tl_err_text(&e, why, sizeof(why)));
        }
        o->peers[o->n_peers++] = v;
        return -1;
    case OPT_FINGERPRINT: {
        struct tl_fingerprint fp;
        if (tl_fingerprint_parse(v, &fp, &e) != TL_OK) {
            return tl_cli_usage_error(PROG, "--fingerprint '%s': %s", v,
                                      tl_err_text(&e, why, sizeof(why)));
        }
        o->fps[o->n_fps++] = v;
        return -1;
    }
    case OPT_FRAMING:
        o->framing = tl_framing_from_name(v);
        if (o->framing != TL_FRAMING_OCTET && o->framing != TL_FRAMING_LF) {
            return tl_cli_usage_error(PROG, "--framing '%s': use octet-counted or lf", v);
        }
        return -1;
    case OPT_FORMAT: {
        int f = tl_format_from_name(v);
        if (f != TL_FMT_RFC5424 && f != TL_FMT_RFC3164) {
            return tl_cli_usage_error(PROG, "--format '%s': use rfc5424 or rfc3164", v);
        }
        o->format = (enum tl_format)f;
        return -1;
    }
    case OPT_PRIORITY:
        if (!parse_priority(v, &o->facility, &o->severity)) {
            return tl_cli_usage_error(PROG, "--priority '%s': write FACILITY.SEVERITY, e.g. "
                                            "local0.err or user.notice", v);
        }
        return -1;
    case OPT_TAG:
        if (!header_text_ok(v, TAG_MAX)) {
            return tl_cli_usage_error(PROG, "--tag '%s': 1 to %d printable ASCII characters "
                                            "without spaces (RFC 5424 APP-NAME)", v, TAG_MAX);
        }
        o->tag = v;
        return -1;
    case OPT_HOSTNAME:
        if (!header_text_ok(v, 255)) {
            return tl_cli_usage_error(PROG, "--hostname '%s': 1 to 255 printable ASCII "
                                            "characters without spaces", v);
        }
        o->hostname = v;
        return -1;
    case OPT_COUNT:
        if (!tl_cli_parse_ulong(v, 1, COUNT_MAX, &n)) {
            return tl_cli_usage_error(PROG, "--count '%s': a number from 1 to %lu", v,
                                      COUNT_MAX);
        }
        o->count = n;
        return -1;
    case OPT_RATE:
        if (!tl_cli_parse_ulong(v, 1, RATE_MAX, &n)) {
            return tl_cli_usage_error(PROG, "--rate '%s': messages per second, 1 to %lu", v,
                                      RATE_MAX);
        }
        o->rate = n;
        return -1;
    case OPT_TIMEOUT:
        if (!tl_cli_parse_timeout(v, &o->timeout_ms)) {
            return tl_cli_usage_error(PROG, "--timeout '%s': seconds (or 500ms, 1m), at most "
                                            "1h", v);
        }
        return -1;
    default:
        return tl_cli_usage_error(PROG, "unexpected option");
    }
}

/* Checks the options together and fills in the defaults. */
static int check_opts(struct opts *o)
{
    bool tls_opts = o->ca || o->cert || o->key || o->auth != TL_AUTH_DEFAULT || o->n_peers ||
                    o->n_fps;
    bool is_tls = o->transport == TL_TR_TLS || (o->transport == TL_TR_RELP && tls_opts);
    o->use_tls = is_tls;
    if (o->server == NULL) {
        return tl_cli_usage_error(PROG, "give --server HOST:PORT");
    }
    if (!is_tls && tls_opts) {
        return tl_cli_usage_error(PROG, "--ca, --cert, --key, --auth, --peer and --fingerprint "
                                        "apply to --transport tls (and relp) only");
    }
    if ((o->transport == TL_TR_UDP || o->transport == TL_TR_RELP) && o->framing >= 0) {
        return tl_cli_usage_error(PROG, "--framing does not apply to %s (%s)",
                                  o->transport == TL_TR_UDP ? "udp" : "relp",
                                  o->transport == TL_TR_UDP ? "one message per datagram"
                                                            : "RELP frames each message");
    }
    if (o->framing < 0) {
        o->framing = is_tls ? TL_FRAMING_OCTET : TL_FRAMING_LF;
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        return tl_cli_usage_error(PROG, "--cert and --key go together");
    }
    if (is_tls && o->auth == TL_AUTH_DEFAULT) {
        o->auth = o->n_fps ? TL_AUTH_FINGERPRINT : TL_AUTH_NAME;
    }
    if ((o->auth == TL_AUTH_NAME || o->auth == TL_AUTH_CERTVALID) && o->ca == NULL) {
        return tl_cli_usage_error(PROG, "give --ca FILE (the CA that issued the server's "
                                        "certificate), or --auth anon");
    }
    if (o->auth == TL_AUTH_FINGERPRINT && o->n_fps == 0) {
        return tl_cli_usage_error(PROG, "--auth fingerprint needs --fingerprint SHA256:... (the "
                                        "server's, as 'tlslog probe' prints it)");
    }
    if (o->n_fps && o->auth != TL_AUTH_FINGERPRINT) {
        return tl_cli_usage_error(PROG, "--fingerprint is used with --auth fingerprint only");
    }
    if (o->n_peers && o->auth != TL_AUTH_NAME) {
        return tl_cli_usage_error(PROG, "--peer is used with --auth name only");
    }
    if (o->count && o->n_msgs != 1) {
        return tl_cli_usage_error(PROG, "--count repeats one MESSAGE: give exactly one");
    }
    if (o->hostname == NULL) {
        if (gethostname(o->host_buf, sizeof(o->host_buf) - 1) != 0) {
            o->host_buf[0] = '\0';
        }
        o->host_buf[sizeof(o->host_buf) - 1] = '\0';
        o->hostname = o->host_buf;
    }
    return -1;
}

int tl_send_parse_opts(struct opts *o, int argc, char **argv)
{
    int c;
    /* Every repeatable option takes a value, so argc bounds how many there can be. */
    o->peers = calloc((size_t)argc, sizeof(*o->peers));
    o->fps = calloc((size_t)argc, sizeof(*o->fps));
    if (o->peers == NULL || o->fps == NULL) {
        return tl_cli_fail("out of memory");
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return TL_CLI_OK;
        }
        if (c == '?' || c == ':') {
            return tl_cli_getopt_error(PROG, c, argv);
        }
        int rc = take_option(o, c, optarg);
        if (rc >= 0) {
            return rc;
        }
    }
    o->msgs = argv + optind;
    o->n_msgs = (size_t)(argc - optind);
    return check_opts(o);
}
