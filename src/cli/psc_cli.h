/* psc_cli.h - the `socle oidc ...` and `socle psc ...` subcommands (wired by main.c). */
#ifndef SOCLE_CLI_PSC_CLI_H
#define SOCLE_CLI_PSC_CLI_H

/* cli_oidc - `socle oidc client add ...` (argv after "oidc"): register a relying party. */
int cli_oidc(int argc, char **argv);
/* cli_psc - `socle psc enrol --idnps N` (an e-CPS activation code), `socle psc patients sync`,
 * `socle psc patient activate|oppose --ins INS` (argv after "psc"). */
int cli_psc(int argc, char **argv);

#endif
