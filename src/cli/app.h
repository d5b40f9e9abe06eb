/* app.h - assembling the application (store, keys, tokens, policy, audit) from the configuration,
 * shared by the subcommands. */
#ifndef SOCLE_CLI_APP_H
#define SOCLE_CLI_APP_H

#include <stdint.h>

#include "rest/rest.h"

enum { APP_STORE = 1, APP_KEY = 2, APP_AUDIT = 4, APP_ALL = 7 };

/* app_open - open what `parts` asks for; APP_AUDIT implies the store and key, and also migrates
 * the FHIR tables and builds the verifier, policy, CapabilityStatement and JWKS. */
int app_open(socle_app *app, socle_config *cfg, int parts, socle_err *err);
/* app_close - close everything app_open opened (the config stays the caller's). */
void app_close(socle_app *app);
/* app_load_config - config_load with the subcommand's flags; prints the error and returns NULL. */
socle_config *app_load_config(int argc, char **argv, const char *extra_flags);

/* app_progress - the progress line of a long command on a terminal: count, rate, share done and
 * ETA, redrawn at most four times a second. Silent when stderr is not a terminal. */
typedef struct app_progress {
    const char *unit;   /* what is counted: "lines", "professionals" */
    uint64_t total;     /* the count at the end when known (generators), else 0 */
    int tty;
    int64_t start_ns, last_ns;
} app_progress;

/* app_progress_start - start the clock for `total` units (0: unknown). */
void app_progress_start(app_progress *p, const char *unit, uint64_t total);
/* app_progress_show - done units so far; fraction of the work done in [0, 1], or negative to take
 * done / total. */
void app_progress_show(app_progress *p, uint64_t done, double fraction);
/* app_progress_count - app_progress_show as a generator's progress callback (ctx: app_progress). */
void app_progress_count(uint64_t done, void *ctx);
/* app_progress_end - end the line (a newline on a terminal). */
void app_progress_end(app_progress *p);

/* app_generator_flags - the flags of a synthetic-data generator `socle <name> --count N [--seed S]
 * --out TARGET` (also --flag=value): count in [1, max_count], seed any 64-bit number (default 1),
 * out required. Prints what is wrong with `usage`. Returns -1 to go on, else the exit status
 * (0 after --help, 2 for a usage error). */
int app_generator_flags(const char *name, const char *usage, int argc, char **argv, uint64_t max_count, uint64_t *count,
                        uint64_t *seed, const char **out);

/* Subcommands (argv after the subcommand's own name). Each returns the process exit status. */
int cli_serve(int argc, char **argv, int demo);
int cli_token(int argc, char **argv);
int cli_pki(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_config(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_ins(int argc, char **argv);

/* demo_load - create the synthetic demo data unless already there. */
int demo_load(socle_app *app, socle_err *err);
/* What `socle demo` prints for Pro Santé Connect. */
typedef struct demo_oidc_info {
    char idnps[32];            /* a professional of the demo directory */
    char activation_code[20];  /* their e-CPS activation code (fresh at each start) */
    char client_secret[44];    /* of the client demo-rp (fresh at each start) */
    char mailbox[256];         /* MSSanté: the professional's mailbox ("" when MSSanté is off) */
    char citizen_mailbox[256]; /* MSSanté: demo-patient-1's citizen mailbox */
} demo_oidc_info;
/* demo_oidc - import the synthetic demo directory, (re)register the client demo-rp and enrol the
 * directory's first professional in e-CPS. */
int demo_oidc(socle_app *app, demo_oidc_info *info, socle_err *err);
/* demo_mss_defaults - the MSSanté settings `socle demo` uses unless configured otherwise: domain
 * mss.demo.socle.test, relay 127.0.0.1:2525, submission 127.0.0.1:2587, IMAP 127.0.0.1:2143. */
int demo_mss_defaults(socle_config *cfg, socle_err *err);
/* demo_mss - the demo mailboxes (the demo professional's, demo-patient-1's citizen mailbox) and a
 * trust space holding the demo domain, unless there; fills info's mailbox fields. */
int demo_mss(socle_app *app, demo_oidc_info *info, socle_err *err);

#endif
