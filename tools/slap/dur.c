/*
 * dur.c -- Go-style durations for the flags (-duration 30s, -timeout
 * 500ms, -minY 1.5ms): parsing to microseconds and short formatting.
 * Pure functions, no state.
 */
#include <stdio.h>
#include <string.h>

#include "tools/slap/slap.h"

#define SL_DUR_MAX ((uint64_t)1 << 53) /* microseconds (285 years) */

/* Nanoseconds per unit at <s>; sets *len to the unit's length; 0 if none. */
static uint64_t sl_dur_unit(const char *s, size_t *len)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* µs */
        {"ms", 1000000},
        {"s", 1000000000ull},
        {"m", 60000000000ull},
        {"h", 3600000000000ull},
    };

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t n = strlen(units[i].name);
        if (strncmp(s, units[i].name, n) == 0) {
            *len = n;
            return units[i].ns;
        }
    }
    return 0;
}

/* Reads "<digits>[.<digits>]" at *p as a whole and a fraction part. */
static int sl_dur_number(const char **p, uint64_t *whole, double *frac)
{
    const char *s = *p;
    double scale = 0.1;
    int digits = 0;

    *whole = 0;
    *frac = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (*whole > SL_DUR_MAX * 1000)
            return GW_EINVAL;
        *whole = *whole * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, digits++, scale /= 10)
            *frac += scale * (*s - '0');
    }
    if (digits == 0)
        return GW_EINVAL;
    *p = s;
    return 0;
}

int sl_dur_parse(const char *s, uint64_t *us)
{
    double total_ns = 0;

    if (s == NULL || *s == '\0')
        return GW_EINVAL;
    if (strcmp(s, "0") == 0) {
        *us = 0;
        return 0;
    }
    while (*s != '\0') {
        uint64_t whole, unit;
        double frac;
        size_t ulen;
        if (sl_dur_number(&s, &whole, &frac) != 0)
            return GW_EINVAL;
        unit = sl_dur_unit(s, &ulen);
        if (unit == 0)
            return GW_EINVAL;
        s += ulen;
        total_ns += ((double)whole + frac) * (double)unit;
        if (total_ns / 1000 > (double)SL_DUR_MAX)
            return GW_EINVAL;
    }
    *us = (uint64_t)(total_ns / 1000 + 1e-6);
    return 0;
}

const char *sl_dur_format(uint64_t us, char *buf, size_t len)
{
    if (us < 1000)
        snprintf(buf, len, "%uus", (unsigned)us);
    else if (us < 1000000)
        snprintf(buf, len, "%.4gms", (double)us / 1e3);
    else if (us < 60000000)
        snprintf(buf, len, "%.4gs", (double)us / 1e6);
    else
        snprintf(buf, len, "%um%.3gs", (unsigned)(us / 60000000),
                 (double)(us % 60000000) / 1e6);
    return buf;
}
