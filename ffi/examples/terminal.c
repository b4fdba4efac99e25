/*
 * terminal.c - the smallest useful edgeid program: what a door terminal does with faces.
 *
 *   terminal STORE apply DELTA_FILE [EMBEDDING_FILE [THRESHOLD]]
 *   terminal STORE status
 *   terminal STORE card FORMAT NUMBER [FACILITY]
 *   terminal STORE enroll LOCATION USER EMBEDDING_FILE [TEMPLATE_ID]
 *   terminal STORE identify EMBEDDING_FILE [THRESHOLD]
 *   terminal STORE verify LOCATION USER EMBEDDING_FILE [THRESHOLD]
 *   terminal STORE remove LOCATION USER
 *
 * STORE is a directory. `apply` applies a synchronisation delta file from the platform
 * (docs/sync-protocol.md) and prints the outcome (exit status 3 if it was refused); given an
 * EMBEDDING_FILE too, it then identifies that face, as a terminal does at the door once it is up
 * to date. `status` prints the sync state
 * of each location, `card` finds the holder of a card ("csn" with a hex serial, or "wiegand26" /
 * "wiegand34" with a number and a FACILITY code).
 *
 * `apply` and `enroll` create the store if there is none, for the face model named by the
 * environment variable EDGEID_MODEL (default "demo-model") and the dimension EDGEID_DIM (`apply`,
 * default 512) or that of the embedding (`enroll`); EDGEID_THREADS sets the number of search
 * threads (default: one per core). An EMBEDDING_FILE holds one face embedding as the model produced
 * it: raw little-endian 32-bit floats, or a JSON array of numbers ("[0.12, -0.5, ...]").
 *
 * Access codes are deliberately not a command: a code typed at the door goes straight from the
 * keypad to edgeid_lookup_code / edgeid_check_code, never onto a command line or into a log.
 *
 * Copy it, replace read_embedding() with your face model's output, keep the error handling.
 * Build: see Makefile and ../README.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <edgeid.h>

/* Score at or above which a face counts as a match. It depends on the face model: measure it on
 * your own data (false accept rate vs false reject rate) and set it per deployment. */
#define DEFAULT_THRESHOLD 0.5

/* Prints why the last call failed and exits. */
static void die(const char *what, edgeid_status st) {
    char msg[512];
    edgeid_last_error_message(msg, sizeof msg);
    fprintf(stderr, "terminal: %s failed: %s\n  %s\n", what, edgeid_status_str(st), msg);
    exit(1);
}

