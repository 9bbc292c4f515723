#!/bin/sh
# Stands in for tests/test_fp8_nvidia where configure found no CUDA toolkit
# whose cuda_fp8.h compiles as host C++: reports the test as skipped (77).
echo "note: FP8 test against NVIDIA's cuda_fp8.h SKIPPED (no CUDA toolkit headers found by configure)"
exit 77
