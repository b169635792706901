/*
 * cert.c: `tlslog cert`, the certificates syslog over TLS needs (RFC 5425), one command each:
 * their options and arguments, the order of their steps, and what they print. What the
 * certificates are made of is cert_build.c's; reading and writing the files, cert_pem.c's.
 *
 * Files are never overwritten without --force: keys are created with O_CREAT|O_EXCL and mode
 * 0600, and every output path is checked before any key is generated, so a refused command
 * changes nothing. The CRL is replaced atomically (temporary file, then rename).
 */
#include "cli/cert.h"

#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cert_build.h"
#include "cli/cert_pem.h"
#include "cli/cli.h"
#include "transport/tls_verify.h"

#define CA_DAYS_DEFAULT 3650UL
#define LEAF_DAYS_DEFAULT 825UL
#define CRL_DAYS_DEFAULT 30UL
#define DAYS_MAX 36500UL
#define CRL_DAYS_MAX 3650UL
#define CA_NAME_DEFAULT "Example Log CA"
/* ub-common-name, RFC 5280 appendix A.1. */
#define CN_MAX 64

/* ---- options ------------------------------------------------------------------------------ */

enum {
    OPT_OUT = 1u << 0,
    OPT_CA = 1u << 1,
    OPT_NAME = 1u << 2,       /* one --name (the CA's) */
    OPT_NAMES = 1u << 3,      /* --name, repeatable (DNS names) */
    OPT_IP = 1u << 4,
    OPT_DAYS = 1u << 5,
    OPT_KEY = 1u << 6,
    OPT_FORCE = 1u << 7,
    OPT_CRL_DAYS = 1u << 8,
    OPT_GROUP = 1u << 9,      /* the key's group, mode 0640 (a daemon that drops root) */
};

struct opts {
    const char *prog;           /* "tlslog cert issue" */
    const char *out;
    const char *ca_dir;
    const char *ca_name;
    const char **names;         /* argv pointers */
    size_t n_names;
    struct tl_san_ip *ips;
    size_t n_ips;
    unsigned long days;
    unsigned long crl_days;
    enum tl_key_alg key;
    bool force;
    const char *group;          /* --group: the key file's group */
    gid_t gid;
    char **args;                /* the operands after the options */
    int n_args;
};

static void opts_fini(struct opts *o)
{
    free(o->names);
    free(o->ips);
}

static const struct {
    const char *name;
    int has_arg;
    int val;
    unsigned flags;
} all_options[] = {
    { "out", required_argument, 'o', OPT_OUT },
    { "ca", required_argument, 'c', OPT_CA },
    { "name", required_argument, 'n', OPT_NAME | OPT_NAMES },
    { "ip", required_argument, 'i', OPT_IP },
    { "days", required_argument, 'd', OPT_DAYS },
    { "key", required_argument, 'k', OPT_KEY },
    { "force", no_argument, 'f', OPT_FORCE },
    { "crl-days", required_argument, 'r', OPT_CRL_DAYS },
    { "group", required_argument, 'g', OPT_GROUP },
};

#define N_OPTIONS (sizeof(all_options) / sizeof(all_options[0]))

static int set_once(struct opts *o, const char **slot, const char *opt, const char *value)
{
    if (*slot != NULL) {
        return tl_cli_usage_error(o->prog, "%s given twice", opt);
    }
    *slot = value;
    return -1;
}

