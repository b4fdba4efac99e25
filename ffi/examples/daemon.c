/*
 * daemon.c: the long-running shape a terminal's firmware gives libedgeid (beside terminal.c,
 * which is a one-shot tool). A skeleton to copy, not a product:
 *
 *   - the store is opened once, at start, with the vendor's logger (edgeid_open_options.log);
 *   - a door thread identifies a probe every few milliseconds (a camera would feed it);
 *   - a sync thread applies the platform's deltas as they arrive (here: the *.json files of a
 *     directory, in name order, once each), with a progress callback that cancels the apply when
 *     the daemon shuts down (nothing of a cancelled delta is applied; it comes again later);
 *   - the main thread runs edgeid_maintain every 200 ms (erasure deadline, checkpoints, retries);
 *   - SIGTERM / SIGINT shut down cleanly: threads joined, store closed, nothing left running;
 *   - a store that answers EDGEID_ERR_POISONED (an earlier write failed: it refuses writes until
 *     reopened) is closed and opened again; SIGHUP asks for the same reopen.
 *
 *   daemon STORE_DIR DELTA_DIR [SECONDS]
 *
 * The store is created (model w600k_mbf, 512-d: the model of testdata/sync/) when missing. With
 * SECONDS the daemon scripts its own run: SIGHUP (a reopen) halfway, SIGTERM at the end; the C
 * tests run it like that under valgrind. It prints one line per event and a closing summary.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <dirent.h>
#include <edgeid.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIM 512
#define MODEL "w600k_mbf"
#define MAX_DELTAS 64

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;

static void on_signal(int sig) {
    if (sig == SIGHUP)
        reopen_requested = 1;
    else
        stop_requested = 1;
}

/* The store is shared by the threads; reopening takes the write side, every call the read side. */
static pthread_rwlock_t store_lock = PTHREAD_RWLOCK_INITIALIZER;
static edgeid_store *store;
static const char *store_dir;

/* Counters for the summary (updated under their own mutex). */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long identified, applied, cancelled, reopened, failures, log_lines;

