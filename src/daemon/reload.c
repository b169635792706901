/*
 * reload.c: SIGHUP, a live reload of the whole configuration (server.h, tl_server_reload;
 * docs/configuration.md, Reloading; docs/architecture.md, Reloading).
 *
 * The new file is loaded and checked as at start. Nothing changes unless all of it is valid
 * and every TLS context of the inputs and outputs that stay can be built. Then, in order:
 *   1. new and changed outputs are made (their queues exist, their threads not yet) and new
 *      and changed inputs initialised;
 *   2. a route table with the outputs of the new file, the inputs that stay, and the removed
 *      inputs to retire is published: each worker drains the removed inputs' connections,
 *      hands its last batches to the outputs that leave, and switches;
 *   3. the outputs that leave stop: their queue is closed, they deliver or save what they
 *      hold (a forward output with queue.dir leaves it on disk), their thread ends, and
 *      they are freed; only then do the new ones start (one queue.dir, one owner at a time);
 *   4. a second table (a barrier: every worker ran a loop turn since its connections of the
 *      removed inputs closed) lets the removed inputs unbind; new inputs bind, and a third
 *      table has the workers attach them;
 *   5. the inputs and outputs that stay get their new TLS contexts, and one line says what
 *      changed.
 * Main thread only, as start and stop are.
 */
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/server.h"
#include "in/in.h"
#include "out/out.h"

/* What one reload works with: the running pipeline by the new file's indexes. */
struct reload {
    struct tl_server *srv;
    struct tl_conf *fresh;
    struct tl_conf_diff d;
    struct tl_input **ins;   /* by fresh->inputs index: kept, or new once bound; NULL */
    struct tl_input **fresh_ins; /* new or changed ones, initialised, not yet bound */
    struct tl_output **outs; /* by fresh->outputs index */
    bool *out_new;           /* outs[o] was made by this reload */
    struct tl_output **leaving; /* running outputs not in fresh as they are */
    size_t n_leaving;
    struct tl_input **retire;   /* running inputs not in fresh as they are */
    size_t n_retire;
    char failed[512];        /* "input a, output b": what could not start */
    size_t failed_len;
};

static void reload_failed_line(const char *file, size_t n_errors)
{
    tl_error("reload of %s failed (%zu error%s above): the running configuration is unchanged",
             file, n_errors, n_errors == 1 ? "" : "s");
}

static void note_failed(struct reload *r, const char *what, const char *name)
{
    int n = snprintf(r->failed + r->failed_len, sizeof(r->failed) - r->failed_len, "%s%s %s",
                     r->failed_len ? ", " : "", what, name);
    if (n > 0 && r->failed_len + (size_t)n < sizeof(r->failed)) {
        r->failed_len += (size_t)n;
    }
}

/* The new configuration, checked as --check and a start do; NULL after logging every error. */
static struct tl_conf *load_checked(const char *file)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *fresh =
        strcmp(file, "<embedded>") == 0
            ? tl_conf_load_string(tl_conf_embedded, strlen(tl_conf_embedded), file, &errs)
            : tl_conf_load_file(file, &errs);
    if (fresh) {
        tl_conf_errors_fini(&errs);
    }
    /* As main.c's start: the files, then what only the kinds can judge (kafka properties). */
    if (fresh && (!tl_conf_check_files(fresh, &errs) || !tl_server_check(fresh, &errs))) {
        tl_conf_free(fresh);
        fresh = NULL;
    }
    if (!fresh) {
        for (size_t i = 0; i < errs.n; i++) {
            tl_error("reload: %s", errs.lines[i]);
        }
        if (errs.n == 0) {
            tl_error("reload: %s: cannot load the configuration", file);
        }
        reload_failed_line(file, errs.n ? errs.n : 1);
    }
    tl_conf_errors_fini(&errs);
    return fresh;
}

/* ---- TLS contexts of what stays ------------------------------------------------------------ */

/* One TLS endpoint being reloaded: its slot and the context built for it. */
struct reload_slot {
    struct tl_tls_slot *slot;
    struct tl_tls_ctx *ctx;
};

