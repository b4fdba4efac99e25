/*
 * Every function of the edgeid C API and its error paths, single-threaded.
 * Usage: api_test SCRATCH_DIR   (SCRATCH_DIR must exist and be empty)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define DIM 128
#define MODEL "test-model"

static char store_dir[4096];
static char other_dir[4096];
/* EDGEID_TEST_ONE_THREAD=1: never start search threads (for qemu-user, where threads hang). */
static int one_thread_only;

/* Compile-time checks that this compiler lays the structs out as Rust does. */
typedef char check_options_v1[EDGEID_OPEN_OPTIONS_SIZE_V1 == 12 ? 1 : -1];
#if UINTPTR_MAX == 0xffffffffffffffffu
typedef char check_options_size[sizeof(edgeid_open_options) == 40 ? 1 : -1];
typedef char check_hit_size[sizeof(edgeid_hit) == 232 ? 1 : -1];
typedef char check_stats_size[sizeof(edgeid_stats) == 136 ? 1 : -1];
#endif

static edgeid_open_options one_thread(void) {
    edgeid_open_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    return o;
}

static void test_static_info(void) {
    char buf[64];
    unsigned code;
    CHECK(strcmp(edgeid_version(), EDGEID_VERSION_STRING) == 0);
    CHECK(edgeid_version_number() == EDGEID_VERSION_NUMBER);
    CHECK(edgeid_version_number() == EDGEID_VERSION_MAJOR * 10000 + EDGEID_VERSION_MINOR * 100 + EDGEID_VERSION_PATCH);
    CHECK(edgeid_abi_version() == EDGEID_ABI_VERSION);
    snprintf(buf, sizeof buf, "%d.%d.%d", EDGEID_VERSION_MAJOR, EDGEID_VERSION_MINOR,
             EDGEID_VERSION_PATCH);
    CHECK(strcmp(buf, EDGEID_VERSION_STRING) == 0);
    CHECK(strlen(edgeid_kernel_name()) > 0);
    CHECK(strcmp(edgeid_kernel_name(), edgeid_kernel_name()) == 0);
    CHECK(strncmp(edgeid_status_str(EDGEID_OK), "EDGEID_OK", 9) == 0);
    CHECK(strncmp(edgeid_status_str(EDGEID_ERR_CLOSED), "EDGEID_ERR_CLOSED", 17) == 0);
    CHECK(EDGEID_ERR_READ_ONLY == 20); /* appended, nothing renumbered */
    CHECK(EDGEID_ERR_OUT_OF_MEMORY == 21 && EDGEID_ERR_CANCELLED == 22);
    for (code = 0; code <= EDGEID_ERR_CANCELLED; code++) { /* the last code */
        CHECK(strncmp(edgeid_status_str(code), "EDGEID_", 7) == 0);
    }
    CHECK(strcmp(edgeid_status_str(EDGEID_ERR_CANCELLED + 1), "unknown edgeid status code") == 0);
    CHECK(strcmp(edgeid_status_str(0xffffffffu), "unknown edgeid status code") == 0);
    /* No failure on this thread yet. */
    memset(buf, 'x', sizeof buf);
    CHECK(edgeid_last_error_message(buf, sizeof buf) == 0);
    CHECK(buf[0] == 0);
}

