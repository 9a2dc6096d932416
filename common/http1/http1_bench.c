/*
 * http1_bench.c -- micro-benchmark, not a test: parses a typical ~400-byte
 * browser request 10 million times and prints ns/request.
 * bazel run -c opt //common/http1:http1_bench [-- iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http1/http1.h"

static const char REQ[] =
    "GET /static/js/app.4f2a91c3.js?v=20240115 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
    "Firefox/121.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=8f3c2a1b9d7e6f5a; theme=dark\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "\r\n";

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 10000000L;
    struct cm_h1_hdr hdrs[100];
    struct cm_h1_req req;
    size_t len = strlen(REQ);
    long sum = 0;
    double t0, t1;

    if (iters <= 0 || cm_h1_req_init(&req, hdrs, 100, NULL) != 0)
        return 1;
    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        cm_h1_req_reset(&req);
        sum += cm_h1_req_parse(&req, REQ, len);
        __asm__ volatile("" : : "g"(&req) : "memory");
    }
    t1 = now_ns();
    if (sum != (long)len * iters) {
        fprintf(stderr, "parse failed: %s\n", req.msg.err);
        return 1;
    }
    printf("%zu-byte request, %u headers: %.1f ns/request (%.2f GB/s), "
           "%ld iterations\n",
           len, req.msg.nhdr, (t1 - t0) / (double)iters,
           (double)len * (double)iters / (t1 - t0), iters);
    return 0;
}