static int take_option(struct opts *o, unsigned allowed, int c, const char *arg)
{
    switch (c) {
    case 'o':
        return set_once(o, &o->out, "--out", arg);
    case 'c':
        return set_once(o, &o->ca_dir, "--ca", arg);
    case 'n':
        if ((allowed & OPT_NAMES) != 0) {
            o->names[o->n_names++] = arg;
            return -1;
        }
        return set_once(o, &o->ca_name, "--name", arg);
    case 'i':
        if (!tl_ip_pattern_parse(arg, &o->ips[o->n_ips])) {
            return tl_cli_usage_error(o->prog, "--ip '%s' is not an IPv4 or IPv6 address", arg);
        }
        o->n_ips++;
        return -1;
    case 'd':
        if (!tl_cli_parse_ulong(arg, 1, DAYS_MAX, &o->days)) {
            return tl_cli_usage_error(o->prog, "--days takes a number of days from 1 to %lu, "
                                      "not '%s'", DAYS_MAX, arg);
        }
        return -1;
    case 'r':
        if (!tl_cli_parse_ulong(arg, 1, CRL_DAYS_MAX, &o->crl_days)) {
            return tl_cli_usage_error(o->prog, "--crl-days takes a number of days from 1 to %lu, "
                                      "not '%s'", CRL_DAYS_MAX, arg);
        }
        return -1;
    case 'k':
        if (strcmp(arg, "ec") == 0 || strcmp(arg, "ecdsa") == 0) {
            o->key = TL_KEY_EC;
        } else if (strcmp(arg, "rsa") == 0) {
            o->key = TL_KEY_RSA;
        } else {
            return tl_cli_usage_error(o->prog, "--key is 'ec' or 'rsa', not '%s'", arg);
        }
        return -1;
    case 'f':
        o->force = true;
        return -1;
    case 'g': {
        struct group *gr = getgrnam(arg);
        unsigned long id;
        if (gr == NULL && tl_cli_parse_ulong(arg, 0, UINT32_MAX - 1, &id)) {
            gr = getgrgid((gid_t)id);
        }
        if (gr == NULL) {
            return tl_cli_usage_error(o->prog, "--group '%s' is not a group of this system", arg);
        }
        o->gid = gr->gr_gid;
        return set_once(o, &o->group, "--group", arg);
    }
    default:
        return tl_cli_usage_error(o->prog, "unexpected option");
    }
}

/*
 * Parses the options in `allowed` (OPT_*) plus --help. Returns -1 to go on, or the exit status
 * to return at once (TL_CLI_OK after --help, TL_CLI_USAGE after a usage error).
 */
static int parse_opts(struct opts *o, const char *usage, unsigned allowed, int argc, char **argv)
{
    struct option longopts[N_OPTIONS + 2];
    size_t n = 0;
    int c;

    /* Every repeatable option takes a value, so argc bounds how many there can be. */
    o->names = calloc((size_t)argc, sizeof(*o->names));
    o->ips = calloc((size_t)argc, sizeof(*o->ips));
    if (o->names == NULL || o->ips == NULL) {
        return tl_cli_fail("out of memory");
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if ((all_options[i].flags & allowed) != 0) {
            longopts[n].name = all_options[i].name;
            longopts[n].has_arg = all_options[i].has_arg;
            longopts[n].flag = NULL;
            longopts[n].val = all_options[i].val;
            n++;
        }
    }
    longopts[n] = (struct option){ "help", no_argument, NULL, 'h' };
    longopts[n + 1] = (struct option){ NULL, 0, NULL, 0 };

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int rc;
        if (c == 'h') {
            fputs(usage, stdout);
            return TL_CLI_OK;
        }
        if (c == '?' || c == ':') {
            return tl_cli_getopt_error(o->prog, c, argv);
        }
        rc = take_option(o, allowed, c, optarg);
        if (rc >= 0) {
            return rc;
        }
    }
    o->args = argv + optind;
    o->n_args = argc - optind;
    return -1;
}

/* No operands expected. */
static int no_args(const struct opts *o)
{
    if (o->n_args > 0) {
        return tl_cli_usage_error(o->prog, "unexpected argument '%s'", o->args[0]);
    }
    return -1;
}

/* A CN we can write: 1..64 bytes of printable text (UTF-8 allowed, no control characters). */
static bool cn_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CN_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/*
 * A host name for a dNSName SAN (core/names.h's rules; no trailing dot); "*" is allowed as the
 * whole first label when at least two labels follow (RFC 6125 §6.4.3, as names.c matches it).
 */
static bool dns_name_ok(const char *name)
{
    size_t at;
    if (strncmp(name, "*.", 2) == 0) {
        name += 2;
        if (strchr(name, '.') == NULL) {
            return false;
        }
    }
    return tl_hostname_problem(name, strlen(name), &at) == TL_HOST_OK;
}

