/* mss_cli.h - the `socle mss ...` subcommands (wired by main.c). */
#ifndef SOCLE_CLI_MSS_CLI_H
#define SOCLE_CLI_MSS_CLI_H

/* cli_mss - `socle mss mailbox add --kind K --owner ID [--address A] [--display D] [--password P]`
 * and `socle mss mailbox list` (argv after "mss"). */
int cli_mss(int argc, char **argv);

#endif
