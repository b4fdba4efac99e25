/*
 * Concurrency: threads identify and verify (faces, and fingerprints when FINGER_DATA is given)
 * while another thread commits and compacts, then a thread closes the store while the others
 * still use it.
 * Usage: threads_test SCRATCH_DIR ITERATIONS [FINGER_DATA]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define DIM 64
#define STABLE 24
#define READERS 4
/* Fingerprint records: 5 stable users (fingers 101-105, impression 1) and 5 churn fingers. */
#define FINGERS 5

static edgeid_store *store;
static int iterations;

struct rec {
    uint8_t *bytes;
    size_t len;
};
static struct rec stable_fingers[FINGERS], churn_fingers[FINGERS];
static int with_fingers;

/* Reads testdata/fingerprint/fvc2002/DB1_B/mindtct/NAME.iso under `dir`. */
static struct rec load_record(const char *dir, const char *name) {
    char path[4096];
    struct rec r = {NULL, 0};
    FILE *f;
    long n;
    snprintf(path, sizeof path, "%s/fvc2002/DB1_B/mindtct/%s.iso", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int readers_started;

struct reader {
    int id;
    int calls;
    int wrong; /* calls whose result was not what it must be */
    int closed_seen;
    char first_error[256];
};

static void note_wrong(struct reader *r, const char *what, edgeid_status st) {
    r->wrong++;
    if (r->first_error[0] == 0) {
        char msg[160];
        edgeid_last_error_message(msg, sizeof msg);
        snprintf(r->first_error, sizeof r->first_error, "%s: %s (%s)", what,
                 edgeid_status_str(st), msg);
    }
}

static void stable_name(char *buf, size_t n, int u) {
    snprintf(buf, n, "stable-%02d", u);
}

/* Phase 1: every stable user must be found, with score 1, whatever commits run meanwhile. */
static void *identify_loop(void *arg) {
    struct reader *r = arg;
    float probe[DIM];
    edgeid_hit hits[3];
    edgeid_hit hit;
    char want[32];
    size_t n;
    int i;
    for (i = 0; i < iterations; i++) {
        int u = (i * 7 + r->id * 5) % STABLE;
        edgeid_status st;
        make_vec(probe, DIM, 1000 + u);
        stable_name(want, sizeof want, u);
        st = edgeid_face_identify(store, probe, DIM, NULL, 0, EDGEID_ANY_SCORE, hits, 3, &n);
        r->calls++;
        if (st != EDGEID_OK) {
            note_wrong(r, "identify", st);
        } else if (n < 1 || strcmp(hits[0].user_id, want) != 0 || hits[0].score < 0.9999) {
            note_wrong(r, "identify found someone else", st);
        }
        if (i % 4 == 0) {
            st = edgeid_face_verify(store, S("hq"), S(want), probe, DIM, &hit);
            r->calls++;
            if (st != EDGEID_OK || hit.score < 0.9999) {
                note_wrong(r, "verify", st);
            }
        }
    }
    return NULL;
}

/* Phase 1, fingerprints: each stable finger, probed with its own enrolled record, must come back
 * as its user with a near-1 score, whatever fingerprints are committed meanwhile. */
static void *finger_loop(void *arg) {
    struct reader *r = arg;
    edgeid_finger_hit hits[2];
    char want[32];
    size_t n;
    int i;
    for (i = 0; i < iterations; i++) {
        int u = (i + r->id) % FINGERS;
        edgeid_status st;
        snprintf(want, sizeof want, "fstable-%d", u);
        st = edgeid_finger_identify(store, stable_fingers[u].bytes, stable_fingers[u].len, 0, -1,
                                    NULL, 0, EDGEID_ANY_SCORE, hits, 2, &n);
        r->calls++;
        if (st != EDGEID_OK) {
            note_wrong(r, "finger identify", st);
        } else if (n < 1 || strcmp(hits[0].user_id, want) != 0 || hits[0].score < 0.9) {
            note_wrong(r, "finger identify found someone else", st);
        }
    }
    return NULL;
}

/* Commits while the readers search: puts and removes of other users, batches, a compaction. */
static void *commit_loop(void *arg) {
    struct reader *w = arg;
    float v[DIM];
    char user[32], prev[32];
    int i;
    for (i = 0; i < iterations; i++) {
        edgeid_status st;
        snprintf(user, sizeof user, "churn-%d", i);
        make_vec(v, DIM, 50000 + i);
        st = edgeid_face_put(store, S("hq"), S(user), S("t"), v, DIM, NULL);
        w->calls++;
        if (st != EDGEID_OK) {
            note_wrong(w, "put", st);
        }
        if (i > 0) {
            snprintf(prev, sizeof prev, "churn-%d", i - 1);
            st = edgeid_face_remove_user(store, S("hq"), S(prev), NULL);
            w->calls++;
            if (st != EDGEID_OK) {
                note_wrong(w, "remove_user", st);
            }
        }
        if (with_fingers) {
            const struct rec *c = &churn_fingers[i % FINGERS];
            snprintf(user, sizeof user, "fchurn-%d", i);
            st = edgeid_finger_put(store, S("hq"), S(user), S("f"), c->bytes, c->len, 0, -1, NULL);
            w->calls++;
            if (st != EDGEID_OK) {
                note_wrong(w, "finger put", st);
            }
            if (i > 0) {
                snprintf(prev, sizeof prev, "fchurn-%d", i - 1);
                st = edgeid_finger_remove_user(store, S("hq"), S(prev), NULL);
                w->calls++;
                if (st != EDGEID_OK) {
                    note_wrong(w, "finger remove_user", st);
                }
            }
        }
        if (i % 5 == 0) {
            edgeid_batch *b = edgeid_batch_new();
            int j;
            for (j = 0; j < 3; j++) {
                snprintf(user, sizeof user, "batch-%d-%d", i, j);
                make_vec(v, DIM, 90000 + i * 3 + j);
                edgeid_batch_face_put(b, S("annex"), S(user), S("t"), v, DIM);
            }
            st = edgeid_commit(store, b, NULL);
            w->calls++;
            if (st != EDGEID_OK) {
                note_wrong(w, "commit", st);
            }
            edgeid_batch_free(b);
        }
        if (i == iterations / 2) {
            st = edgeid_compact(store);
            w->calls++;
            if (st != EDGEID_OK) {
                note_wrong(w, "compact", st);
            }
        }
    }
    return NULL;
}

/* Phase 2: search until the store is closed under us; only OK and CLOSED may come back. */
static void *until_closed(void *arg) {
    struct reader *r = arg;
    float probe[DIM];
    edgeid_hit hits[1];
    size_t n;
    make_vec(probe, DIM, 1000 + r->id);
    pthread_mutex_lock(&lock);
    readers_started++;
    pthread_mutex_unlock(&lock);
    for (;;) {
        edgeid_status st =
            edgeid_face_identify(store, probe, DIM, NULL, 0, EDGEID_ANY_SCORE, hits, 1, &n);
        r->calls++;
        if (st == EDGEID_ERR_CLOSED) {
            r->closed_seen = 1;
            return NULL;
        }
        if (st != EDGEID_OK) {
            note_wrong(r, "identify during close", st);
            return NULL;
        }
    }
}

static void report(struct reader *r, const char *role) {
    CHECK(r->wrong == 0);
    if (r->wrong != 0) {
        fprintf(stderr, "%s %d: %d wrong of %d calls; first: %s\n", role, r->id, r->wrong,
                r->calls, r->first_error);
    }
}

int main(int argc, char **argv) {
    char dir[4096];
    char name[32];
    float v[DIM];
    pthread_t th[READERS + 2];
    struct reader rs[READERS + 2];
    edgeid_open_options o;
    int i;

    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s SCRATCH_DIR ITERATIONS [FINGER_DATA]\n", argv[0]);
        return 2;
    }
    with_fingers = argc == 4;
    if (with_fingers) {
        for (i = 0; i < FINGERS; i++) {
            char rname[32];
            snprintf(rname, sizeof rname, "%d_1", 101 + i);
            stable_fingers[i] = load_record(argv[3], rname);
            snprintf(rname, sizeof rname, "%d_2", 106 + i);
            churn_fingers[i] = load_record(argv[3], rname);
            if (stable_fingers[i].len == 0 || churn_fingers[i].len == 0) {
                return finish("threads_test");
            }
        }
    }
    snprintf(dir, sizeof dir, "%s/threads", argv[1]);
    iterations = atoi(argv[2]);

    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 2;
    EXPECT(edgeid_create(S(dir), S("thread-model"), DIM, &o, &store), EDGEID_OK);
    if (store == NULL) {
        return finish("threads_test");
    }
    for (i = 0; i < STABLE; i++) {
        stable_name(name, sizeof name, i);
        make_vec(v, DIM, 1000 + i);
        EXPECT(edgeid_face_put(store, S("hq"), S(name), S("t"), v, DIM, NULL), EDGEID_OK);
    }
    for (i = 0; with_fingers && i < FINGERS; i++) {
        snprintf(name, sizeof name, "fstable-%d", i);
        EXPECT(edgeid_finger_put(store, S("hq"), S(name), S("f"), stable_fingers[i].bytes,
                                 stable_fingers[i].len, 0, -1, NULL),
               EDGEID_OK);
    }

    /* Phase 1: READERS identify/verify threads, one fingerprint reader (with FINGER_DATA) and one
     * committing thread. */
    memset(rs, 0, sizeof rs);
    for (i = 0; i <= READERS + 1; i++) {
        void *(*body)(void *) =
            i < READERS ? identify_loop : i == READERS ? commit_loop : finger_loop;
        if (i == READERS + 1 && !with_fingers) {
            break;
        }
        rs[i].id = i;
        CHECK(pthread_create(&th[i], NULL, body, &rs[i]) == 0);
    }
    for (i = 0; i <= READERS + with_fingers; i++) {
        pthread_join(th[i], NULL);
        report(&rs[i], i < READERS ? "reader" : i == READERS ? "writer" : "finger reader");
    }
    {
        edgeid_stats st;
        memset(&st, 0, sizeof st);
        st.size = sizeof st;
        EXPECT(edgeid_store_stats(store, &st), EDGEID_OK);
        /* stable users + the last churn user + 3 per batch */
        CHECK(st.live_templates == (uint64_t)(STABLE + 1 + 3 * ((iterations + 4) / 5)));
        /* stable fingers + the last churn finger */
        CHECK(st.fingers == (uint64_t)(with_fingers ? FINGERS + 1 : 0));
    }

    /* Phase 2: close while READERS threads search. */
    memset(rs, 0, sizeof rs);
    for (i = 0; i < READERS; i++) {
        rs[i].id = i;
        CHECK(pthread_create(&th[i], NULL, until_closed, &rs[i]) == 0);
    }
    for (;;) {
        int started;
        pthread_mutex_lock(&lock);
        started = readers_started;
        pthread_mutex_unlock(&lock);
        if (started == READERS) {
            break;
        }
        usleep(1000);
    }
    usleep(20000);
    EXPECT(edgeid_close(store), EDGEID_OK);
    for (i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        report(&rs[i], "reader during close");
        CHECK(rs[i].closed_seen);
    }
    /* Closed means released: the store opens again at once. */
    EXPECT(edgeid_open(S(dir), &o, &store), EDGEID_OK);
    EXPECT(edgeid_close(store), EDGEID_OK);
    /* Closing a store tells its search threads to stop but does not wait for them to exit; give
     * them a moment so valgrind does not see them mid-exit (see valgrind.supp). */
    usleep(100 * 1000);
    for (i = 0; with_fingers && i < FINGERS; i++) {
        free(stable_fingers[i].bytes);
        free(churn_fingers[i].bytes);
    }
    return finish("threads_test");
}
