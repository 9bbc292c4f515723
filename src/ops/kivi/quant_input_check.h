/* quant_input_check.h - host scan of a quantizer input for values the
 * quantizer cannot represent (NaN, Inf, |x| > 65504, the f16 maximum). */
#ifndef QKV_QUANT_INPUT_CHECK_H
#define QKV_QUANT_INPUT_CHECK_H

#include "qkv_internal.h"

/* Status and message for a scan result: 0 = clean, bit 0 = non-finite,
 * bit 1 = finite but beyond f16 range. */
qkv_status qkv_quant_input_status(int flags, const char *fn);
/* Scan tokens [0, p->tokens) of every head of a quantize input on the host. */
qkv_status qkv_host_check_quant_input(const qkv_kivi_quant_params *p, const void *input,
                                      const char *fn);

#endif
