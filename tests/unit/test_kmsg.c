/*
 * test_kmsg.c: the /dev/kmsg record parser, on records read from this machine's /dev/kmsg
 * (`timeout 1 cat /dev/kmsg`, kernel 6.18) and the examples of the kernel's dev-kmsg ABI
 * document, then on cut, mangled and foreign input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/kmsg.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1
#define TXT(lit) (lit), sizeof(lit) - 1

struct parsed {
    bool ok;
    struct tl_kmsg k;
    uint8_t out[512];
    char err[sizeof(((struct tl_err *)0)->cause)];
};

/* Parses into a separate buffer and in place, and checks both give the same result. */
static void parse(struct parsed *r, const uint8_t *rec, size_t len)
{
    uint8_t inplace[512];
    struct tl_kmsg k2;
    struct tl_err e;
    struct tl_err e2;

    assert_true(len <= sizeof(r->out));
    memset(r->err, 0, sizeof(r->err));
    r->ok = tl_kmsg_parse(rec, len, r->out, sizeof(r->out), &r->k, &e) == TL_OK;

    memcpy(inplace, rec, len);
    bool ok2 = tl_kmsg_parse(inplace, len, inplace, len, &k2, &e2) == TL_OK;
    assert_int_equal(ok2, r->ok);
    if (!r->ok) {
        /* A bad prefix is the kernel's record, not the buffer: a protocol error. */
        assert_int_equal(e.code, TL_E_PROTO);
        assert_string_equal(e2.cause, e.cause);
        snprintf(r->err, sizeof(r->err), "%s", e.cause);
        return;
    }
    assert_true(r->k.facility < 24 && r->k.severity < 8);
    assert_true(r->k.text_len <= len);
    assert_int_equal(k2.seq, r->k.seq);
    assert_int_equal(k2.mono_usec, r->k.mono_usec);
    assert_int_equal(k2.flags, r->k.flags);
    assert_int_equal(k2.text_len, r->k.text_len);
    assert_memory_equal(k2.text, r->k.text, r->k.text_len);
    assert_int_equal(k2.n_dict, r->k.n_dict);
    for (size_t i = 0; i < r->k.n_dict; i++) {
        assert_int_equal(k2.dict[i].key_len, r->k.dict[i].key_len);
        assert_memory_equal(k2.dict[i].key, r->k.dict[i].key, r->k.dict[i].key_len);
        assert_int_equal(k2.dict[i].value_len, r->k.dict[i].value_len);
        assert_memory_equal(k2.dict[i].value, r->k.dict[i].value, r->k.dict[i].value_len);
        assert_true(r->k.dict[i].value >= r->out && r->k.dict[i].value_len <= len);
    }
}

static void assert_text(const struct parsed *r, const char *want, size_t want_len)
{
    assert_true(r->ok);
    if (r->k.text_len != want_len || memcmp(r->k.text, want, want_len) != 0) {
        fail_msg("text '%.*s', want '%.*s'", (int)r->k.text_len, (const char *)r->k.text,
                 (int)want_len, want);
    }
}

static void assert_dict(const struct parsed *r, const char *key, const char *want)
{
    size_t len;
    const uint8_t *v = tl_kmsg_dict_get(&r->k, key, &len);
    if (!want) {
        assert_null(v);
        assert_int_equal(len, 0);
        return;
    }
    assert_non_null(v);
    if (len != strlen(want) || memcmp(v, want, len) != 0) {
        fail_msg("%s='%.*s', want '%s'", key, (int)len, (const char *)v, want);
    }
}

