/*
 * The fingerprint functions of the edgeid C API and their error paths, single-threaded, with real
 * minutiae records (FVC2002 DB1_B, ISO/IEC 19794-2:2005 records made by NIST mindtct).
 * Usage: finger_test SCRATCH_DIR FINGERPRINT_TESTDATA_DIR
 *   (SCRATCH_DIR must exist and be empty; the testdata dir is the repository's
 *   testdata/fingerprint)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define DIM 64
#define MODEL "finger-test-model"

#if UINTPTR_MAX == 0xffffffffffffffffu
typedef char check_finger_hit_size[sizeof(edgeid_finger_hit) == 232 ? 1 : -1];
typedef char check_stats_size[sizeof(edgeid_stats) == 136 ? 1 : -1];
#endif
typedef char check_stats_v1[offsetof(edgeid_stats, fingers) == EDGEID_STATS_SIZE_V1 ? 1 : -1];

static char store_dir[4096];
static const char *data_dir;
static int one_thread_only;

/* A record read from the test data. */
typedef struct {
    uint8_t *bytes;
    size_t len;
} rec;

/* The records the tests use, read once, freed at the end. */
static rec r101_1, r101_2, r101_3, r102_1, r102_2, r103_1, r104_1, r105_1, r105_2, r106_1;
static rec truncated, ansi_example, iso_example;
static uint8_t *two_views; /* 101_1 as finger 2 and 102_1 as finger 7, in one record */
static size_t two_views_len;

static rec load(const char *rel) {
    char path[4096];
    rec r = {NULL, 0};
    FILE *f;
    long n;
    snprintf(path, sizeof path, "%s/%s", data_dir, rel);
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        checks_failed++;
        return r;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        r.bytes = malloc((size_t)n);
        if (r.bytes != NULL && fread(r.bytes, 1, (size_t)n, f) == (size_t)n) {
            r.len = (size_t)n;
        }
    }
    fclose(f);
    CHECK(r.len > 0);
    return r;
}

static rec db1(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "fvc2002/DB1_B/mindtct/%s.iso", name);
    return load(rel);
}

/* Builds an ISO/IEC 19794-2:2005 record with two finger views (positions 2 and 7) from the single
 * views of two records of the same sensor: header of `a` (24 bytes: 4 magic, 4 version, 4 length,
 * 2 equipment, 2 width, 2 height, 2 + 2 resolution, 1 view count, 1 reserved), then each view
 * block (position, view number, quality, count, 6 bytes per minutia, 2-byte extended length). */
static void make_two_views(const rec *a, const rec *b) {
    size_t va = a->len - 24, vb = b->len - 24, n = 24 + va + vb;
    two_views = malloc(n);
    CHECK(two_views != NULL && a->len > 24 && b->len > 24);
    if (two_views == NULL) {
        return;
    }
    memcpy(two_views, a->bytes, 24);
    memcpy(two_views + 24, a->bytes + 24, va);
    memcpy(two_views + 24 + va, b->bytes + 24, vb);
    two_views[8] = (uint8_t)(n >> 24);
    two_views[9] = (uint8_t)(n >> 16);
    two_views[10] = (uint8_t)(n >> 8);
    two_views[11] = (uint8_t)n;
    two_views[22] = 2;         /* views */
    two_views[24] = 2;         /* first view: right index finger */
    two_views[24 + va] = 7;    /* second view: left index finger */
    two_views[24 + va + 1] = 0;
    two_views_len = n;
}

static void load_all(void) {
    r101_1 = db1("101_1");
    r101_2 = db1("101_2");
    r101_3 = db1("101_3");
    r102_1 = db1("102_1");
    r102_2 = db1("102_2");
    r103_1 = db1("103_1");
    r104_1 = db1("104_1");
    r105_1 = db1("105_1");
    r105_2 = db1("105_2");
    r106_1 = db1("106_1");
    truncated = load("invalid/101_1_truncate_1_byte.iso");
    ansi_example = load("standard-examples/ANSI-INCITS-378_2004_Appendix-B2_Example.raw");
    iso_example = load("standard-examples/ISO-19794-2_2005_Appendix-C2_Example.raw");
    make_two_views(&r101_1, &r102_1);
}

static void free_all(void) {
    rec *all[] = {&r101_1, &r101_2, &r101_3, &r102_1, &r102_2, &r103_1, &r104_1,
                  &r105_1, &r105_2, &r106_1, &truncated, &ansi_example, &iso_example};
    size_t i;
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]->bytes);
        all[i]->bytes = NULL;
    }
    free(two_views);
}

/* The record as the (pointer, length) pair the API takes. */
#define R(r) (r).bytes, (r).len

static double threshold_1e4;

static int last_message_contains(const char *what) {
    char msg[1024];
    edgeid_last_error_message(msg, sizeof msg);
    if (strstr(msg, what) == NULL) {
        fprintf(stderr, "last error message lacks \"%s\": %s\n", what, msg);
        return 0;
    }
    return 1;
}

