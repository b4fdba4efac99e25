/*
 * The door decision through the C API: testdata/access/door-day.json applied, then decisions by
 * card, face, code (a duress code), with the reasons, anti-passback and punches; every error path.
 * Usage: decide_test SCRATCH_DIR DOOR_DAY_JSON   (SCRATCH_DIR must exist and be empty)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define LOC "hq-amsterdam"
/* 2026-12-01T08:00:00+01:00 (a Tuesday in office hours), and 20:00 the same day. */
#define TUE_0800 1796108400
#define TUE_2000 1796151600

static edgeid_presented nothing(void) {
    edgeid_presented p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    return p;
}

static edgeid_presented card(const char *c) {
    edgeid_presented p = nothing();
    p.card = c;
    p.card_len = strlen(c);
    return p;
}

static edgeid_decision decide(edgeid_store *s, const char *door, int64_t at,
                              const edgeid_presented *p) {
    edgeid_decision d;
    memset(&d, 0x5a, sizeof d); /* the library must fill in everything */
    EXPECT(edgeid_decide(s, S(LOC), S(door), at, p, &d), EDGEID_OK);
    return d;
}

int main(int argc, char **argv) {
    char dir[4096];
    edgeid_store *s = NULL;
    edgeid_apply_result r;
    edgeid_decision d;
    edgeid_presented p;
    FILE *f;
    long size;
    unsigned char *delta;
    static const float ann_face[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    static const float stranger[8] = {0, 0, 0, 0, 0, 0, 1, 0};
    if (argc != 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR DOOR_DAY_JSON\n", argv[0]);
        return 2;
    }
    (void)make_vec;
    snprintf(dir, sizeof dir, "%s/decide-store", argv[1]);
    f = fopen(argv[2], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    delta = malloc((size_t)size);
    if (delta == NULL || fread(delta, 1, (size_t)size, f) != (size_t)size) {
        return 2;
    }
    fclose(f);

    EXPECT(edgeid_create(S(dir), S("demo"), 8, NULL, &s), EDGEID_OK);
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    EXPECT(edgeid_apply_delta(s, delta, (size_t)size, NULL, NULL, &r), EDGEID_OK);
    free(delta);

    /* Granted by card, with a punch; again within the window: a duplicate. */
    p = card("csn:0A01");
    d = decide(s, "front", TUE_0800, &p);
    CHECK(d.granted && d.reason == EDGEID_REASON_NONE && d.reason_code[0] == 0);
    CHECK(d.user_id_len == 3 && strcmp(d.user_id, "ann") == 0);
    CHECK(strcmp(d.mode, "card") == 0 && d.factors == EDGEID_FACTOR_CARD);
    CHECK(strcmp(d.punch, "check_in") == 0 && !d.duplicate_punch && !d.duress);
    CHECK(isnan(d.face_score) && isnan(d.finger_score));
    CHECK(d.anti_passback == EDGEID_APB_NONE && d.at == TUE_0800);
    d = decide(s, "front", TUE_0800 + 60, &p);
    CHECK(d.granted && d.duplicate_punch);
    /* Outside the schedule; expired; unknown card; unknown door. */
    d = decide(s, "front", TUE_2000, &p);
    CHECK(!d.granted && d.reason == EDGEID_REASON_OUTSIDE_SCHEDULE);
    CHECK(strcmp(d.reason_code, "outside_schedule") == 0 && strcmp(d.user_id, "ann") == 0);
    p = card("csn:0B02");
    CHECK(decide(s, "front", TUE_0800, &p).reason == EDGEID_REASON_EXPIRED);
    p = card("csn:FFFF");
    d = decide(s, "front", TUE_0800, &p);
    CHECK(d.reason == EDGEID_REASON_UNKNOWN_CREDENTIAL && d.user_id_len == 0);
    p = card("csn:0A01");
    CHECK(decide(s, "nowhere", TUE_0800, &p).reason == EDGEID_REASON_UNKNOWN_DOOR);
    /* Card + face at the lab: Cem's card with Ann's face is a mismatch, with the score. */
    p = card("csn:0C03");
    p.face = ann_face;
    p.face_len = 8;
    p.face_threshold = 0.8;
    d = decide(s, "lab", TUE_0800, &p);
    CHECK(d.reason == EDGEID_REASON_SECOND_FACTOR_MISMATCH);
    CHECK(d.face_score < 0.5f && d.face_threshold > 0.7999f && d.face_threshold < 0.8001f);
    /* Ann's face alone identifies her; a stranger's does not. */
    p = nothing();
    p.face = ann_face;
    p.face_len = 8;
    p.face_threshold = 0.8;
    d = decide(s, "front", TUE_0800 + 3600, &p);
    CHECK(d.granted && d.factors == EDGEID_FACTOR_FACE && d.face_score > 0.99f);
    p.face = stranger;
    CHECK(decide(s, "front", TUE_0800, &p).reason == EDGEID_REASON_UNKNOWN_FACE);
    /* A card presented 30 s before the face does not combine with it (default timeout 10 s):
     * the face alone names Ann, whose card is then missing. */
    p = card("csn:0C03");
    p.card_at = TUE_0800 - 30;
    p.face = ann_face;
    p.face_len = 8;
    CHECK(decide(s, "lab", TUE_0800, &p).reason == EDGEID_REASON_SECOND_FACTOR_MISSING);
    /* Anti-passback: in, in again (denied), out. */
    p = card("csn:0A01");
    d = decide(s, "vault-in", TUE_0800, &p);
    CHECK(d.granted && d.anti_passback == EDGEID_APB_OK);
    d = decide(s, "vault-in", TUE_0800 + 60, &p);
    CHECK(d.reason == EDGEID_REASON_ANTI_PASSBACK && d.anti_passback == EDGEID_APB_DENIED);
    CHECK(decide(s, "vault-out", TUE_0800 + 120, &p).granted);
    /* The duress code opens and raises the alarm. */
    p = nothing();
    p.code = "7531";
    p.code_len = 4;
    d = decide(s, "front", TUE_0800 + 7200, &p);
    CHECK(d.granted && d.duress && d.factors == EDGEID_FACTOR_CODE);

    /* Errors: the decision is zeroed, the message names the function. */
    p = nothing();
    EXPECT(edgeid_decide(s, S(LOC), S("front"), TUE_0800, &p, &d), EDGEID_ERR_INVALID);
    CHECK(!d.granted && d.reason == EDGEID_REASON_NONE && d.user_id_len == 0);
    p = card("04A1");
    EXPECT(edgeid_decide(s, S(LOC), S("front"), TUE_0800, &p, &d), EDGEID_ERR_INVALID);
    p = card("csn:0A01");
    p.punch = "lunch";
    p.punch_len = 5;
    EXPECT(edgeid_decide(s, S(LOC), S("front"), TUE_0800, &p, &d), EDGEID_ERR_INVALID);
    p = nothing();
    p.face = ann_face;
    p.face_len = 7;
    EXPECT(edgeid_decide(s, S(LOC), S("front"), TUE_0800, &p, &d), EDGEID_ERR_INVALID);
    p = card("csn:0A01");
    p.size = 8;
    EXPECT(edgeid_decide(s, S(LOC), S("front"), TUE_0800, &p, &d), EDGEID_ERR_SIZE);
    p = card("csn:0A01");
    EXPECT(edgeid_decide(s, S(LOC), S("front"), TUE_0800, NULL, &d), EDGEID_ERR_NULL);
    EXPECT(edgeid_decide(s, S(LOC), S("front"), TUE_0800, &p, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_decide(NULL, S(LOC), S("front"), TUE_0800, &p, &d), EDGEID_ERR_NULL);
    EXPECT(edgeid_decide(s, S(""), S("front"), TUE_0800, &p, &d), EDGEID_ERR_INVALID);
    EXPECT(edgeid_decide(s, "\xff", 1, S("front"), TUE_0800, &p, &d), EDGEID_ERR_UTF8);

    EXPECT(edgeid_close(s), EDGEID_OK);
    return finish("decide_test");
}
