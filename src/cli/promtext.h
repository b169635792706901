/*
 * promtext.h: a reader for the Prometheus text exposition format (version 0.0.4), enough for
 * `tlslog stats`: sample lines "name{label="value",...} value [timestamp]"; comments (# HELP,
 * # TYPE) and blank lines are skipped. Pure: bytes in, samples out; no I/O. Single-threaded.
 */
#ifndef TL_CLI_PROMTEXT_H
#define TL_CLI_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>

struct tl_prom_label {
    char *name;
    char *value;               /* unescaped (\\, \", \n) */
};

struct tl_prom_sample {
    char *name;
    struct tl_prom_label *labels;
    size_t n_labels;
    double value;              /* NaN, +Inf and -Inf are read as such */
};

struct tl_prom_set {
    struct tl_prom_sample *v;
    size_t n;
};

/* Parses text[0..len) (not NUL-terminated). False with "line N: what is wrong" in err; set
 * is then empty. Free with tl_prom_set_fini either way. */
bool tl_prom_parse(const char *text, size_t len, struct tl_prom_set *set, char *err,
                   size_t errlen);
void tl_prom_set_fini(struct tl_prom_set *set);
/* The value of label name in s, or NULL. */
const char *tl_prom_label(const struct tl_prom_sample *s, const char *name);

#endif
