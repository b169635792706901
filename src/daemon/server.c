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

/* A running output for output o of c (not yet started): its queue and route slot. */
struct tl_output *tl_server_output_new(struct tl_server *srv, const struct tl_conf *c, size_t o,
                                       size_t slot)
{
    struct tl_output *out = calloc(1, sizeof(*out));
    if (!out) {
        tl_error("output %s: out of memory", c->outputs[o].name);
        return NULL;
    }
    out->conf = &c->outputs[o];
    out->ops = tl_output_kind(out->conf->type);
    out->gconf = c;
    out->pl = &srv->pl;
    out->index = slot;
    atomic_init(&out->reopen, false);
    atomic_init(&out->settle_waited, false);
    atomic_init(&out->holds, 0);
    if (!tl_mq_init(&out->q, out->conf->queue_messages, out->conf->queue_memory_bytes)) {
        tl_error("output %s: out of memory for a queue of %zu messages", out->conf->name,
                 out->conf->queue_messages);
        free(out);
        return NULL;
    }
    return out;
}

/* Frees out after its thread ended (or never started). A settle round or a worker may still
 * compare against its settled count: then only its kind's state and queue go now, and the
 * struct waits in srv->shells (tl_server_sweep). */
void tl_server_output_free(struct tl_server *srv, struct tl_output *out)
{
    if (out->initialised) {
        out->ops->free(out);
        out->initialised = false;
    }
    tl_mq_fini(&out->q);
    if (atomic_load_explicit(&out->holds, memory_order_acquire) == 0) {
        free(out);
        return;
    }
    struct tl_output **v = realloc(srv->shells, (srv->n_shells + 1) * sizeof(*v));
    if (!v) {
        return; /* a leak of one struct beats a use after free */
    }
    srv->shells = v;
    srv->shells[srv->n_shells++] = out;
}

void tl_server_unlist(struct tl_server *srv, const void *item)
{
    struct tl_pipeline *pl = &srv->pl;
    pthread_mutex_lock(&srv->list_lock);
    size_t kept = 0;
    for (size_t i = 0; i < pl->n_inputs; i++) {
        if ((const void *)pl->inputs[i] != item) {
            pl->inputs[kept++] = pl->inputs[i];
        }
    }
    pl->n_inputs = kept;
    kept = 0;
    for (size_t o = 0; o < pl->n_outputs; o++) {
        if ((const void *)pl->outputs[o] != item) {
            pl->outputs[kept++] = pl->outputs[o];
        }
    }
    pl->n_outputs = kept;
    pthread_mutex_unlock(&srv->list_lock);
}

void tl_server_sweep(struct tl_server *srv, bool all)
{
    size_t kept = 0;
    for (size_t i = 0; i < srv->n_shells; i++) {
        struct tl_output *out = srv->shells[i];
        if (all || atomic_load_explicit(&out->holds, memory_order_acquire) == 0) {
            free(out);
        } else {
            srv->shells[kept++] = out;
        }
    }
    srv->n_shells = kept;
    if (all) {
        free(srv->shells);
        srv->shells = NULL;
    }
}

/* A running input for input i of c: its id, its kind's init (a TLS context). NULL after
 * logging why. */
struct tl_input *tl_server_input_new(struct tl_server *srv, const struct tl_conf *c, size_t i)
{
    struct tl_input *in = calloc(1, sizeof(*in));
    long id = tl_pipeline_input_id(&srv->pl, c->inputs[i].name);
    if (!in || id < 0) {
        tl_error("input %s: out of memory (or more than %d input names since the start)",
                 c->inputs[i].name, TL_INPUT_IDS);
        free(in);
        return NULL;
    }
    in->conf = &c->inputs[i];
    in->gconf = c;
    in->ops = tl_input_kind(in->conf->transport);
    in->caps = in->ops->caps;
    in->index = (size_t)id;
    in->pl = &srv->pl;
    in->initialised = true;
    if (!in->ops->init(in)) {
        tl_server_input_free(in);
        return NULL;
    }
    return in;
}

void tl_server_input_free(struct tl_input *in)
{
    if (in->initialised) {
        in->ops->unbind(in);
        in->ops->fini(in);
    }
    free(in);
}

/*
 * The where: filters of the routes taking input i to output o, into rw (rw->n 0 when one of
 * them has none, or there are no routes: every message goes). False: out of memory.
 */
