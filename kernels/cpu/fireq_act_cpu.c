/* fireq_act_cpu.c - the cpu backend's FireQ activation quantizer
 * (w4a8_quant_activations): rows run by OpenMP, each row by the AVX-512
 * code of fireq_act_cpu_avx512.c in the "avx512" variant, the AVX2 code of
 * fireq_act_cpu_avx2.c in "avx2", the portable scalar code below in
 * "scalar".  A row takes two passes: the largest magnitude as the maximum
 * of the magnitude bits (integers order finite floats of one sign; an
 * exponent of all ones there is a NaN or Inf, which the check rejects),
 * then f32 division by the scale and the integer E4M3 encoder
 * (fireq_act_cpu.h).  Every variant matches the reference bit for bit. */
#include "fireq_act_cpu.h"

#include "cpu_features.h"
#include "cpu_team.h"
#include "fireq/act_quant_variants.h"

#include <math.h>
#include <string.h>

/* Magnitude bits of element i as f32 bits (f16 and bf16 widened exactly). */
static uint32_t abs_bits(const void *x, qkv_dtype dtype, size_t i)
{
    uint32_t u;
    if (dtype == QKV_F32) {
        memcpy(&u, (const float *)x + i, sizeof u);
        return u & FIREQ_F32_ABS;
    }
    const uint16_t h = ((const uint16_t *)x)[i];
    const float f = dtype == QKV_F16 ? qkv_f16_to_f32(h) : qkv_bf16_to_f32(h);
    memcpy(&u, &f, sizeof u);
    return u & FIREQ_F32_ABS;
}

/* Element i as f32. */
static float load_elem(const void *x, qkv_dtype dtype, size_t i)
{
    if (dtype == QKV_F32)
        return ((const float *)x)[i];
    const uint16_t h = ((const uint16_t *)x)[i];
    return dtype == QKV_F16 ? qkv_f16_to_f32(h) : qkv_bf16_to_f32(h);
}

/* Scalar row (see fireq_act_row_fn). */
static bool scalar_row(const void *x, qkv_dtype dtype, size_t k, bool check, uint8_t *xq,
                       uint16_t *sx)
{
    uint32_t amax_bits = 0;
    for (size_t i = 0; i < k; i++) {
        const uint32_t a = abs_bits(x, dtype, i);
        amax_bits = a > amax_bits ? a : amax_bits;
    }
    if (check && amax_bits >= FIREQ_F32_INF)
        return true;
    float amax;
    memcpy(&amax, &amax_bits, sizeof amax);
    const float s = fireq_act_scale(amax);
    for (size_t i = 0; i < k; i++) {
        const float q = fminf(fmaxf(load_elem(x, dtype, i) / s, -448.0f), 448.0f);
        uint32_t u;
        memcpy(&u, &q, sizeof u);
        xq[i] = fireq_e4m3_encode(u);
    }
    *sx = qkv_f32_to_bf16(s);
    return false;
}

enum { ACT_CHUNK };
static const qkv_tile_param_def act_quant_space[] = {
    /* rows per OpenMP chunk */
    {"omp_chunk", 1, {1, 2, 4, 8, 16, 32, 0}, false},
};

/* Rows [0, m) in parallel, each by `row`. */
static qkv_status run_rows(const qkv_w4a8_act_quant_params *p, const qkv_tile_params *t,
                           fireq_act_row_fn row)
{
    const size_t esize = qkv_dtype_size(p->dtype), k = p->k;
    const unsigned char *x = p->x->host;
    uint8_t *xq = p->xq->host;
    uint16_t *sx = p->sx->host;
    const int chunk = t->value[ACT_CHUNK] > 0 ? t->value[ACT_CHUNK] : 1;
    const bool check = !p->unchecked;
    bool bad = false;
#pragma omp parallel for num_threads(cpu_team_size()) schedule(static, chunk) reduction(| : bad)
    for (size_t m = 0; m < p->m; m++)
        bad |= row(x + m * k * esize, p->dtype, k, check, xq + m * k, sx + m);
    return qkv_act_quant_status(bad);
}

static qkv_status run_scalar(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    (void)ctx;
    return run_rows(p, t, scalar_row);
}

const qkv_variant qkv_w4a8_quant_activations_scalar = {
    .name = "scalar", .op = QKV_OP_W4A8_QUANT_ACTIVATIONS, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = run_scalar, .nparams = QKV_NPARAMS(act_quant_space), .params = act_quant_space};

#if QKV_CPU_X86
static qkv_status run_avx2(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    (void)ctx;
    return run_rows(p, t, fireq_act_row_avx2);
}

static qkv_status run_avx512(qkv_context *ctx, const void *p, const qkv_tile_params *t)
{
    (void)ctx;
    return run_rows(p, t, fireq_act_row_avx512);
}
#else
#define run_avx2 run_scalar
#define run_avx512 run_scalar
#endif

/* The vector variants run only where the context's ISA level has them
 * (off x86 their `supports` refuses every context). */
const qkv_variant qkv_w4a8_quant_activations_avx2 = {
    .name = "avx2", .op = QKV_OP_W4A8_QUANT_ACTIVATIONS, .backends = QKV_ON(QKV_BACKEND_CPU),
    .run = run_avx2, .supports = qkv_cpu_avx2_supports, .nparams = QKV_NPARAMS(act_quant_space),
    .params = act_quant_space};
const qkv_variant qkv_w4a8_quant_activations_avx512 = {
    .name = "avx512", .op = QKV_OP_W4A8_QUANT_ACTIVATIONS,
    .backends = QKV_ON(QKV_BACKEND_CPU), .run = run_avx512, .supports = qkv_cpu_avx512_supports,
    .nparams = QKV_NPARAMS(act_quant_space), .params = act_quant_space};