static void test_calibration(void) {
    double t6 = 0, t4 = 0, t2 = 0, fmr = 0;
    EXPECT(edgeid_finger_threshold_for_fmr(1e-4, &threshold_1e4), EDGEID_OK);
    EXPECT(edgeid_finger_threshold_for_fmr(EDGEID_FINGER_FMR_MIN, &t6), EDGEID_OK);
    EXPECT(edgeid_finger_threshold_for_fmr(1e-2, &t2), EDGEID_OK);
    EXPECT(edgeid_finger_threshold_for_fmr(EDGEID_FINGER_FMR_MAX, &t4), EDGEID_OK);
    CHECK(threshold_1e4 > 0.0 && threshold_1e4 < 1.0);
    CHECK(t6 > threshold_1e4 && threshold_1e4 > t2 && t2 > t4);
    printf("finger_test: threshold at FMR 1e-4 = %.6f, 1e-6 = %.6f\n", threshold_1e4, t6);

    /* The way back: the FMR of the 1e-4 threshold is 1e-4 (up to the float rounding). */
    EXPECT(edgeid_finger_fmr_for_score(threshold_1e4, &fmr), EDGEID_OK);
    CHECK(fmr > 0.9e-4 && fmr < 1.1e-4);
    EXPECT(edgeid_finger_fmr_for_score(0.0, &fmr), EDGEID_OK);
    CHECK(fmr == EDGEID_FINGER_FMR_MAX);
    EXPECT(edgeid_finger_fmr_for_score(1.0, &fmr), EDGEID_OK);
    CHECK(fmr == EDGEID_FINGER_FMR_MIN);

    /* Outside the calibrated range, or not a number. */
    t4 = 42.0;
    EXPECT(edgeid_finger_threshold_for_fmr(1e-7, &t4), EDGEID_ERR_INVALID);
    CHECK(last_message_contains("calibrated range"));
    EXPECT(edgeid_finger_threshold_for_fmr(0.5, &t4), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_threshold_for_fmr(0.0, &t4), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_threshold_for_fmr(-1e-4, &t4), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_threshold_for_fmr(NAN, &t4), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_threshold_for_fmr(INFINITY, &t4), EDGEID_ERR_INVALID);
    CHECK(t4 == 42.0);
    EXPECT(edgeid_finger_threshold_for_fmr(1e-4, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_fmr_for_score(NAN, &fmr), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_fmr_for_score(-INFINITY, &fmr), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_fmr_for_score(0.5, NULL), EDGEID_ERR_NULL);
}

/* Shorthands for the compare tests: a record with its format and the position "from the record". */
#define ANY EDGEID_FINGER_FORMAT_DETECT, EDGEID_FINGER_POSITION_FROM_RECORD
#define ISO EDGEID_FINGER_FORMAT_ISO2005, EDGEID_FINGER_POSITION_FROM_RECORD

static void test_compare(void) {
    double same = 0, genuine = 0, impostor = 1, score = 0, other = 0;
    const uint8_t one_byte[1] = {0x46};

    EXPECT(edgeid_finger_compare(R(r101_1), ANY, R(r101_1), ANY, &same), EDGEID_OK);
    EXPECT(edgeid_finger_compare(R(r101_1), ANY, R(r101_2), ISO, &genuine), EDGEID_OK);
    EXPECT(edgeid_finger_compare(R(r101_1), ISO, R(r102_1), ISO, &impostor), EDGEID_OK);
    printf("finger_test: compare 101_1: itself %.4f, 101_2 %.4f, 102_1 %.4f\n", same, genuine,
           impostor);
    CHECK(same > 0.9 && same <= 1.0);
    CHECK(genuine >= threshold_1e4 && genuine < same);
    CHECK(impostor >= 0.0 && impostor < threshold_1e4);
    EXPECT(edgeid_finger_compare(R(r102_1), ANY, R(r101_1), ANY, &other), EDGEID_OK);
    CHECK(other < threshold_1e4);

    /* The ANSI/INCITS 378 example of the standard (detected) holds two views, fingers 7 and 2:
     * the position picks one. */
    EXPECT(edgeid_finger_compare(R(ansi_example), EDGEID_FINGER_FORMAT_DETECT, 7, R(ansi_example),
                                 EDGEID_FINGER_FORMAT_ANSI378, 7, &score),
           EDGEID_OK);
    CHECK(score > 0.9);
    EXPECT(edgeid_finger_compare(R(ansi_example), EDGEID_FINGER_FORMAT_DETECT, 7, R(ansi_example),
                                 EDGEID_FINGER_FORMAT_DETECT, 2, &score),
           EDGEID_OK);
    CHECK(score < threshold_1e4);
    EXPECT(edgeid_finger_compare(R(ansi_example), ANY, R(ansi_example), ANY, &score),
           EDGEID_ERR_INVALID);
    CHECK(last_message_contains("record a cannot be read: the record holds 2 finger views"));
    EXPECT(edgeid_finger_compare(R(ansi_example), EDGEID_FINGER_FORMAT_DETECT, 5, R(r101_1), ANY,
                                 &score),
           EDGEID_ERR_INVALID);
    CHECK(last_message_contains("none of finger position 5"));
    /* The same minutiae in the ISO example of the standard carry a wrong length in its header,
     * which the strict parser refuses. */
    EXPECT(edgeid_finger_compare(R(r101_1), ANY, R(iso_example), EDGEID_FINGER_FORMAT_DETECT, 7,
                                 &score),
           EDGEID_ERR_INVALID);
    CHECK(last_message_contains("record b"));

    /* A record that cannot be read: truncated, empty, one byte, or named as another format. */
    score = 7.0;
    EXPECT(edgeid_finger_compare(R(truncated), ANY, R(r101_1), ANY, &score), EDGEID_ERR_INVALID);
    CHECK(score == 0.0); /* cleared first */
    CHECK(last_message_contains("edgeid_finger_compare: record a"));
    CHECK(last_message_contains("truncated"));
    EXPECT(edgeid_finger_compare(R(r101_1), ANY, R(truncated), ISO, &score), EDGEID_ERR_INVALID);
    CHECK(last_message_contains("record b (as iso19794-2:2005) cannot be read"));
    EXPECT(edgeid_finger_compare(r101_1.bytes, 0, ANY, R(r101_1), ANY, &score),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_compare(one_byte, 1, ANY, R(r101_1), ANY, &score), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_compare(R(r101_1), EDGEID_FINGER_FORMAT_ANSI378, -1, R(r101_1), ANY,
                                 &score),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_compare(R(r101_1), EDGEID_FINGER_FORMAT_ISO2011, -1, R(r101_1), ANY,
                                 &score),
           EDGEID_ERR_INVALID);
    /* Card formats have no header: they cannot be detected. Bytes of no format are refused. */
    EXPECT(edgeid_finger_compare((const uint8_t *)"\x01\x02\x03", 3, ANY, R(r101_1), ANY, &score),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_compare(two_views, two_views_len, ANY, R(r101_1), ANY, &score),
           EDGEID_ERR_INVALID);
    /* The view of our two-view record at finger 2 is 101_1. */
    EXPECT(edgeid_finger_compare(two_views, two_views_len, EDGEID_FINGER_FORMAT_DETECT, 2,
                                 R(r101_1), ANY, &score),
           EDGEID_OK);
    CHECK(score == same);

    /* Unknown format numbers, positions out of range. */
    EXPECT(edgeid_finger_compare(R(r101_1), 6, -1, R(r101_1), ANY, &score),
           EDGEID_ERR_UNSUPPORTED);
    EXPECT(edgeid_finger_compare(R(r101_1), ANY, R(r101_1), 0xffffffffu, -1, &score),
           EDGEID_ERR_UNSUPPORTED);
    CHECK(last_message_contains("edgeid_finger_format"));
    EXPECT(edgeid_finger_compare(R(r101_1), EDGEID_FINGER_FORMAT_DETECT, 11, R(r101_1), ANY,
                                 &score),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_compare(R(r101_1), ANY, R(r101_1), EDGEID_FINGER_FORMAT_DETECT, -2,
                                 &score),
           EDGEID_ERR_INVALID);

    /* NULL pointers. */
    EXPECT(edgeid_finger_compare(NULL, r101_1.len, ANY, R(r101_1), ANY, &score), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_compare(R(r101_1), ANY, NULL, 0, ANY, &score), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_compare(R(r101_1), ANY, R(r101_1), ANY, NULL), EDGEID_ERR_NULL);
}

static edgeid_open_options one_thread(void) {
    edgeid_open_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    return o;
}

static edgeid_stats stats(edgeid_store *s) {
    edgeid_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_OK);
    return st;
}