static void tls_fail(const char *file, const char *err)
{
    bool named = strncmp(err, file, strlen(file)) == 0;
    tl_error("TLS reload failed, keeping the previous certificates and policy: %s%s%s",
             named ? "" : file, named ? "" : ": ", err);
}

/* Builds the new contexts of every kept TLS input and output; all or nothing. */
static bool build_contexts(struct reload *r, struct reload_slot **built, size_t *n_out)
{
    const struct tl_conf *fresh = r->fresh;
    struct reload_slot *rs = calloc(fresh->n_inputs + fresh->n_outputs + 1, sizeof(*rs));
    if (!rs) {
        tls_fail(fresh->file, "out of memory");
        return false;
    }
    size_t n = 0;
    bool ok = true;
    char err[1024];
    struct tl_err e;
    for (size_t i = 0; i < fresh->n_inputs; i++) {
        struct tl_input *in = r->ins[i];
        if (!in || !in->has_tls) {
            continue;
        }
        rs[n].slot = &in->tls;
        rs[n].ctx = tl_tls_ctx_new(&fresh->inputs[i].tls, TL_TLS_SERVER, in->tls.owner, &e);
        if (!rs[n++].ctx) {
            tls_fail(fresh->file, tl_err_text(&e, err, sizeof(err)));
            ok = false;
        }
    }
    for (size_t o = 0; o < fresh->n_outputs; o++) {
        struct tl_output *out = r->outs[o];
        struct tl_tls_slot *slot = out && out->ops->tls_slot ? out->ops->tls_slot(out) : NULL;
        if (!slot) {
            continue;
        }
        rs[n].slot = slot;
        rs[n].ctx = tl_tls_ctx_new(&fresh->outputs[o].tls, TL_TLS_CLIENT, slot->owner, &e);
        if (!rs[n++].ctx) {
            tls_fail(fresh->file, tl_err_text(&e, err, sizeof(err)));
            ok = false;
        }
    }
    if (!ok) {
        for (size_t k = 0; k < n; k++) {
            tl_tls_ctx_unref(rs[k].ctx);
        }
        free(rs);
        return false;
    }
    *built = rs;
    *n_out = n;
    return true;
}

static void swap_contexts(struct tl_server *srv, struct reload_slot *rs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        enum tl_auth_mode a = tl_tls_ctx_auth(rs[k].ctx);
        tl_tls_slot_swap(rs[k].slot, rs[k].ctx);
        tl_info("%s: TLS policy (auth %s), certificates, keys, CAs and CRLs reloaded from %s; "
                "new connections use them, open connections are re-checked",
                rs[k].slot->owner,
                a == TL_AUTH_ANON        ? "anon"
                : a == TL_AUTH_CERTVALID ? "certvalid"
                : a == TL_AUTH_NAME      ? "name"
                                         : "fingerprint",
                srv->conf->file);
    }
    for (size_t w = 0; w < srv->pl.n_workers; w++) {
        tl_worker_request_recheck(srv->pl.workers[w]);
    }
    for (size_t o = 0; o < srv->pl.n_outputs; o++) {
        struct tl_output *out = srv->pl.outputs[o];
        if (out->initialised && out->ops->recheck) {
            out->ops->recheck(out);
        }
    }
}

/* ---- the plan ---------------------------------------------------------------------------- */

static bool in_fresh_as_is(const struct reload *r, const struct tl_input *in)
{
    for (size_t i = 0; i < r->fresh->n_inputs; i++) {
        if (r->ins[i] == in) {
            return true;
        }
    }
    return false;
}

static bool out_fresh_as_is(const struct reload *r, const struct tl_output *out)
{
    for (size_t o = 0; o < r->fresh->n_outputs; o++) {
        if (r->outs[o] == out) {
            return true;
        }
    }
    return false;
}

/* The lowest route slot no output of the new file uses. */
static size_t free_slot(const struct reload *r)
{
    for (size_t slot = 0;; slot++) {
        bool used = false;
        for (size_t o = 0; o < r->fresh->n_outputs && !used; o++) {
            used = r->outs[o] && r->outs[o]->index == slot;
        }
        if (!used) {
            return slot;
        }
    }
}

