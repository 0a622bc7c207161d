/*
 * monitor.c - what is monitored on a version (the output compared with
 * labels, the profiled input), quality sums from feedback, drift, and the
 * JSON and Prometheus views of them. The feedback index and the route live
 * in feedback.c; the PSI arithmetic in drift.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/err.h"
#include "serve/drift.h"
#include "serve/metrics.h"
#include "serve/monitor.h"
#include "serve/sched.h"

static const double delay_bounds[MON_DELAY_BUCKETS] = {1, 10, 60, 300, 1800, 3600, 21600,
                                                       86400, 604800};

uint64_t monitor_hash_label(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int is_int_dtype(enum axle_dtype dt)
{
    switch (dt) {
    case AXLE_DTYPE_INT8: case AXLE_DTYPE_INT16: case AXLE_DTYPE_INT32: case AXLE_DTYPE_INT64:
    case AXLE_DTYPE_UINT8: case AXLE_DTYPE_UINT16: case AXLE_DTYPE_UINT32: case AXLE_DTYPE_UINT64:
    case AXLE_DTYPE_BOOL:
        return 1;
    default:
        return 0;
    }
}

static int is_float_dtype(enum axle_dtype dt)
{
    return dt == AXLE_DTYPE_FLOAT32 || dt == AXLE_DTYPE_FLOAT64 || dt == AXLE_DTYPE_FLOAT16 ||
           dt == AXLE_DTYPE_BFLOAT16;
}

/* One value per row: [N] or [N, 1]. */
static int one_per_row(const struct io_desc *o)
{
    return o->rank == 1 || (o->rank == 2 && o->dims[1] == 1);
}

/* How output o answers task (0: it cannot). */
static int fit_output(const struct io_desc *o, enum mon_task task, enum mon_pred *pred)
{
    if (task != MON_TASK_REGRESSION && one_per_row(o) && is_int_dtype(o->dtype)) {
        *pred = MON_PRED_LABEL_INT;
        return 1;
    }
    if (task != MON_TASK_REGRESSION && one_per_row(o) && o->dtype == AXLE_DTYPE_STRING) {
        *pred = MON_PRED_LABEL_STR;
        return 1;
    }
    if (task != MON_TASK_REGRESSION && o->rank == 2 && o->dims[1] > 1 && is_float_dtype(o->dtype)) {
        *pred = MON_PRED_ARGMAX;
        return 1;
    }
    if (task == MON_TASK_REGRESSION && is_float_dtype(o->dtype) &&
        (o->rank == 1 || (o->rank == 2 && o->dims[1] >= 1 && o->dims[1] <= MON_MAX_VALUES))) {
        *pred = MON_PRED_VALUE;
        return 1;
    }
    return 0;
}

/* Without config: a label output first (classifiers exported from
 * scikit-learn answer both a label and probabilities), then scores, then a
 * single float value per row (a regressor). */
static int derive_output(const struct model_version *v, enum mon_task *task, enum mon_pred *pred)
{
    for (int pass = 0; pass < 3; pass++)
        for (int o = 0; o < v->n_outputs; o++) {
            const struct io_desc *d = &v->outputs[o];
            enum mon_pred p;
            if (pass < 2 && fit_output(d, MON_TASK_CLASSIFICATION, &p) &&
                ((pass == 0) == (p != MON_PRED_ARGMAX))) {
                *task = MON_TASK_CLASSIFICATION;
                *pred = p;
                return o;
            }
            if (pass == 2 && one_per_row(d) && fit_output(d, MON_TASK_REGRESSION, &p)) {
                *task = MON_TASK_REGRESSION;
                *pred = p;
                return o;
            }
        }
    return -1;
}