static void put(edgeid_store *s, const char *loc, const char *user, const char *tmpl,
                const rec *r) {
    EXPECT(edgeid_finger_put(s, S(loc), S(user), S(tmpl), R(*r), EDGEID_FINGER_FORMAT_DETECT,
                             EDGEID_FINGER_POSITION_FROM_RECORD, NULL),
           EDGEID_OK);
}

static void test_put(edgeid_store *s) {
    uint64_t seq = 0, seq2 = 0;
    const char bad_utf8[] = {'u', (char)0xc3, '(', 'x'};
    char long_id[EDGEID_ID_MAX_LEN + 1];
    edgeid_stats st;
    memset(long_id, 'a', sizeof long_id);

    EXPECT(edgeid_finger_put(s, S("hq"), S("alice"), S("f1"), R(r101_1),
                             EDGEID_FINGER_FORMAT_DETECT, EDGEID_FINGER_POSITION_FROM_RECORD,
                             &seq),
           EDGEID_OK);
    CHECK(seq == 1);
    EXPECT(edgeid_finger_put(s, S("hq"), S("alice"), S("f2"), R(r101_2),
                             EDGEID_FINGER_FORMAT_ISO2005, EDGEID_FINGER_POSITION_FROM_RECORD,
                             &seq2),
           EDGEID_OK);
    CHECK(seq2 == seq + 1);
    put(s, "hq", "bob", "b1", &r102_1);
    put(s, "hq", "carol", "c1", &r103_1);
    put(s, "annex", "dave", "d1", &r104_1);
    st = stats(s);
    CHECK(st.fingers == 5 && st.live_templates == 0);
    /* Replacing a template keeps the count. */
    put(s, "hq", "carol", "c1", &r103_1);
    CHECK(stats(s).fingers == 5);

    /* Refused: nothing changes, the sequence number does not move. */
    seq2 = stats(s).seq;
    seq = 0;
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), R(truncated), EDGEID_FINGER_FORMAT_DETECT,
                             -1, &seq),
           EDGEID_ERR_INVALID);
    CHECK(seq == 0);
    CHECK(last_message_contains("edgeid_finger_put: record cannot be read: truncated"));
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), R(r101_1), 99, -1, NULL),
           EDGEID_ERR_UNSUPPORTED);
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), R(r101_1), EDGEID_FINGER_FORMAT_ANSI378,
                             -1, NULL),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), R(r101_1), 0, 11, NULL),
           EDGEID_ERR_INVALID);
    CHECK(last_message_contains("position"));
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), R(r101_1), 0, -2, NULL),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), NULL, 10, 0, -1, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_put(s, NULL, 2, S("x"), S("t"), R(r101_1), 0, -1, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_put(s, S("hq"), NULL, 1, S("t"), R(r101_1), 0, -1, NULL),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), NULL, 1, R(r101_1), 0, -1, NULL),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_put(s, S("hq"), bad_utf8, sizeof bad_utf8, S("t"), R(r101_1), 0, -1, NULL),
           EDGEID_ERR_UTF8);
    EXPECT(edgeid_finger_put(s, S("hq"), S(""), S("t"), R(r101_1), 0, -1, NULL),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_put(s, S("hq"), long_id, sizeof long_id, S("t"), R(r101_1), 0, -1, NULL),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_put(NULL, S("hq"), S("x"), S("t"), R(r101_1), 0, -1, NULL),
           EDGEID_ERR_NULL);
    /* A record with two views needs a position that names exactly one of them. */
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), two_views, two_views_len, 0, -1, NULL),
           EDGEID_ERR_INVALID);
    CHECK(last_message_contains("name the finger position"));
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), two_views, two_views_len, 0, 5, NULL),
           EDGEID_ERR_INVALID);
    CHECK(last_message_contains("none of finger position 5"));
    CHECK(stats(s).fingers == 5);
    CHECK(stats(s).seq == seq2);
}

