/*
 * sequence.c - ONNX sequence and optional operators: SequenceEmpty,
 * SequenceConstruct, SequenceInsert, SequenceAt, SequenceErase,
 * SequenceLength, SplitToSequence, ConcatFromSequence (opsets 11+),
 * Optional, OptionalHasElement, OptionalGetElement (15; 18 also accepts
 * plain tensors and sequences, and an empty input for HasElement).
 *
 * Sequences and optionals are value records of another kind (see
 * axle/tensor.h): their items are heap copies owned by the output record,
 * built in `run` (the engine empties the output first). Tensors taken out
 * of a sequence (SequenceAt, OptionalGetElement, ConcatFromSequence) are
 * ordinary outputs whose shape `infer` reads from the items at run time.
 * Positions may be negative (counted from the end) and are range-checked.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "ir/op.h"
#include "ir/tensor.h"

static void seq_out(struct axle_tensor *o, enum axle_dtype dt)
{
    o->kind = AXLE_KIND_SEQUENCE;
    o->dtype = dt;
    o->rank = -1;
}

static enum axle_status need_seq(struct axle_kctx *k, int i)
{
    const struct axle_tensor *t = AXLE_IN(k, i);
    if (t == NULL || t->kind != AXLE_KIND_SEQUENCE)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input %d must be a sequence", i);
    return AXLE_OK;
}

/* Copies the elements of tensor src into the placed output o. */
static enum axle_status copy_elems(struct axle_kctx *k, struct axle_tensor *o,
                                   const struct axle_tensor *src)
{
    int64_t n = axle_tensor_numel(src);

    if (n <= 0)
        return AXLE_OK;
    if (src->data == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "tensor without data");
    if (src->dtype == AXLE_DTYPE_STRING) {
        if (axle_strings_copy(o->data, src->data, n) != AXLE_OK)
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "out of memory");
        return AXLE_OK;
    }
    memcpy(o->data, src->data, (size_t)axle_tensor_nbytes(src));
    return AXLE_OK;
}

static void shape_of(struct axle_tensor *o, const struct axle_tensor *src)
{
    o->dtype = src->dtype;
    o->rank = src->rank;
    memcpy(o->dims, src->dims, sizeof(o->dims));
}

/* Position input i (scalar int) normalised into [0, n + extra); def when
 * the input is omitted. Returns -1 (error set) when out of range. */
static int position(struct axle_kctx *k, int i, int n, int extra, int def)
{
    const struct axle_tensor *p = AXLE_IN(k, i);
    int64_t v;

    if (p == NULL)
        return def;
    if (p->kind != AXLE_KIND_TENSOR || p->data == NULL ||
        axle_tensor_numel(p) != 1 ||
        (p->dtype != AXLE_DTYPE_INT32 && p->dtype != AXLE_DTYPE_INT64)) {
        axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                     "position must be one int32/int64 element");
        return -1;
    }
    v = axle_tensor_get_i64(p, 0);
    if (v < 0)
        v += n;
    if (v < 0 || v >= (int64_t)n + extra) {
        axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                     "position %lld out of range for a sequence of %d",
                     (long long)axle_tensor_get_i64(p, 0), n);
        return -1;
    }
    return (int)v;
}

/* ---- SequenceEmpty / SequenceConstruct ---- */

static enum axle_status empty_infer(struct axle_kctx *k)
{
    seq_out(k->out[0], (enum axle_dtype)axle_node_attr_int(
                           k->node, "dtype", AXLE_DTYPE_FLOAT32));
    if (axle_dtype_size(k->out[0]->dtype) == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "unsupported dtype %d", (int)k->out[0]->dtype);
    return AXLE_OK;
}

static enum axle_status empty_run(struct axle_kctx *k)
{
    (void)k;
    return AXLE_OK;
}

const struct axle_op axle_op_sequence_empty = {
    .name = "SequenceEmpty", .domain = "", .min_inputs = 0, .max_inputs = 0,
    .min_outputs = 1, .max_outputs = 1, .infer = empty_infer,
    .run = empty_run,
    .containers = true,
};

static enum axle_status construct_infer(struct axle_kctx *k)
{
    for (int i = 0; i < k->n_inputs; i++) {
        const struct axle_tensor *t = k->in[i];
        if (t == NULL || t->kind != AXLE_KIND_TENSOR)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "input %d must be a tensor", i);
        if (t->dtype != k->in[0]->dtype)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "inputs differ in dtype (%s vs %s)",
                                axle_dtype_name(t->dtype),
                                axle_dtype_name(k->in[0]->dtype));
    }
    seq_out(k->out[0], k->in[0]->dtype);
    return AXLE_OK;
}

