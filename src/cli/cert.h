/*
 * cert.h: `tlslog cert`, a small certificate authority for syslog over TLS (RFC 5425).
 *
 *   tlslog cert ca          a CA: DIR/ca.pem and DIR/ca-key.pem
 *   tlslog cert issue       a key and a certificate for one peer, signed by that CA
 *   tlslog cert self-signed a key and a self-signed certificate for fingerprint mode
 *                           (RFC 5425 §4.2.1), with the line to paste into the peer's config
 *   tlslog cert revoke      adds a certificate to the CA's CRL, DIR/crl.pem
 *   tlslog cert info        what is in a certificate or chain file, in tlslogd's terms
 *
 * Keys are ECDSA P-256 (or RSA 3072), written unencrypted (PKCS#8 PEM) with mode 0600.
 * No command overwrites a file unless given --force.
 */
#ifndef TL_CLI_CERT_H
#define TL_CLI_CERT_H

/* `tlslog cert ...`: argv[0] is "cert", argv[1] the subcommand. Returns the exit status. */
int tl_cli_cert_main(int argc, char **argv);

#endif
