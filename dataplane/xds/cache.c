/*
 * cache.c -- the on-disk copy of the last good resource set, read on a cold
 * start without a control node. Format (little-endian u32 fields):
 *   "DPXDSC1\n"
 *   records: u32 kind (0..3 a resource of that type, 0x100+t the version of
 *            type t), u32 name length, name, u32 version length, version,
 *            u32 data length, data
 *   trailer: u32 0xffffffff, u32 record count, u32 CRC-32 of all before
 * Written atomically (temporary file, fsync, rename, fsync of the
 * directory); a torn or corrupt file fails the CRC or the framing and is
 * ignored. Client thread or tests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"

#define MAGIC     "DPXDSC1\n"
#define MAGIC_LEN 8
#define KIND_VER  0x100u
#define TRAILER   0xffffffffu
#define CACHE_MAX (256u << 20) /* refuse larger files */

/* Slice-by-8 tables of the reflected CRC-32 polynomial: tab[0] is the
 * classic byte table, tab[k][i] advances tab[k-1][i] by one zero byte. */
static void crc32_tables(uint32_t tab[8][256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            tab[k][i] = (tab[k - 1][i] >> 8) ^ tab[0][tab[k - 1][i] & 0xffu];
}

uint32_t dp_xds__crc32(const uint8_t *p, size_t n)
{
    uint32_t tab[8][256]; /* 8 KiB, built per call: negligible next to n */
    uint32_t c = 0xffffffffu;
    size_t i = 0;

    crc32_tables(tab);
    for (; i + 8 <= n; i += 8) {
        uint32_t lo = c ^ ((uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
                           (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24);
        c = tab[7][lo & 0xffu] ^ tab[6][(lo >> 8) & 0xffu] ^
            tab[5][(lo >> 16) & 0xffu] ^ tab[4][lo >> 24] ^ tab[3][p[i + 4]] ^
            tab[2][p[i + 5]] ^ tab[1][p[i + 6]] ^ tab[0][p[i + 7]];
    }
    for (; i < n; i++)
        c = (c >> 8) ^ tab[0][(c ^ p[i]) & 0xffu];
    return c ^ 0xffffffffu;
}

/* ==== encoding ==== */

struct buf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
};

static void buf_put(struct buf *b, const void *data, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void buf_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    buf_put(b, x, 4);
}

static void buf_rec(struct buf *b, uint32_t kind, const char *name,
                    const char *ver, const uint8_t *data, size_t len)
{
    buf_u32(b, kind);
    buf_u32(b, (uint32_t)strlen(name));
    buf_put(b, name, strlen(name));
    buf_u32(b, (uint32_t)strlen(ver));
    buf_put(b, ver, strlen(ver));
    buf_u32(b, (uint32_t)len);
    buf_put(b, data, len);
}

int dp_xds__cache_encode(const struct dp_xds__set *s, uint8_t **out,
                         size_t *len)
{
    struct buf b = {0};
    uint32_t count = 0;
    buf_put(&b, MAGIC, MAGIC_LEN);
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        for (size_t i = 0; i < s->n[t]; i++, count++) {
            const struct dp_xds__res *r = s->v[t][i];
            buf_rec(&b, (uint32_t)t, r->name, r->version, r->data, r->len);
        }
        if (s->version[t] != NULL) {
            buf_rec(&b, KIND_VER + (uint32_t)t, "", s->version[t], NULL, 0);
            count++;
        }
    }
    buf_u32(&b, TRAILER);
    buf_u32(&b, count);
    buf_u32(&b, b.oom ? 0 : dp_xds__crc32(b.p, b.n));
    if (b.oom) {
        free(b.p);
        return GW_ENOMEM;
    }
    *out = b.p;
    *len = b.n;
    return GW_OK;
}

/* ==== decoding ==== */

struct rd {
    const uint8_t *p;
    size_t n, off;
};

static bool rd_u32(struct rd *r, uint32_t *v)
{
    if (r->n - r->off < 4)
        return false;
    const uint8_t *p = r->p + r->off;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
    r->off += 4;
    return true;
}

/* A length-prefixed field; returns a NUL-terminated copy (free()). */
static char *rd_str(struct rd *r)
{
    uint32_t l;
    if (!rd_u32(r, &l) || r->n - r->off < l)
        return NULL;
    char *s = strndup((const char *)r->p + r->off, l);
    r->off += l;
    return s;
}

static int rd_record(struct rd *r, uint32_t kind, struct dp_xds__set *s,
                     char *err, size_t errlen)
{
    char *name = rd_str(r), *ver = rd_str(r);
    uint32_t dl = 0;
    int rc = GW_EPROTO;
    if (name == NULL || ver == NULL || !rd_u32(r, &dl) || r->n - r->off < dl) {
        cm_err_set(err, errlen, GW_EPROTO, "cache: truncated record");
        goto done;
    }
    const uint8_t *data = r->p + r->off;
    r->off += dl;
    if (kind >= KIND_VER && kind < KIND_VER + DP_XDS_TYPE_COUNT) {
        rc = dp_xds__set_version(s, (enum dp_xds_type)(kind - KIND_VER), ver);
    } else if (kind < DP_XDS_TYPE_COUNT) {
        struct dp_xds__res *res = dp_xds__res_new((enum dp_xds_type)kind, name,
                                                  ver, data, dl, err, errlen);
        rc = res ? dp_xds__set_put(s, res) : GW_EPROTO;
    } else {
        cm_err_set(err, errlen, GW_EPROTO, "cache: unknown record kind %u",
                   kind);
    }
done:
    free(name);
    free(ver);
    return rc;
}

int dp_xds__cache_decode(const uint8_t *data, size_t len, struct dp_xds__set *s,
                         char *err, size_t errlen)
{
    if (len < MAGIC_LEN + 12 || memcmp(data, MAGIC, MAGIC_LEN) != 0)
        return cm_err_set(err, errlen, GW_EPROTO, "cache: bad magic");
    struct rd r = {data, len - 12, MAGIC_LEN};
    struct rd tr = {data, len, len - 12};
    uint32_t mark = 0, count = 0, crc = 0;
    (void)(rd_u32(&tr, &mark) && rd_u32(&tr, &count) && rd_u32(&tr, &crc));
    if (mark != TRAILER || crc != dp_xds__crc32(data, len - 4))
        return cm_err_set(err, errlen, GW_EPROTO,
                          "cache: torn or corrupt (checksum mismatch)");
    uint32_t seen = 0, kind;
    int rc = GW_OK;
    while (rc == 0 && r.off < r.n) {
        rc = rd_u32(&r, &kind) ? rd_record(&r, kind, s, err, errlen)
                               : cm_err_set(err, errlen, GW_EPROTO,
                                            "cache: truncated record");
        seen++;
    }
    if (rc == 0 && seen != count)
        rc = cm_err_set(err, errlen, GW_EPROTO,
                        "cache: %u records, trailer says %u", seen, count);
    if (rc == 0)
        rc = dp_xds__set_gc(s);
    if (rc != 0)
        dp_xds__set_deinit(s);
    return rc;
}

/* ==== files ==== */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    int rc = fsync(fd) == -1 ? -errno : 0;
    close(fd);
    return rc;
}