static bool route_filters(const struct tl_conf *c, size_t i, size_t o, struct tl_route_where *rw)
{
    rw->f = NULL;
    rw->n = 0;
    for (size_t r = 0; r < c->n_routes; r++) {
        if (!tl_conf_route_carries(&c->routes[r], i, o)) {
            continue;
        }
        if (c->routes[r].where == NULL) {
            free(rw->f);
            rw->f = NULL;
            rw->n = 0;
            return true;
        }
        const struct tl_filter **f = realloc(rw->f, (rw->n + 1) * sizeof(*f));
        if (f == NULL) {
            free(rw->f);
            rw->f = NULL;
            rw->n = 0;
            return false;
        }
        f[rw->n++] = c->routes[r].where;
        rw->f = f;
    }
    return true;
}

/* The route table of c, for its inputs and outputs as running (ins[i] for c->inputs[i],
 * outs[o] for c->outputs[o]; NULL: not running, left out). Outputs fed by an input that
 * acknowledges (RELP) are told to settle promptly. */
struct tl_routes *tl_server_routes(struct tl_server *srv, const struct tl_conf *c,
                                   struct tl_input *const *ins, struct tl_output *const *outs)
{
    size_t slots = 0;
    for (size_t o = 0; o < c->n_outputs; o++) {
        if (outs[o] && outs[o]->index + 1 > slots) {
            slots = outs[o]->index + 1;
        }
    }
    struct tl_routes *rt = tl_routes_new(srv->pl.names.n, slots);
    if (!rt) {
        return NULL;
    }
    for (size_t o = 0; o < c->n_outputs; o++) {
        if (outs[o]) {
            rt->outputs[outs[o]->index] = outs[o];
        }
    }
    for (size_t i = 0; i < c->n_inputs; i++) {
        for (size_t o = 0; o < c->n_outputs && ins[i]; o++) {
            if (!outs[o] || !tl_conf_routed(c, i, o)) {
                continue;
            }
            struct tl_route_where rw;
            if (!route_filters(c, i, o, &rw) || !tl_routes_add(rt, ins[i]->index, outs[o], &rw)) {
                tl_routes_free(rt);
                return NULL;
            }
            if (ins[i]->caps & TL_IN_ACKS) {
                atomic_store(&outs[o]->settle_waited, true);
            }
        }
    }
    return rt;
}