/* Matches the running inputs and outputs to the new file (the diff), lists what leaves. */
static bool plan(struct reload *r)
{
    struct tl_server *srv = r->srv;
    const struct tl_conf *fresh = r->fresh;
    r->ins = calloc(fresh->n_inputs + 1, sizeof(*r->ins));
    r->fresh_ins = calloc(fresh->n_inputs + 1, sizeof(*r->fresh_ins));
    r->outs = calloc(fresh->n_outputs + 1, sizeof(*r->outs));
    r->out_new = calloc(fresh->n_outputs + 1, sizeof(*r->out_new));
    r->leaving = calloc(srv->pl.n_outputs + 1, sizeof(*r->leaving));
    r->retire = calloc(srv->pl.n_inputs + 1, sizeof(*r->retire));
    if (!r->ins || !r->fresh_ins || !r->outs || !r->out_new || !r->leaving || !r->retire ||
        !tl_conf_diff(srv->conf, fresh, &r->d)) {
        return false;
    }
    /* The running objects are in the running configuration's order (pl.inputs[k] is
     * srv->conf->inputs[k] but for those that failed to start after an earlier reload):
     * match them by name. */
    for (size_t i = 0; i < fresh->n_inputs; i++) {
        if (r->d.in_match[i] < 0) {
            continue;
        }
        const char *name = srv->conf->inputs[r->d.in_match[i]].name;
        for (size_t k = 0; k < srv->pl.n_inputs; k++) {
            if (strcmp(srv->pl.inputs[k]->conf->name, name) == 0) {
                r->ins[i] = srv->pl.inputs[k];
            }
        }
    }
    for (size_t o = 0; o < fresh->n_outputs; o++) {
        if (r->d.out_match[o] < 0) {
            continue;
        }
        const char *name = srv->conf->outputs[r->d.out_match[o]].name;
        for (size_t k = 0; k < srv->pl.n_outputs; k++) {
            struct tl_output *out = srv->pl.outputs[k];
            /* One that failed to start after an earlier reload is made again. */
            if (strcmp(out->conf->name, name) == 0 && out->initialised) {
                r->outs[o] = out;
            }
        }
    }
    /* One that did not start at an earlier reload starts now: it counts as added. */
    for (size_t i = 0; i < fresh->n_inputs; i++) {
        if (r->d.in_match[i] >= 0 && !r->ins[i]) {
            r->d.in_kept--;
            r->d.in_added++;
        }
    }
    for (size_t o = 0; o < fresh->n_outputs; o++) {
        if (r->d.out_match[o] >= 0 && !r->outs[o]) {
            r->d.out_kept--;
            r->d.out_added++;
        }
    }
    for (size_t k = 0; k < srv->pl.n_inputs; k++) {
        if (!in_fresh_as_is(r, srv->pl.inputs[k])) {
            r->retire[r->n_retire++] = srv->pl.inputs[k];
        }
    }
    for (size_t k = 0; k < srv->pl.n_outputs; k++) {
        if (!out_fresh_as_is(r, srv->pl.outputs[k])) {
            r->leaving[r->n_leaving++] = srv->pl.outputs[k];
        }
    }
    return true;
}

/* Step 1: new and changed outputs (queues only) and inputs (initialised). */
static bool make_new(struct reload *r)
{
    const struct tl_conf *fresh = r->fresh;
    for (size_t o = 0; o < fresh->n_outputs; o++) {
        if (r->outs[o]) {
            continue;
        }
        r->outs[o] = tl_server_output_new(r->srv, fresh, o, free_slot(r));
        if (!r->outs[o]) {
            return false;
        }
        r->out_new[o] = true;
    }
    for (size_t i = 0; i < fresh->n_inputs; i++) {
        if (r->ins[i]) {
            continue;
        }
        r->fresh_ins[i] = tl_server_input_new(r->srv, fresh, i);
        if (!r->fresh_ins[i]) {
            note_failed(r, "input", fresh->inputs[i].name);
        }
    }
    return true;
}

