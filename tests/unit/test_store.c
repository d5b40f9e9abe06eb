/* test_store.c - unit tests of src/store: the same test bodies run on SQLite (a temp file) and, when
 * SOCLE_TEST_PG_URL is set (e.g. postgres://socletest@127.0.0.1:55432/postgres), on PostgreSQL;
 * otherwise the PostgreSQL half is skipped. Every run uses fresh table and migration-owner names
 * and drops them at the end, so a shared PostgreSQL database stays clean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "store/store.h"
#include "store/store_internal.h" /* write_waiters: when a writer waits for the turn */

typedef struct tctx {
    store *s;
    store_engine engine;
    char dir[64]; /* SQLite: the temp directory */
    char table[64];
    char owner[64]; /* migration owner, also the prefix of migration tables */
} tctx;

static int tctx_counter;

static void sqlf(char *out, size_t n, const char *fmt, const tctx *t)
{
    snprintf(out, n, fmt, t->table, t->table, t->table);
}

static int tctx_create_table(tctx *t)
{
    char sql[512];
    socle_err err = {0};
    store_conn *c;
    if (store_acquire(t->s, &c, &err)) return -1;
    if (t->engine == STORE_SQLITE)
        sqlf(sql, sizeof sql,
             "CREATE TABLE %s (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER, data BLOB)", t);
    else
        sqlf(sql, sizeof sql,
             "CREATE TABLE %s (id BIGINT PRIMARY KEY, name TEXT COLLATE \"C\" UNIQUE, n BIGINT, data BYTEA)",
             t);
    int rc = store_exec_script(c, sql, &err);
    if (rc) fprintf(stderr, "create table: %s\n", err.msg);
    store_release(t->s, c);
    return rc;
}

static tctx *tctx_new(void)
{
    tctx *t = calloc(1, sizeof *t);
    tctx_counter++;
    snprintf(t->table, sizeof t->table, "st_%d_%d", (int)getpid(), tctx_counter);
    snprintf(t->owner, sizeof t->owner, "stm_%d_%d", (int)getpid(), tctx_counter);
    return t;
}

