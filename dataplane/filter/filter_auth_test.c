/*
 * filter_auth_test.c -- basicAuth: every htpasswd format against vectors
 * made by `openssl passwd -apr1/-1`, `openssl dgst -sha1 | base64` and
 * crypt(3)/OpenBSD bcrypt vectors; realm, removeHeader, Traefik's header
 * parsing, duplicate users, NACK messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/filter/filter_testlib.h"

#define FV1(x) Traefikee__Filters__V1__##x

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* "Basic " + base64(s) */
static void basic(const char *s, char *out)
{
    size_t n = strlen(s), o = 6;

    memcpy(out, "Basic ", 6);
    for (size_t i = 0; i < n; i += 3) {
        unsigned w = (unsigned)(uint8_t)s[i] << 16;
        if (i + 1 < n)
            w |= (unsigned)(uint8_t)s[i + 1] << 8;
        if (i + 2 < n)
            w |= (uint8_t)s[i + 2];
        out[o++] = b64[(w >> 18) & 63];
        out[o++] = b64[(w >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[w & 63] : '=';
    }
    out[o] = '\0';
}

static char *users[] = {
    "apr:$apr1$xxxxxxxx$dxHfLAsjHkDRmG83UXe8K0",
    "md5:$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
    "sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
    "bc:$2y$05$1rW4fhLqQm29aQBNr0e5IOZnitoU1zucmCaIhvtNfI7FDHPasYWWi",
    "bcempty:$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.",
    "a0:$apr1$ab.d/Z9$loLe6HqLazbTbiRvmvJ/S1",
    "a1:$apr1$ab.d/Z9$rv9tnY5GlJwcNJKfRstTe.",
    "a2:$apr1$ab.d/Z9$8s.cismJ1kOE/qnYRAB5R/",
    "a3:$apr1$ab.d/Z9$cxDwcaNqZiyne7nX6HxbZ0",
    "m0:$1$Q$Q4XWw2vTkzzm0e13tGUrr1",
    "m1:$1$Q$3jvC08MK8nrVLJvL2Z70.1",
    "m2:$1$Q$i8LEnmov1Y14GJwrq4M.J.",
    "m3:$1$Q$9jYm2KxkTXAfTveuJBhUv/",
    "sha2:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=",
    "dup:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", /* "test", overridden below */
    "dup:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", /* "password" */
};

static struct dp_filter_chain *auth(struct ft_route *r,
                                    struct dp_filter_registry *reg, char **u,
                                    size_t n, const char *realm, bool remove,
                                    char *err)
{
    FV1(BasicAuth) m = TRAEFIKEE__FILTERS__V1__BASIC_AUTH__INIT;

    m.users = u;
    m.n_users = n;
    m.realm = (char *)realm;
    m.remove_header = remove;
    ft_route_init(r, "r", "v");
    ft_route_add(r, DP_FILTER_N_BASIC_AUTH, "BasicAuth", &m.base);
    return ft_chain(r, reg, err);
}

/* 200 or the status; <hdr> the raw Authorization value or NULL. */
static int check(const struct dp_filter_chain *ch, const char *hdr,
                 bool *dropped)
{
    struct ft_req q;
    int v;

    ft_req_init(&q, "GET", "h", "/", "1.2.3.4");
    if (hdr != NULL)
        ft_req_hdr(&q, "Authorization", hdr);
    v = ft_run(&q, ch) == DP_FILTER_CONTINUE ? 200 : q.ctx.status;
    if (dropped != NULL)
        *dropped = q.ctx.drop_authorization;
    if (v == 401) {
        assert_string_equal(ft_resp_hdr(&q, "WWW-Authenticate"),
                            "Basic realm=\"traefik\"");
        assert_memory_equal(q.ctx.body.ptr, "401 Unauthorized\n", 17);
    }
    dp_filter_end(&q.ctx, 200, q.req.now_ns);
    ft_req_deinit(&q);
    return v;
}

static int login(const struct dp_filter_chain *ch, const char *user,
                 const char *pw)
{
    char cred[256], hdr[400];

    snprintf(cred, sizeof(cred), "%s:%s", user, pw);
    basic(cred, hdr);
    return check(ch, hdr, NULL);
}

static void test_formats(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch =
        auth(&r, reg, users, sizeof(users) / sizeof(*users), "", false, err);
    static const struct {
        const char *u, *pw;
    } ok[] = {
        {"apr", "password"},
        {"md5", "password"},
        {"sha", "password"},
        {"bc", "password"},
        {"bcempty", ""},
        {"a0", ""},
        {"a1", "a"},
        {"a2", "0123456789abcdefXYZ"},
        {"a3", "correct horse battery staple, very long password over 32"},
        {"m0", ""},
        {"m1", "a"},
        {"m2", "0123456789abcdefXYZ"},
        {"m3", "correct horse battery staple, very long password over 32"},
        {"sha2", "test"},
        {"dup", "password"},
        {"bob:", "x"}, /* placeholder, checked below as a failure */
    };

    assert_non_null(ch);
    for (size_t i = 0; i + 1 < sizeof(ok) / sizeof(*ok); i++) {
        assert_int_equal(login(ch, ok[i].u, ok[i].pw), 200);
        assert_int_equal(login(ch, ok[i].u, "wrong"), 401);
    }
    assert_int_equal(login(ch, "dup", "test"), 401); /* the last entry wins */
    assert_int_equal(login(ch, "nobody", "password"), 401);
    assert_int_equal(login(ch, "bc", "Password"), 401);
    assert_int_equal(login(ch, "sha", "password:extra"), 401);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_header_parsing(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *u[] = {"admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="};
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch = auth(&r, reg, u, 1, NULL, false, err);
    bool dropped = true;

    assert_non_null(ch);
    /* admin:password */
    assert_int_equal(check(ch, "Basic YWRtaW46cGFzc3dvcmQ=", &dropped), 200);
    assert_false(dropped);
    assert_int_equal(check(ch, "basic YWRtaW46cGFzc3dvcmQ=", NULL), 200);
    assert_int_equal(check(ch, "Basic YWRtaW46cGFzc3dvcmQ", NULL), 401);
    assert_int_equal(check(ch, "Basic  YWRtaW46cGFzc3dvcmQ=", NULL), 401);
    assert_int_equal(check(ch, "Bearer YWRtaW46cGFzc3dvcmQ=", NULL), 401);
    assert_int_equal(check(ch, "Basic", NULL), 401);
    assert_int_equal(check(ch, "Basic YWRtaW4=", NULL), 401); /* no ':' */
    assert_int_equal(check(ch, NULL, NULL), 401);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_realm_remove(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *u[] = {"admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="};
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch = auth(&r, reg, u, 1, "my realm", true, err);
    struct ft_req q;
    bool dropped = false;

    assert_non_null(ch);
    ft_req_init(&q, "GET", "h", "/", "1.2.3.4");
    assert_int_equal(ft_run(&q, ch), DP_FILTER_RESPOND);
    assert_int_equal(q.ctx.status, 401);
    assert_string_equal(ft_resp_hdr(&q, "WWW-Authenticate"),
                        "Basic realm=\"my realm\"");
    assert_string_equal(ft_resp_hdr(&q, "Content-Type"), "text/plain");
    dp_filter_end(&q.ctx, 401, q.req.now_ns);
    ft_req_deinit(&q);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    ch = auth(&r, reg, u, 1, "", true, err);
    assert_int_equal(check(ch, "Basic YWRtaW46cGFzc3dvcmQ=", &dropped), 200);
    assert_true(dropped);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void expect_error(char *user, const char *realm, const char *msg)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *u[] = {"ok:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", user};
    char err[CM_ERR_LEN];
    struct ft_route r;

    assert_null(auth(&r, reg, u, user ? 2 : 0, realm, false, err));
    assert_string_equal(err, msg);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_errors(void **state)
{
    expect_error("x:plain", NULL,
                 "traefikee.filters.basic_auth: users[1]: unknown hash format "
                 "\"plain\" (want bcrypt $2y$, {SHA} or $apr1$)");
    expect_error("nocolon", NULL,
                 "traefikee.filters.basic_auth: users[1]: want \"user:hash\"");
    expect_error("a:b:c", NULL,
                 "traefikee.filters.basic_auth: users[1]: want \"user:hash\"");
    expect_error("x:{SHA}abc", NULL,
                 "traefikee.filters.basic_auth: users[1]: {SHA} hash: want "
                 "base64 of 20 bytes");
    expect_error("x:$2y$05$short", NULL,
                 "traefikee.filters.basic_auth: users[1]: bcrypt hash: want "
                 "$2y$NN$ and 53 characters, cost 04-31");
    expect_error(
        "x:$2y$99$1rW4fhLqQm29aQBNr0e5IOZnitoU1zucmCaIhvtNfI7FDHPasYWWi", NULL,
        "traefikee.filters.basic_auth: users[1]: bcrypt hash: want "
        "$2y$NN$ and 53 characters, cost 04-31");
    expect_error("x:$apr1$toolongsalt$dxHfLAsjHkDRmG83UXe8K0", NULL,
                 "traefikee.filters.basic_auth: users[1]: MD5 hash: bad salt");
    expect_error("x:$apr1$xxxxxxxx$short", NULL,
                 "traefikee.filters.basic_auth: users[1]: MD5 hash: want 22 "
                 "characters after the salt");
    expect_error(NULL, NULL, "traefikee.filters.basic_auth: users is empty");
    expect_error("ok2:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "a\"b",
                 "traefikee.filters.basic_auth: realm must not contain '\"' "
                 "or a line break");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_header_parsing),
        cmocka_unit_test(test_realm_remove),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
