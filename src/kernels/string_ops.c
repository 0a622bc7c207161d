/*
 * string_ops.c - the default-domain string operators StringNormalizer (10)
 * and TfIdfVectorizer (9). Neither changed after its first version.
 *
 * StringNormalizer  X string [C] or [1, C] -> Y string [C'] or [1, C']:
 *   drops the stopwords (compared case-blind when is_case_sensitive is 0:
 *   both sides lowercased), then applies case_change_action (NONE, LOWER,
 *   UPPER). When every element is dropped Y is [1] (or [1, 1]) holding
 *   one empty string, as the spec says. C may be 0 (ONNX Runtime refuses
 *   it; the same all-dropped rule gives [1]). Case mapping is the simple
 *   one-to-one Unicode mapping of the blocks listed at case_pair(): ASCII,
 *   Latin-1, Latin Extended-A/B (common pairs), Latin Extended Additional,
 *   Greek, Cyrillic, Armenian, Georgian-free, fullwidth Latin; other code
 *   points are kept. No mapping changes the number of code points (ß stays
 *   ß in UPPER, as with C's towupper). `locale` selects nothing beyond
 *   that: "", "C", "POSIX" and any "ll[_TT][.UTF-8|.utf8][@mod]" are
 *   accepted except the languages with their own rules (tr, az: dotted and
 *   dotless i; lt), which are refused rather than mapped wrongly. Input
 *   bytes must be valid UTF-8 (strict: no overlong forms, surrogates or
 *   values past U+10FFFF); anything else is an INVALID_ARGUMENT naming the
 *   element.
 *
 * TfIdfVectorizer  X int32/int64/string [C] or [N, C] -> Y float [K] or
 *   [N, K], K = max(ngram_indexes) + 1: counts, per row, each n-gram of the
 *   pool (ngram_counts[i] is where the (i+1)-grams start in pool_int64s or
 *   pool_strings) found at every start position with every skip distance
 *   0..max_skip_count between its items, for lengths min_gram_length to
 *   max_gram_length; unigrams are counted once, not once per skip. Y at
 *   ngram_indexes[j] collects pool n-gram j. mode TF gives the counts, IDF
 *   weights[i] (or 1) where the count is non-zero, TFIDF count * weights[i]
 *   (weights are indexed by the output coordinate, as in ONNX Runtime). An
 *   integer input against a string pool (or the reverse) matches nothing.
 *   A duplicate pool n-gram is a model error (ONNX Runtime refuses it too).
 *
 * The run paths allocate only through axle_kctx_scratch, except that each
 * output string is its own allocation (string tensors own their elements).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/pool.h"
#include "ir/op.h"
#include "ir/tensor.h"

/* ---- UTF-8 --------------------------------------------------------------- */

/* Decodes one code point at s[*i] (len bytes in all); false when the bytes
 * there are not strict UTF-8. */