/* The route table of the new file for the inputs in ins (NULL: not there yet). */
static struct tl_routes *table(struct reload *r, struct tl_input **retire, size_t n_retire)
{
    struct tl_routes *rt = tl_server_routes(r->srv, r->fresh, r->ins, r->outs);
    if (!rt) {
        return NULL;
    }
    struct tl_routes *cur = atomic_load(&r->srv->pl.routes);
    rt->scratch_size = cur->scratch_size;
    if (n_retire) {
        rt->retire = malloc(n_retire * sizeof(*rt->retire));
        if (!rt->retire) {
            tl_routes_free(rt);
            return NULL;
        }
        memcpy(rt->retire, retire, n_retire * sizeof(*rt->retire));
        rt->n_retire = n_retire;
    }
    return rt;
}

/* Called when a worker is still blocked on a leaving output's full queue after its
 * drain_timeout: the queue closes, what does not fit is dropped and counted. */
static void close_leaving(void *arg)
{
    struct reload *r = arg;
    tl_warn("reload: a worker is still blocked on the full queue of an output being replaced; "
            "closing it: messages that cannot be queued are dropped and counted");
    for (size_t k = 0; k < r->n_leaving; k++) {
        tl_mq_close(&r->leaving[k]->q);
    }
}

static void publish(struct reload *r, struct tl_routes *rt)
{
    int64_t late = 0;
    for (size_t k = 0; k < r->n_leaving; k++) {
        int64_t t = (int64_t)r->leaving[k]->conf->drain_timeout_ms;
        late = t > late ? t : late;
    }
    tl_routes_free(tl_pipeline_publish(&r->srv->pl, rt, late,
                                       r->n_leaving ? close_leaving : NULL, r));
}

/* Step 3: the outputs that left stop as at shutdown, then leave room for the new ones. */
static void stop_leaving(struct reload *r)
{
    int64_t start = tl_now_ms();
    for (size_t k = 0; k < r->n_leaving; k++) {
        struct tl_output *out = r->leaving[k];
        uint64_t dropped = atomic_load(&out->stats.dropped);
        int64_t deadline = start + (int64_t)out->conf->drain_timeout_ms;
        atomic_store(&out->stop_deadline_ms, deadline > 0 ? deadline : 1);
        tl_mq_close(&out->q);
        if (out->started) {
            pthread_join(out->thread, NULL);
            out->started = false;
        }
        /* Everything it was given is now written, on disk, acknowledged, or dropped and
         * counted: settled, for the RELP acknowledgements that wait on it. */
        tl_output_settle(out, tl_mq_pushed(&out->q));
        uint64_t lost = atomic_load(&out->stats.dropped) - dropped;
        if (lost) {
            tl_error("output %s: %llu messages were lost while replacing it (counted in "
                     "dropped)", out->conf->name, (unsigned long long)lost);
        }
        tl_server_unlist(r->srv, out);
        tl_server_output_free(r->srv, out);
    }
    r->n_leaving = 0; /* gone: later tables wait for nothing of them */
}

static void start_new_outputs(struct reload *r)
{
    for (size_t o = 0; o < r->fresh->n_outputs; o++) {
        struct tl_output *out = r->outs[o];
        if (!r->out_new[o]) {
            continue;
        }
        out->initialised = true;
        int rc = -1;
        if (out->ops->init(out)) {
            rc = pthread_create(&out->thread, NULL, out->ops->run, out);
        }
        if (rc == 0) {
            out->started = true;
            continue;
        }
        /* Its queue closes: what the workers route to it is dropped and counted, so that
         * nothing waits on it; the next reload (or a restart) makes it again. */
        tl_error("output %s: cannot start after the reload (see above); messages routed to it "
                 "are dropped and counted until the next reload", out->conf->name);
        note_failed(r, "output", out->conf->name);
        tl_mq_close(&out->q);
        tl_mq_set_notify(&out->q, NULL, NULL); /* the kind's state goes now */
        out->ops->free(out);
        out->initialised = false;
        tl_output_settle(out, UINT64_MAX);
    }
}

