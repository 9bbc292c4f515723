/* fireq_gemm_sim.cpp - the kernels of kernels/cuda/fireq_gemm.cu (built
 * with the -D tile, GROUP, EXACT and Y_F32 of the command line) under the
 * host simulation, its FP8 MMA emulated per the PTX ISA's fragment layouts,
 * against the ref backend's w4a8_gemm on random data: fireq_gemm_tiled at
 * every M, fireq_gemm_decode and fireq_gemm_reduce where M <= 16.  acc by
 * NMSE (the emulated MMA sums each k32 slice in double), y bit for bit
 * against the epilogue applied on the host to the kernel's own acc.
 * Arguments: M N K splits prescale_exp. */
#include "cuda_fp16.h"
#include "sim_check.h"

#include "fireq_gemm.cu"

/* y bits (bf16, or f32 bits in the exact mode's f32 y) from accumulator a,
 * as the spec's epilogue (and gemm_cases.c's check) computes them. */
static uint32_t expected_y(float a, float sx, float inv_ps)
{
#if EXACT
    const float v = a * sx * inv_ps;
#if Y_F32
    uint32_t u;
    std::memcpy(&u, &v, 4);
    return u;
#else
    return qkv_f32_to_bf16(v);
#endif
#else
    uint16_t y = qkv_f32_to_bf16(qkv_bf16_to_f32(qkv_f32_to_bf16(a)) * sx);
    return inv_ps != 1.0f ? qkv_f32_to_bf16(qkv_bf16_to_f32(y) * inv_ps) : y;
#endif
}

/* Compare one kernel path's acc and y with the reference acc; true if
 * both pass. */
static bool check(const char *label, const std::vector<float> &acc, const void *y,
                  const std::vector<float> &ref_acc, const std::vector<uint16_t> &sx, int N,
                  float inv_ps)
{
    char line[160];
    std::snprintf(line, sizeof line, "%s acc", label);
    bool ok = sim_nmse_ok(line, acc, ref_acc, 1e-12);
    size_t bad = 0;
    for (size_t i = 0; i < acc.size(); i++) {
        const uint32_t want = expected_y(acc[i], qkv_bf16_to_f32(sx[i / (size_t)N]), inv_ps);
        const uint32_t got = Y_F32 ? ((const uint32_t *)y)[i] : ((const uint16_t *)y)[i];
        bad += got != want;
    }
    std::printf("%s y: %zu of %zu differ from the epilogue of acc %s\n", label, bad, acc.size(),
                bad ? "FAIL" : "OK");
    return ok && bad == 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s M N K splits prescale_exp\n", argv[0]);
        return 2;
    }
    const int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), want_splits = atoi(argv[4]);
    const int pexp = atoi(argv[5]);
    const float inv_ps = std::ldexp(1.0f, -pexp);
    sim_rng rng{4242};
    std::vector<uint8_t> xq((size_t)M * K), wq((size_t)N * K / 2), ws((size_t)N * (K / GROUP));
    std::vector<uint16_t> sx(M);
    for (auto &b : xq) {
        b = (uint8_t)rng.next();
        if ((b & 0x7f) == 0x7f)
            b ^= 1; /* no NaN codes */
    }
    for (auto &b : wq)
        b = (uint8_t)rng.next();
    for (auto &b : ws)
        b = (uint8_t)(0x18 + rng.next() % 0x50); /* 2^-4 .. 60: q * s past 448 saturates */
    for (auto &s : sx)
        s = qkv_f32_to_bf16(std::ldexp(1.0f + 0.5f * rng.uniform(), -6));

    qkv_context *ref;
    sim_require(qkv_open("ref", &ref), "qkv_open(ref)");
    qkv_w4a8_gemm_params p = {};
    p.m = M, p.n = N, p.k = K, p.group = GROUP, p.prescale_exp = pexp;
    p.mode = EXACT ? QKV_W4A8_EXACT : QKV_W4A8_LUT;
    p.y_dtype = Y_F32 ? QKV_F32 : QKV_BF16;
    p.xq = sim_upload(ref, xq.data(), xq.size());
    p.sx = sim_upload(ref, sx.data(), sx.size() * 2);
    p.wq = sim_upload(ref, wq.data(), wq.size());
    p.ws = sim_upload(ref, ws.data(), ws.size());
    const size_t MN = (size_t)M * N, ysize = Y_F32 ? 4 : 2;
    std::vector<float> ref_acc(MN);
    sim_require(qkv_buffer_create(ref, MN * ysize, &p.y), "y");
    sim_require(qkv_buffer_create(ref, MN * 4, &p.acc), "acc");
    sim_require(qkv_w4a8_gemm(ref, &p), "ref w4a8_gemm");
    sim_require(qkv_buffer_read(p.acc, 0, ref_acc.data(), MN * 4), "read");

    char label[160];
    bool ok = true;
    {
        std::vector<float> acc(MN, NAN);
        std::vector<uint8_t> y(MN * ysize, 0xff);
        sim_launch({(unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM), 1},
                   {WARPS_M * WARPS_N * 32, 1, 1}, [&] {
                       fireq_gemm_tiled(xq.data(), sx.data(), wq.data(), ws.data(), y.data(),
                                        acc.data(), M, N, K, inv_ps);
                   });
        std::snprintf(label, sizeof label, "fireq tiled M %d N %d K %d ps 2^%d", M, N, K, pexp);
        ok = check(label, acc, y.data(), ref_acc, sx, N, inv_ps) && ok;
    }
    if (M <= 16) {
        const int chunks = (K + CHUNK - 1) / CHUNK;
        const int splits0 = want_splits < chunks ? want_splits : chunks;
        const int per_split = (chunks + splits0 - 1) / splits0;
        const int splits = (chunks + per_split - 1) / per_split;
        std::vector<float> part((size_t)splits * MN, NAN), acc(MN, NAN);
        std::vector<uint8_t> y(MN * ysize, 0xff);
        sim_launch({(unsigned)((N + SWARPS * 8 - 1) / (SWARPS * 8)), (unsigned)splits, 1},
                   {SWARPS * 32, 1, 1}, [&] {
                       fireq_gemm_decode(xq.data(), wq.data(), ws.data(), part.data(), M, N, K,
                                         per_split);
                   });
        sim_launch({(unsigned)((MN + 255) / 256), 1, 1}, {256, 1, 1}, [&] {
            fireq_gemm_reduce(part.data(), sx.data(), y.data(), acc.data(), M, N, splits,
                              inv_ps);
        });
        std::snprintf(label, sizeof label, "fireq decode M %d N %d K %d splits %d ps 2^%d", M, N,
                      K, splits, pexp);
        ok = check(label, acc, y.data(), ref_acc, sx, N, inv_ps) && ok;
    }
    return ok ? 0 : 1;
}
