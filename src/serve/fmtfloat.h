/*
 * fmtfloat.h - shortest round-trip decimal text of a float32 (fmtfloat.c).
 */
#ifndef AXLE_SERVE_FMTFLOAT_H
#define AXLE_SERVE_FMTFLOAT_H

/* Writes the shortest decimal that reads back as v, NUL-terminated, and
 * returns its length; -1 for NaN, infinities and the rare near-tie that
 * double arithmetic cannot settle (the caller then uses printf). */
int fmt_float_shortest(float v, char out[32]);

#endif