static enum axle_status setup_drift(struct monitor *m, const struct model_version *v,
                                    const char *json, size_t len, int64_t window,
                                    struct axle_err *err)
{
    enum axle_status st = drift_profile_parse(json, len, &m->profile, err);
    if (st != AXLE_OK) {
        axle_err_prefix(err, "invalid profile: ");
        return st;
    }
    const char *want = drift_profile_input(m->profile);
    m->drift_input = -1;
    for (int i = 0; i < v->n_inputs; i++)
        if ((*want && strcmp(v->inputs[i].name, want) == 0) || (!*want && i == 0))
            m->drift_input = i;
    if (m->drift_input < 0)
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid profile: the model has no input '%s'", want);
    const struct io_desc *in = &v->inputs[m->drift_input];
    m->drift_features = drift_profile_features(m->profile);
    if (in->rank != 2 || (in->dims[1] != -1 && in->dims[1] != m->drift_features) ||
        (in->dtype != AXLE_DTYPE_FLOAT32 && in->dtype != AXLE_DTYPE_FLOAT64))
        return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                            "invalid profile: input '%s' is not float [N, %lld]", in->name,
                            (long long)m->drift_features);
    m->window = drift_window_new(m->profile, window > 0 ? window : 1000);
    if (!m->window)
        return axle_err_set(err, AXLE_UNAVAILABLE, "memory budget exceeded");
    return AXLE_OK;
}

enum axle_status monitor_new(const struct model_version *v, const struct model_config *c,
                             const char *profile_json, size_t profile_len,
                             struct monitor **out, struct axle_err *err)
{
    *out = NULL;
    enum mon_task task = c->mon_task == 1   ? MON_TASK_CLASSIFICATION
                         : c->mon_task == 2 ? MON_TASK_REGRESSION
                                            : MON_TASK_NONE;
    enum mon_pred pred = MON_PRED_VALUE;
    int output = -1;
    if (c->mon_output[0]) {
        for (int o = 0; o < v->n_outputs; o++)
            if (strcmp(v->outputs[o].name, c->mon_output) == 0)
                output = o;
        if (output < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid config: monitoring output '%s' not in the model",
                                c->mon_output);
        const struct io_desc *d = &v->outputs[output];
        if (task == MON_TASK_NONE)
            task = fit_output(d, MON_TASK_CLASSIFICATION, &pred) ? MON_TASK_CLASSIFICATION
                                                                 : MON_TASK_REGRESSION;
        if (!fit_output(d, task, &pred))
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid config: monitoring output '%s' does not fit the task",
                                c->mon_output);
    } else if (task != MON_TASK_NONE) {
        for (int o = 0; o < v->n_outputs && output < 0; o++)
            if (fit_output(&v->outputs[o], task, &pred))
                output = o;
        if (output < 0)
            return axle_err_set(err, AXLE_INVALID_ARGUMENT,
                                "invalid config: no output fits the monitoring task");
    } else {
        output = derive_output(v, &task, &pred);
        if (output < 0)
            task = MON_TASK_NONE;
    }
    if (output < 0 && !profile_json)
        return AXLE_OK;
    struct monitor *m = axle_xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    m->task = output >= 0 ? task : MON_TASK_NONE;
    m->pred = pred;
    m->output = output;
    m->values_per_row = 1;
    if (output >= 0 && pred == MON_PRED_VALUE && v->outputs[output].rank == 2)
        m->values_per_row = v->outputs[output].dims[1];
    if (profile_json) {
        enum axle_status st = setup_drift(m, v, profile_json, profile_len, c->drift_window, err);
        if (st != AXLE_OK) {
            monitor_free(m);
            return st;
        }
    }
    *out = m;
    return AXLE_OK;
}

void monitor_free(struct monitor *m)
{
    if (!m)
        return;
    drift_window_free(m->window);
    drift_profile_free(m->profile);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static double elem_double(const struct axle_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case AXLE_DTYPE_FLOAT32: return ((const float *)t->data)[i];
    case AXLE_DTYPE_FLOAT64: return ((const double *)t->data)[i];
    default: return NAN;
    }
}

static int64_t elem_int(const struct axle_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case AXLE_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case AXLE_DTYPE_INT16: return ((const int16_t *)t->data)[i];
    case AXLE_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case AXLE_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case AXLE_DTYPE_UINT8: case AXLE_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    case AXLE_DTYPE_UINT16: return ((const uint16_t *)t->data)[i];
    case AXLE_DTYPE_UINT32: return ((const uint32_t *)t->data)[i];
    case AXLE_DTYPE_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
    default: return 0;
    }
}

