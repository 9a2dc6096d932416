/*
 * translate.c -- `traefikeectl translate -f FILE [-o json]`: loads a
 * configuration file (YAML or JSON), translates it with common/xds exactly
 * as a control node would, and prints the xDS resources as JSON. Local
 * only: no control node is contacted.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/xds/xds.h"
#include "tools/traefikeectl/traefikeectl.h"

static void translate_usage(FILE *f)
{
    fprintf(f, "usage: traefikeectl translate -f FILE [-o json] "
               "[--version LABEL]\n\n"
               "Prints the xDS resources (listeners, routes, clusters, "
               "endpoints) the\nconfiguration FILE (YAML or JSON) becomes, "
               "as JSON, without applying it.\n\n"
               "  -f, --file FILE     configuration to translate ('-': "
               "stdin)\n"
               "  -o, --output FMT    json (default), or wire: one line "
               "per resource,\n"
               "                      \"TYPE_URL NAME BASE64-PROTOBUF\"\n"
               "      --version LABEL version label of the resources "
               "(default \"0\")\n"
               "  -h, --help          this help\n");
}

static struct cm_config *load(const char *path, char *err, size_t errlen)
{
    if (strcmp(path, "-") != 0)
        return cm_config_load_file(path, err, errlen);
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, stdin);
        if (n < cap)
            break;
        char *b = realloc(buf, cap * 2);
        if (b == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct cm_config *cfg = cm_config_parse(buf, n, err, errlen);
    free(buf);
    return cfg;
}

static void base64(const uint8_t *d, size_t n)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        v |= i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0;
        v |= i + 2 < n ? d[i + 2] : 0;
        putchar(t[(v >> 18) & 63]);
        putchar(t[(v >> 12) & 63]);
        putchar(i + 1 < n ? t[(v >> 6) & 63] : '=');
        putchar(i + 2 < n ? t[v & 63] : '=');
    }
}

/* -o wire: one line per resource, "TYPE_URL NAME BASE64", for tests that
 * decode the bytes with other implementations (integration/translate). */
static int print_wire(const struct cm_xds_resources *res)
{
    for (int t = 0; t < CM_XDS_NTYPES; t++) {
        for (size_t i = 0; i < cm_xds_count(res, t); i++) {
            uint8_t *buf;
            size_t len;
            if (cm_xds_encode(cm_xds_get(res, t, i), &buf, &len) != 0) {
                fprintf(stderr, "traefikeectl: translate: out of memory\n");
                return 1;
            }
            printf("%s %s ", cm_xds_type_url(t), cm_xds_name(res, t, i));
            base64(buf, len);
            putchar('\n');
            free(buf);
        }
    }
    return 0;
}

static int print(const struct cm_xds_resources *res)
{
    json_t *j = cm_xds_to_json(res);
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (s == NULL) {
        fprintf(stderr, "traefikeectl: translate: out of memory\n");
        return 1;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}

int tctl_translate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"version", required_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        /* global options, meaningless here (no server is called) */
        {"insecure", no_argument, NULL, 'G'},
        {"bundle", required_argument, NULL, 'G'},
        {"control", required_argument, NULL, 'G'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *version = "0";
    int wire = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'o':
            wire = strcmp(optarg, "wire") == 0;
            if (strcmp(optarg, "json") != 0 && !wire) {
                fprintf(stderr,
                        "traefikeectl: translate: unknown output "
                        "format '%s' (json or wire)\n",
                        optarg);
                return 1;
            }
            break;
        case 'V':
            version = optarg;
            break;
        case 'h':
            translate_usage(stdout);
            return 0;
        case 'G':
            break;
        default:
            translate_usage(stderr);
            return 1;
        }
    }
    if (file == NULL || optind != argc) {
        fprintf(stderr, "traefikeectl: translate: -f FILE is required "
                        "(try --help)\n");
        return 1;
    }
    char err[CM_ERR_LEN];
    struct cm_config *cfg = load(file, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "traefikeectl: translate: %s: %s\n", file, err);
        return 1;
    }
    struct cm_xds_resources *res =
        cm_xds_translate(cfg, version, err, sizeof(err));
    cm_config_free(cfg);
    if (res == NULL) {
        fprintf(stderr, "traefikeectl: translate: %s: %s\n", file, err);
        return 1;
    }
    int rc = wire ? print_wire(res) : print(res);
    cm_xds_resources_free(res);
    return rc;
}