static int setup_sqlite(void **state)
{
    tctx *t = tctx_new();
    strcpy(t->dir, "/tmp/socle-store-XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    char url[160];
    /* A missing parent directory must be created. */
    snprintf(url, sizeof url, "sqlite:%s/sub/dir/t.db", t->dir);
    store_options o = {.url = url, .pool_size = 4};
    socle_err err = {0};
    if (store_open(&o, &t->s, &err)) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    t->engine = STORE_SQLITE;
    *state = t;
    return tctx_create_table(t);
}

static int setup_pg(void **state)
{
    tctx *t = tctx_new();
    *state = t;
    const char *url = getenv("SOCLE_TEST_PG_URL");
    if (!url || !*url) return 0; /* each test skips */
    store_options o = {.url = url, .pool_size = 4};
    socle_err err = {0};
    if (store_open(&o, &t->s, &err)) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    t->engine = STORE_POSTGRES;
    return tctx_create_table(t);
}

static int teardown(void **state)
{
    tctx *t = *state;
    if (t->s) {
        store_conn *c;
        socle_err err = {0};
        if (!store_acquire(t->s, &c, &err)) {
            char sql[512];
            snprintf(sql, sizeof sql,
                     "DROP TABLE IF EXISTS %s; DROP TABLE IF EXISTS %s_a; DROP TABLE IF EXISTS %s_b",
                     t->table, t->owner, t->owner);
            store_exec_script(c, sql, &err);
            snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s_c", t->owner);
            store_exec_script(c, sql, &err);
            store_value v = STORE_V_TEXT(t->owner);
            store_exec(c, "DELETE FROM store_schema WHERE owner = $1", &v, 1, NULL, &err);
            store_release(t->s, c);
        }
        store_close(t->s);
    }
    if (t->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", t->dir);
    }
    free(t);
    return 0;
}

#define NEED_STORE(t)                                                                                        \
    do {                                                                                                     \
        if (!(t)->s) skip();                                                                                 \
    } while (0)

static int64_t count_rows(tctx *t, store_conn *c)
{
    char sql[128];
    sqlf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", t);
    int64_t n = -1;
    socle_err err = {0};
    assert_int_equal(store_query_int(c, sql, NULL, 0, &n, &err), 0);
    return n;
}

static int insert_row(tctx *t, store_conn *c, int64_t id, const char *name, socle_err *err)
{
    char sql[128];
    sqlf(sql, sizeof sql, "INSERT INTO %s (id, name, n) VALUES ($1, $2, $1)", t);
    store_value v[2] = {STORE_V_INT(id), STORE_V_TEXT(name)};
    return store_exec(c, sql, v, 2, NULL, err);
}

/* --- tests --- */

static void test_roundtrip(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_int_equal(store_conn_engine(c), t->engine);
    char sql[256];
    sqlf(sql, sizeof sql, "INSERT INTO %s (id, name, n, data) VALUES ($1, $2, $3, $4)", t);

    const char *text = "O'Brien \"q\" é日本 $1 '$2' \\";
    const unsigned char blob[] = {0, 1, 2, 0xff, 0, '\\', 'x', 0x80};
    store_value v[4] = {STORE_V_INT(1), STORE_V_TEXT(text), STORE_V_INT(INT64_MIN),
                        STORE_V_BLOB(blob, sizeof blob)};
    int64_t changes = 0;
    assert_int_equal(store_exec(c, sql, v, 4, &changes, &err), 0);
    assert_int_equal(changes, 1);
    /* NULLs, an unterminated text, an empty blob, the largest integer. */
    store_value w[4] = {STORE_V_INT(2), STORE_V_TEXTN("abcdef", 3), STORE_V_INT(INT64_MAX),
                        STORE_V_BLOB("", 0)};
    assert_int_equal(store_exec(c, sql, w, 4, NULL, &err), 0);
    store_value x[4] = {STORE_V_INT(3), STORE_V_TEXT(NULL), STORE_V_NULL, STORE_V_NULL};
    assert_int_equal(store_exec(c, sql, x, 4, NULL, &err), 0);

    sqlf(sql, sizeof sql, "SELECT id, name, n, data FROM %s WHERE id >= $1 ORDER BY id", t);
    store_rows *r;
    store_value from = STORE_V_INT(1);
    assert_int_equal(store_query(c, sql, &from, 1, &r, &err), 0);
    assert_int_equal(store_rows_columns(r), 4);
    size_t len = 99;

    assert_int_equal(store_rows_next(r, &err), 1);
    assert_int_equal(store_rows_int(r, 0), 1);
    assert_string_equal(store_rows_text(r, 1, &len), text);
    assert_int_equal(len, strlen(text));
    assert_true(store_rows_int(r, 2) == INT64_MIN);
    const unsigned char *b = store_rows_blob(r, 3, &len);
    assert_non_null(b);
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(b, blob, sizeof blob);
    assert_false(store_rows_isnull(r, 3));
    /* Out-of-range columns never crash. */
    assert_null(store_rows_text(r, 4, NULL));
    assert_null(store_rows_text(r, -1, &len));
    assert_int_equal(store_rows_int(r, 9), 0);

    assert_int_equal(store_rows_next(r, &err), 1);
    assert_string_equal(store_rows_text(r, 1, &len), "abc");
    assert_int_equal(len, 3);
    assert_true(store_rows_int(r, 2) == INT64_MAX);
    b = store_rows_blob(r, 3, &len);
    assert_non_null(b); /* empty, not NULL */
    assert_int_equal(len, 0);

    assert_int_equal(store_rows_next(r, &err), 1);
    assert_true(store_rows_isnull(r, 1));
    assert_null(store_rows_text(r, 1, &len));
    assert_int_equal(len, 0);
    assert_true(store_rows_isnull(r, 2));
    assert_int_equal(store_rows_int(r, 2), 0);
    assert_null(store_rows_blob(r, 3, &len));

    assert_int_equal(store_rows_next(r, &err), 0);
    assert_int_equal(store_rows_next(r, &err), 0);
    store_rows_free(r);

    /* '$' inside literals and comments is not a placeholder. */
    store_value p = STORE_V_TEXT("param");
    assert_int_equal(store_query(c, "SELECT 'a$1b''$2', $1 /* $3 */ -- $4\n", &p, 1, &r, &err), 0);
    assert_int_equal(store_rows_next(r, &err), 1);
    assert_string_equal(store_rows_text(r, 0, NULL), "a$1b'$2");
    assert_string_equal(store_rows_text(r, 1, NULL), "param");
    store_rows_free(r);
    /* Placeholders are numbered, not positional. */
    store_value xy[2] = {STORE_V_TEXT("x"), STORE_V_TEXT("y")};
    assert_int_equal(store_query(c, "SELECT $2, $1, $2", xy, 2, &r, &err), 0);
    assert_int_equal(store_rows_next(r, &err), 1);
    assert_string_equal(store_rows_text(r, 0, NULL), "y");
    assert_string_equal(store_rows_text(r, 1, NULL), "x");
    assert_string_equal(store_rows_text(r, 2, NULL), "y");
    store_rows_free(r);
    store_release(t->s, c);
}

static void test_conflict_and_errors(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_int_equal(insert_row(t, c, 10, "a", &err), 0);
    assert_int_equal(insert_row(t, c, 10, "b", &err), SOCLE_ECONFLICT); /* primary key */
    assert_int_equal(err.code, SOCLE_ECONFLICT);
    assert_int_equal(insert_row(t, c, 11, "a", &err), SOCLE_ECONFLICT); /* unique */
    assert_null(strstr(err.msg, "\"a\""));                              /* the value is not in the message */
    assert_int_equal(count_rows(t, c), 1);

    err = (socle_err){0};
    assert_int_equal(store_exec(c, "SELEC nothing FROM nowhere", NULL, 0, NULL, &err), SOCLE_ESTORE);
    assert_true(strstr(err.msg, "syntax") != NULL);
    store_rows *r = (store_rows *)&err;
    assert_int_equal(store_query(c, "SELECT * FROM no_such_table_here", NULL, 0, &r, &err), SOCLE_ESTORE);
    assert_null(r);
    /* Wrong parameter counts and types are refused, not crashed on. */
    store_value one = STORE_V_INT(1);
    assert_true(store_exec(c, "SELECT $1, $2", &one, 1, NULL, &err) < 0);
    assert_true(store_exec(c, "SELECT 1", NULL, -1, NULL, &err) < 0);
    assert_true(store_exec(c, "SELECT 1", NULL, 2, NULL, &err) < 0);
    store_value bad = {(store_type)42, 0, NULL, 0};
    assert_true(store_exec(c, "SELECT $1", &bad, 1, NULL, &err) < 0);
    store_value nul = STORE_V_TEXTN("a\0b", 3);
    assert_int_equal(store_exec(c, "SELECT $1", &nul, 1, NULL, &err), SOCLE_EINVAL);
    assert_true(store_exec(c, NULL, NULL, 0, NULL, &err) < 0);
    assert_true(store_exec_script(c, "CREATE TABLE (", &err) < 0);
    /* Empty script is fine. */
    assert_int_equal(store_exec_script(c, "", &err), 0);

    int64_t n = 5;
    char sql[128];
    sqlf(sql, sizeof sql, "SELECT n FROM %s WHERE id = $1", t);
    store_value id = STORE_V_INT(999);
    assert_int_equal(store_query_int(c, sql, &id, 1, &n, &err), SOCLE_ENOTFOUND);
    id = STORE_V_INT(10);
    assert_int_equal(store_query_int(c, sql, &id, 1, &n, &err), 0);
    assert_int_equal(n, 10);
    /* The connection still works after all those errors. */
    assert_int_equal(count_rows(t, c), 1);
    assert_false(store_in_tx(c));
    store_release(t->s, c);
}

static void test_transactions(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    store_conn *c, *other;
    socle_err err = {0};
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_int_equal(store_acquire(t->s, &other, &err), 0);
    assert_ptr_not_equal(c, other);

    assert_false(store_in_tx(c));
    assert_int_equal(store_tx_commit(c, &err), SOCLE_EINTERNAL); /* nothing to commit */
    store_tx_rollback(c);                                        /* no-op */

    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_true(store_in_tx(c));
    assert_true(store_tx_begin(c, &err) < 0); /* no nesting */
    assert_true(store_in_tx(c));
    assert_int_equal(insert_row(t, c, 1, "one", &err), 0);
    assert_int_equal(count_rows(t, c), 1);
    assert_int_equal(count_rows(t, other), 0); /* not visible before commit */
    store_tx_rollback(c);
    assert_false(store_in_tx(c));
    assert_int_equal(count_rows(t, c), 0);

    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(insert_row(t, c, 2, "two", &err), 0);
    assert_int_equal(store_tx_commit(c, &err), 0);
    assert_false(store_in_tx(c));
    assert_int_equal(count_rows(t, other), 1);

    /* A failed statement inside a transaction: the caller can still roll back and go on. */
    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(insert_row(t, c, 3, "three", &err), 0);
    assert_int_equal(insert_row(t, c, 2, "dup", &err), SOCLE_ECONFLICT);
    store_tx_rollback(c);
    assert_int_equal(count_rows(t, c), 1);
    if (t->engine == STORE_POSTGRES) {
        /* PostgreSQL aborts the whole transaction: commit must not report success. */
        assert_int_equal(store_tx_begin(c, &err), 0);
        assert_int_equal(insert_row(t, c, 4, "four", &err), 0);
        assert_int_equal(insert_row(t, c, 2, "dup", &err), SOCLE_ECONFLICT);
        assert_true(store_tx_commit(c, &err) < 0);
        assert_false(store_in_tx(c));
        assert_int_equal(count_rows(t, c), 1);
    }

    /* store_release rolls back an open transaction. */
    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(insert_row(t, c, 5, "five", &err), 0);
    store_release(t->s, c);
    assert_int_equal(count_rows(t, other), 1);
    store_release(t->s, other);
    for (int i = 0; i < 4; i++) { /* whichever connection comes back is clean */
        store_conn *cs[4];
        for (int k = 0; k < 4; k++)
            assert_int_equal(store_acquire(t->s, &cs[k], &err), 0);
        for (int k = 0; k < 4; k++)
            assert_false(store_in_tx(cs[k]));
        for (int k = 0; k < 4; k++)
            store_release(t->s, cs[k]);
    }
}

/* The durability setting a connection is using now: SQLite's synchronous (2 FULL, 1 NORMAL),
 * PostgreSQL's synchronous_commit. */
static void durability(tctx *t, store_conn *c, char *out, size_t n)
{
    store_rows *r = NULL;
    socle_err err = {0};
    assert_int_equal(store_query(c, t->engine == STORE_POSTGRES ? "SHOW synchronous_commit" : "PRAGMA synchronous",
                                 NULL, 0, &r, &err), 0);
    assert_int_equal(store_rows_next(r, &err), 1);
    snprintf(out, n, "%s", store_rows_text(r, 0, NULL));
    store_rows_free(r);
}

static void test_relaxed_transactions(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    store_conn *c, *other;
    socle_err err = {0};
    char before[16], inside[16], after[16];
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_int_equal(store_acquire(t->s, &other, &err), 0);
    durability(t, c, before, sizeof before);
    assert_int_equal(store_tx_begin_relaxed(c, &err), 0);
    assert_true(store_in_tx(c));
    assert_true(store_tx_begin_relaxed(c, &err) < 0); /* no nesting */
    durability(t, c, inside, sizeof inside);
    if (t->engine == STORE_POSTGRES) assert_string_equal(inside, "off");
    else assert_string_equal(inside, !strcmp(before, "2") ? "1" : before);
    assert_int_equal(insert_row(t, c, 7, "relaxed", &err), 0);
    assert_int_equal(store_tx_commit(c, &err), 0);
    assert_int_equal(count_rows(t, other), 1); /* committed like any other */
    durability(t, c, after, sizeof after);
    assert_string_equal(after, before); /* the next transactions are durable again */
    /* A rolled back relaxed transaction restores the setting as well. */
    assert_int_equal(store_tx_begin_relaxed(c, &err), 0);
    assert_int_equal(insert_row(t, c, 8, "gone", &err), 0);
    store_tx_rollback(c);
    durability(t, c, after, sizeof after);
    assert_string_equal(after, before);
    assert_int_equal(count_rows(t, other), 1);
    store_release(t->s, c);
    store_release(t->s, other);
}

/* Deferred writes: committed in order by the store's thread, parameters copied at the call, a
 * failing statement dropped alone, the once-only insert of the DMP's notices typed on both engines. */
static void test_deferred_writes(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    socle_err err = {0};
    char insert[128], once[256];
    sqlf(insert, sizeof insert, "INSERT INTO %s (id, name, n) VALUES ($1, $2, $1)", t);
    snprintf(once, sizeof once, "INSERT INTO %s (id, name, n) SELECT $1, $2, $3 WHERE NOT EXISTS"
             " (SELECT 1 FROM %s WHERE name = $2)", t->table, t->table);
    char name[16];
    store_conn *c;
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    for (int i = 1; i <= 100; i++) {
        snprintf(name, sizeof name, "d%d", i);
        store_value v[2] = {STORE_V_INT(i), STORE_V_TEXT(name)};
        assert_int_equal(store_defer(c, insert, v, 2, &err), 0);
        if (i == 50) { /* the same name again: a unique violation, dropped without the others */
            store_value dup[2] = {STORE_V_INT(1000), STORE_V_TEXT("d50")};
            assert_int_equal(store_defer(c, insert, dup, 2, &err), 0);
        }
        memset(name, 'x', sizeof name - 1); /* the queued copy is the store's */
    }
    for (int i = 0; i < 3; i++) {
        store_value v[3] = {STORE_V_INT(2000 + i), STORE_V_TEXT("once"), STORE_V_INT(7)};
        assert_int_equal(store_defer(c, once, v, 3, &err), 0);
    }
    store_value nine[9] = {STORE_V_NULL};
    assert_int_equal(store_defer(c, insert, nine, 9, &err), SOCLE_EINVAL);
    assert_int_equal(store_defer(c, NULL, NULL, 0, &err), SOCLE_EINVAL);
    assert_int_equal(store_defer(NULL, insert, NULL, 0, &err), SOCLE_EINVAL);
    store_release(t->s, c);
    store_defer_flush(t->s);
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_int_equal(count_rows(t, c), 101);
    char sql[128];
    int64_t n = -1;
    sqlf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE name = 'd77' AND id = 77", t);
    assert_int_equal(store_query_int(c, sql, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 1);
    sqlf(sql, sizeof sql, "SELECT id FROM %s WHERE name = 'd50'", t);
    assert_int_equal(store_query_int(c, sql, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 50);
    store_release(t->s, c);
}

static void test_migrations(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    socle_err err = {0};
    char a[128], b[128], c3[128], bad[128];
    snprintf(a, sizeof a, "CREATE TABLE %s_a (x INTEGER); INSERT INTO %s_a VALUES (1)", t->owner, t->owner);
    snprintf(b, sizeof b, "CREATE TABLE %s_b (y TEXT)", t->owner);
    snprintf(c3, sizeof c3, "INSERT INTO %s_a VALUES (3)", t->owner);
    snprintf(bad, sizeof bad, "CREATE TABLE %s_c (z INTEGER); INSERT INTO nowhere VALUES (1)", t->owner);
    store_migration steps[4] = {
        {1, "first", a, NULL, NULL},
        {2, "second", NULL, b, b},
        {3, "third", c3, NULL, NULL},
        {4, "broken", bad, NULL, NULL},
    };
    assert_int_equal(store_migrate(t->s, t->owner, steps, 2, &err), 0);
    assert_int_equal(store_migrate(t->s, t->owner, steps, 2, &err), 0); /* no-op */
    store_conn *c;
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    char sql[160];
    int64_t n = 0;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s_a", t->owner);
    assert_int_equal(store_query_int(c, sql, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 1); /* step 1 ran once */
    store_value o = STORE_V_TEXT(t->owner);
    assert_int_equal(
        store_query_int(c, "SELECT COUNT(*) FROM store_schema WHERE owner = $1", &o, 1, &n, &err), 0);
    assert_int_equal(n, 2);
    store_rows *r;
    assert_int_equal(
        store_query(c, "SELECT version, name, applied_at FROM store_schema WHERE owner = $1 ORDER BY version",
                    &o, 1, &r, &err),
        0);
    assert_int_equal(store_rows_next(r, &err), 1);
    assert_int_equal(store_rows_int(r, 0), 1);
    assert_string_equal(store_rows_text(r, 1, NULL), "first");
    assert_true(strlen(store_rows_text(r, 2, NULL)) >= 20);
    assert_int_equal(store_rows_next(r, &err), 1);
    assert_int_equal(store_rows_int(r, 0), 2);
    assert_int_equal(store_rows_next(r, &err), 0);
    store_rows_free(r);
    store_release(t->s, c);

    /* A later program adds step 3: only it runs. A broken step 4 fails, names itself, and leaves
     * nothing behind (its DDL is rolled back with it). */
    assert_int_equal(store_migrate(t->s, t->owner, steps, 3, &err), 0);
    err = (socle_err){0};
    assert_true(store_migrate(t->s, t->owner, steps, 4, &err) < 0);
    assert_non_null(strstr(err.msg, "broken"));
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s_a", t->owner);
    assert_int_equal(store_query_int(c, sql, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(
        store_query_int(c, "SELECT MAX(version) FROM store_schema WHERE owner = $1", &o, 1, &n, &err), 0);
    assert_int_equal(n, 3);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s_c", t->owner);
    assert_true(store_query_int(c, sql, NULL, 0, &n, &err) < 0);
    store_release(t->s, c);

    /* Malformed step lists are refused before touching the database. */
    store_migration unordered[2] = {{2, "x", "SELECT 1", NULL, NULL}, {1, "y", "SELECT 1", NULL, NULL}};
    assert_true(store_migrate(t->s, t->owner, unordered, 2, &err) < 0);
    store_migration nosql[1] = {{5, "x", NULL, NULL, NULL}};
    assert_true(store_migrate(t->s, t->owner, nosql, 1, &err) < 0);
    assert_true(store_migrate(t->s, "", steps, 1, &err) < 0);
}

/* Several processes migrating the same owner at once: each step still runs exactly once. */
static void test_migrations_concurrent(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    char a[128], b[128];
    snprintf(a, sizeof a, "CREATE TABLE %s_a (x INTEGER); INSERT INTO %s_a VALUES (1)", t->owner, t->owner);
    snprintf(b, sizeof b, "INSERT INTO %s_a VALUES (2)", t->owner);
    store_migration steps[2] = {{1, "create", a, NULL, NULL}, {2, "fill", b, NULL, NULL}};
    char url[200];
    if (t->engine == STORE_SQLITE)
        snprintf(url, sizeof url, "sqlite:%s/sub/dir/t.db", t->dir);
    else
        snprintf(url, sizeof url, "%s", getenv("SOCLE_TEST_PG_URL"));
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            store *s;
            socle_err err = {0};
            store_options o = {.url = url, .pool_size = 1};
            int rc = store_open(&o, &s, &err);
            if (!rc) rc = store_migrate(s, t->owner, steps, 2, &err);
            if (rc) fprintf(stderr, "child: %s\n", err.msg);
            store_close(s);
            _exit(rc ? 1 : 0);
        }
    }
    for (int i = 0; i < 4; i++) {
        int status = -1;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    char sql[128];
    int64_t n = 0;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s_a", t->owner);
    assert_int_equal(store_query_int(c, sql, NULL, 0, &n, &err), 0);
    assert_int_equal(n, 2);
    store_release(t->s, c);
}

typedef struct worker {
    tctx *t;
    int base;
    int failures;
} worker;

static void *worker_run(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 50; i++) {
        store_conn *c;
        socle_err err = {0};
        if (store_acquire(w->t->s, &c, &err)) {
            w->failures++;
            continue;
        }
        char name[32];
        snprintf(name, sizeof name, "w%d", w->base + i);
        int rc = insert_row(w->t, c, w->base + i, name, &err);
        if (!rc && (i % 5) == 0) { /* some in explicit transactions */
            rc = store_tx_begin(c, &err);
            if (!rc) rc = insert_row(w->t, c, 100000 + w->base + i, NULL, &err);
            if (!rc) rc = store_tx_commit(c, &err);
        }
        if (rc) {
            fprintf(stderr, "worker: %s\n", err.msg);
            w->failures++;
        }
        store_release(w->t->s, c);
    }
    return NULL;
}

static void test_threads(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){t, i * 1000, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_int_equal(count_rows(t, c), 4 * 50 + 4 * 10);
    store_release(t->s, c);
}

static void test_nested_queries(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(insert_row(t, c, i, NULL, &err), 0);
    char sql[128];
    sqlf(sql, sizeof sql, "SELECT id FROM %s WHERE id > $1 ORDER BY id", t);
    store_value zero = STORE_V_INT(0);
    store_rows *outer, *inner;
    assert_int_equal(store_query(c, sql, &zero, 1, &outer, &err), 0);
    int seen = 0;
    while (store_rows_next(outer, &err) == 1) {
        int64_t id = store_rows_int(outer, 0);
        assert_int_equal(id, ++seen);
        /* The same SQL while the outer one iterates, and a write to the same table. */
        store_value after = STORE_V_INT(id);
        assert_int_equal(store_query(c, sql, &after, 1, &inner, &err), 0);
        int n = 0;
        while (store_rows_next(inner, &err) == 1)
            n++;
        assert_int_equal(n, 3 - id);
        store_rows_free(inner);
        char upd[128];
        sqlf(upd, sizeof upd, "UPDATE %s SET n = n WHERE id = $1", t);
        assert_int_equal(store_exec(c, upd, &after, 1, NULL, &err), 0);
        assert_int_equal(store_rows_int(outer, 0), id);
    }
    assert_int_equal(seen, 3);
    store_rows_free(outer);

    /* Many distinct statements (past the cache size) while a cached one is being iterated. */
    assert_int_equal(store_query(c, sql, &zero, 1, &outer, &err), 0);
    assert_int_equal(store_rows_next(outer, &err), 1);
    for (int i = 0; i < 600; i++) {
        char q[64];
        snprintf(q, sizeof q, "SELECT %d + $1", i);
        int64_t v = 0;
        store_value one = STORE_V_INT(1);
        assert_int_equal(store_query_int(c, q, &one, 1, &v, &err), 0);
        assert_int_equal(v, i + 1);
    }
    assert_int_equal(store_rows_int(outer, 0), 1);
    assert_int_equal(store_rows_next(outer, &err), 1);
    assert_int_equal(store_rows_int(outer, 0), 2);
    store_rows_free(outer);
    /* The statement is still usable (and cached) afterwards. */
    assert_int_equal(store_query(c, sql, &zero, 1, &outer, &err), 0);
    assert_int_equal(store_rows_next(outer, &err), 1);
    store_rows_free(outer);
    store_release(t->s, c);
}

/* A cached "SELECT *" survives the table gaining a column (PostgreSQL refuses the old plan). */
static void test_schema_change(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    store_conn *c;
    socle_err err = {0};
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_int_equal(insert_row(t, c, 1, "x", &err), 0);
    char sql[128], alter[128];
    sqlf(sql, sizeof sql, "SELECT * FROM %s WHERE id = $1", t);
    sqlf(alter, sizeof alter, "ALTER TABLE %s ADD COLUMN extra INTEGER", t);
    store_value id = STORE_V_INT(1);
    store_rows *r;
    assert_int_equal(store_query(c, sql, &id, 1, &r, &err), 0);
    assert_int_equal(store_rows_columns(r), 4);
    store_rows_free(r);
    assert_int_equal(store_exec_script(c, alter, &err), 0);
    assert_int_equal(store_query(c, sql, &id, 1, &r, &err), 0);
    assert_int_equal(store_rows_columns(r), 5);
    assert_int_equal(store_rows_next(r, &err), 1);
    assert_true(store_rows_isnull(r, 4));
    store_rows_free(r);
    store_release(t->s, c);
}

static void test_ping_describe(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    socle_err err = {0};
    assert_int_equal(store_ping(t->s, &err), 0);
    assert_int_equal(store_engine_of(t->s), t->engine);
    const char *d = store_describe(t->s);
    if (t->engine == STORE_SQLITE) {
        assert_true(!strncmp(d, "sqlite:", 7));
        assert_non_null(strstr(d, "/sub/dir/t.db"));
        char path[128];
        snprintf(path, sizeof path, "%s/sub/dir/t.db", t->dir);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
    } else {
        assert_true(!strncmp(d, "postgres://", 11));
    }
}

/* PostgreSQL: a connection killed by the server is reconnected at the next acquire. */
static void test_pg_reconnect(void **state)
{
    tctx *t = *state;
    NEED_STORE(t);
    if (t->engine != STORE_POSTGRES) skip();
    socle_err err = {0};
    store_conn *a, *b;
    assert_int_equal(store_acquire(t->s, &a, &err), 0);
    assert_int_equal(store_acquire(t->s, &b, &err), 0);
    int64_t pid = 0, ok = 0;
    assert_int_equal(store_query_int(a, "SELECT pg_backend_pid()", NULL, 0, &pid, &err), 0);
    store_value v = STORE_V_INT(pid);
    assert_int_equal(store_query_int(b, "SELECT pg_terminate_backend($1::int)", &v, 1, &ok, &err), 0);
    assert_int_equal(ok, 1);
    store_release(t->s, b);
    usleep(100000);
    assert_true(store_query_int(a, "SELECT pg_backend_pid()", NULL, 0, &pid, &err) < 0);
    store_release(t->s, a);
    store_conn *c;
    assert_int_equal(store_acquire(t->s, &c, &err), 0);
    assert_ptr_equal(c, a); /* the pool is a stack: the broken one comes back first */
    int64_t pid2 = 0;
    assert_int_equal(store_query_int(c, "SELECT pg_backend_pid()", NULL, 0, &pid2, &err), 0);
    assert_true(pid2 != pid);
    assert_int_equal(count_rows(t, c), 0);
    store_release(t->s, c);
}

static void test_open_errors(void **state)
{
    socle_err err = {0};
    store *s = (store *)&err;
    store_options o = {.url = "mysql://x"};
    assert_int_equal(store_open(&o, &s, &err), SOCLE_EINVAL);
    assert_null(s);
    o.url = "sqlite:";
    assert_int_equal(store_open(&o, &s, &err), SOCLE_EINVAL);
    o.url = "";
    assert_int_equal(store_open(&o, &s, &err), SOCLE_EINVAL);
    assert_int_equal(store_open(NULL, &s, &err), SOCLE_EINVAL);
    o.url = "sqlite:/tmp/x.db";
    o.sqlite_synchronous = "SOMETIMES";
    assert_int_equal(store_open(&o, &s, &err), SOCLE_EINVAL);
    o.sqlite_synchronous = NULL;
    o.pool_size = -1;
    assert_int_equal(store_open(&o, &s, &err), SOCLE_EINVAL);
    o.pool_size = 0;
    o.url = "sqlite:/proc/socle-no/such/dir/x.db";
    assert_true(store_open(&o, &s, &err) < 0);
    /* A refused PostgreSQL connection: the password never shows. */
    o.url = "postgres://someone:secretpw@127.0.0.1:1/db?connect_timeout=2";
    assert_int_equal(store_open(&o, &s, &err), SOCLE_ESTORE);
    assert_null(strstr(err.msg, "secretpw"));
    assert_non_null(strstr(err.msg, "postgres://someone@127.0.0.1:1/db"));
    o.url = "postgres:host=127.0.0.1 port=1 user=u password=secretpw connect_timeout=2";
    assert_int_equal(store_open(&o, &s, &err), SOCLE_ESTORE);
    assert_null(strstr(err.msg, "secretpw"));
    o.url = "postgres://u:secretpw@[::1";
    assert_int_equal(store_open(&o, &s, &err), SOCLE_EINVAL);
    assert_null(strstr(err.msg, "secretpw"));
    store_close(NULL);
}

static void test_sqlite_memory_and_sync(void **state)
{
    socle_err err = {0};
    store *s;
    store_options o = {.url = "sqlite::memory:", .pool_size = 8, .sqlite_synchronous = "normal"};
    assert_int_equal(store_open(&o, &s, &err), 0);
    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_exec_script(c, "CREATE TABLE m (x INTEGER)", &err), 0);
    int64_t sync = -1;
    assert_int_equal(store_query_int(c, "PRAGMA synchronous", NULL, 0, &sync, &err), 0);
    assert_int_equal(sync, 1); /* NORMAL */
    int64_t fk = -1;
    assert_int_equal(store_query_int(c, "PRAGMA foreign_keys", NULL, 0, &fk, &err), 0);
    assert_int_equal(fk, 1);
    /* SQLite keeps no memory statistics (their mutex is taken by every allocation). */
    assert_int_equal(sqlite3_memory_used(), 0);
    store_release(s, c);
    store_close(s);
}

/* A VFS that watches the default one: it counts the syncs of WAL files and the page reads of the
 * database and WAL files (the methods of both kinds of file wrapped). */
static sqlite3_vfs watching_vfs;
static sqlite3_io_methods watched_wal, watched_db;
static const sqlite3_io_methods *real_wal, *real_db; /* SQLite opens WAL files without locks: other methods */
static int wal_syncs, page_reads;

static int watched_sync(sqlite3_file *f, int flags)
{
    __atomic_add_fetch(&wal_syncs, 1, __ATOMIC_SEQ_CST);
    return real_wal->xSync(f, flags);
}

static int watched_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 at)
{
    if (n >= 512) __atomic_add_fetch(&page_reads, 1, __ATOMIC_SEQ_CST); /* pages, not headers */
    return (f->pMethods == &watched_wal ? real_wal : real_db)->xRead(f, buf, n, at);
}

static int watching_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out)
{
    sqlite3_vfs *real = vfs->pAppData;
    int rc = real->xOpen(real, name, f, flags, out);
    if (rc != SQLITE_OK || !f->pMethods || !(flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB))) return rc;
    int wal = (flags & SQLITE_OPEN_WAL) != 0;
    const sqlite3_io_methods **realm = wal ? &real_wal : &real_db;
    sqlite3_io_methods *watched = wal ? &watched_wal : &watched_db;
    if (!*realm) {
        *realm = f->pMethods;
        *watched = *f->pMethods;
        watched->xRead = watched_read;
        if (wal) watched->xSync = watched_sync;
    }
    if (f->pMethods == *realm) f->pMethods = watched;
    return rc;
}

