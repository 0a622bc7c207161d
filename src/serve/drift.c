/*
 * drift.c - reference profiles and sliding-window PSI (drift.h).
 *
 * Parsing goes through the project's bounded JSON reader (json.h, depth and
 * token caps of SECURITY.md D16) on a private copy of the text; every count
 * read from the file is checked against the DRIFT_* bounds before anything
 * is sized by it (D13), and all such memory comes from axle_try_malloc.
 *
 * Layout: one array of per-feature records, plus flat arrays of edges
 * (double and float32-rounded copies) and of proportions with each
 * feature's missing share stored after its bins, so feature i owns
 * props[prop_off .. prop_off + bins] and the window's counts use the same
 * offsets.
 *
 * The window keeps a ring of rows x features bin indices (uint8: at most 64
 * bins plus the missing bin) and per-feature counts (uint32: rows are capped
 * at 2^31). Adding a row into a full window first takes the oldest row's
 * bins out of the counts, then overwrites its slot.
 */
#include "serve/drift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/json.h"

struct drift_feature {
    char name[DRIFT_MAX_NAME + 1];
    int n_bins;
    int edge_off;     /* into edges / edges_f32: n_bins - 1 values */
    int prop_off;     /* into props / window counts: n_bins + 1 values */
    double min, max, mean; /* informational; NAN when absent */
};

struct drift_profile {
    int n_features;
    int64_t rows;
    char input[DRIFT_MAX_NAME + 1];
    struct drift_feature *f;
    double *edges;
    float *edges_f32;
    double *props; /* bins, then the missing share */
    int n_edges_total, n_props_total;
};

struct drift_window {
    const struct drift_profile *p;
    int64_t cap, n, head; /* ring: rows held, next slot to write */
    uint8_t *ring;        /* cap * n_features */
    uint32_t *counts;     /* n_props_total, laid out as p->props */
};

/* ---------------------------------------------------------------------- */
/* Parsing                                                                 */

/* A string value of 1..DRIFT_MAX_NAME bytes without NUL, copied to dst. */
static int get_name(const struct json_doc *d, uint32_t t, char *dst, int allow_empty)
{
    const struct json_tok *k = json_tok(d, t);
    if (k->type != JSON_STRING || k->size > DRIFT_MAX_NAME || (!allow_empty && k->size == 0))
        return -1;
    if (memchr(json_str(d, t), '\0', k->size) != NULL)
        return -1;
    memcpy(dst, json_str(d, t), k->size);
    dst[k->size] = '\0';
    return 0;
}

static int get_finite(const struct json_doc *d, uint32_t t, double *out)
{
    return json_to_double(d, t, out) == 0 && isfinite(*out) ? 0 : -1;
}

/* Up to 64 bytes of file text for a message, anything but printable ASCII
 * shown as '?', so a message is one clean line whatever the file holds. */
static const char *shown(const char *s, char out[65])
{
    int i = 0;
    for (; i < 64 && s[i]; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
    return out;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* First pass over "features": validate every count and type before sizing
 * anything, and total the edges. */
static enum axle_status scan_features(const struct json_doc *d, uint32_t arr, int *n_edges,
                                      struct axle_err *err)
{
    uint32_t ft = arr + 1;
    *n_edges = 0;
    for (uint32_t i = 0; i < json_tok(d, arr)->size; i++, ft = json_next(d, ft)) {
        if (json_tok(d, ft)->type != JSON_OBJECT)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: features[%u] is not an object", i);
        uint32_t e = json_get(d, ft, "edges"), pr = json_get(d, ft, "proportions");
        if (e == 0 || json_tok(d, e)->type != JSON_ARRAY)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: features[%u]: 'edges' must be an array", i);
        if (pr == 0 || json_tok(d, pr)->type != JSON_ARRAY)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: features[%u]: 'proportions' must be an array", i);
        uint32_t ne = json_tok(d, e)->size, np = json_tok(d, pr)->size;
        if (ne < DRIFT_MIN_BINS - 1 || ne > DRIFT_MAX_BINS - 1)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: features[%u]: %u edges, want %d..%d (%d..%d bins)", i,
                                ne, DRIFT_MIN_BINS - 1, DRIFT_MAX_BINS - 1, DRIFT_MIN_BINS,
                                DRIFT_MAX_BINS);
        if (np != ne + 1)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: features[%u]: %u proportions for %u edges (want %u)", i,
                                np, ne, ne + 1);
        *n_edges += (int)ne;
    }
    return AXLE_OK;
}