static void test_create_and_open_errors(void) {
    edgeid_store *s = (edgeid_store *)(uintptr_t)1;
    edgeid_open_options o = one_thread();
    const char bad_utf8[] = {'/', 't', (char)0xff, 'p'};

    EXPECT(edgeid_create(NULL, 5, S(MODEL), DIM, &o, &s), EDGEID_ERR_NULL);
    CHECK(s == NULL); /* store_out is cleared first */
    EXPECT(edgeid_create(S(store_dir), NULL, 3, DIM, &o, &s), EDGEID_ERR_NULL);
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_create(bad_utf8, sizeof bad_utf8, S(MODEL), DIM, &o, &s), EDGEID_ERR_UTF8);
    EXPECT(edgeid_create(S(store_dir), "m\xc3", 2, DIM, &o, &s), EDGEID_ERR_UTF8);
    EXPECT(edgeid_create(S(store_dir), S("has space"), DIM, &o, &s), EDGEID_ERR_INVALID);
    EXPECT(edgeid_create(S(store_dir), S(""), DIM, &o, &s), EDGEID_ERR_INVALID);
    EXPECT(edgeid_create(S(store_dir), S(MODEL), 4, &o, &s), EDGEID_ERR_INVALID);
    EXPECT(edgeid_create(S(store_dir), S(MODEL), 5000, &o, &s), EDGEID_ERR_INVALID);

    o.size = 8;
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &s), EDGEID_ERR_SIZE);
    o.size = EDGEID_OPEN_OPTIONS_SIZE_V1 + 1;
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &s), EDGEID_ERR_SIZE);
    o = one_thread();
    o.flags = EDGEID_OPEN_READ_ONLY;
    EXPECT(edgeid_open(S(store_dir), &o, &s), EDGEID_ERR_NO_STORE);
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &s), EDGEID_ERR_INVALID);
    o.flags = 0x80;
    EXPECT(edgeid_open(S(store_dir), &o, &s), EDGEID_ERR_UNSUPPORTED);
    o = one_thread();
    o.threads = EDGEID_MAX_THREADS + 1;
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &s), EDGEID_ERR_INVALID);

    /* Nothing there yet. */
    o = one_thread();
    EXPECT(edgeid_open(S(store_dir), &o, &s), EDGEID_ERR_NO_STORE);
    CHECK(s == NULL);
    EXPECT(edgeid_open(NULL, 0, &o, &s), EDGEID_ERR_NULL);
    EXPECT(edgeid_open(S(store_dir), &o, NULL), EDGEID_ERR_NULL);
}

static edgeid_store *create_store(void) {
    edgeid_store *s = NULL;
    edgeid_open_options o = one_thread();
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &s), EDGEID_OK);
    CHECK(s != NULL);
    return s;
}

static void put(edgeid_store *s, const char *loc, const char *user, const char *tmpl,
                uint32_t seed) {
    float v[DIM];
    make_vec(v, DIM, seed);
    EXPECT(edgeid_face_put(s, S(loc), S(user), S(tmpl), v, DIM, NULL), EDGEID_OK);
}

