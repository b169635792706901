/*
 * tls.h: TLS (RFC 5425) on OpenSSL 3: contexts built from configuration, and the TLS
 * implementation of the stream interface.
 *
 * A tl_tls_ctx is an SSL_CTX plus the peer policy (auth mode, permitted peers,
 * fingerprints), built once from a tl_conf_tls, immutable and reference-counted: every
 * connection holds a reference to the context it was made with. A tl_tls_slot is where an
 * input or output finds its current context; a reload (SIGHUP) builds a new one and swaps
 * it in, so new connections use the new certificates while existing ones keep theirs.
 * Contexts and slots may be used from any thread; a TLS stream belongs to one thread.
 *
 * Only this module (and the certificate tool) includes OpenSSL headers.
 */
#ifndef TL_TRANSPORT_TLS_H
#define TL_TRANSPORT_TLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "core/err.h"
#include "core/peer.h"
#include "transport/stream.h"

enum tl_tls_role {
    TL_TLS_SERVER, /* inputs: we accept; the peer is a sender */
    TL_TLS_CLIENT, /* forward outputs: we connect; the peer is a receiver */
};

/* Why a TLS handshake (or the first read after it) failed: counted per input
 * (handshake_failures_by_reason), named in the counters by tl_hs_reason_name. */
enum tl_hs_reason {
    TL_HS_UNKNOWN_CA,
    TL_HS_EXPIRED,
    TL_HS_NOT_YET_VALID,
    TL_HS_REVOKED,
    TL_HS_BAD_CERTIFICATE,
    TL_HS_NAME_MISMATCH,
    TL_HS_FINGERPRINT_MISMATCH,
    TL_HS_NO_CLIENT_CERTIFICATE,
    TL_HS_PROTOCOL_VERSION,
    TL_HS_NO_SHARED_CIPHER,
    TL_HS_PLAINTEXT,
    TL_HS_CLOSED_EARLY,
    TL_HS_CLOSED_IN_HANDSHAKE,
    TL_HS_TIMEOUT,
    TL_HS_PEER_REJECTED_OUR_CERTIFICATE,
    TL_HS_IO_ERROR,
    TL_HS_HANDSHAKE_FAILED,
    TL_HS_NOT_TLS,
    TL_HS_HANDSHAKE_FAILURE_ALERT,
    TL_HS_CA_AS_LEAF,
    TL_HS_CRL_PROBLEM,
    TL_HS_PEER_INTERNAL_ERROR,
    TL_HS_CLIENT_CERTIFICATE_REQUIRED,
    TL_HS_CLOSED_AFTER_HANDSHAKE,
    TL_HS_OTHER,
    TL_HS_REASONS
};

/* The TLS library this was built with: "OpenSSL 3.0.x ..." (for --version). */
const char *tl_tls_library_version(void);

/* "unknown_ca", "expired", ...: the name in the counters. */
const char *tl_hs_reason_name(enum tl_hs_reason r);

struct tl_tls_ctx;

/*
 * Builds a context: loads CA file/dir (or the system store for ca_file: system), the
 * certificate chain and key (with key_password_file), the CRL, versions and ciphers, and
 * checks them: the key matches the certificate, the chain can be built to a configured CA
 * (a warning otherwise), the key file is not readable by group or others (a warning naming
 * the chmod that fixes it). owner names the input or output in messages ("input tls-in").
 * Returns NULL on failure with err (may be NULL) filled: one sentence in cause naming the file
 * and the key to fix (TL_E_CONFIG; TL_E_RESOURCE when out of memory, TL_E_TLS when OpenSSL
 * cannot make a context).
 */
struct tl_tls_ctx *tl_tls_ctx_new(const struct tl_conf_tls *c, enum tl_tls_role role,
                                  const char *owner, struct tl_err *err);
void tl_tls_ctx_ref(struct tl_tls_ctx *ctx);
void tl_tls_ctx_unref(struct tl_tls_ctx *ctx);
enum tl_auth_mode tl_tls_ctx_auth(const struct tl_tls_ctx *ctx);

