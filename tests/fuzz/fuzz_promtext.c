/*
 * fuzz_promtext.c: libFuzzer target for the Prometheus exposition reader of `tlslog stats`
 * (src/cli/promtext.c). Any input is parsed or refused with a "line N: ..." sentence; on
 * success every sample has a name, every label a name and a value, and looking a label up
 * finds what the sample holds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tl_prom_set set;
    char err[256];
    err[0] = '\0';
    if (!tl_prom_parse((const char *)data, size, &set, err, sizeof(err))) {
        CHECK(strncmp(err, "line ", 5) == 0);
        CHECK(set.n == 0 && set.v == NULL);
        tl_prom_set_fini(&set);
        return 0;
    }
    for (size_t i = 0; i < set.n; i++) {
        const struct tl_prom_sample *s = &set.v[i];
        CHECK(s->name != NULL && s->name[0] != '\0');
        for (size_t k = 0; k < s->n_labels; k++) {
            CHECK(s->labels[k].name != NULL && s->labels[k].value != NULL);
            const char *v = tl_prom_label(s, s->labels[k].name);
            CHECK(v != NULL);
        }
    }
    tl_prom_set_fini(&set);
    return 0;
}
