/*
 * fmtfloat.c - shortest round-trip text for a float32, without printf.
 *
 * Hand-written because the library way is the bottleneck: a perf profile
 * of `axle serve` answering V2 JSON inference for the iris model (three
 * FP32 outputs, bench/serve.sh) put about 15 % of the server's CPU in
 * glibc's printf/strtof, from searching %.6g..%.9g for the shortest string
 * that reads back as the same float. Here the search runs in double
 * arithmetic instead:
 *
 *   A float x sits in the interval (lo, hi) of reals that round to it, lo
 *   and hi being the midpoints to its neighbours (exact in double). For
 *   p = 1..9 digits, round x to p significant digits (D = n * 10^k) and
 *   accept the first D strictly inside the interval. D is computed in
 *   double with a relative error near 2^-52, far below the interval's
 *   half-width (about 2^-25 relative), so a margin of 1e-12 * x separates
 *   clear answers from the rare ties, for which the caller falls back to
 *   printf (fmt_float_shortest returns -1).
 *
 * Output: laid out as printf's %.{P}g with P = max(6, digits): fixed
 * notation for decimal exponents -4..P-1 ("0.98158467", "100"), else
 * "d.ddde-08" style; JSON numbers either way.
 */
#include "serve/fmtfloat.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 10^k for k in [-50, 50]: exact for |k| <= 22, correctly rounded else
 * (strtod rounds correctly). Filled before main. */
static double p10_table[101];

__attribute__((constructor)) static void p10_init(void)
{
    for (int i = -50; i <= 50; i++) {
        char s[16];
        snprintf(s, sizeof(s), "1e%d", i);
        p10_table[50 + i] = strtod(s, NULL);
    }
}

static double p10(int k)
{
    return p10_table[50 + k];
}

int fmt_float_shortest(float v, char out[32])
{
    if (!isfinite(v))
        return -1;
    char *o = out;
    if (signbit(v)) {
        *o++ = '-';
        v = -v;
    }
    if (v == 0) {
        *o++ = '0';
        *o = 0;
        return (int)(o - out);
    }
    /* v > 0 and finite: its neighbours are the adjacent bit patterns
     * (bits + 1 past the largest float is infinity), and a normal float's
     * binary exponent is its exponent field - no libm calls, which showed
     * in profiles of the logging path. */
    uint32_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint32_t ub = bits + 1, db = bits - 1;
    float up, down;
    memcpy(&up, &ub, sizeof(up));
    memcpy(&down, &db, sizeof(down));
    double x = v;
    double hi = isinf(up) ? x + (x - (double)down) / 2 : (x + (double)up) / 2;
    double lo = (x + (double)down) / 2;
    double margin = x * 1e-12;
    /* floor(log10(x)) from the binary exponent, at most one too low
     * (x in [2^(e2-1), 2^e2); 78913 / 2^18 is log10(2) to 6 digits, exact
     * as a floor for |e2| < 1650); the checks below correct it. */
    int e2;
    if (bits >> 23)
        e2 = (int)(bits >> 23) - 126;
    else
        frexp(x, &e2);
    int e10 = ((e2 - 1) * 78913) >> 18;
    if (e10 > 38 || e10 < -46)
        return -1;
    if (x >= p10(e10 + 1))
        e10++;
    else if (x < p10(e10))
        e10--;
    uint64_t n = 0;
    int p, k = 0;
    /* For a normal float the rounding interval (relative width < 2^-23) is
     * narrower than the spacing of 6-digit decimals (>= 1e-6 relative), so
     * a shorter decimal inside it is also the nearest 6-digit one padded
     * with zeros: start at 6 digits and strip the zeros below. */
    int p0 = x >= 1.17549435e-38 ? 6 : 1;
    static const uint64_t tens[10] = {1, 10, 100, 1000, 10000, 100000, 1000000,
                                      10000000, 100000000, 1000000000};
    for (p = p0; p <= 9; p++) {
        k = e10 - p + 1;
        double scaled = k >= 0 ? x / p10(k) : x * p10(-k);
        /* Round to nearest, ties to even, as nearbyint in the default
         * mode: scaled < 10^9 < 2^52, so adding 2^52 drops the fraction. */
        double r = (scaled + 0x1p52) - 0x1p52;
        n = (uint64_t)r;
        if (n >= tens[p]) { /* rounded up to the next power of ten */
            n /= 10;
            k++;
        }
        double d = k >= 0 ? (double)n * p10(k) : (double)n / p10(-k);
        if (k >= 0 && k <= 22 && d < 9007199254740992.0) {
            /* d, lo and hi are exact: decide exactly; a decimal on a
             * midpoint reads back as the neighbour with the even mantissa. */
            if ((d > lo && d < hi) || ((d == lo || d == hi) && (bits & 1) == 0))
                break;
            continue;
        }
        if (d > lo + margin && d < hi - margin)
            break;
        if (!(d < lo - margin || d > hi + margin))
            return -1; /* too close to a tie to decide in double */
    }
    if (p > 9)
        return -1;
    while (n >= 10 && n % 10 == 0) { /* zeros of a padded shorter decimal */
        n /= 10;
        k++;
    }
    char dig[12];
    int nd = 0;
    do {
        dig[nd++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    int E = k + nd - 1; /* exponent of the first digit */
    int P = nd < 6 ? 6 : nd; /* as %.{P}g lays it out */
    if (E >= -4 && E < P) {
        if (E < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -E - 1; i++)
                *o++ = '0';
            for (int i = nd - 1; i >= 0; i--)
                *o++ = dig[i];
        } else {
            for (int i = nd - 1, pos = 0; i >= 0 || pos <= E; pos++) {
                if (pos == E + 1 && i >= 0)
                    *o++ = '.';
                *o++ = i >= 0 ? dig[i--] : '0';
            }
        }
    } else {
        *o++ = dig[nd - 1];
        if (nd > 1) {
            *o++ = '.';
            for (int i = nd - 2; i >= 0; i--)
                *o++ = dig[i];
        }
        *o++ = 'e';
        *o++ = E < 0 ? '-' : '+';
        int ae = E < 0 ? -E : E;
        if (ae >= 10)
            *o++ = (char)('0' + ae / 10);
        else
            *o++ = '0';
        *o++ = (char)('0' + ae % 10);
    }
    *o = 0;
    return (int)(o - out);
}