/* Checks --name values for issue and self-signed; returns -1 or a usage status. */
static int check_peer_names(const struct opts *o)
{
    if (o->n_names + o->n_ips == 0) {
        return tl_cli_usage_error(o->prog, "give the peer's name with --name (or --ip)");
    }
    for (size_t i = 0; i < o->n_names; i++) {
        struct tl_san_ip ip;
        if (tl_ip_pattern_parse(o->names[i], &ip)) {
            return tl_cli_usage_error(o->prog, "'%s' is an IP address; pass it with --ip",
                                      o->names[i]);
        }
        if (!dns_name_ok(o->names[i])) {
            return tl_cli_usage_error(o->prog, "--name '%s' is not a valid DNS name (letters, "
                                      "digits, '-' and dots; '*' only as the whole first label)",
                                      o->names[i]);
        }
    }
    return -1;
}

/* The subject CN for a peer: the first name, or the first address when there is no name.
 * A name longer than a CN may be only lives in the subjectAltName. */
static const char *peer_cn(const struct opts *o)
{
    if (o->n_names > 0) {
        return strlen(o->names[0]) <= CN_MAX ? o->names[0] : NULL;
    }
    return o->ips[0].text;
}

/* "--out host.pem" means the prefix "host". */
static void strip_pem(char *prefix)
{
    size_t len = strlen(prefix);
    if (len > 4 && strcmp(prefix + len - 4, ".pem") == 0) {
        prefix[len - 4] = '\0';
    }
}

/* Key and certificate paths for --out PREFIX. */
static bool peer_paths(const char *out, char *cert_path, char *key_path, size_t cap)
{
    char prefix[PATH_MAX];
    if (!tl_cert_path_cat(prefix, sizeof(prefix), out, "")) {
        return false;
    }
    strip_pem(prefix);
    if (prefix[0] == '\0' || prefix[strlen(prefix) - 1] == '/') {
        tl_cli_fail("--out wants a file name prefix such as 'host' or 'certs/host', not '%s'",
                    out);
        return false;
    }
    return tl_cert_path_cat(cert_path, cap, prefix, ".pem") &&
           tl_cert_path_cat(key_path, cap, prefix, "-key.pem");
}

/* ---- tlslog cert ca ----------------------------------------------------------------------- */

static const char ca_usage[] =
    "usage: tlslog cert ca --out DIR [--name NAME] [--days N] [--key ec|rsa] [--force]\n"
    "\n"
    "Makes a certificate authority for your syslog peers: DIR/ca.pem, to give to every\n"
    "peer (tls.ca_file), and DIR/ca-key.pem, which signs their certificates: keep it secret\n"
    "and off the log hosts. DIR is created with mode 0700 if it is missing.\n"
    "\n"
    "  --out DIR      where to write ca.pem and ca-key.pem\n"
    "  --name NAME    the CA's name (subject CN), default \"" CA_NAME_DEFAULT "\"\n"
    "  --days N       how long the CA is valid, default 3650 days\n"
    "  --key ec|rsa   ECDSA P-256 (default) or RSA 3072\n"
    "  --force        replace an existing CA (what it issued will no longer verify)\n"
    "\n"
    "Next: tlslog cert issue --ca DIR --name HOST --out HOST\n";