static enum axle_status parse_feature(const struct json_doc *d, uint32_t ft, int i,
                                      struct drift_profile *p, int *edge_off, int *prop_off,
                                      struct axle_err *err)
{
    struct drift_feature *f = &p->f[i];
    char sh[65];
    int have_name = 0;
    double missing = 0, sum = 0;

    f->min = f->max = f->mean = NAN;
    for (uint32_t k = ft + 1; k < json_next(d, ft); k = json_next(d, k + 1)) {
        uint32_t v = k + 1;
        const char *key = json_str(d, k);
        if (json_streq(d, k, "name")) {
            if (get_name(d, v, f->name, 0) != 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: features[%d]: 'name' must be a string of 1..%d "
                                    "bytes", i, DRIFT_MAX_NAME);
            have_name = 1;
        } else if (json_streq(d, k, "edges") || json_streq(d, k, "proportions")) {
            /* read below, once the name is known for messages */
        } else if (json_streq(d, k, "missing")) {
            if (get_finite(d, v, &missing) != 0 || missing < 0 || missing > 1)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: features[%d]: 'missing' must be a number in [0, 1]",
                                    i);
        } else if (json_streq(d, k, "min") || json_streq(d, k, "max") ||
                   json_streq(d, k, "mean")) {
            double *dst = json_streq(d, k, "min") ? &f->min
                          : json_streq(d, k, "max") ? &f->max : &f->mean;
            if (get_finite(d, v, dst) != 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: features[%d]: '%s' must be a finite number", i, key);
        } else {
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: features[%d]: unknown key '%s'", i, shown(key, sh));
        }
    }
    if (!have_name)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: features[%d]: no 'name'", i);
    if (!isnan(f->min) && !isnan(f->max) && f->min > f->max)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "profile: feature '%s': min > max", shown(f->name, sh));

    uint32_t e = json_get(d, ft, "edges"), pr = json_get(d, ft, "proportions");
    int ne = (int)json_tok(d, e)->size; /* bounded by scan_features */
    f->n_bins = ne + 1;
    f->edge_off = *edge_off;
    f->prop_off = *prop_off;
    double *edges = p->edges + f->edge_off, *props = p->props + f->prop_off;
    uint32_t t = e + 1;
    for (int j = 0; j < ne; j++, t = json_next(d, t)) {
        if (get_finite(d, t, &edges[j]) != 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: feature '%s': edges[%d] is not a finite number",
                                shown(f->name, sh), j);
        if (j > 0 && !(edges[j] > edges[j - 1]))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: feature '%s': edges not strictly increasing at "
                                "edges[%d]", shown(f->name, sh), j);
        p->edges_f32[f->edge_off + j] = (float)edges[j];
    }
    t = pr + 1;
    for (int j = 0; j <= ne; j++, t = json_next(d, t)) {
        if (get_finite(d, t, &props[j]) != 0 || props[j] < 0 || props[j] > 1)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "profile: feature '%s': proportions[%d] must be a number in "
                                "[0, 1]", shown(f->name, sh), j);
        sum += props[j];
    }
    props[ne + 1] = missing;
    sum += missing;
    if (!(fabs(sum - 1.0) <= DRIFT_SUM_TOLERANCE))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "profile: feature '%s': proportions + missing sum to %.9g, not 1",
                            shown(f->name, sh), sum);
    *edge_off += ne;
    *prop_off += ne + 2;
    return AXLE_OK;
}