static void test_put_errors(edgeid_store *s) {
    float v[DIM];
    float zero[DIM];
    char long_id[EDGEID_ID_MAX_LEN + 2];
    const char bad_utf8[] = {'u', (char)0xc3, '(', 'x'};
    uint64_t seq = 0;

    make_vec(v, DIM, 1);
    memset(zero, 0, sizeof zero);
    memset(long_id, 'a', sizeof long_id);

    EXPECT(edgeid_face_put(NULL, S("hq"), S("u"), S("t"), v, DIM, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_put(s, NULL, 2, S("u"), S("t"), v, DIM, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_put(s, S("hq"), NULL, 1, S("t"), v, DIM, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_put(s, S("hq"), S("u"), NULL, 1, v, DIM, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_put(s, S("hq"), S("u"), S("t"), NULL, DIM, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_put(s, S("hq"), bad_utf8, sizeof bad_utf8, S("t"), v, DIM, NULL),
           EDGEID_ERR_UTF8);
    EXPECT(edgeid_face_put(s, S("hq"), S(""), S("t"), v, DIM, NULL), EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_put(s, S("hq"), long_id, EDGEID_ID_MAX_LEN + 1, S("t"), v, DIM, NULL),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_put(s, S("hq"), S("tab\there"), S("t"), v, DIM, NULL), EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_put(s, S("hq"), S("u"), S("t"), v, DIM - 1, NULL), EDGEID_ERR_DIMENSION);
    EXPECT(edgeid_face_put(s, S("hq"), S("u"), S("t"), v, DIM + 1, NULL), EDGEID_ERR_DIMENSION);
    EXPECT(edgeid_face_put(s, S("hq"), S("u"), S("t"), zero, DIM, NULL), EDGEID_ERR_INVALID);
    v[7] = NAN;
    EXPECT(edgeid_face_put(s, S("hq"), S("u"), S("t"), v, DIM, NULL), EDGEID_ERR_INVALID);
    v[7] = INFINITY;
    EXPECT(edgeid_face_put(s, S("hq"), S("u"), S("t"), v, DIM, &seq), EDGEID_ERR_INVALID);
    CHECK(seq == 0);
    /* A 64-byte id is fine. */
    make_vec(v, DIM, 99);
    EXPECT(edgeid_face_put(s, S("hq"), long_id, EDGEID_ID_MAX_LEN, S("t"), v, DIM, &seq),
           EDGEID_OK);
    CHECK(seq == 1);
    EXPECT(edgeid_face_remove_user(s, S("hq"), long_id, EDGEID_ID_MAX_LEN, &seq), EDGEID_OK);
    CHECK(seq == 2);
}

static void test_identify(edgeid_store *s) {
    float probe[DIM];
    edgeid_hit hits[4];
    size_t n = 99;
    int i;

    /* alice: 2 templates, bob, carol at hq; dave at annex. */
    put(s, "hq", "alice", "a1", 10);
    put(s, "hq", "alice", "a2", 11);
    put(s, "hq", "bob", "b1", 20);
    put(s, "hq", "carol", "c1", 30);
    put(s, "annex", "dave", "d1", 40);

    make_vec(probe, DIM, 20); /* bob's own embedding */
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, EDGEID_ANY_SCORE, hits, 4, &n), EDGEID_OK);
    CHECK(n == 4);
    CHECK(strcmp(hits[0].user_id, "bob") == 0);
    CHECK(hits[0].user_id_len == 3);
    CHECK(strcmp(hits[0].location_id, "hq") == 0 && hits[0].location_id_len == 2);
    CHECK(strcmp(hits[0].template_id, "b1") == 0 && hits[0].template_id_len == 2);
    CHECK(fabs(hits[0].score - 1.0) < 1e-5);
    for (i = 1; i < 4; i++) {
        CHECK(hits[i].score <= hits[i - 1].score);
        CHECK(strcmp(hits[i].user_id, "bob") != 0);
        CHECK(strlen(hits[i].user_id) == hits[i].user_id_len);
    }

    /* alice's second template is the one that matches. */
    make_vec(probe, DIM, 11);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.9, hits, 4, &n), EDGEID_OK);
    CHECK(n == 1);
    CHECK(strcmp(hits[0].user_id, "alice") == 0 && strcmp(hits[0].template_id, "a2") == 0);

    /* Location filter. */
    EXPECT(edgeid_face_identify(s, probe, DIM, S("annex"), EDGEID_ANY_SCORE, hits, 4, &n),
           EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "dave") == 0);
    EXPECT(edgeid_face_identify(s, probe, DIM, S("nowhere"), EDGEID_ANY_SCORE, hits, 4, &n),
           EDGEID_OK);
    CHECK(n == 0);
    /* A location filter that is not a valid id is refused as the lookups refuse it. */
    for (i = 0; i < BAD_LOCATION_FILTERS; i++) {
        const char *loc = bad_location_filter(i);
        char want[512], got[512];
        lookup_refuses_location(s, loc, want, sizeof want);
        n = 99;
        EXPECT(edgeid_face_identify(s, probe, DIM, loc, strlen(loc), EDGEID_ANY_SCORE, hits, 4, &n),
               EDGEID_ERR_INVALID);
        CHECK(n == 0);
        CHECK(strcmp(message_after_function(got, sizeof got), want) == 0);
    }

    /* k = 1 writes only hits[0]. */
    memset(hits, 0x5a, sizeof hits);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, EDGEID_ANY_SCORE, hits, 1, &n), EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "alice") == 0);
    CHECK(((unsigned char *)&hits[1])[0] == 0x5a);

    /* Errors. */
    EXPECT(edgeid_face_identify(NULL, probe, DIM, NULL, 0, 0.0, hits, 4, &n), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_identify(s, NULL, DIM, NULL, 0, 0.0, hits, 4, &n), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.0, NULL, 4, &n), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.0, hits, 4, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.0, hits, 0, &n), EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, NAN, hits, 4, &n), EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, INFINITY, hits, 4, &n),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_identify(s, probe, DIM / 2, NULL, 0, 0.0, hits, 4, &n),
           EDGEID_ERR_DIMENSION);
    EXPECT(edgeid_face_identify(s, probe, DIM, "\xff\xfe", 2, 0.0, hits, 4, &n), EDGEID_ERR_UTF8);
    probe[3] = NAN;
    n = 99;
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.0, hits, 4, &n), EDGEID_ERR_INVALID);
    CHECK(n == 0);
    memset(probe, 0, sizeof probe);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.0, hits, 4, &n), EDGEID_ERR_INVALID);
}