static bool utf8_next(const unsigned char *s, size_t len, size_t *i,
                      uint32_t *cp)
{
    unsigned char c = s[*i];
    uint32_t v, min;
    int n;

    if (c < 0x80) {
        *cp = c;
        (*i)++;
        return true;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 1, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 2, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 3, v = c & 0x07, min = 0x10000;
    else
        return false;
    if (len - *i < (size_t)n + 1)
        return false;
    for (int k = 1; k <= n; k++) {
        unsigned char d = s[*i + (size_t)k];
        if ((d & 0xC0) != 0x80)
            return false;
        v = (v << 6) | (d & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return false;
    *cp = v;
    *i += (size_t)n + 1;
    return true;
}

static size_t utf8_len(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static size_t utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- simple case mapping ------------------------------------------------- */

enum case_action { CASE_NONE = 0, CASE_LOWER, CASE_UPPER };

/* Ranges where upper and lower case alternate: even = upper when
 * even_upper, else odd = upper. */
static const struct {
    uint32_t lo, hi;
    bool even_upper;
} ALT[] = {
    {0x0100, 0x012F, true},  {0x0132, 0x0137, true},
    {0x0139, 0x0148, false}, {0x014A, 0x0177, true},
    {0x0179, 0x017E, false}, {0x0182, 0x0185, true},
    {0x01A0, 0x01A5, true},  {0x01CD, 0x01DC, false},
    {0x01DE, 0x01EF, true},
    {0x01F8, 0x021F, true},  {0x0222, 0x0233, true},
    {0x0246, 0x024F, true},  {0x03D8, 0x03EF, true},
    {0x0460, 0x0481, true},  {0x048A, 0x04BF, true},
    {0x04C1, 0x04CE, false}, {0x04D0, 0x052F, true},
    {0x1E00, 0x1E95, true},  {0x1EA0, 0x1EFF, true},
};

/* Blocks where upper case sits at a fixed distance below lower case. */
static const struct {
    uint32_t up_lo, up_hi;
    int32_t delta; /* lower = upper + delta */
} SHIFT[] = {
    {0x0041, 0x005A, 32},   {0x00C0, 0x00D6, 32},  {0x00D8, 0x00DE, 32},
    {0x0388, 0x038A, 37},   {0x038E, 0x038F, 63},  {0x0391, 0x03A1, 32},
    {0x03A3, 0x03AB, 32},   {0x0400, 0x040F, 80},  {0x0410, 0x042F, 32},
    {0x0531, 0x0556, 48},   {0x1F08, 0x1F0F, -8},  {0x1F18, 0x1F1D, -8},
    {0x1F28, 0x1F2F, -8},   {0x1F38, 0x1F3F, -8},  {0x1F48, 0x1F4D, -8},
    {0x1F68, 0x1F6F, -8},   {0x2160, 0x216F, 16},  {0x24B6, 0x24CF, 26},
    {0xFF21, 0xFF3A, 32},   {0x10400, 0x10427, 40},
};

/* Single pairs outside the tables (upper, lower). */
static const uint32_t PAIRS[][2] = {
    {0x0178, 0x00FF}, {0x0386, 0x03AC}, {0x038C, 0x03CC}, {0x0187, 0x0188},
    {0x018B, 0x018C}, {0x0191, 0x0192}, {0x0198, 0x0199}, {0x01A7, 0x01A8},
    {0x01AC, 0x01AD}, {0x01AF, 0x01B0}, {0x01B3, 0x01B4}, {0x01B5, 0x01B6},
    {0x01B8, 0x01B9}, {0x01BC, 0x01BD}, {0x01C4, 0x01C6}, {0x01C7, 0x01C9},
    {0x01CA, 0x01CC}, {0x01F1, 0x01F3}, {0x04C0, 0x04CF}, {0x0181, 0x0253},
    {0x0186, 0x0254}, {0x0189, 0x0256}, {0x018A, 0x0257}, {0x018F, 0x0259},
    {0x0190, 0x025B}, {0x0193, 0x0260}, {0x0194, 0x0263}, {0x0196, 0x0269},
    {0x0197, 0x0268}, {0x019C, 0x026F}, {0x019D, 0x0272}, {0x01A9, 0x0283},
    {0x01AE, 0x0288}, {0x01B1, 0x028A}, {0x01B2, 0x028B}, {0x01B7, 0x0292},
};

/* Lower-case letters whose upper case is not their table partner
 * (lower, upper); LOWER leaves them as they are. */
static const uint32_t UP_ONLY[][2] = {
    {0x00B5, 0x039C}, /* micro sign -> Greek capital mu */
    {0x0131, 0x0049}, /* dotless i -> I */
    {0x017F, 0x0053}, /* long s -> S */
    {0x03C2, 0x03A3}, /* final sigma -> capital sigma */
};

/* Upper-case letters whose lower case is not their table partner. */
static const uint32_t LOW_ONLY[][2] = {
    {0x0130, 0x0069}, /* I with dot above -> i */
};

/* Title-case digraphs (title, upper, lower): Dz, Lj, Nj, Dz. */
static const uint32_t TITLE[][3] = {
    {0x01C5, 0x01C4, 0x01C6}, {0x01C8, 0x01C7, 0x01C9},
    {0x01CB, 0x01CA, 0x01CC}, {0x01F2, 0x01F1, 0x01F3},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static uint32_t case_map(uint32_t cp, enum case_action act)
{
    bool up = act == CASE_UPPER;

    if (act == CASE_NONE)
        return cp;
    if (cp < 0x80) { /* the common case */
        if (up && cp >= 'a' && cp <= 'z')
            return cp - 32;
        if (!up && cp >= 'A' && cp <= 'Z')
            return cp + 32;
        return cp;
    }
    for (size_t i = 0; i < N_OF(TITLE); i++)
        if (cp == TITLE[i][0])
            return up ? TITLE[i][1] : TITLE[i][2];
    for (size_t i = 0; i < N_OF(UP_ONLY); i++)
        if (cp == UP_ONLY[i][0])
            return up ? UP_ONLY[i][1] : cp;
    for (size_t i = 0; i < N_OF(LOW_ONLY); i++)
        if (cp == LOW_ONLY[i][0])
            return up ? cp : LOW_ONLY[i][1];
    for (size_t i = 0; i < N_OF(SHIFT); i++) {
        uint32_t lo = SHIFT[i].up_lo, hi = SHIFT[i].up_hi;
        int32_t d = SHIFT[i].delta;
        if (!up && cp >= lo && cp <= hi)
            return (uint32_t)((int32_t)cp + d);
        if (up && (int64_t)cp >= (int64_t)lo + d &&
            (int64_t)cp <= (int64_t)hi + d)
            return (uint32_t)((int32_t)cp - d);
    }
    for (size_t i = 0; i < N_OF(ALT); i++) {
        if (cp < ALT[i].lo || cp > ALT[i].hi)
            continue;
        bool is_upper = ((cp & 1) == 0) == ALT[i].even_upper;
        if (up && !is_upper)
            return cp - 1;
        if (!up && is_upper)
            return cp + 1;
        return cp;
    }
    for (size_t i = 0; i < N_OF(PAIRS); i++) {
        if (!up && cp == PAIRS[i][0])
            return PAIRS[i][1];
        if (up && cp == PAIRS[i][1])
            return PAIRS[i][0];
    }
    return cp;
}

/* Bytes of s mapped by act, or -1 when s is not valid UTF-8. With out
 * non-NULL the mapped bytes are written there (no NUL). */
static int64_t map_string(const char *s, enum case_action act, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, n = 0;

    while (i < len) {
        uint32_t cp;
        if (!utf8_next(u, len, &i, &cp))
            return -1;
        cp = case_map(cp, act);
        if (out != NULL)
            n += utf8_put(cp, out + n);
        else
            n += utf8_len(cp);
    }
    return (int64_t)n;
}

/* A freshly allocated copy of s mapped by act; *bad set when s is not
 * UTF-8 (NULL returned then, and on allocation failure). */
static char *mapped_copy(const char *s, enum case_action act, bool *bad)
{
    int64_t n = map_string(s, act, NULL);
    char *d;

    *bad = n < 0;
    if (n < 0)
        return NULL;
    d = axle_try_malloc((size_t)n + 1);
    if (d == NULL)
        return NULL;
    map_string(s, act, d);
    d[n] = '\0';
    return d;
}

/* ---- StringNormalizer ---------------------------------------------------- */

struct strnorm {
    enum case_action action;
    bool case_sensitive;
    int n_stop;
    char **stop; /* sorted; lowercased when !case_sensitive */
};

static void strnorm_release(void *state)
{
    struct strnorm *s = state;
    if (s == NULL)
        return;
    for (int i = 0; s->stop != NULL && i < s->n_stop; i++)
        axle_free(s->stop[i]);
    axle_free(s->stop);
    axle_free(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Languages whose case rules differ from the default mapping. */
static const char *const LOCALE_REFUSED[] = {"tr", "az", "lt"};

static bool locale_ok(const char *loc)
{
    size_t n = 0;

    if (loc[0] == '\0' || strcmp(loc, "C") == 0 || strcmp(loc, "POSIX") == 0 ||
        strcmp(loc, "C.UTF-8") == 0 || strcmp(loc, "C.utf8") == 0)
        return true;
    while (loc[n] >= 'a' && loc[n] <= 'z')
        n++;
    if (n < 2 || n > 3)
        return false;
    for (size_t i = 0; i < N_OF(LOCALE_REFUSED); i++)
        if (strlen(LOCALE_REFUSED[i]) == n &&
            memcmp(loc, LOCALE_REFUSED[i], n) == 0)
            return false;
    loc += n;
    if (*loc == '_' || *loc == '-') {
        size_t t = 0;
        loc++;
        while ((loc[t] >= 'A' && loc[t] <= 'Z') ||
               (loc[t] >= 'a' && loc[t] <= 'z') ||
               (loc[t] >= '0' && loc[t] <= '9'))
            t++;
        if (t < 2 || t > 4)
            return false;
        loc += t;
    }
    if (*loc == '.') {
        if (strncmp(loc, ".UTF-8", 6) == 0 || strncmp(loc, ".utf-8", 6) == 0)
            loc += 6;
        else if (strncmp(loc, ".utf8", 5) == 0 || strncmp(loc, ".UTF8", 5) == 0)
            loc += 5;
        else
            return false;
    }
    if (*loc == '@') {
        loc++;
        while ((*loc >= 'a' && *loc <= 'z') || (*loc >= 'A' && *loc <= 'Z'))
            loc++;
    }
    return *loc == '\0';
}

static enum axle_status strnorm_parse(const struct axle_node *n,
                                      struct strnorm *s, struct axle_err *err)
{
    const char *act = axle_node_attr_str(n, "case_change_action", "NONE");
    const char *loc = axle_node_attr_str(n, "locale", "");

    if (strcmp(act, "NONE") == 0)
        s->action = CASE_NONE;
    else if (strcmp(act, "LOWER") == 0)
        s->action = CASE_LOWER;
    else if (strcmp(act, "UPPER") == 0)
        s->action = CASE_UPPER;
    else
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "StringNormalizer: case_change_action '%.40s' "
                            "is not NONE, LOWER or UPPER", act);
    if (!locale_ok(loc))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "StringNormalizer: locale '%.40s' is not "
                            "supported (accepted: empty, C, POSIX, "
                            "language[_TERRITORY][.UTF-8] except tr, az, lt)",
                            loc);
    s->case_sensitive = axle_node_attr_int(n, "is_case_sensitive", 0) != 0;
    return AXLE_OK;
}

static enum axle_status strnorm_infer_attrs(const struct axle_node *n,
                                            struct axle_err *err)
{
    struct strnorm tmp = {0};
    const struct axle_attr *a = axle_node_attr(n, "stopwords");
    if (a != NULL && a->type != AXLE_ATTR_STRINGS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "StringNormalizer: stopwords must be a list of "
                            "strings");
    return strnorm_parse(n, &tmp, err);
}

static enum axle_status strnorm_prepare(struct axle_kctx *k, void **state)
{
    const struct axle_attr *a = axle_node_attr(k->node, "stopwords");
    struct strnorm *s;
    enum axle_status st;

    *state = NULL;
    st = strnorm_infer_attrs(k->node, k->err);
    if (st != AXLE_OK)
        return st;
    s = axle_try_calloc(1, sizeof(*s));
    if (s == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    strnorm_parse(k->node, s, k->err);
    if (a != NULL && a->n > 0) {
        s->stop = axle_try_calloc((size_t)a->n, sizeof(char *));
        if (s->stop == NULL) {
            strnorm_release(s);
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "out of memory");
        }
        s->n_stop = a->n;
        for (int i = 0; i < a->n; i++) {
            bool bad;
            s->stop[i] = mapped_copy(a->strings[i],
                                     s->case_sensitive ? CASE_NONE
                                                       : CASE_LOWER,
                                     &bad);
            if (s->stop[i] == NULL) {
                strnorm_release(s);
                return bad ? axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                          "StringNormalizer: stopword %d is "
                                          "not valid UTF-8", i)
                           : axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                          "out of memory");
            }
        }
        qsort(s->stop, (size_t)s->n_stop, sizeof(char *), cmp_str);
    }
    *state = s;
    return AXLE_OK;
}

/* Is x (NUL-terminated) a stopword? buf holds at least strlen(x) * 2 + 1
 * bytes when the comparison is case-blind (no mapping of the tables makes
 * a code point longer in UTF-8; 2x leaves room should one ever do).
 * Returns -1 when x is not UTF-8. */
static int is_stop(const struct strnorm *s, const char *x, char *buf)
{
    const char *key = x;
    if (s->n_stop == 0)
        return 0;
    if (!s->case_sensitive) {
        int64_t n = map_string(x, CASE_LOWER, buf);
        if (n < 0)
            return -1;
        buf[n] = '\0';
        key = buf;
    }
    return bsearch(&key, s->stop, (size_t)s->n_stop, sizeof(char *),
                   cmp_str) != NULL;
}

static enum axle_status strnorm_check(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    if (x->dtype != AXLE_DTYPE_UNDEFINED && x->dtype != AXLE_DTYPE_STRING)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "StringNormalizer: input X must be string, got %s",
                            axle_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank != 1 && x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "StringNormalizer: input X must be [C] or [1, C], "
                            "got rank %d", x->rank);
    if (x->rank == 2 && x->dims[0] >= 0 && x->dims[0] != 1)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "StringNormalizer: input X must be [C] or [1, C], "
                            "got [%lld, ...]", (long long)x->dims[0]);
    return AXLE_OK;
}

static size_t max_len(const struct axle_tensor *x, int64_t n)
{
    char *const *xs = x->data;
    size_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t l = xs[i] ? strlen(xs[i]) : 0;
        if (l > m)
            m = l;
    }
    return m;
}

