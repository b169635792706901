/*
 * fuzz_glob.c: libFuzzer target for the route filters' glob compiler and matcher, with
 * glibc's fnmatch(3) as the oracle, and for the severity and facility values of a filter.
 *
 * Input: byte 0 bit 0 asks for case folding; then "PATTERN\0TEXT". A pattern the compiler
 * accepts must match TEXT exactly when fnmatch does (folded: except patterns with
 * [:upper:] or [:lower:], where glibc matches no letter; see filter.h); a refused one must
 * come with a sentence. The pattern is also given to tl_filter_compile as the value of every
 * key but message (PCRE2 is fuzzed by its authors, and its JIT compiler would take most of
 * the time), which must compile or fail with a sentence that names the key.
 */
#include <fnmatch.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static void check_spec_key(const char *pattern)
{
    const char *v[1] = { pattern };
    struct tl_filter_values one = { v, 1, false };
    struct tl_err err;
    for (int key = 0; key < 5; key++) {
        struct tl_filter_spec spec;
        memset(&spec, 0, sizeof(spec));
        struct tl_filter_values *all[] = { &spec.where_not.facility, &spec.where.severity,
                                           &spec.where.program, &spec.where.hostname,
                                           &spec.where_not.peer_name };
        *all[key] = one;
        memset(&err, 0xff, sizeof(err));
        struct tl_filter *f = tl_filter_compile(&spec, &err);
        if (!f) {
            CHECK(err.code == TL_E_CONFIG || err.code == TL_E_RESOURCE);
            CHECK(memchr(err.cause, '\0', sizeof(err.cause)) != NULL);
            CHECK(strncmp(err.cause, "where.", 6) == 0);
        }
        tl_filter_free(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) {
        return 0;
    }
    bool fold = data[0] & 1;
    const uint8_t *nul = memchr(data + 1, '\0', size - 1);
    size_t plen = nul ? (size_t)(nul - (data + 1)) : size - 1;
    char *pattern = malloc(plen + 1);
    size_t tlen = nul ? size - 1 - plen - 1 : 0;
    char *text = malloc(tlen + 1);
    CHECK(pattern && text);
    memcpy(pattern, data + 1, plen);
    pattern[plen] = '\0';
    if (tlen) {
        memcpy(text, nul + 1, tlen);
    }
    text[tlen] = '\0';

    struct tl_err err;
    memset(&err, 0xff, sizeof(err));
    struct tl_glob *g = tl_glob_compile(pattern, fold, &err);
    if (!g) {
        CHECK(err.code == TL_E_CONFIG);
        CHECK(memchr(err.cause, '\0', sizeof(err.cause)) != NULL);
        CHECK(strncmp(err.cause, "glob '", 6) == 0);
    } else {
        bool got = tl_glob_match(g, (const uint8_t *)text, tlen);
        /* fnmatch stops at a NUL in the text; compare only where there is none. */
        bool comparable = memchr(text, '\0', tlen) == NULL &&
                          !(fold && (strstr(pattern, "[:upper:]") || strstr(pattern, "[:lower:]")));
        if (comparable) {
            bool want = fnmatch(pattern, text, fold ? FNM_CASEFOLD : 0) == 0;
            CHECK(got == want);
        }
        tl_glob_free(g);
    }
    if (plen < 256) {
        check_spec_key(pattern);
    }
    free(pattern);
    free(text);
    return 0;
}