static int cmd_ca(int argc, char **argv)
{
    struct opts o = { .prog = "tlslog cert ca", .days = CA_DAYS_DEFAULT };
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
    char until[TL_TIME_STRLEN];
    char err[256];
    struct tl_peer_cert pc;
    struct tl_cert_spec spec;
    struct stat st;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool clamped = false;
    int rc = parse_opts(&o, ca_usage, OPT_OUT | OPT_NAME | OPT_DAYS | OPT_KEY | OPT_FORCE,
                        argc, argv);
    if (rc < 0) {
        rc = no_args(&o);
    }
    if (rc >= 0) {
        goto out;
    }
    if (o.out == NULL) {
        rc = tl_cli_usage_error(o.prog, "--out DIR is required");
        goto out;
    }
    if (o.ca_name == NULL) {
        o.ca_name = CA_NAME_DEFAULT;
    }
    if (!cn_ok(o.ca_name)) {
        rc = tl_cli_usage_error(o.prog, "--name takes 1 to %d printable characters", CN_MAX);
        goto out;
    }
    rc = TL_CLI_FAIL;
    if (!tl_cert_path_in(cert_path, sizeof(cert_path), o.out, "ca.pem") ||
        !tl_cert_path_in(key_path, sizeof(key_path), o.out, "ca-key.pem")) {
        goto out;
    }
    if (stat(o.out, &st) == 0 && !S_ISDIR(st.st_mode)) {
        tl_cli_fail("%s exists and is not a directory", o.out);
        goto out;
    }
    if (!tl_cert_check_free(key_path, o.force) || !tl_cert_check_free(cert_path, o.force) ||
        !tl_cert_make_dirs(o.out)) {
        goto out;
    }
    key = tl_cert_make_key(o.key);
    if (key == NULL) {
        goto out;
    }
    spec = (struct tl_cert_spec){ .cn = o.ca_name, .is_ca = true, .alg = o.key, .days = o.days };
    cert = tl_cert_make(&spec, key, &clamped);
    if (cert == NULL) {
        goto out;
    }
    struct tl_err ce;
    if (tl_peer_cert_from_x509(cert, &pc, &ce) != TL_OK) {
        tl_err_text(&ce, err, sizeof(err));
        tl_cli_fail("cannot read back the new certificate: %s", err);
        goto out;
    }
    if (!tl_cert_write_new(key_path, 0600, o.force, &(struct tl_pem_out){ .key = key })) {
        tl_peer_cert_fini(&pc);
        goto out;
    }
    if (!tl_cert_write_new(cert_path, 0644, o.force, &(struct tl_pem_out){ .cert = cert })) {
        unlink(key_path);
        tl_peer_cert_fini(&pc);
        goto out;
    }
    tl_asn1_time_text(X509_get0_notAfter(cert), until, sizeof(until), NULL);
    printf("wrote %s: the CA's %s private key (mode 0600); keep it secret and off the log "
           "hosts\n", key_path, tl_cert_key_desc(o.key));
    printf("wrote %s: CA certificate \"%s\", valid until %s; give it to every peer "
           "(tls.ca_file)\n", cert_path, pc.subject, until);
    printf("fingerprint: %s\n", pc.sha256_text);
    printf("next: tlslog cert issue --ca %s --name HOST --out HOST\n", o.out);
    tl_peer_cert_fini(&pc);
    rc = TL_CLI_OK;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    opts_fini(&o);
    return rc;
}

/* ---- tlslog cert issue / self-signed ------------------------------------------------------ */

/*
 * --group: the key goes to that group with mode 0640, so that a tlslogd that dropped root to
 * a user of the group (user:, group:) can read it again at SIGHUP; the owner stays who ran
 * the command. The key is removed when that cannot be done: a 0600 key the daemon cannot
 * read would fail later, at a reload.
 */
static bool give_key_group(const struct opts *o, const char *key_path)
{
    if (o->group == NULL) {
        return true;
    }
    if (chown(key_path, (uid_t)-1, o->gid) != 0 || chmod(key_path, 0640) != 0) {
        tl_cli_fail("cannot give %s to group %s with mode 0640: %s%s", key_path, o->group,
                    strerror(errno), errno == EPERM ? " (run as root, or as a member of that "
                                                      "group)" : "");
        unlink(key_path);
        return false;
    }
    return true;
}

static const char issue_usage[] =
    "usage: tlslog cert issue --ca DIR --name DNSNAME [--name ...] [--ip ADDR ...] --out PREFIX\n"
    "                         [--days N] [--key ec|rsa] [--force] [--group GROUP]\n"
    "\n"
    "Makes a key and a certificate for one syslog peer, signed by the CA in DIR (from\n"
    "'tlslog cert ca'): PREFIX.pem (tls.cert_file; followed by DIR/chain.pem if there is one)\n"
    "and PREFIX-key.pem (tls.key_file, mode 0600). The certificate is good for both TLS server\n"
    "and client use, so one peer can receive and send with it.\n"
    "\n"
    "  --ca DIR       the CA directory (ca.pem, ca-key.pem)\n"
    "  --name NAME    a DNS name of the peer; repeat for more. The first is also the CN\n"
    "  --ip ADDR      an IPv4 or IPv6 address of the peer; repeat for more\n"
    "  --out PREFIX   write PREFIX.pem and PREFIX-key.pem\n"
    "  --days N       how long it is valid, default 825 days (never beyond the CA)\n"
    "  --key ec|rsa   ECDSA P-256 (default) or RSA 3072\n"
    "  --force        replace existing files\n"
    "  --group GROUP  give the key to GROUP with mode 0640 (for a tlslogd that runs with\n"
    "                 user: and group:, or as a service user of that group)\n";