static void test_identify(edgeid_store *s) {
    edgeid_finger_hit hits[8];
    size_t n = 99, i;

    /* alice's third impression: she is found, first, above the 1e-4 threshold. */
    EXPECT(edgeid_finger_identify(s, R(r101_3), EDGEID_FINGER_FORMAT_DETECT,
                                  EDGEID_FINGER_POSITION_FROM_RECORD, NULL, 0, threshold_1e4, hits,
                                  8, &n),
           EDGEID_OK);
    CHECK(n == 1);
    CHECK(strcmp(hits[0].user_id, "alice") == 0 && hits[0].user_id_len == 5);
    CHECK(strcmp(hits[0].location_id, "hq") == 0 && hits[0].location_id_len == 2);
    CHECK(strcmp(hits[0].template_id, "f1") == 0 || strcmp(hits[0].template_id, "f2") == 0);
    CHECK(hits[0].template_id_len == 2);
    CHECK(hits[0].position == 0); /* mindtct records say "unknown finger" */
    CHECK(hits[0].score >= threshold_1e4 && hits[0].score <= 1.0);
    printf("finger_test: identify 101_3: %s/%s score %.4f\n", hits[0].user_id,
           hits[0].template_id, hits[0].score);

    /* Every user, best first, each once. */
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, EDGEID_ANY_SCORE, hits, 8, &n),
           EDGEID_OK);
    CHECK(n == 4);
    CHECK(strcmp(hits[0].user_id, "alice") == 0);
    for (i = 1; i < n && i < 8; i++) {
        size_t j;
        CHECK(hits[i].score <= hits[i - 1].score);
        CHECK(strlen(hits[i].user_id) == hits[i].user_id_len);
        for (j = 0; j < i; j++) {
            CHECK(strcmp(hits[i].user_id, hits[j].user_id) != 0);
        }
    }

    /* k = 1 writes only hits[0]. */
    memset(hits, 0x5a, sizeof hits);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, EDGEID_ANY_SCORE, hits, 1, &n),
           EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "alice") == 0);
    CHECK(((unsigned char *)&hits[1])[0] == 0x5a);

    /* Location filter: only dave is at the annex, and he is not alice. */
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, S("annex"), EDGEID_ANY_SCORE, hits, 8, &n),
           EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "dave") == 0);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, S("annex"), threshold_1e4, hits, 8, &n),
           EDGEID_OK);
    CHECK(n == 0);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, S("nowhere"), EDGEID_ANY_SCORE, hits, 8,
                                  &n),
           EDGEID_OK);
    CHECK(n == 0);
    /* A location filter that is not a valid id is refused as the lookups refuse it. */
    for (i = 0; i < BAD_LOCATION_FILTERS; i++) {
        const char *loc = bad_location_filter((int)i);
        char want[512], got[512];
        lookup_refuses_location(s, loc, want, sizeof want);
        n = 99;
        EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, loc, strlen(loc), EDGEID_ANY_SCORE, hits,
                                      8, &n),
               EDGEID_ERR_INVALID);
        CHECK(n == 0);
        CHECK(strcmp(message_after_function(got, sizeof got), want) == 0);
    }
    /* Nobody scores above 1. */
    EXPECT(edgeid_finger_identify(s, R(r101_1), 0, -1, NULL, 0, 1.01, hits, 8, &n), EDGEID_OK);
    CHECK(n == 0);
    /* bob's second impression finds bob. */
    EXPECT(edgeid_finger_identify(s, R(r102_2), 0, -1, NULL, 0, threshold_1e4, hits, 8, &n),
           EDGEID_OK);
    CHECK(n >= 1 && strcmp(hits[0].user_id, "bob") == 0);

    /* Errors; *n_hits is 0 after each. */
    n = 99;
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, 0.0, hits, 0, &n),
           EDGEID_ERR_INVALID);
    CHECK(n == 0);
    CHECK(last_message_contains("k must be at least 1"));
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, NAN, hits, 8, &n),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, -INFINITY, hits, 8, &n),
           EDGEID_ERR_INVALID);
    n = 99;
    EXPECT(edgeid_finger_identify(s, R(truncated), 0, -1, NULL, 0, 0.0, hits, 8, &n),
           EDGEID_ERR_INVALID);
    CHECK(n == 0);
    CHECK(last_message_contains("edgeid_finger_identify: record cannot be read"));
    EXPECT(edgeid_finger_identify(s, R(r101_3), 17, -1, NULL, 0, 0.0, hits, 8, &n),
           EDGEID_ERR_UNSUPPORTED);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, 42, NULL, 0, 0.0, hits, 8, &n),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_identify(s, two_views, two_views_len, 0, -1, NULL, 0, 0.0, hits, 8, &n),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_identify(s, NULL, 5, 0, -1, NULL, 0, 0.0, hits, 8, &n), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, 0.0, NULL, 8, &n),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, 0.0, hits, 8, NULL),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, "\xff\xfe", 2, 0.0, hits, 8, &n),
           EDGEID_ERR_UTF8);
    EXPECT(edgeid_finger_identify(NULL, R(r101_3), 0, -1, NULL, 0, 0.0, hits, 8, &n),
           EDGEID_ERR_NULL);
}

