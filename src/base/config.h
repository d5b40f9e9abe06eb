/* config.h - the effective configuration: defaults < socle.conf < SOCLE_* environment < flags.
 *
 * Every key socle understands is declared once in config.c (name, default, kind, description,
 * whether it is a secret); that table is the documentation that `socle config check` prints and the
 * README copies. The file format is `key = value` lines, `#` comments, blank lines ignored. The
 * environment variable for key `max_body_bytes` is SOCLE_MAX_BODY_BYTES; the flag is
 * --max-body-bytes VALUE or --max-body-bytes=VALUE. A config object is immutable once loaded and may
 * be shared by all threads. */
#ifndef SOCLE_BASE_CONFIG_H
#define SOCLE_BASE_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include "base/err.h"

typedef enum { CONFIG_STRING, CONFIG_INT, CONFIG_BOOL, CONFIG_ADDRESS, CONFIG_PATH, CONFIG_ENUM } config_kind;

typedef struct config_key {
    const char *name;
    config_kind kind;
    const char *default_value;  /* may be NULL (unset); "${data}" expands to the data directory */
    const char *choices;        /* CONFIG_ENUM: "a|b|c" */
    int secret;                 /* 1: masked in `config check` output; URL passwords are masked too */
    const char *help;
} config_key;

typedef struct socle_config socle_config;

/* config_keys - the table of known keys, terminated by a {NULL} row. */
const config_key *config_keys(void);

/* config_load - build the effective configuration. `file` may be NULL: then `socle.conf` in the
 * current directory is read if present, else `$data/socle.conf`. argv holds flags only (the
 * subcommand already removed); a flag that is not a key is returned as an error unless it is in
 * `extra_flags` ("--kind|--sub|..."), in which case it is left for the caller (see config_extra).
 * Returns 0 or SOCLE_EINVAL with a message naming the key, the source and what is wrong. */
int config_load(socle_config **out, const char *file, int argc, char **argv, const char *extra_flags,
                socle_err *err);
void config_free(socle_config *c);

/* config_get - effective value or NULL if unset. The pointer lives as long as the config. */
const char *config_get(const socle_config *c, const char *key);
/* config_cores - the cores online, between 1 and 64: the unit of the defaults sized to the machine
 * (HTTP connection threads 2 x cores + 4 and write pool 4 x cores + 8, a SQLite pool of one
 * connection for each and two more). */
int config_cores(void);
/* config_get_int - integer value, or `fallback` if unset (values are validated at load). */
int64_t config_get_int(const socle_config *c, const char *key, int64_t fallback);
int config_get_bool(const socle_config *c, const char *key, int fallback);
/* config_source - "default", "file", "env" or "flag": where the effective value came from. */
const char *config_source(const socle_config *c, const char *key);
/* config_extra - value of an extra (non-key) flag given on the command line, or NULL. Flags given
 * without a value (followed by another flag or nothing) read as "1". */
const char *config_extra(const socle_config *c, const char *flag);
/* config_set - override a value programmatically (used by `socle demo`); source becomes "flag". */
int config_set(socle_config *c, const char *key, const char *value, socle_err *err);
/* config_print - the effective configuration, one `key = value  # source` line each, secrets
 * masked. */
void config_print(const socle_config *c, FILE *out);

#endif