static const char self_signed_usage[] =
    "usage: tlslog cert self-signed --name DNSNAME [--name ...] [--ip ADDR ...] --out PREFIX\n"
    "                               [--days N] [--key ec|rsa] [--force] [--group GROUP]\n"
    "\n"
    "Makes a key and a self-signed certificate for fingerprint authentication (RFC 5425\n"
    "section 4.2.1, tls.auth: fingerprint): PREFIX.pem and PREFIX-key.pem (mode 0600). Prints the\n"
    "fingerprint line to paste into the configuration of the peers that talk to this one.\n"
    "\n"
    "  --name NAME    a DNS name of this host; repeat for more. The first is also the CN\n"
    "  --ip ADDR      an IPv4 or IPv6 address of this host; repeat for more\n"
    "  --out PREFIX   write PREFIX.pem and PREFIX-key.pem\n"
    "  --days N       how long it is valid, default 825 days\n"
    "  --key ec|rsa   ECDSA P-256 (default) or RSA 3072\n"
    "  --force        replace existing files\n"
    "  --group GROUP  give the key to GROUP with mode 0640 (see issue --help)\n";

static int make_peer(int argc, char **argv, bool self_signed)
{
    struct opts o = {
        .prog = self_signed ? "tlslog cert self-signed" : "tlslog cert issue",
        .days = LEAF_DAYS_DEFAULT,
    };
    unsigned allowed = OPT_NAMES | OPT_IP | OPT_OUT | OPT_DAYS | OPT_KEY | OPT_FORCE | OPT_GROUP;
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
    char until[TL_TIME_STRLEN];
    char names[512];
    char err[256];
    struct tl_peer_cert pc;
    struct tl_cert_ca ca;
    struct tl_cert_spec spec;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool clamped = false;
    int rc;

    memset(&ca, 0, sizeof(ca));
    memset(&pc, 0, sizeof(pc));
    rc = parse_opts(&o, self_signed ? self_signed_usage : issue_usage,
                    allowed | (self_signed ? 0 : OPT_CA), argc, argv);
    if (rc < 0) {
        rc = no_args(&o);
    }
    if (rc < 0 && !self_signed && o.ca_dir == NULL) {
        rc = tl_cli_usage_error(o.prog, "--ca DIR is required");
    }
    if (rc < 0) {
        rc = check_peer_names(&o);
    }
    if (rc < 0 && o.out == NULL) {
        rc = tl_cli_usage_error(o.prog, "--out PREFIX is required");
    }
    if (rc >= 0) {
        goto out;
    }
    rc = TL_CLI_FAIL;
    if (!peer_paths(o.out, cert_path, key_path, sizeof(cert_path)) ||
        !tl_cert_check_free(key_path, o.force) || !tl_cert_check_free(cert_path, o.force)) {
        goto out;
    }
    if (!self_signed) {
        if (!tl_cert_ca_load(&ca, o.ca_dir, true)) {
            goto out;
        }
        if (X509_cmp_time(X509_get0_notAfter(ca.cert), NULL) < 0) {
            tl_asn1_time_text(X509_get0_notAfter(ca.cert), until, sizeof(until), NULL);
            tl_cli_fail("the CA in %s expired on %s; make a new one with 'tlslog cert ca'",
                        o.ca_dir, until);
            goto out;
        }
    }
    key = tl_cert_make_key(o.key);
    if (key == NULL) {
        goto out;
    }
    spec = (struct tl_cert_spec){
        .cn = peer_cn(&o),
        .dns = o.names,
        .n_dns = o.n_names,
        .ips = o.ips,
        .n_ips = o.n_ips,
        .alg = o.key,
        .days = o.days,
        .issuer = self_signed ? NULL : &ca,
    };
    cert = tl_cert_make(&spec, key, &clamped);
    if (cert == NULL) {
        goto out;
    }
    struct tl_err ce;
    if (tl_peer_cert_from_x509(cert, &pc, &ce) != TL_OK) {
        tl_err_text(&ce, err, sizeof(err));
        tl_cli_fail("cannot read back the new certificate: %s", err);
        goto out;
    }
    tl_asn1_time_text(X509_get0_notAfter(cert), until, sizeof(until), NULL);
    if (!tl_cert_write_new(key_path, 0600, o.force, &(struct tl_pem_out){ .key = key }) ||
        !give_key_group(&o, key_path)) {
        goto out;
    }
    if (!tl_cert_write_new(cert_path, 0644, o.force, &(struct tl_pem_out){ .cert = cert,
                                                                       .chain = ca.chain })) {
        unlink(key_path);
        goto out;
    }
    if (clamped) {
        tl_cli_note("the certificate expires on %s, with the CA in %s, not after %lu days",
                    until, o.ca_dir, o.days);
    }
    tl_peer_cert_names(&pc, names, sizeof(names));
    if (o.group != NULL) {
        printf("wrote %s: %s private key (mode 0640, group %s: readable by a tlslogd running "
               "with that group)\n", key_path, tl_cert_key_desc(o.key), o.group);
    } else {
        printf("wrote %s: %s private key (mode 0600)\n", key_path, tl_cert_key_desc(o.key));
    }
    if (self_signed) {
        printf("wrote %s: self-signed certificate for %s, valid until %s\n", cert_path, names,
               until);
        printf("# for tlslogd peers (tls: auth: fingerprint), in their tls section:\n");
        printf("fingerprints: [\"%s\"]\n", pc.sha256_text);
        printf("# for rsyslog peers (StreamDriverAuthMode=\"x509/fingerprint\"):\n");
        printf("StreamDriverPermittedPeers=\"%s\"\n", pc.sha256_text);
    } else {
        printf("wrote %s: certificate for %s, issued by \"%s\", valid until %s%s\n", cert_path,
               names, pc.issuer, until,
               ca.chain != NULL ? ", followed by the CA's chain.pem" : "");
        printf("fingerprint: %s\n", pc.sha256_text);
    }
    rc = TL_CLI_OK;
out:
    tl_peer_cert_fini(&pc);
    X509_free(cert);
    EVP_PKEY_free(key);
    tl_cert_ca_fini(&ca);
    opts_fini(&o);
    return rc;
}

