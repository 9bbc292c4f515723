/* dense_decode_sim.cpp - dense_decode_split and attention_merge of
 * kernels/cuda/dense.cu (built with the -D tile of the command line) under
 * the host simulation, against the ref backend's f16_decode_attention on
 * random data: B = 2, Hkv = 2.  Arguments: tokens capacity Hq/Hkv. */
#include "cuda_fp16.h"
#include "sim_check.h"

#include "dense.cu"

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s tokens capacity q_per_kv\n", argv[0]);
        return 2;
    }
    const int B = 2, Hkv = 2, n = atoi(argv[1]), cap = atoi(argv[2]), QPK = atoi(argv[3]);
    const int Hq = Hkv * QPK, D = HEAD_DIM;
    const float sm = 0.3f;
    sim_rng rng{777};
    std::vector<float> q((size_t)B * Hq * D);
    std::vector<uint16_t> k((size_t)B * Hkv * cap * D), v(k.size());
    for (auto &x : q)
        x = rng.uniform();
    for (auto &x : k)
        x = qkv_f32_to_f16(2.0f * rng.uniform());
    for (auto &x : v)
        x = qkv_f32_to_f16(rng.uniform());

    qkv_context *ref;
    sim_require(qkv_open("ref", &ref), "qkv_open(ref)");
    qkv_f16_decode_params p = {};
    p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.head_dim = D;
    p.tokens = n, p.capacity = cap, p.softmax_scale = sm;
    p.query = sim_upload(ref, q.data(), q.size() * 4);
    p.keys = sim_upload(ref, k.data(), k.size() * 2);
    p.values = sim_upload(ref, v.data(), v.size() * 2);
    std::vector<float> expect(q.size()), out(q.size(), NAN);
    sim_require(qkv_buffer_create(ref, q.size() * 4, &p.output), "output");
    sim_require(qkv_f16_decode_attention(ref, &p), "ref f16_decode_attention");
    sim_require(qkv_buffer_read(p.output, 0, expect.data(), q.size() * 4), "read");

    const int nsplit = (n + SPLIT - 1) / SPLIT;
    std::vector<float> part((size_t)B * Hq * nsplit * (D + 2), NAN);
    sim_launch({(unsigned)nsplit, (unsigned)(B * Hq / HEADS), 1}, {WARPS * 32, 1, 1}, [&] {
        dense_decode_split(q.data(), k.data(), v.data(), part.data(), QPK, n, cap, sm);
    });
    sim_launch({(unsigned)(B * Hq), 1, 1}, {(unsigned)(D + 31) / 32 * 32, 1, 1},
               [&] { attention_merge(part.data(), out.data(), nsplit); });
    char label[96];
    std::snprintf(label, sizeof label, "dense decode tokens %d capacity %d q_per_kv %d", n, cap,
                  QPK);
    return sim_nmse_ok(label, out, expect, 1e-10) ? 0 : 1;
}
