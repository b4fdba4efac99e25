/*
 * The event journal through the C API: a delta applied and one refused are events; a page read
 * with the size query, then into a buffer; acknowledged (never backwards, never past the last
 * event); a clock change; every error path.
 * Usage: journal_test SCRATCH_DIR TESTDATA_SYNC_DIR   (SCRATCH_DIR must exist and be empty)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static char store_dir[4096];

static void apply_file(edgeid_store *s, const char *dir, const char *name, edgeid_status want) {
    char path[8192];
    static unsigned char buf[1 << 20];
    size_t n;
    edgeid_apply_result r;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    EXPECT(edgeid_apply_delta(s, buf, n, NULL, NULL, &r), want);
}

int main(int argc, char **argv) {
    edgeid_store *s = NULL;
    edgeid_open_options o;
    size_t len = 0;
    uint64_t cursor = 0, acked = 0, id = 0;
    char small[8], *page;
    if (argc != 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR TESTDATA_SYNC_DIR\n", argv[0]);
        return 2;
    }
    (void)make_vec;
    snprintf(store_dir, sizeof store_dir, "%s/journal-store", argv[1]);
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    EXPECT(edgeid_create(S(store_dir), S("w600k_mbf"), 512, &o, &s), EDGEID_OK);
    apply_file(s, argv[2], "01-full.json", EDGEID_OK);
    apply_file(s, argv[2], "03-gap.json", EDGEID_ERR_REFUSED);

    /* Size query, too small a buffer, then the page. */
    EXPECT(edgeid_events_read(s, 0, 100, NULL, 0, &len, &cursor), EDGEID_ERR_SIZE);
    CHECK(len > 100 && cursor == 2);
    EXPECT(edgeid_events_read(s, 0, 100, small, sizeof small, &len, NULL), EDGEID_ERR_SIZE);
    page = malloc(len + 1);
    EXPECT(edgeid_events_read(s, 0, 100, page, len + 1, &len, &cursor), EDGEID_OK);
    CHECK(strlen(page) == len && cursor == 2);
    CHECK(strstr(page, "\"kind\":\"delta_applied\"") != NULL);
    CHECK(strstr(page, "\"refusal\":\"gap\"") != NULL);
    CHECK(strstr(page, "\"cursor\":2") != NULL);
    CHECK(strstr(page, "\"time_quality\":\"unsynced\"") != NULL);
    free(page);
    /* After the last event: an empty page, the cursor kept. */
    {
        char buf[256];
        EXPECT(edgeid_events_read(s, 2, 100, buf, sizeof buf, &len, &cursor), EDGEID_OK);
        CHECK(strcmp(buf, "{\"cursor\":2,\"events\":[]}") == 0 && cursor == 2);
    }
    EXPECT(edgeid_events_read(NULL, 0, 1, NULL, 0, &len, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_events_read(s, 0, 1, NULL, 0, NULL, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_events_read(s, 0, 1, NULL, 10, &len, NULL), EDGEID_ERR_NULL);

    /* Acknowledgement: forwards only, never past the last event. */
    EXPECT(edgeid_events_ack(s, 1, &acked), EDGEID_OK);
    CHECK(acked == 1);
    EXPECT(edgeid_events_ack(s, 0, &acked), EDGEID_OK);
    CHECK(acked == 1);
    EXPECT(edgeid_events_ack(s, 3, &acked), EDGEID_ERR_INVALID);
    EXPECT(edgeid_events_ack(s, 2, NULL), EDGEID_OK);

    /* The clock: a change is an event, later events are synced. */
    EXPECT(edgeid_clock_changed(s, 0, 1780000000000000LL, true, &id), EDGEID_OK);
    CHECK(id == 3);
    EXPECT(edgeid_clock_synced(s, true), EDGEID_OK);
    {
        char buf[4096];
        EXPECT(edgeid_events_read(s, 2, 10, buf, sizeof buf, &len, &cursor), EDGEID_OK);
        CHECK(strstr(buf, "\"kind\":\"clock_changed\"") != NULL && cursor == 3);
        CHECK(strstr(buf, "\"time\":\"2026-05-28T20:26:40.000000Z\"") != NULL);
    }
    EXPECT(edgeid_clock_synced(NULL, true), EDGEID_ERR_NULL);
    EXPECT(edgeid_close(s), EDGEID_OK);

    /* Reopened: the acknowledgement and the ids are kept. */
    EXPECT(edgeid_open(S(store_dir), &o, &s), EDGEID_OK);
    EXPECT(edgeid_events_ack(s, 1, &acked), EDGEID_OK);
    CHECK(acked == 2);
    EXPECT(edgeid_events_read(s, 0, 100, NULL, 0, &len, &cursor), EDGEID_ERR_SIZE);
    CHECK(cursor == 3);
    EXPECT(edgeid_close(s), EDGEID_OK);
    return finish("journal_test");
}
