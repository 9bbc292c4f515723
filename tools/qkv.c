/* qkv.c - the qkv command: dispatch to subcommands. */
#include "cli.h"
#include "harness.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "qkv %d.%d - LLM inference kernels (KIVI, FireQ ...) on ref, cpu, opencl and cuda\n"
            "\n"
            "usage: qkv COMMAND [options]   (qkv COMMAND --help for details)\n"
            "\n"
            "commands:\n"
            "  info       backends compiled in, their devices and limits, every op with its\n"
            "             variants and the tile parameters each uses\n"
            "  validate   run every op x backend x variant x shape against the scalar\n"
            "             reference and print a conformance table; exits 1 on any FAIL\n"
            "  run        run one op on tensors read from .npy files, write outputs as .npy\n"
            "  tune       search tile parameters on a device, write its tuning table\n"
            "  quantize-weights  FireQ's offline INT4 weight quantization of a .npy file\n"
            "             into the wq, ws and pre-scale inputs of run w4a8_gemm\n"
            "\n"
            "backends: ref (scalar reference), cpu (OpenMP: per-ISA variants),\n"
            "  opencl[:N], cuda[:N]\n"
            "environment: QKV_VARIANT=\"[backend.]op=variant;...\" selects variants (op * for\n"
            "  every op; see qkv info), QKV_TILE_PARAMS=\"[backend.]op[/variant]:k=v,...;...\"\n"
            "  forces tile parameters, QKV_TUNING_PATH adds tuning tables;\n"
            "  QKV_CPU_ISA=scalar|avx2|avx512 caps the instruction set the cpu backend's\n"
            "  variants use (default: the best this CPU offers; qkv info shows it);\n"
            "  OMP_NUM_THREADS sets its threads; QKV_NVRTC_LIBRARY names libnvrtc to load.\n",
            QKV_VERSION_MAJOR, QKV_VERSION_MINOR);
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    qkv_dev_install_verifier();
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("qkv %d.%d\n", QKV_VERSION_MAJOR, QKV_VERSION_MINOR);
        return 0;
    }
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "tune") == 0)
        return cmd_tune(argc - 1, argv + 1);
    if (strcmp(cmd, "quantize-weights") == 0)
        return cmd_quantize_weights(argc - 1, argv + 1);
    fprintf(stderr, "qkv: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