/* A store on a new database in a new directory (dir: "/tmp/socle-NAME-XXXXXX" to fill), its files
 * opened through the watching VFS (the default VFS until the caller unregisters it). */
static store *open_watched(char dir[64], store_options *o)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    watching_vfs = *real;
    watching_vfs.zName = "socle-test-watching";
    watching_vfs.pAppData = real;
    watching_vfs.xOpen = watching_open;
    assert_int_equal(sqlite3_vfs_register(&watching_vfs, 1), SQLITE_OK);
    socle_err err = {0};
    static char url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/watched.db", dir);
    o->url = url;
    store *s;
    assert_int_equal(store_open(o, &s, &err), 0);
    return s;
}

/* Close a store of open_watched, stop watching and remove its directory. */
static void close_watched(store *s, const char *dir)
{
    store_close(s);
    sqlite3_vfs_unregister(&watching_vfs);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The single integer a query answers. */
static int64_t query_int(store_conn *c, const char *sql, const store_value *params, int nparams)
{
    socle_err err = {0};
    int64_t n = -1;
    assert_int_equal(store_query_int(c, sql, params, nparams, &n, &err), 0);
    return n;
}

static int64_t sync_level(store_conn *c)
{
    return query_int(c, "PRAGMA synchronous", NULL, 0);
}

/* synchronous=FULL: every committed write transaction syncs the WAL before store_tx_commit
 * returns (after the writer's turn, sq_tx_commit), a relaxed one does not, and the connection is
 * back at FULL after each (a statement outside a transaction commits with FULL's own sync), also
 * after a transaction SQLite rolled back by itself. */
static void test_sqlite_durable_commit(void **state)
{
    socle_err err = {0};
    char dir[64] = "/tmp/socle-durable-XXXXXX";
    store_options o = {.sqlite_synchronous = "FULL"};
    store *s = open_watched(dir, &o);
    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_exec_script(c, "CREATE TABLE d (x INTEGER)", &err), 0);
    assert_int_equal(sync_level(c), 2);

    int before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(store_exec(c, "INSERT INTO d VALUES (1)", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_tx_commit(c, &err), 0);
    assert_true(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST) > before);
    assert_int_equal(sync_level(c), 2);

    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(store_exec(c, "INSERT INTO d VALUES (2)", NULL, 0, NULL, &err), 0);
    store_tx_rollback(c);
    assert_int_equal(sync_level(c), 2);

    before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    assert_int_equal(store_tx_begin_relaxed(c, &err), 0);
    assert_int_equal(store_exec(c, "INSERT INTO d VALUES (3)", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_tx_commit(c, &err), 0);
    assert_int_equal(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST), before);
    assert_int_equal(sync_level(c), 2);

    before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    assert_int_equal(store_exec(c, "INSERT INTO d VALUES (4)", NULL, 0, NULL, &err), 0);
    assert_true(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST) > before);
    int64_t n = 0;
    assert_int_equal(store_query_int(c, "SELECT COUNT(*) FROM d", NULL, 0, &n, &err), 0);
    assert_int_equal(n, 3);
    /* While rows opened in a transaction keep the writer's turn past its commit, a statement
     * outside a transaction still commits durably. */
    store_rows *open;
    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(store_query(c, "SELECT x FROM d", NULL, 0, &open, &err), 0);
    assert_int_equal(store_tx_commit(c, &err), 0);
    before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    assert_int_equal(store_exec(c, "DELETE FROM d WHERE x = 4", NULL, 0, NULL, &err), 0);
    assert_true(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST) > before);
    store_rows_free(open);

    /* A full disk: SQLite rolls the transaction back by itself. store_tx_rollback still gives the
     * writer's turn back (another connection writes) and the level is FULL again. The limit is
     * set inside the transaction: on the writer handle, where writes run. */
    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(store_exec_script(c, "PRAGMA max_page_count = 8", &err), 0);
    assert_int_not_equal(store_exec(c, "INSERT INTO d VALUES (zeroblob(200000))", NULL, 0, NULL, &err), 0);
    store_tx_rollback(c);
    assert_int_equal(sync_level(c), 2);
    store_conn *other;
    assert_int_equal(store_acquire(s, &other, &err), 0);
    assert_int_equal(store_tx_begin(other, &err), 0);
    assert_int_equal(store_exec(other, "INSERT INTO d VALUES (5)", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_tx_commit(other, &err), 0);
    store_release(s, other);
    store_release(s, c);
    close_watched(s, dir);
}