static int cmd_issue(int argc, char **argv)
{
    return make_peer(argc, argv, false);
}

static int cmd_self_signed(int argc, char **argv)
{
    return make_peer(argc, argv, true);
}

/* ---- tlslog cert revoke ------------------------------------------------------------------- */

static const char revoke_usage[] =
    "usage: tlslog cert revoke --ca DIR [--crl-days N] CERT.pem\n"
    "\n"
    "Adds the certificate in CERT.pem, which the CA in DIR issued, to the CA's revocation\n"
    "list DIR/crl.pem (created on first use; earlier revocations are kept). Give crl.pem to\n"
    "the peers (tls.crl_file) and renew it before its next update date, for example by\n"
    "revoking the same certificate again.\n"
    "\n"
    "  --ca DIR        the CA directory (ca.pem, ca-key.pem, crl.pem)\n"
    "  --crl-days N    the CRL's next update is N days from now, default 30\n";

static int cmd_revoke(int argc, char **argv)
{
    struct opts o = { .prog = "tlslog cert revoke", .crl_days = CRL_DAYS_DEFAULT };
    char crl_path[PATH_MAX];
    char next_text[TL_TIME_STRLEN];
    char err[256];
    struct tl_peer_cert pc;
    struct tl_cert_ca ca;
    X509 *cert = NULL;
    X509_CRL *old = NULL;
    X509_CRL *crl = NULL;
    bool already = false;
    int count = 0;
    int rc;

    memset(&ca, 0, sizeof(ca));
    memset(&pc, 0, sizeof(pc));
    rc = parse_opts(&o, revoke_usage, OPT_CA | OPT_CRL_DAYS, argc, argv);
    if (rc < 0 && o.ca_dir == NULL) {
        rc = tl_cli_usage_error(o.prog, "--ca DIR is required");
    }
    if (rc < 0 && o.n_args != 1) {
        rc = tl_cli_usage_error(o.prog, o.n_args == 0 ? "name the certificate to revoke"
                                                      : "revoke one certificate at a time");
    }
    if (rc >= 0) {
        goto out;
    }
    rc = TL_CLI_FAIL;
    if (!tl_cert_ca_load(&ca, o.ca_dir, false) ||
        !tl_cert_path_in(crl_path, sizeof(crl_path), o.ca_dir, "crl.pem")) {
        goto out;
    }
    cert = tl_cert_load_cert(o.args[0]);
    if (cert == NULL) {
        goto out;
    }
    struct tl_err ce;
    if (tl_peer_cert_from_x509(cert, &pc, &ce) != TL_OK) {
        tl_err_text(&ce, err, sizeof(err));
        tl_cli_fail("cannot read %s: %s", o.args[0], err);
        goto out;
    }
    if (X509_cmp(cert, ca.cert) == 0) {
        tl_cli_fail("%s is the CA certificate itself; to retire a CA, stop trusting its ca.pem",
                    o.args[0]);
        goto out;
    }
    /* Issued by this CA: the issuer name and key identifier match, and its key signed it. */
    if (X509_check_issued(ca.cert, cert) != X509_V_OK ||
        X509_verify(cert, X509_get0_pubkey(ca.cert)) != 1) {
        ERR_clear_error();
        tl_cli_fail("%s was not issued by the CA in %s (its issuer is \"%s\"); revoke it with "
                    "the CA that issued it", o.args[0], o.ca_dir, pc.issuer);
        goto out;
    }
    if (!tl_cert_load_crl(&ca, crl_path, &old)) {
        goto out;
    }
    crl = tl_cert_make_crl(&ca, old, X509_get_serialNumber(cert), o.crl_days, &already, &count);
    if (crl == NULL || !tl_cert_write_replace(crl_path, 0644, &(struct tl_pem_out){ .crl = crl })) {
        goto out;
    }
    tl_asn1_time_text(X509_CRL_get0_nextUpdate(crl), next_text, sizeof(next_text), NULL);
    if (already) {
        printf("serial %s (%s) was already revoked; %s re-signed\n", pc.serial, pc.subject,
               crl_path);
    } else {
        printf("revoked serial %s (%s) in %s\n", pc.serial, pc.subject, crl_path);
    }
    printf("%s lists %d revoked certificate%s; next update %s; give it to the peers "
           "(tls.crl_file)\n", crl_path, count, count == 1 ? "" : "s", next_text);
    rc = TL_CLI_OK;
out:
    tl_peer_cert_fini(&pc);
    X509_CRL_free(crl);
    X509_CRL_free(old);
    X509_free(cert);
    tl_cert_ca_fini(&ca);
    opts_fini(&o);
    return rc;
}

