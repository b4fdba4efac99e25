/*
 * Synchronisation through the C API: the example deltas of testdata/sync applied, re-applied and
 * refused; sync status and digests; card, code and plate lookups; every error path; then threads
 * identifying and looking up while another thread applies deltas.
 * Usage: sync_test SCRATCH_DIR TESTDATA_SYNC_DIR ITERATIONS   (SCRATCH_DIR must exist and be empty)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define DIM 512
#define MODEL "w600k_mbf"
#define LOC "hq-amsterdam"
#define READERS 3
#define STABLE 12

/* From testdata/sync/expected.json. */
#define DIGEST_AFTER_01 "127432b2b4904ee6398652fe8aad502285339aeebcf3f460a6c27c452828654c"
#define DIGEST_AFTER_02 "69ae8100a3b7e5a0a0f0ea63426117a87b6e43f088f25e05609bef8357339939"
/* SHA-256 of nothing: the digest of a location with nothing in it. */
#define DIGEST_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Compile-time checks that this compiler lays the structs out as Rust does. */
#if UINTPTR_MAX == 0xffffffffffffffffu
typedef char check_result_size[sizeof(edgeid_apply_result) == 112 ? 1 : -1];
typedef char check_status_size[sizeof(edgeid_location_status) == 176 ? 1 : -1];
typedef char check_ref_size[sizeof(edgeid_user_ref) == 152 ? 1 : -1];
#endif
typedef char check_bool_size[sizeof(bool) == 1 ? 1 : -1];

static char store_dir[4096];
static char data_dir[4096];
static int one_thread_only;

/* ---- helpers -------------------------------------------------------------------------------- */

struct bytes {
    unsigned char *data;
    size_t len;
};

/* Reads testdata/sync/NAME; exits if it cannot. */
static struct bytes read_delta(const char *name) {
    char path[8192];
    struct bytes b = {NULL, 0};
    FILE *f;
    long size;
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    b.data = malloc((size_t)size + 1);
    if (b.data == NULL || fread(b.data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    b.len = (size_t)size;
    return b;
}

static edgeid_apply_result new_result(void) {
    edgeid_apply_result r;
    memset(&r, 0x5a, sizeof r); /* the library must fill in everything */
    r.size = sizeof r;
    return r;
}

static edgeid_status apply_text(edgeid_store *s, const char *json, edgeid_apply_result *r) {
    *r = new_result();
    return edgeid_apply_delta(s, (const uint8_t *)json, strlen(json), NULL, NULL, r);
}

static void last_error(char *buf, size_t n) {
    buf[0] = 0;
    edgeid_last_error_message(buf, n);
}

static edgeid_location_status status_of(edgeid_store *s, const char *loc) {
    edgeid_location_status st[8];
    edgeid_location_status none;
    size_t n = 0, i;
    memset(&none, 0, sizeof none);
    EXPECT(edgeid_sync_status(s, st, 8, &n), EDGEID_OK);
    for (i = 0; i < n && i < 8; i++) {
        if (strcmp(st[i].location_id, loc) == 0) {
            return st[i];
        }
    }
    return none;
}

/* Standard base64 of `n` bytes into `out` (NUL-terminated). */
static void base64(const unsigned char *in, size_t n, char *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = 0;
}

/* A `changes` delta for location `loc`, sequence `seq`: upserts user g-SEQ with the face
 * make_vec(seed) and the csn card 0A<seq>, and deletes g-(SEQ-1). `out` needs 8 KiB. */
static void gen_delta(char *out, size_t cap, const char *loc, unsigned seq, uint32_t seed) {
    float v[DIM];
    char b64[(DIM * 4 + 2) / 3 * 4 + 1];
    char del[64] = "";
    make_vec(v, DIM, seed);
    base64((const unsigned char *)v, sizeof v, b64); /* little-endian terminals */
    if (seq > 1) {
        snprintf(del, sizeof del, ",{\"op\":\"delete_user\",\"id\":\"g-%u\"}", seq - 1);
    }
    snprintf(out, cap,
             "{\"format\":\"edgeid.delta/1\",\"location\":\"%s\",\"sequence\":%u,"
             "\"kind\":\"changes\",\"changes\":[{\"op\":\"upsert_user\",\"user\":{\"id\":\"g-%u\","
             "\"faces\":[{\"id\":\"f1\",\"model\":\"" MODEL "\",\"embedding\":\"%s\"}],"
             "\"cards\":[{\"format\":\"csn\",\"number\":\"0A%04X\"}]}}%s]}",
             loc, seq, seq, b64, seq, del);
}

/* ---- progress callback ---------------------------------------------------------------------- */

struct progress_log {
    int calls;
    int validating;
    int committing;
    int out_of_order; /* validating after committing, done going backwards, done > total */
    size_t last_done;
    size_t last_total;
    edgeid_progress_stage last_stage;
    edgeid_store *store; /* if set: the callback reads the store (allowed) */
    int reads_ok;
};

static void on_progress(void *user_data, edgeid_progress_stage stage, size_t done, size_t total) {
    struct progress_log *p = user_data;
    p->calls++;
    if (stage == EDGEID_PROGRESS_VALIDATING) {
        p->validating++;
        if (p->committing > 0 || done < p->last_done) {
            p->out_of_order++;
        }
    } else if (stage == EDGEID_PROGRESS_COMMITTING) {
        p->committing++;
    } else {
        p->out_of_order++;
    }
    if (done > total) {
        p->out_of_order++;
    }
    p->last_done = done;
    p->last_total = total;
    p->last_stage = stage;
    if (p->store != NULL) {
        size_t n = 0;
        edgeid_status st = edgeid_sync_status(p->store, NULL, 0, &n);
        if (st == EDGEID_OK || st == EDGEID_ERR_SIZE) {
            p->reads_ok++;
        }
    }
}

/* ---- single-threaded tests ------------------------------------------------------------------ */

static edgeid_store *open_store(void) {
    edgeid_store *s = NULL;
    edgeid_open_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, &o, &s), EDGEID_OK);
    return s;
}

