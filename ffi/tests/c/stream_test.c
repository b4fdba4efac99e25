/*
 * Streamed deltas through the C API: edgeid_apply_delta_file and edgeid_apply_delta_stream.
 * Applied (the same sync state and digests as edgeid_apply_delta), already applied, refused
 * (conflict, bad JSON in the middle of the changes: nothing changed), cancelled at the first and
 * at the last progress report (nothing applied), a missing file, a read callback that fails or
 * returns too much, and every argument error.
 * Usage: stream_test SCRATCH_DIR TESTDATA_SYNC_DIR   (SCRATCH_DIR must exist and be empty)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* testdata/sync/expected.json */
static const char *const DIGEST_01 =
    "127432b2b4904ee6398652fe8aad502285339aeebcf3f460a6c27c452828654c";
static const char *const DIGEST_02 =
    "69ae8100a3b7e5a0a0f0ea63426117a87b6e43f088f25e05609bef8357339939";

/* The user_data of the read and progress callbacks. */
typedef struct {
    /* read: `data` handed out `step` bytes at a time; -1 once `fail_at` bytes were given (if
     * fail_at > 0); cap + 1 on the first call if `overfill`. */
    const unsigned char *data;
    size_t len, pos, step, fail_at;
    int overfill;
    /* progress: the reports seen; cancel at the first report, or at a validating report with
     * done == cancel_done (if > 0). */
    int reports, committing_at, cancel_first;
    size_t cancel_done, last_done, last_total;
} ctx;

static ptrdiff_t read_cb(void *user_data, uint8_t *buf, size_t cap) {
    ctx *c = user_data;
    size_t n = c->len - c->pos;
    if (c->overfill) {
        return (ptrdiff_t)cap + 1;
    }
    if (c->fail_at > 0 && c->pos >= c->fail_at) {
        return -1;
    }
    if (n > c->step) {
        n = c->step;
    }
    if (n > cap) {
        n = cap;
    }
    memcpy(buf, c->data + c->pos, n);
    c->pos += n;
    return (ptrdiff_t)n;
}

static int progress_cb(void *user_data, edgeid_progress_stage stage, size_t done, size_t total) {
    ctx *c = user_data;
    c->reports++;
    if (stage == EDGEID_PROGRESS_COMMITTING) {
        c->committing_at = c->reports;
    } else {
        c->last_done = done;
        c->last_total = total;
    }
    if (c->cancel_first) {
        return 1;
    }
    return c->cancel_done > 0 && stage == EDGEID_PROGRESS_VALIDATING && done == c->cancel_done;
}

static unsigned char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static edgeid_store *create(const char *scratch, const char *name) {
    char dir[4096];
    edgeid_store *s = NULL;
    edgeid_open_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    snprintf(dir, sizeof dir, "%s/%s", scratch, name);
    EXPECT(edgeid_create(S(dir), S("w600k_mbf"), 512, &o, &s), EDGEID_OK);
    return s;
}

/* The location's sequence (0: never synchronised) and digest ("" then). */
static uint64_t state(edgeid_store *s, char digest[EDGEID_DIGEST_BUF]) {
    edgeid_location_status st[2];
    size_t n = 0;
    digest[0] = 0;
    EXPECT(edgeid_sync_status(s, st, 2, &n), EDGEID_OK);
    if (n == 0) {
        return 0;
    }
    CHECK(n == 1 && strcmp(st[0].location_id, "hq-amsterdam") == 0);
    memcpy(digest, st[0].digest, EDGEID_DIGEST_BUF);
    return st[0].sequence;
}

static edgeid_apply_result fresh_result(void) {
    edgeid_apply_result r;
    memset(&r, 0xAB, sizeof r);
    r.size = sizeof r;
    return r;
}

static edgeid_status apply_file(edgeid_store *s, const char *dir, const char *name, ctx *c,
                                edgeid_apply_result *r) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *r = fresh_result();
    return edgeid_apply_delta_file(s, S(path), progress_cb, c, r);
}

static edgeid_status apply_stream(edgeid_store *s, ctx *c, edgeid_apply_result *r) {
    *r = fresh_result();
    return edgeid_apply_delta_stream(s, read_cb, progress_cb, c, r);
}