int monitor_predictions(const struct monitor *m, const struct axle_tensor *t, uint64_t *vals,
                        int64_t *rows)
{
    if (m->output < 0 || t->rank < 1)
        return -1;
    int64_t n = t->dims[0];
    *rows = n;
    int64_t per = 1;
    for (int d = 1; d < t->rank; d++)
        per *= t->dims[d];
    if (m->pred == MON_PRED_ARGMAX) {
        if (n > MON_MAX_VALUES || per < 1)
            return -1;
        /* Native float: the scores are exactly what was answered. */
        if (t->dtype != AXLE_DTYPE_FLOAT32 && t->dtype != AXLE_DTYPE_FLOAT64)
            return -1;
        for (int64_t r = 0; r < n; r++) {
            int64_t best = 0;
            double bv = elem_double(t, r * per);
            for (int64_t c = 1; c < per; c++) {
                double x = elem_double(t, r * per + c);
                if (x > bv) {
                    bv = x;
                    best = c;
                }
            }
            vals[r] = (uint64_t)best;
        }
        return (int)n;
    }
    int64_t total = n * per;
    if (total > MON_MAX_VALUES)
        return -1;
    for (int64_t i = 0; i < total; i++) {
        if (m->pred == MON_PRED_LABEL_INT) {
            vals[i] = (uint64_t)elem_int(t, i);
        } else if (m->pred == MON_PRED_LABEL_STR) {
            const char *s = ((const char *const *)t->data)[i];
            vals[i] = monitor_hash_label(s ? s : "", s ? strlen(s) : 0);
        } else {
            double x = elem_double(t, i);
            memcpy(&vals[i], &x, sizeof(x));
        }
    }
    return (int)total;
}

void monitor_observe_inputs(struct monitor *m, const struct axle_tensor *in)
{
    if (!m || !m->window || in->rank != 2 || in->dims[1] != m->drift_features || in->dims[0] < 1)
        return;
    pthread_mutex_lock(&m->mu);
    if (in->dtype == AXLE_DTYPE_FLOAT32)
        drift_window_add_f32(m->window, in->data, in->dims[0]);
    else if (in->dtype == AXLE_DTYPE_FLOAT64)
        drift_window_add_f64(m->window, in->data, in->dims[0]);
    pthread_mutex_unlock(&m->mu);
}