static void test_verify(edgeid_store *s) {
    edgeid_finger_hit hit;
    float face[DIM];

    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(r101_3), EDGEID_FINGER_FORMAT_DETECT,
                                EDGEID_FINGER_POSITION_FROM_RECORD, &hit),
           EDGEID_OK);
    CHECK(hit.score >= threshold_1e4);
    CHECK(strcmp(hit.user_id, "alice") == 0 && strcmp(hit.location_id, "hq") == 0);
    CHECK(strcmp(hit.template_id, "f1") == 0 || strcmp(hit.template_id, "f2") == 0);
    CHECK(hit.position == 0);
    /* The same record as enrolled scores as it does against itself. */
    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(r101_1), 0, -1, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "f1") == 0 && hit.score > 0.9);
    /* Another finger: a low score (verification reports it; the caller decides). */
    EXPECT(edgeid_finger_verify(s, S("hq"), S("bob"), R(r101_3), 0, -1, &hit), EDGEID_OK);
    CHECK(strcmp(hit.user_id, "bob") == 0 && hit.score < threshold_1e4);

    /* Unknown user, wrong location, a user with a face but no fingerprint. */
    EXPECT(edgeid_finger_verify(s, S("hq"), S("nobody"), R(r101_3), 0, -1, &hit),
           EDGEID_ERR_NOT_FOUND);
    CHECK(last_message_contains("no fingerprint template"));
    EXPECT(edgeid_finger_verify(s, S("annex"), S("alice"), R(r101_3), 0, -1, &hit),
           EDGEID_ERR_NOT_FOUND);
    make_vec(face, DIM, 7);
    EXPECT(edgeid_face_put(s, S("hq"), S("faceonly"), S("t1"), face, DIM, NULL), EDGEID_OK);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("faceonly"), R(r101_3), 0, -1, &hit),
           EDGEID_ERR_NOT_FOUND);

    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(truncated), 0, -1, &hit),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(r101_3), 6, -1, &hit),
           EDGEID_ERR_UNSUPPORTED);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(r101_3), 0, 100, &hit),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(r101_3), 0, -1, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), NULL, 0, 0, -1, &hit), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_verify(s, NULL, 0, S("alice"), R(r101_3), 0, -1, &hit), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_verify(s, S("hq"), "\x80", 1, R(r101_3), 0, -1, &hit), EDGEID_ERR_UTF8);
    EXPECT(edgeid_finger_verify(s, S("hq"), S(""), R(r101_3), 0, -1, &hit), EDGEID_ERR_INVALID);
    EXPECT(edgeid_finger_verify(NULL, S("hq"), S("alice"), R(r101_3), 0, -1, &hit),
           EDGEID_ERR_NULL);
}

/* A record with two views: the position picks the view, and is what the store records. */
static void test_positions(edgeid_store *s) {
    edgeid_finger_hit hits[2], hit;
    size_t n;
    EXPECT(edgeid_finger_put(s, S("hq"), S("multi"), S("m7"), two_views, two_views_len,
                             EDGEID_FINGER_FORMAT_DETECT, 7, NULL),
           EDGEID_OK);
    /* View 7 holds 102_1's minutiae: bob's second impression finds bob and "multi", finger 7. */
    EXPECT(edgeid_finger_verify(s, S("hq"), S("multi"), R(r102_2), 0, -1, &hit), EDGEID_OK);
    CHECK(hit.position == 7 && strcmp(hit.template_id, "m7") == 0);
    CHECK(hit.score >= threshold_1e4);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("multi"), R(r101_3), 0, -1, &hit), EDGEID_OK);
    CHECK(hit.score < threshold_1e4);
    /* The probe's view is picked the same way. */
    EXPECT(edgeid_finger_identify(s, two_views, two_views_len, 0, 2, S("hq"), threshold_1e4, hits,
                                  2, &n),
           EDGEID_OK);
    CHECK(n == 1 && strcmp(hits[0].user_id, "alice") == 0);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("multi"), two_views, two_views_len, 0, 7, &hit),
           EDGEID_OK);
    CHECK(hit.score > 0.9 && hit.position == 7);
    EXPECT(edgeid_finger_remove(s, S("hq"), S("multi"), S("m7"), NULL), EDGEID_OK);
}