int main(int argc, char **argv) {
    edgeid_store *s, *t;
    edgeid_apply_result r;
    edgeid_user_ref u;
    bool found;
    ctx c;
    char digest[EDGEID_DIGEST_BUF], path[8192], msg[1024];
    unsigned char *d02;
    size_t d02_len;
    const char *dir;
    static const char bad_json[] =
        "{\"format\":\"edgeid.delta/1\",\"location\":\"hq-amsterdam\",\"sequence\":43,"
        "\"kind\":\"changes\",\"changes\":[{\"op\":\"delete_user\",\"id\":\"u-1001\"},"
        "{\"op\":\"delete_user\",\"id\":]}";
    if (argc != 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR TESTDATA_SYNC_DIR\n", argv[0]);
        return 2;
    }
    (void)make_vec;
    dir = argv[2];
    s = create(argv[1], "file-store");

    /* Applied from a file: the committing report first, then the changes read (total unknown). */
    memset(&c, 0, sizeof c);
    EXPECT(apply_file(s, dir, "01-full.json", &c, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && r.refusal == EDGEID_REFUSAL_NONE);
    CHECK(r.sequence == 41 && r.changes == 5 && r.location_id_len == 12);
    CHECK(strcmp(r.location_id, "hq-amsterdam") == 0);
    CHECK(c.committing_at == 1 && c.reports >= 2 && c.last_done == 5 && c.last_total == 0);
    CHECK(state(s, digest) == 41 && strcmp(digest, DIGEST_01) == 0);

    /* The same file again: already applied, nothing changed. */
    memset(&c, 0, sizeof c);
    EXPECT(apply_file(s, dir, "01-full.json", &c, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_ALREADY_APPLIED && r.sequence == 41 && r.changes == 0);
    CHECK(c.committing_at == 0);
    CHECK(state(s, digest) == 41 && strcmp(digest, DIGEST_01) == 0);

    /* From a read callback, 7 bytes at a time: the same state as edgeid_apply_delta gives. */
    snprintf(path, sizeof path, "%s/02-changes.json", dir);
    d02 = read_whole(path, &d02_len);
    memset(&c, 0, sizeof c);
    c.data = d02;
    c.len = d02_len;
    c.step = 7;
    EXPECT(apply_stream(s, &c, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && r.sequence == 42 && r.changes == 4);
    CHECK(c.pos == d02_len && c.last_done == 4);
    CHECK(state(s, digest) == 42 && strcmp(digest, DIGEST_02) == 0);
    t = create(argv[1], "buffer-store");
    {
        size_t n01;
        unsigned char *d01;
        snprintf(path, sizeof path, "%s/01-full.json", dir);
        d01 = read_whole(path, &n01);
        r = fresh_result();
        EXPECT(edgeid_apply_delta(t, d01, n01, NULL, NULL, &r), EDGEID_OK);
        r = fresh_result();
        EXPECT(edgeid_apply_delta(t, d02, d02_len, NULL, NULL, &r), EDGEID_OK);
        free(d01);
    }
    {
        char other[EDGEID_DIGEST_BUF];
        CHECK(state(t, other) == 42 && strcmp(other, digest) == 0);
    }
    edgeid_close(t);

    /* Refused: a conflicting re-send, a gap; nothing changed. */
    memset(&c, 0, sizeof c);
    EXPECT(apply_file(s, dir, "04-conflict.json", &c, &r), EDGEID_ERR_REFUSED);
    CHECK(r.outcome == EDGEID_OUTCOME_REFUSED && r.refusal == EDGEID_REFUSAL_CONFLICT);
    CHECK(r.sequence == 42 && strcmp(r.location_id, "hq-amsterdam") == 0);
    memset(&c, 0, sizeof c);
    EXPECT(apply_file(s, dir, "03-gap.json", &c, &r), EDGEID_ERR_REFUSED);
    CHECK(r.refusal == EDGEID_REFUSAL_GAP && r.sequence == 44);
    /* A bad embedding in the second change. */
    memset(&c, 0, sizeof c);
    EXPECT(apply_file(s, dir, "05-bad-embedding.json", &c, &r), EDGEID_ERR_REFUSED);
    CHECK(r.refusal == EDGEID_REFUSAL_INVALID && c.committing_at == 1);
    edgeid_last_error_message(msg, sizeof msg);
    CHECK(strstr(msg, "changes[1]") != NULL);
    CHECK(state(s, digest) == 42 && strcmp(digest, DIGEST_02) == 0);

    /* Bad JSON in the middle of the changes, after a valid one: refused, u-1001 still there. */
    memset(&c, 0, sizeof c);
    c.data = (const unsigned char *)bad_json;
    c.len = strlen(bad_json);
    c.step = 64;
    EXPECT(apply_stream(s, &c, &r), EDGEID_ERR_REFUSED);
    CHECK(r.outcome == EDGEID_OUTCOME_REFUSED && r.refusal == EDGEID_REFUSAL_PARSE);
    CHECK(c.committing_at == 1);
    CHECK(state(s, digest) == 42 && strcmp(digest, DIGEST_02) == 0);
    EXPECT(edgeid_lookup_card(s, NULL, 0, S("csn"), S("04A1B2C3D4E5F6"), EDGEID_NO_FACILITY, &u,
                              &found),
           EDGEID_OK);
    CHECK(found && strcmp(u.user_id, "u-1001") == 0);

    /* A read callback that fails half-way, or returns more than it was given room for. */
    memset(&c, 0, sizeof c);
    c.data = d02;
    c.len = d02_len;
    c.step = 100;
    c.fail_at = d02_len / 2;
    r = fresh_result();
    {
        /* 02 again would be already applied: the failure comes first. */
        EXPECT(apply_stream(s, &c, &r), EDGEID_ERR_IO);
        CHECK(r.outcome == EDGEID_OUTCOME_NONE);
        edgeid_last_error_message(msg, sizeof msg);
        CHECK(strstr(msg, "read callback returned -1") != NULL);
    }
    memset(&c, 0, sizeof c);
    c.overfill = 1;
    EXPECT(apply_stream(s, &c, &r), EDGEID_ERR_IO);
    CHECK(r.outcome == EDGEID_OUTCOME_NONE);
    CHECK(state(s, digest) == 42 && strcmp(digest, DIGEST_02) == 0);

    /* A missing file: an I/O error naming it. */
    memset(&c, 0, sizeof c);
    EXPECT(apply_file(s, dir, "no-such-delta.json", &c, &r), EDGEID_ERR_IO);
    CHECK(r.outcome == EDGEID_OUTCOME_NONE && c.reports == 0);
    edgeid_last_error_message(msg, sizeof msg);
    CHECK(strstr(msg, "no-such-delta.json") != NULL);
    edgeid_close(s);

    /* Cancelled at the first report, and at the last (the whole file read): nothing applied. */
    s = create(argv[1], "cancel-store");
    memset(&c, 0, sizeof c);
    c.cancel_first = 1;
    EXPECT(apply_file(s, dir, "01-full.json", &c, &r), EDGEID_ERR_CANCELLED);
    CHECK(r.outcome == EDGEID_OUTCOME_NONE && c.reports == 1 && c.committing_at == 1);
    CHECK(state(s, digest) == 0);
    memset(&c, 0, sizeof c);
    c.cancel_done = 5;
    EXPECT(apply_file(s, dir, "01-full.json", &c, &r), EDGEID_ERR_CANCELLED);
    CHECK(r.outcome == EDGEID_OUTCOME_NONE && c.last_done == 5);
    CHECK(state(s, digest) == 0);
    /* Sent again, it applies. */
    memset(&c, 0, sizeof c);
    EXPECT(apply_file(s, dir, "01-full.json", &c, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_APPLIED && state(s, digest) == 41);

    /* Argument errors; a NULL progress callback is allowed. */
    snprintf(path, sizeof path, "%s/01-full.json", dir);
    r = fresh_result();
    EXPECT(edgeid_apply_delta_file(s, S(path), NULL, NULL, &r), EDGEID_OK);
    CHECK(r.outcome == EDGEID_OUTCOME_ALREADY_APPLIED);
    r = fresh_result();
    EXPECT(edgeid_apply_delta_file(s, NULL, 5, NULL, NULL, &r), EDGEID_ERR_NULL);
    CHECK(r.outcome == EDGEID_OUTCOME_NONE);
    EXPECT(edgeid_apply_delta_file(s, "\xff\xfe", 2, NULL, NULL, &r), EDGEID_ERR_UTF8);
    EXPECT(edgeid_apply_delta_file(s, S(path), NULL, NULL, NULL), EDGEID_ERR_NULL);
    r.size = 8;
    EXPECT(edgeid_apply_delta_file(s, S(path), NULL, NULL, &r), EDGEID_ERR_SIZE);
    r = fresh_result();
    EXPECT(edgeid_apply_delta_stream(s, NULL, NULL, NULL, &r), EDGEID_ERR_NULL);
    CHECK(r.outcome == EDGEID_OUTCOME_NONE);
    EXPECT(edgeid_apply_delta_stream(s, read_cb, NULL, &c, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_apply_delta_file(NULL, S(path), NULL, NULL, &r), EDGEID_ERR_NULL);
    edgeid_close(s);
    EXPECT(edgeid_apply_delta_file(s, S(path), NULL, NULL, &r), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_apply_delta_stream(s, read_cb, NULL, &c, &r), EDGEID_ERR_CLOSED);
    free(d02);
    return finish("stream_test");
}