/* Number of kept elements (data present and state known), -1 otherwise or
 * with err set (returned through *st) on bad input. */
static int64_t strnorm_count(struct axle_kctx *k, enum axle_status *st)
{
    const struct strnorm *s = k->state;
    const struct axle_tensor *x = k->in[0];
    int64_t n = axle_tensor_numel(x), kept = 0;
    char *buf = NULL;

    *st = AXLE_OK;
    if (n == 0)
        return 0;
    if (s == NULL || x->data == NULL || n < 0)
        return -1;
    if (!s->case_sensitive && s->n_stop > 0) {
        size_t m = max_len(x, n), need;
        if (axle_size_mul(m, 2, &need) || axle_size_add(need, 1, &need) ||
            (buf = axle_kctx_scratch(k, need)) == NULL) {
            *st = axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                               "StringNormalizer: no scratch memory");
            return -1;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        const char *e = ((char *const *)x->data)[i];
        int r = is_stop(s, e ? e : "", buf);
        if (r < 0 || map_string(e ? e : "", CASE_NONE, NULL) < 0) {
            *st = axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                               "StringNormalizer: element %lld of X is not "
                               "valid UTF-8", (long long)i);
            return -1;
        }
        kept += !r;
    }
    return kept;
}

static enum axle_status strnorm_infer(struct axle_kctx *k)
{
    enum axle_status st = strnorm_check(k);
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    int64_t kept;

