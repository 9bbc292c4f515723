/* sim_check.h - what the host-simulation drivers share: test data, the
 * reference through libqkv's ref backend, and the comparisons. */
#ifndef QKV_CUDA_SIM_CHECK_H
#define QKV_CUDA_SIM_CHECK_H

#include <cstdio>
#include <cstdlib>
#include <vector>

extern "C" {
#include "qkv.h"
}

/* Deterministic pseudo-random numbers: next() 24 bits, uniform() in [-1, 1]. */
struct sim_rng {
    uint32_t state;
    uint32_t next()
    {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    }
    float uniform() { return (float)(next() % 20001) / 10000.0f - 1.0f; }
};

/* A buffer of the ref context holding `bytes` of `data`. */
static inline qkv_buffer *sim_upload(qkv_context *ref, const void *data, size_t bytes)
{
    qkv_buffer *b = nullptr;
    if (qkv_buffer_create(ref, bytes, &b) != QKV_OK || qkv_buffer_write(b, 0, data, bytes) != QKV_OK) {
        std::fprintf(stderr, "cuda_sim: %s\n", qkv_last_error());
        std::exit(2);
    }
    return b;
}

/* Exit with a message when a reference call failed. */
static inline void sim_require(qkv_status st, const char *what)
{
    if (st != QKV_OK) {
        std::fprintf(stderr, "cuda_sim: %s: %s\n", what, qkv_last_error());
        std::exit(2);
    }
}

/* NMSE of y against r, printed under `label`; true if below bound. */
static inline bool sim_nmse_ok(const char *label, const std::vector<float> &y,
                               const std::vector<float> &r, double bound)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < y.size(); i++) {
        num += ((double)y[i] - r[i]) * ((double)y[i] - r[i]);
        den += (double)r[i] * r[i];
    }
    const bool ok = num / den <= bound; /* false for NaN */
    std::printf("%s: nmse %.3g %s\n", label, num / den, ok ? "OK" : "FAIL");
    return ok;
}

/* Bytes of y identical to r, printed under `label`. */
template <class T>
static bool sim_same(const char *label, const std::vector<T> &y, const std::vector<T> &r)
{
    size_t bad = 0;
    for (size_t i = 0; i < y.size(); i++)
        bad += std::memcmp(&y[i], &r[i], sizeof(T)) != 0;
    std::printf("%s: %zu of %zu differ %s\n", label, bad, y.size(), bad ? "FAIL" : "OK");
    return bad == 0;
}

#endif
