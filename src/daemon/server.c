#include "daemon/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "in/in.h"
#include "out/out.h"

static size_t cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

static bool route_has(const struct tl_conf_route *r, size_t in, size_t out)
{
    bool from = false;
    bool to = false;
    for (size_t i = 0; i < r->n_from; i++) {
        from |= r->from[i] == in;
    }
    for (size_t i = 0; i < r->n_to; i++) {
        to |= r->to[i] == out;
    }
    return from && to;
}

/* Output o receives input i's messages when no routes are given, or a route says so. */
static bool routed(const struct tl_conf *c, size_t i, size_t o)
{
    if (c->n_routes == 0) {
        return true;
    }
    for (size_t r = 0; r < c->n_routes; r++) {
        if (route_has(&c->routes[r], i, o)) {
            return true;
        }
    }
    return false;
}

bool tl_server_init(struct tl_server *srv, struct tl_conf *conf)
{
    memset(srv, 0, sizeof(*srv));
    struct tl_pipeline *pl = &srv->pl;
    srv->conf = conf;
    pl->conf = conf;
    atomic_init(&pl->partial_bytes, 0);
    pl->n_workers = conf->workers ? conf->workers : cpu_count();
    pl->outputs = calloc(conf->n_outputs, sizeof(*pl->outputs));
    pl->inputs = calloc(conf->n_inputs, sizeof(*pl->inputs));
    pl->workers = calloc(pl->n_workers, sizeof(*pl->workers));
    if (!pl->outputs || !pl->inputs || !pl->workers) {
        tl_error("out of memory at start-up");
        return false;
    }
    /* Every input and output first gets its configuration and kind: a start that fails
     * half-way stops and frees them all. */
    pl->n_outputs = conf->n_outputs;
    for (size_t o = 0; o < conf->n_outputs; o++) {
        struct tl_output *out = &pl->outputs[o];
        out->conf = &conf->outputs[o];
        out->ops = tl_output_kind(out->conf->type);
        out->gconf = conf;
        out->index = o;
        atomic_init(&out->reopen, false);
    }
    pl->n_inputs = conf->n_inputs;
    for (size_t i = 0; i < conf->n_inputs; i++) {
        struct tl_input *in = &pl->inputs[i];
        in->conf = &conf->inputs[i];
        in->ops = tl_input_kind(in->conf->transport);
        in->caps = in->ops->caps;
        in->index = i;
        in->pl = pl;
    }
    for (size_t o = 0; o < conf->n_outputs; o++) {
        struct tl_output *out = &pl->outputs[o];
        if (!tl_mq_init(&out->q, out->conf->queue_messages, out->conf->queue_memory_bytes)) {
            tl_error("output %s: out of memory for a queue of %zu messages", out->conf->name,
                     out->conf->queue_messages);
            return false;
        }
        out->initialised = true;
        if (!out->ops->init(out)) {
            return false;
        }
    }
    size_t max_msg = 0;
    for (size_t i = 0; i < conf->n_inputs; i++) {
        struct tl_input *in = &pl->inputs[i];
        in->outs = calloc(conf->n_outputs, sizeof(*in->outs));
        if (!in->outs) {
            return false;
        }
        for (size_t o = 0; o < conf->n_outputs; o++) {
            if (routed(conf, i, o)) {
                in->outs[in->n_outs++] = &pl->outputs[o];
                if (in->caps & TL_IN_ACKS) {
                    pl->outputs[o].settle_waited = true;
                }
            }
        }
        if (in->conf->max_message_size > max_msg) {
            max_msg = in->conf->max_message_size;
        }
        in->initialised = true;
        if (!in->ops->init(in)) {
            return false;
        }
    }
    pl->scratch_size = max_msg + 65536;
    for (size_t i = 0; i < conf->n_inputs; i++) {
        if (!pl->inputs[i].ops->bind(&pl->inputs[i], pl->n_workers)) {
            return false;
        }
    }
    for (size_t w = 0; w < pl->n_workers; w++) {
        pl->workers[w] = tl_worker_new(pl, w);
        if (!pl->workers[w]) {
            tl_error("out of memory creating worker %zu", w);
            return false;
        }
        for (size_t i = 0; i < conf->n_inputs; i++) {
            struct tl_input *in = &pl->inputs[i];
            if (!in->ops->attach(in, pl->workers[w], w)) {
                return false;
            }
        }
    }
    return true;
}