    if (st == AXLE_OK)
        st = strnorm_infer_attrs(k->node, k->err);
    if (st != AXLE_OK)
        return st;
    kept = strnorm_count(k, &st);
    if (st != AXLE_OK)
        return st;
    if (kept == 0)
        kept = 1; /* one empty string */
    y->dtype = AXLE_DTYPE_STRING;
    if (x->rank == 2) {
        y->rank = 2;
        y->dims[0] = 1;
        y->dims[1] = kept >= 0 ? kept : AXLE_DIM_UNKNOWN;
    } else if (x->rank == 1) {
        y->rank = 1;
        y->dims[0] = kept >= 0 ? kept : AXLE_DIM_UNKNOWN;
    } else {
        y->rank = -1;
    }
    return AXLE_OK;
}

static enum axle_status strnorm_run(struct axle_kctx *k)
{
    const struct strnorm *s = k->state;
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    char **ys = y->data;
    int64_t n = axle_tensor_numel(x), ny = axle_tensor_numel(y), o = 0;
    char *buf = NULL;
    enum axle_status st = strnorm_check(k);

    if (st != AXLE_OK)
        return st;
    if (s == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "StringNormalizer: not prepared");
    if (!s->case_sensitive && s->n_stop > 0) {
        size_t m = max_len(x, n), need;
        if (axle_size_mul(m, 2, &need) || axle_size_add(need, 1, &need) ||
            (buf = axle_kctx_scratch(k, need)) == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "StringNormalizer: no scratch memory");
    }
    for (int64_t i = 0; i < n; i++) {
        const char *e = ((char *const *)x->data)[i];
        bool bad = false;
        int r = is_stop(s, e ? e : "", buf);
        if (r < 0)
            bad = true;
        else if (r == 0) {
            if (o >= ny)
                return axle_err_set(k->err, AXLE_INTERNAL,
                                    "StringNormalizer: output too small");
            axle_free(ys[o]);
            ys[o] = mapped_copy(e ? e : "", s->action, &bad);
            if (ys[o] == NULL && !bad)
                return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                    "StringNormalizer: out of memory");
            o++;
        }
        if (bad)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "StringNormalizer: element %lld of X is not "
                                "valid UTF-8", (long long)i);
    }
    if (o == 0 && ny >= 1) {
        axle_free(ys[0]);
        ys[0] = axle_try_calloc(1, 1);
        if (ys[0] == NULL)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "StringNormalizer: out of memory");
    }
    return AXLE_OK;
}