static enum axle_status construct_run(struct axle_kctx *k)
{
    enum axle_status st = AXLE_OK;
    for (int i = 0; i < k->n_inputs && st == AXLE_OK; i++)
        st = axle_seq_insert(k->out[0], i, k->in[i], k->err);
    return st;
}

const struct axle_op axle_op_sequence_construct = {
    .name = "SequenceConstruct", .domain = "", .min_inputs = 1,
    .max_inputs = -1, .min_outputs = 1, .max_outputs = 1,
    .infer = construct_infer, .run = construct_run,
    .containers = true,
};

/* ---- SequenceInsert / SequenceErase ---- */

static enum axle_status insert_infer(struct axle_kctx *k)
{
    const struct axle_tensor *s = k->in[0], *t = k->in[1];
    if (need_seq(k, 0) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    if (t->kind != AXLE_KIND_TENSOR ||
        (s->dtype != AXLE_DTYPE_UNDEFINED && t->dtype != s->dtype))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "inserted tensor must be a %s tensor",
                            axle_dtype_name(s->dtype));
    seq_out(k->out[0], t->dtype);
    return AXLE_OK;
}

static enum axle_status insert_run(struct axle_kctx *k)
{
    const struct axle_tensor *s = k->in[0];
    struct axle_tensor *o = k->out[0];
    int n = s->n_items;
    int pos = position(k, 2, n, 1, n);
    enum axle_status st = AXLE_OK;

    if (pos < 0)
        return AXLE_INVALID_ARGUMENT;
    if (n >= AXLE_SEQ_MAX_ITEMS)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                            "sequence longer than %d", AXLE_SEQ_MAX_ITEMS);
    for (int i = 0; i < n && st == AXLE_OK; i++)
        st = axle_seq_insert(o, i, &s->items[i], k->err);
    if (st == AXLE_OK)
        st = axle_seq_insert(o, pos, k->in[1], k->err);
    return st;
}

const struct axle_op axle_op_sequence_insert = {
    .name = "SequenceInsert", .domain = "", .min_inputs = 2,
    .max_inputs = 3, .min_outputs = 1, .max_outputs = 1,
    .infer = insert_infer, .run = insert_run,
    .containers = true,
};

static enum axle_status erase_infer(struct axle_kctx *k)
{
    if (need_seq(k, 0) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    seq_out(k->out[0], k->in[0]->dtype);
    return AXLE_OK;
}

static enum axle_status erase_run(struct axle_kctx *k)
{
    const struct axle_tensor *s = k->in[0];
    int n = s->n_items;
    int pos;
    enum axle_status st = AXLE_OK;

    if (n == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "erase from an empty sequence");
    pos = position(k, 1, n, 0, n - 1);
    if (pos < 0)
        return AXLE_INVALID_ARGUMENT;
    for (int i = 0, j = 0; i < n && st == AXLE_OK; i++)
        if (i != pos)
            st = axle_seq_insert(k->out[0], j++, &s->items[i], k->err);
    return st;
}

const struct axle_op axle_op_sequence_erase = {
    .name = "SequenceErase", .domain = "", .min_inputs = 1, .max_inputs = 2,
    .min_outputs = 1, .max_outputs = 1, .infer = erase_infer,
    .run = erase_run,
    .containers = true,
};

/* ---- SequenceAt / SequenceLength ---- */

static enum axle_status at_infer(struct axle_kctx *k)
{
    const struct axle_tensor *s = k->in[0];
    struct axle_tensor *o = k->out[0];
    int pos;

