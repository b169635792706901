/*
 * reference.c: the key reference of docs/configuration.md, generated from the key tables
 * (keys.c) and the placeholder list (parse/template.c), so that the docs say what the loader
 * does (a unit test compares them).
 */
#include "conf/conf.h"

#include "conf/keys.h"
#include "core/buf.h"
#include "parse/template.h"

/* The Type column: "integer 0..256", "`auto`, `lf`", "path". */
static void ref_type(struct tl_buf *b, const struct key *k)
{
    const struct ktype_ops *ops = &tl_conf_ktypes[k->type];
    char r[64];

    tl_buf_puts(b, ops->doc);
    if (ops->show != NULL) {
        tl_buf_puts(b, tl_conf_range_text(k, r, sizeof(r)));
    } else if (ops->words) {
        for (size_t i = 0; k->words[i] != NULL; i++) {
            tl_buf_printf(b, "%s`%s`", i ? ", " : "", k->words[i]);
        }
    }
}

static void ref_section(struct tl_buf *b, const struct section *sec)
{
    char kinds[64];
    size_t i;

    tl_buf_printf(b, "### %s\n\n", sec->title);
    tl_buf_puts(b, "| Key | Type | Required | Default | Description |\n");
    tl_buf_puts(b, "|---|---|---|---|---|\n");
    for (i = 0; i < sec->n_keys; i++) {
        const struct key *k = &sec->keys[i];

        tl_buf_printf(b, "| `%s` | ", k->name);
        ref_type(b, k);
        if (k->required == ALWAYS) {
            tl_buf_puts(b, " | yes | ");
        } else if (k->required != 0) {
            tl_buf_printf(b, " | %s | ",
                          tl_conf_kinds_text(sec, k->required, kinds, sizeof(kinds)));
        } else {
            tl_buf_puts(b, " | no | ");
        }
        if (k->doc_def != NULL) {
            tl_buf_puts(b, k->doc_def);
        } else if (k->def != NULL) {
            tl_buf_printf(b, "`%s`", k->def);
        } else {
            tl_buf_puts(b, "-");
        }
        tl_buf_puts(b, " | ");
        if (k->applies != 0) {
            tl_buf_printf(b, "*%s only:* ",
                          tl_conf_kinds_text(sec, k->applies, kinds, sizeof(kinds)));
        }
        tl_buf_printf(b, "%s |\n", k->help);
    }
    tl_buf_puts(b, "\n");
}

char *tl_conf_reference_markdown(void)
{
    struct tl_buf b;
    size_t i;
    char *s;

    tl_buf_init(&b, 0);
    for (i = 0; tl_conf_sections[i] != NULL; i++) {
        ref_section(&b, tl_conf_sections[i]);
    }
    tl_buf_puts(&b, "### Path placeholders\n\n");
    tl_buf_puts(&b, "| Placeholder | Replaced by |\n");
    tl_buf_puts(&b, "|---|---|\n");
    for (i = 0; i < tl_template_n_placeholders; i++) {
        tl_buf_printf(&b, "| `{%s}` | %s |\n", tl_template_placeholders[i].name,
                      tl_template_placeholders[i].help);
    }
    if (!tl_buf_putc(&b, '\0')) {
        tl_buf_fini(&b);
        return NULL;
    }
    s = (char *)b.data;
    return s;
}