const struct axle_op axle_op_string_normalizer = {
    .name = "StringNormalizer",
    .domain = "",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = strnorm_infer,
    .run = strnorm_run,
    .prepare = strnorm_prepare,
    .release = strnorm_release,
};

/* ---- TfIdfVectorizer ----------------------------------------------------- */

enum tfidf_mode { TFIDF_TF = 0, TFIDF_IDF, TFIDF_TFIDF };

/* The pool's n-grams of one length, sorted so a lookup is a binary
 * search: gram g's items are pool[start + g * n .. + n). */
struct tfidf_level {
    int32_t n;       /* items per n-gram */
    int64_t start;   /* first pool item */
    int64_t count;   /* n-grams */
    int64_t *order;  /* count gram numbers in sorted order */
    int64_t *out;    /* count output coordinates, by gram number */
};

struct tfidf {
    enum tfidf_mode mode;
    int32_t min_n, max_n, max_skip;
    bool strings;
    int64_t n_pool;
    const int64_t *ipool; /* borrowed from the node's attributes */
    char *const *spool;
    int32_t n_levels;
    struct tfidf_level *levels; /* levels[i] holds (i+1)-grams */
    int64_t n_out;
    float *weights; /* n_out, or NULL */
};

static void tfidf_release(void *state)
{
    struct tfidf *t = state;
    if (t == NULL)
        return;
    for (int32_t i = 0; t->levels != NULL && i < t->n_levels; i++) {
        axle_free(t->levels[i].order);
        axle_free(t->levels[i].out);
    }
    axle_free(t->levels);
    axle_free(t->weights);
    axle_free(t);
}