    if (need_seq(k, 0) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    o->kind = AXLE_KIND_TENSOR;
    o->dtype = s->dtype;
    o->rank = -1;
    if (k->run_state == NULL)
        return AXLE_OK; /* load time: the elements are not known */
    pos = position(k, 1, s->n_items, 0, 0);
    if (pos < 0)
        return AXLE_INVALID_ARGUMENT;
    if (s->items[pos].kind != AXLE_KIND_TENSOR)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "sequences of sequences");
    shape_of(o, &s->items[pos]);
    return AXLE_OK;
}

static enum axle_status at_run(struct axle_kctx *k)
{
    int pos = position(k, 1, k->in[0]->n_items, 0, 0);
    if (pos < 0)
        return AXLE_INVALID_ARGUMENT;
    return copy_elems(k, k->out[0], &k->in[0]->items[pos]);
}

const struct axle_op axle_op_sequence_at = {
    .name = "SequenceAt", .domain = "", .min_inputs = 2, .max_inputs = 2,
    .min_outputs = 1, .max_outputs = 1, .infer = at_infer, .run = at_run,
    .containers = true,
};

static enum axle_status length_infer(struct axle_kctx *k)
{
    if (need_seq(k, 0) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    k->out[0]->dtype = AXLE_DTYPE_INT64;
    k->out[0]->rank = 0;
    return AXLE_OK;
}

static enum axle_status length_run(struct axle_kctx *k)
{
    *(int64_t *)k->out[0]->data = k->in[0]->n_items;
    return AXLE_OK;
}

const struct axle_op axle_op_sequence_length = {
    .name = "SequenceLength", .domain = "", .min_inputs = 1,
    .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = length_infer, .run = length_run,
    .containers = true,
};

/* ---- SplitToSequence ---- */

/* Piece lengths along the axis: from split (scalar: equal chunks, last
 * smaller; 1-D: explicit lengths summing to the dim) or 1 each. */
static enum axle_status split_lengths(struct axle_kctx *k, int64_t dim,
                                      int64_t *len, int *n)
{
    const struct axle_tensor *sp = AXLE_IN(k, 1);

    *n = 0;
    if (sp == NULL) {
        if (dim > AXLE_SEQ_MAX_ITEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "too many pieces");
        for (int64_t i = 0; i < dim; i++)
            len[(*n)++] = 1;
        return AXLE_OK;
    }
    if (sp->rank == 0) {
        int64_t c = axle_tensor_get_i64(sp, 0);
        if (c <= 0)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "split must be positive");
        if ((dim + c - 1) / c > AXLE_SEQ_MAX_ITEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "too many pieces");
        for (int64_t at = 0; at < dim; at += c)
            len[(*n)++] = dim - at < c ? dim - at : c;
        return AXLE_OK;
    }
    {
        int64_t m = axle_tensor_numel(sp), sum = 0;
        if (sp->rank != 1 || m > AXLE_SEQ_MAX_ITEMS)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "split must be a scalar or 1-D");
        for (int64_t i = 0; i < m; i++) {
            len[i] = axle_tensor_get_i64(sp, i);
            if (len[i] < 0)
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "negative split length");
            sum += len[i];
        }
        if (sum != dim)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "split lengths sum to %lld, dim is %lld",
                                (long long)sum, (long long)dim);
        *n = (int)m;
    }
    return AXLE_OK;
}

static enum axle_status split_axis(struct axle_kctx *k, int *axis)
{
    const struct axle_tensor *x = k->in[0];
    int64_t a = axle_node_attr_int(k->node, "axis", 0);
    if (x->kind != AXLE_KIND_TENSOR)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input must be a tensor");
    if (x->rank < 0) {
        *axis = -1;
        return AXLE_OK;
    }
    if (a < 0)
        a += x->rank;
    if (a < 0 || a >= x->rank)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "axis out of range for rank %d", x->rank);
    *axis = (int)a;
    return AXLE_OK;
}

static enum axle_status split_infer(struct axle_kctx *k)
{
    int axis;
    if (split_axis(k, &axis) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    seq_out(k->out[0], k->in[0]->dtype);
    return AXLE_OK;
}

static enum axle_status split_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    bool squeeze = AXLE_IN(k, 1) == NULL &&
                   axle_node_attr_int(k->node, "keepdims", 1) == 0;
    size_t es = axle_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1, dim, *len, off = 0;
    int axis, n;
    enum axle_status st;

    if (split_axis(k, &axis) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    if (x->dtype == AXLE_DTYPE_STRING)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "SplitToSequence of strings");
    dim = x->dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++)
        inner *= x->dims[d];
    len = axle_kctx_scratch(k, (size_t)(dim + 1 + (AXLE_IN(k, 1) ?
                                  axle_tensor_numel(k->in[1]) : 0)) *
                                   sizeof(int64_t));
    if (len == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    st = split_lengths(k, dim, len, &n);
    for (int p = 0; p < n && st == AXLE_OK; p++) {
        struct axle_tensor *it;
        int64_t dims[AXLE_MAX_RANK];
        int rank = 0;
        for (int d = 0; d < x->rank; d++) {
            if (d == axis && squeeze)
                continue;
            dims[rank++] = d == axis ? len[p] : x->dims[d];
        }
        st = axle_tensor_new(x->dtype, rank, dims, &it, k->err);
        if (st != AXLE_OK)
            break;
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)it->data + (size_t)(o * len[p] * inner) * es,
                   (const uint8_t *)x->data +
                       (size_t)((o * dim + off) * inner) * es,
                   (size_t)(len[p] * inner) * es);
        off += len[p];
        /* Hand the buffer over instead of copying it again. */
        if (k->out[0]->n_items >= AXLE_SEQ_MAX_ITEMS) {
            axle_tensor_free(it);
            return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                "too many pieces");
        }
        {
            struct axle_tensor *o = k->out[0];
            struct axle_tensor *items = axle_try_realloc(
                o->items, ((size_t)o->n_items + 1) * sizeof(*items));
            if (items == NULL) {
                axle_tensor_free(it);
                return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED,
                                    "out of memory");
            }
            o->items = items;
            o->owns_data = 1;
            items[o->n_items++] = *it;
            axle_free(it);
        }
    }
    return st;
}