bool tl_server_start(struct tl_server *srv)
{
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = &srv->pl.outputs[o];
        int rc = pthread_create(&out->thread, NULL, out->ops->run, out);
        if (rc != 0) {
            tl_error("output %s: cannot start thread: %s", out->conf->name, strerror(rc));
            return false;
        }
        out->started = true;
    }
    for (size_t w = 0; w < srv->pl.n_workers; w++) {
        if (!tl_worker_start(srv->pl.workers[w])) {
            return false;
        }
    }
    return true;
}

void tl_server_stop(struct tl_server *srv)
{
    /* One bound for the whole stop: each output has until start + its drain_timeout to
     * deliver (or, with a disk part, to save) what it holds; workers blocked on a full queue
     * wait as long as the longest of them, then the queues close. */
    int64_t start = tl_now_ms();
    int64_t last = start;
    uint64_t *dropped_before = calloc(srv->pl.n_outputs ? srv->pl.n_outputs : 1, sizeof(uint64_t));
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = &srv->pl.outputs[o];
        int64_t deadline = start + (int64_t)out->conf->drain_timeout_ms;
        atomic_store(&out->stop_deadline_ms, deadline > 0 ? deadline : 1);
        if (deadline > last) {
            last = deadline;
        }
        if (dropped_before) {
            dropped_before[o] = atomic_load(&out->stats.dropped);
        }
    }
    /* Inputs first, so that everything they accepted reaches the outputs' queues... */
    for (size_t w = 0; w < srv->pl.n_workers; w++) {
        if (srv->pl.workers[w]) {
            tl_worker_request_stop(srv->pl.workers[w]);
        }
    }
    for (size_t w = 0; w < srv->pl.n_workers; w++) {
        if (!srv->pl.workers[w]) {
            continue;
        }
        int64_t left = last - tl_now_ms();
        if (!tl_worker_join(srv->pl.workers[w], left > 0 ? left : 0)) {
            tl_warn("a worker is still blocked on a full output queue at the end of "
                    "drain_timeout: closing the queues; messages that cannot be queued are "
                    "dropped and counted");
            for (size_t o = 0; o < srv->pl.n_outputs; o++) {
                tl_mq_close(&srv->pl.outputs[o].q);
            }
            tl_worker_join(srv->pl.workers[w], -1);
        }
    }
    /* ...then the outputs drain their queues, flush and close, by their deadlines. */
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = &srv->pl.outputs[o];
        if (out->started) {
            tl_mq_close(&out->q);
            pthread_join(out->thread, NULL);
            out->started = false;
        }
        uint64_t lost = atomic_load(&out->stats.dropped) -
                        (dropped_before ? dropped_before[o] : 0);
        if (dropped_before && lost) {
            tl_error("output %s: %llu messages were lost while stopping (counted in dropped, "
                     "now %llu)",
                     out->conf->name, (unsigned long long)lost,
                     (unsigned long long)atomic_load(&out->stats.dropped));
        }
    }
    free(dropped_before);
}

void tl_server_fini(struct tl_server *srv)
{
    struct tl_pipeline *pl = &srv->pl;
    if (pl->workers) {
        for (size_t w = 0; w < pl->n_workers; w++) {
            tl_worker_free(pl->workers[w]);
        }
        free(pl->workers);
    }
    if (pl->inputs) {
        for (size_t i = 0; i < pl->n_inputs; i++) {
            struct tl_input *in = &pl->inputs[i];
            if (in->initialised) {
                in->ops->unbind(in);
                in->ops->fini(in);
            }
            free(in->outs);
        }
        free(pl->inputs);
    }
    if (pl->outputs) {
        for (size_t o = 0; o < pl->n_outputs; o++) {
            struct tl_output *out = &pl->outputs[o];
            if (out->initialised) {
                out->ops->free(out);
            }
            tl_mq_fini(&out->q);
        }
        free(pl->outputs);
    }
    memset(srv, 0, sizeof(*srv));
}

/* The reloaded configuration's TLS block for what the running daemon calls `name`, or NULL
 * (with a warning) when it is gone or no longer speaks TLS: that change needs a restart. */
static const struct tl_conf_tls *reloaded_input_tls(const struct tl_conf *fresh,
                                                    const struct tl_input *in)
{
    for (size_t i = 0; i < fresh->n_inputs; i++) {
        const struct tl_conf_input *ci = &fresh->inputs[i];
        if (strcmp(ci->name, in->conf->name) == 0 && ci->transport == in->conf->transport &&
            ci->relp_tls == in->conf->relp_tls) {
            return &ci->tls;
        }
    }
    return NULL;
}

