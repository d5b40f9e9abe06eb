/* annuaire_cli.h - the `socle annuaire ...` subcommands kept out of app.h (wired by main.c). */
#ifndef SOCLE_CLI_ANNUAIRE_CLI_H
#define SOCLE_CLI_ANNUAIRE_CLI_H

/* cli_annuaire_generate - `socle annuaire generate --count N [--seed S] --out DIR` (argv after
 * "generate"): synthetic directory extracts. Returns the exit status: 0, 1 I/O error, 2 usage. */
int cli_annuaire_generate(int argc, char **argv);

/* cli_annuaire_import - `socle annuaire import FILE... [--report-dir DIR] [--keys LIST]` (argv
 * after "import"): load directory extracts. 0, 1 (rejected lines or failure), 2 (usage, refused file). */
int cli_annuaire_import(int argc, char **argv);

#endif
