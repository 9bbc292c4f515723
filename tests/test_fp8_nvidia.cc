/* test_fp8_nvidia.cc - the FP8 encoders and decoders (E4M3, E5M2) against
 * NVIDIA's own host implementation: cuda_fp8.h from the CUDA toolkit,
 * compiled here as host C++ (its __nv_cvt_float_to_fp8 and
 * __nv_cvt_fp8_to_halfraw are the ground truth of spec w4a8-gemm.md).
 *
 * By default (make check) a quick subset: every f32 pattern with a stride,
 * and a window of patterns around every boundary (each code's value, each
 * midpoint between neighbouring codes, the overflow threshold, half the
 * smallest subnormal, zero, the f32 subnormals, +-Inf, the NaNs), in both
 * overflow modes; and all 256 codes of each format decoded.  With
 * QKV_SLOW_TESTS=1 every one of the 2^32 f32 patterns in both modes, spread
 * over OpenMP threads, with progress and the time taken.
 * Exit status: 0 pass, 1 mismatch (automake's convention). */
#include <cuda_fp8.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "qkv.h"

namespace {

/* One FP8 format: NVIDIA's interpretation beside qkv's conversions. */
struct fp8_format {
    const char *name;
    __nv_fp8_interpretation_t nv_interp;
    uint8_t (*encode)(float, qkv_fp8_overflow);
    float (*decode)(uint8_t);
};

const fp8_format formats[] = {
    {"e4m3", __NV_E4M3, qkv_f32_to_e4m3, qkv_e4m3_to_f32},
    {"e5m2", __NV_E5M2, qkv_f32_to_e5m2, qkv_e5m2_to_f32},
};

/* One overflow mode in both libraries. */
struct fp8_mode {
    const char *name;
    __nv_saturation_t nv_sat;
    qkv_fp8_overflow qkv_mode;
};

const fp8_mode modes[] = {
    {"satfinite", __NV_SATFINITE, QKV_FP8_SATFINITE},
    {"nosat", __NV_NOSAT, QKV_FP8_NOSAT},
};

/* Mismatches printed before the rest are only counted. */
constexpr long max_reports = 10;

/* The binary32 value of bits u. */
float float_of(uint32_t u)
{
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

/* The binary32 bits of x. */
uint32_t bits_of(float x)
{
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

/* NVIDIA's decode of code b: FP8 -> half (raw bits) -> float. */
float nv_decode(uint8_t b, const fp8_format &f)
{
    return __half2float(__half(__nv_cvt_fp8_to_halfraw(b, f.nv_interp)));
}

/* Compares the encoders on f32 pattern u in every format and mode; prints
 * the first max_reports mismatches (shared count `reported`) and returns
 * how many of the four encodings differ. */
long compare_pattern(uint32_t u, std::atomic<long> &reported)
{
    const float x = float_of(u);
    long bad = 0;
    for (const fp8_format &f : formats)
        for (const fp8_mode &m : modes) {
            const uint8_t want = __nv_cvt_float_to_fp8(x, m.nv_sat, f.nv_interp);
            const uint8_t got = f.encode(x, m.qkv_mode);
            if (got == want)
                continue;
            bad++;
            if (reported.fetch_add(1) < max_reports)
                std::fprintf(stderr, "MISMATCH %s %s: f32 0x%08x (%a): qkv 0x%02x, NVIDIA 0x%02x\n",
                             f.name, m.name, u, (double)x, got, want);
        }
    return bad;
}

/* Every code of each format decoded by both libraries: equal values (and
 * signs of zeros), or NaN on both sides.  Returns the number of mismatches. */
long compare_decoders()
{
    long bad = 0;
    for (const fp8_format &f : formats)
        for (unsigned c = 0; c < 256; c++) {
            const float want = nv_decode((uint8_t)c, f), got = f.decode((uint8_t)c);
            const bool same = std::isnan(want) ? std::isnan(got)
                                               : bits_of(want) == bits_of(got);
            if (!same) {
                bad++;
                std::fprintf(stderr, "MISMATCH %s decode 0x%02x: qkv %a, NVIDIA %a\n", f.name, c,
                             (double)got, (double)want);
            }
        }
    return bad;
}

/* Patterns compared and mismatches found. */
struct tally {
    long patterns = 0, mismatches = 0;
};

/* Patterns within `radius` of `center`'s magnitude, with either sign. */
void compare_window(uint32_t center, uint32_t radius, std::atomic<long> &reported, tally &t)
{
    const uint32_t mag = center & 0x7fffffffu;
    const uint32_t lo = mag > radius ? mag - radius : 0;
    const uint32_t hi = mag < 0x7fffffffu - radius ? mag + radius : 0x7fffffffu;
    for (uint32_t u = lo;; u++) {
        t.mismatches += compare_pattern(u, reported) + compare_pattern(u | 0x80000000u, reported);
        t.patterns += 2;
        if (u == hi)
            break;
    }
}

/* The quick subset: a stride through all patterns, and windows around each
 * finite code's value, each midpoint between neighbouring codes (the
 * rounding ties, half the smallest subnormal among them), the overflow
 * threshold (max finite plus half its ulp), f32 zero and its smallest
 * normal, +-Inf and the NaN boundaries. */
tally compare_quick(std::atomic<long> &reported)
{
    constexpr uint32_t stride = 1021, radius = 64;
    tally t;
    for (uint64_t u = 0; u < (1ull << 32); u += stride, t.patterns++)
        t.mismatches += compare_pattern((uint32_t)u, reported);
    for (const fp8_format &f : formats) {
        float prev = 0.0f, step = 0.0f; /* the last finite value and the step below it */
        for (unsigned c = 1; c < 0x80; c++) {
            const float v = nv_decode((uint8_t)c, f);
            if (!std::isfinite(v))
                break;
            compare_window(bits_of(v), radius, reported, t);
            compare_window(bits_of((float)(((double)prev + v) / 2)), radius, reported, t);
            step = v - prev;
            prev = v;
        }
        compare_window(bits_of(prev + step / 2), radius, reported, t);
    }
    const uint32_t landmarks[] = {0x00000000u, 0x00800000u, 0x7f800000u, 0x7f800001u,
                                  0x7fbfffffu, 0x7fc00000u, 0x7fffffffu};
    for (uint32_t u : landmarks)
        compare_window(u, radius, reported, t);
    return t;
}

/* All 2^32 patterns, in 256 chunks over the OpenMP threads; prints a line
 * every 16 chunks. */
long compare_all(std::atomic<long> &reported)
{
    constexpr int chunks = 256;
    std::atomic<int> done{0};
    long bad = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : bad)
    for (int chunk = 0; chunk < chunks; chunk++) {
        const uint32_t first = (uint32_t)chunk << 24;
        for (uint32_t low = 0; low < (1u << 24); low++)
            bad += compare_pattern(first | low, reported);
        const int now = ++done;
        if (now % 16 == 0)
            std::fprintf(stderr, "  %3d/%d chunks of 2^24 patterns\n", now, chunks);
    }
    return bad;
}

} // namespace

int main()
{
    std::atomic<long> reported{0};
    long bad = compare_decoders();
    std::printf("decoders: all 256 codes of e4m3 and e5m2 compared with "
                "__nv_cvt_fp8_to_halfraw: %ld mismatches\n",
                bad);
    const auto start = std::chrono::steady_clock::now();
    long enc_bad;
    if (std::getenv("QKV_SLOW_TESTS")) {
        std::printf("encoders: all 2^32 f32 patterns, e4m3 and e5m2, satfinite and nosat\n");
        std::fflush(stdout);
        enc_bad = compare_all(reported);
    } else {
        const tally t = compare_quick(reported);
        enc_bad = t.mismatches;
        std::printf("encoders: %ld f32 patterns (set QKV_SLOW_TESTS=1 for all 2^32), e4m3 and "
                    "e5m2, satfinite and nosat\n",
                    t.patterns);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("encoders vs __nv_cvt_float_to_fp8: %ld mismatches in %.1f s\n", enc_bad, seconds);
    bad += enc_bad;
    return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
