/*
 * http1-int.h -- what the files of common/http1 share and nobody else
 * uses: the byte class tables and the private message flags.
 */
#ifndef CM_HTTP1_INT_H
#define CM_HTTP1_INT_H

#include <stdint.h>

/* cm_h1__ctype[] bits */
#define CM_H1__TCHAR  0x01 /* token character (RFC 9110 5.6.2) */
#define CM_H1__FIELD  0x02 /* field value byte: VCHAR, obs-text, SP, HTAB */
#define CM_H1__TARGET 0x04 /* request-target byte: VCHAR but '#' */
#define CM_H1__HOST   0x08 /* authority byte: reg-name, IP literal, ':' */
#define CM_H1__HEX    0x10 /* hex digit */
#define CM_H1__DIGIT  0x20 /* decimal digit */
#define CM_H1__SCHEME 0x40 /* URI scheme byte after the first */

extern const uint8_t cm_h1__ctype[256];
extern const uint8_t cm_h1__lower[256];

#define CM_H1__IS(c, cls) (cm_h1__ctype[(uint8_t)(c)] & (cls))

/* Private cm_h1_msg.flags bits. */
#define CM_H1_F__TE_CHUNKED  0x10000 /* chunked seen in Transfer-Encoding */
#define CM_H1_F__TE_LAST_CHK 0x20000 /* ... and it is the last coding */

#endif