/* Records as this machine's kernel wrote them. */
static void test_real_records(void **state)
{
    (void)state;
    struct parsed r;

    parse(&r, S("5,0,0,-;Linux version 6.18.44-fc-v1045 (builder@sandboxing) (gcc (GCC) 15.3.0, "
                "GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0\n"));
    assert_true(r.ok);
    assert_int_equal(r.k.facility, 0);
    assert_int_equal(r.k.severity, 5);
    assert_int_equal(r.k.seq, 0);
    assert_int_equal(r.k.mono_usec, 0);
    assert_int_equal(r.k.flags, 0);
    assert_int_equal(r.k.n_dict, 0);
    assert_text(&r, "Linux version 6.18.44-fc-v1045 (builder@sandboxing) (gcc (GCC) 15.3.0, "
                "GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0", 124);

    parse(&r, S("0,122,201676,-;RDSEED32 is broken. Disabling the corresponding CPUID bit.\n"));
    assert_true(r.ok);
    assert_int_equal(r.k.facility, 0);
    assert_int_equal(r.k.severity, 0);
    assert_int_equal(r.k.seq, 122);
    assert_int_equal(r.k.mono_usec, 201676);

    /* A tab, escaped by the kernel. */
    parse(&r, S("6,102,169135,-;rcu: \\x09RCU restricting CPUs from NR_CPUS=256 to "
                "nr_cpu_ids=2.\n"));
    assert_text(&r, TXT("rcu: \tRCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2."));
    assert_int_equal(r.k.flags, 0);

    /* A line feed inside the message, escaped. */
    parse(&r, S("4,284,340852,-;amd_pstate: The CPPC feature is supported but currently "
                "disabled by the BIOS.\\x0aPlease enable it if your BIOS has the CPPC option.\n"));
    assert_int_equal(r.k.severity, 4);
    assert_text(&r, TXT("amd_pstate: The CPPC feature is supported but currently disabled by the "
                      "BIOS.\nPlease enable it if your BIOS has the CPPC option."));

    /* Dictionary lines: SUBSYSTEM and DEVICE. */
    parse(&r, S("6,195,231377,-;acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM "
                "ClockPM Segments MSI HPX-Type3]\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n"));
    assert_text(&r, TXT("acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM "
                      "Segments MSI HPX-Type3]"));
    assert_int_equal(r.k.n_dict, 2);
    assert_dict(&r, "SUBSYSTEM", "acpi");
    assert_dict(&r, "DEVICE", "+acpi:PNP0A08:00");
    assert_dict(&r, "DRIVER", NULL);
    assert_int_equal(r.k.flags, 0);

    parse(&r, S("5,281,336375,-;virtio_blk virtio1: [vda] 536870912 512-byte logical blocks "
                "(275 GB/256 GiB)\n SUBSYSTEM=virtio\n DEVICE=+virtio:virtio1\n"));
    assert_int_equal(r.k.severity, 5);
    assert_dict(&r, "SUBSYSTEM", "virtio");
    assert_dict(&r, "DEVICE", "+virtio:virtio1");

    /* Leading spaces of the message are its own, not a dictionary line. */
    parse(&r, S("6,289,340925,-;    input device check on\n"));
    assert_text(&r, TXT("    input device check on"));
    assert_int_equal(r.k.n_dict, 0);

    /* Written by a process into /dev/kmsg as "<13>tlslogd-sample: ...": user.notice. */
    parse(&r, S("13,401,2781666712,-;tlslogd-sample: hello from userspace\n"));
    assert_int_equal(r.k.facility, 1);
    assert_int_equal(r.k.severity, 5);
    assert_int_equal(r.k.mono_usec, 2781666712ull);
    assert_text(&r, TXT("tlslogd-sample: hello from userspace"));
}