static void count(unsigned long *c) {
    pthread_mutex_lock(&count_lock);
    (*c)++;
    pthread_mutex_unlock(&count_lock);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The vendor's logger: any thread may call it, concurrently (stdio locks each call). */
static void log_line(void *user_data, edgeid_log_level level, const char *message) {
    const char *tag = level == EDGEID_LOG_ERROR ? "error" : level == EDGEID_LOG_WARN ? "warn" : "info";
    fprintf(stderr, "%s: edgeid %s: %s\n", (const char *)user_data, tag, message);
    count(&log_lines);
}

static void report(const char *what, edgeid_status s) {
    char msg[512];
    edgeid_last_error_message(msg, sizeof msg);
    fprintf(stderr, "daemon: %s: %s (%s)\n", what, edgeid_status_str(s), msg);
}

/* Opens (or creates) the store. Called with the write side of store_lock held, or before the
 * threads start. */
static edgeid_status open_store(void) {
    edgeid_open_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 2;
    o.log = log_line;
    o.log_user_data = (void *)"daemon";
    edgeid_status s = edgeid_open(store_dir, strlen(store_dir), &o, &store);
    if (s == EDGEID_ERR_NO_STORE)
        s = edgeid_create(store_dir, strlen(store_dir), MODEL, strlen(MODEL), DIM, &o, &store);
    if (s != EDGEID_OK)
        report("open", s);
    return s;
}

/* Closes and opens the store again: after EDGEID_ERR_POISONED, or on SIGHUP. */
static void reopen(void) {
    pthread_rwlock_wrlock(&store_lock);
    edgeid_close(store);
    store = NULL;
    if (open_store() == EDGEID_OK)
        count(&reopened);
    else
        count(&failures);
    pthread_rwlock_unlock(&store_lock);
}

/* A status a worker cannot recover from by itself asks the main thread for a reopen. */
static void check(const char *what, edgeid_status s) {
    if (s == EDGEID_OK)
        return;
    report(what, s);
    if (s == EDGEID_ERR_POISONED)
        reopen_requested = 1;
    else
        count(&failures);
}

static void *door_thread(void *arg) {
    (void)arg;
    float probe[DIM];
    unsigned seed = 7;
    for (size_t i = 0; i < DIM; i++)
        probe[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
    while (!stop_requested) {
        edgeid_hit hits[3];
        size_t n = 0;
        pthread_rwlock_rdlock(&store_lock);
        edgeid_status s = store ? edgeid_face_identify(store, probe, DIM, NULL, 0, 0.5, hits, 3, &n)
                                : EDGEID_ERR_CLOSED;
        pthread_rwlock_unlock(&store_lock);
        check("identify", s);
        if (s == EDGEID_OK)
            count(&identified);
        sleep_ms(5);
    }
    return NULL;
}

/* Cancels a running apply as soon as the daemon is asked to stop. */
static int progress(void *user_data, edgeid_progress_stage stage, size_t done, size_t total) {
    (void)user_data;
    (void)stage;
    (void)done;
    (void)total;
    return stop_requested ? 1 : 0;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            *len = fread(buf, 1, (size_t)n, f);
        }
    }
    fclose(f);
    return buf;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void *sync_thread(void *arg) {
    const char *dir = arg;
    char *names[MAX_DELTAS];
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        count(&failures);
        return NULL;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_DELTAS) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0 && strcmp(e->d_name, "expected.json") != 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; i < n && !stop_requested; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        char *json = read_file(path, &len);
        if (!json) {
            count(&failures);
            continue;
        }
        edgeid_apply_result r;
        memset(&r, 0, sizeof r);
        r.size = sizeof r;
        pthread_rwlock_rdlock(&store_lock);
        edgeid_status s = store ? edgeid_apply_delta_cancellable(store, (const uint8_t *)json, len, NULL, 0,
                                                                 progress, NULL, &r)
                                : EDGEID_ERR_CLOSED;
        pthread_rwlock_unlock(&store_lock);
        free(json);
        if (s == EDGEID_OK) {
            printf("daemon: %s: %s\n", names[i],
                   r.outcome == EDGEID_OUTCOME_APPLIED ? "applied" : "already applied");
            count(&applied);
        } else if (s == EDGEID_ERR_REFUSED) {
            /* A bad, stale or out-of-order delta: the platform is told; the daemon goes on. */
            printf("daemon: %s: refused (refusal %u)\n", names[i], (unsigned)r.refusal);
        } else if (s == EDGEID_ERR_CANCELLED) {
            printf("daemon: %s: cancelled by shutdown, nothing applied\n", names[i]);
            count(&cancelled);
        } else {
            check(names[i], s);
        }
        sleep_ms(20);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s STORE_DIR DELTA_DIR [SECONDS]\n", argv[0]);
        return 2;
    }
    store_dir = argv[1];
    int seconds = argc > 3 ? atoi(argv[3]) : 0;
    printf("daemon: libedgeid %s (%u), kernel %s\n", edgeid_version(), edgeid_version_number(),
           edgeid_kernel_name());
    if (edgeid_abi_version() != EDGEID_ABI_VERSION) {
        fprintf(stderr, "daemon: libedgeid ABI %u, built for %u\n", edgeid_abi_version(), EDGEID_ABI_VERSION);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (open_store() != EDGEID_OK)
        return 1;

    pthread_t door, sync;
    pthread_create(&door, NULL, door_thread, NULL);
    pthread_create(&sync, NULL, sync_thread, argv[2]);

    /* Main thread: periodic maintenance, reopen on request, the scripted signals. */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int hup_sent = 0;
    while (!stop_requested) {
        sleep_ms(200);
        if (seconds > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double t = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
            if (!hup_sent && t >= seconds / 2.0) {
                hup_sent = 1;
                raise(SIGHUP);
            }
            if (t >= seconds)
                raise(SIGTERM);
        }
        if (reopen_requested) {
            reopen_requested = 0;
            reopen();
        }
        pthread_rwlock_rdlock(&store_lock);
        edgeid_status s = store ? edgeid_maintain(store) : EDGEID_ERR_CLOSED;
        pthread_rwlock_unlock(&store_lock);
        check("maintain", s);
    }

    /* Clean shutdown: the workers see stop_requested (a running apply is cancelled), are joined,
     * then the store is closed, which joins the store's own threads. */
    pthread_join(door, NULL);
    pthread_join(sync, NULL);
    edgeid_close(store);
    printf("daemon: %lu identifications, %lu deltas applied, %lu cancelled, %lu reopens, %lu log lines\n",
           identified, applied, cancelled, reopened, log_lines);
    int ok = identified > 0 && applied > 0 && log_lines > 0 && (seconds == 0 || reopened == 1);
    printf("daemon: %d passed, %lu failed\n", ok, failures + !ok);
    return failures == 0 && ok ? 0 : 1;
}