static void test_verify(edgeid_store *s) {
    float probe[DIM];
    edgeid_hit hit;
    make_vec(probe, DIM, 10);
    EXPECT(edgeid_face_verify(s, S("hq"), S("alice"), probe, DIM, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "a1") == 0 && fabs(hit.score - 1.0) < 1e-5);
    CHECK(strcmp(hit.user_id, "alice") == 0 && strcmp(hit.location_id, "hq") == 0);
    make_vec(probe, DIM, 20);
    EXPECT(edgeid_face_verify(s, S("hq"), S("alice"), probe, DIM, &hit), EDGEID_OK);
    CHECK(hit.score < 0.5);

    EXPECT(edgeid_face_verify(s, S("hq"), S("nobody"), probe, DIM, &hit), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_face_verify(s, S("annex"), S("alice"), probe, DIM, &hit), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_face_verify(s, S("hq"), S("alice"), probe, DIM, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_verify(s, S("hq"), S("alice"), NULL, DIM, &hit), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_verify(s, NULL, 0, S("alice"), probe, DIM, &hit), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_verify(s, S("hq"), "\x80", 1, probe, DIM, &hit), EDGEID_ERR_UTF8);
    EXPECT(edgeid_face_verify(s, S("hq"), S("alice"), probe, 3, &hit), EDGEID_ERR_DIMENSION);
    probe[0] = -INFINITY;
    EXPECT(edgeid_face_verify(s, S("hq"), S("alice"), probe, DIM, &hit), EDGEID_ERR_INVALID);
}

static void test_remove(edgeid_store *s) {
    float probe[DIM];
    edgeid_hit hits[2];
    size_t n;
    uint64_t seq = 0;

    EXPECT(edgeid_face_remove(s, S("hq"), S("alice"), S("a2"), &seq), EDGEID_OK);
    CHECK(seq > 0);
    EXPECT(edgeid_face_remove(s, S("hq"), S("alice"), S("a2"), NULL), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_face_remove(s, S("hq"), S("nobody"), S("a1"), NULL), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_face_remove(s, S("hq"), S("alice"), NULL, 0, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_remove(s, S("hq"), S("alice"), "\xc0", 1, NULL), EDGEID_ERR_UTF8);
    make_vec(probe, DIM, 11);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.9, hits, 2, &n), EDGEID_OK);
    CHECK(n == 0); /* a2 is gone */

    EXPECT(edgeid_face_remove_user(s, S("hq"), S("carol"), NULL), EDGEID_OK);
    EXPECT(edgeid_face_remove_user(s, S("hq"), S("carol"), NULL), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_face_remove_user(s, S("hq"), NULL, 0, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_remove_user(NULL, S("hq"), S("carol"), NULL), EDGEID_ERR_NULL);
}

static uint64_t live(edgeid_store *s) {
    edgeid_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_OK);
    return st.live_templates;
}

