/*
 * cpu.h - CPU feature detection (cpuid + xgetbv), done once.
 *
 * Kernels pick their AVX-512 / AVX2 / portable variant from this at run time.
 * The environment variable AXLE_ISA=avx512|avx2|scalar caps the level (tests
 * use it to exercise every path on one machine).
 */
#ifndef AXLE_BASE_CPU_H
#define AXLE_BASE_CPU_H

#include <stdbool.h>

enum axle_isa {
    AXLE_ISA_SCALAR = 0,
    AXLE_ISA_AVX2 = 1,   /* AVX2 + FMA */
    AXLE_ISA_AVX512 = 2, /* AVX-512 F, BW, DQ, VL */
};

struct axle_cpu {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512bf16, avx512vnni;
    enum axle_isa isa; /* the level kernels should use */
};

const struct axle_cpu *axle_cpu_get(void);
const char *axle_isa_name(enum axle_isa isa);

#endif