static const struct tl_conf_tls *reloaded_output_tls(const struct tl_conf *fresh,
                                                     const struct tl_output *out)
{
    for (size_t o = 0; o < fresh->n_outputs; o++) {
        const struct tl_conf_output *co = &fresh->outputs[o];
        if (strcmp(co->name, out->conf->name) == 0 && co->type == out->conf->type &&
            co->transport == out->conf->transport && co->relp_tls == out->conf->relp_tls) {
            return &co->tls;
        }
    }
    return NULL;
}

/* One TLS endpoint being reloaded: its slot and the context built for it. */
struct reload_slot {
    struct tl_tls_slot *slot;
    struct tl_tls_ctx *ctx;
};

static void reload_fail(const char *file, const char *err)
{
    tl_error("TLS reload failed, keeping the previous certificates and policy: %s%s%s",
             err[0] && strncmp(err, file, strlen(file)) == 0 ? "" : file,
             err[0] && strncmp(err, file, strlen(file)) == 0 ? "" : ": ", err);
}

void tl_server_reload_tls(struct tl_server *srv)
{
    const char *file = srv->conf->file;
    struct tl_conf_errors errs = {0};
    struct tl_conf *fresh =
        strcmp(file, "<embedded>") == 0
            ? tl_conf_load_string(tl_conf_embedded, strlen(tl_conf_embedded), file, &errs)
            : tl_conf_load_file(file, &errs);
    if (!fresh) {
        /* Every error, as --check would print it: the policy stays what it was. */
        for (size_t i = 0; i < errs.n; i++) {
            reload_fail(file, errs.lines[i]);
        }
        if (errs.n == 0) {
            reload_fail(file, "cannot load the configuration");
        }
        tl_conf_errors_fini(&errs);
        return;
    }
    tl_conf_errors_fini(&errs);
    /* All or nothing: every new context is built before any is swapped in, so that a bad
     * file anywhere leaves the whole running policy as it was. */
    size_t cap = srv->pl.n_inputs + srv->pl.n_outputs;
    struct reload_slot *rs = calloc(cap ? cap : 1, sizeof(*rs));
    if (!rs) {
        reload_fail(file, "out of memory");
        tl_conf_free(fresh);
        return;
    }
    size_t n = 0;
    bool ok = true;
    char err[1024];
    for (size_t i = 0; i < srv->pl.n_inputs; i++) {
        struct tl_input *in = &srv->pl.inputs[i];
        if (!in->has_tls) {
            continue;
        }
        const struct tl_conf_tls *t = reloaded_input_tls(fresh, in);
        if (!t) {
            tl_warn("input %s: TLS reload: the input is no longer in %s with the same transport; "
                    "it keeps its previous TLS policy until a restart", in->conf->name, file);
            continue;
        }
        rs[n].slot = &in->tls;
        rs[n].ctx = tl_tls_ctx_new(t, TL_TLS_SERVER, in->tls.owner, err, sizeof(err));
        if (!rs[n++].ctx) {
            reload_fail(file, err);
            ok = false;
        }
    }
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = &srv->pl.outputs[o];
        struct tl_tls_slot *slot = out->ops->tls_slot ? out->ops->tls_slot(out) : NULL;
        if (!slot) {
            continue;
        }
        const struct tl_conf_tls *t = reloaded_output_tls(fresh, out);
        if (!t) {
            tl_warn("output %s: TLS reload: the output is no longer in %s with the same "
                    "transport; it keeps its previous TLS policy until a restart",
                    out->conf->name, file);
            continue;
        }
        rs[n].slot = slot;
        rs[n].ctx = tl_tls_ctx_new(t, TL_TLS_CLIENT, slot->owner, err, sizeof(err));
        if (!rs[n++].ctx) {
            reload_fail(file, err);
            ok = false;
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (!ok) {
            tl_tls_ctx_unref(rs[k].ctx);
            continue;
        }
        enum tl_auth_mode a = tl_tls_ctx_auth(rs[k].ctx);
        tl_tls_slot_swap(rs[k].slot, rs[k].ctx);
        tl_info("%s: TLS policy (auth %s), certificates, keys, CAs and CRLs reloaded from %s; "
                "new connections use them, open connections are re-checked",
                rs[k].slot->owner,
                a == TL_AUTH_ANON ? "anon" : a == TL_AUTH_CERTVALID ? "certvalid"
                                         : a == TL_AUTH_NAME      ? "name"
                                                                  : "fingerprint",
                file);
    }
    free(rs);
    tl_conf_free(fresh);
    if (!ok) {
        return;
    }
    for (size_t w = 0; w < srv->pl.n_workers; w++) {
        tl_worker_request_recheck(srv->pl.workers[w]);
    }
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = &srv->pl.outputs[o];
        if (out->ops->recheck) {
            out->ops->recheck(out);
        }
    }
}

