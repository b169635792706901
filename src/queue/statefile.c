/*
 * statefile.c: inputs' durable state, written whole and atomically, read back only when it
 * checks out.
 *
 * The encoding is canonical (entries in key order, no leading zeros), so a file that parses
 * encodes back to the same bytes: the fuzz target relies on that.
 */
#include "queue/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/text.h"
#include "queue/disk.h"

#define MAGIC "tlslogd-state "
#define MAGIC_LEN (sizeof(MAGIC) - 1)
/* "end " + up to 10 digits of count + " " + 8 hex + "\n" */
#define TRAILER_MAX 24
#define HEADER_LEN (MAGIC_LEN + 2)

struct entry {
    char *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
    size_t vcap;
};

struct tl_statefile {
    char *path;
    struct entry *e;
    size_t n;
    size_t cap;
    size_t bytes;  /* encoded size of the entries */
    bool dirty;
};

/* ---- the store ---- */

/* What an entry takes in the file: "KLEN VLEN KEY VALUE\n". */
static size_t entry_bytes(size_t klen, size_t vlen)
{
    return (size_t)snprintf(NULL, 0, "%zu %zu ", klen, vlen) + klen + 1 + vlen + 1;
}

static void entry_fini(struct entry *e)
{
    free(e->key);
    free(e->val);
}

static void clear(struct tl_statefile *s)
{
    for (size_t i = 0; i < s->n; i++) {
        entry_fini(&s->e[i]);
    }
    s->n = 0;
    s->bytes = 0;
}

struct tl_statefile *tl_statefile_new(const char *path)
{
    struct tl_statefile *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return NULL;
    }
    return s;
}

void tl_statefile_free(struct tl_statefile *s)
{
    if (!s) {
        return;
    }
    clear(s);
    free(s->e);
    free(s->path);
    free(s);
}

bool tl_statefile_dirty(const struct tl_statefile *s)
{
    return s->dirty;
}

static int keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* Index of key, or of where it would go (with *found false). */
static size_t find(const struct tl_statefile *s, const char *key, size_t klen, bool *found)
{
    size_t lo = 0;
    size_t hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = keycmp((const uint8_t *)s->e[mid].key, s->e[mid].klen, (const uint8_t *)key,
                       klen);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

const uint8_t *tl_statefile_get(const struct tl_statefile *s, const char *key, size_t *len)
{
    bool found;
    size_t i = find(s, key, strlen(key), &found);
    *len = found ? s->e[i].vlen : 0;
    return found ? s->e[i].val : NULL;
}

/* Stores a copy of val in e, reusing its buffer when the value fits. */
static bool put_value(struct entry *e, const void *val, size_t len)
{
    if (len > e->vcap || !e->val) {
        uint8_t *v = malloc(len ? len : 1);
        if (!v) {
            return false;
        }
        free(e->val);
        e->val = v;
        e->vcap = len;
    }
    if (len) {
        memcpy(e->val, val, len);
    }
    e->vlen = len;
    return true;
}

/* Inserts or replaces; klen bytes of key (no NUL inside). */
static bool set(struct tl_statefile *s, const char *key, size_t klen, const void *val,
                size_t len)
{
    if (klen == 0 || klen > TL_STATEFILE_KEY_MAX || memchr(key, '\0', klen) ||
        len > TL_STATEFILE_VALUE_MAX) {
        return false;
    }
    bool found;
    size_t i = find(s, key, klen, &found);
    size_t old = found ? entry_bytes(klen, s->e[i].vlen) : 0;
    size_t bytes = s->bytes - old + entry_bytes(klen, len);
    if (HEADER_LEN + bytes + TRAILER_MAX > TL_STATEFILE_FILE_MAX) {
        return false;
    }
    if (found) {
        if (!put_value(&s->e[i], val, len)) {
            return false;
        }
    } else {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            struct entry *e = realloc(s->e, cap * sizeof(*e));
            if (!e) {
                return false;
            }
            s->e = e;
            s->cap = cap;
        }
        struct entry ne = { 0 };
        ne.key = malloc(klen + 1);
        if (!ne.key || !put_value(&ne, val, len)) {
            entry_fini(&ne);
            return false;
        }
        memcpy(ne.key, key, klen);
        ne.key[klen] = '\0';
        ne.klen = klen;
        memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof(*s->e));
        s->e[i] = ne;
        s->n++;
    }
    s->bytes = bytes;
    s->dirty = true;
    return true;
}