static void test_before_any_delta(edgeid_store *s) {
    struct bytes d = read_delta("01-full.json");
    edgeid_apply_result r = new_result();
    char digest[EDGEID_DIGEST_BUF];
    size_t n = 99;

    EXPECT(edgeid_sync_status(s, NULL, 0, &n), EDGEID_OK);
    CHECK(n == 0);
    /* Never synchronised: NOT_FOUND, and the digest of the empty location (as the CLI prints). */
    memset(digest, 'x', sizeof digest);
    EXPECT(edgeid_digest(s, S(LOC), digest), EDGEID_ERR_NOT_FOUND);
    CHECK(strcmp(digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);

    EXPECT(edgeid_apply_delta(NULL, d.data, d.len, NULL, NULL, &r), EDGEID_ERR_NULL);
    EXPECT(edgeid_apply_delta(s, NULL, d.len, NULL, NULL, &r), EDGEID_ERR_NULL);
    CHECK(r.outcome == EDGEID_OUTCOME_NONE && r.refusal == EDGEID_REFUSAL_NONE);
    CHECK(r.size == sizeof r && r.location_id_len == 0 && r.location_id[0] == 0);
    EXPECT(edgeid_apply_delta(s, d.data, d.len, NULL, NULL, NULL), EDGEID_ERR_NULL);
    r = new_result();
    r.size = 0;
    EXPECT(edgeid_apply_delta(s, d.data, d.len, NULL, NULL, &r), EDGEID_ERR_SIZE);
    r.size = sizeof r + 8; /* a newer library's struct */
    EXPECT(edgeid_apply_delta(s, d.data, d.len, NULL, NULL, &r), EDGEID_ERR_SIZE);
    CHECK(r.outcome == 0x5a5a5a5au); /* a result of unknown size is not written */
    /* None of that applied anything. */
    EXPECT(edgeid_sync_status(s, NULL, 0, &n), EDGEID_OK);
    CHECK(n == 0);
    free(d.data);
}

static void test_apply_examples(edgeid_store *s) {
    struct bytes d1 = read_delta("01-full.json");
    struct bytes d2 = read_delta("02-changes.json");
    struct progress_log log;
    edgeid_apply_result r = new_result();
    edgeid_location_status st;
    char digest[EDGEID_DIGEST_BUF];

    /* 01: full synchronisation, sequence 41, with a progress callback that also reads the store. */
    memset(&log, 0, sizeof log);
    log.store = s;
    EXPECT(edgeid_apply_delta(s, d1.data, d1.len, on_progress, &log, &r), EDGEID_OK);
    CHECK(r.size == sizeof r);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && r.refusal == EDGEID_REFUSAL_NONE);
    CHECK(r.sequence == 41 && r.changes == 5);
    CHECK(strcmp(r.location_id, LOC) == 0 && r.location_id_len == strlen(LOC));
    CHECK(log.validating >= 1 && log.committing == 1 && log.out_of_order == 0);
    CHECK(log.last_stage == EDGEID_PROGRESS_COMMITTING);
    CHECK(log.last_done == 5 && log.last_total == 5);
    CHECK(log.reads_ok == log.calls);

    st = status_of(s, LOC);
    CHECK(st.sequence == 41 && st.users == 3 && st.faces == 4 && st.fingers == 0);
    CHECK(strcmp(st.digest, DIGEST_AFTER_01) == 0);
    CHECK(st.location_id_len == strlen(LOC));
    EXPECT(edgeid_digest(s, S(LOC), digest), EDGEID_OK);
    CHECK(strcmp(digest, st.digest) == 0);

    /* 02: changes, sequence 42; no callback. */
    EXPECT(edgeid_apply_delta(s, d2.data, d2.len, NULL, NULL, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && r.sequence == 42 && r.changes == 4);
    st = status_of(s, LOC);
    CHECK(st.sequence == 42 && st.users == 2 && st.faces == 3 && st.fingers == 1);
    CHECK(strcmp(st.digest, DIGEST_AFTER_02) == 0);
    EXPECT(edgeid_digest(s, S(LOC), digest), EDGEID_OK);
    CHECK(strcmp(digest, DIGEST_AFTER_02) == 0 && strlen(digest) == 64);

    /* 02 again: already applied, a success that changes nothing. */
    memset(&log, 0, sizeof log);
    r = new_result();
    EXPECT(edgeid_apply_delta(s, d2.data, d2.len, on_progress, &log, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_ALREADY_APPLIED && r.refusal == EDGEID_REFUSAL_NONE);
    CHECK(r.sequence == 42 && r.changes == 0 && strcmp(r.location_id, LOC) == 0);
    CHECK(log.calls > 0 && log.out_of_order == 0);
    CHECK(strcmp(status_of(s, LOC).digest, DIGEST_AFTER_02) == 0);
    free(d1.data);
    free(d2.data);
}

/* Applies a delta that must be refused with `kind`; checks the message contains `needle`. */
static void refused(edgeid_store *s, const unsigned char *data, size_t len, edgeid_refusal kind,
                    const char *needle, const char *loc, uint64_t seq) {
    edgeid_apply_result r = new_result();
    char msg[1024];
    EXPECT(edgeid_apply_delta(s, data, len, NULL, NULL, &r), EDGEID_ERR_REFUSED);
    last_error(msg, sizeof msg);
    CHECK(r.outcome == EDGEID_OUTCOME_REFUSED);
    CHECK(r.refusal == kind);
    CHECK(r.changes == 0 && r.sequence == seq);
    CHECK(strcmp(r.location_id, loc) == 0 && r.location_id_len == strlen(loc));
    CHECK(strncmp(msg, "edgeid_apply_delta: ", 20) == 0);
    CHECK(strstr(msg, needle) != NULL);
    if (strstr(msg, needle) == NULL) {
        fprintf(stderr, "  message %s\n  lacks %s\n", msg, needle);
    }
}

static void refused_file(edgeid_store *s, const char *file, edgeid_refusal kind,
                         const char *needle, const char *loc, uint64_t seq) {
    struct bytes d = read_delta(file);
    refused(s, d.data, d.len, kind, needle, loc, seq);
    free(d.data);
}

static void test_refusals(edgeid_store *s) {
    const char *bad_version = "{\"format\":\"edgeid.delta/9\",\"location\":\"x\",\"sequence\":1,"
                              "\"kind\":\"full\",\"changes\":[]}";
    const char *bad_field = "{\"format\":\"edgeid.delta/1\",\"location\":\"x\",\"sequence\":1,"
                            "\"kind\":\"full\",\"changes\":[],\"colour\":1}";
    const char *trunc = "{\"format\":\"edgeid.delta/1\",";

    refused_file(s, "03-gap.json", EDGEID_REFUSAL_GAP, "full synchronisation", LOC, 44);
    refused_file(s, "04-conflict.json", EDGEID_REFUSAL_CONFLICT, "different content", LOC, 42);
    refused_file(s, "05-bad-embedding.json", EDGEID_REFUSAL_INVALID,
                 "changes[1].user.faces[0].embedding: expected 512 floats, got 511", "", 0);
    refused(s, (const unsigned char *)"not json", 8, EDGEID_REFUSAL_PARSE, "JSON", "", 0);
    refused(s, (const unsigned char *)trunc, strlen(trunc), EDGEID_REFUSAL_PARSE, "JSON", "", 0);
    refused(s, (const unsigned char *)"", 0, EDGEID_REFUSAL_PARSE, "JSON", "", 0);
    refused(s, (const unsigned char *)bad_version, strlen(bad_version), EDGEID_REFUSAL_VERSION,
            "edgeid.delta/9", "", 0);
    refused(s, (const unsigned char *)bad_field, strlen(bad_field), EDGEID_REFUSAL_INVALID,
            "colour", "", 0);

    /* Nothing of the refused deltas was applied: 05's valid u-1004 is not there either. */
    {
        edgeid_location_status st = status_of(s, LOC);
        edgeid_user_ref u;
        bool found = true;
        CHECK(st.sequence == 42 && st.users == 2 && strcmp(st.digest, DIGEST_AFTER_02) == 0);
        EXPECT(edgeid_lookup_plate(s, NULL, 0, S("XY-1004-Z"), &u, &found), EDGEID_OK);
        CHECK(!found);
    }
}

/* `found` is read through a pointer: it is written by the call evaluated as the first argument. */
static void expect_user(edgeid_status st, const bool *found, const edgeid_user_ref *u,
                        const char *user) {
    CHECK(st == EDGEID_OK);
    CHECK(*found);
    CHECK(strcmp(u->location_id, LOC) == 0 && u->location_id_len == strlen(LOC));
    CHECK(strcmp(u->user_id, user) == 0 && u->user_id_len == strlen(user));
    if (st != EDGEID_OK || !*found || strcmp(u->user_id, user) != 0) {
        fprintf(stderr, "  expected user %s, got status %u found %d user %s\n", user,
                (unsigned)st, (int)*found, u->user_id);
    }
}

static void expect_none(edgeid_status st, const bool *found, const edgeid_user_ref *u) {
    CHECK(st == EDGEID_OK);
    CHECK(!*found);
    CHECK(u->location_id_len == 0 && u->user_id_len == 0);
    CHECK(u->location_id[0] == 0 && u->user_id[0] == 0);
}

static void test_lookups(edgeid_store *s) {
    edgeid_user_ref u;
    bool found;
    bool match;
    char msg[512];
    const char bad_utf8[] = {'0', '4', (char)0xff};

#define GARBLE() (memset(&u, 0x5a, sizeof u), found = false)
    /* Cards: csn (any case), wiegand26 with a facility; location filter. */
    GARBLE();
    expect_user(edgeid_lookup_card(s, NULL, 0, S("csn"), S("04A1B2C3D4E5F6"), EDGEID_NO_FACILITY,
                                   &u, &found),
                &found, &u, "u-1001");
    GARBLE();
    expect_user(edgeid_lookup_card(s, S(LOC), S("csn"), S("04a1b2c3d4e5f6"), EDGEID_NO_FACILITY,
                                   &u, &found),
                &found, &u, "u-1001");
    GARBLE();
    expect_user(edgeid_lookup_card(s, NULL, 0, S("wiegand26"), S("34567"), 12, &u, &found), &found,
                &u, "u-1001");
    GARBLE();
    expect_user(edgeid_lookup_card(s, NULL, 0, S("wiegand26"), S("1003"), 12, &u, &found), &found,
                &u, "u-1003");
    GARBLE();
    found = true;
    expect_none(edgeid_lookup_card(s, NULL, 0, S("wiegand26"), S("1003"), 13, &u, &found), &found,
                &u);
    GARBLE();
    found = true;
    expect_none(edgeid_lookup_card(s, S("elsewhere"), S("csn"), S("04A1B2C3D4E5F6"),
                                   EDGEID_NO_FACILITY, &u, &found),
                &found, &u);
    /* u-1002 was deleted by 02, and its card with it. */
    GARBLE();
    found = true;
    expect_none(edgeid_lookup_card(s, NULL, 0, S("csn"), S("04C0FFEE000002"), EDGEID_NO_FACILITY,
                                   &u, &found),
                &found, &u);

    EXPECT(edgeid_lookup_card(s, NULL, 0, S("mifare"), S("01"), EDGEID_NO_FACILITY, &u, &found),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), S("04A1"), 5, &u, &found), EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), S("xyz"), EDGEID_NO_FACILITY, &u, &found),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("wiegand26"), S("1003"), EDGEID_NO_FACILITY, &u,
                              &found),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("wiegand26"), S("1003"), 256, &u, &found),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("wiegand26"), S("1003"), -2, &u, &found),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_card(s, S(""), S("csn"), S("04A1"), EDGEID_NO_FACILITY, &u, &found),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_card(s, NULL, 0, NULL, 3, S("04A1"), EDGEID_NO_FACILITY, &u, &found),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), NULL, 4, EDGEID_NO_FACILITY, &u, &found),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), bad_utf8, sizeof bad_utf8, EDGEID_NO_FACILITY,
                              &u, &found),
           EDGEID_ERR_UTF8);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), S("04A1"), EDGEID_NO_FACILITY, NULL, &found),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), S("04A1"), EDGEID_NO_FACILITY, &u, NULL),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_card(NULL, NULL, 0, S("csn"), S("04A1"), EDGEID_NO_FACILITY, &u, &found),
           EDGEID_ERR_NULL);

    /* Codes (examples of testdata/sync/README.md). */
    GARBLE();
    expect_user(edgeid_lookup_code(s, NULL, 0, S("482913"), &u, &found), &found, &u, "u-1001");
    GARBLE();
    expect_user(edgeid_lookup_code(s, S(LOC), S("550377"), &u, &found), &found, &u, "u-1003");
    GARBLE();
    found = true;
    expect_none(edgeid_lookup_code(s, NULL, 0, S("730015"), &u, &found), &found, &u); /* u-1002 */
    GARBLE();
    found = true;
    expect_none(edgeid_lookup_code(s, S("elsewhere"), S("482913"), &u, &found), &found, &u);
    /* A malformed code is refused, and the message never repeats it. */
    EXPECT(edgeid_lookup_code(s, NULL, 0, S("48a913"), &u, &found), EDGEID_ERR_INVALID);
    last_error(msg, sizeof msg);
    CHECK(strstr(msg, "48a913") == NULL);
    EXPECT(edgeid_lookup_code(s, NULL, 0, S("987"), &u, &found), EDGEID_ERR_INVALID);
    last_error(msg, sizeof msg);
    CHECK(strstr(msg, "987") == NULL && strstr(msg, "4..=12 digits") != NULL);
    EXPECT(edgeid_lookup_code(s, NULL, 0, S("1234567890123"), &u, &found), EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_code(s, NULL, 0, "48\xff" "913", 6, &u, &found), EDGEID_ERR_UTF8);
    last_error(msg, sizeof msg);
    CHECK(strstr(msg, "48") == NULL);
    EXPECT(edgeid_lookup_code(s, NULL, 0, NULL, 6, &u, &found), EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_code(s, NULL, 0, S("482913"), NULL, &found), EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_code(s, NULL, 0, S("482913"), &u, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_code(NULL, NULL, 0, S("482913"), &u, &found), EDGEID_ERR_NULL);

    match = false;
    EXPECT(edgeid_check_code(s, S(LOC), S("u-1001"), S("482913"), &match), EDGEID_OK);
    CHECK(match);
    match = true;
    EXPECT(edgeid_check_code(s, S(LOC), S("u-1003"), S("482913"), &match), EDGEID_OK);
    CHECK(!match);
    match = true;
    EXPECT(edgeid_check_code(s, S(LOC), S("u-1001"), S("000000"), &match), EDGEID_OK);
    CHECK(!match);
    match = true;
    EXPECT(edgeid_check_code(s, S("elsewhere"), S("u-1001"), S("482913"), &match), EDGEID_OK);
    CHECK(!match);
    EXPECT(edgeid_check_code(s, S(LOC), S("u-1001"), S("4829 3"), &match), EDGEID_ERR_INVALID);
    last_error(msg, sizeof msg);
    CHECK(strstr(msg, "4829") == NULL);
    EXPECT(edgeid_check_code(s, S(LOC), S(""), S("482913"), &match), EDGEID_ERR_INVALID);
    EXPECT(edgeid_check_code(s, NULL, 0, S("u-1001"), S("482913"), &match), EDGEID_ERR_NULL);
    EXPECT(edgeid_check_code(s, S(LOC), NULL, 0, S("482913"), &match), EDGEID_ERR_NULL);
    EXPECT(edgeid_check_code(s, S(LOC), S("u-1001"), NULL, 0, &match), EDGEID_ERR_NULL);
    EXPECT(edgeid_check_code(s, S(LOC), S("u-1001"), S("482913"), NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_check_code(NULL, S(LOC), S("u-1001"), S("482913"), &match), EDGEID_ERR_NULL);

    /* Plates: normalised (case, spaces, dashes, dots). */
    GARBLE();
    expect_user(edgeid_lookup_plate(s, NULL, 0, S("ab 123 c"), &u, &found), &found, &u, "u-1001");
    GARBLE();
    expect_user(edgeid_lookup_plate(s, S(LOC), S("GH-1906-N"), &u, &found), &found, &u, "u-1003");
    GARBLE();
    found = true;
    /* u-1002 was deleted, and its plate with it. */
    expect_none(edgeid_lookup_plate(s, NULL, 0, S("CB-42-X"), &u, &found), &found, &u);
    EXPECT(edgeid_lookup_plate(s, NULL, 0, S(" - . "), &u, &found), EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_plate(s, NULL, 0, S("AB/123"), &u, &found), EDGEID_ERR_INVALID);
    EXPECT(edgeid_lookup_plate(s, "\xc3", 1, S("AB123C"), &u, &found), EDGEID_ERR_UTF8);
    EXPECT(edgeid_lookup_plate(s, NULL, 0, NULL, 0, &u, &found), EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_plate(s, NULL, 0, S("AB123C"), NULL, &found), EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_plate(s, NULL, 0, S("AB123C"), &u, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_lookup_plate(NULL, NULL, 0, S("AB123C"), &u, &found), EDGEID_ERR_NULL);
#undef GARBLE
}

static void test_status_and_digest(edgeid_store *s) {
    const char *empty = "{\"format\":\"edgeid.delta/1\",\"location\":\"annex\",\"sequence\":7,"
                        "\"kind\":\"full\",\"changes\":[]}";
    edgeid_apply_result r;
    edgeid_location_status st[3];
    char digest[EDGEID_DIGEST_BUF];
    size_t n = 99;

    /* A second location, with nothing in it. */
    EXPECT(apply_text(s, empty, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && r.sequence == 7 && r.changes == 0);
    EXPECT(edgeid_digest(s, S("annex"), digest), EDGEID_OK);
    CHECK(strcmp(digest, DIGEST_EMPTY) == 0);

    /* Too small an array: the count, the first entries, and EDGEID_ERR_SIZE. */
    EXPECT(edgeid_sync_status(s, NULL, 0, &n), EDGEID_ERR_SIZE);
    CHECK(n == 2);
    memset(st, 0x5a, sizeof st);
    n = 0;
    EXPECT(edgeid_sync_status(s, st, 1, &n), EDGEID_ERR_SIZE);
    CHECK(n == 2);
    CHECK(strcmp(st[0].location_id, "annex") == 0 && st[0].sequence == 7 && st[0].users == 0);
    CHECK(((unsigned char *)&st[1])[0] == 0x5a);
    n = 0;
    EXPECT(edgeid_sync_status(s, st, 3, &n), EDGEID_OK);
    CHECK(n == 2);
    CHECK(strcmp(st[0].location_id, "annex") == 0 && strcmp(st[0].digest, DIGEST_EMPTY) == 0);
    CHECK(strcmp(st[1].location_id, LOC) == 0 && strcmp(st[1].digest, DIGEST_AFTER_02) == 0);
    CHECK(st[1].sequence == 42 && st[1].users == 2 && st[1].faces == 3 && st[1].fingers == 1);
    CHECK(((unsigned char *)&st[2])[0] == 0x5a);

    EXPECT(edgeid_sync_status(s, NULL, 2, &n), EDGEID_ERR_NULL);
    EXPECT(edgeid_sync_status(s, st, 3, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_sync_status(NULL, st, 3, &n), EDGEID_ERR_NULL);
    EXPECT(edgeid_digest(s, S("nowhere"), digest), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_digest(s, S(""), digest), EDGEID_ERR_INVALID);
    EXPECT(edgeid_digest(s, "\xe2\x82", 2, digest), EDGEID_ERR_UTF8);
    EXPECT(edgeid_digest(s, NULL, 0, digest), EDGEID_ERR_NULL);
    EXPECT(edgeid_digest(s, S(LOC), NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_digest(NULL, S(LOC), digest), EDGEID_ERR_NULL);
}

/* A delta for the faces of another model is refused as invalid. */
static void test_other_model(void) {
    char dir[4200];
    struct bytes d = read_delta("01-full.json");
    edgeid_store *other = NULL;
    edgeid_open_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    snprintf(dir, sizeof dir, "%s-other-model", store_dir);
    EXPECT(edgeid_create(S(dir), S("arcface-r100"), DIM, &o, &other), EDGEID_OK);
    refused(other, d.data, d.len, EDGEID_REFUSAL_INVALID, "model", "", 0);
    EXPECT(edgeid_close(other), EDGEID_OK);
    free(d.data);
}

/* Closed handles; then reopening finds everything applied (durable). */
static edgeid_store *test_closed_and_reopen(edgeid_store *s) {
    struct bytes d = read_delta("02-changes.json");
    edgeid_apply_result r = new_result();
    edgeid_user_ref u;
    edgeid_open_options o;
    char digest[EDGEID_DIGEST_BUF];
    bool found = false;
    size_t n;

    EXPECT(edgeid_close(s), EDGEID_OK);
    EXPECT(edgeid_apply_delta(s, d.data, d.len, NULL, NULL, &r), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_sync_status(s, NULL, 0, &n), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_digest(s, S(LOC), digest), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), S("04A1"), EDGEID_NO_FACILITY, &u, &found),
           EDGEID_ERR_CLOSED);
    EXPECT(edgeid_lookup_code(s, NULL, 0, S("482913"), &u, &found), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_check_code(s, S(LOC), S("u-1001"), S("482913"), &found), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_lookup_plate(s, NULL, 0, S("AB123C"), &u, &found), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_digest((edgeid_store *)(uintptr_t)0x7fff0000, S(LOC), digest),
           EDGEID_ERR_CLOSED);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = one_thread_only ? 1 : 2;
    s = NULL;
    EXPECT(edgeid_open(S(store_dir), &o, &s), EDGEID_OK);
    EXPECT(edgeid_digest(s, S(LOC), digest), EDGEID_OK);
    CHECK(strcmp(digest, DIGEST_AFTER_02) == 0);
    r = new_result();
    EXPECT(edgeid_apply_delta(s, d.data, d.len, NULL, NULL, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_ALREADY_APPLIED);
    EXPECT(edgeid_lookup_plate(s, NULL, 0, S("AB123C"), &u, &found), EDGEID_OK);
    CHECK(found && strcmp(u.user_id, "u-1001") == 0);
    free(d.data);
    return s;
}

/* ---- concurrency: identify and look up while another thread applies deltas ------------------ */

static edgeid_store *shared;
static int iterations;

struct worker {
    int id;
    int calls;
    int wrong;
    char first_error[256];
};

static void note_wrong(struct worker *w, const char *what, edgeid_status st) {
    w->wrong++;
    if (w->first_error[0] == 0) {
        char msg[160];
        last_error(msg, sizeof msg);
        snprintf(w->first_error, sizeof w->first_error, "%s: %s (%s)", what,
                 edgeid_status_str(st), msg);
    }
}

static void stable_name(char *buf, size_t n, int u) {
    snprintf(buf, n, "stable-%02d", u);
}

static void *reader(void *arg) {
    struct worker *w = arg;
    float probe[DIM];
    edgeid_hit hits[2];
    edgeid_user_ref u;
    edgeid_location_status st[4];
    char want[32];
    uint64_t last_seq = 0;
    size_t n;
    bool found;
    int i;
    for (i = 0; i < iterations * 3; i++) {
        int k = (i * 5 + w->id * 7) % STABLE;
        edgeid_status rc;
        make_vec(probe, DIM, 7000 + k);
        stable_name(want, sizeof want, k);
        rc = edgeid_face_identify(shared, probe, DIM, NULL, 0, EDGEID_ANY_SCORE, hits, 2, &n);
        w->calls++;
        if (rc != EDGEID_OK) {
            note_wrong(w, "identify", rc);
        } else if (n < 1 || strcmp(hits[0].user_id, want) != 0 || hits[0].score < 0.9999) {
            note_wrong(w, "identify found someone else", rc);
        }
        /* hq-amsterdam is not touched by the deltas applied meanwhile. */
        rc = edgeid_lookup_plate(shared, NULL, 0, S("ab 123 c"), &u, &found);
        w->calls++;
        if (rc != EDGEID_OK || !found || strcmp(u.user_id, "u-1001") != 0) {
            note_wrong(w, "lookup_plate", rc);
        }
        /* The generated location's sequence only ever grows. */
        rc = edgeid_sync_status(shared, st, 4, &n);
        w->calls++;
        if (rc != EDGEID_OK) {
            note_wrong(w, "sync_status", rc);
        } else {
            size_t j;
            for (j = 0; j < n; j++) {
                if (strcmp(st[j].location_id, "gen") == 0) {
                    if (st[j].sequence < last_seq || st[j].users != 1 || st[j].faces != 1) {
                        note_wrong(w, "sync_status went backwards or is half-applied", rc);
                    }
                    last_seq = st[j].sequence;
                }
            }
        }
    }
    return NULL;
}

static void *applier(void *arg) {
    struct worker *w = arg;
    char *json = malloc(8192);
    edgeid_apply_result r;
    edgeid_user_ref u;
    bool found;
    char card[16];
    int i;
    for (i = 2; i <= iterations; i++) {
        edgeid_status rc;
        gen_delta(json, 8192, "gen", (unsigned)i, 90000 + (uint32_t)i);
        rc = apply_text(shared, json, &r);
        w->calls++;
        if (rc != EDGEID_OK || r.outcome != EDGEID_OUTCOME_APPLIED || r.sequence != (uint64_t)i) {
            note_wrong(w, "apply", rc);
        }
        snprintf(card, sizeof card, "0A%04X", (unsigned)i);
        rc = edgeid_lookup_card(shared, S("gen"), S("csn"), S(card), EDGEID_NO_FACILITY, &u,
                                &found);
        w->calls++;
        if (rc != EDGEID_OK || !found || (unsigned)atoi(u.user_id + 2) != (unsigned)i) {
            note_wrong(w, "lookup_card of the user just applied", rc);
        }
    }
    free(json);
    return NULL;
}

static void report(struct worker *w, const char *role) {
    CHECK(w->wrong == 0);
    if (w->wrong != 0) {
        fprintf(stderr, "%s %d: %d wrong of %d calls; first: %s\n", role, w->id, w->wrong,
                w->calls, w->first_error);
    }
}

static void test_concurrency(edgeid_store *s) {
    pthread_t th[READERS + 1];
    struct worker ws[READERS + 1];
    char name[32];
    float v[DIM];
    char *json = malloc(8192);
    edgeid_apply_result r;
    edgeid_location_status st;
    int i;

    shared = s;
    for (i = 0; i < STABLE; i++) {
        stable_name(name, sizeof name, i);
        make_vec(v, DIM, 7000 + i);
        EXPECT(edgeid_face_put(s, S("lobby"), S(name), S("t"), v, DIM, NULL), EDGEID_OK);
    }
    /* The first generated delta before the threads start, so "gen" always has one user. */
    gen_delta(json, 8192, "gen", 1, 90001);
    EXPECT(apply_text(s, json, &r), EDGEID_OK);
    free(json);

    memset(ws, 0, sizeof ws);
    for (i = 0; i <= READERS; i++) {
        ws[i].id = i;
    }
    /* The applier goes on from sequence 2. */
    CHECK(pthread_create(&th[READERS], NULL, applier, &ws[READERS]) == 0);
    for (i = 0; i < READERS; i++) {
        CHECK(pthread_create(&th[i], NULL, reader, &ws[i]) == 0);
    }
    for (i = 0; i <= READERS; i++) {
        pthread_join(th[i], NULL);
        report(&ws[i], i < READERS ? "reader" : "applier");
    }
    st = status_of(s, "gen");
    CHECK(st.sequence == (uint64_t)iterations && st.users == 1 && st.faces == 1);
}

/* ---- signed deltas (testdata/sync/signed) ---------------------------------------------------- */

static const uint8_t PLATFORM_1[32] = {
    0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd, 0x18, 0xe7, 0x4b, 0xc0, 0x99,
    0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5, 0x0d, 0x5f, 0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8};
static const uint8_t PLATFORM_2[32] = {
    0x29, 0xac, 0xba, 0xe1, 0x41, 0xbc, 0xca, 0xf0, 0xb2, 0x2e, 0x1a, 0x94, 0xd3, 0x4d, 0x0b, 0xc7,
    0x36, 0x1e, 0x52, 0x6d, 0x0b, 0xfe, 0x12, 0xc8, 0x97, 0x94, 0xbc, 0x93, 0x22, 0x96, 0x6d, 0xd7};

/* Applies signed/NAME with signed/SIG (NULL: unsigned); returns the status, fills `r`. */
static edgeid_status apply_signed(edgeid_store *s, const char *name, const char *sig,
                                  edgeid_apply_result *r) {
    char path[512];
    struct bytes d, e = {NULL, 0};
    edgeid_status st;
    snprintf(path, sizeof path, "signed/%s", name);
    d = read_delta(path);
    if (sig != NULL) {
        snprintf(path, sizeof path, "signed/%s", sig);
        e = read_delta(path);
    }
    *r = new_result();
    st = edgeid_apply_delta_signed(s, d.data, d.len, e.data, e.len, NULL, NULL, r);
    free(d.data);
    free(e.data);
    return st;
}

static void test_signed(const char *scratch) {
    edgeid_store *s = NULL;
    edgeid_open_options o;
    edgeid_apply_result r;
    uint8_t keys[2 * 32];
    size_t n = 99;
    bool flag = false, req = true;
    char dir[4200];
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    snprintf(dir, sizeof dir, "%s/signed-store", scratch);
    EXPECT(edgeid_create(S(dir), S(MODEL), DIM, &o, &s), EDGEID_OK);
    if (s == NULL) {
        return;
    }
    CHECK(EDGEID_REFUSAL_SIGNATURE == 9 && EDGEID_REFUSAL_TOO_LARGE == 8); /* appended */
    /* Nothing trusted yet. */
    EXPECT(edgeid_signing_keys(s, S(LOC), NULL, 0, &n, &req), EDGEID_OK);
    CHECK(n == 0 && !req);
    /* A signature whose key no location trusts. */
    EXPECT(apply_signed(s, "01-full.json", "01-full.json.sig", &r), EDGEID_ERR_REFUSED);
    CHECK(r.outcome == EDGEID_OUTCOME_REFUSED && r.refusal == EDGEID_REFUSAL_SIGNATURE);
    /* Provision platform-1 and require signatures. */
    EXPECT(edgeid_signing_key_add(s, S(LOC), PLATFORM_1, &flag), EDGEID_OK);
    CHECK(flag);
    EXPECT(edgeid_signing_key_add(s, S(LOC), PLATFORM_1, &flag), EDGEID_OK);
    CHECK(!flag);
    EXPECT(edgeid_require_signatures(s, S(LOC), true), EDGEID_OK);
    /* Unsigned: refused; NULL signature with a length: an argument error. */
    EXPECT(apply_signed(s, "01-full.json", NULL, &r), EDGEID_ERR_REFUSED);
    CHECK(r.refusal == EDGEID_REFUSAL_SIGNATURE);
    r = new_result();
    EXPECT(edgeid_apply_delta_signed(s, (const uint8_t *)"{}", 2, NULL, 5, NULL, NULL, &r),
           EDGEID_ERR_NULL);
    /* Signed: applied, then the rotation, then a delta signed by the new key. */
    EXPECT(apply_signed(s, "01-full.json", "01-full.json.sig", &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && r.sequence == 1);
    EXPECT(apply_signed(s, "03-changes.json", "03-changes.json.sig", &r), EDGEID_ERR_REFUSED);
    CHECK(r.refusal == EDGEID_REFUSAL_SIGNATURE);
    EXPECT(apply_signed(s, "02-rotate.json", "02-rotate.json.sig", &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && r.sequence == 2);
    EXPECT(apply_signed(s, "05-tampered.json", "05-tampered.json.sig", &r), EDGEID_ERR_REFUSED);
    CHECK(r.refusal == EDGEID_REFUSAL_SIGNATURE);
    EXPECT(apply_signed(s, "03-changes.json", "03-changes.json.sig", &r), EDGEID_OK);
    CHECK(r.sequence == 3);
    EXPECT(apply_signed(s, "04-old-key.json", "04-old-key.json.sig", &r), EDGEID_ERR_REFUSED);
    CHECK(r.refusal == EDGEID_REFUSAL_SIGNATURE);
    CHECK(status_of(s, LOC).sequence == 3);
    /* The keys now: platform-2 only, still required. */
    EXPECT(edgeid_signing_keys(s, S(LOC), keys, 2, &n, &req), EDGEID_OK);
    CHECK(n == 1 && req && memcmp(keys, PLATFORM_2, 32) == 0);
    EXPECT(edgeid_signing_keys(s, S(LOC), keys, 0, &n, NULL), EDGEID_ERR_SIZE);
    CHECK(n == 1);
    EXPECT(edgeid_signing_key_remove(s, S(LOC), PLATFORM_1, &flag), EDGEID_OK);
    CHECK(!flag);
    EXPECT(edgeid_signing_key_remove(s, S(LOC), PLATFORM_2, &flag), EDGEID_OK);
    CHECK(flag);
    /* Not a key: the identity point (small order). */
    {
        uint8_t weak[32] = {1};
        EXPECT(edgeid_signing_key_add(s, S(LOC), weak, NULL), EDGEID_ERR_INVALID);
    }
    EXPECT(edgeid_signing_key_add(s, S(LOC), NULL, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_close(s), EDGEID_OK);
}

int main(int argc, char **argv) {
    edgeid_store *s;
    if (argc != 4) {
        fprintf(stderr, "usage: %s SCRATCH_DIR TESTDATA_SYNC_DIR ITERATIONS\n", argv[0]);
        return 2;
    }
    snprintf(store_dir, sizeof store_dir, "%s/sync-store", argv[1]);
    snprintf(data_dir, sizeof data_dir, "%s", argv[2]);
    iterations = atoi(argv[3]);
    one_thread_only = getenv("EDGEID_TEST_ONE_THREAD") != NULL;
    printf("sync_test: libedgeid %s, kernel %s\n", edgeid_version(), edgeid_kernel_name());

    CHECK(strcmp(edgeid_status_str(EDGEID_ERR_REFUSED), edgeid_status_str(EDGEID_ERR_OTHER)) != 0);
    CHECK(strncmp(edgeid_status_str(EDGEID_ERR_REFUSED), "EDGEID_ERR_REFUSED", 18) == 0);
    CHECK(EDGEID_ERR_REFUSED == 19 && EDGEID_ERR_OTHER == 18); /* appended, nothing renumbered */

    s = open_store();
    if (s == NULL) {
        return finish("sync_test");
    }
    test_before_any_delta(s);
    test_apply_examples(s);
    test_refusals(s);
    test_lookups(s);
    test_status_and_digest(s);
    test_other_model();
    test_signed(argv[1]);
    s = test_closed_and_reopen(s);
    if (iterations > 0 && !one_thread_only) {
        test_concurrency(s);
    }
    EXPECT(edgeid_close(s), EDGEID_OK);
    /* Closing a store tells its search threads to stop but does not wait for them to exit; give
     * them a moment so valgrind does not see them mid-exit (see valgrind.supp). */
    usleep(100 * 1000);
    return finish("sync_test");
}