int dp_xds__cache_write(const char *dir, const struct dp_xds__set *s, char *err,
                        size_t errlen)
{
    uint8_t *img;
    size_t n;
    if (dp_xds__cache_encode(s, &img, &n) != 0)
        return cm_err_set(err, errlen, GW_ENOMEM, "cache: out of memory");
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, DP_XDS_CACHE_FILE);
    snprintf(dst, sizeof(dst), "%s/%s", dir, DP_XDS_CACHE_FILE);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd == -1) {
        free(img);
        return cm_err_set(err, errlen, GW_EIO, "cache: %s: %s", tmp,
                          strerror(errno));
    }
    int rc = write_all(fd, img, n);
    if (rc == 0 && fsync(fd) == -1)
        rc = -errno;
    if (close(fd) == -1 && rc == 0)
        rc = -errno;
    free(img);
    if (rc == 0 && rename(tmp, dst) == -1)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return cm_err_set(err, errlen, GW_EIO, "cache: writing %s: %s", dst,
                          strerror(-rc));
    }
    rc = fsync_dir(dir);
    if (rc != 0)
        return cm_err_set(err, errlen, GW_EIO, "cache: fsync %s: %s", dir,
                          strerror(-rc));
    return GW_OK;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? GW_ENOENT : GW_EIO;
    struct stat st;
    if (fstat(fd, &st) == -1 || st.st_size > CACHE_MAX) {
        close(fd);
        return GW_EIO;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *p = malloc(n ? n : 1);
    while (p != NULL && got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (p == NULL)
        return GW_ENOMEM;
    *out = p;
    *len = got;
    return GW_OK;
}

int dp_xds__cache_read(const char *dir, struct dp_xds__set *s, char *err,
                       size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, DP_XDS_CACHE_FILE);
    uint8_t *img;
    size_t n;
    int rc = read_file(path, &img, &n);
    if (rc != 0)
        return cm_err_set(err, errlen, rc, "cache: %s: %s", path,
                          rc == GW_ENOENT ? "none" : "cannot read");
    rc = dp_xds__cache_decode(img, n, s, err, errlen);
    free(img);
    return rc;
}