static enum axle_status check_unique_names(struct drift_profile *p, struct axle_err *err)
{
    const char **names = axle_try_malloc((size_t)p->n_features * sizeof(*names));
    enum axle_status st = AXLE_OK;
    char sh[65];
    if (names == NULL)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "profile: out of memory");
    for (int i = 0; i < p->n_features; i++)
        names[i] = p->f[i].name;
    qsort(names, (size_t)p->n_features, sizeof(*names), name_cmp);
    for (int i = 1; i < p->n_features; i++)
        if (strcmp(names[i], names[i - 1]) == 0) {
            st = axle_err_set(err, AXLE_INVALID_ARGUMENT,
                              "profile: duplicate feature name '%s'",
                              shown(names[i], sh));
            break;
        }
    axle_free(names);
    return st;
}

static enum axle_status parse_doc(const struct json_doc *d, struct drift_profile *p,
                                  struct axle_err *err)
{
    uint32_t features = 0;
    char sh[65];
    int have_format = 0, have_version = 0, n_edges = 0;
    enum axle_status st;

    if (json_tok(d, 0)->type != JSON_OBJECT)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: not a JSON object");
    for (uint32_t k = 1; k < json_next(d, 0); k = json_next(d, k + 1)) {
        uint32_t v = k + 1;
        int64_t iv;
        if (json_streq(d, k, "format")) {
            if (!json_streq(d, v, "axle-profile"))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: 'format' must be \"axle-profile\"");
            have_format = 1;
        } else if (json_streq(d, k, "version")) {
            if (json_to_int64(d, v, &iv) != 0 || iv != 1)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: unsupported 'version' (this build reads 1)");
            have_version = 1;
        } else if (json_streq(d, k, "input")) {
            if (get_name(d, v, p->input, 1) != 0)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: 'input' must be a string of at most %d bytes",
                                    DRIFT_MAX_NAME);
        } else if (json_streq(d, k, "rows")) {
            if (json_to_int64(d, v, &iv) != 0 || iv < 0 || iv > ((int64_t)1 << 53))
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: 'rows' must be an integer in 0..2^53");
            p->rows = iv;
        } else if (json_streq(d, k, "features")) {
            if (json_tok(d, v)->type != JSON_ARRAY)
                return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                    "profile: 'features' must be an array");
            features = v;
        } else {
            return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: unknown key '%s'",
                                shown(json_str(d, k), sh));
        }
    }
    if (!have_format)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: no 'format'");
    if (!have_version)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: no 'version'");
    if (features == 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: no 'features'");
    uint32_t nf = json_tok(d, features)->size;
    if (nf < 1 || nf > DRIFT_MAX_FEATURES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "profile: %u features, want 1..%d", nf, DRIFT_MAX_FEATURES);
    st = scan_features(d, features, &n_edges, err);
    if (st != AXLE_OK)
        return st;

    /* Bounded: nf <= 4096 and n_edges <= 4096 * 63, so none of these
     * products can overflow. */
    p->n_features = (int)nf;
    p->n_edges_total = n_edges;
    p->n_props_total = n_edges + 2 * (int)nf;
    p->f = axle_try_calloc(nf, sizeof(*p->f));
    p->edges = axle_try_malloc((size_t)n_edges * sizeof(*p->edges));
    p->edges_f32 = axle_try_malloc((size_t)n_edges * sizeof(*p->edges_f32));
    p->props = axle_try_malloc((size_t)p->n_props_total * sizeof(*p->props));
    if (!p->f || !p->edges || !p->edges_f32 || !p->props)
        return axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "profile: out of memory");

    int edge_off = 0, prop_off = 0;
    uint32_t ft = features + 1;
    for (int i = 0; i < (int)nf; i++, ft = json_next(d, ft)) {
        st = parse_feature(d, ft, i, p, &edge_off, &prop_off, err);
        if (st != AXLE_OK)
            return st;
    }
    return check_unique_names(p, err);
}