bool tl_statefile_set(struct tl_statefile *s, const char *key, const void *val, size_t len)
{
    return set(s, key, strlen(key), val, len);
}

bool tl_statefile_del(struct tl_statefile *s, const char *key)
{
    bool found;
    size_t klen = strlen(key);
    size_t i = find(s, key, klen, &found);
    if (!found) {
        return false;
    }
    s->bytes -= entry_bytes(klen, s->e[i].vlen);
    entry_fini(&s->e[i]);
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(*s->e));
    s->n--;
    s->dirty = true;
    return true;
}

size_t tl_statefile_count(const struct tl_statefile *s)
{
    return s->n;
}

const char *tl_statefile_entry(const struct tl_statefile *s, size_t i, const uint8_t **val,
                               size_t *len)
{
    *val = s->e[i].val;
    *len = s->e[i].vlen;
    return s->e[i].key;
}

/* ---- encoding ---- */

bool tl_statefile_encode(const struct tl_statefile *s, struct tl_buf *out)
{
    size_t start = out->len;
    bool ok = tl_buf_printf(out, "%s%d\n", MAGIC, TL_STATEFILE_VERSION);
    for (size_t i = 0; ok && i < s->n; i++) {
        const struct entry *e = &s->e[i];
        ok = tl_buf_printf(out, "%zu %zu ", e->klen, e->vlen) &&
             tl_buf_append(out, e->key, e->klen) && tl_buf_putc(out, ' ') &&
             tl_buf_append(out, e->val, e->vlen) && tl_buf_putc(out, '\n');
    }
    uint32_t crc = tl_crc32c(0, out->data + start, out->len - start);
    return ok && tl_buf_printf(out, "end %zu %08x\n", s->n, crc);
}

/* ---- decoding ---- */

struct reader {
    const uint8_t *p;
    size_t n;
    size_t at;
    char *why;
    size_t whylen;
};

static bool bad(struct reader *r, const char *what)
{
    snprintf(r->why, r->whylen, "%s at offset %zu", what, r->at);
    return false;
}

/* A decimal number without leading zeros, at most max (<= SIZE_MAX / 10 - 9), then the byte
 * end. */
static bool number(struct reader *r, size_t max, uint8_t end, const char *what, size_t *out)
{
    size_t v = 0;
    size_t start = r->at;
    while (r->at < r->n && r->p[r->at] >= '0' && r->p[r->at] <= '9') {
        v = v * 10 + (size_t)(r->p[r->at] - '0');
        r->at++;
        if (v > max) {
            r->at = start;
            char m[96];
            snprintf(m, sizeof(m), "%s larger than %zu", what, max);
            return bad(r, m);
        }
    }
    if (r->at == start || (r->p[start] == '0' && r->at - start > 1)) {
        r->at = start;
        char m[96];
        snprintf(m, sizeof(m), "%s is not a decimal number", what);
        return bad(r, m);
    }
    if (r->at >= r->n) {
        return bad(r, "file cut short");
    }
    if (r->p[r->at] != end) {
        char m[96];
        snprintf(m, sizeof(m), "unexpected byte after %s", what);
        return bad(r, m);
    }
    r->at++;
    *out = v;
    return true;
}

static bool expect(struct reader *r, uint8_t c, const char *what)
{
    if (r->at >= r->n) {
        return bad(r, "file cut short");
    }
    if (r->p[r->at] != c) {
        return bad(r, what);
    }
    r->at++;
    return true;
}