/* The examples of Documentation/ABI/testing/dev-kmsg. */
static void test_abi_document_examples(void **state)
{
    (void)state;
    struct parsed r;

    parse(&r, S("7,160,424069,-;pci_root PNP0A03:00: host bridge window [io  0x0000-0x0cf7] "
                "(ignored)\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A03:00\n"));
    assert_int_equal(r.k.severity, 7);
    assert_int_equal(r.k.seq, 160);
    assert_int_equal(r.k.mono_usec, 424069);
    assert_dict(&r, "DEVICE", "+acpi:PNP0A03:00");

    parse(&r, S("6,339,5140900,-;NET: Registered protocol family 10\n"));
    assert_text(&r, TXT("NET: Registered protocol family 10"));

    /* udevd writes with facility daemon: 30 = 3 << 3 | 6. */
    parse(&r, S("30,340,5690716,-;udevd[80]: starting version 181\n"));
    assert_int_equal(r.k.facility, 3);
    assert_int_equal(r.k.severity, 6);

    /* DEVICE forms: block, char and net devices. */
    parse(&r, S("3,1,2,-;sd 0:0:0:0: error\n SUBSYSTEM=scsi\n DEVICE=b8:0\n"));
    assert_dict(&r, "DEVICE", "b8:0");
    parse(&r, S("6,2,3,-;eth0: link up\n SUBSYSTEM=net\n DEVICE=n2\n"));
    assert_dict(&r, "DEVICE", "n2");

    /* 'c' marks a fragment; older kernels wrote '+' on the pieces that continue it. */
    parse(&r, S("6,400,5,c;first part\n"));
    assert_int_equal(r.k.flags, TL_KMSG_FRAGMENT);
    parse(&r, S("6,401,6,+;second part\n"));
    assert_int_equal(r.k.flags, TL_KMSG_FRAGMENT);

    /* Fields a newer kernel adds before ';' (CONFIG_PRINTK_CALLER) are skipped. */
    parse(&r, S("6,1,0,-,caller=T1;Command line: quiet\n"));
    assert_int_equal(r.k.flags, 0);
    assert_text(&r, TXT("Command line: quiet"));
    parse(&r, S("4,2,7,c,caller=C0,more=x;piece\n"));
    assert_int_equal(r.k.flags, TL_KMSG_FRAGMENT);
    assert_text(&r, TXT("piece"));

    /* An empty message. */
    parse(&r, S("6,3,9,-;\n"));
    assert_text(&r, "", 0);
}

static void test_escapes(void **state)
{
    (void)state;
    struct parsed r;

    /* The kernel escapes the backslash itself, NUL and bytes from 0x7f up. */
    parse(&r, S("6,1,1,-;C:\\x5cpath \\x00 end \\xc3\\xa9 \\x7f\n"));
    assert_text(&r, TXT("C:\\path \0 end \xc3\xa9 \x7f"));
    assert_int_equal(r.k.flags, 0);

    /* Upper-case hex is read too. */
    parse(&r, S("6,1,1,-;\\x4A\\x4b\n"));
    assert_text(&r, TXT("JK"));

    /* Values are decoded; keys are taken as they are. */
    parse(&r, S("6,1,1,-;m\n SUBSYSTEM=a\\x20b\n"));
    assert_dict(&r, "SUBSYSTEM", "a b");

    /* A backslash the kernel's escaper would never leave: kept and flagged. */
    parse(&r, S("6,1,1,-;a\\b \\xZZ \\x4\n"));
    assert_text(&r, TXT("a\\b \\xZZ \\x4"));
    assert_int_equal(r.k.flags, TL_KMSG_MALFORMED);
    parse(&r, S("6,1,1,-;end\\"));
    assert_text(&r, TXT("end\\"));
    assert_int_equal(r.k.flags, TL_KMSG_MALFORMED | TL_KMSG_TRUNCATED);
    parse(&r, S("6,1,1,-;\\x4\n"));
    assert_text(&r, TXT("\\x4"));
    assert_int_equal(r.k.flags, TL_KMSG_MALFORMED);
}

