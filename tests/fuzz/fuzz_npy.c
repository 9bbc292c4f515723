/* fuzz_npy.c - libFuzzer target: qkv_npy_parse on arbitrary bytes.
 * A parse that succeeds must describe a consistent tensor (count is the
 * product of the shape, data non-NULL, dtype a storage dtype); the data is
 * read in full so ASan sees any short allocation. */
#include "npy.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qkv_npy t;
    if (qkv_npy_parse(data, size, &t) == QKV_OK) {
        size_t count = 1;
        for (int d = 0; d < t.ndim; d++)
            count *= t.shape[d];
        if (t.ndim < 0 || t.ndim > QKV_NPY_MAX_DIMS || count != t.count || !t.data ||
            qkv_npy_storage_dtype(t.dtype) != t.dtype)
            abort();
        const size_t bytes = t.count * qkv_dtype_size(t.dtype);
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < bytes; i++)
            sum ^= ((const uint8_t *)t.data)[i];
        (void)sum;
    } else if (t.data) {
        abort(); /* failure must leave nothing allocated */
    }
    qkv_npy_free(&t);
    return 0;
}
