/*
 * filter_htpasswd_fuzz.c -- libFuzzer target: the input is one htpasswd
 * entry ("user:hash", as in BasicAuth.users) compiled through
 * dp_filter_chain_build(); when it compiles, a login with the user and the
 * input's tail as password exercises the hash check. bcrypt costs above 6
 * are skipped (slow by design, not a bug).
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter.h"
#include "traefikee/filters/v1/filters.pb-c.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void login(const struct dp_filter_chain *ch, const char *cred)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char hdr[300] = "Basic ", buf[512];
    struct dp_router_hdr h = {{"authorization", 13}, {hdr, 0}};
    struct dp_router_req rq = {.path = {"/", 1}, .hdrs = &h, .n_hdrs = 1};
    struct dp_filter_req req = {.rq = &rq, .peer = (struct sockaddr *)&sa};
    struct dp_filter_ctx ctx;
    size_t n = strlen(cred), o = 6;

    for (size_t i = 0; i < n && o + 4 < sizeof(hdr); i += 3) {
        unsigned w = (unsigned)(uint8_t)cred[i] << 16;
        w |= i + 1 < n ? (unsigned)(uint8_t)cred[i + 1] << 8 : 0;
        w |= i + 2 < n ? (uint8_t)cred[i + 2] : 0;
        hdr[o++] = b64[(w >> 18) & 63];
        hdr[o++] = b64[(w >> 12) & 63];
        hdr[o++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
        hdr[o++] = i + 2 < n ? b64[w & 63] : '=';
    }
    h.value.len = o;
    dp_filter_ctx_init(&ctx, buf, sizeof(buf));
    dp_filter_request(ch, &req, &ctx);
    dp_filter_end(&ctx, 200, 0);
}

static bool slow_bcrypt(const char *s)
{
    const char *h = strchr(s, ':');

    return h != NULL && h[1] == '$' && h[2] == '2' && strlen(h) > 6 &&
           ((h[5] - '0') * 10 + (h[6] - '0')) > 6;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Traefikee__Filters__V1__BasicAuth m =
        TRAEFIKEE__FILTERS__V1__BASIC_AUTH__INIT;
    static const char url[] =
        "type.googleapis.com/traefikee.filters.v1.BasicAuth";
    struct dp_route_filter_config fc;
    struct dp_filter_registry *reg;
    struct dp_filter_chain *ch = NULL;
    struct dp_route rt = {.name = {"r", 1}, .vhost = {"v", 1}};
    char err[CM_ERR_LEN], cred[200];
    char *user = malloc(size + 1), *c;
    uint8_t *pb = malloc(size + 64);

    if (user == NULL || pb == NULL || size > 180)
        goto out;
    memcpy(user, data, size);
    user[size] = '\0';
    if (slow_bcrypt(user) || (reg = dp_filter_registry_new()) == NULL)
        goto out;
    m.users = &user;
    m.n_users = 1;
    fc.filter = (struct dp_router_slice){DP_FILTER_N_BASIC_AUTH,
                                         strlen(DP_FILTER_N_BASIC_AUTH)};
    fc.type_url = (struct dp_router_slice){url, sizeof(url) - 1};
    fc.value = (struct dp_router_slice){
        (char *)pb, traefikee__filters__v1__basic_auth__pack(&m, pb)};
    rt.filter_configs = &fc;
    rt.n_filter_configs = 1;
    if (dp_filter_chain_build(&rt, reg, NULL, &ch, err, sizeof(err)) == 0) {
        c = strchr(user, ':');
        memcpy(cred, user, (size_t)(c - user) + 1);
        strcpy(cred + (c - user) + 1, size > 8 ? user + size - 8 : "pw");
        login(ch, cred);
        login(ch, user);
        dp_filter_chain_free(ch);
    }
    dp_filter_registry_free(reg);
out:
    free(pb);
    free(user);
    return 0;
}
