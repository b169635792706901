/*
 * test_statefile.c: inputs' durable state: round trips through the file, the exact format,
 * a first start, a torn temporary file left by a crash, damaged and foreign files (every
 * single-bit flip and every cut of a valid file is refused), limits, and failed saves.
 * Each test works in its own mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "queue/disk.h"
#include "queue/statefile.h"

struct dir {
    char path[64];
    char file[128];
    char tmp[140];
    char bad[140];
};

static int setup(void **state)
{
    struct dir *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    snprintf(d->path, sizeof(d->path), "/tmp/tl-statefile-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    snprintf(d->file, sizeof(d->file), "%s/in-app.state", d->path);
    snprintf(d->tmp, sizeof(d->tmp), "%s.tmp", d->file);
    snprintf(d->bad, sizeof(d->bad), "%s.bad", d->file);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct dir *d = *state;
    unlink(d->file);
    unlink(d->tmp);
    unlink(d->bad);
    rmdir(d->path);
    free(d);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    assert_true(n >= 0);
    close(fd);
    return (size_t)n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A string literal as a value: its bytes without the NUL. */
#define LIT(lit) (lit), sizeof(lit) - 1

static void assert_value(const struct tl_statefile *s, const char *key, const void *want,
                         size_t want_len)
{
    size_t len;
    const uint8_t *v = tl_statefile_get(s, key, &len);
    if (!v) {
        fail_msg("key '%s' missing", key);
    }
    assert_int_equal(len, want_len);
    if (want_len) {
        assert_memory_equal(v, want, want_len);
    }
}

/* A store of the kind the file tail and the journal will keep. */
static void fill(struct tl_statefile *s)
{
    static const uint8_t pos[] = { 0x01, 0x08, 0x00, '\n', 0xff, ' ', 'x' };
    assert_true(tl_statefile_set(s, "/var/log/app/b.log", LIT("dev=2049 ino=1311 off=52731 "
                                     "head=8c1f00aa")));
    assert_true(tl_statefile_set(s, "/var/log/app/a log with spaces.log", pos, sizeof(pos)));
    assert_true(tl_statefile_set(s, "cursor", LIT("s=0f3c;i=2a1;b=9d8e;m=5bb4;t=61e4;x=77")));
    assert_true(tl_statefile_set(s, "empty", "", 0));
}

