/* kivi_args.cuh - the by-value argument of the native KIVI decode kernel
 * (kivi.cu), shared with its host code (src/ops/kivi/cuda_kivi.c): written
 * in the common subset of C11 and CUDA C++, so both sides agree on the
 * layout (device pointers are 64-bit on both). */
#ifndef QKV_CUDA_KIVI_ARGS_CUH
#define QKV_CUDA_KIVI_ARGS_CUH

#ifdef __CUDACC_RTC__
#define QKV_DEVICE_PTR(type) const type *
#define QKV_DEVICE_OUT(type) type *
#else
#define QKV_DEVICE_PTR(type) unsigned long long /* CUdeviceptr */
#define QKV_DEVICE_OUT(type) unsigned long long
#endif

/* Tensors and sizes of one kivi_decode_split launch (shapes as in
 * qkv_kivi_decode_params; capacities resolved, counts in tokens). */
typedef struct kivi_decode_args {
    QKV_DEVICE_PTR(float) query;            /* f32 [B*Hq, D] */
    QKV_DEVICE_PTR(unsigned int) k_codes;   /* [B*Hkv, D, kcap/PER_WORD] */
    QKV_DEVICE_PTR(unsigned short) k_scale; /* f16 [B*Hkv, D, kcap/GROUP], also k_min */
    QKV_DEVICE_PTR(unsigned short) k_min;
    QKV_DEVICE_PTR(unsigned short) k_resid; /* f16 [B*Hkv, krcap, D] */
    QKV_DEVICE_PTR(unsigned int) v_codes;   /* [B*Hkv, vcap, D/PER_WORD] */
    QKV_DEVICE_PTR(unsigned short) v_scale; /* f16 [B*Hkv, vcap, D/GROUP], also v_min */
    QKV_DEVICE_PTR(unsigned short) v_min;
    QKV_DEVICE_PTR(unsigned short) v_resid; /* f16 [B*Hkv, vrcap, D] */
    QKV_DEVICE_OUT(float) part;             /* f32 [B*Hq, nsplit, D + 2] (written) */
    int q_per_kv, n_tokens, k_quant, kcap, krcap, v_quant, vcap, vrcap;
    float sm_scale; /* scores are sm_scale * q.k */
} kivi_decode_args;

#undef QKV_DEVICE_PTR
#undef QKV_DEVICE_OUT

#endif
