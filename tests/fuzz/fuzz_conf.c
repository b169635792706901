/*
 * fuzz_conf.c: libFuzzer target for the configuration loader (YAML tree and walker).
 *
 * The input is a configuration file. Whatever it is, tl_conf_load_string must return
 * either a configuration and no errors, or NULL and at least one error line naming the
 * file; a configuration it returns must be consistent (names set, route indexes in range).
 * The input, cut at its first NUL, is also fed to the value parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_conf(const struct tl_conf *c)
{
    size_t i;
    size_t j;

    if (c->n_inputs == 0 || c->n_outputs == 0 || strcmp(c->file, "fuzz.yaml") != 0) {
        abort();
    }
    for (i = 0; i < c->n_inputs; i++) {
        const struct tl_conf_input *in = &c->inputs[i];

        if (in->name == NULL || in->line <= 0 || in->max_message_size < 480) {
            abort();
        }
        if ((in->transport == TL_TR_UNIX) != (in->path != NULL)) {
            abort();
        }
    }
    for (i = 0; i < c->n_outputs; i++) {
        const struct tl_conf_output *out = &c->outputs[i];

        if (out->name == NULL || (out->type == TL_OUT_FILE) != (out->path != NULL)) {
            abort();
        }
    }
    for (i = 0; i < c->n_routes; i++) {
        const struct tl_conf_route *r = &c->routes[i];

        if (r->n_from == 0 || r->n_to == 0) {
            abort();
        }
        for (j = 0; j < r->n_from; j++) {
            if (r->from[j] >= c->n_inputs) {
                abort();
            }
        }
        for (j = 0; j < r->n_to; j++) {
            if (r->to[j] >= c->n_outputs) {
                abort();
            }
        }
    }
}

static void values(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct tl_err e;
    char *host = NULL;
    uint16_t port = 0;
    uint64_t v;

    if (s == NULL) {
        return;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    (void)tl_parse_size(s, &v);
    (void)tl_parse_duration_ms(s, &v);
    if (tl_parse_listen(s, 514, &host, &port, &e) == TL_OK) {
        free(host);
    } else if (host != NULL || e.cause[0] == '\0' || e.code != TL_E_CONFIG) {
        abort();
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tl_conf_errors errs = {0};
    struct tl_conf *c = tl_conf_load_string((const char *)data, size, "fuzz.yaml", &errs);
    size_t i;

    if (c != NULL) {
        if (errs.n != 0) {
            abort();
        }
        check_conf(c);
        tl_conf_free(c);
    } else {
        if (errs.n == 0) {
            abort();
        }
        for (i = 0; i < errs.n; i++) {
            if (strncmp(errs.lines[i], "fuzz.yaml", 9) != 0) {
                abort();
            }
        }
    }
    tl_conf_errors_fini(&errs);
    values(data, size);
    return 0;
}