static void test_batch(edgeid_store *s) {
    float v[DIM];
    float w[DIM + 1];
    uint64_t before = live(s), seq = 0, seq2 = 0;
    edgeid_batch *b = edgeid_batch_new();
    edgeid_batch *bad = edgeid_batch_new();
    edgeid_hit hit;

    CHECK(b != NULL && bad != NULL);
    CHECK(edgeid_batch_len(b) == 0);
    CHECK(edgeid_batch_len(NULL) == 0);
    make_vec(v, DIM, 50);
    EXPECT(edgeid_batch_face_put(b, S("hq"), S("erin"), S("e1"), v, DIM), EDGEID_OK);
    make_vec(v, DIM, 51);
    EXPECT(edgeid_batch_face_put(b, S("hq"), S("erin"), S("e2"), v, DIM), EDGEID_OK);
    make_vec(v, DIM, 60);
    EXPECT(edgeid_batch_face_put(b, S("hq"), S("frank"), S("f1"), v, DIM), EDGEID_OK);
    EXPECT(edgeid_batch_face_remove(b, S("hq"), S("erin"), S("e2")), EDGEID_OK);
    EXPECT(edgeid_batch_face_remove_user(b, S("annex"), S("dave")), EDGEID_OK);
    CHECK(edgeid_batch_len(b) == 5);

    /* Refused additions leave the batch unchanged. */
    EXPECT(edgeid_batch_face_put(b, S("hq"), S("x"), S("t"), NULL, DIM), EDGEID_ERR_NULL);
    v[0] = NAN;
    EXPECT(edgeid_batch_face_put(b, S("hq"), S("x"), S("t"), v, DIM), EDGEID_ERR_INVALID);
    EXPECT(edgeid_batch_face_put(b, S("hq"), "\xed\xa0\x80", 3, S("t"), v, DIM), EDGEID_ERR_UTF8);
    EXPECT(edgeid_batch_face_remove(b, S("hq"), S(""), S("t")), EDGEID_ERR_INVALID);
    EXPECT(edgeid_batch_face_remove_user(b, NULL, 0, S("x")), EDGEID_ERR_NULL);
    CHECK(edgeid_batch_len(b) == 5);
    EXPECT(edgeid_batch_face_put(NULL, S("hq"), S("x"), S("t"), v, DIM), EDGEID_ERR_NULL);
    EXPECT(edgeid_batch_face_remove(NULL, S("hq"), S("x"), S("t")), EDGEID_ERR_NULL);
    EXPECT(edgeid_batch_face_remove_user(NULL, S("hq"), S("x")), EDGEID_ERR_NULL);

    /* All or nothing: a batch whose last change is refused changes nothing. */
    make_vec(v, DIM, 70);
    EXPECT(edgeid_batch_face_put(bad, S("hq"), S("gina"), S("g1"), v, DIM), EDGEID_OK);
    EXPECT(edgeid_batch_face_remove(bad, S("hq"), S("nobody"), S("n1")), EDGEID_OK);
    EXPECT(edgeid_commit(s, bad, &seq), EDGEID_ERR_NOT_FOUND);
    CHECK(live(s) == before);
    edgeid_batch_free(bad);

    /* A wrong dimension is found at commit. */
    bad = edgeid_batch_new();
    make_vec(w, DIM + 1, 71);
    EXPECT(edgeid_batch_face_put(bad, S("hq"), S("gina"), S("g1"), w, DIM + 1), EDGEID_OK);
    EXPECT(edgeid_commit(s, bad, NULL), EDGEID_ERR_DIMENSION);
    edgeid_batch_free(bad);

    EXPECT(edgeid_commit(s, NULL, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_commit(NULL, b, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_commit(s, b, &seq), EDGEID_OK);
    /* +erin e1, +frank f1, -dave d1 */
    CHECK(live(s) == before + 1);
    make_vec(v, DIM, 50);
    EXPECT(edgeid_face_verify(s, S("hq"), S("erin"), v, DIM, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "e1") == 0);
    EXPECT(edgeid_face_verify(s, S("annex"), S("dave"), v, DIM, &hit), EDGEID_ERR_NOT_FOUND);

    /* The batch is unchanged by a commit: committing it again fails (dave is gone). */
    CHECK(edgeid_batch_len(b) == 5);
    EXPECT(edgeid_commit(s, b, &seq2), EDGEID_ERR_NOT_FOUND);
    edgeid_batch_free(b);
    edgeid_batch_free(NULL);

    /* An empty batch writes nothing and reports the current sequence number. */
    b = edgeid_batch_new();
    EXPECT(edgeid_commit(s, b, &seq2), EDGEID_OK);
    CHECK(seq2 == seq);
    edgeid_batch_free(b);
}

static void test_stats_and_maintenance(edgeid_store *s) {
    edgeid_stats st;
    size_t n = 99;
    uint64_t live_before;

    memset(&st, 0, sizeof st);
    EXPECT(edgeid_store_stats(s, &st), EDGEID_ERR_SIZE);
    st.size = sizeof st - 8;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_ERR_SIZE);
    EXPECT(edgeid_store_stats(s, NULL), EDGEID_ERR_NULL);
    /* A program compiled with version 1 of the struct (no fingerprint counts) still works. */
    st.size = EDGEID_STATS_SIZE_V1;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_OK);
    CHECK(st.size == EDGEID_STATS_SIZE_V1 && st.dim == DIM);
    st.size = sizeof st;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_OK);
    CHECK(st.size == sizeof st);
    CHECK(st.fingers == 0 && st.deleted_fingers == 0 && st.finger_tail_rows == 0);
    CHECK(st.dim == DIM);
    CHECK(strcmp(st.model, MODEL) == 0 && st.model_len == strlen(MODEL));
    CHECK(st.seq > 5);
    CHECK(st.deleted_rows > 0);
    CHECK(st.wal_bytes > 0);
    live_before = st.live_templates;

    EXPECT(edgeid_compact(s), EDGEID_OK);
    st.size = sizeof st;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_OK);
    CHECK(st.live_templates == live_before);
    CHECK(st.deleted_rows == 0);
    CHECK(st.segments >= 1 && st.segment_bytes > 0 && st.tail_rows == 0);

    EXPECT(edgeid_verify_checksums(s, &n), EDGEID_OK);
    CHECK(n == st.segments);
    EXPECT(edgeid_verify_checksums(s, NULL), EDGEID_OK);

    put(s, "hq", "henry", "h1", 80);
    EXPECT(edgeid_face_remove_user(s, S("hq"), S("henry"), NULL), EDGEID_OK);
    n = 99;
    EXPECT(edgeid_erase_deleted(s, &n), EDGEID_OK);
    CHECK(n == 0);
    EXPECT(edgeid_erase_deleted(s, NULL), EDGEID_OK);
    EXPECT(edgeid_maintain(s), EDGEID_OK);

    EXPECT(edgeid_compact(NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_maintain(NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_erase_deleted(NULL, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_verify_checksums(NULL, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_store_stats(NULL, &st), EDGEID_ERR_NULL);
}

static void test_last_error_message(edgeid_store *s) {
    char big[512];
    char small[8];
    size_t len, n;
    edgeid_hit hit;
    float probe[DIM];

    make_vec(probe, DIM, 1);
    EXPECT(edgeid_face_verify(s, S("hq"), S("nobody"), probe, DIM, &hit), EDGEID_ERR_NOT_FOUND);
    len = edgeid_last_error_message(NULL, 0);
    CHECK(len > 20);
    n = edgeid_last_error_message(big, sizeof big);
    CHECK(n == len && strlen(big) == len);
    CHECK(strstr(big, "edgeid_face_verify") != NULL && strstr(big, "nobody") != NULL);
    memset(small, 'x', sizeof small);
    n = edgeid_last_error_message(small, sizeof small);
    CHECK(n == len);
    CHECK(strlen(small) == sizeof small - 1 && strncmp(small, big, sizeof small - 1) == 0);
    small[0] = 'x';
    CHECK(edgeid_last_error_message(small, 1) == len && small[0] == 0);
    small[0] = 'x';
    CHECK(edgeid_last_error_message(small, 0) == len && small[0] == 'x');
    /* A successful call leaves the message alone. */
    EXPECT(edgeid_face_verify(s, S("hq"), S("bob"), probe, DIM, &hit), EDGEID_OK);
    CHECK(edgeid_last_error_message(NULL, 0) == len);
}

/* Read-only handles open beside the writer `s`, read, and refuse every write. */
static void test_read_only(edgeid_store *s) {
    edgeid_store *r1 = NULL, *r2 = NULL;
    edgeid_open_options o = one_thread();
    char msg[512];
    edgeid_stats st, ws;
    edgeid_hit hits[1];
    float probe[DIM];
    size_t n;

    o.flags = EDGEID_OPEN_READ_ONLY;
    EXPECT(edgeid_open(S(store_dir), &o, &r1), EDGEID_OK);
    EXPECT(edgeid_open(S(store_dir), &o, &r2), EDGEID_OK);
    CHECK(r1 != NULL && r2 != NULL && r1 != r2);
    memset(&st, 0, sizeof st);
    memset(&ws, 0, sizeof ws);
    st.size = ws.size = sizeof st;
    EXPECT(edgeid_store_stats(r1, &st), EDGEID_OK);
    EXPECT(edgeid_store_stats(s, &ws), EDGEID_OK);
    CHECK(st.seq == ws.seq && st.live_templates == ws.live_templates);
    EXPECT(edgeid_verify_checksums(r2, &n), EDGEID_OK);
    make_vec(probe, DIM, 20);
    EXPECT(edgeid_face_identify(r1, probe, DIM, NULL, 0, 0.99, hits, 1, &n), EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "bob") == 0);

    EXPECT(edgeid_face_put(r1, S("hq"), S("bob"), S("b9"), probe, DIM, NULL), EDGEID_ERR_READ_ONLY);
    edgeid_last_error_message(msg, sizeof msg);
    CHECK(strstr(msg, "read-only") != NULL);
    EXPECT(edgeid_face_remove(r1, S("hq"), S("bob"), S("b1"), NULL), EDGEID_ERR_READ_ONLY);
    EXPECT(edgeid_face_remove_user(r1, S("hq"), S("bob"), NULL), EDGEID_ERR_READ_ONLY);
    EXPECT(edgeid_compact(r1), EDGEID_ERR_READ_ONLY);
    EXPECT(edgeid_erase_deleted(r1, NULL), EDGEID_ERR_READ_ONLY);
    EXPECT(edgeid_maintain(r1), EDGEID_ERR_READ_ONLY);
    {
        const char delta[] = "{}";
        edgeid_apply_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        EXPECT(edgeid_apply_delta(r1, (const uint8_t *)delta, 2, NULL, NULL, &r),
               EDGEID_ERR_READ_ONLY);
    }
    EXPECT(edgeid_store_stats(r1, &st), EDGEID_OK);
    CHECK(st.seq == ws.seq);
    EXPECT(edgeid_close(r1), EDGEID_OK);
    EXPECT(edgeid_close(r2), EDGEID_OK);
}

static void test_close_and_reopen(edgeid_store *s) {
    edgeid_store *again = NULL;
    edgeid_open_options o = one_thread();
    edgeid_stats st;
    edgeid_hit hits[1];
    float probe[DIM];
    size_t n;
    uint64_t seq_before;

    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_OK);
    seq_before = st.seq;

    /* The store is locked while open: a second open or create is refused. */
    EXPECT(edgeid_open(S(store_dir), &o, &again), EDGEID_ERR_LOCKED);
    CHECK(again == NULL);
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &again), EDGEID_ERR_LOCKED);

    test_read_only(s);

    EXPECT(edgeid_close(s), EDGEID_OK);
    EXPECT(edgeid_close(s), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_close(NULL), EDGEID_OK);

    /* Every function on a closed handle. */
    make_vec(probe, DIM, 20);
    EXPECT(edgeid_face_identify(s, probe, DIM, NULL, 0, 0.0, hits, 1, &n), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_face_verify(s, S("hq"), S("bob"), probe, DIM, hits), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_face_put(s, S("hq"), S("bob"), S("b9"), probe, DIM, NULL), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_face_remove(s, S("hq"), S("bob"), S("b1"), NULL), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_face_remove_user(s, S("hq"), S("bob"), NULL), EDGEID_ERR_CLOSED);
    {
        edgeid_batch *b = edgeid_batch_new();
        EXPECT(edgeid_commit(s, b, NULL), EDGEID_ERR_CLOSED);
        edgeid_batch_free(b);
    }
    EXPECT(edgeid_store_stats(s, &st), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_compact(s), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_erase_deleted(s, NULL), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_maintain(s), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_verify_checksums(s, NULL), EDGEID_ERR_CLOSED);
    /* Made-up handles are refused the same way, never dereferenced. */
    EXPECT(edgeid_compact((edgeid_store *)(uintptr_t)0x1), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_compact((edgeid_store *)(uintptr_t)0x7fff0000), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_close((edgeid_store *)(uintptr_t)0x12345678), EDGEID_ERR_CLOSED);

    /* Creating over an existing store is refused; opening finds everything committed. */
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &again), EDGEID_ERR_NO_STORE);
    /* Default options (NULL). */
    EXPECT(edgeid_open(S(store_dir), one_thread_only ? &o : NULL, &again), EDGEID_OK);
    CHECK(again != NULL && again != s);
    st.size = sizeof st;
    EXPECT(edgeid_store_stats(again, &st), EDGEID_OK);
    CHECK(st.seq == seq_before);
    EXPECT(edgeid_face_identify(again, probe, DIM, NULL, 0, 0.99, hits, 1, &n), EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "bob") == 0);
    /* The old handle stays closed even though the same store is open again. */
    EXPECT(edgeid_compact(s), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_close(again), EDGEID_OK);

    /* A pool of search threads. */
    o.threads = one_thread_only ? 1 : 2;
    EXPECT(edgeid_open(S(store_dir), &o, &again), EDGEID_OK);
    EXPECT(edgeid_face_identify(again, probe, DIM, NULL, 0, 0.99, hits, 1, &n), EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "bob") == 0);
    EXPECT(edgeid_close(again), EDGEID_OK);

    /* A second, independent store in the same process. */
    o.threads = 1;
    EXPECT(edgeid_create(S(other_dir), S("other-model"), 16, one_thread_only ? &o : NULL, &again),
           EDGEID_OK);
    EXPECT(edgeid_face_identify(again, probe, 16, NULL, 0, 0.0, hits, 1, &n), EDGEID_OK);
    CHECK(n == 0);
    EXPECT(edgeid_face_identify(again, probe, DIM, NULL, 0, 0.0, hits, 1, &n),
           EDGEID_ERR_DIMENSION);
    EXPECT(edgeid_close(again), EDGEID_OK);
}

int main(int argc, char **argv) {
    edgeid_store *s;
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    snprintf(store_dir, sizeof store_dir, "%s/store", argv[1]);
    snprintf(other_dir, sizeof other_dir, "%s/other", argv[1]);
    one_thread_only = getenv("EDGEID_TEST_ONE_THREAD") != NULL;
    printf("api_test: libedgeid %s, kernel %s%s\n", edgeid_version(), edgeid_kernel_name(),
           one_thread_only ? ", no search threads" : "");

    test_static_info();
    test_create_and_open_errors();
    s = create_store();
    if (s == NULL) {
        return finish("api_test");
    }
    test_put_errors(s);
    test_identify(s);
    test_verify(s);
    test_remove(s);
    test_batch(s);
    test_stats_and_maintenance(s);
    test_last_error_message(s);
    test_close_and_reopen(s);
    /* Closing a store tells its search threads to stop but does not wait for them to exit; give
     * them a moment so valgrind does not see them mid-exit (see valgrind.supp). */
    usleep(100 * 1000);
    return finish("api_test");
}