/* Compares pool gram a (level lv) with pool gram b. */
static int gram_cmp(const struct tfidf *t, const struct tfidf_level *lv,
                    int64_t a, int64_t b)
{
    int64_t pa = lv->start + a * lv->n, pb = lv->start + b * lv->n;
    for (int32_t j = 0; j < lv->n; j++) {
        if (t->strings) {
            int c = strcmp(t->spool[pa + j], t->spool[pb + j]);
            if (c != 0)
                return c;
        } else if (t->ipool[pa + j] != t->ipool[pb + j]) {
            return t->ipool[pa + j] < t->ipool[pb + j] ? -1 : 1;
        }
    }
    return 0;
}

/* Bottom-up merge sort of lv->order (tmp: count scratch entries). */
static void sort_level(const struct tfidf *t, struct tfidf_level *lv,
                       int64_t *tmp)
{
    int64_t n = lv->count;
    int64_t *a = lv->order, *b = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n;
            int64_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                b[o++] = gram_cmp(t, lv, a[i], a[j]) <= 0 ? a[i++] : a[j++];
            while (i < mid)
                b[o++] = a[i++];
            while (j < hi)
                b[o++] = a[j++];
        }
        int64_t *s = a;
        a = b;
        b = s;
    }
    if (a != lv->order)
        memcpy(lv->order, a, (size_t)n * sizeof(int64_t));
}

static enum axle_status tfidf_build(const struct axle_node *nd,
                                    struct tfidf **out, struct axle_err *err)
{
    const char *mode = axle_node_attr_str(nd, "mode", NULL);
    int64_t min_n = axle_node_attr_int(nd, "min_gram_length", -1);
    int64_t max_n = axle_node_attr_int(nd, "max_gram_length", -1);
    int64_t skip = axle_node_attr_int(nd, "max_skip_count", -1);
    const struct axle_attr *ic = axle_node_attr(nd, "ngram_counts");
    const struct axle_attr *ix = axle_node_attr(nd, "ngram_indexes");
    const struct axle_attr *pi = axle_node_attr(nd, "pool_int64s");
    const struct axle_attr *ps = axle_node_attr(nd, "pool_strings");
    const struct axle_attr *w = axle_node_attr(nd, "weights");
    struct tfidf *t;
    int64_t grams = 0, *tmp = NULL;
    enum axle_status st = AXLE_OK;

