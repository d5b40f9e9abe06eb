/* ins_cli.h - the `socle ins ...` subcommands kept out of app.h (wired by main.c). */
#ifndef SOCLE_CLI_INS_CLI_H
#define SOCLE_CLI_INS_CLI_H

/* cli_ins_generate - `socle ins generate --count N [--seed S] --out FILE|-` (argv after
 * "generate"): a synthetic INS reference base. Returns the exit status: 0, 1 I/O error, 2 usage. */
int cli_ins_generate(int argc, char **argv);

#endif