static void test_remove(edgeid_store *s) {
    edgeid_finger_hit hit;
    float face[DIM];
    uint64_t seq = 0;
    uint64_t fingers = stats(s).fingers;

    EXPECT(edgeid_finger_remove(s, S("hq"), S("alice"), S("f2"), &seq), EDGEID_OK);
    CHECK(seq > 0);
    CHECK(stats(s).fingers == fingers - 1);
    CHECK(stats(s).deleted_fingers > 0);
    EXPECT(edgeid_finger_remove(s, S("hq"), S("alice"), S("f2"), NULL), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_finger_remove(s, S("hq"), S("nobody"), S("f1"), NULL), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_finger_remove(s, S("annex"), S("alice"), S("f1"), NULL), EDGEID_ERR_NOT_FOUND);
    /* A face template is not a fingerprint template. */
    EXPECT(edgeid_finger_remove(s, S("hq"), S("faceonly"), S("t1"), NULL), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_finger_remove(s, S("hq"), S("alice"), NULL, 0, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_remove(s, S("hq"), S("alice"), "\xc0", 1, NULL), EDGEID_ERR_UTF8);
    EXPECT(edgeid_finger_remove(NULL, S("hq"), S("alice"), S("f1"), NULL), EDGEID_ERR_NULL);
    /* alice still has f1. */
    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(r101_3), 0, -1, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "f1") == 0);

    /* Removing a fingerprint leaves the user's faces; removing the user's faces leaves the
       fingerprints, and the other way round. */
    make_vec(face, DIM, 8);
    EXPECT(edgeid_face_put(s, S("hq"), S("erin"), S("face"), face, DIM, NULL), EDGEID_OK);
    put(s, "hq", "erin", "e1", &r105_1);
    put(s, "hq", "erin", "e2", &r105_2);
    EXPECT(edgeid_finger_remove(s, S("hq"), S("erin"), S("e2"), NULL), EDGEID_OK);
    {
        edgeid_hit fh;
        EXPECT(edgeid_face_verify(s, S("hq"), S("erin"), face, DIM, &fh), EDGEID_OK);
    }
    EXPECT(edgeid_finger_verify(s, S("hq"), S("erin"), R(r105_2), 0, -1, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "e1") == 0);
    EXPECT(edgeid_face_remove_user(s, S("hq"), S("erin"), NULL), EDGEID_OK);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("erin"), R(r105_2), 0, -1, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "e1") == 0);
    EXPECT(edgeid_face_put(s, S("hq"), S("erin"), S("face"), face, DIM, NULL), EDGEID_OK);
    EXPECT(edgeid_finger_remove_user(s, S("hq"), S("erin"), NULL), EDGEID_OK);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("erin"), R(r105_2), 0, -1, &hit),
           EDGEID_ERR_NOT_FOUND);
    {
        edgeid_hit fh;
        EXPECT(edgeid_face_verify(s, S("hq"), S("erin"), face, DIM, &fh), EDGEID_OK);
    }
    EXPECT(edgeid_finger_remove_user(s, S("hq"), S("erin"), NULL), EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_finger_remove_user(NULL, S("hq"), S("erin"), NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_finger_remove_user(s, S("hq"), NULL, 3, NULL), EDGEID_ERR_NULL);
    /* A user with fingerprints only has no faces to remove. */
    put(s, "hq", "fingeronly", "x1", &r105_1);
    EXPECT(edgeid_face_remove_user(s, S("hq"), S("fingeronly"), NULL), EDGEID_ERR_NOT_FOUND);
    /* In a batch, with a face put, atomically. */
    {
        edgeid_batch *b = edgeid_batch_new();
        EXPECT(edgeid_batch_finger_remove_user(b, S("hq"), S("fingeronly")), EDGEID_OK);
        EXPECT(edgeid_batch_face_put(b, S("hq"), S("fingeronly"), S("f"), face, DIM), EDGEID_OK);
        EXPECT(edgeid_batch_finger_remove_user(NULL, S("hq"), S("x")), EDGEID_ERR_NULL);
        EXPECT(edgeid_commit(s, b, NULL), EDGEID_OK);
        EXPECT(edgeid_finger_verify(s, S("hq"), S("fingeronly"), R(r105_1), 0, -1, &hit),
               EDGEID_ERR_NOT_FOUND);
        edgeid_batch_free(b);
    }
}

