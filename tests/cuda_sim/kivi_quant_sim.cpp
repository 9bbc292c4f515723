/* kivi_quant_sim.cpp - the quantizers, the input scan and the dequantizers
 * of kernels/cuda/kivi.cu (built with BITS, GROUP, IN_F16 of the command
 * line) under the host simulation on 3 blocks of 64 threads (so every
 * grid-stride loop turns), against the ref backend: codes, scales, mins
 * and outputs identical.  B = 2, H = 3, input capacity tokens + 5, output
 * capacity out_offset + tokens + GROUP.  Arguments: D tokens out_offset. */
#include "cuda_fp16.h"
#include "sim_check.h"

#include "kivi.cu"

static const dim3 grid = {3, 1, 1}, block = {64, 1, 1};

/* Store x as element i of the f16 or f32 input. */
static void put(std::vector<unsigned char> &in, size_t i, float x)
{
    if (IN_F16) {
        const uint16_t h = qkv_f32_to_f16(x);
        std::memcpy(&in[i * 2], &h, 2);
    } else {
        std::memcpy(&in[i * 4], &x, 4);
    }
}

/* kivi_scan_input's flags for the tokens [0, tokens) of `in`. */
static int scan(const std::vector<unsigned char> &in, int rows, int tokens, int D, int in_cap)
{
    int flag = 0;
    const long long chunks = (long long)rows * tokens * D / CPT;
    sim_launch(grid, block, [&] {
        kivi_scan_input((const uint4 *)in.data(), tokens, D, in_cap, chunks, &flag);
    });
    return flag;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s head_dim tokens out_offset\n", argv[0]);
        return 2;
    }
    const int B = 2, H = 3, rows = B * H, D = atoi(argv[1]), T = atoi(argv[2]);
    const int off = atoi(argv[3]), in_cap = T + 5, out_cap = off + T + GROUP;
    const size_t n_in = (size_t)rows * in_cap * D;
    sim_rng rng{99};
    std::vector<unsigned char> in(n_in * (IN_F16 ? 2 : 4));
    for (size_t i = 0; i < n_in; i++)
        put(in, i, i % 97 == 5 ? 0.0f : 3.0f * rng.uniform());
    for (int t = 0; t < GROUP; t++) /* constant groups of row 0: scale 0 */
        for (int d = 0; d < GROUP; d++)
            put(in, (size_t)t * D + d, 0.75f);
    qkv_context *ref;
    sim_require(qkv_open("ref", &ref), "qkv_open(ref)");
    bool ok = true;
    std::printf("BITS %d GROUP %d IN_F16 %d D %d tokens %d out_offset %d\n", BITS, GROUP, IN_F16,
                D, T, off);

    for (int keys = 1; keys >= 0; keys--) {
        const size_t n_codes = keys ? (size_t)rows * D * (out_cap / PER_WORD)
                                    : (size_t)rows * out_cap * (D / PER_WORD);
        const size_t n_scales = keys ? (size_t)rows * D * (out_cap / GROUP)
                                     : (size_t)rows * out_cap * (D / GROUP);
        std::vector<uint32_t> codes(n_codes, 0xdeadbeefu), ref_codes(codes);
        std::vector<uint16_t> scale(n_scales, 0xabcdu), minv(scale), ref_scale(scale), ref_min(scale);
        qkv_kivi_quant_params p = {};
        p.batch = B, p.heads = H, p.tokens = T, p.head_dim = D, p.bits = BITS, p.group = GROUP;
        p.dtype = IN_F16 ? QKV_F16 : QKV_F32;
        p.in_capacity = in_cap, p.out_capacity = out_cap, p.out_offset = off;
        p.input = sim_upload(ref, in.data(), in.size());
        p.codes = sim_upload(ref, ref_codes.data(), n_codes * 4);
        p.scale = sim_upload(ref, ref_scale.data(), n_scales * 2);
        p.min = sim_upload(ref, ref_min.data(), n_scales * 2);
        sim_require(keys ? qkv_kivi_quant_keys(ref, &p) : qkv_kivi_quant_values(ref, &p),
                    "ref quantizer");
        qkv_buffer_read(p.codes, 0, ref_codes.data(), n_codes * 4);
        qkv_buffer_read(p.scale, 0, ref_scale.data(), n_scales * 2);
        qkv_buffer_read(p.min, 0, ref_min.data(), n_scales * 2);
        sim_launch(grid, block, [&] {
            if (keys)
                kivi_quant_keys((const uint4 *)in.data(), codes.data(), scale.data(),
                                minv.data(), rows, T, D, in_cap, out_cap, off);
            else
                kivi_quant_values((const uint4 *)in.data(), codes.data(), scale.data(),
                                  minv.data(), rows, T, D, in_cap, out_cap, off);
        });
        ok &= sim_same(keys ? "quant keys codes" : "quant values codes", codes, ref_codes);
        ok &= sim_same(keys ? "quant keys scale" : "quant values scale", scale, ref_scale);
        ok &= sim_same(keys ? "quant keys min" : "quant values min", minv, ref_min);
    }

    /* The scan: clean input, a bad value in the last token, one past it. */
    const int clean = scan(in, rows, T, D, in_cap);
    std::vector<unsigned char> bad = in, unused = in;
    put(bad, ((size_t)1 * in_cap + T - 1) * D + 3, IN_F16 ? INFINITY : 70000.0f);
    put(unused, ((size_t)1 * in_cap + T) * D + 3, NAN);
    const int flagged = scan(bad, rows, T, D, in_cap), past = scan(unused, rows, T, D, in_cap);
    const bool scan_ok = clean == 0 && flagged == (IN_F16 ? 1 : 2) && past == 0;
    std::printf("scan: flags %d, %d, %d %s\n", clean, flagged, past, scan_ok ? "OK" : "FAIL");
    ok &= scan_ok;

    for (int keys = 1; keys >= 0; keys--) {
        const size_t n_out = (size_t)rows * T * D;
        std::vector<uint32_t> codes(n_out / PER_WORD);
        std::vector<uint16_t> scale(n_out / GROUP), minv(n_out / GROUP);
        for (auto &x : codes)
            x = rng.next() ^ (rng.next() << 16);
        for (auto &x : scale)
            x = qkv_f32_to_f16(0.2f + 0.2f * rng.uniform());
        for (auto &x : minv)
            x = qkv_f32_to_f16(rng.uniform());
        qkv_kivi_dequant_params p = {};
        p.batch = B, p.heads = H, p.tokens = T, p.head_dim = D, p.bits = BITS, p.group = GROUP;
        p.codes = sim_upload(ref, codes.data(), codes.size() * 4);
        p.scale = sim_upload(ref, scale.data(), scale.size() * 2);
        p.min = sim_upload(ref, minv.data(), minv.size() * 2);
        std::vector<float> expect(n_out), out(n_out, NAN);
        sim_require(qkv_buffer_create(ref, n_out * 4, &p.output), "output");
        sim_require(keys ? qkv_kivi_dequant_keys(ref, &p) : qkv_kivi_dequant_values(ref, &p),
                    "ref dequantizer");
        qkv_buffer_read(p.output, 0, expect.data(), n_out * 4);
        sim_launch(grid, block, [&] {
            if (keys)
                kivi_dequant_keys(codes.data(), scale.data(), minv.data(), (float4 *)out.data(),
                                  rows, T, D);
            else
                kivi_dequant_values(codes.data(), scale.data(), minv.data(),
                                    (float4 *)out.data(), D, rows * T);
        });
        ok &= sim_same(keys ? "dequant keys" : "dequant values", out, expect);
    }
    return ok ? 0 : 1;
}
