/*
 * proxy_resp.c -- responses the proxy makes itself (errors, redirects,
 * direct responses) and the write helper every direction uses. Pure
 * formatting plus one libuv call; runs on the calling worker.
 */
#include <stdio.h>
#include <string.h>

#include "dataplane/proxy/proxy_int.h"

const char *dp_proxy_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

int dp_proxy_local_response(char *out, size_t cap, int status,
                            const char *location, const char *body, size_t blen,
                            int close, int head_only)
{
    int n;

    n = snprintf(out, cap,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
                 "charset=utf-8\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
                 status, dp_proxy_reason(status), blen,
                 location ? "Location: " : "", location ? location : "",
                 location ? "\r\n" : "", close ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return GW_ETOOBIG;
    if (head_only || blen == 0)
        return n;
    if (cap - (size_t)n < blen)
        return GW_ETOOBIG;
    memcpy(out + n, body, blen);
    return n + (int)blen;
}

int dp_proxy__send(uv_stream_t *s, uv_write_t *wr, uv_buf_t *bufs, int n,
                   uv_write_cb cb)
{
    size_t total = 0;
    int r, i = 0;

    for (int k = 0; k < n; k++)
        total += bufs[k].len;
    r = uv_try_write(s, bufs, (unsigned)n);
    if (r >= 0 && (size_t)r == total)
        return 1;
    if (r < 0 && r != UV_EAGAIN)
        return r;
    if (r > 0) {
        size_t left = (size_t)r;
        while (left >= bufs[i].len) {
            left -= bufs[i].len;
            i++;
        }
        bufs[i].base += left;
        bufs[i].len -= left;
    }
    r = uv_write(wr, s, bufs + i, (unsigned)(n - i), cb);
    return r == 0 ? 0 : r;
}
