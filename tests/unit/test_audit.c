/* test_audit.c - unit tests of src/audit on SQLite: append (in a transaction and queued), verify an
 * intact chain, detect tampering (edit, delete, reorder, truncate, forged checkpoint), search (by
 * patient and agent across the index buckets), flushing the writer's queue with a time limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit.h"

static char dir[64];
static crypto_key *key;

/* A fresh SQLite store at DIR/<name>.db (no fsync: tests). */
static store *open_store(const char *name)
{
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s/%s.db", dir, name);
    store_options o = {.url = url, .sqlite_synchronous = "OFF"};
    store *s;
    socle_err err;
    assert_int_equal(store_open(&o, &s, &err), 0);
    return s;
}

/* A fresh trail with 25 entries (checkpoint every 10) in DIR/<name>.db. */
static store *make_trail(const char *name)
{
    store *s = open_store(name);
    socle_err err;
    audit_trail *t;
    assert_int_equal(audit_open(s, key, &(audit_options){.checkpoint_interval = 10, .queue_size = 4, .batch_ms = 5}, &t, &err), 0);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i % 3);
        audit_event e = {.action = "read", .outcome = "success", .agent_kind = "professional", .agent_id = "810001",
                         .patient_id = id, .address = "127.0.0.1"};
        assert_int_equal(audit_append(t, &e), 0); /* the queue holds 4: this also tests blocking */
    }
    audit_flush(t);
    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(store_tx_begin(c, &err), 0);
        audit_event e = {.action = "create", .outcome = "success", .agent_kind = "system", .agent_id = "sys",
                         .resource_type = "Patient", .resource_id = "p9", .patient_id = "p9"};
        assert_int_equal(audit_append_tx(t, c, &e, &err), 0);
        assert_int_equal(store_tx_commit(c, &err), 0);
    }
    store_release(s, c);
    audit_close(t);
    return s;
}

static int64_t broken_at(store *s)
{
    audit_verify_report r;
    socle_err err;
    assert_int_equal(audit_verify(s, key, &r, &err), 0);
    return r.first_bad_seq;
}

static void tamper(store *s, const char *sql)
{
    store_conn *c;
    socle_err err;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_exec_script(c, sql, &err), 0);
    store_release(s, c);
}

static void test_intact(void **state)
{
    store *s = make_trail("intact");
    audit_verify_report r;
    socle_err err;
    assert_int_equal(audit_verify(s, key, &r, &err), 0);
    assert_int_equal(r.first_bad_seq, 0);
    assert_int_equal(r.entries, 25);
    assert_true(r.checkpoints >= 2);
    store_close(s);
}

static void test_tampering_detected(void **state)
{
    store *s = make_trail("edit");
    tamper(s, "UPDATE audit_event SET agent_id = 'someone-else' WHERE seq = 7");
    assert_int_equal(broken_at(s), 7);
    store_close(s);

    s = make_trail("delete");
    tamper(s, "DELETE FROM audit_event WHERE seq = 12");
    assert_int_equal(broken_at(s), 12);
    store_close(s);

    s = make_trail("reorder");
    tamper(s, "UPDATE audit_event SET seq = -1 WHERE seq = 4; UPDATE audit_event SET seq = 4 WHERE seq = 5;"
              "UPDATE audit_event SET seq = 5 WHERE seq = -1;");
    assert_int_equal(broken_at(s), 4);
    store_close(s);

    /* Cut the tail and make the head agree: the signed final checkpoint still says 25. */
    s = make_trail("truncate");
    tamper(s, "DELETE FROM audit_event WHERE seq > 22;"
              "UPDATE audit_head SET seq = 22, hash = (SELECT hash FROM audit_event WHERE seq = 22);");
    assert_int_equal(broken_at(s), 23);
    store_close(s);

    s = make_trail("forge");
    tamper(s, "UPDATE audit_checkpoint SET signature = 'AAAA' WHERE seq = 10");
    assert_int_equal(broken_at(s), 10);
    store_close(s);
}

static void test_search_and_read(void **state)
{
    store *s = make_trail("search");
    socle_buf b = SOCLE_BUF_INIT;
    socle_err err;
    audit_query_param q[2] = {{"patient", "Patient/p9"}, {"_count", "3"}};
    assert_int_equal(audit_search(s, q, 2, 0, "http://h/fhir", &b, &err), 0);
    json_t *j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "entry")), 3);
    assert_non_null(strstr(b.data, "\"relation\":\"next\""));
    assert_non_null(strstr(b.data, "\"action\":\"C\""));
    json_decref(j);
    buf_reset(&b);
    audit_query_param bad[1] = {{"nosuch", "1"}};
    assert_int_equal(audit_search(s, bad, 1, 0, "http://h/fhir", &b, &err), SOCLE_EINVAL);
    assert_int_equal(audit_search(s, bad, 1, 1, "http://h/fhir", &b, &err), 0);
    buf_reset(&b);
    assert_int_equal(audit_read(s, "1", &b, &err), 0);
    assert_non_null(strstr(b.data, "\"resourceType\":\"AuditEvent\""));
    buf_reset(&b);
    assert_int_equal(audit_read(s, "999", &b, &err), SOCLE_ENOTFOUND);
    buf_free(&b);
    store_close(s);
}