/* Step 4: removed inputs unbind, new ones bind and are attached. */
static bool swap_inputs(struct reload *r)
{
    struct tl_server *srv = r->srv;
    for (size_t k = 0; k < r->n_retire; k++) {
        tl_server_unlist(srv, r->retire[k]);
        tl_server_input_free(r->retire[k]);
    }
    size_t max_msg = 0;
    struct tl_routes *cur = atomic_load(&srv->pl.routes);
    size_t n_attach = 0;
    for (size_t i = 0; i < r->fresh->n_inputs; i++) {
        struct tl_input *in = r->fresh_ins[i];
        if (!in) {
            continue;
        }
        r->fresh_ins[i] = NULL;
        if (!in->ops->bind(in, srv->pl.n_workers)) {
            note_failed(r, "input", in->conf->name);
            tl_server_input_free(in);
            continue;
        }
        r->ins[i] = in;
        n_attach++;
        if (in->conf->max_message_size > max_msg) {
            max_msg = in->conf->max_message_size;
        }
    }
    struct tl_routes *rt = table(r, NULL, 0);
    if (!rt) {
        return false;
    }
    if (max_msg + 65536 > cur->scratch_size) {
        rt->scratch_size = max_msg + 65536;
    }
    rt->attach = calloc(n_attach + 1, sizeof(*rt->attach));
    if (!rt->attach) {
        tl_routes_free(rt);
        return false;
    }
    for (size_t i = 0; i < r->fresh->n_inputs; i++) {
        struct tl_input *in = r->ins[i];
        if (in && in->gconf == r->fresh) {
            rt->attach[rt->n_attach].in = in;
            rt->attach[rt->n_attach++].attach = in->ops->attach;
        }
    }
    publish(r, rt);
    return true;
}

/* The running lists take the new file's order; the old file is freed once nothing of it
 * runs. */
static void commit(struct reload *r)
{
    struct tl_server *srv = r->srv;
    struct tl_pipeline *pl = &srv->pl;
    pthread_mutex_lock(&srv->list_lock);
    pl->n_inputs = 0;
    for (size_t i = 0; i < r->fresh->n_inputs; i++) {
        if (r->ins[i]) {
            pl->inputs[pl->n_inputs++] = r->ins[i];
        }
    }
    pl->n_outputs = 0;
    for (size_t o = 0; o < r->fresh->n_outputs; o++) {
        pl->outputs[pl->n_outputs++] = r->outs[o];
    }
    srv->conf = r->fresh;
    pthread_mutex_unlock(&srv->list_lock);
    size_t kept = 0;
    for (size_t k = 0; k < srv->n_confs; k++) {
        struct tl_conf *c = srv->confs[k];
        bool used = c == srv->conf;
        for (size_t i = 0; i < pl->n_inputs && !used; i++) {
            used = pl->inputs[i]->gconf == c;
        }
        for (size_t o = 0; o < pl->n_outputs && !used; o++) {
            used = pl->outputs[o]->gconf == c;
        }
        if (used) {
            srv->confs[kept++] = c;
        } else {
            tl_conf_free(c);
        }
    }
    srv->n_confs = kept;
    tl_server_sweep(srv, false);
}

static void summary(struct reload *r, size_t routes_before)
{
    const struct tl_conf_diff *d = &r->d;
    size_t routes = 0;
    struct tl_routes *rt = atomic_load(&r->srv->pl.routes);
    for (size_t i = 0; i < rt->n_inputs; i++) {
        routes += rt->by_input[i].n_to;
    }
    tl_notice("configuration reloaded from %s: inputs +%zu -%zu ~%zu (kept %zu), outputs +%zu "
              "-%zu ~%zu (kept %zu), routes %zu (were %zu%s); TLS files re-read%s%s",
              r->fresh->file, d->in_added, d->in_removed, d->in_changed, d->in_kept,
              d->out_added, d->out_removed, d->out_changed, d->out_kept, routes, routes_before,
              d->routes_same ? ", the same" : "", r->failed_len ? "; not started: " : "",
              r->failed);
}

static void restart_keys(const struct tl_conf *old, const struct tl_conf *fresh)
{
    const char *names[8];
    size_t n = tl_conf_restart_keys(old, fresh, names, 8);
    for (size_t k = 0; k < n; k++) {
        tl_warn("reload: %s changed in %s but applies only at a restart: the running daemon "
                "keeps its value", names[k], fresh->file);
    }
}