static void test_round_trip(void **state)
{
    struct dir *d = *state;
    struct tl_err e;
    struct tl_statefile *s = tl_statefile_new(d->file);
    assert_non_null(s);

    /* A first start: no file. */
    assert_int_equal(tl_statefile_load(s, &e), TL_STATEFILE_NONE);
    assert_int_equal(tl_statefile_count(s), 0);
    assert_false(tl_statefile_dirty(s));

    fill(s);
    assert_true(tl_statefile_dirty(s));
    assert_int_equal(tl_statefile_save(s, &e), TL_OK);
    assert_false(tl_statefile_dirty(s));
    assert_false(exists(d->tmp));
    struct stat st;
    assert_int_equal(stat(d->file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    struct tl_statefile *r = tl_statefile_new(d->file);
    assert_non_null(r);
    assert_int_equal(tl_statefile_load(r, &e), TL_STATEFILE_OK);
    assert_false(tl_statefile_dirty(r));
    assert_int_equal(tl_statefile_count(r), 4);
    assert_value(r, "/var/log/app/b.log", LIT("dev=2049 ino=1311 off=52731 head=8c1f00aa"));
    assert_value(r, "/var/log/app/a log with spaces.log", LIT("\x01\x08\x00\n\xff x"));
    assert_value(r, "cursor", LIT("s=0f3c;i=2a1;b=9d8e;m=5bb4;t=61e4;x=77"));
    assert_value(r, "empty", "", 0);
    size_t len;
    assert_null(tl_statefile_get(r, "/var/log/app/c.log", &len));
    assert_int_equal(len, 0);

    /* In key order, bytewise. */
    static const char *const order[] = { "/var/log/app/a log with spaces.log",
                                         "/var/log/app/b.log", "cursor", "empty" };
    for (size_t i = 0; i < 4; i++) {
        const uint8_t *v;
        assert_string_equal(tl_statefile_entry(r, i, &v, &len), order[i]);
    }

    /* Updates, a removal, a save, a load. */
    assert_true(tl_statefile_set(r, "/var/log/app/b.log", LIT("dev=2049 ino=1311 off=99999999 "
                                     "head=8c1f00aa")));
    assert_true(tl_statefile_del(r, "empty"));
    assert_false(tl_statefile_del(r, "empty"));
    assert_int_equal(tl_statefile_save(r, &e), TL_OK);
    assert_int_equal(tl_statefile_load(s, &e), TL_STATEFILE_OK);
    assert_int_equal(tl_statefile_count(s), 3);
    assert_value(s, "/var/log/app/b.log", LIT("dev=2049 ino=1311 off=99999999 head=8c1f00aa"));
    assert_null(tl_statefile_get(s, "empty", &len));
    tl_statefile_free(r);
    tl_statefile_free(s);
}

/* Format 1, byte for byte. */
static void test_format(void **state)
{
    struct dir *d = *state;
    struct tl_err e;
    struct tl_statefile *s = tl_statefile_new(d->file);
    assert_non_null(s);
    assert_true(tl_statefile_set(s, "cursor", "s=abc;i=1", 9));
    assert_true(tl_statefile_set(s, "/a b", "x\ny", 3));
    assert_int_equal(tl_statefile_save(s, &e), TL_OK);

    const char body[] = "tlslogd-state 1\n"
                        "4 3 /a b x\ny\n"
                        "6 9 cursor s=abc;i=1\n";
    char want[128];
    snprintf(want, sizeof(want), "%send 2 %08x\n", body, tl_crc32c(0, body, sizeof(body) - 1));
    uint8_t got[256];
    size_t n = read_file(d->file, got, sizeof(got));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    tl_statefile_free(s);

    /* An empty store is a valid file too. */
    s = tl_statefile_new(d->file);
    assert_int_equal(tl_statefile_save(s, &e), TL_OK);
    n = read_file(d->file, got, sizeof(got));
    snprintf(want, sizeof(want), "tlslogd-state 1\nend 0 %08x\n",
             tl_crc32c(0, "tlslogd-state 1\n", 16));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(tl_statefile_load(s, &e), TL_STATEFILE_OK);
    tl_statefile_free(s);
}

/* A crash during a save leaves PATH.tmp cut short; PATH still has the state before. */
static void test_torn_temp_file(void **state)
{
    struct dir *d = *state;
    struct tl_err e;
    struct tl_statefile *s = tl_statefile_new(d->file);
    fill(s);
    assert_int_equal(tl_statefile_save(s, &e), TL_OK);
    struct tl_buf img;
    tl_buf_init(&img, 0);
    assert_true(tl_statefile_set(s, "cursor", "newer", 5));
    assert_true(tl_statefile_encode(s, &img));
    write_file(d->tmp, img.data, img.len / 2);
    tl_buf_fini(&img);

    struct tl_statefile *r = tl_statefile_new(d->file);
    assert_int_equal(tl_statefile_load(r, &e), TL_STATEFILE_OK);
    assert_value(r, "cursor", LIT("s=0f3c;i=2a1;b=9d8e;m=5bb4;t=61e4;x=77"));
    assert_int_equal(tl_statefile_count(r), 4);
    assert_false(exists(d->tmp));

    /* The same with no PATH at all (a crash during the very first save): a first start. */
    unlink(d->file);
    write_file(d->tmp, "tlslogd-state 1\n5 3 curs", 24);
    assert_int_equal(tl_statefile_load(r, &e), TL_STATEFILE_NONE);
    assert_false(exists(d->tmp));
    tl_statefile_free(r);
    tl_statefile_free(s);
}

static void test_damaged_file_is_reported_and_moved_aside(void **state)
{
    struct dir *d = *state;
    char err[512];
    struct tl_err e;
    char want[512];
    struct tl_statefile *s = tl_statefile_new(d->file);
    fill(s);
    assert_int_equal(tl_statefile_save(s, &e), TL_OK);

    /* One byte of a value changes (a bad sector, a careless edit). */
    uint8_t img[512];
    size_t n = read_file(d->file, img, sizeof(img));
    uint8_t *off = memmem(img, n, "off=52731", 9);
    assert_non_null(off);
    off[4] = '6';
    write_file(d->file, img, n);

    struct tl_statefile *r = tl_statefile_new(d->file);
    assert_int_equal(tl_statefile_load(r, &e), TL_STATEFILE_DAMAGED);
    size_t end_at = (size_t)((uint8_t *)memmem(img, n, "end ", 4) - img);
    snprintf(want, sizeof(want), "state file %s is damaged: CRC mismatch (file says %.8s, "
             "contents give %08x) at offset %zu; not used, kept as %s", d->file,
             (const char *)img + n - 9, tl_crc32c(0, img, end_at), end_at, d->bad);
    assert_string_equal(tl_err_text(&e, err, sizeof(err)), want);
    assert_int_equal(tl_statefile_count(r), 0);
    assert_false(exists(d->file));
    assert_true(exists(d->bad));

    /* Reported once: the next start finds no file and starts as configured. */
    assert_int_equal(tl_statefile_load(r, &e), TL_STATEFILE_NONE);
    /* And the input's next save is trusted again. */
    assert_true(tl_statefile_set(r, "cursor", "fresh", 5));
    assert_int_equal(tl_statefile_save(r, &e), TL_OK);
    assert_int_equal(tl_statefile_load(s, &e), TL_STATEFILE_OK);
    assert_value(s, "cursor", "fresh", 5);
    tl_statefile_free(r);
    tl_statefile_free(s);
}

struct bad_image {
    const char *img;
    const char *why;
};

static void test_foreign_and_broken_images(void **state)
{
    (void)state;
    static const struct bad_image cases[] = {
        { "", "the file is empty at offset 0" },
        { "hello\n", "not a tlslogd state file (no 'tlslogd-state' line) at offset 0" },
        { "tlslogd-state 2\nend 0 00000000\n",
          "written in format 2, which this tlslogd (format 1) predates at offset 14" },
        { "tlslogd-state 0\nend 0 00000000\n",
          "written in format 0, which this tlslogd (format 1) does not know at offset 14" },
        { "tlslogd-state x\n", "format version is not a decimal number at offset 14" },
        { "tlslogd-state 1\n", "key length is not a decimal number at offset 16" },
        { "tlslogd-state 1\n4 3 /a b", "file cut short inside an entry at offset 20" },
        { "tlslogd-state 1\n01 1 a b\n", "key length is not a decimal number at offset 16" },
        { "tlslogd-state 1\n0 1  b\n", "empty key at offset 16" },
        { "tlslogd-state 1\n5000 1 ", "key length larger than 4096 at offset 16" },
        { "tlslogd-state 1\n1 70000 ", "value length larger than 65536 at offset 18" },
        { "tlslogd-state 1\n1 1 a b\n1 1 a c\n", "key repeated or out of order at offset 28" },
        { "tlslogd-state 1\n1 1 b b\n1 1 a c\n", "key repeated or out of order at offset 28" },
        { "tlslogd-state 1\n1 1 abc\n", "no space between key and value at offset 21" },
        { "tlslogd-state 1\n1 1 a bc", "entry not ended by a line feed at offset 23" },
        { "tlslogd-state 1\nend 0 0000", "file cut short in its last line at offset 22" },
        { "tlslogd-state 1\nend 0 0000000G\n",
          "CRC is not 8 lower-case hex digits at offset 22" },
        { "tlslogd-state 1\nend 0 1a5823ca\nx", "bytes after the last line at offset 31" },
        { "tlslogd-state 1\nend 1 1a5823ca\n",
          "entry count mismatch (file says 1, holds 0) at offset 16" },
        { "tlslogd-state 1\nend 0 1a5823cb\n",
          "CRC mismatch (file says 1a5823cb, contents give 1a5823ca) at offset 16" },
    };
    struct tl_statefile *s = tl_statefile_new("/nonexistent/x");
    char why[256];
    /* The valid empty image the cases are variations of. */
    assert_int_equal(tl_crc32c(0, "tlslogd-state 1\n", 16), 0x1a5823ca);
    assert_true(tl_statefile_decode(s, (const uint8_t *)"tlslogd-state 1\nend 0 1a5823ca\n",
                                    31, why, sizeof(why)));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(tl_statefile_set(s, "left", "over", 4));
        if (tl_statefile_decode(s, (const uint8_t *)cases[i].img, strlen(cases[i].img), why,
                                sizeof(why))) {
            fail_msg("case %zu decoded", i);
        }
        if (strcmp(why, cases[i].why) != 0) {
            fail_msg("case %zu: '%s', want '%s'", i, why, cases[i].why);
        }
        /* A refused image leaves nothing behind. */
        assert_int_equal(tl_statefile_count(s), 0);
        assert_false(tl_statefile_dirty(s));
    }
    tl_statefile_free(s);
}

/* Every cut and every single-bit flip of a valid image is refused. */
static void test_every_cut_and_flip(void **state)
{
    (void)state;
    struct tl_statefile *s = tl_statefile_new("/nonexistent/x");
    struct tl_statefile *r = tl_statefile_new("/nonexistent/x");
    struct tl_buf img;
    char why[256];
    fill(s);
    tl_buf_init(&img, 0);
    assert_true(tl_statefile_encode(s, &img));
    assert_true(tl_statefile_decode(r, img.data, img.len, why, sizeof(why)));
    assert_int_equal(tl_statefile_count(r), 4);

    for (size_t n = 0; n < img.len; n++) {
        if (tl_statefile_decode(r, img.data, n, why, sizeof(why))) {
            fail_msg("image cut to %zu of %zu bytes decoded", n, img.len);
        }
    }
    for (size_t k = 0; k < img.len; k++) {
        for (int bit = 0; bit < 8; bit++) {
            img.data[k] ^= (uint8_t)(1u << bit);
            if (tl_statefile_decode(r, img.data, img.len, why, sizeof(why))) {
                fail_msg("bit %d of byte %zu flipped decoded", bit, k);
            }
            img.data[k] ^= (uint8_t)(1u << bit);
        }
    }
    tl_buf_fini(&img);
    tl_statefile_free(r);
    tl_statefile_free(s);
}

static void test_limits(void **state)
{
    (void)state;
    struct tl_statefile *s = tl_statefile_new("/nonexistent/x");
    static char big[TL_STATEFILE_VALUE_MAX + 1];
    char key[TL_STATEFILE_KEY_MAX + 2];

    assert_false(tl_statefile_set(s, "", "x", 1));
    memset(key, 'k', sizeof(key));
    key[TL_STATEFILE_KEY_MAX + 1] = '\0';
    assert_false(tl_statefile_set(s, key, "x", 1));
    key[TL_STATEFILE_KEY_MAX] = '\0';
    assert_true(tl_statefile_set(s, key, "x", 1));
    assert_false(tl_statefile_set(s, "v", big, sizeof(big)));
    assert_true(tl_statefile_set(s, "v", big, sizeof(big) - 1));
    assert_int_equal(tl_statefile_count(s), 2);

    /* The whole file stays under 16 MiB: beside the 4 KiB key and "v", 254 more values of
     * 64 KiB fit, the 255th does not. */
    size_t added = 0;
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof(k), "f%03d", i);
        if (!tl_statefile_set(s, k, big, sizeof(big) - 1)) {
            break;
        }
        added++;
    }
    assert_int_equal(added, 254);
    struct tl_buf img;
    tl_buf_init(&img, TL_STATEFILE_FILE_MAX);
    assert_true(tl_statefile_encode(s, &img));
    assert_true(img.len <= TL_STATEFILE_FILE_MAX);
    /* A value that shrinks still fits. */
    assert_true(tl_statefile_set(s, "f000", "small", 5));
    tl_buf_fini(&img);
    tl_statefile_free(s);
}