/* ---- tlslog cert info --------------------------------------------------------------------- */

static const char info_usage[] =
    "usage: tlslog cert info FILE\n"
    "\n"
    "Shows every certificate in FILE (PEM; a chain file lists each one, numbered, or one DER\n"
    "certificate): subject, issuer, serial, names, validity, key, CA or leaf, extended key\n"
    "usage, and the fingerprints in the form tls.fingerprints takes them.\n";

static void print_eku(X509 *x)
{
    int crit = 0;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
    fputs("  ext key usage: ", stdout);
    if (eku == NULL) {
        ERR_clear_error();
        puts(crit == -1 ? "(none: any use)" : "(unreadable)");
        return;
    }
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        int nid = OBJ_obj2nid(obj);
        char oid[80];
        if (nid != NID_undef) {
            snprintf(oid, sizeof(oid), "%s", OBJ_nid2sn(nid));
        } else if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0) {
            snprintf(oid, sizeof(oid), "?");
        }
        printf("%s%s", i > 0 ? ", " : "", oid);
    }
    puts("");
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}

static void print_names(const struct tl_peer_cert *pc)
{
    fputs("  names:         ", stdout);
    for (size_t i = 0; i < pc->n_dns; i++) {
        printf("%sDNS:%s", i > 0 ? ", " : "", pc->dns[i]);
    }
    for (size_t i = 0; i < pc->n_ips; i++) {
        printf("%sIP:%s", i + pc->n_dns > 0 ? ", " : "", pc->ips[i].text);
    }
    if (pc->n_dns + pc->n_ips == 0) {
        fputs("(no subjectAltName)", stdout);
    }
    puts("");
}