bool tl_server_init(struct tl_server *srv, struct tl_conf *conf)
{
    memset(srv, 0, sizeof(*srv));
    pthread_mutex_init(&srv->list_lock, NULL);
    struct tl_pipeline *pl = &srv->pl;
    srv->conf = conf;
    srv->start_conf = conf;
    pl->conf = conf;
    atomic_init(&pl->partial_bytes, 0);
    atomic_init(&pl->routes, NULL);
    pl->n_workers = conf->workers ? conf->workers : cpu_count();
    pl->outputs = calloc(conf->n_outputs ? conf->n_outputs : 1, sizeof(*pl->outputs));
    pl->inputs = calloc(conf->n_inputs ? conf->n_inputs : 1, sizeof(*pl->inputs));
    pl->workers = calloc(pl->n_workers, sizeof(*pl->workers));
    if (!pl->outputs || !pl->inputs || !pl->workers) {
        tl_error("out of memory at start-up");
        return false;
    }
    /* Every output and input is made first: a start that fails half-way stops and frees
     * the ones made. */
    for (size_t o = 0; o < conf->n_outputs; o++) {
        struct tl_output *out = tl_server_output_new(srv, conf, o, o);
        if (!out) {
            return false;
        }
        pl->outputs[pl->n_outputs++] = out;
        out->initialised = true;
        if (!out->ops->init(out)) {
            return false;
        }
    }
    size_t max_msg = 0;
    for (size_t i = 0; i < conf->n_inputs; i++) {
        struct tl_input *in = tl_server_input_new(srv, conf, i);
        if (!in) {
            return false;
        }
        pl->inputs[pl->n_inputs++] = in;
        if (in->conf->max_message_size > max_msg) {
            max_msg = in->conf->max_message_size;
        }
    }
    struct tl_routes *rt = tl_server_routes(srv, conf, pl->inputs, pl->outputs);
    if (!rt) {
        tl_error("out of memory at start-up");
        return false;
    }
    rt->gen = 1;
    rt->scratch_size = max_msg + 65536;
    atomic_store(&pl->routes, rt);
    for (size_t i = 0; i < pl->n_inputs; i++) {
        if (!pl->inputs[i]->ops->bind(pl->inputs[i], pl->n_workers)) {
            return false;
        }
    }
    for (size_t w = 0; w < pl->n_workers; w++) {
        pl->workers[w] = tl_worker_new(pl, w);
        if (!pl->workers[w]) {
            tl_error("out of memory creating worker %zu", w);
            return false;
        }
        for (size_t i = 0; i < pl->n_inputs; i++) {
            struct tl_input *in = pl->inputs[i];
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
        struct tl_output *out = srv->pl.outputs[o];
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
        struct tl_output *out = srv->pl.outputs[o];
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
                tl_mq_close(&srv->pl.outputs[o]->q);
            }
            tl_worker_join(srv->pl.workers[w], -1);
        }
    }
    /* ...then the outputs drain their queues, flush and close, by their deadlines. */
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = srv->pl.outputs[o];
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
    for (size_t i = 0; pl->inputs && i < pl->n_inputs; i++) {
        tl_server_input_free(pl->inputs[i]);
    }
    free(pl->inputs);
    for (size_t o = 0; pl->outputs && o < pl->n_outputs; o++) {
        tl_server_output_free(srv, pl->outputs[o]);
    }
    free(pl->outputs);
    tl_server_sweep(srv, true);
    tl_routes_free(atomic_load(&pl->routes));
    tl_pipeline_names_fini(pl);
    for (size_t i = 0; i < srv->n_confs; i++) {
        tl_conf_free(srv->confs[i]);
    }
    free(srv->confs);
    pthread_mutex_destroy(&srv->list_lock);
    memset(srv, 0, sizeof(*srv));
    /* Every thread that made or dropped messages has been joined. */
    tl_msg_homes_drain_all();
}

void tl_server_reopen(struct tl_server *srv)
{
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        atomic_store(&srv->pl.outputs[o]->reopen, true);
        tl_mq_kick(&srv->pl.outputs[o]->q);
    }
}

void tl_server_log_stats(struct tl_server *srv)
{
    tl_info("stats: report %llu: %zu input%s, %zu output%s",
            (unsigned long long)++srv->stats_reports, srv->pl.n_inputs,
            srv->pl.n_inputs == 1 ? "" : "s", srv->pl.n_outputs,
            srv->pl.n_outputs == 1 ? "" : "s");
    for (size_t i = 0; i < srv->pl.n_inputs; i++) {
        struct tl_input_stats *s = &srv->pl.inputs[i]->stats;
        tl_info("stats: input %s: received=%llu malformed=%llu truncated=%llu "
                "connections_open=%llu connections_total=%llu connections_refused=%llu "
                "connection_errors=%llu handshake_failures=%llu rejected_hostname=%llu "
                "dropped_queue_full=%llu truncated_at_eof=%llu closed_idle=%llu "
                "refused_per_source=%llu handshakes_dropped=%llu closed_over_budget=%llu "
                "accept_pauses=%llu tls_on_plain=%llu rate_limited=%llu",
                srv->pl.inputs[i]->conf->name, (unsigned long long)atomic_load(&s->received),
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
                (unsigned long long)atomic_load(&s->tls_on_plain),
                (unsigned long long)atomic_load(&s->rate_limited));
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
                    srv->pl.inputs[i]->conf->name, reasons);
        }
    }
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = srv->pl.outputs[o];
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

bool tl_server_check(const struct tl_conf *conf, struct tl_conf_errors *errs)
{
    bool ok = true;
    for (size_t o = 0; o < conf->n_outputs; o++) {
        const struct tl_output_ops *ops = tl_output_kind(conf->outputs[o].type);
        if (ops && ops->check && !ops->check(conf, o, errs)) {
            ok = false;
        }
    }
    return ok;
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
        const struct tl_input *in = srv->pl.inputs[i];
        char line[1024];
        in->ops->port_line(in, line, sizeof(line));
        fprintf(f, "%s\n", line);
    }
    if (srv->metrics_port != 0) {
        fprintf(f, "@metrics %u\n", srv->metrics_port);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        tl_error("cannot write port_file %s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}
