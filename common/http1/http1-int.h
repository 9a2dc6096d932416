/*
 * http1-int.h -- what the files of dataplane/http1 share and nobody else
 * uses: the byte class tables and the private message flags.
 */
#ifndef DP_HTTP1_INT_H
#define DP_HTTP1_INT_H

#include <stdint.h>

/* dp_h1__ctype[] bits */
#define DP_H1__TCHAR  0x01 /* token character (RFC 9110 5.6.2) */
#define DP_H1__FIELD  0x02 /* field value byte: VCHAR, obs-text, SP, HTAB */
#define DP_H1__TARGET 0x04 /* request-target byte: VCHAR but '#' */
#define DP_H1__HOST   0x08 /* authority byte: reg-name, IP literal, ':' */
#define DP_H1__HEX    0x10 /* hex digit */
#define DP_H1__DIGIT  0x20 /* decimal digit */
#define DP_H1__SCHEME 0x40 /* URI scheme byte after the first */

extern const uint8_t dp_h1__ctype[256];
extern const uint8_t dp_h1__lower[256];

#define DP_H1__IS(c, cls) (dp_h1__ctype[(uint8_t)(c)] & (cls))

/* Private dp_h1_msg.flags bits. */
#define DP_H1_F__TE_CHUNKED  0x10000 /* chunked seen in Transfer-Encoding */
#define DP_H1_F__TE_LAST_CHK 0x20000 /* ... and it is the last coding */

#endif