    *out = NULL;
    if (mode == NULL)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: missing attribute 'mode'");
    if (min_n < 1 || max_n < min_n || max_n > 1024 || skip < 0 ||
        skip > (int64_t)1 << 30)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: needs 1 <= min_gram_length "
                            "(%lld) <= max_gram_length (%lld) <= 1024 and "
                            "max_skip_count (%lld) >= 0",
                            (long long)min_n, (long long)max_n,
                            (long long)skip);
    if (ic == NULL || ic->type != AXLE_ATTR_INTS || ix == NULL ||
        ix->type != AXLE_ATTR_INTS)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: ngram_counts and ngram_indexes "
                            "must be lists of integers");
    if ((pi != NULL && pi->type != AXLE_ATTR_INTS) ||
        (ps != NULL && ps->type != AXLE_ATTR_STRINGS) ||
        (w != NULL && w->type != AXLE_ATTR_FLOATS))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: pool_int64s, pool_strings or "
                            "weights has the wrong attribute type");
    if ((pi != NULL && pi->n > 0) == (ps != NULL && ps->n > 0))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: exactly one of pool_int64s and "
                            "pool_strings must be given");
    t = axle_try_calloc(1, sizeof(*t));
    if (t == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    if (strcmp(mode, "TF") == 0)
        t->mode = TFIDF_TF;
    else if (strcmp(mode, "IDF") == 0)
        t->mode = TFIDF_IDF;
    else if (strcmp(mode, "TFIDF") == 0)
        t->mode = TFIDF_TFIDF;
    else {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "TfIdfVectorizer: mode '%.20s' is not TF, IDF or "
                          "TFIDF", mode);
        goto fail;
    }
    t->min_n = (int32_t)min_n;
    t->max_n = (int32_t)max_n;
    t->max_skip = (int32_t)skip;
    t->strings = ps != NULL && ps->n > 0;
    t->n_pool = t->strings ? ps->n : pi->n;
    t->ipool = t->strings ? NULL : pi->ints;
    t->spool = t->strings ? ps->strings : NULL;
    t->n_levels = ic->n;
    t->levels = axle_try_calloc((size_t)(ic->n ? ic->n : 1),
                                sizeof(*t->levels));
    if (t->levels == NULL)
        goto oom;
    for (int i = 0; i < ic->n; i++) {
        struct tfidf_level *lv = &t->levels[i];
        int64_t s = ic->ints[i];
        int64_t e = i + 1 < ic->n ? ic->ints[i + 1] : t->n_pool;
        lv->n = i + 1;
        if (s < 0 || e < s || e > t->n_pool || (e - s) % (i + 1) != 0) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "TfIdfVectorizer: ngram_counts[%d] = %lld does "
                              "not split the pool of %lld items into "
                              "%d-grams", i, (long long)s,
                              (long long)t->n_pool, i + 1);
            goto fail;
        }
        lv->start = s;
        lv->count = (e - s) / (i + 1);
        grams += lv->count;
    }
    if (grams != ix->n) {
        st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                          "TfIdfVectorizer: the pool holds %lld n-grams but "
                          "ngram_indexes has %d entries", (long long)grams,
                          ix->n);
        goto fail;
    }
    t->n_out = 0;
    for (int i = 0; i < ix->n; i++) {
        if (ix->ints[i] < 0 || ix->ints[i] >= AXLE_TENSOR_MAX_ELEMS) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "TfIdfVectorizer: ngram_indexes[%d] = %lld is "
                              "out of range", i, (long long)ix->ints[i]);
            goto fail;
        }
        if (ix->ints[i] + 1 > t->n_out)
            t->n_out = ix->ints[i] + 1;
    }
    if (w != NULL && w->n > 0) {
        if (w->n < t->n_out) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "TfIdfVectorizer: %d weights for %lld outputs",
                              w->n, (long long)t->n_out);
            goto fail;
        }
        t->weights = axle_try_malloc((size_t)t->n_out * sizeof(float));
        if (t->weights == NULL)
            goto oom;
        memcpy(t->weights, w->floats, (size_t)t->n_out * sizeof(float));
    }
    tmp = axle_try_malloc((size_t)(grams ? grams : 1) * sizeof(int64_t));
    if (tmp == NULL)
        goto oom;
    grams = 0;
    for (int i = 0; i < ic->n; i++) {
        struct tfidf_level *lv = &t->levels[i];
        size_t cnt = (size_t)(lv->count ? lv->count : 1);
        lv->order = axle_try_malloc(cnt * sizeof(int64_t));
        lv->out = axle_try_malloc(cnt * sizeof(int64_t));
        if (lv->order == NULL || lv->out == NULL)
            goto oom;
        for (int64_t g = 0; g < lv->count; g++) {
            lv->order[g] = g;
            lv->out[g] = ix->ints[grams + g];
        }
        grams += lv->count;
        sort_level(t, lv, tmp);
        for (int64_t g = 1; g < lv->count; g++)
            if (gram_cmp(t, lv, lv->order[g - 1], lv->order[g]) == 0) {
                st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                  "TfIdfVectorizer: the pool lists a %d-gram "
                                  "twice", i + 1);
                goto fail;
            }
    }
    axle_free(tmp);
    *out = t;
    return AXLE_OK;
oom:
    st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
fail:
    axle_free(tmp);
    tfidf_release(t);
    return st;
}

static enum axle_status tfidf_prepare(struct axle_kctx *k, void **state)
{
    return tfidf_build(k->node, (struct tfidf **)state, k->err);
}

static enum axle_status tfidf_check(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    enum axle_dtype dt = x->dtype;
    if (dt != AXLE_DTYPE_UNDEFINED && dt != AXLE_DTYPE_STRING &&
        dt != AXLE_DTYPE_INT32 && dt != AXLE_DTYPE_INT64)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: input X must be string, int32 "
                            "or int64, got %s", axle_dtype_name(dt));
    if (x->rank >= 0 && x->rank != 1 && x->rank != 2)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: input X must be [C] or [N, C], "
                            "got rank %d", x->rank);
    if (x->rank == 2 && x->dims[0] == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "TfIdfVectorizer: input X is [0, C]: N must be "
                            "positive");
    return AXLE_OK;
}

static enum axle_status tfidf_infer(struct axle_kctx *k)
{
    const struct tfidf *t = k->state;
    struct tfidf *tmp = NULL;
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *y = k->out[0];
    enum axle_status st = tfidf_check(k);
    int64_t n_out;

    if (st != AXLE_OK)
        return st;
    if (t == NULL) {
        st = tfidf_build(k->node, &tmp, k->err);
        if (st != AXLE_OK)
            return st;
        t = tmp;
    }
    n_out = t->n_out;
    tfidf_release(tmp);
    y->dtype = AXLE_DTYPE_FLOAT32;
    y->rank = x->rank == 2 ? 2 : x->rank == 1 ? 1 : -1;
    if (x->rank == 2) {
        y->dims[0] = x->dims[0];
        y->dims[1] = n_out;
    } else if (x->rank == 1) {
        y->dims[0] = n_out;
    }
    return AXLE_OK;
}

