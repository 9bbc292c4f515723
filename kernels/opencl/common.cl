/* common.cl - helpers shared by the kernel programs, which include it
 * (tools/embed_kernels.sh inlines it), OpenCL C 1.2; the CUDA backend
 * compiles the same text after kernels/cuda/cl2cuda.h.  Only macros here,
 * so a program that leaves one unused gets no warning from NVRTC. */
#ifndef QKV_FN
#define QKV_FN static inline
#endif

/* Segmented tree reduction of work-item lid's value x over the `lanes`
 * work-items of each segment (i = lid % lanes, lanes a power of two)
 * through local red[]: the result of segment h is left in red[h * lanes].
 * Every work-item of the work-group runs it. */
#define SEGMENT_REDUCE(red, lid, i, lanes, OP, x)                                                \
    red[lid] = (x);                                                                              \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                \
    for (int w = (lanes) / 2; w > 0; w /= 2) {                                                   \
        if ((i) < w)                                                                             \
            red[lid] = OP(red[lid], red[(lid) + w]);                                             \
        barrier(CLK_LOCAL_MEM_FENCE);                                                            \
    }

#define OP_MAX(a, b) fmax((a), (b))
#define OP_ADD(a, b) ((a) + (b))
