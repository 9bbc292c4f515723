/* kivi_decode_sim.cpp - kivi_decode_split and attention_merge of
 * kernels/cuda/kivi.cu (built with the -D tile of the command line) under
 * the host simulation, against the ref backend's kivi_decode_attention on
 * random codes, scales, residuals and queries: B = 2, Hkv = 2, Hq/Hkv = 8.
 * Arguments: k_quant k_resid v_quant k_quant_capacity. */
#include "cuda_fp16.h"
#include "sim_check.h"

#include "kivi.cu"

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s k_quant k_resid v_quant k_quant_capacity\n", argv[0]);
        return 2;
    }
    const int B = 2, Hkv = 2, QPK = 8, Hq = Hkv * QPK, D = HEAD_DIM, G = GROUP;
    const int kq = atoi(argv[1]), kr = atoi(argv[2]), vq = atoi(argv[3]), kcap = atoi(argv[4]);
    const int n = kq + kr, vr = n - vq, krcap = kr + 3, vcap = vq + 5, vrcap = vr + 2;
    sim_rng rng{12345};
    std::vector<float> q((size_t)B * Hq * D);
    std::vector<uint32_t> kc((size_t)B * Hkv * D * (kcap / PER_WORD) + 1);
    std::vector<uint32_t> vc((size_t)B * Hkv * vcap * (D / PER_WORD) + 1);
    std::vector<uint16_t> ks((size_t)B * Hkv * D * (kcap / G) + 1), km(ks.size());
    std::vector<uint16_t> vs((size_t)B * Hkv * vcap * (D / G) + 1), vm(vs.size());
    std::vector<uint16_t> krd((size_t)B * Hkv * krcap * D + 1), vrd((size_t)B * Hkv * vrcap * D + 1);
    for (auto &x : q)
        x = rng.uniform();
    for (auto *codes : {&kc, &vc})
        for (auto &x : *codes)
            x = rng.next() ^ (rng.next() << 16);
    for (auto *scales : {&ks, &vs})
        for (auto &x : *scales)
            x = qkv_f32_to_f16(0.15f + 0.1f * rng.uniform());
    for (auto *f16 : {&km, &vm, &krd, &vrd})
        for (auto &x : *f16)
            x = qkv_f32_to_f16(rng.uniform());

    qkv_context *ref;
    sim_require(qkv_open("ref", &ref), "qkv_open(ref)");
    qkv_kivi_decode_params p = {};
    p.batch = B, p.q_heads = Hq, p.kv_heads = Hkv, p.head_dim = D;
    p.k_quant = kq, p.k_resid = kr, p.v_quant = vq, p.v_resid = vr;
    p.k_quant_capacity = kcap, p.k_resid_capacity = krcap;
    p.v_quant_capacity = vcap, p.v_resid_capacity = vrcap;
    p.bits = BITS, p.group = G;
    p.query = sim_upload(ref, q.data(), q.size() * 4);
    p.k_codes = sim_upload(ref, kc.data(), kc.size() * 4);
    p.k_scale = sim_upload(ref, ks.data(), ks.size() * 2);
    p.k_min = sim_upload(ref, km.data(), km.size() * 2);
    p.k_resid_data = sim_upload(ref, krd.data(), krd.size() * 2);
    p.v_codes = sim_upload(ref, vc.data(), vc.size() * 4);
    p.v_scale = sim_upload(ref, vs.data(), vs.size() * 2);
    p.v_min = sim_upload(ref, vm.data(), vm.size() * 2);
    p.v_resid_data = sim_upload(ref, vrd.data(), vrd.size() * 2);
    std::vector<float> expect(q.size()), out(q.size(), NAN);
    sim_require(qkv_buffer_create(ref, q.size() * 4, &p.output), "output");
    sim_require(qkv_kivi_decode_attention(ref, &p), "ref kivi_decode_attention");
    sim_require(qkv_buffer_read(p.output, 0, expect.data(), q.size() * 4), "read");

    const int nsplit = (n + SPLIT - 1) / SPLIT;
    std::vector<float> part((size_t)B * Hq * nsplit * (D + 2), NAN);
    const kivi_decode_args a = {q.data(),   kc.data(),  ks.data(),  km.data(),  krd.data(),
                                vc.data(),  vs.data(),  vm.data(),  vrd.data(), part.data(),
                                QPK,        n,          kq,         kcap,       krcap,
                                vq,         vcap,       vrcap,      1.0f / sqrtf((float)D)};
    sim_launch({(unsigned)nsplit, (unsigned)(B * Hq / HEADS), 1}, {WARPS * 32, 1, 1},
               [&] { kivi_decode_split(a); });
    sim_launch({(unsigned)(B * Hq), 1, 1}, {(unsigned)(D + 31) / 32 * 32, 1, 1},
               [&] { attention_merge(part.data(), out.data(), nsplit); });
    char label[160];
    std::snprintf(label, sizeof label, "kivi decode k_quant %d k_resid %d v_quant %d kcap %d", kq,
                  kr, vq, kcap);
    return sim_nmse_ok(label, out, expect, 1e-10) ? 0 : 1;
}
