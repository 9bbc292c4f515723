/* cli.h - subcommands of the qkv command. */
#ifndef QKV_CLI_H
#define QKV_CLI_H

#include <stdbool.h>

int cmd_info(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_quantize_weights(int argc, char **argv);

/* True if argv holds -h or --help. */
bool cli_wants_help(int argc, char **argv);

#endif
