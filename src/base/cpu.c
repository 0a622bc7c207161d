/*
 * cpu.c - CPU feature detection with cpuid and xgetbv, done once.
 *
 * A feature counts only when the CPU reports it *and* the OS saves the
 * register state it needs (XCR0: SSE+AVX for AVX/AVX2/FMA; opmask and the
 * upper ZMM halves for AVX-512). The chosen level can be capped with
 * AXLE_ISA=avx512|avx2|scalar so tests and benchmarks can exercise every
 * kernel variant on one machine; asking for more than the CPU has is
 * ignored. Intel SDM Vol. 2A "CPUID" (leaf 1, leaf 7 sub-leaves 0 and 1)
 * and Vol. 1 §13.3 (XCR0 bits).
 */
#include <cpuid.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"

static struct axle_cpu g_cpu;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;

    /* xgetbv with ecx = 0; only valid once OSXSAVE is known to be set. */
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static enum axle_isa isa_from_env(enum axle_isa hw)
{
    const char *s = getenv("AXLE_ISA");
    enum axle_isa want = hw;

    if (s == NULL || s[0] == '\0')
        return hw;
    if (strcmp(s, "scalar") == 0)
        want = AXLE_ISA_SCALAR;
    else if (strcmp(s, "avx2") == 0)
        want = AXLE_ISA_AVX2;
    else if (strcmp(s, "avx512") == 0)
        want = AXLE_ISA_AVX512;
    /* An unknown value leaves the hardware level: a typo must not make
     * the server slower without anyone noticing, nor make it fail. */
    return want < hw ? want : hw;
}

static void detect(void)
{
    unsigned a, b, c, d;
    unsigned max_leaf;
    bool osxsave, avx_os = false, avx512_os = false, avx;
    struct axle_cpu *p = &g_cpu;

    memset(p, 0, sizeof(*p));
    max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1 || !__get_cpuid(1, &a, &b, &c, &d))
        goto out;
    osxsave = (c >> 27) & 1;
    avx = (c >> 28) & 1;
    if (osxsave) {
        uint64_t xcr0 = read_xcr0();
        avx_os = (xcr0 & 0x6) == 0x6;            /* XMM | YMM */
        avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0; /* opmask | ZMM_Hi256 | Hi16_ZMM */
    }
    if (!avx || !avx_os)
        goto out;
    p->fma = (c >> 12) & 1;
    p->f16c = (c >> 29) & 1;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        p->avx2 = (b >> 5) & 1;
        if (avx512_os) {
            p->avx512f = (b >> 16) & 1;
            p->avx512dq = (b >> 17) & 1;
            p->avx512bw = (b >> 30) & 1;
            p->avx512vl = (b >> 31) & 1;
            p->avx512vnni = (c >> 11) & 1;
            if (a >= 1) {
                unsigned a1, b1, c1, d1;
                __cpuid_count(7, 1, a1, b1, c1, d1);
                p->avx512bf16 = (a1 >> 5) & 1;
            }
        }
    }
out:
    if (p->avx512f && p->avx512bw && p->avx512dq && p->avx512vl && p->avx2 &&
        p->fma)
        p->isa = AXLE_ISA_AVX512;
    else if (p->avx2 && p->fma)
        p->isa = AXLE_ISA_AVX2;
    else
        p->isa = AXLE_ISA_SCALAR;
    p->isa = isa_from_env(p->isa);
}

const struct axle_cpu *axle_cpu_get(void)
{
    pthread_once(&g_once, detect);
    return &g_cpu;
}

const char *axle_isa_name(enum axle_isa isa)
{
    switch (isa) {
    case AXLE_ISA_SCALAR:
        return "scalar";
    case AXLE_ISA_AVX2:
        return "avx2";
    case AXLE_ISA_AVX512:
        return "avx512";
    }
    return "unknown";
}