static void test_failed_save_and_unreadable_file(void **state)
{
    struct dir *d = *state;
    char err[512];
    struct tl_err e;
    char path[160];
    char want[512];

    /* A state_dir that does not exist. */
    snprintf(path, sizeof(path), "%s/missing/in-app.state", d->path);
    struct tl_statefile *s = tl_statefile_new(path);
    assert_true(tl_statefile_set(s, "cursor", "x", 1));
    assert_int_equal(tl_statefile_save(s, &e), TL_E_IO);
    snprintf(want, sizeof(want), "state file %s: cannot create its temporary file: No such file "
             "or directory; hint: ", path);
    assert_true(strncmp(tl_err_text(&e, err, sizeof(err)), want, strlen(want)) == 0);
    assert_true(tl_statefile_dirty(s));
    assert_int_equal(e.sys_errno, ENOENT);
    assert_string_equal(e.remedy, "check the path and the file system");
    tl_statefile_free(s);

    /* The state file's name taken by a directory: cannot be read, cannot be replaced. */
    assert_int_equal(mkdir(d->file, 0700), 0);
    s = tl_statefile_new(d->file);
    assert_int_equal(tl_statefile_load(s, &e), TL_STATEFILE_ERROR);
    snprintf(want, sizeof(want), "state file %s is not a regular file; hint: remove it, or "
             "point state_dir elsewhere", d->file);
    assert_string_equal(tl_err_text(&e, err, sizeof(err)), want);
    assert_int_equal(e.code, TL_E_CONFIG);
    assert_string_equal(e.remedy, "remove it, or point state_dir elsewhere");
    assert_true(tl_statefile_set(s, "cursor", "x", 1));
    assert_int_equal(tl_statefile_save(s, &e), TL_E_IO);
    snprintf(want, sizeof(want), "state file %s: cannot rename its temporary file over it: Is "
             "a directory; hint: ", d->file);
    assert_true(strncmp(tl_err_text(&e, err, sizeof(err)), want, strlen(want)) == 0);
    assert_false(exists(d->tmp));
    rmdir(d->file);
    tl_statefile_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_temp_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_file_is_reported_and_moved_aside, setup,
                                        teardown),
        cmocka_unit_test(test_foreign_and_broken_images),
        cmocka_unit_test(test_every_cut_and_flip),
        cmocka_unit_test(test_limits),
        cmocka_unit_test_setup_teardown(test_failed_save_and_unreadable_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
