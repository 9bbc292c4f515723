/* int4.c - packing of signed 4-bit integers two per byte (QKV_I4; spec
 * w4a8-gemm.md, Wq: element k in the low nibble when k is even). */
#include "qkv.h"

/* values[count] (each -8..7) -> packed[(count+1)/2]; low nibble first. */
void qkv_i4_pack(const int8_t *values, size_t count, uint8_t *packed)
{
    for (size_t j = 0; j < count / 2; j++)
        packed[j] = (uint8_t)((values[2 * j] & 0x0f) | (values[2 * j + 1] & 0x0f) << 4);
    if (count % 2)
        packed[count / 2] = (uint8_t)(values[count - 1] & 0x0f);
}

/* packed[(count+1)/2] -> values[count], each nibble sign-extended to -8..7. */
void qkv_i4_unpack(const uint8_t *packed, size_t count, int8_t *values)
{
    for (size_t k = 0; k < count; k++) {
        const int nibble = (packed[k / 2] >> (4 * (k % 2))) & 0x0f;
        values[k] = (int8_t)(nibble >= 8 ? nibble - 16 : nibble);
    }
}