/* Parses a whole file image into s (emptied first). why gets the reason on failure. */
static bool decode(struct tl_statefile *s, const uint8_t *p, size_t n, char *why, size_t whylen)
{
    struct reader r = { p, n, 0, why, whylen };
    size_t version;
    size_t count = 0;

    clear(s);
    if (n == 0) {
        return bad(&r, "the file is empty");
    }
    if (n < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0) {
        return bad(&r, "not a tlslogd state file (no 'tlslogd-state' line)");
    }
    r.at = MAGIC_LEN;
    if (!number(&r, 999999, '\n', "format version", &version)) {
        return false;
    }
    if (version != TL_STATEFILE_VERSION) {
        char m[96];
        r.at = MAGIC_LEN;
        snprintf(m, sizeof(m), "written in format %zu, which this tlslogd (format %d) %s",
                 version, TL_STATEFILE_VERSION,
                 version > TL_STATEFILE_VERSION ? "predates" : "does not know");
        return bad(&r, m);
    }
    for (;;) {
        if (n - r.at >= 4 && memcmp(p + r.at, "end ", 4) == 0) {
            break;
        }
        size_t klen;
        size_t vlen;
        size_t entry_at = r.at;
        if (!number(&r, TL_STATEFILE_KEY_MAX, ' ', "key length", &klen) ||
            !number(&r, TL_STATEFILE_VALUE_MAX, ' ', "value length", &vlen)) {
            return false;
        }
        if (klen == 0) {
            r.at = entry_at;
            return bad(&r, "empty key");
        }
        if (n - r.at < klen + 1 + vlen + 1) {
            return bad(&r, "file cut short inside an entry");
        }
        const char *key = (const char *)p + r.at;
        if (memchr(key, '\0', klen)) {
            return bad(&r, "NUL byte in a key");
        }
        if (s->n > 0 && keycmp((const uint8_t *)s->e[s->n - 1].key, s->e[s->n - 1].klen,
                               (const uint8_t *)key, klen) >= 0) {
            return bad(&r, "key repeated or out of order");
        }
        r.at += klen;
        if (!expect(&r, ' ', "no space between key and value")) {
            return false;
        }
        const uint8_t *val = p + r.at;
        r.at += vlen;
        if (!expect(&r, '\n', "entry not ended by a line feed")) {
            return false;
        }
        /* In key order, so set appends. */
        if (!set(s, key, klen, val, vlen)) {
            r.at = entry_at;
            return bad(&r, "out of memory (or over the size limit) reading an entry");
        }
    }
    size_t end_at = r.at;
    size_t crc_file;
    r.at += 4;
    if (!number(&r, TL_STATEFILE_FILE_MAX, ' ', "entry count", &count)) {
        return false;
    }
    if (n - r.at < 9) {
        return bad(&r, "file cut short in its last line");
    }
    crc_file = 0;
    for (size_t k = 0; k < 8; k++) {
        uint8_t c = p[r.at + k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return bad(&r, "CRC is not 8 lower-case hex digits");
        }
        crc_file = crc_file << 4 | (size_t)d;
    }
    r.at += 8;
    if (!expect(&r, '\n', "last line not ended by a line feed")) {
        return false;
    }
    if (r.at != n) {
        return bad(&r, "bytes after the last line");
    }
    uint32_t crc = tl_crc32c(0, p, end_at);
    if (crc != crc_file) {
        char m[96];
        r.at = end_at;
        snprintf(m, sizeof(m), "CRC mismatch (file says %08zx, contents give %08x)", crc_file,
                 crc);
        return bad(&r, m);
    }
    if (count != s->n) {
        char m[96];
        r.at = end_at;
        snprintf(m, sizeof(m), "entry count mismatch (file says %zu, holds %zu)", count, s->n);
        return bad(&r, m);
    }
    return true;
}

bool tl_statefile_decode(struct tl_statefile *s, const uint8_t *p, size_t n, char *why,
                         size_t whylen)
{
    bool ok = decode(s, p, n, why, whylen);
    if (!ok) {
        clear(s);
    }
    s->dirty = false;
    return ok;
}

/* ---- files ---- */