void monitor_add_feedback(struct monitor *m, const uint64_t *pred, const uint64_t *label, int n,
                          double delay_s)
{
    pthread_mutex_lock(&m->mu);
    m->labelled++;
    m->labelled_values += (uint64_t)n;
    for (int i = 0; i < n; i++) {
        if (m->task == MON_TASK_REGRESSION) {
            double p, y;
            memcpy(&p, &pred[i], sizeof(p));
            memcpy(&y, &label[i], sizeof(y));
            m->abs_err += fabs(p - y);
            m->sq_err += (p - y) * (p - y);
        } else if (pred[i] == label[i]) {
            m->correct++;
        }
    }
    int b = 0;
    while (b < MON_DELAY_BUCKETS && delay_s > delay_bounds[b])
        b++;
    m->delay_counts[b]++;
    m->delay_sum += delay_s;
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------ */
/* Views                                                               */

struct quality {
    uint64_t labelled, values, correct;
    double accuracy, mae, rmse, delay_mean; /* NAN when unknown */
    uint64_t delay_counts[MON_DELAY_BUCKETS + 1];
    double delay_sum;
};

static void read_quality(struct monitor *m, struct quality *q)
{
    pthread_mutex_lock(&m->mu);
    q->labelled = m->labelled;
    q->values = m->labelled_values;
    q->correct = m->correct;
    memcpy(q->delay_counts, m->delay_counts, sizeof(q->delay_counts));
    q->delay_sum = m->delay_sum;
    double n = (double)m->labelled_values;
    q->accuracy = m->task == MON_TASK_CLASSIFICATION && n > 0 ? (double)m->correct / n : NAN;
    q->mae = m->task == MON_TASK_REGRESSION && n > 0 ? m->abs_err / n : NAN;
    q->rmse = m->task == MON_TASK_REGRESSION && n > 0 ? sqrt(m->sq_err / n) : NAN;
    q->delay_mean = m->labelled ? m->delay_sum / (double)m->labelled : NAN;
    pthread_mutex_unlock(&m->mu);
}

/* PSI per feature into psi (drift_features of them); rows in window. */
static int64_t read_psi(struct monitor *m, double *psi)
{
    pthread_mutex_lock(&m->mu);
    int64_t rows = drift_window_psi(m->window, psi);
    pthread_mutex_unlock(&m->mu);
    return rows;
}

static void put_num_or_null(struct axle_buf *b, double x)
{
    if (x != x || isinf(x))
        buf_puts(b, "null");
    else
        json_put_double(b, x);
}

static void labels(struct axle_buf *b, const struct model_version *v)
{
    buf_puts(b, "model=\"");
    buf_puts(b, v->model->name); /* names are [A-Za-z0-9_.-] (R1) */
    buf_puts(b, "\",version=\"");
    buf_puts(b, v->version_str);
    buf_putc(b, '"');
}

void monitor_metrics(struct axle_buf *b, const struct metrics_snapshot *s)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"axle_feedback_labelled_total", "counter", "Feedback records joined with a prediction."},
        {"axle_feedback_correct_total", "counter",
         "Classifier predictions (values) that matched their label."},
        {"axle_feedback_values_total", "counter", "Labelled values (rows x targets)."},
        {"axle_model_accuracy_ratio", "gauge", "Share of labelled classifier predictions that were right."},
        {"axle_model_mean_absolute_error", "gauge", "Mean absolute error of labelled regressor predictions."},
        {"axle_model_root_mean_squared_error", "gauge", "Root mean squared error of labelled regressor predictions."},
    };
    struct quality *qs = axle_xcalloc((size_t)(s->n ? s->n : 1), sizeof(*qs));
    for (int i = 0; i < s->n; i++)
        if (s->v[i].v->mon)
            read_quality(s->v[i].v->mon, &qs[i]);
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name,
                   fam[f].type);
        for (int i = 0; i < s->n; i++) {
            const struct model_version *v = s->v[i].v;
            const struct quality *q = &qs[i];
            if (!v->mon || v->mon->task == MON_TASK_NONE)
                continue;
            int cls = v->mon->task == MON_TASK_CLASSIFICATION;
            if ((f == 1 || f == 3) && !cls)
                continue;
            if ((f == 4 || f == 5) && cls)
                continue;
            buf_printf(b, "%s{", fam[f].name);
            labels(b, v);
            buf_puts(b, "} ");
            switch (f) {
            case 0: buf_printf(b, "%llu", (unsigned long long)q->labelled); break;
            case 1: buf_printf(b, "%llu", (unsigned long long)q->correct); break;
            case 2: buf_printf(b, "%llu", (unsigned long long)q->values); break;
            case 3: metrics_put_value(b, q->accuracy); break;
            case 4: metrics_put_value(b, q->mae); break;
            default: metrics_put_value(b, q->rmse); break;
            }
            buf_putc(b, '\n');
        }
    }
    buf_puts(b, "# HELP axle_feedback_label_delay_seconds Time from a prediction's answer to its label.\n"
                "# TYPE axle_feedback_label_delay_seconds histogram\n");
    for (int i = 0; i < s->n; i++) {
        const struct model_version *v = s->v[i].v;
        const struct quality *q = &qs[i];
        if (!v->mon || v->mon->task == MON_TASK_NONE)
            continue;
        uint64_t cum = 0;
        for (int k = 0; k <= MON_DELAY_BUCKETS; k++) {
            cum += q->delay_counts[k];
            buf_puts(b, "axle_feedback_label_delay_seconds_bucket{");
            labels(b, v);
            if (k == MON_DELAY_BUCKETS)
                buf_puts(b, ",le=\"+Inf\"} ");
            else
                buf_printf(b, ",le=\"%g\"} ", delay_bounds[k]);
            buf_printf(b, "%llu\n", (unsigned long long)cum);
        }
        buf_puts(b, "axle_feedback_label_delay_seconds_sum{");
        labels(b, v);
        buf_puts(b, "} ");
        metrics_put_value(b, q->delay_sum);
        buf_puts(b, "\naxle_feedback_label_delay_seconds_count{");
        labels(b, v);
        buf_printf(b, "} %llu\n", (unsigned long long)cum);
    }
    free(qs);
    buf_puts(b, "# HELP axle_drift_psi Population stability index of an input feature: the live window "
                "against the reference profile.\n# TYPE axle_drift_psi gauge\n");
    for (int i = 0; i < s->n; i++) {
        struct monitor *m = s->v[i].v->mon;
        if (!m || !m->window)
            continue;
        double *psi = axle_xcalloc((size_t)m->drift_features, sizeof(double));
        int64_t rows = read_psi(m, psi);
        for (int64_t f = 0; f < m->drift_features && rows > 0; f++) {
            buf_puts(b, "axle_drift_psi{");
            labels(b, s->v[i].v);
            buf_puts(b, ",feature=");
            json_put_cstr(b, drift_profile_feature_name(m->profile, (int)f));
            buf_puts(b, "} ");
            metrics_put_value(b, psi[f]);
            buf_putc(b, '\n');
        }
        free(psi);
    }
    buf_puts(b, "# HELP axle_drift_window_rows Rows in the live drift window.\n"
                "# TYPE axle_drift_window_rows gauge\n");
    for (int i = 0; i < s->n; i++) {
        struct monitor *m = s->v[i].v->mon;
        if (!m || !m->window)
            continue;
        pthread_mutex_lock(&m->mu);
        int64_t rows = drift_window_rows(m->window);
        pthread_mutex_unlock(&m->mu);
        buf_puts(b, "axle_drift_window_rows{");
        labels(b, s->v[i].v);
        buf_printf(b, "} %lld\n", (long long)rows);
    }
}

