/*
 * http1_char.c -- byte class tables of the HTTP/1.1 codec, computed at
 * compile time from the RFC grammars. Read-only; shared by every worker.
 */
#include "common/http1/http1-int.h"

#define IN(c, a, b) ((c) >= (a) && (c) <= (b))
#define ALPHA(c)    (IN(c, 'a', 'z') || IN(c, 'A', 'Z'))
#define DIGIT(c)    IN(c, '0', '9')
#define HEX(c)      (DIGIT(c) || IN(c, 'a', 'f') || IN(c, 'A', 'F'))

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
#define TCHAR(c)                                                               \
    (ALPHA(c) || DIGIT(c) || (c) == '!' || IN(c, '#', '\'') || (c) == '*' ||   \
     (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' ||     \
     (c) == '`' || (c) == '|' || (c) == '~')

/* field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value */
#define FIELD(c) ((c) == '\t' || IN(c, 0x20, 0x7e) || IN(c, 0x80, 0xff))

/* visible ASCII; a fragment never travels in a request-target */
#define TARGET(c) (IN(c, 0x21, 0x7e) && (c) != '#')

/* unreserved / pct-encoded / sub-delims but "," / ":" / "[" / "]" (a comma
 * in a host name is legal in a URI and only ever an attack on a proxy) */
#define HOST(c)                                                                \
    (ALPHA(c) || DIGIT(c) || (c) == '-' || (c) == '.' || (c) == '_' ||         \
     (c) == '~' || (c) == '%' || (c) == '!' || (c) == '$' ||                   \
     IN(c, '&', '+') || (c) == ';' || (c) == '=' || (c) == ':' ||              \
     (c) == '[' || (c) == ']')

#define SCHEME(c)                                                              \
    (ALPHA(c) || DIGIT(c) || (c) == '+' || (c) == '-' || (c) == '.')

#define CT(c)                                                                  \
    ((TCHAR(c) ? CM_H1__TCHAR : 0) | (FIELD(c) ? CM_H1__FIELD : 0) |           \
     (TARGET(c) ? CM_H1__TARGET : 0) | (HOST(c) ? CM_H1__HOST : 0) |           \
     (HEX(c) ? CM_H1__HEX : 0) | (DIGIT(c) ? CM_H1__DIGIT : 0) |               \
     (SCHEME(c) ? CM_H1__SCHEME : 0))

#define LC(c) (IN(c, 'A', 'Z') ? (c) + 32 : (c))

#define R4(f, i)  f(i), f(i + 1), f(i + 2), f(i + 3)
#define R16(f, i) R4(f, i), R4(f, i + 4), R4(f, i + 8), R4(f, i + 12)
#define R64(f, i) R16(f, i), R16(f, i + 16), R16(f, i + 32), R16(f, i + 48)
#define R256(f)   R64(f, 0), R64(f, 64), R64(f, 128), R64(f, 192)

const uint8_t cm_h1__ctype[256] = {R256(CT)};
const uint8_t cm_h1__lower[256] = {R256(LC)};
