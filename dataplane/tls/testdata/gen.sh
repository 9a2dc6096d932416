#!/bin/sh
# gen.sh DIR -- test certificates made with the openssl CLI: a test CA
# (ca.crt), a.test (a.crt/a.key, SAN a.test and localhost), *.b.test
# (wild.crt/wild.key), an expired a.test (expired.crt/expired.key), a
# second a.test for rotations (a2.crt/a2.key), 127.0.0.1 for backends
# (ip.crt/ip.key), and an unrelated CA (other-ca.crt).
set -eu
d=$1
mkdir -p "$d"
cd "$d"
q() { "$@" >/dev/null 2>&1; }
ca() { # NAME
    q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.crt" -days 30 -subj "/CN=traefikee test $1"
}
leaf() { # NAME SAN DAYS
    q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$2" >"$1.ext"
    # OpenSSL 3.0 has no -not_after for x509 -req: 0 days means it expires
    # the second it is made.
    q openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
        -CAcreateserial -out "$1.crt" -extfile "$1.ext" -days "$3"
    rm -f "$1.csr" "$1.ext"
}
ca ca
ca other-ca
leaf a "DNS:a.test,DNS:localhost" 30
leaf a2 "DNS:a.test,DNS:localhost" 30
leaf wild "DNS:*.b.test" 30
leaf ip "IP:127.0.0.1" 30
leaf expired "DNS:a.test" 0
