/*
 * pki.h -- the cluster's public-key infrastructure on OpenSSL 3: EC P-256
 * keys, the cluster CA, certificate signing requests, certificates that
 * carry a node's role (OU) and id (CN), the sealing of secrets with the
 * operator's cluster key (AES-256-GCM), join tokens, and PEM files and
 * bundles. Everything is plain strings in, malloc'd strings out; nothing
 * here touches the network (see pki_grpc.h for gRPC and joining).
 * docs/security.md says how the pieces fit.
 */
#ifndef CM_PKI_H
#define CM_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err/err.h"

/* The DNS name every control node's certificate carries, and the name
 * clients check (gRPC's ssl_target_name_override): any control node of the
 * cluster's CA is a valid server, whatever address reached it. */
#define CM_PKI_CONTROL_NAME "traefikee-control"

#define CM_PKI_ID_MAX     256 /* node ids, bytes with the NUL */
#define CM_PKI_FP_HEX     65  /* SHA-256 hex with the NUL */
#define CM_PKI_SECRET_HEX 33  /* token secrets: 16 bytes hex with the NUL */
#define CM_PKI_KEY_HEX    65  /* cluster keys: 32 bytes hex with the NUL */
#define CM_PKI_TOKEN_MAX  128 /* "TKE1.control.<32>.<64>" with the NUL */
#define CM_PKI_FILE_MAX   (1u << 20) /* PEM files read, at most */

enum cm_pki_role {
    CM_PKI_ROLE_NONE = 0,
    CM_PKI_ROLE_CONTROL = 1, /* same numbers as traefikee.v1.Role */
    CM_PKI_ROLE_DATA = 2,
    CM_PKI_ROLE_ADMIN = 3,
};

/* "control", "data", "admin"; "none" otherwise. */
const char *cm_pki_role_name(enum cm_pki_role r);
/* The reverse; GW_EINVAL for anything else. */
int cm_pki_role_parse(const char *s, enum cm_pki_role *out);

/* ---- keys and certificates (PEM strings; returned ones are new, free()) */

/* A new EC P-256 private key (PKCS#8 PEM) in *key_pem. */
int cm_pki_key_new(char **key_pem, char *err, size_t len) CM_MUST_CHECK;

/* A new self-signed CA ("traefikee cluster CA <name>", 10 years, basic
 * constraints CA:TRUE, keyCertSign) and its key. */
int cm_pki_ca_new(const char *name, char **cert_pem, char **key_pem, char *err,
                  size_t len) CM_MUST_CHECK;

/* A CSR for <key_pem> with subject CN=<cn>. */
int cm_pki_csr_new(const char *key_pem, const char *cn, char **csr_pem,
                   char *err, size_t len) CM_MUST_CHECK;

/* What an issued certificate says: the issuer decides all of it, whatever
 * the CSR asks for. */
struct cm_pki_issue {
    enum cm_pki_role role;  /* OU */
    const char *id;         /* CN: the node id (printable, < CM_PKI_ID_MAX) */
    const char *const *dns; /* subjectAltName DNS names (may be NULL) */
    size_t n_dns;
    const char *const *ips; /* subjectAltName IP addresses, v4 or v6 text */
    size_t n_ips;
    int64_t now;   /* unix seconds; notBefore is now - 60 (clock skew) */
    int64_t ttl_s; /* notAfter = now + ttl_s */
};

/* Checks <csr_pem>'s self-signature and signs its public key with the CA:
 * serial 128 bits (126 random, always positive and 16 bytes long), keyUsage
 * digitalSignature, extendedKeyUsage serverAuth+clientAuth, SANs from <in>.
 * GW_EINVAL with <err> for a bad CSR or issue. */
int cm_pki_issue(const char *ca_cert_pem, const char *ca_key_pem,
                 const char *csr_pem, const struct cm_pki_issue *in,
                 char **cert_pem, char *err, size_t len) CM_MUST_CHECK;

struct cm_pki_cert_info {
    enum cm_pki_role role;         /* from OU; NONE when absent or unknown */
    char id[CM_PKI_ID_MAX];        /* CN */
    int64_t not_before, not_after; /* unix seconds */
    char serial[CM_PKI_FP_HEX];    /* hex, lower case */
};

/* Reads the first certificate of <cert_pem>. */
int cm_pki_cert_info(const char *cert_pem, struct cm_pki_cert_info *out,
                     char *err, size_t len) CM_MUST_CHECK;

/* Whether <cert_pem> (first certificate) was signed by <ca_cert_pem> and
 * is valid at <now> (unix seconds). 0, or GW_EINVAL with the reason. A CA
 * certificate (CA:TRUE) is refused: only node certificates pass. */