const struct axle_op axle_op_split_to_sequence = {
    .name = "SplitToSequence", .domain = "", .min_inputs = 1,
    .max_inputs = 2, .min_outputs = 1, .max_outputs = 1,
    .infer = split_infer, .run = split_run,
    .containers = true,
};

/* ---- ConcatFromSequence ---- */

static enum axle_status cfs_infer(struct axle_kctx *k)
{
    const struct axle_tensor *s = k->in[0];
    struct axle_tensor *o = k->out[0];
    bool new_axis = axle_node_attr_int(k->node, "new_axis", 0) != 0;
    int64_t a = axle_node_attr_int(k->node, "axis", 0);
    const struct axle_tensor *f;
    int rank;

    if (need_seq(k, 0) != AXLE_OK)
        return AXLE_INVALID_ARGUMENT;
    if (axle_node_attr(k->node, "axis") == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "axis is required");
    o->kind = AXLE_KIND_TENSOR;
    o->dtype = s->dtype;
    o->rank = -1;
    if (k->run_state == NULL)
        return AXLE_OK; /* load time: the elements are not known */
    if (s->n_items == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConcatFromSequence of an empty sequence");
    f = &s->items[0];
    rank = f->rank + (new_axis ? 1 : 0);
    if (f->kind != AXLE_KIND_TENSOR || rank > AXLE_MAX_RANK)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "elements must be tensors");
    if (a < 0)
        a += rank;
    if (a < 0 || a >= rank || (!new_axis && f->rank == 0))
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "axis out of range");
    o->rank = rank;
    for (int d = 0, src = 0; d < rank; d++) {
        if (new_axis && d == a) {
            o->dims[d] = s->n_items;
            continue;
        }
        o->dims[d] = f->dims[src++];
    }
    if (!new_axis)
        o->dims[a] = 0;
    for (int i = 0; i < s->n_items; i++) {
        const struct axle_tensor *t = &s->items[i];
        if (t->kind != AXLE_KIND_TENSOR || t->rank != f->rank ||
            t->dtype != f->dtype)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "element %d differs in rank or dtype", i);
        for (int d = 0; d < f->rank; d++)
            if ((new_axis || d != a) && t->dims[d] != f->dims[d])
                return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                    "element %d differs in dimension %d",
                                    i, d);
        if (!new_axis)
            o->dims[a] += t->dims[a];
    }
    return AXLE_OK;
}

static enum axle_status cfs_run(struct axle_kctx *k)
{
    const struct axle_tensor *s = k->in[0];
    struct axle_tensor *o = k->out[0];
    bool new_axis = axle_node_attr_int(k->node, "new_axis", 0) != 0;
    int64_t a = axle_node_attr_int(k->node, "axis", 0);
    size_t es = axle_dtype_size(o->dtype);
    int64_t outer = 1, inner = 1, off = 0, total;

    if (s->n_items == 0)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "ConcatFromSequence of an empty sequence");
    if (o->dtype == AXLE_DTYPE_STRING)
        return axle_err_set(k->err, AXLE_UNIMPLEMENTED,
                            "ConcatFromSequence of strings");
    if (a < 0)
        a += o->rank;
    for (int d = 0; d < a; d++)
        outer *= o->dims[d];
    for (int d = (int)a + 1; d < o->rank; d++)
        inner *= o->dims[d];
    total = o->dims[a];
    for (int i = 0; i < s->n_items; i++) {
        const struct axle_tensor *t = &s->items[i];
        int64_t len = new_axis ? 1 : t->dims[a];
        for (int64_t q = 0; q < outer; q++)
            memcpy((uint8_t *)o->data + (size_t)((q * total + off) * inner) * es,
                   (const uint8_t *)t->data + (size_t)(q * len * inner) * es,
                   (size_t)(len * inner) * es);
        off += len;
    }
    return AXLE_OK;
}