/* The directory of path, for fsync after the rename. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        return strdup(".");
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static char *with_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path);
    size_t m = strlen(suffix);
    char *p = malloc(n + m + 1);
    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, suffix, m + 1);
    }
    return p;
}

/* Reads the whole file; ENOENT is a first start, not an error. */
static enum tl_statefile_rc read_file(const char *path, struct tl_buf *b, struct tl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        return TL_STATEFILE_NONE;
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        TL_ERR_SYS(err, TL_E_IO, errno, "let the daemon's user read and write state_dir",
                   "state file %s cannot be read: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return TL_STATEFILE_ERROR;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > TL_STATEFILE_FILE_MAX) {
        TL_ERR(err, TL_E_CONFIG, "remove it, or point state_dir elsewhere", "state file %s is %s",
               path, S_ISREG(st.st_mode) ? "larger than 16 MiB" : "not a regular file");
        close(fd);
        return TL_STATEFILE_ERROR;
    }
    tl_buf_init(b, TL_STATEFILE_FILE_MAX + 1);
    if (!tl_buf_reserve(b, (size_t)st.st_size + 1)) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "state file %s: out of memory reading it", path);
        close(fd);
        return TL_STATEFILE_ERROR;
    }
    for (;;) {
        if (b->len == b->cap && !tl_buf_reserve(b, 4096)) {
            TL_ERR(err, TL_E_CONFIG, NULL, "state file %s grew past 16 MiB while being read",
                   path);
            close(fd);
            return TL_STATEFILE_ERROR;
        }
        ssize_t r = read(fd, b->data + b->len, b->cap - b->len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            TL_ERR_SYS(err, TL_E_IO, errno, NULL, "state file %s cannot be read: %s", path,
                       strerror(errno));
            close(fd);
            return TL_STATEFILE_ERROR;
        }
        if (r == 0) {
            break;
        }
        b->len += (size_t)r;
    }
    close(fd);
    return TL_STATEFILE_OK;
}

enum tl_statefile_rc tl_statefile_load(struct tl_statefile *s, struct tl_err *err)
{
    struct tl_buf b = { 0 };
    char why[256];

    clear(s);
    s->dirty = false;
    /* A temporary file is what a crash during a save leaves; PATH still holds the state
     * before that save. */
    char *tmp = with_suffix(s->path, ".tmp");
    if (tmp) {
        (void)unlink(tmp);
        free(tmp);
    }
    enum tl_statefile_rc rc = read_file(s->path, &b, err);
    if (rc != TL_STATEFILE_OK) {
        tl_buf_fini(&b);
        return rc;
    }
    if (tl_statefile_decode(s, b.data, b.len, why, sizeof(why))) {
        tl_buf_fini(&b);
        return TL_STATEFILE_OK;
    }
    tl_buf_fini(&b);
    char *aside = with_suffix(s->path, ".bad");
    if (aside && rename(s->path, aside) == 0) {
        TL_ERR(err, TL_E_IO, NULL, "state file %s is damaged: %s; not used, kept as %s", s->path,
               why, aside);
    } else {
        TL_ERR(err, TL_E_IO, NULL, "state file %s is damaged: %s; not used (and it could not be "
               "moved aside: %s)", s->path, why, aside ? strerror(errno) : "out of memory");
    }
    free(aside);
    return TL_STATEFILE_DAMAGED;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

enum tl_rc tl_statefile_save(struct tl_statefile *s, struct tl_err *err)
{
    struct tl_buf b;
    const char *step = "out of memory";
    char *tmp = with_suffix(s->path, ".tmp");
    char *dir = dir_of(s->path);
    int fd = -1;
    int dfd = -1;
    int rc;
    bool ok = false;
    int e = ENOMEM;

    tl_buf_init(&b, TL_STATEFILE_FILE_MAX);
    if (!tmp || !dir || !tl_statefile_encode(s, &b)) {
        goto out;
    }
    step = "cannot create its temporary file";
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        e = errno;
        goto out;
    }
    step = "cannot write its temporary file";
    if (!write_all(fd, b.data, b.len)) {
        e = errno;
        goto out;
    }
    step = "cannot sync its temporary file";
    if (fsync(fd) != 0) {
        e = errno;
        goto out;
    }
    step = "cannot close its temporary file";
    rc = close(fd);
    fd = -1;
    if (rc != 0) {
        e = errno;
        goto out;
    }
    step = "cannot rename its temporary file over it";
    if (rename(tmp, s->path) != 0) {
        e = errno;
        goto out;
    }
    /* The rename is durable only once the directory is. */
    step = "cannot sync its directory";
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        e = errno;
        goto out;
    }
    ok = true;
    s->dirty = false;
out:
    if (!ok) {
        TL_ERR_SYS(err, e == ENOMEM ? TL_E_RESOURCE : TL_E_IO, e, tl_write_remedy(e),
                   "state file %s: %s: %s", s->path, step, strerror(e));
        if (fd >= 0) {
            close(fd);
        }
        if (tmp) {
            (void)unlink(tmp);
        }
    }
    if (dfd >= 0) {
        close(dfd);
    }
    free(tmp);
    free(dir);
    tl_buf_fini(&b);
    return ok ? TL_OK : (e == ENOMEM ? TL_E_RESOURCE : TL_E_IO);
}