/* What the kernel cut (a record longer than its 8 KiB buffer) or a writer mangled. */
static void test_truncated_and_odd_dictionaries(void **state)
{
    (void)state;
    struct parsed r;

    parse(&r, S("6,9,10,-;a message cut before its LF"));
    assert_text(&r, TXT("a message cut before its LF"));
    assert_int_equal(r.k.flags, TL_KMSG_TRUNCATED);

    parse(&r, S("6,9,10,-;text\n SUBSYSTEM=pci\n DEVICE=+pci:00"));
    assert_int_equal(r.k.flags, TL_KMSG_TRUNCATED);
    assert_dict(&r, "DEVICE", "+pci:00");

    /* A line without the leading space or without '=' is skipped and flagged. */
    parse(&r, S("6,9,10,-;text\nSUBSYSTEM=pci\n DEVICE\n =x\n DEVICE=n1\n"));
    assert_int_equal(r.k.flags, TL_KMSG_MALFORMED);
    assert_int_equal(r.k.n_dict, 1);
    assert_dict(&r, "SUBSYSTEM", NULL);
    assert_dict(&r, "DEVICE", "n1");

    /* Empty lines are nothing. */
    parse(&r, S("6,9,10,-;text\n\n SUBSYSTEM=usb\n\n"));
    assert_int_equal(r.k.flags, 0);
    assert_dict(&r, "SUBSYSTEM", "usb");

    /* More entries than kept: counted. */
    parse(&r, S("6,9,10,-;t\n A=1\n B=2\n C=3\n D=4\n E=5\n F=6\n G=7\n H=8\n I=9\n J=10\n"));
    assert_int_equal(r.k.n_dict, TL_KMSG_DICT_MAX);
    assert_int_equal(r.k.dict_dropped, 2);
    assert_dict(&r, "H", "8");
    assert_dict(&r, "I", NULL);

    /* A value with '=' in it keeps everything after the first. */
    parse(&r, S("6,9,10,-;t\n K=a=b\n"));
    assert_dict(&r, "K", "a=b");

    /* A facility syslog cannot express (the kernel keeps 8 bits of it): user, flagged. */
    parse(&r, S("2047,9,10,-;odd writer\n"));
    assert_int_equal(r.k.facility, 1);
    assert_int_equal(r.k.severity, 7);
    assert_int_equal(r.k.flags, TL_KMSG_MALFORMED);
    parse(&r, S("191,9,10,-;local7.debug\n"));
    assert_int_equal(r.k.facility, 23);
    assert_int_equal(r.k.flags, 0);

    /* The largest numbers the fields hold. */
    parse(&r, S("6,18446744073709551615,9223372036854775807,-;max\n"));
    assert_int_equal(r.k.seq, UINT64_MAX);
    assert_int_equal(r.k.mono_usec, INT64_MAX);
}

struct bad {
    const char *rec;
    const char *err;  /* the whole expected sentence */
};

static void test_garbage_is_refused(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        { "", "kmsg record: priority '' at offset 0 is missing" },
        { "hello world\n", "kmsg record: priority 'hello world' at offset 0 is not a decimal "
                           "number" },
        { "<6>kernel: hi\n", "kmsg record: priority '<6>kernel: hi' at offset 0 is not a "
                             "decimal number" },
        { "6", "kmsg record: priority '6' at offset 0 is cut short" },
        { "6;text\n", "kmsg record: prefix '6;' at offset 0 ends before its sequence number" },
        { "6,", "kmsg record: sequence number '' at offset 2 is missing" },
        { "6,12x,3,-;t\n", "kmsg record: sequence number '12x' at offset 2 is not a decimal "
                           "number" },
        { "6,1;t\n", "kmsg record: prefix '6,1;' at offset 0 ends before its timestamp" },
        { "6,1,-5,-;t\n", "kmsg record: timestamp '-5' at offset 4 is not a decimal number" },
        { "6,1,2,-", "kmsg record: prefix '6,1,2,-' at offset 0 has no ';' before the message" },
        { "6,1,2,-\n;t", "kmsg record: prefix '6,1,2,-' at offset 0 has no ';' before the "
                         "message" },
        { "2048,1,2,-;t\n", "kmsg record: priority '2048' at offset 0 is out of range" },
        { "6,18446744073709551616,2,-;t\n", "kmsg record: sequence number "
                                            "'18446744073709551616' at offset 2 is out of "
                                            "range" },
        { "6,1,9223372036854775808,-;t\n", "kmsg record: timestamp '9223372036854775808' at "
                                           "offset 4 is out of range" },
        { "6,1,99999999999999999999999999,-;t\n", "kmsg record: timestamp "
                                                  "'999999999999999999999999...' at offset 4 "
                                                  "is out of range" },
        { " SUBSYSTEM=acpi\n", "kmsg record: priority ' SUBSYSTEM=acpi' at offset 0 is not a "
                               "decimal number" },
        { "\x01\xff,1,2,-;t", "kmsg record: priority '\\x01\\xff' at offset 0 is not a decimal "
                              "number" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct parsed r;
        parse(&r, (const uint8_t *)cases[i].rec, strlen(cases[i].rec));
        if (r.ok) {
            fail_msg("case %zu '%s' parsed", i, cases[i].rec);
        }
        if (strcmp(r.err, cases[i].err) != 0) {
            fail_msg("case %zu: err '%s', want '%s'", i, r.err, cases[i].err);
        }
    }

    /* The decode buffer must hold the record. */
    uint8_t out[4];
    struct tl_kmsg k;
    struct tl_err err;
    assert_int_equal(tl_kmsg_parse(S("6,1,1,-;abc\n"), out, sizeof(out), &k, &err),
                     TL_E_RESOURCE);
    assert_string_equal(err.cause, "kmsg record: 12 bytes do not fit the 4-byte decode buffer");
}