const struct axle_op axle_op_concat_from_sequence = {
    .name = "ConcatFromSequence", .domain = "", .min_inputs = 1,
    .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = cfs_infer, .run = cfs_run,
    .containers = true,
};

/* ---- Optional / OptionalHasElement / OptionalGetElement ---- */

static enum axle_status optional_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = AXLE_IN(k, 0);
    const struct axle_attr *ty = axle_node_attr(k->node, "type");
    struct axle_tensor *o = k->out[0];

    o->kind = AXLE_KIND_OPTIONAL;
    o->rank = -1;
    if (x != NULL) {
        if (x->kind == AXLE_KIND_OPTIONAL)
            return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                                "optional of an optional");
        o->elem_kind = x->kind;
        o->dtype = x->dtype;
        return AXLE_OK;
    }
    if (ty == NULL || ty->type != AXLE_ATTR_TYPE_PROTO || ty->t == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "an empty Optional needs the type attribute");
    o->elem_kind = ty->t->kind;
    o->dtype = ty->t->dtype;
    return AXLE_OK;
}

static enum axle_status optional_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = AXLE_IN(k, 0);
    struct axle_tensor *o = k->out[0];
    enum axle_status st;

    if (x == NULL)
        return AXLE_OK;
    o->items = axle_try_calloc(1, sizeof(*o->items));
    if (o->items == NULL)
        return axle_err_set(k->err, AXLE_RESOURCE_EXHAUSTED, "out of memory");
    o->owns_data = 1;
    o->n_items = 1;
    st = axle_value_copy(&o->items[0], x, k->err);
    return st;
}

const struct axle_op axle_op_optional = {
    .name = "Optional", .domain = "", .min_inputs = 0, .max_inputs = 1,
    .min_outputs = 1, .max_outputs = 1, .infer = optional_infer,
    .run = optional_run,
    .containers = true,
};

static enum axle_status has_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = AXLE_IN(k, 0);
    if (x == NULL && k->opset < 18)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input is required before opset 18");
    if (x != NULL && x->kind != AXLE_KIND_OPTIONAL && k->opset < 18)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input must be an optional before opset 18");
    k->out[0]->dtype = AXLE_DTYPE_BOOL;
    k->out[0]->rank = 0;
    return AXLE_OK;
}

static enum axle_status has_run(struct axle_kctx *k)
{
    const struct axle_tensor *x = AXLE_IN(k, 0);
    *(uint8_t *)k->out[0]->data =
        x != NULL && (x->kind != AXLE_KIND_OPTIONAL || x->n_items > 0);
    return AXLE_OK;
}

const struct axle_op axle_op_optional_has_element = {
    .name = "OptionalHasElement", .domain = "", .min_inputs = 0,
    .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = has_infer, .run = has_run,
    .containers = true,
};

/* The element: an optional's item, or (opset 18) the input itself. */
static const struct axle_tensor *element(const struct axle_tensor *x)
{
    if (x->kind != AXLE_KIND_OPTIONAL)
        return x;
    return x->n_items > 0 ? &x->items[0] : NULL;
}

static enum axle_status get_infer(struct axle_kctx *k)
{
    const struct axle_tensor *x = k->in[0];
    struct axle_tensor *o = k->out[0];
    const struct axle_tensor *e;

    if (x->kind != AXLE_KIND_OPTIONAL && k->opset < 18)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "input must be an optional before opset 18");
    o->kind = x->kind == AXLE_KIND_OPTIONAL ? x->elem_kind : x->kind;
    o->dtype = x->dtype;
    o->rank = -1;
    e = element(x);
    if (x->kind == AXLE_KIND_OPTIONAL && e != NULL) {
        o->kind = e->kind;
        o->dtype = e->dtype;
        if (e->kind == AXLE_KIND_TENSOR)
            shape_of(o, e);
    } else if (x->kind == AXLE_KIND_TENSOR) {
        shape_of(o, x);
    }
    return AXLE_OK;
}

static enum axle_status get_run(struct axle_kctx *k)
{
    const struct axle_tensor *e = element(k->in[0]);
    struct axle_tensor *o = k->out[0];

    if (e == NULL)
        return axle_err_set(k->err, AXLE_INVALID_ARGUMENT,
                            "the optional holds no value");
    if (e->kind != AXLE_KIND_TENSOR)
        return axle_value_copy(o, e, k->err);
    return copy_elems(k, o, e);
}

const struct axle_op axle_op_optional_get_element = {
    .name = "OptionalGetElement", .domain = "", .min_inputs = 1,
    .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = get_infer, .run = get_run,
    .containers = true,
};