static void test_batch(edgeid_store *s) {
    edgeid_batch *b = edgeid_batch_new();
    edgeid_batch *bad = edgeid_batch_new();
    edgeid_finger_hit hit;
    edgeid_hit fhit;
    float face[DIM];
    edgeid_stats before = stats(s), after;
    uint64_t seq = 0;

    CHECK(b != NULL && bad != NULL);
    /* frank gets a face and a fingerprint, bob loses his fingerprint, in one commit. */
    make_vec(face, DIM, 60);
    EXPECT(edgeid_batch_face_put(b, S("hq"), S("frank"), S("face1"), face, DIM), EDGEID_OK);
    EXPECT(edgeid_batch_finger_put(b, S("hq"), S("frank"), S("thumb"), R(r105_1),
                                   EDGEID_FINGER_FORMAT_DETECT, EDGEID_FINGER_POSITION_FROM_RECORD),
           EDGEID_OK);
    EXPECT(edgeid_batch_finger_remove(b, S("hq"), S("bob"), S("b1")), EDGEID_OK);
    CHECK(edgeid_batch_len(b) == 3);

    /* Refused additions leave the batch unchanged. */
    EXPECT(edgeid_batch_finger_put(b, S("hq"), S("x"), S("t"), R(truncated), 0, -1),
           EDGEID_ERR_INVALID);
    CHECK(last_message_contains("edgeid_batch_finger_put: record cannot be read"));
    EXPECT(edgeid_batch_finger_put(b, S("hq"), S("x"), S("t"), R(r105_1), 6, -1),
           EDGEID_ERR_UNSUPPORTED);
    EXPECT(edgeid_batch_finger_put(b, S("hq"), S("x"), S("t"), R(r105_1), 0, 11),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_batch_finger_put(b, S("hq"), S("x"), S("t"), NULL, 3, 0, -1), EDGEID_ERR_NULL);
    EXPECT(edgeid_batch_finger_put(b, S("hq"), S(""), S("t"), R(r105_1), 0, -1),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_batch_finger_put(b, S("hq"), "\xed\xa0\x80", 3, S("t"), R(r105_1), 0, -1),
           EDGEID_ERR_UTF8);
    EXPECT(edgeid_batch_finger_remove(b, S("hq"), S("x"), NULL, 1), EDGEID_ERR_NULL);
    EXPECT(edgeid_batch_finger_remove(b, S("hq"), S("x"), S("")), EDGEID_ERR_INVALID);
    CHECK(edgeid_batch_len(b) == 3);
    EXPECT(edgeid_batch_finger_put(NULL, S("hq"), S("x"), S("t"), R(r105_1), 0, -1),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_batch_finger_remove(NULL, S("hq"), S("x"), S("t")), EDGEID_ERR_NULL);

    /* All or nothing: gina's fingerprint and face are not committed when a removal is refused. */
    make_vec(face, DIM, 70);
    EXPECT(edgeid_batch_face_put(bad, S("hq"), S("gina"), S("g"), face, DIM), EDGEID_OK);
    EXPECT(edgeid_batch_finger_put(bad, S("hq"), S("gina"), S("g1"), R(r106_1), 0, -1),
           EDGEID_OK);
    EXPECT(edgeid_batch_finger_remove(bad, S("hq"), S("nobody"), S("n1")), EDGEID_OK);
    EXPECT(edgeid_commit(s, bad, &seq), EDGEID_ERR_NOT_FOUND);
    CHECK(last_message_contains("change 2"));
    after = stats(s);
    CHECK(after.fingers == before.fingers && after.live_templates == before.live_templates);
    CHECK(after.seq == before.seq);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("gina"), R(r106_1), 0, -1, &hit),
           EDGEID_ERR_NOT_FOUND);
    edgeid_batch_free(bad);

    EXPECT(edgeid_commit(s, b, &seq), EDGEID_OK);
    CHECK(seq == before.seq + 1);
    after = stats(s);
    CHECK(after.fingers == before.fingers);     /* +frank, -bob */
    CHECK(after.live_templates == before.live_templates + 1);
    make_vec(face, DIM, 60);
    EXPECT(edgeid_face_verify(s, S("hq"), S("frank"), face, DIM, &fhit), EDGEID_OK);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("frank"), R(r105_2), 0, -1, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "thumb") == 0 && hit.score >= threshold_1e4);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("bob"), R(r102_2), 0, -1, &hit),
           EDGEID_ERR_NOT_FOUND);
    /* Committing the same batch again fails: bob's fingerprint is gone. */
    EXPECT(edgeid_commit(s, b, &seq), EDGEID_ERR_NOT_FOUND);
    edgeid_batch_free(b);
}

