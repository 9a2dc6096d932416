/* integration/wire/wire_main.c: the C side of the wire test.
 *
 *   wire write DIR   for each covered type T: DIR/T.c.bin (our encoding of
 *                    the built message) and DIR/T.json (its values)
 *   wire check DIR   for each T: decode DIR/T.node.bin (Envoy's encoding,
 *                    from wire_test.js), require no unknown fields, compare
 *                    field by field with the built message, re-encode and
 *                    require the same bytes
 *
 * Prints "ok T" or "FAIL T: reason" per type; exit status 1 on any failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integration/wire/wire.h"

#define WIRE_WHY_LEN 1024

static int write_file(const char *dir, const char *name, const char *ext,
                      const void *p, size_t n, char *why)
{
    char path[4096];
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
    f = fopen(path, "wb");
    if (f == NULL) {
        snprintf(why, WIRE_WHY_LEN, "%.900s: %s", path, strerror(errno));
        return -1;
    }
    if (n && fwrite(p, 1, n, f) != n)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        snprintf(why, WIRE_WHY_LEN, "%.900s: write failed", path);
    return rc;
}

/* Returns new bytes (free with free()) in *out, length in *n. */
static int read_file(const char *dir, const char *name, const char *ext,
                     uint8_t **out, size_t *n, char *why)
{
    char path[4096];
    FILE *f;
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;

    snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, WIRE_WHY_LEN, "%.900s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap ? 2 * cap : 65536);
            if (nb == NULL)
                break;
            buf = nb;
            cap = cap ? 2 * cap : 65536;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f) || len == cap) {
        fclose(f);
        free(buf);
        snprintf(why, WIRE_WHY_LEN, "%.900s: read failed", path);
        return -1;
    }
    fclose(f);
    *out = buf;
    *n = len;
    return 0;
}

static int write_one(const struct wire_type *t, const char *dir, char *why)
{
    struct wire_arena *a = wire_arena_new();
    ProtobufCMessage *m = t->build(a);
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    json_t *j = wire_to_json(m);
    char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    int rc = -1;

    if (buf == NULL || text == NULL) {
        snprintf(why, WIRE_WHY_LEN, "out of memory or JSON conversion failed");
        goto out;
    }
    protobuf_c_message_pack(m, buf);
    if (write_file(dir, t->name, ".c.bin", buf, n, why) != 0 ||
        write_file(dir, t->name, ".json", text, strlen(text), why) != 0)
        goto out;
    rc = 0;
out:
    free(text);
    json_decref(j);
    free(buf);
    wire_arena_free(a);
    return rc;
}

static int check_bytes(const uint8_t *in, size_t n, const ProtobufCMessage *m,
                       char *why)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *again = malloc(len ? len : 1);
    size_t i;
    int rc = 0;

    if (again == NULL) {
        snprintf(why, WIRE_WHY_LEN, "out of memory");
        return -1;
    }
    protobuf_c_message_pack(m, again);
    if (len != n || memcmp(again, in, n) != 0) {
        for (i = 0; i < n && i < len && again[i] == in[i]; i++)
            ;
        snprintf(why, WIRE_WHY_LEN,
                 "re-encoding differs (%zu vs %zu bytes, first at byte %zu)",
                 len, n, i);
        rc = -1;
    }
    free(again);
    return rc;
}

static int check_one(const struct wire_type *t, const char *dir, char *why)
{
    struct wire_arena *a = wire_arena_new();
    ProtobufCMessage *want = t->build(a);
    ProtobufCMessage *got = NULL;
    uint8_t *in = NULL;
    size_t n = 0;
    char sub[WIRE_WHY_LEN - 32];
    int rc = -1;

    if (read_file(dir, t->name, ".node.bin", &in, &n, why) != 0)
        goto out;
    got = protobuf_c_message_unpack(t->desc, NULL, n, in);
    if (got == NULL) {
        snprintf(why, WIRE_WHY_LEN, "protobuf-c cannot decode Envoy's bytes");
        goto out;
    }
    if (wire_no_unknown(got, sub, sizeof(sub)) != 0) {
        snprintf(why, WIRE_WHY_LEN, "unknown fields: %s", sub);
        goto out;
    }
    if (wire_equal(got, want, sub, sizeof(sub)) != 0) {
        snprintf(why, WIRE_WHY_LEN, "value mismatch: %s", sub);
        goto out;
    }
    rc = check_bytes(in, n, got, why);
out:
    if (got)
        protobuf_c_message_free_unpacked(got, NULL);
    free(in);
    wire_arena_free(a);
    return rc;
}

int main(int argc, char **argv)
{
    int (*run)(const struct wire_type *, const char *, char *);
    char why[WIRE_WHY_LEN];
    int failed = 0;
    size_t i;

    if (argc != 3 ||
        (strcmp(argv[1], "write") != 0 && strcmp(argv[1], "check") != 0)) {
        fprintf(stderr, "usage: %s write|check DIR\n", argv[0]);
        return 2;
    }
    run = strcmp(argv[1], "write") == 0 ? write_one : check_one;
    for (i = 0; i < wire_n_types; i++) {
        why[0] = '\0';
        if (run(&wire_types[i], argv[2], why) != 0) {
            printf("FAIL %s: %s%s\n", wire_types[i].name,
                   run == check_one ? "node->c: " : "", why);
            failed = 1;
        } else {
            printf("ok %s\n", wire_types[i].name);
        }
    }
    return failed;
}