static bool print_cert(X509 *x, int i, int n, const char *path)
{
    struct tl_peer_cert pc;
    char err[256];
    uint32_t flags;
    struct tl_err ce;
    if (tl_peer_cert_from_x509(x, &pc, &ce) != TL_OK) {
        tl_err_text(&ce, err, sizeof(err));
        tl_cli_fail("certificate %d of %d in %s cannot be read: %s", i, n, path, err);
        return false;
    }
    flags = X509_get_extension_flags(x);
    printf("certificate %d of %d in %s\n", i, n, path);
    printf("  subject:       %s\n", pc.subject);
    printf("  issuer:        %s\n", pc.issuer);
    printf("  serial:        %s\n", pc.serial);
    printf("  kind:          %s%s\n", (flags & EXFLAG_CA) != 0 ? "CA" : "leaf",
           X509_self_signed(x, 0) == 1 ? ", self-signed" : "");
    print_names(&pc);
    printf("  not before:    %s\n", pc.not_before);
    printf("  not after:     %s\n", pc.not_after);
    if (X509_cmp_time(X509_get0_notAfter(x), NULL) < 0) {
        printf("  validity:      EXPIRED since %s\n", pc.not_after);
    } else if (X509_cmp_time(X509_get0_notBefore(x), NULL) > 0) {
        printf("  validity:      NOT YET VALID until %s\n", pc.not_before);
    } else {
        printf("  validity:      valid now\n");
    }
    ERR_clear_error();
    if (pc.key_bits > 0) {
        printf("  key:           %s %d bits\n", pc.key_type, pc.key_bits);
    } else {
        printf("  key:           %s\n", pc.key_type);
    }
    print_eku(x);
    printf("  fingerprints:  %s\n", pc.sha256_text);
    printf("                 %s\n", pc.sha1_text);
    tl_peer_cert_fini(&pc);
    return true;
}

static int cmd_info(int argc, char **argv)
{
    struct opts o = { .prog = "tlslog cert info" };
    struct tl_cert_scan s;
    int n;
    int rc = parse_opts(&o, info_usage, 0, argc, argv);
    if (rc < 0 && o.n_args != 1) {
        rc = tl_cli_usage_error(o.prog, o.n_args == 0 ? "name the file to show"
                                                      : "show one file at a time");
    }
    if (rc >= 0) {
        opts_fini(&o);
        return rc;
    }
    if (!tl_cert_load_certs(o.args[0], &s)) {
        opts_fini(&o);
        return TL_CLI_FAIL;
    }
    rc = TL_CLI_OK;
    n = sk_X509_num(s.certs);
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            puts("");
        }
        if (!print_cert(sk_X509_value(s.certs, i), i + 1, n, o.args[0])) {
            rc = TL_CLI_FAIL;
        }
    }
    if (s.has_key) {
        tl_cli_note("%s also holds a private key: keep it mode 0600", o.args[0]);
    }
    tl_cert_scan_fini(&s);
    opts_fini(&o);
    return rc;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static const struct tl_cli_cmd cert_commands[] = {
    { "ca", cmd_ca, "make a CA: DIR/ca.pem and DIR/ca-key.pem" },
    { "issue", cmd_issue, "make a key and a certificate for one peer, signed by the CA" },
    { "self-signed", cmd_self_signed, "make a key and a self-signed certificate for "
                                      "fingerprint authentication" },
    { "revoke", cmd_revoke, "add a certificate to the CA's revocation list, DIR/crl.pem" },
    { "info", cmd_info, "show what a certificate or chain file holds, with its fingerprints" },
};

int tl_cli_cert_main(int argc, char **argv)
{
    return tl_cli_dispatch("tlslog cert",
                           "tlslog cert: certificates for syslog over TLS (RFC 5425).",
                           cert_commands, sizeof(cert_commands) / sizeof(cert_commands[0]),
                           argc, argv);
}