/* Quantile q from per-bucket counts (histogram_quantile's linear
 * interpolation inside the bucket; the +Inf bucket answers its lower
 * bound). bounds in seconds. */
static double quantile(const double *bounds, int nb, const uint64_t *counts, double q)
{
    uint64_t total = 0;
    for (int i = 0; i <= nb; i++)
        total += counts[i];
    if (!total)
        return NAN;
    double rank = q * (double)total, cum = 0;
    for (int i = 0; i <= nb; i++) {
        if (cum + (double)counts[i] >= rank && counts[i]) {
            if (i == nb)
                return bounds[nb - 1];
            double lo = i ? bounds[i - 1] : 0, hi = bounds[i];
            return lo + (hi - lo) * (rank - cum) / (double)counts[i];
        }
        cum += (double)counts[i];
    }
    return bounds[nb - 1];
}

static void put_counts(struct axle_buf *b, const uint64_t *c, int n)
{
    buf_putc(b, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        json_put_uint(b, c[i]);
    }
    buf_putc(b, ']');
}

void monitor_put_json(struct axle_buf *b, struct model_version *v)
{
    buf_puts(b, "{\"model\":");
    json_put_cstr(b, v->model->name);
    buf_puts(b, ",\"version\":\"");
    buf_puts(b, v->version_str);
    buf_puts(b, "\",\"state\":\"");
    buf_puts(b, version_state_name(v->state));
    buf_puts(b, "\",\"success\":");
    json_put_uint(b, metrics_sum(v, offsetof(struct version_stats, success.count)));
    buf_puts(b, ",\"failure\":{");
    for (int k = 0; k < FAIL_N; k++) {
        if (k)
            buf_putc(b, ',');
        buf_printf(b, "\"%s\":", fail_reason_name((enum fail_reason)k));
        json_put_uint(b, metrics_sum(v, offsetof(struct version_stats, fail_reason) +
                                            (size_t)k * sizeof(atomic_uint_fast64_t)));
    }
    buf_puts(b, "},\"inference_count\":");
    json_put_uint(b, metrics_sum(v, offsetof(struct version_stats, inference_count)));
    buf_puts(b, ",\"execution_count\":");
    json_put_uint(b, metrics_sum(v, offsetof(struct version_stats, execution_count)));
    buf_puts(b, ",\"pending\":");
    json_put_uint(b, v->sched ? (uint64_t)sched_queued(v->sched) : 0);

    uint64_t counts[METRIC_MAX_BUCKETS + 1], sum;
    double bounds[METRIC_MAX_BUCKETS];
    for (int i = 0; i < v->n_bounds; i++)
        bounds[i] = (double)v->bounds[i] / 1e9;
    metrics_hist(v, H_REQUEST, counts, &sum);
    buf_puts(b, ",\"latency\":{\"bounds_seconds\":[");
    for (int i = 0; i < v->n_bounds; i++) {
        if (i)
            buf_putc(b, ',');
        json_put_double(b, bounds[i]);
    }
    buf_puts(b, "],\"counts\":");
    put_counts(b, counts, v->n_bounds + 1);
    buf_puts(b, ",\"sum_seconds\":");
    json_put_double(b, (double)sum / 1e9);
    buf_puts(b, ",\"p50_seconds\":");
    put_num_or_null(b, quantile(bounds, v->n_bounds, counts, 0.5));
    buf_puts(b, ",\"p99_seconds\":");
    put_num_or_null(b, quantile(bounds, v->n_bounds, counts, 0.99));

    metrics_hist(v, H_BATCH, counts, &sum);
    buf_puts(b, "},\"batch\":{\"bounds\":");
    put_counts(b, v->batch_bounds, v->n_batch_bounds);
    buf_puts(b, ",\"counts\":");
    put_counts(b, counts, v->n_batch_bounds + 1);
    uint64_t execs = 0;
    for (int i = 0; i <= v->n_batch_bounds; i++)
        execs += counts[i];
    buf_puts(b, ",\"mean\":");
    put_num_or_null(b, execs ? (double)sum / (double)execs : NAN);
    buf_putc(b, '}');

    struct monitor *m = v->mon;
    buf_puts(b, ",\"quality\":");
    if (m && m->task != MON_TASK_NONE) {
        struct quality q;
        read_quality(m, &q);
        buf_puts(b, m->task == MON_TASK_CLASSIFICATION ? "{\"task\":\"classification\""
                                                       : "{\"task\":\"regression\"");
        buf_puts(b, ",\"output\":");
        json_put_cstr(b, v->outputs[m->output].name);
        buf_puts(b, ",\"labelled\":");
        json_put_uint(b, q.labelled);
        buf_puts(b, ",\"accuracy\":");
        put_num_or_null(b, q.accuracy);
        buf_puts(b, ",\"mae\":");
        put_num_or_null(b, q.mae);
        buf_puts(b, ",\"rmse\":");
        put_num_or_null(b, q.rmse);
        buf_puts(b, ",\"label_delay_seconds\":");
        put_num_or_null(b, q.delay_mean);
        buf_putc(b, '}');
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, ",\"drift\":");
    if (m && m->window) {
        double *psi = axle_xcalloc((size_t)m->drift_features, sizeof(double));
        int64_t rows = read_psi(m, psi);
        buf_puts(b, "{\"window_rows\":");
        json_put_uint(b, (uint64_t)rows);
        buf_puts(b, ",\"features\":[");
        for (int64_t f = 0; f < m->drift_features; f++) {
            if (f)
                buf_putc(b, ',');
            buf_puts(b, "{\"name\":");
            json_put_cstr(b, drift_profile_feature_name(m->profile, (int)f));
            buf_puts(b, ",\"psi\":");
            put_num_or_null(b, rows > 0 ? psi[f] : NAN);
            buf_putc(b, '}');
        }
        buf_puts(b, "]}");
        free(psi);
    } else {
        buf_puts(b, "null");
    }
    buf_putc(b, '}');
}
