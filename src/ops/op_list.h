/* op_list.h - every op of the suite, one line each:
 *     QKV_OP(ENUM_SUFFIX, name)
 * Including files define QKV_OP to expand each line (the op ids in
 * qkv_internal.h, the library's op table in src/ops/ops.c, the test-side
 * descriptions in src/dev/op_case.c).  An op named `name` defines
 * `qkv_op_info_<name>` (src/ops/<technique>/) and `qkv_op_case_<name>`
 * (its test-side description).  Adding an op: its files, one line here,
 * its entry point in qkv.h and its sources in Makefile.am
 * (docs/architecture.md, "Adding an op"). */
QKV_OP(KIVI_QUANT_KEYS, kivi_quant_keys)
QKV_OP(KIVI_QUANT_VALUES, kivi_quant_values)
QKV_OP(KIVI_DEQUANT_KEYS, kivi_dequant_keys)
QKV_OP(KIVI_DEQUANT_VALUES, kivi_dequant_values)
QKV_OP(KIVI_DECODE_ATTENTION, kivi_decode_attention)
QKV_OP(F16_DECODE_ATTENTION, f16_decode_attention)
QKV_OP(W4A8_QUANT_ACTIVATIONS, w4a8_quant_activations)
QKV_OP(W4A8_GEMM, w4a8_gemm)
QKV_OP(F32_GEMM, f32_gemm)