/* Where the current context of an input or output lives. */
struct tl_tls_slot {
    pthread_mutex_t lock;
    struct tl_tls_ctx *ctx;
    const struct tl_conf_tls *conf;
    enum tl_tls_role role;
    char owner[96];
};

/* The slot with a first context from tl_tls_ctx_new (its result and err); the slot must be
 * finished with tl_tls_slot_fini either way. */
enum tl_rc tl_tls_slot_init(struct tl_tls_slot *slot, const struct tl_conf_tls *c,
                            enum tl_tls_role role, const char *owner, struct tl_err *err);
void tl_tls_slot_fini(struct tl_tls_slot *slot);
/* A new reference to the current context. */
struct tl_tls_ctx *tl_tls_slot_get(struct tl_tls_slot *slot);
/* Puts ctx (the caller's reference is taken over) in the slot: new connections use it;
 * existing ones are re-checked against it by their own thread (tl_stream_tls_recheck). */
void tl_tls_slot_swap(struct tl_tls_slot *slot, struct tl_tls_ctx *ctx);

/* Where a hint tells the user to configure our certificate (a static string); default
 * "tls.cert_file and tls.key_file". */
void tl_tls_ctx_set_cert_keys(struct tl_tls_ctx *ctx, const char *words);

/*
 * Wraps fd (connected, non-blocking; ownership taken, closed on failure) in a TLS stream
 * using ctx (a reference is taken). server_name (client role): sent as SNI and, in name
 * mode without permitted_peers, the name the server's certificate must carry.
 * The handshake runs through tl_stream_handshake; on the server role it first checks that
 * the peer speaks TLS at all (plaintext syslog on a TLS port is reported as such).
 */
struct tl_stream *tl_stream_tls_new(int fd, const struct tl_addr *peer, struct tl_tls_ctx *ctx,
                                    enum tl_tls_role role, const char *server_name, char *err,
                                    size_t errlen);

/* After the handshake: the peer's identity (a new reference; anonymous peers get one with
 * name NULL), and "TLSv1.3, TLS_AES_256_GCM_SHA384" for log lines. */
struct tl_peer_id *tl_stream_tls_peer_id(struct tl_stream *s);
const char *tl_stream_tls_session(struct tl_stream *s, char *out, size_t cap);
/* True for streams made by tl_stream_tls_new. */
bool tl_stream_is_tls(const struct tl_stream *s);
/* Server role, after a read returned TL_EOF: true when the peer ended the connection
 * with close_notify, false when the TCP connection just ended (a sender that crashed, or
 * someone on the path cutting it: RFC 5246 section 7.2.1's truncation attack). */
bool tl_stream_tls_close_notified(const struct tl_stream *s);

/* Stats: the reason of a failed handshake as a short key ("unknown_ca", "expired",
 * "name_mismatch", ...), valid after tl_stream_handshake returned TL_E_IO. */
enum tl_hs_reason tl_stream_tls_fail_reason(const struct tl_stream *s);

/*
 * The peer closed (EOF, or a reset) right after the handshake, before the connection proved
 * itself, without an alert: under TLS 1.3 that is how a server that checks the client's
 * certificate after the handshake (rsyslog) refuses it. Writes the likely cause, naming our
 * certificate, into s->err (fail kind "closed_after_handshake") and returns s->err.
 */
const char *tl_stream_tls_early_close(struct tl_stream *s);

/*
 * After a reload: when slot's context is not the one this connection answers to, verifies
 * the certificate chain the peer presented at the handshake against the new CAs, CRLs and
 * policy (auth, permitted_peers, fingerprints). True when it passes (the connection then
 * answers to the new context) or nothing changed; false with the reason in why. Call on the
 * connection's own thread.
 */
bool tl_stream_tls_recheck(struct tl_stream *s, struct tl_tls_slot *slot, char *why,
                           size_t cap);

#endif