/* Reads a whole file into a malloc'ed, NUL-terminated buffer; sets *size. Exits on error. */
static unsigned char *read_file(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *bytes;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (*size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "terminal: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    bytes = malloc((size_t)*size + 1);
    if (bytes == NULL || fread(bytes, 1, (size_t)*size, f) != (size_t)*size) {
        fprintf(stderr, "terminal: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    bytes[*size] = 0;
    return bytes;
}

/* Reads an embedding file into a malloc'ed array; sets *dim. Exits on error. */
static float *read_embedding(const char *path, size_t *dim) {
    long size;
    unsigned char *bytes = read_file(path, &size);
    float *v;
    size_t n = 0, i = 0;

    while (i < (size_t)size && (bytes[i] == ' ' || bytes[i] == '\n' || bytes[i] == '\r' ||
                                bytes[i] == '\t')) {
        i++;
    }
    if (i < (size_t)size && bytes[i] == '[') {
        /* JSON array of numbers: at most one float per two bytes. */
        char *p = (char *)bytes + i + 1;
        v = malloc(sizeof(float) * ((size_t)size / 2 + 1));
        for (;;) {
            char *end;
            float x;
            while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
                p++;
            }
            if (*p == ']') {
                break;
            }
            x = strtof(p, &end);
            if (end == p) {
                fprintf(stderr, "terminal: %s: element %lu is not a number\n", path,
                        (unsigned long)n);
                exit(1);
            }
            v[n++] = x;
            p = end;
            while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
                p++;
            }
            if (*p == ',') {
                p++;
            }
        }
    } else {
        /* Raw little-endian f32 (the byte order of ARM and x86 terminals). */
        if (size % 4 != 0) {
            fprintf(stderr, "terminal: %s: %ld bytes is not a whole number of floats\n", path,
                    size);
            exit(1);
        }
        n = (size_t)size / 4;
        v = malloc(sizeof(float) * (n ? n : 1));
        memcpy(v, bytes, n * 4);
    }
    free(bytes);
    *dim = n;
    return v;
}

/* Opens the store; with `create_dim` > 0 creates it if there is none. */
static edgeid_store *open_store(const char *dir, size_t create_dim) {
    edgeid_store *store = NULL;
    edgeid_open_options opts;
    edgeid_status st;

    memset(&opts, 0, sizeof opts);
    opts.size = sizeof opts;
    /* Search threads: 0 = one per core (default), 1 = search on the calling thread only. */
    opts.threads = getenv("EDGEID_THREADS") ? (uint32_t)atoi(getenv("EDGEID_THREADS")) : 0;

    st = edgeid_open(dir, strlen(dir), &opts, &store);
    if (st == EDGEID_ERR_NO_STORE && create_dim > 0) {
        const char *model = getenv("EDGEID_MODEL");
        if (model == NULL) {
            model = "demo-model";
        }
        st = edgeid_create(dir, strlen(dir), model, strlen(model), create_dim, &opts, &store);
        if (st == EDGEID_OK) {
            printf("created store %s for model %s, %lu dimensions\n", dir, model,
                   (unsigned long)create_dim);
        }
    }
    if (st != EDGEID_OK) {
        die("opening the store", st);
    }
    return store;
}

static void print_hit(const edgeid_hit *h) {
    /* Ids are UTF-8 with a length, and NUL-terminated too. */
    printf("user %.*s at %.*s (template %.*s), score %.4f\n", (int)h->user_id_len, h->user_id,
           (int)h->location_id_len, h->location_id, (int)h->template_id_len, h->template_id,
           h->score);
}

/* Identifies the face in an embedding file and prints who it is. */
static void identify(edgeid_store *store, const char *path, double threshold) {
    edgeid_hit hits[3];
    size_t dim, n, i;
    float *emb = read_embedding(path, &dim);
    edgeid_status st = edgeid_face_identify(store, emb, dim, NULL, 0, threshold, hits, 3, &n);
    free(emb);
    if (st != EDGEID_OK) {
        die("identifying", st);
    }
    if (n == 0) {
        printf("no match (threshold %.2f)\n", threshold);
    }
    for (i = 0; i < n; i++) {
        printf("%s", i == 0 ? "" : "  also: ");
        print_hit(&hits[i]);
    }
}

/* Identifies the face in a JPEG/PNG image: detection, alignment and embedding in the library
 * (ONNX Runtime; EDGEID_ORT_DYLIB or the cache of scripts/fetch-models.sh), then 1:N. A camera
 * frame goes through edgeid_face_extract / edgeid_face_identify_frame the same way. */
static void identify_image(edgeid_store *store, const char *models, const char *path,
                           double threshold) {
    edgeid_vision *v = NULL;
    edgeid_face face;
    float emb[512]; /* the reference recogniser's dimension */
    FILE *f = fopen(path, "rb");
    uint8_t *bytes;
    long size;
    edgeid_status st;

    if (f == NULL) {
        fprintf(stderr, "terminal: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    bytes = malloc(size > 0 ? (size_t)size : 1);
    if (bytes == NULL || fread(bytes, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "terminal: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    st = edgeid_vision_open(models, strlen(models), NULL, 0, 0, 1, &v);
    if (st != EDGEID_OK) {
        die("loading the face models", st);
    }
    st = edgeid_face_extract_encoded(v, bytes, (size_t)size, emb, 512, &face);
    free(bytes);
    edgeid_vision_free(v);
    if (st != EDGEID_OK) {
        die("extracting the face", st);
    }
    if (!face.found) {
        printf("no face in %s\n", path);
        return;
    }
    printf("face at (%.0f, %.0f) %.0fx%.0f, quality %s, %.1f ms\n", face.box_xywh[0],
           face.box_xywh[1], face.box_xywh[2], face.box_xywh[3],
           face.quality_passed ? "ok" : "poor", face.total_ms);
    {
        edgeid_hit hits[3];
        size_t n, i;
        st = edgeid_face_identify(store, emb, 512, NULL, 0, threshold, hits, 3, &n);
        if (st != EDGEID_OK) {
            die("identifying", st);
        }
        if (n == 0) {
            printf("no match (threshold %.2f)\n", threshold);
        }
        for (i = 0; i < n; i++) {
            printf("%s", i == 0 ? "" : "  also: ");
            print_hit(&hits[i]);
        }
    }
}

/* Progress of an apply: runs on the calling thread, inside edgeid_apply_delta. It may only look
 * (print, update a display); it must not close the store or change it, and must return. */
static void on_progress(void *user_data, edgeid_progress_stage stage, size_t done, size_t total) {
    const char *file = user_data;
    if (stage == EDGEID_PROGRESS_VALIDATING) {
        printf("%s: validating %lu/%lu changes\n", file, (unsigned long)done, (unsigned long)total);
    } else if (stage == EDGEID_PROGRESS_COMMITTING) {
        printf("%s: committing %lu changes\n", file, (unsigned long)total);
    }
}

/* Applies a delta file and prints the outcome; returns 0 if it was applied (now or before), 3 if
 * the delta was refused (the store is unchanged then). */
static int apply(edgeid_store *store, const char *path) {
    long size;
    unsigned char *delta = read_file(path, &size);
    edgeid_apply_result r;
    edgeid_status st;

    memset(&r, 0, sizeof r);
    r.size = sizeof r; /* lets a newer library know which result this program understands */
    st = edgeid_apply_delta(store, delta, (size_t)size, on_progress, (void *)path, &r);
    free(delta);
    if (st == EDGEID_OK) {
        if (r.outcome == EDGEID_OUTCOME_APPLIED) {
            printf("applied: %.*s sequence %llu, %llu changes\n", (int)r.location_id_len,
                   r.location_id, (unsigned long long)r.sequence, (unsigned long long)r.changes);
        } else {
            printf("already applied: %.*s sequence %llu, nothing changed\n",
                   (int)r.location_id_len, r.location_id, (unsigned long long)r.sequence);
        }
        return 0;
    }
    if (st == EDGEID_ERR_REFUSED) {
        /* Report it to the platform: a gap or a stale sequence asks for a full synchronisation,
         * anything else is a bad delta. */
        const char *kind;
        char msg[512];
        edgeid_last_error_message(msg, sizeof msg);
        switch (r.refusal) {
        case EDGEID_REFUSAL_PARSE: kind = "not JSON"; break;
        case EDGEID_REFUSAL_VERSION: kind = "unsupported format"; break;
        case EDGEID_REFUSAL_INVALID: kind = "invalid"; break;
        case EDGEID_REFUSAL_GAP: kind = "gap, full synchronisation needed"; break;
        case EDGEID_REFUSAL_CONFLICT: kind = "conflict"; break;
        case EDGEID_REFUSAL_STALE: kind = "stale, full synchronisation needed"; break;
        default: kind = "other"; break; /* kinds a newer library may add */
        }
        printf("refused (%s): %s\n", kind, msg);
        return 3;
    }
    die("applying the delta", st); /* I/O, storage full, ...: the store is unchanged */
    return 1;
}

/* Prints the sync state of every location. */
static void print_status(edgeid_store *store) {
    edgeid_location_status *locs = NULL;
    size_t n = 0, i;
    edgeid_status st;
    /* Ask for the count, then fetch; loop in case a delta adds a location in between. */
    while ((st = edgeid_sync_status(store, locs, n, &n)) == EDGEID_ERR_SIZE) {
        free(locs);
        locs = malloc(n * sizeof *locs);
        if (locs == NULL) {
            fprintf(stderr, "terminal: out of memory\n");
            exit(1);
        }
    }
    if (st != EDGEID_OK) {
        die("reading the sync status", st);
    }
    if (n == 0) {
        printf("no location synchronised yet\n");
    }
    for (i = 0; i < n; i++) {
        printf("%.*s: sequence %llu, %llu users, %llu faces, %llu fingers, digest %s\n",
               (int)locs[i].location_id_len, locs[i].location_id,
               (unsigned long long)locs[i].sequence, (unsigned long long)locs[i].users,
               (unsigned long long)locs[i].faces, (unsigned long long)locs[i].fingers,
               locs[i].digest);
    }
    free(locs);
}

int main(int argc, char **argv) {
    edgeid_store *store;
    edgeid_status st;
    const char *cmd;
    size_t dim;
    float *emb = NULL;
    int rc = 0;

    if (argc < 3) {
        fprintf(stderr,
                "usage: %s STORE apply DELTA_FILE [EMBEDDING_FILE [THRESHOLD]]\n"
                "       %s STORE status\n"
                "       %s STORE card FORMAT NUMBER [FACILITY]\n"
                "       %s STORE enroll LOCATION USER EMBEDDING_FILE [TEMPLATE_ID]\n"
                "       %s STORE identify EMBEDDING_FILE [THRESHOLD]\n"
                "       %s STORE verify LOCATION USER EMBEDDING_FILE [THRESHOLD]\n"
                "       %s STORE remove LOCATION USER\n"
                "       %s STORE identify-image MODELS_DIR IMAGE [THRESHOLD]\n"
                "libedgeid %s (header %s), kernel %s\n",
                argv[0], argv[0], argv[0], argv[0], argv[0], argv[0], argv[0], argv[0], edgeid_version(),
                EDGEID_VERSION_STRING, edgeid_kernel_name());
        return 2;
    }
    cmd = argv[2];

    /* A library older than the header this program was compiled with may lack functions. */
    if (strcmp(edgeid_version(), EDGEID_VERSION_STRING) != 0) {
        fprintf(stderr, "terminal: note: built with edgeid.h %s, running with libedgeid %s\n",
                EDGEID_VERSION_STRING, edgeid_version());
    }

    if (strcmp(cmd, "apply") == 0 && argc >= 4 && argc <= 6) {
        const char *env_dim = getenv("EDGEID_DIM");
        store = open_store(argv[1], env_dim ? (size_t)atol(env_dim) : 512);
        rc = apply(store, argv[3]);
        if (argc >= 5) {
            identify(store, argv[4], argc == 6 ? strtod(argv[5], NULL) : DEFAULT_THRESHOLD);
        }
    } else if (strcmp(cmd, "status") == 0 && argc == 3) {
        store = open_store(argv[1], 0);
        print_status(store);
    } else if (strcmp(cmd, "card") == 0 && (argc == 5 || argc == 6)) {
        const char *format = argv[3], *number = argv[4];
        int64_t facility = argc == 6 ? (int64_t)atol(argv[5]) : EDGEID_NO_FACILITY;
        edgeid_user_ref who;
        bool found;
        store = open_store(argv[1], 0);
        st = edgeid_lookup_card(store, NULL, 0, format, strlen(format), number, strlen(number),
                                facility, &who, &found);
        if (st != EDGEID_OK) {
            die("looking the card up", st);
        }
        if (found) {
            printf("card %s %s: user %.*s at %.*s\n", format, number, (int)who.user_id_len,
                   who.user_id, (int)who.location_id_len, who.location_id);
        } else {
            printf("card %s %s: unknown\n", format, number);
        }
    } else if (strcmp(cmd, "enroll") == 0 && (argc == 6 || argc == 7)) {
        const char *loc = argv[3], *user = argv[4], *tmpl = argc == 7 ? argv[6] : "face-1";
        uint64_t seq;
        emb = read_embedding(argv[5], &dim);
        store = open_store(argv[1], dim);
        st = edgeid_face_put(store, loc, strlen(loc), user, strlen(user), tmpl, strlen(tmpl), emb,
                             dim, &seq);
        if (st != EDGEID_OK) {
            die("enrolling", st);
        }
        printf("enrolled user %s at %s (template %s), commit %llu\n", user, loc, tmpl,
               (unsigned long long)seq);
    } else if (strcmp(cmd, "identify") == 0 && (argc == 4 || argc == 5)) {
        store = open_store(argv[1], 0);
        identify(store, argv[3], argc == 5 ? strtod(argv[4], NULL) : DEFAULT_THRESHOLD);
    } else if (strcmp(cmd, "verify") == 0 && (argc == 6 || argc == 7)) {
        const char *loc = argv[3], *user = argv[4];
        double threshold = argc == 7 ? strtod(argv[6], NULL) : DEFAULT_THRESHOLD;
        edgeid_hit hit;
        emb = read_embedding(argv[5], &dim);
        store = open_store(argv[1], 0);
        st = edgeid_face_verify(store, loc, strlen(loc), user, strlen(user), emb, dim, &hit);
        if (st != EDGEID_OK) {
            die("verifying", st);
        }
        printf("%s: ", hit.score >= threshold ? "match" : "no match");
        print_hit(&hit);
    } else if (strcmp(cmd, "identify-image") == 0 && (argc == 5 || argc == 6)) {
        store = open_store(argv[1], 0);
        identify_image(store, argv[3], argv[4], argc == 6 ? strtod(argv[5], NULL) : 0.3);
    } else if (strcmp(cmd, "remove") == 0 && argc == 5) {
        const char *loc = argv[3], *user = argv[4];
        store = open_store(argv[1], 0);
        st = edgeid_face_remove_user(store, loc, strlen(loc), user, strlen(user), NULL);
        if (st != EDGEID_OK) {
            die("removing", st);
        }
        /* Removed faces must leave the flash: erase now rather than at the next maintenance. */
        st = edgeid_erase_deleted(store, NULL);
        if (st != EDGEID_OK) {
            die("erasing", st);
        }
        printf("removed user %s at %s\n", user, loc);
    } else {
        fprintf(stderr, "terminal: bad arguments; run without arguments for usage\n");
        return 2;
    }

    free(emb);
    st = edgeid_close(store);
    if (st != EDGEID_OK) {
        die("closing", st);
    }
    return rc;
}
