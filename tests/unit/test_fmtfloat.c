/*
 * test_fmtfloat.c - the printf-free float formatter against strtof: every
 * output reads back as the same float and is never longer than the
 * shortest %.{1..9}g form; fixed/exponent layout; fallbacks.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serve/fmtfloat.h"

/* Fewest significant digits %.{p}g needs to round-trip v. */
static int shortest_printf_digits(float v)
{
    char tmp[40];
    for (int p = 1; p <= 9; p++) {
        snprintf(tmp, sizeof(tmp), "%.*g", p, (double)v);
        if (strtof(tmp, NULL) == v)
            return p;
    }
    return 99;
}

/* Significant digits in a decimal string (leading and trailing zeros of
 * the digit sequence do not count). */
static int sig_digits(const char *s)
{
    char d[40];
    int n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9')
            d[n++] = *s;
    int a = 0, b = n;
    while (a < b && d[a] == '0')
        a++;
    while (b > a && d[b - 1] == '0')
        b--;
    return b - a;
}

static void check(float v)
{
    char out[32];
    int n = fmt_float_shortest(v, out);
    if (n < 0)
        return; /* fallback taken: allowed, counted elsewhere */
    assert_int_equal((int)strlen(out), n);
    float back = strtof(out, NULL);
    if (memcmp(&back, &v, sizeof(v)) != 0) {
        fprintf(stderr, "%a -> %s -> %a\n", (double)v, out, (double)back);
        fail();
    }
    /* never more significant digits than the shortest %g form */
    assert_true(sig_digits(out) <= shortest_printf_digits(v));
}

static void test_known(void **state)
{
    (void)state;
    struct {
        float v;
        const char *s;
    } cases[] = {
        {0.0f, "0"},          {1.0f, "1"},           {100.0f, "100"},
        {0.1f, "0.1"},        {-2.5f, "-2.5"},       {123.5f, "123.5"},
        {1e-5f, "1e-05"},     {0.0001f, "0.0001"},   {3.4028235e38f, "3.4028235e+38"},
        {1e16f, "1e+16"},     {16777216.0f, "16777216"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        assert_true(fmt_float_shortest(cases[i].v, out) > 0);
        assert_string_equal(out, cases[i].s);
    }
    char out[32];
    assert_int_equal(fmt_float_shortest(NAN, out), -1);
    assert_int_equal(fmt_float_shortest(INFINITY, out), -1);
}

static void test_random_bits(void **state)
{
    (void)state;
    uint32_t x = 12345;
    int fallbacks = 0;
    for (int i = 0; i < 300000; i++) {
        x = x * 1664525u + 1013904223u;
        float v;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        char out[32];
        if (fmt_float_shortest(v, out) < 0)
            fallbacks++;
        check(v);
    }
    assert_true(fallbacks < 300); /* rare by construction */
}

static void test_extremes(void **state)
{
    (void)state;
    check(1.4e-45f);  /* smallest subnormal */
    check(1.17549435e-38f);
    check(-3.4028235e38f);
    for (int e = -45; e <= 38; e++)
        check(powf(10.0f, (float)e));
    for (float v = 0.001f; v < 10.0f; v *= 1.37f)
        check(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_random_bits),
        cmocka_unit_test(test_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
