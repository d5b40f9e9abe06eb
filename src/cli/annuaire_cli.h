/* annuaire_cli.h - the `socle annuaire ...` subcommands kept out of app.h (wired by main.c). */
#ifndef SOCLE_CLI_ANNUAIRE_CLI_H
#define SOCLE_CLI_ANNUAIRE_CLI_H

/* cli_annuaire_generate - `socle annuaire generate --count N [--seed S] --out DIR` (argv after
 * "generate"): synthetic directory extracts. Returns the exit status: 0, 1 I/O error, 2 usage. */
int cli_annuaire_generate(int argc, char **argv);

#endif