static void test_stats(edgeid_store *s) {
    edgeid_stats st;
    unsigned char *tail = (unsigned char *)&st + EDGEID_STATS_SIZE_V1;
    size_t i;
    int untouched = 1;
    size_t nseg = 0;

    /* A program compiled against version 1 of the struct: only its bytes are written. */
    memset(&st, 0x5a, sizeof st);
    st.size = EDGEID_STATS_SIZE_V1;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_OK);
    CHECK(st.size == EDGEID_STATS_SIZE_V1 && st.dim == DIM);
    CHECK(strcmp(st.model, MODEL) == 0);
    for (i = 0; i < sizeof st - EDGEID_STATS_SIZE_V1; i++) {
        untouched &= tail[i] == 0x5a;
    }
    CHECK(untouched);
    /* Sizes of no version. */
    st.size = sizeof st - 8;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_ERR_SIZE);
    st.size = sizeof st + 8;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_ERR_SIZE);
    st.size = EDGEID_STATS_SIZE_V1 - 8;
    EXPECT(edgeid_store_stats(s, &st), EDGEID_ERR_SIZE);

    st = stats(s);
    CHECK(st.fingers == 4); /* alice f1, carol, dave, frank */
    CHECK(st.deleted_fingers > 0);
    CHECK(st.finger_tail_rows > 0);
    EXPECT(edgeid_compact(s), EDGEID_OK);
    st = stats(s);
    CHECK(st.fingers == 4 && st.deleted_fingers == 0);
    CHECK(st.finger_segments >= 1 && st.finger_tail_rows == 0);
    EXPECT(edgeid_verify_checksums(s, &nseg), EDGEID_OK);
}

static void identify_all(edgeid_store *s, edgeid_finger_hit *hits, size_t *n) {
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, EDGEID_ANY_SCORE, hits, 8, n),
           EDGEID_OK);
}

static void test_reopen(edgeid_store *s) {
    edgeid_store *again = NULL;
    edgeid_open_options o = one_thread();
    edgeid_finger_hit before[8], after[8], hit;
    size_t nb = 0, na = 0, i;
    edgeid_batch *b;

    identify_all(s, before, &nb);
    CHECK(nb >= 4);
    EXPECT(edgeid_close(s), EDGEID_OK);

    /* Every finger function on a closed handle. */
    EXPECT(edgeid_finger_put(s, S("hq"), S("x"), S("t"), R(r101_1), 0, -1, NULL),
           EDGEID_ERR_CLOSED);
    EXPECT(edgeid_finger_remove(s, S("hq"), S("alice"), S("f1"), NULL), EDGEID_ERR_CLOSED);
    EXPECT(edgeid_finger_identify(s, R(r101_3), 0, -1, NULL, 0, 0.0, after, 8, &na),
           EDGEID_ERR_CLOSED);
    EXPECT(edgeid_finger_verify(s, S("hq"), S("alice"), R(r101_3), 0, -1, &hit),
           EDGEID_ERR_CLOSED);
    b = edgeid_batch_new();
    EXPECT(edgeid_batch_finger_put(b, S("hq"), S("x"), S("t"), R(r101_1), 0, -1), EDGEID_OK);
    EXPECT(edgeid_commit(s, b, NULL), EDGEID_ERR_CLOSED);

    /* Reopened: the same answers, and the batch made meanwhile can be committed. */
    EXPECT(edgeid_open(S(store_dir), one_thread_only ? &o : NULL, &again), EDGEID_OK);
    identify_all(again, after, &na);
    CHECK(na == nb);
    for (i = 0; i < na && i < nb; i++) {
        CHECK(strcmp(after[i].user_id, before[i].user_id) == 0);
        CHECK(strcmp(after[i].template_id, before[i].template_id) == 0);
        CHECK(after[i].score == before[i].score);
        CHECK(after[i].position == before[i].position);
    }
    EXPECT(edgeid_finger_verify(again, S("hq"), S("alice"), R(r101_3), 0, -1, &hit), EDGEID_OK);
    CHECK(strcmp(hit.template_id, "f1") == 0 && hit.score >= threshold_1e4);
    EXPECT(edgeid_finger_verify(again, S("hq"), S("frank"), R(r105_2), 0, -1, &hit), EDGEID_OK);
    CHECK(hit.score >= threshold_1e4);
    EXPECT(edgeid_finger_verify(again, S("hq"), S("bob"), R(r102_2), 0, -1, &hit),
           EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_commit(again, b, NULL), EDGEID_OK);
    edgeid_batch_free(b);
    CHECK(stats(again).fingers == 5);
    EXPECT(edgeid_finger_remove(again, S("hq"), S("x"), S("t"), NULL), EDGEID_OK);
    EXPECT(edgeid_erase_deleted(again, NULL), EDGEID_OK);
    EXPECT(edgeid_close(again), EDGEID_OK);
}

int main(int argc, char **argv) {
    edgeid_store *s = NULL;
    edgeid_open_options o = one_thread();
    if (argc != 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR FINGERPRINT_TESTDATA_DIR\n", argv[0]);
        return 2;
    }
    snprintf(store_dir, sizeof store_dir, "%s/store", argv[1]);
    data_dir = argv[2];
    one_thread_only = getenv("EDGEID_TEST_ONE_THREAD") != NULL;
    printf("finger_test: libedgeid %s\n", edgeid_version());

    load_all();
    if (checks_failed == 0) {
        test_calibration();
        test_compare();
        EXPECT(edgeid_create(S(store_dir), S(MODEL), DIM, one_thread_only ? &o : NULL, &s),
               EDGEID_OK);
        if (s != NULL) {
            test_put(s);
            test_identify(s);
            test_verify(s);
            test_positions(s);
            test_remove(s);
            test_batch(s);
            test_stats(s);
            test_reopen(s);
        }
    }
    free_all();
    /* As api_test: let search threads of closed stores finish exiting (see valgrind.supp). */
    usleep(100 * 1000);
    return finish("finger_test");
}
