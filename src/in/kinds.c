/*
 * kinds.c: the table of input kinds. A new kind of input is one file with its struct
 * tl_input_ops, one row here, and its configuration keys (src/conf: its transport word and
 * keys).
 */
#include "in/in.h"

static const struct {
    enum tl_transport transport;
    const struct tl_input_ops *ops;
} kinds[] = {
    {TL_TR_UDP, &tl_in_udp_ops},
    {TL_TR_TCP, &tl_in_tcp_ops},
    {TL_TR_UNIX, &tl_in_unix_ops},
    {TL_TR_TLS, &tl_in_tls_ops},
    {TL_TR_RELP, &tl_in_relp_ops},
    {TL_TR_FILE, &tl_in_file_ops},
    {TL_TR_JOURNAL, &tl_in_journal_ops},
    {TL_TR_KMSG, &tl_in_kmsg_ops},
};

const struct tl_input_ops *tl_input_kind(enum tl_transport t)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (kinds[i].transport == t) {
            return kinds[i].ops;
        }
    }
    return NULL;
}