int cm_pki_verify(const char *ca_cert_pem, const char *cert_pem, int64_t now,
                  char *err, size_t len) CM_MUST_CHECK;

/* SHA-256 of the first certificate's DER, lower-case hex, in <out>. */
int cm_pki_fingerprint(const char *cert_pem, char out[CM_PKI_FP_HEX], char *err,
                       size_t len) CM_MUST_CHECK;

/* Whether <key_pem> is the private key of <cert_pem>'s first certificate. */
bool cm_pki_key_matches(const char *cert_pem, const char *key_pem);

/* ---- sealing with the cluster key (the operator holds it) ---- */

/* 32 random bytes as 64 lower-case hex digits. */
int cm_pki_cluster_key_new(char out[CM_PKI_KEY_HEX]) CM_MUST_CHECK;
/* Whether <s> is 64 hex digits (surrounding white space allowed). */
bool cm_pki_cluster_key_valid(const char *s);

/* AES-256-GCM with a random 96-bit nonce: "v1:" + base64(nonce|ct|tag),
 * new in *out. <key_hex> is a cluster key. */
int cm_pki_seal(const char *key_hex, const void *p, size_t n, char **out,
                char *err, size_t len) CM_MUST_CHECK;
/* The reverse: new in *out (NUL-terminated past *outlen, so text stays
 * text), or GW_EINVAL ("wrong cluster key or corrupted data"). */
int cm_pki_open(const char *key_hex, const char *sealed, char **out,
                size_t *outlen, char *err, size_t len) CM_MUST_CHECK;

/* ---- join tokens: "TKE1.<role>.<secret>.<CA fingerprint>" ---- */

struct cm_pki_token {
    enum cm_pki_role role; /* CONTROL or DATA */
    char secret[CM_PKI_SECRET_HEX];
    char ca_fp[CM_PKI_FP_HEX];
};

/* A new token for <role> with a random secret, in <out>. */
int cm_pki_token_new(enum cm_pki_role role, const char *ca_fp,
                     struct cm_pki_token *out) CM_MUST_CHECK;
/* Writes the token's text (< CM_PKI_TOKEN_MAX) into <out>. */
int cm_pki_token_format(const struct cm_pki_token *t, char *out, size_t cap);
/* Parses; surrounding white space is ignored. GW_EINVAL with <err>. */
int cm_pki_token_parse(const char *s, struct cm_pki_token *out, char *err,
                       size_t len) CM_MUST_CHECK;
/* What the store keeps of a secret: SHA-256 hex of it. */
void cm_pki_token_hash(const char *secret, char out[CM_PKI_FP_HEX]);
/* Constant-time string equality (for hashes and secrets). */
bool cm_pki_equal(const char *a, const char *b);

/* ---- files ---- */

/* Reads at most CM_PKI_FILE_MAX bytes of <path> into a new string. */
int cm_pki_file_read(const char *path, char **out, char *err,
                     size_t len) CM_MUST_CHECK;
/* Writes <data> to <path> with mode 0600 atomically (temporary file in the
 * same directory, fsync, rename). */
int cm_pki_file_write(const char *path, const char *data, char *err,
                      size_t len) CM_MUST_CHECK;

/* A node's credentials: the CA, its certificate, its key (PEM, owned). */
struct cm_pki_creds {
    char *ca;
    char *cert;
    char *key;
};

/* Frees a secret string (may be NULL): wiped first. */
void cm_pki_secret_free(char *s);

/* Frees the strings (the key is wiped first); the struct is zeroed. */
void cm_pki_creds_clear(struct cm_pki_creds *c);
/* Splits a bundle file's text (PEM blocks in any order: the CA is the
 * certificate with CA:TRUE, the leaf the other one, and one private key)
 * into <out>. GW_EINVAL when one is missing or the key does not match. */
int cm_pki_creds_parse(const char *text, struct cm_pki_creds *out, char *err,
                       size_t len) CM_MUST_CHECK;
/* The bundle text of <c>: CA, certificate, key. New in *out. */
int cm_pki_creds_format(const struct cm_pki_creds *c, char **out) CM_MUST_CHECK;
/* Loads DIR/ca.crt, DIR/node.crt, DIR/node.key (a node's directory). */
int cm_pki_creds_load_dir(const char *dir, struct cm_pki_creds *out, char *err,
                          size_t len) CM_MUST_CHECK;
/* Writes them (each 0600, atomically). */
int cm_pki_creds_save_dir(const char *dir, const struct cm_pki_creds *c,
                          char *err, size_t len) CM_MUST_CHECK;

#endif