enum axle_status drift_profile_parse(const char *json, size_t len, struct drift_profile **out,
                                     struct axle_err *err)
{
    struct json_doc d;
    struct drift_profile *p = NULL;
    char *copy = NULL;
    enum axle_status st;

    *out = NULL;
    json_doc_init(&d);
    d.max_depth = 8; /* root, features, feature, edges: 4 levels are needed */
    if (json == NULL && len > 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: no text");
    if (len > DRIFT_MAX_PROFILE_BYTES)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT, "profile: larger than %u bytes",
                            DRIFT_MAX_PROFILE_BYTES);
    copy = axle_try_malloc(len + 1);
    p = axle_try_calloc(1, sizeof(*p));
    if (copy == NULL || p == NULL) {
        st = axle_err_set(err, AXLE_RESOURCE_EXHAUSTED, "profile: out of memory");
        goto out;
    }
    if (len)
        memcpy(copy, json, len);
    st = json_parse(&d, copy, len, err);
    if (st != AXLE_OK) {
        if (st == AXLE_INVALID_ARGUMENT)
            axle_err_prefix(err, "profile: ");
        goto out;
    }
    st = parse_doc(&d, p, err);
    if (st == AXLE_OK) {
        *out = p;
        p = NULL;
    }
out:
    drift_profile_free(p);
    json_doc_free(&d);
    axle_free(copy);
    return st;
}

void drift_profile_free(struct drift_profile *p)
{
    if (p == NULL)
        return;
    axle_free(p->f);
    axle_free(p->edges);
    axle_free(p->edges_f32);
    axle_free(p->props);
    axle_free(p);
}

int drift_profile_features(const struct drift_profile *p)
{
    return p->n_features;
}

const char *drift_profile_feature_name(const struct drift_profile *p, int i)
{
    return p->f[i].name;
}

const char *drift_profile_input(const struct drift_profile *p)
{
    return p->input;
}

int64_t drift_profile_rows(const struct drift_profile *p)
{
    return p->rows;
}

int drift_profile_bins(const struct drift_profile *p, int i)
{
    return p->f[i].n_bins;
}

const double *drift_profile_edges(const struct drift_profile *p, int i, int *n_edges)
{
    if (n_edges)
        *n_edges = p->f[i].n_bins - 1;
    return p->edges + p->f[i].edge_off;
}

const double *drift_profile_proportions(const struct drift_profile *p, int i)
{
    return p->props + p->f[i].prop_off;
}

double drift_profile_missing(const struct drift_profile *p, int i)
{
    return p->props[p->f[i].prop_off + p->f[i].n_bins];
}