static void reload_fini(struct reload *r)
{
    for (size_t i = 0; r->fresh_ins && i < r->fresh->n_inputs; i++) {
        if (r->fresh_ins[i]) {
            tl_server_input_free(r->fresh_ins[i]);
        }
    }
    tl_conf_diff_fini(&r->d);
    free(r->ins);
    free(r->fresh_ins);
    free(r->outs);
    free(r->out_new);
    free(r->leaving);
    free(r->retire);
}

/* Out of memory half-way through a plan that changed nothing yet. */
static void abandon(struct reload *r)
{
    for (size_t o = 0; r->outs && o < r->fresh->n_outputs; o++) {
        if (r->out_new && r->out_new[o] && r->outs[o]) {
            tl_server_output_free(r->srv, r->outs[o]);
        }
    }
    tl_error("reload of %s failed: out of memory; the running configuration is unchanged",
             r->fresh->file);
    reload_fini(r);
    tl_conf_free(r->fresh);
}

void tl_server_reload(struct tl_server *srv)
{
    tl_server_reopen(srv);
    struct reload r = {.srv = srv};
    r.fresh = load_checked(srv->conf->file);
    if (!r.fresh) {
        return;
    }
    struct reload_slot *rs = NULL;
    size_t n_rs = 0;
    struct tl_conf **confs = realloc(srv->confs, (srv->n_confs + 1) * sizeof(*confs));
    if (confs) {
        srv->confs = confs;
    }
    size_t routes_before = 0;
    struct tl_routes *cur = atomic_load(&srv->pl.routes);
    for (size_t i = 0; i < cur->n_inputs; i++) {
        routes_before += cur->by_input[i].n_to;
    }
    if (!confs || !plan(&r)) {
        abandon(&r);
        return;
    }
    if (!build_contexts(&r, &rs, &n_rs)) {
        reload_failed_line(r.fresh->file, 1);
        reload_fini(&r);
        tl_conf_free(r.fresh);
        return;
    }
    /* Grown up front (never shrunk: the running lists keep their length until commit): the
     * running lists take the new file's inputs and outputs. Under list_lock: the metrics
     * thread reads them. */
    pthread_mutex_lock(&srv->list_lock);
    size_t n_ins = r.fresh->n_inputs > srv->pl.n_inputs ? r.fresh->n_inputs : srv->pl.n_inputs;
    struct tl_input **ins = realloc(srv->pl.inputs, (n_ins + 1) * sizeof(*ins));
    if (ins) {
        srv->pl.inputs = ins;
    }
    size_t n_outs = r.fresh->n_outputs > srv->pl.n_outputs ? r.fresh->n_outputs
                                                            : srv->pl.n_outputs;
    struct tl_output **outs = realloc(srv->pl.outputs, (n_outs + 1) * sizeof(*outs));
    if (outs) {
        srv->pl.outputs = outs;
    }
    pthread_mutex_unlock(&srv->list_lock);
    struct tl_routes *rt = ins && outs && make_new(&r) ? table(&r, r.retire, r.n_retire) : NULL;
    if (!rt) {
        for (size_t k = 0; k < n_rs; k++) {
            tl_tls_ctx_unref(rs[k].ctx);
        }
        free(rs);
        abandon(&r);
        return;
    }
    srv->confs[srv->n_confs++] = r.fresh;
    tl_log_set_level(r.fresh->log_level);
    restart_keys(srv->start_conf, r.fresh);
    /* From here on the reload goes through: what fails is said and left out. */
    publish(&r, rt);                 /* step 2 */
    stop_leaving(&r);                /* step 3 */
    start_new_outputs(&r);
    struct tl_routes *barrier = table(&r, NULL, 0); /* step 4 */
    if (barrier) {
        publish(&r, barrier);
    }
    if (!barrier || !swap_inputs(&r)) {
        tl_error("reload: out of memory while adding the new inputs; they start at the next "
                 "reload");
    }
    commit(&r);
    swap_contexts(srv, rs, n_rs);    /* step 5 */
    free(rs);
    if (srv->conf->port_file) {
        tl_server_write_port_file(srv, srv->conf->port_file);
    }
    summary(&r, routes_before);
    reload_fini(&r);
}