/* A record cut at every length is either refused or parsed into what it holds. */
static void test_every_prefix_of_a_record(void **state)
{
    (void)state;
    static const char rec[] = "14,77,123456,-;dev \\x5cfoo\\x09 bar\n SUBSYSTEM=pci\n "
                              "DEVICE=+pci:0000:00:01.0\n";
    size_t n = sizeof(rec) - 1;
    size_t semi = (size_t)(strchr(rec, ';') - rec);
    for (size_t len = 0; len <= n; len++) {
        struct parsed r;
        parse(&r, (const uint8_t *)rec, len);
        if (r.ok != (len > semi)) {
            fail_msg("length %zu: ok %d, err '%s'", len, r.ok, r.err);
        }
        if (!r.ok) {
            assert_true(strncmp(r.err, "kmsg record: ", 13) == 0);
            continue;
        }
        assert_int_equal(r.k.seq, 77);
        assert_int_equal(r.k.facility, 1);
        assert_int_equal(r.k.severity, 6);
        /* A cut right after a line's LF cannot be told from a whole record. */
        assert_int_equal((r.k.flags & TL_KMSG_TRUNCATED) != 0, rec[len - 1] != '\n');
        assert_true(r.k.n_dict <= 2);
    }
}

static void test_sequence_gaps(void **state)
{
    (void)state;
    struct tl_kmsg_seq t = { 0 };
    /* The first record read can start anywhere. */
    assert_int_equal(tl_kmsg_seq_lost(&t, 500), 0);
    assert_int_equal(tl_kmsg_seq_lost(&t, 501), 0);
    assert_int_equal(tl_kmsg_seq_lost(&t, 502), 0);
    /* The ring buffer overwrote 503..509: seven lost. */
    assert_int_equal(tl_kmsg_seq_lost(&t, 510), 7);
    assert_int_equal(tl_kmsg_seq_lost(&t, 511), 0);
    /* Back to a lower number: another boot, not a loss; tracking restarts. */
    assert_int_equal(tl_kmsg_seq_lost(&t, 3), 0);
    assert_int_equal(tl_kmsg_seq_lost(&t, 5), 1);
    /* The same record read twice is not a loss either. */
    assert_int_equal(tl_kmsg_seq_lost(&t, 5), 0);
    assert_int_equal(tl_kmsg_seq_lost(&t, 6), 0);
}

static void test_wall_time(void **state)
{
    (void)state;
    int64_t sec;
    uint32_t usec;

    /* Booted at 2026-01-20T12:00:00.250000Z: real 1768910500.750000, monotonic 100.5 s. */
    int64_t boot = tl_kmsg_boot_usec(1768910500, 750000000, 100, 500000000);
    assert_int_equal(boot, 1768910400250000LL);
    tl_kmsg_wall_time(424069, boot, &sec, &usec);
    assert_int_equal(sec, 1768910400);
    assert_int_equal(usec, 674069);
    tl_kmsg_wall_time(0, boot, &sec, &usec);
    assert_int_equal(sec, 1768910400);
    assert_int_equal(usec, 250000);

    /* Nanoseconds of the real clock below those of the monotonic one: a borrow. */
    boot = tl_kmsg_boot_usec(1000, 100000000, 10, 900000000);
    assert_int_equal(boot, 989200000LL);

    /* A clock set before 1970 still gives 0 <= usec < 1000000. */
    tl_kmsg_wall_time(1, -2500000, &sec, &usec);
    assert_int_equal(sec, -3);
    assert_int_equal(usec, 500001);

    /* Saturates instead of wrapping. */
    tl_kmsg_wall_time((uint64_t)INT64_MAX, INT64_MAX, &sec, &usec);
    assert_int_equal(sec, INT64_MAX / 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_records),
        cmocka_unit_test(test_abi_document_examples),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_truncated_and_odd_dictionaries),
        cmocka_unit_test(test_garbage_is_refused),
        cmocka_unit_test(test_every_prefix_of_a_record),
        cmocka_unit_test(test_sequence_gaps),
        cmocka_unit_test(test_wall_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
