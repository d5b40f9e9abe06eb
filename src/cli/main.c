/* main.c - the socle program: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/annuaire_cli.h"
#include "cli/mss_cli.h"
#include "cli/psc_cli.h"
#include "cli/app.h"

static void main_usage(FILE *out)
{
    fputs("socle - the French e-health backbone (Ségur du numérique en santé) as one server\n\n"
          "usage: socle COMMAND [flags]\n\n"
          "  serve            run the server (--data DIR --listen ADDR:PORT --db URL, any config key as --key value)\n"
          "  demo             like serve, with synthetic demo data and a printed demo token\n"
          "  token issue      print a bearer token (--sub --kind [--profession] [--role]... [--ttl])\n"
          "  pki init|client  the local test PKI (stand-in for the IGC-Santé test chain)\n"
          "  audit verify     check the hash chain and signed checkpoints of the audit trail\n"
          "  config check     validate and print the effective configuration (secrets masked)\n"
          "  import ndjson F  bulk-load FHIR resources, one JSON per line\n"
          "  ins import F     load an INS reference base (CSV); ins generate: write a synthetic one\n"
          "  annuaire generate  write synthetic directory extracts (RPPS activities, MSSanté mailboxes, FINESS)\n"
          "  annuaire import    load directory extracts as FHIR Practitioner, PractitionerRole, Organization\n"
          "  oidc client add    register a relying party of Pro Santé Connect (prints its secret once)\n"
          "  psc enrol          an e-CPS activation code for a professional of the directory\n"
          "  mss mailbox add|list  MSSanté mailboxes (personal, organisational, applicative, citizen)\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        main_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    int n = argc - 2;
    char **rest = argv + 2;
    if (!strcmp(cmd, "serve")) return cli_serve(n, rest, 0);
    if (!strcmp(cmd, "demo")) return cli_serve(n, rest, 1);
    if (!strcmp(cmd, "token")) return cli_token(n, rest);
    if (!strcmp(cmd, "pki")) return cli_pki(n, rest);
    if (!strcmp(cmd, "audit")) return cli_audit(n, rest);
    if (!strcmp(cmd, "config")) return cli_config(n, rest);
    if (!strcmp(cmd, "import")) return cli_import(n, rest);
    if (!strcmp(cmd, "ins")) return cli_ins(n, rest);
    if (!strcmp(cmd, "annuaire") && n >= 1 && !strcmp(rest[0], "generate")) return cli_annuaire_generate(n - 1, rest + 1);
    if (!strcmp(cmd, "annuaire") && n >= 1 && !strcmp(rest[0], "import")) return cli_annuaire_import(n - 1, rest + 1);
    if (!strcmp(cmd, "oidc")) return cli_oidc(n, rest);
    if (!strcmp(cmd, "psc")) return cli_psc(n, rest);
    if (!strcmp(cmd, "mss")) return cli_mss(n, rest);
    fprintf(stderr, "socle: unknown command '%s'\n\n", cmd);
    main_usage(stderr);
    return 2;
}
