/*
 * scratch.h: for the unit tests of what writes files (the disk queue, the spool): removing a
 * scratch directory, and making writes fail. Include after cmocka.h.
 */
#ifndef TL_TEST_SCRATCH_H
#define TL_TEST_SCRATCH_H

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* RLIMIT_FSIZE (soft) of limit bytes, with SIGXFSZ ignored: a write past it fails with
 * EFBIG (or is cut short there), for root and any user alike. 0 restores the limit; so does
 * teardown, should a test fail in between. */
static struct rlimit saved_fsize;
static bool fsize_lowered;

static void file_limit(uint64_t limit)
{
    struct rlimit r;

    if (limit == 0) {
        if (fsize_lowered) {
            assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
            signal(SIGXFSZ, SIG_DFL);
            fsize_lowered = false;
        }
        return;
    }
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
    fsize_lowered = true;
    signal(SIGXFSZ, SIG_IGN);
    r = saved_fsize;
    r.rlim_cur = limit;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char p[512];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        rm_rf(p);
    }
    closedir(d);
    rmdir(path);
}

#endif
