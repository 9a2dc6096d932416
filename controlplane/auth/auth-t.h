/*
 * auth-t.h -- types of the dashboard's credentials (cp_auth_): the KDF
 * parameters a hash is made with, a parsed hash string, and the sizes of
 * the strings this module writes. Prototypes are in auth.h.
 */
#ifndef CP_AUTH_T_H
#define CP_AUTH_T_H

#include <stddef.h>
#include <stdint.h>

/* The only user there is. */
#define CP_AUTH_USER "admin"

/* Characters of a generated password (plus the NUL). */
#define CP_AUTH_PASSWORD_LEN 20

/* Longest hash string cp_auth_hash() writes (plus the NUL), and the
 * longest cp_auth_parse() accepts. */
#define CP_AUTH_HASH_MAX 256

/* Longest session token cp_auth_session_new() writes (plus the NUL). */
#define CP_AUTH_TOKEN_MAX 128

/* Bytes of salt written, and the bounds read. */
#define CP_AUTH_SALT_LEN 16
#define CP_AUTH_SALT_MIN 8
#define CP_AUTH_SALT_MAX 64
/* Bytes of derived key written, and the bounds read. */
#define CP_AUTH_DK_LEN 32
#define CP_AUTH_DK_MIN 16
#define CP_AUTH_DK_MAX 64

/* Bounds on parameters read from a hash string: a string from a store we
 * do not fully trust must not make us allocate gigabytes or spin minutes. */
#define CP_AUTH_SCRYPT_LOG2N_MIN 10
#define CP_AUTH_SCRYPT_LOG2N_MAX 20
#define CP_AUTH_SCRYPT_R_MAX     32
#define CP_AUTH_SCRYPT_P_MAX     16
#define CP_AUTH_SCRYPT_MEM_MAX   ((uint64_t)256 << 20) /* 128*N*r*p bytes */
#define CP_AUTH_PBKDF2_ITER_MIN  1000
#define CP_AUTH_PBKDF2_ITER_MAX  10000000

enum cp_auth_alg {
    CP_AUTH_SCRYPT = 0,   /* "$scrypt$N=32768,r=8,p=1$SALT$DK" */
    CP_AUTH_PBKDF2_SHA256 /* "$pbkdf2-sha256$i=600000$SALT$DK" */
};

/* How to hash. The defaults (cp_auth_hash() with NULL): scrypt with
 * N=2^15, r=8, p=1 (32 MiB, tens of milliseconds). */
struct cp_auth_params {
    enum cp_auth_alg alg;
    unsigned log2_n; /* scrypt: N = 2^log2_n */
    unsigned r;      /* scrypt block size */
    unsigned p;      /* scrypt parallelism */
    unsigned iter;   /* pbkdf2 iterations */
};

/* A hash string taken apart (cp_auth_parse()). SALT and DK are standard
 * base64 without padding, as in the PHC string format. */
struct cp_auth_hash {
    enum cp_auth_alg alg;
    struct cp_auth_params params;
    uint8_t salt[CP_AUTH_SALT_MAX];
    size_t salt_len;
    uint8_t dk[CP_AUTH_DK_MAX];
    size_t dk_len;
};

#endif