/* The seqs of the entries of one search page, and the next page's cursor (0 when none). */
static int search_page(store *s, const char *name, const char *value, const char *count, const char *cursor,
                       int64_t seqs[8], int64_t *next)
{
    socle_buf b = SOCLE_BUF_INIT;
    socle_err err;
    audit_query_param q[3] = {{name, value}, {"_count", count}, {"_cursor", cursor}};
    assert_int_equal(audit_search(s, q, cursor ? 3 : 2, 0, "http://h/fhir", &b, &err), 0);
    json_t *j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    json_t *entries = json_object_get(j, "entry");
    int n = (int)json_array_size(entries);
    assert_true(n <= 8);
    for (int i = 0; i < n; i++)
        seqs[i] = atoll(json_string_value(json_object_get(json_object_get(json_array_get(entries, i), "resource"), "id")));
    const char *more = strstr(b.data, "_cursor=");
    *next = more ? atoll(more + 8) : 0;
    json_decref(j);
    buf_free(&b);
    return n;
}

/* A patient seen in three buckets of the trail (4,096 entries each), at their edges, and paged one
 * entry at a time from the newest; an agent too. */
static void test_search_across_buckets(void **state)
{
    store *s = open_store("buckets");
    socle_err err;
    audit_trail *t;
    assert_int_equal(audit_open(s, key, &(audit_options){.checkpoint_interval = 1000}, &t, &err), 0);
    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_tx_begin(c, &err), 0);
    for (int seq = 1; seq <= 3 * 4096 + 10; seq++) {
        int rare = seq == 4095 || seq == 4096 || seq == 3 * 4096 + 5;
        audit_event e = {.action = "read", .outcome = "success", .agent_kind = "professional",
                         .agent_id = seq == 7 ? "810007" : "810001", .patient_id = rare ? "rare" : "busy"};
        assert_int_equal(audit_append_tx(t, c, &e, &err), 0);
    }
    assert_int_equal(store_tx_commit(c, &err), 0);
    store_release(s, c);
    audit_close(t);

    int64_t seqs[8], next;
    assert_int_equal(search_page(s, "patient", "rare", "1", NULL, seqs, &next), 1);
    assert_int_equal(seqs[0], 3 * 4096 + 5);
    assert_int_equal(next, 3 * 4096 + 5);
    char cursor[24];
    snprintf(cursor, sizeof cursor, "%lld", (long long)next);
    assert_int_equal(search_page(s, "patient", "rare", "1", cursor, seqs, &next), 1);
    assert_int_equal(seqs[0], 4096);
    snprintf(cursor, sizeof cursor, "%lld", (long long)next);
    assert_int_equal(search_page(s, "patient", "rare", "1", cursor, seqs, &next), 1);
    assert_int_equal(seqs[0], 4095);
    assert_int_equal(next, 0); /* a next link only when a further entry exists */
    assert_int_equal(search_page(s, "patient", "rare", "1", "4095", seqs, &next), 0);

    assert_int_equal(search_page(s, "patient", "rare", "3", NULL, seqs, &next), 3);
    assert_int_equal(next, 0);
    assert_int_equal(seqs[0], 3 * 4096 + 5);
    assert_int_equal(seqs[2], 4095);
    assert_int_equal(search_page(s, "patient", "rare", "2", NULL, seqs, &next), 2);
    assert_int_equal(next, 4096);

    assert_int_equal(search_page(s, "agent", "810007", "5", NULL, seqs, &next), 1);
    assert_int_equal(seqs[0], 7);
    assert_int_equal(next, 0);
    assert_int_equal(search_page(s, "patient", "busy", "5", NULL, seqs, &next), 5);
    assert_int_equal(seqs[0], 3 * 4096 + 10);
    assert_int_equal(seqs[4], 3 * 4096 + 6);
    assert_int_equal(search_page(s, "patient", "nobody", "5", NULL, seqs, &next), 0);
    store_close(s);
}

/* Entries far apart (rows written directly: searches do not check the chain): the walk down
 * goes past its largest step of buckets; a cursor beyond the head starts at the head. */