/* Compares pool gram g of lv with the input items at x[p], x[p + d], ... */
static int gram_cmp_input(const struct tfidf *t, const struct tfidf_level *lv,
                          int64_t g, const struct axle_tensor *x, int64_t p,
                          int64_t d)
{
    int64_t pg = lv->start + g * lv->n;
    for (int32_t j = 0; j < lv->n; j++, p += d) {
        if (x->dtype == AXLE_DTYPE_STRING) {
            const char *s = ((char *const *)x->data)[p];
            int c = strcmp(t->spool[pg + j], s ? s : "");
            if (c != 0)
                return c;
        } else {
            int64_t v = x->dtype == AXLE_DTYPE_INT32
                            ? ((const int32_t *)x->data)[p]
                            : ((const int64_t *)x->data)[p];
            if (t->ipool[pg + j] != v)
                return t->ipool[pg + j] < v ? -1 : 1;
        }
    }
    return 0;
}

static int64_t level_find(const struct tfidf *t, const struct tfidf_level *lv,
                          const struct axle_tensor *x, int64_t p, int64_t d)
{
    int64_t lo = 0, hi = lv->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = gram_cmp_input(t, lv, lv->order[mid], x, p, d);
        if (c == 0)
            return lv->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

struct tfidf_job {
    const struct tfidf *t;
    const struct axle_tensor *x;
    int64_t cols;
    float *y;
};

static void tfidf_rows(void *ctx, int64_t r0, int64_t r1, int tid)
{
    const struct tfidf_job *j = ctx;
    const struct tfidf *t = j->t;
    bool match = (j->x->dtype == AXLE_DTYPE_STRING) == t->strings;

    (void)tid;
    int32_t top = t->max_n < t->n_levels ? t->max_n : t->n_levels;

    for (int64_t r = r0; r < r1; r++) {
        float *y = j->y + r * t->n_out;
        int64_t base = r * j->cols, end = base + j->cols;
        memset(y, 0, (size_t)t->n_out * sizeof(float));
        for (int64_t d = 1; match && d <= (int64_t)t->max_skip + 1; d++) {
            /* unigrams do not depend on the skip: count them once */
            int32_t lo = d > 1 && t->min_n == 1 ? 2 : t->min_n;
            /* past these, no gram of lo items fits in the row: this also
             * bounds a huge max_skip_count by the row length */
            if (lo > top || (d > 1 && (int64_t)(lo - 1) * d >= j->cols))
                break;
            for (int64_t p = base; p < end; p++) {
                for (int32_t n = lo; n <= top; n++) {
                    const struct tfidf_level *lv = &t->levels[n - 1];
                    int64_t g;
                    if ((int64_t)(n - 1) * d >= end - p)
                        break;
                    if (lv->count == 0)
                        continue;
                    g = level_find(t, lv, j->x, p, d);
                    if (g >= 0)
                        y[lv->out[g]] += 1.0f;
                }
            }
        }
        for (int64_t i = 0; i < t->n_out; i++) {
            float wt = t->weights ? t->weights[i] : 1.0f;
            if (t->mode == TFIDF_IDF)
                y[i] = y[i] > 0 ? wt : 0.0f;
            else if (t->mode == TFIDF_TFIDF)
                y[i] *= wt;
        }
    }
}

static enum axle_status tfidf_run(struct axle_kctx *k)
{
    const struct tfidf *t = k->state;
    const struct axle_tensor *x = k->in[0];
    enum axle_status st = tfidf_check(k);
    struct tfidf_job j;
    int64_t rows;

    if (st != AXLE_OK)
        return st;
    if (t == NULL)
        return axle_err_set(k->err, AXLE_INTERNAL,
                            "TfIdfVectorizer: not prepared");
    rows = x->rank == 2 ? x->dims[0] : 1;
    j = (struct tfidf_job){
        .t = t,
        .x = x,
        .cols = x->rank == 2 ? x->dims[1] : x->dims[0],
        .y = k->out[0]->data,
    };
    if (t->n_out == 0)
        return AXLE_OK;
    if (rows > 1 && rows * (j.cols + 1) > 4096)
        axle_pool_parallel_for(k->pool, rows, 1, tfidf_rows, &j);
    else
        tfidf_rows(&j, 0, rows, 0);
    return AXLE_OK;
}

const struct axle_op axle_op_tfidf_vectorizer = {
    .name = "TfIdfVectorizer",
    .domain = "",
    .min_inputs = 1, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1,
    .infer = tfidf_infer,
    .run = tfidf_run,
    .prepare = tfidf_prepare,
    .release = tfidf_release,
};