void tl_server_reopen(struct tl_server *srv)
{
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        atomic_store(&srv->pl.outputs[o].reopen, true);
        tl_mq_kick(&srv->pl.outputs[o].q);
    }
}

void tl_server_log_stats(struct tl_server *srv)
{
    for (size_t i = 0; i < srv->pl.n_inputs; i++) {
        struct tl_input_stats *s = &srv->pl.inputs[i].stats;
        tl_info("stats: input %s: received=%llu malformed=%llu truncated=%llu "
                "connections_open=%llu connections_total=%llu connections_refused=%llu "
                "connection_errors=%llu handshake_failures=%llu rejected_hostname=%llu "
                "dropped_queue_full=%llu truncated_at_eof=%llu closed_idle=%llu "
                "refused_per_source=%llu handshakes_dropped=%llu closed_over_budget=%llu "
                "accept_pauses=%llu tls_on_plain=%llu",
                srv->pl.inputs[i].conf->name, (unsigned long long)atomic_load(&s->received),
                (unsigned long long)atomic_load(&s->malformed),
                (unsigned long long)atomic_load(&s->truncated),
                (unsigned long long)atomic_load(&s->conn_open),
                (unsigned long long)atomic_load(&s->conn_total),
                (unsigned long long)atomic_load(&s->conn_rejected),
                (unsigned long long)atomic_load(&s->conn_errors),
                (unsigned long long)atomic_load(&s->handshake_failed),
                (unsigned long long)atomic_load(&s->rejected_hostname),
                (unsigned long long)atomic_load(&s->dropped_full),
                (unsigned long long)atomic_load(&s->truncated_eof),
                (unsigned long long)atomic_load(&s->closed_idle),
                (unsigned long long)atomic_load(&s->refused_source),
                (unsigned long long)atomic_load(&s->handshakes_dropped),
                (unsigned long long)atomic_load(&s->closed_budget),
                (unsigned long long)atomic_load(&s->accept_pauses),
                (unsigned long long)atomic_load(&s->tls_on_plain));
        char reasons[1024];
        size_t n = 0;
        reasons[0] = '\0';
        for (size_t k = 0; k < TL_HS_REASONS; k++) {
            unsigned long long v = atomic_load(&s->hs_fail[k]);
            if (v && n < sizeof(reasons)) {
                int w = snprintf(reasons + n, sizeof(reasons) - n, "%s%s=%llu", n ? " " : "",
                                 tl_hs_reason_name((enum tl_hs_reason)k), v);
                n += w > 0 ? (size_t)w : 0;
            }
        }
        if (n) {
            tl_info("stats: handshake_failures_by_reason: input %s: %s",
                    srv->pl.inputs[i].conf->name, reasons);
        }
    }
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = &srv->pl.outputs[o];
        tl_info("stats: output %s: written=%llu acknowledged=%llu resent=%llu queued=%zu "
                "queued_disk=%llu write_errors=%llu dropped=%llu dropped_queue_full=%llu",
                out->conf->name, (unsigned long long)atomic_load(&out->stats.written),
                (unsigned long long)atomic_load(&out->stats.acked),
                (unsigned long long)atomic_load(&out->stats.resent), tl_mq_len(&out->q),
                (unsigned long long)atomic_load(&out->stats.queued_disk),
                (unsigned long long)atomic_load(&out->stats.write_errors),
                (unsigned long long)atomic_load(&out->stats.dropped),
                (unsigned long long)atomic_load(&out->stats.dropped_full));
        if (out->ops->log_stats && out->impl) {
            out->ops->log_stats(out);
        }
    }
}

bool tl_server_write_port_file(struct tl_server *srv, const char *path)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        tl_error("port_file path too long: %s", path);
        return false;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        tl_error("cannot write port_file %s: %s", tmp, strerror(errno));
        return false;
    }
    for (size_t i = 0; i < srv->pl.n_inputs; i++) {
        const struct tl_input *in = &srv->pl.inputs[i];
        char line[1024];
        in->ops->port_line(in, line, sizeof(line));
        fprintf(f, "%s\n", line);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        tl_error("cannot write port_file %s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}