int drift_profile_feature_index(const struct drift_profile *p, const char *name)
{
    for (int i = 0; i < p->n_features; i++)
        if (strcmp(p->f[i].name, name) == 0)
            return i;
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Binning                                                                 */

int drift_bin_find(const double *edges, int n_edges, double x)
{
    if (isnan(x))
        return n_edges + 1;
    int lo = 0, hi = n_edges; /* answer in [lo, hi]: first edge >= x */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (edges[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline int bin_f32(const float *edges, int n_edges, float x)
{
    if (isnan(x))
        return n_edges + 1;
    int lo = 0, hi = n_edges;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (edges[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---------------------------------------------------------------------- */
/* Window                                                                  */

struct drift_window *drift_window_new(const struct drift_profile *p, int64_t rows)
{
    size_t ring_bytes;
    if (p == NULL || rows < 1 || rows > DRIFT_MAX_WINDOW_ROWS ||
        axle_size_mul((size_t)rows, (size_t)p->n_features, &ring_bytes) != 0)
        return NULL;
    struct drift_window *w = axle_try_calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->p = p;
    w->cap = rows;
    w->ring = axle_try_malloc(ring_bytes);
    w->counts = axle_try_calloc((size_t)p->n_props_total, sizeof(*w->counts));
    if (w->ring == NULL || w->counts == NULL) {
        drift_window_free(w);
        return NULL;
    }
    return w;
}

void drift_window_free(struct drift_window *w)
{
    if (w == NULL)
        return;
    axle_free(w->ring);
    axle_free(w->counts);
    axle_free(w);
}

void drift_window_reset(struct drift_window *w)
{
    memset(w->counts, 0, (size_t)w->p->n_props_total * sizeof(*w->counts));
    w->n = 0;
    w->head = 0;
}

/* The slot for the next row, with the oldest row's bins taken out of the
 * counts when the window is full. */
static uint8_t *next_slot(struct drift_window *w)
{
    const struct drift_profile *p = w->p;
    uint8_t *slot = w->ring + (size_t)w->head * (size_t)p->n_features;
    if (w->n == w->cap) {
        for (int j = 0; j < p->n_features; j++)
            w->counts[p->f[j].prop_off + slot[j]]--;
    } else {
        w->n++;
    }
    if (++w->head == w->cap)
        w->head = 0;
    return slot;
}

/* Rows before the last `cap` would leave the window within this call:
 * start from an empty window and add only the rows that stay. */
static int64_t skip_evicted(struct drift_window *w, int64_t n)
{
    if (n <= w->cap)
        return 0;
    drift_window_reset(w);
    return n - w->cap;
}

void drift_window_add_f32(struct drift_window *w, const float *x, int64_t n)
{
    const struct drift_profile *p = w->p;
    const int nf = p->n_features;
    if (n <= 0)
        return;
    int64_t r = skip_evicted(w, n);
    x += (size_t)r * (size_t)nf;
    for (; r < n; r++, x += nf) {
        uint8_t *slot = next_slot(w);
        for (int j = 0; j < nf; j++) {
            const struct drift_feature *f = &p->f[j];
            int b = bin_f32(p->edges_f32 + f->edge_off, f->n_bins - 1, x[j]);
            slot[j] = (uint8_t)b;
            w->counts[f->prop_off + b]++;
        }
    }
}

void drift_window_add_f64(struct drift_window *w, const double *x, int64_t n)
{
    const struct drift_profile *p = w->p;
    const int nf = p->n_features;
    if (n <= 0)
        return;
    int64_t r = skip_evicted(w, n);
    x += (size_t)r * (size_t)nf;
    for (; r < n; r++, x += nf) {
        uint8_t *slot = next_slot(w);
        for (int j = 0; j < nf; j++) {
            const struct drift_feature *f = &p->f[j];
            int b = drift_bin_find(p->edges + f->edge_off, f->n_bins - 1, x[j]);
            slot[j] = (uint8_t)b;
            w->counts[f->prop_off + b]++;
        }
    }
}

int64_t drift_window_rows(const struct drift_window *w)
{
    return w->n;
}

int64_t drift_window_capacity(const struct drift_window *w)
{
    return w->cap;
}

int64_t drift_window_count(const struct drift_window *w, int i, int b)
{
    return w->counts[w->p->f[i].prop_off + b];
}

int64_t drift_window_psi(const struct drift_window *w, double *psi)
{
    const struct drift_profile *p = w->p;
    for (int j = 0; j < p->n_features; j++) {
        const struct drift_feature *f = &p->f[j];
        double s = 0;
        if (w->n > 0) {
            for (int b = 0; b <= f->n_bins; b++) {
                double a = (double)w->counts[f->prop_off + b] / (double)w->n;
                double e = p->props[f->prop_off + b];
                if (a < DRIFT_PSI_FLOOR)
                    a = DRIFT_PSI_FLOOR;
                if (e < DRIFT_PSI_FLOOR)
                    e = DRIFT_PSI_FLOOR;
                s += (a - e) * log(a / e);
            }
        }
        psi[j] = s;
    }
    return w->n;
}
