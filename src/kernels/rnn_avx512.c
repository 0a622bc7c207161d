/*
 * rnn_avx512.c - the LSTM/GRU/RNN gate kernels of rnn_internal.h compiled
 * with AVX-512 (one zmm per 16-lane vector). rnn.c calls them only when
 * axle_cpu_get()->isa allows.
 */
#include "kernels/rnn_internal.h"

AXLE_RNN_DEFINE_KERNELS(axle_rnn_kernels_avx512);
