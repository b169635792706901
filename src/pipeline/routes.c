/* routes.c: the route table and the input ids (pipeline.h). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

struct tl_routes *tl_routes_new(size_t n_inputs, size_t n_slots)
{
    struct tl_routes *rt = calloc(1, sizeof(*rt));
    if (!rt) {
        return NULL;
    }
    rt->by_input = calloc(n_inputs ? n_inputs : 1, sizeof(*rt->by_input));
    rt->outputs = calloc(n_slots ? n_slots : 1, sizeof(*rt->outputs));
    if (!rt->by_input || !rt->outputs) {
        tl_routes_free(rt);
        return NULL;
    }
    rt->n_inputs = n_inputs;
    rt->n_slots = n_slots;
    return rt;
}

bool tl_routes_add(struct tl_routes *rt, size_t input_id, struct tl_output *out,
                   struct tl_route_where *where)
{
    struct tl_route_set *set = &rt->by_input[input_id];
    for (size_t i = 0; i < set->n_to; i++) {
        if (set->to[i].out == out) {
            free(where->f); /* the caller gives every route of the pair at once */
            return true;
        }
    }
    struct tl_route_dest *to = realloc(set->to, (set->n_to + 1) * sizeof(*to));
    if (!to) {
        free(where->f);
        return false;
    }
    to[set->n_to++] = (struct tl_route_dest){.out = out, .where = *where};
    set->to = to;
    set->filtered |= where->n > 0;
    return true;
}

void tl_routes_free(struct tl_routes *rt)
{
    if (!rt) {
        return;
    }
    for (size_t i = 0; rt->by_input && i < rt->n_inputs; i++) {
        for (size_t k = 0; k < rt->by_input[i].n_to; k++) {
            free(rt->by_input[i].to[k].where.f);
        }
        free(rt->by_input[i].to);
    }
    free(rt->by_input);
    free(rt->outputs);
    free(rt->attach);
    free(rt->retire);
    free(rt);
}

long tl_pipeline_input_id(struct tl_pipeline *pl, const char *name)
{
    struct tl_input_names *nm = &pl->names;
    for (size_t id = 0; id < nm->n; id++) {
        if (strcmp(nm->chunk[id / TL_INPUT_ID_CHUNK][id % TL_INPUT_ID_CHUNK], name) == 0) {
            return (long)id;
        }
    }
    if (nm->n == TL_INPUT_IDS) {
        return -1;
    }
    size_t c = nm->n / TL_INPUT_ID_CHUNK;
    /* Chunks never move: another thread may be reading a name of an older id meanwhile. */
    if (!nm->chunk[c]) {
        nm->chunk[c] = calloc(TL_INPUT_ID_CHUNK, sizeof(char *));
        if (!nm->chunk[c]) {
            return -1;
        }
    }
    char *copy = strdup(name);
    if (!copy) {
        return -1;
    }
    nm->chunk[c][nm->n % TL_INPUT_ID_CHUNK] = copy;
    return (long)nm->n++;
}

const char *tl_pipeline_input_name(const struct tl_pipeline *pl, size_t id)
{
    const struct tl_input_names *nm = &pl->names;
    return nm->chunk[id / TL_INPUT_ID_CHUNK][id % TL_INPUT_ID_CHUNK];
}

void tl_pipeline_names_fini(struct tl_pipeline *pl)
{
    struct tl_input_names *nm = &pl->names;
    for (size_t id = 0; id < nm->n; id++) {
        free(nm->chunk[id / TL_INPUT_ID_CHUNK][id % TL_INPUT_ID_CHUNK]);
    }
    for (size_t c = 0; c < TL_INPUT_ID_CHUNK; c++) {
        free(nm->chunk[c]);
        nm->chunk[c] = NULL;
    }
    nm->n = 0;
}
