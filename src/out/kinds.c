/*
 * kinds.c: the table of output kinds. A new kind of output is one file with its struct
 * tl_output_ops, one row here, and its configuration keys (src/conf: its type word and keys).
 */
#include "out/out.h"

static const struct {
    enum tl_output_type type;
    const struct tl_output_ops *ops;
} kinds[] = {
    {TL_OUT_FILE, &tl_out_file_ops},
    {TL_OUT_STDOUT, &tl_out_stdout_ops},
    {TL_OUT_FORWARD, &tl_out_fwd_ops},
    {TL_OUT_KAFKA, &tl_out_kafka_ops},
};

const struct tl_output_ops *tl_output_kind(enum tl_output_type t)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (kinds[i].type == t) {
            return kinds[i].ops;
        }
    }
    return NULL;
}