/* Writes run on the store's one writer handle: two pool connections taking turns to write read no
 * page again (each connection's own handle would have emptied its cache at every turn, the other
 * having committed). store_rows still open when their transaction ends keep the writer's turn
 * until they are freed; the connection may write again meanwhile. */
static void test_sqlite_writer(void **state)
{
    socle_err err = {0};
    char dir[64] = "/tmp/socle-writer-XXXXXX";
    store_options o = {.busy_timeout_ms = 200};
    store *s = open_watched(dir, &o);
    store_conn *a, *b;
    assert_int_equal(store_acquire(s, &a, &err), 0);
    assert_int_equal(store_acquire(s, &b, &err), 0);
    assert_int_equal(store_tx_begin(a, &err), 0);
    assert_int_equal(store_exec_script(a, "CREATE TABLE w (k TEXT PRIMARY KEY, v TEXT);"
                                          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
                                          " INSERT INTO w SELECT printf('key-%08d', i), hex(randomblob(40)) FROM n", &err), 0);
    assert_int_equal(store_tx_commit(a, &err), 0);
    int before = __atomic_load_n(&page_reads, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 200; i++) {
        store_conn *c = i % 2 ? a : b;
        char key[32];
        snprintf(key, sizeof key, "key-%08d", i * 97 % 20000 + 1);
        store_value p[1] = {STORE_V_TEXT(key)};
        assert_int_equal(store_tx_begin(c, &err), 0);
        assert_int_equal(store_exec(c, "UPDATE w SET v = v || 'x' WHERE k = $1", p, 1, NULL, &err), 0);
        assert_int_equal(store_tx_commit(c, &err), 0);
    }
    assert_int_equal(__atomic_load_n(&page_reads, __ATOMIC_SEQ_CST), before);
    store_conn *cold; /* the count does see reads: a connection that has not read the table yet */
    int64_t rows = 0;
    assert_int_equal(store_acquire(s, &cold, &err), 0);
    assert_int_equal(store_query_int(cold, "SELECT COUNT(*) FROM w", NULL, 0, &rows, &err), 0);
    assert_int_equal(rows, 20000);
    assert_true(__atomic_load_n(&page_reads, __ATOMIC_SEQ_CST) > before);
    store_release(s, cold);

    /* rows open past the commit */
    store_rows *r;
    assert_int_equal(store_tx_begin(a, &err), 0);
    assert_int_equal(store_exec(a, "INSERT INTO w VALUES ('open', '1')", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_query(a, "SELECT k FROM w ORDER BY k LIMIT 3", NULL, 0, &r, &err), 0);
    assert_int_equal(store_rows_next(r, &err), 1);
    assert_int_equal(store_tx_commit(a, &err), 0);
    assert_int_equal(store_tx_begin(b, &err), SOCLE_EBUSY); /* the turn is still a's */
    assert_int_equal(store_exec(a, "INSERT INTO w VALUES ('after', '1')", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_tx_begin(a, &err), 0);
    assert_int_equal(store_exec(a, "INSERT INTO w VALUES ('again', '1')", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_tx_commit(a, &err), 0);
    assert_int_equal(store_rows_next(r, &err), 1);
    store_rows_free(r);
    assert_int_equal(store_tx_begin(b, &err), 0);
    int64_t n = 0;
    assert_int_equal(store_query_int(b, "SELECT COUNT(*) FROM w WHERE v = '1'", NULL, 0, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(store_tx_commit(b, &err), 0);
    /* Rows never freed (a caller's bug, logged) do not keep the turn past the connection's release. */
    assert_int_equal(store_tx_begin(a, &err), 0);
    assert_int_equal(store_query(a, "SELECT k FROM w ORDER BY k LIMIT 3", NULL, 0, &r, &err), 0);
    assert_int_equal(store_tx_commit(a, &err), 0);
    store_release(s, a);
    assert_int_equal(store_rows_next(r, &err), 0); /* detached: no more rows, no crash */
    assert_int_equal(store_tx_begin(b, &err), 0);
    assert_int_equal(store_exec(b, "INSERT INTO w VALUES ('released', '1')", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_tx_commit(b, &err), 0);
    assert_int_equal(store_acquire(s, &a, &err), 0);
    store_release(s, a);
    store_release(s, b);
    close_watched(s, dir);
}

/* Group commit: a transaction that commits while another writer waits for the turn leaves its work
 * to the group and returns once the group's commit is on disk. */
typedef struct group_writer {
    store_conn *c;
    int64_t value;
    const char *end; /* "commit", "rollback", "rows" (a rollback with rows still open) or "fill" (a full
                      * disk: SQLite loses the whole transaction) */
    int rc;
    int in_tx_after; /* "rows": store_in_tx once rolled back */
} group_writer;

static void *group_writer_run(void *arg)
{
    group_writer *g = arg;
    socle_err err = {0};
    store_value v[1] = {STORE_V_INT(g->value)};
    g->rc = store_tx_begin(g->c, &err); /* waits for the turn */
    if (!g->rc) g->rc = store_exec(g->c, "INSERT INTO g VALUES ($1)", v, 1, NULL, &err);
    if (!g->rc && !strcmp(g->end, "fill")) {
        assert_int_equal(store_exec_script(g->c, "PRAGMA max_page_count = 8", &err), 0);
        g->rc = store_exec(g->c, "INSERT INTO g VALUES (zeroblob(200000))", NULL, 0, NULL, &err);
        assert_int_not_equal(g->rc, 0);
        assert_int_equal(store_exec_script(g->c, "PRAGMA max_page_count = 1073741823", &err), 0);
    }
    if (!g->rc && !strcmp(g->end, "rows")) {
        store_rows *r;
        assert_int_equal(store_query(g->c, "SELECT x FROM g", NULL, 0, &r, &err), 0);
        store_tx_rollback(g->c);
        g->in_tx_after = store_in_tx(g->c);
        store_rows_free(r);
        return NULL;
    }
    if (!g->rc && !strcmp(g->end, "commit")) g->rc = store_tx_commit(g->c, &err);
    if (g->rc || strcmp(g->end, "commit")) store_tx_rollback(g->c);
    return NULL;
}

/* a's transaction inserts `first` (and fills the disk if a_fills) and commits while b waits for the
 * turn, then b's ends as b->end says; returns a's commit's result. */
static int group_of_two(store *s, store_conn *a, int64_t first, int a_fills, group_writer *b)
{
    socle_err err = {0};
    store_value v[1] = {STORE_V_INT(first)};
    assert_int_equal(store_tx_begin(a, &err), 0);
    assert_int_equal(store_exec(a, "INSERT INTO g VALUES ($1)", v, 1, NULL, &err), 0);
    if (a_fills) {
        assert_int_equal(store_exec_script(a, "PRAGMA max_page_count = 8", &err), 0);
        assert_int_not_equal(store_exec(a, "INSERT INTO g VALUES (zeroblob(200000))", NULL, 0, NULL, &err), 0);
        assert_int_equal(store_exec_script(a, "PRAGMA max_page_count = 1073741823", &err), 0);
    }
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, group_writer_run, b), 0);
    while (atomic_load(&s->write_waiters) == 0) /* b is waiting for the turn */
        usleep(1000);
    int rc = store_tx_commit(a, &err);
    pthread_join(th, NULL);
    return rc;
}

static int64_t group_count(store_conn *c, int64_t value)
{
    store_value v[1] = {STORE_V_INT(value)};
    return query_int(c, "SELECT COUNT(*) FROM g WHERE x = $1", v, 1);
}

static void test_sqlite_group_commit(void **state)
{
    socle_err err = {0};
    char dir[64] = "/tmp/socle-group-XXXXXX";
    store_options o = {.sqlite_synchronous = "FULL"};
    store *s = open_watched(dir, &o);
    store_conn *a, *b, *reader;
    assert_int_equal(store_acquire(s, &a, &err), 0);
    assert_int_equal(store_acquire(s, &b, &err), 0);
    assert_int_equal(store_acquire(s, &reader, &err), 0);
    assert_int_equal(store_exec_script(a, "CREATE TABLE g (x)", &err), 0);

    /* both commit: one commit, one sync of the WAL, done before a's commit returns */
    int before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    group_writer gb = {b, 2, "commit", -1, -1};
    assert_int_equal(group_of_two(s, a, 1, 0, &gb), 0);
    assert_int_equal(gb.rc, 0);
    assert_int_equal(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST), before + 1);
    assert_int_equal(group_count(reader, 1), 1);
    assert_int_equal(group_count(reader, 2), 1);

    /* the later one rolls back: only its own work goes, a's is committed and synced */
    before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    gb = (group_writer){b, 4, "rollback", -1, -1};
    assert_int_equal(group_of_two(s, a, 3, 0, &gb), 0);
    assert_int_equal(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST), before + 1);
    assert_int_equal(group_count(reader, 3), 1);
    assert_int_equal(group_count(reader, 4), 0);

    /* the later one fills the disk and SQLite rolls back the whole transaction, a's work with it:
     * a's commit fails instead of answering a commit that is not there */
    gb = (group_writer){b, 6, "fill", -1, -1};
    assert_int_not_equal(group_of_two(s, a, 5, 0, &gb), 0);
    assert_int_equal(group_count(reader, 5), 0);
    assert_int_equal(group_count(reader, 6), 0);

    /* a's own transaction was lost (SQLite rolled it back) and a commits anyway: a fails and leaves
     * no group behind; b, next, commits durably on its own */
    gb = (group_writer){b, 9, "commit", -1, -1};
    before = __atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST);
    assert_int_not_equal(group_of_two(s, a, 8, 1, &gb), 0);
    assert_int_equal(gb.rc, 0);
    assert_true(__atomic_load_n(&wal_syncs, __ATOMIC_SEQ_CST) > before);
    assert_int_equal(group_count(reader, 8), 0);
    assert_int_equal(group_count(reader, 9), 1);

    /* b rolls back with rows still open: it is no longer in a transaction, and a's commit does not
     * wait for those rows */
    gb = (group_writer){b, 11, "rows", -1, -1};
    assert_int_equal(group_of_two(s, a, 10, 0, &gb), 0);
    assert_int_equal(gb.in_tx_after, 0);
    assert_int_equal(group_count(reader, 10), 1);
    assert_int_equal(group_count(reader, 11), 0);

    /* and the writer is usable again */
    assert_int_equal(store_tx_begin(b, &err), 0);
    assert_int_equal(store_exec(b, "INSERT INTO g VALUES (7)", NULL, 0, NULL, &err), 0);
    assert_int_equal(store_tx_commit(b, &err), 0);
    assert_int_equal(group_count(reader, 7), 1);
    store_release(s, reader);
    store_release(s, b);
    store_release(s, a);
    close_watched(s, dir);
}

/* sqlite_page_size applies to a database created now, an existing one keeps its own. */
static void test_sqlite_page_size(void **state)
{
    socle_err err = {0};
    char dir[64] = "/tmp/socle-pages-XXXXXX", url[128];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/p.db", dir);
    store *s;
    store_options o = {.url = url, .sqlite_page_size = 16384};
    assert_int_equal(store_open(&o, &s, &err), 0);
    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_exec_script(c, "CREATE TABLE p (x TEXT)", &err), 0);
    int64_t page = 0;
    assert_int_equal(store_query_int(c, "PRAGMA page_size", NULL, 0, &page, &err), 0);
    assert_int_equal(page, 16384);
    store_release(s, c);
    store_close(s);
    o.sqlite_page_size = 4096; /* reopened with another setting: the file's size stays */
    assert_int_equal(store_open(&o, &s, &err), 0);
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_query_int(c, "PRAGMA page_size", NULL, 0, &page, &err), 0);
    assert_int_equal(page, 16384);
    store_release(s, c);
    store_close(s);
    for (int bad = 0; bad < 3; bad++) {
        o.sqlite_page_size = bad == 0 ? 3000 : bad == 1 ? 256 : 131072;
        assert_int_equal(store_open(&o, &s, &err), SOCLE_EINVAL);
        assert_non_null(strstr(err.msg, "sqlite_page_size"));
    }
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* WAL checkpoints run on the store's checkpointer thread (sqlite_checkpoint.c): commits never copy
 * the WAL back themselves, yet the pages must reach the database file, and what was committed
 * must read back after the store closed and reopened. 80 MB of blobs (20,000 WAL pages of 4 KB, past
 * the checkpointer's 16,000) in separate transactions: without checkpoints the database file would
 * stay a few pages long. */
/* A new SQLite store, file `name` in a new directory made from dir ("/tmp/...-XXXXXX", filled in),
 * with a table b (id, data BLOB); o->url is set to url, which must outlive the store. */
static store_conn *open_blob_store(char *dir, const char *name, store_options *o, char url[128], store **s)
{
    socle_err err = {0};
    assert_non_null(mkdtemp(dir));
    snprintf(url, 128, "sqlite:%s/%s", dir, name);
    o->url = url;
    assert_int_equal(store_open(o, s, &err), 0);
    store_conn *c;
    assert_int_equal(store_acquire(*s, &c, &err), 0);
    assert_int_equal(store_exec_script(c, "CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB)", &err), 0);
    return c;
}

static void remove_dir(const char *dir)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_sqlite_checkpoints(void **state)
{
    socle_err err = {0};
    char dir[64] = "/tmp/socle-ckpt-XXXXXX", url[128], db[128];
    store *s;
    store_options o = {.pool_size = 2};
    store_conn *c = open_blob_store(dir, "c.db", &o, url, &s);
    snprintf(db, sizeof db, "%s/c.db", dir);
    enum { BLOBS = 200, BLOB_BYTES = 400 * 1024 };
    char *blob = malloc(BLOB_BYTES);
    assert_non_null(blob);
    for (int i = 0; i < BLOBS; i++) {
        memset(blob, 'a' + i % 26, BLOB_BYTES);
        store_value p[] = {STORE_V_INT(i), STORE_V_BLOB(blob, BLOB_BYTES)};
        assert_int_equal(store_tx_begin(c, &err), 0);
        assert_int_equal(store_exec(c, "INSERT INTO b (id, data) VALUES ($1, $2)", p, 2, NULL, &err), 0);
        assert_int_equal(store_tx_commit(c, &err), 0);
    }
    /* The checkpointer works while we wait; the file grows as it copies (at most 60 s). */
    struct stat st = {0};
    for (int waited = 0; waited < 600; waited++) {
        assert_int_equal(stat(db, &st), 0);
        if (st.st_size >= (off_t)BLOBS * BLOB_BYTES) break;
        usleep(100 * 1000);
    }
    assert_true(st.st_size >= (off_t)BLOBS * BLOB_BYTES);
    store_release(s, c);
    store_close(s);
    assert_int_equal(store_open(&o, &s, &err), 0);
    assert_int_equal(store_acquire(s, &c, &err), 0);
    int64_t n = 0, bytes = 0;
    assert_int_equal(store_query_int(c, "SELECT count(*) FROM b", NULL, 0, &n, &err), 0);
    assert_int_equal(n, BLOBS);
    assert_int_equal(store_query_int(c, "SELECT sum(length(data)) FROM b", NULL, 0, &bytes, &err), 0);
    assert_int_equal(bytes, (int64_t)BLOBS * BLOB_BYTES);
    store_value last[] = {STORE_V_INT(BLOBS - 1)};
    int64_t first_byte = 0;
    assert_int_equal(store_query_int(c, "SELECT unicode(CAST(substr(data, 1, 1) AS TEXT)) FROM b WHERE id = $1",
                                     last, 1, &first_byte, &err),
                     0);
    assert_int_equal(first_byte, 'a' + (BLOBS - 1) % 26);
    store_release(s, c);
    store_close(s);
    free(blob);
    remove_dir(dir);
}

/* A writer that never pauses: the WAL still restarts and stays bounded (the committer checkpoints
 * itself past 32,000 frames, once per 8,000 more: with 512-byte pages, about 21 MB; without that,
 * 60 MB of commits made a 60 MB WAL). */
static void test_sqlite_wal_bounded(void **state)
{
    socle_err err = {0};
    char dir[64] = "/tmp/socle-wal-XXXXXX", url[128], wal[128];
    store *s;
    store_options o = {.pool_size = 2, .sqlite_synchronous = "OFF", .sqlite_page_size = 512};
    store_conn *c = open_blob_store(dir, "w.db", &o, url, &s);
    snprintf(wal, sizeof wal, "%s/w.db-wal", dir);
    enum { COMMITS = 120, BLOB_BYTES = 512 << 10 };
    char *blob = malloc(BLOB_BYTES);
    assert_non_null(blob);
    off_t largest = 0;
    for (int i = 0; i < COMMITS; i++) {
        memset(blob, 'a' + i % 26, BLOB_BYTES);
        store_value p[] = {STORE_V_INT(i % 50), STORE_V_BLOB(blob, BLOB_BYTES)};
        assert_int_equal(store_tx_begin(c, &err), 0);
        assert_int_equal(store_exec(c, "INSERT OR REPLACE INTO b (id, data) VALUES ($1, $2)", p, 2, NULL, &err), 0);
        assert_int_equal(store_tx_commit(c, &err), 0);
        struct stat st;
        assert_int_equal(stat(wal, &st), 0);
        if (st.st_size > largest) largest = st.st_size;
    }
    assert_true(largest < (off_t)40 << 20);
    store_release(s, c);
    store_close(s);
    free(blob);
    remove_dir(dir);
}

#define BOTH(fn)                                                                                             \
    cmocka_unit_test_setup_teardown(fn, setup_sqlite, teardown),                                             \
        cmocka_unit_test_setup_teardown(fn, setup_pg, teardown)

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        BOTH(test_roundtrip),
        BOTH(test_conflict_and_errors),
        BOTH(test_transactions),
        BOTH(test_relaxed_transactions),
        BOTH(test_deferred_writes),
        BOTH(test_migrations),
        BOTH(test_migrations_concurrent),
        BOTH(test_threads),
        BOTH(test_nested_queries),
        BOTH(test_schema_change),
        BOTH(test_ping_describe),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_sqlite_memory_and_sync),
        cmocka_unit_test(test_sqlite_page_size),
        cmocka_unit_test(test_sqlite_durable_commit),
        cmocka_unit_test(test_sqlite_writer),
        cmocka_unit_test(test_sqlite_group_commit),
        cmocka_unit_test(test_sqlite_checkpoints),
        cmocka_unit_test(test_sqlite_wal_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
