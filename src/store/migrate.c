/* migrate.c - schema migrations recorded in the store_schema table, one transaction per step.
 *
 * Several processes may start at once (several `socle serve` nodes on one PostgreSQL, or a CLI
 * command next to a running server on SQLite). Each step is applied inside a write transaction that
 * first serializes with the others - BEGIN IMMEDIATE on SQLite, a transaction-scoped advisory lock
 * on hashtext(owner) on PostgreSQL - and then re-checks whether the step is already recorded, so a
 * step runs exactly once whoever wins. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "store/store_internal.h"

static const char store_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS store_schema (owner TEXT NOT NULL, version INTEGER NOT NULL,"
    " name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (owner, version))";

/* Serialize with other processes for the rest of the transaction (PostgreSQL only: on SQLite
 * BEGIN IMMEDIATE already did). */
static int migrate_lock(store_conn *c, const char *key, socle_err *err)
{
    if (store_conn_engine(c) != STORE_POSTGRES) return 0;
    store_value v = STORE_V_TEXT(key);
    return store_exec(c, "SELECT pg_advisory_xact_lock(hashtext($1))", &v, 1, NULL, err);
}

static int migrate_ensure_table(store_conn *c, socle_err *err)
{
    int rc = store_tx_begin(c, err);
    if (!rc) rc = migrate_lock(c, "socle.store_schema", err);
    if (!rc) rc = store_exec_script(c, store_schema_sql, err);
    if (!rc) rc = store_tx_commit(c, err);
    if (rc) store_tx_rollback(c);
    return rc;
}

static int migrate_step(store_conn *c, const char *owner, const store_migration *m, const char *sql,
                        socle_err *err)
{
    int rc = store_tx_begin(c, err);
    if (!rc) rc = migrate_lock(c, owner, err);
    if (rc) goto out;
    store_value key[2] = {STORE_V_TEXT(owner), STORE_V_INT(m->version)};
    int64_t done = 0;
    rc = store_query_int(c, "SELECT COUNT(*) FROM store_schema WHERE owner = $1 AND version = $2", key, 2,
                         &done, err);
    if (rc) goto out;
    if (done) { /* another process applied it meanwhile */
        store_tx_rollback(c);
        return 0;
    }
    if ((rc = store_exec_script(c, sql, err))) goto out;
    char at[40];
    time_format_instant(time_now_ms(), at);
    store_value row[4] = {STORE_V_TEXT(owner), STORE_V_INT(m->version), STORE_V_TEXT(m->name ? m->name : ""),
                          STORE_V_TEXT(at)};
    rc = store_exec(c, "INSERT INTO store_schema (owner, version, name, applied_at) VALUES ($1, $2, $3, $4)",
                    row, 4, NULL, err);
    if (!rc) rc = store_tx_commit(c, err);
    if (!rc)
        log_msg(LOG_INFO, "store: applied migration %s %d (%s)", owner, m->version, m->name ? m->name : "");
out:
    if (rc) store_tx_rollback(c);
    return rc;
}

int store_migrate(store *s, const char *owner, const store_migration *steps, size_t nsteps, socle_err *err)
{
    if (!owner || !*owner || strlen(owner) > 64)
        return socle_err_set(err, SOCLE_EINTERNAL, "store: migration owner must be 1 to 64 characters");
    int engine = store_engine_of(s);
    for (size_t i = 0; i < nsteps; i++) {
        const store_migration *m = &steps[i];
        const char *sql = m->sql ? m->sql : engine == STORE_SQLITE ? m->sql_sqlite : m->sql_postgres;
        if (m->version <= 0 || (i && m->version <= steps[i - 1].version))
            return socle_err_set(err, SOCLE_EINTERNAL,
                                 "store: migrations of %s: versions must increase from 1", owner);
        if (!sql)
            return socle_err_set(err, SOCLE_EINTERNAL, "store: migration %s %d has no SQL for %s", owner,
                                 m->version, engine == STORE_SQLITE ? "sqlite" : "postgres");
    }

    store_conn *c;
    int rc = store_acquire(s, &c, err);
    if (rc) return rc;
    socle_err e = {0};
    rc = migrate_ensure_table(c, &e);
    int64_t current = 0;
    store_value key = STORE_V_TEXT(owner);
    if (!rc)
        rc = store_query_int(c, "SELECT COALESCE(MAX(version), 0) FROM store_schema WHERE owner = $1", &key,
                             1, &current, &e);
    if (!rc && nsteps && current > steps[nsteps - 1].version)
        log_msg(LOG_WARN, "store: schema of %s is at version %lld, newer than this program's %d", owner,
                (long long)current, steps[nsteps - 1].version);
    const store_migration *failed = NULL;
    for (size_t i = 0; !rc && i < nsteps; i++) {
        if (steps[i].version <= current) continue;
        const char *sql = steps[i].sql             ? steps[i].sql
                          : engine == STORE_SQLITE ? steps[i].sql_sqlite
                                                   : steps[i].sql_postgres;
        rc = migrate_step(c, owner, &steps[i], sql, &e);
        if (rc) failed = &steps[i];
    }
    store_release(s, c);
    if (rc && failed)
        return socle_err_set(err, rc, "store: migration %s %d (%s) failed: %s", owner, failed->version,
                             failed->name ? failed->name : "", e.msg);
    if (rc) return socle_err_set(err, rc, "store: migrations of %s: %s", owner, e.msg);
    return 0;
}