static void test_search_far_buckets(void **state)
{
    store *s = open_store("far");
    socle_err err;
    audit_trail *t;
    assert_int_equal(audit_open(s, key, &(audit_options){0}, &t, &err), 0);
    audit_close(t);
    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    const char *h = "0000000000000000000000000000000000000000000000000000000000000000";
    char sql[512];
    const int64_t seqs[] = {3, 64 * 4096 + 1, 200 * 4096 + 7};
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO audit_event (seq, time_ms, action, outcome, agent_kind, agent_id, patient_id,"
                 " prev_hash, hash) VALUES (%lld, 1, 'read', 'success', 'professional', 'far-agent', 'far', '%s', '%s')",
                 (long long)seqs[i], h, h);
        assert_int_equal(store_exec_script(c, sql, &err), 0);
    }
    assert_int_equal(store_exec_script(c, "UPDATE audit_head SET seq = 819300 WHERE id = 1", &err), 0);
    store_release(s, c);

    int64_t got[8], next;
    assert_int_equal(search_page(s, "patient", "far", "5", NULL, got, &next), 3);
    assert_int_equal(got[0], 200 * 4096 + 7);
    assert_int_equal(got[1], 64 * 4096 + 1);
    assert_int_equal(got[2], 3);
    assert_int_equal(next, 0);
    assert_int_equal(search_page(s, "agent", "far-agent", "1", "9223372036854775807", got, &next), 1);
    assert_int_equal(got[0], 200 * 4096 + 7);
    assert_int_equal(next, 200 * 4096 + 7);
    char cursor[24];
    snprintf(cursor, sizeof cursor, "%lld", (long long)next);
    assert_int_equal(search_page(s, "patient", "far", "1", cursor, got, &next), 1);
    assert_int_equal(got[0], 64 * 4096 + 1);
    store_close(s);
}

/* audit_flush_within: commits what is queued and says so; gives up (-1) while another
 * connection's write transaction keeps the writer out, and the event is committed afterwards. */
static void test_flush_within(void **state)
{
    store *s = open_store("flush");
    socle_err err;
    audit_trail *t;
    assert_int_equal(audit_open(s, key, &(audit_options){.batch_ms = 1000}, &t, &err), 0);
    audit_event e = {.action = "read", .outcome = "success", .agent_kind = "professional", .agent_id = "810001",
                     .patient_id = "queued"};
    assert_int_equal(audit_append(t, &e), 0);
    assert_int_equal(audit_flush_within(t, 60000), 0);
    int64_t got[8], next;
    assert_int_equal(search_page(s, "patient", "queued", "5", NULL, got, &next), 1);

    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_tx_begin(c, &err), 0);
    assert_int_equal(store_exec_script(c, "UPDATE audit_head SET seq = seq WHERE id = 1", &err), 0);
    assert_int_equal(audit_append(t, &e), 0);
    assert_int_equal(audit_flush_within(t, 100), -1);
    assert_int_equal(store_tx_commit(c, &err), 0);
    store_release(s, c);
    assert_int_equal(audit_flush_within(t, 60000), 0);
    assert_int_equal(search_page(s, "patient", "queued", "5", NULL, got, &next), 2);
    audit_close(t);
    store_close(s);
}

static int64_t count_rows(store *s, const char *sql)
{
    store_conn *c;
    socle_err err;
    int64_t n = -1;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_query_int(c, sql, NULL, 0, &n, &err), 0);
    store_release(s, c);
    return n;
}

/* One batch of 100 events: the writer inserts them 32 per statement, then one by one; checkpoints
 * fall inside the multi-row statements. A row that makes the second statement fail leaves nothing
 * of the batch behind, and the batch goes in whole once that row is gone. */
static void test_large_batch(void **state)
{
    store *s = open_store("batch");
    socle_err err;
    audit_trail *t;
    assert_int_equal(audit_open(s, key, &(audit_options){.checkpoint_interval = 10, .batch_ms = 1000}, &t, &err), 0);
    store_conn *c;
    assert_int_equal(store_acquire(s, &c, &err), 0);
    assert_int_equal(store_exec_script(c,
                                       "INSERT INTO audit_event (seq, time_ms, prev_hash, hash)"
                                       " VALUES (40, 0, 'squatter', 'squatter')",
                                       &err),
                     0);
    store_release(s, c);
    char ids[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d", i + 1);
        audit_event e = {.action = "read", .outcome = "success", .agent_kind = "professional",
                         .agent_id = "810001", .patient_id = ids[i]};
        assert_int_equal(audit_append(t, &e), 0);
    }
    assert_int_equal(audit_flush_within(t, 300), -1);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM audit_event"), 1);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM audit_checkpoint"), 0);
    tamper(s, "DELETE FROM audit_event WHERE seq = 40");
    assert_int_equal(audit_flush_within(t, 60000), 0);
    audit_close(t);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM audit_event WHERE patient_id = 'b' || seq"), 100);
    audit_verify_report r;
    assert_int_equal(audit_verify(s, key, &r, &err), 0);
    assert_int_equal(r.first_bad_seq, 0);
    assert_int_equal(r.entries, 100);
    assert_int_equal(count_rows(s, "SELECT count(*) FROM audit_checkpoint WHERE seq % 10 = 0"), 10);
    store_close(s);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/socle-audit-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/keys/signing.pem", dir);
    socle_err err;
    return crypto_key_load_or_create(path, &key, &err);
}

static int teardown(void **state)
{
    crypto_key_free(key);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_intact), cmocka_unit_test(test_tampering_detected),
                                       cmocka_unit_test(test_search_and_read),
                                       cmocka_unit_test(test_search_across_buckets),
                                       cmocka_unit_test(test_search_far_buckets), cmocka_unit_test(test_flush_within),
                                       cmocka_unit_test(test_large_batch)};
    return cmocka_run_group_tests_name("audit", tests, setup, teardown);
}
