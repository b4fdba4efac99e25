/*
 * terminal.c - the smallest useful edgeid program: what a door terminal does with faces.
 *
 *   terminal STORE enroll LOCATION USER EMBEDDING_FILE [TEMPLATE_ID]
 *   terminal STORE identify EMBEDDING_FILE [THRESHOLD]
 *   terminal STORE verify LOCATION USER EMBEDDING_FILE [THRESHOLD]
 *   terminal STORE remove LOCATION USER
 *
 * STORE is a directory; `enroll` creates the store there if there is none, for the model named by
 * the environment variable EDGEID_MODEL (default "demo-model") and the dimension of the first
 * embedding; EDGEID_THREADS sets the number of search threads (default: one per core). An
 * EMBEDDING_FILE holds one face embedding as the model produced it: raw
 * little-endian 32-bit floats, or a JSON array of numbers ("[0.12, -0.5, ...]").
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

/* Reads an embedding file into a malloc'ed array; sets *dim. Exits on error. */
static float *read_embedding(const char *path, size_t *dim) {
    FILE *f = fopen(path, "rb");
    unsigned char *bytes;
    long size;
    float *v;
    size_t n = 0, i = 0;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "terminal: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    bytes = malloc((size_t)size + 1);
    if (bytes == NULL || fread(bytes, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "terminal: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    bytes[size] = 0;

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

int main(int argc, char **argv) {
    edgeid_store *store;
    edgeid_status st;
    const char *cmd;
    size_t dim;
    float *emb;

    if (argc < 3) {
        fprintf(stderr,
                "usage: %s STORE enroll LOCATION USER EMBEDDING_FILE [TEMPLATE_ID]\n"
                "       %s STORE identify EMBEDDING_FILE [THRESHOLD]\n"
                "       %s STORE verify LOCATION USER EMBEDDING_FILE [THRESHOLD]\n"
                "       %s STORE remove LOCATION USER\n"
                "libedgeid %s (header %s), kernel %s\n",
                argv[0], argv[0], argv[0], argv[0], edgeid_version(), EDGEID_VERSION_STRING,
                edgeid_kernel_name());
        return 2;
    }
    cmd = argv[2];

    /* A library older than the header this program was compiled with may lack functions. */
    if (strcmp(edgeid_version(), EDGEID_VERSION_STRING) != 0) {
        fprintf(stderr, "terminal: note: built with edgeid.h %s, running with libedgeid %s\n",
                EDGEID_VERSION_STRING, edgeid_version());
    }

    /* Once sync lands, a terminal applies the delta files its server sends here, before
     * answering at the door: edgeid_apply_delta(store, bytes, len, progress, ctx, &result). */

    if (strcmp(cmd, "enroll") == 0 && (argc == 6 || argc == 7)) {
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
        double threshold = argc == 5 ? strtod(argv[4], NULL) : DEFAULT_THRESHOLD;
        edgeid_hit hits[3];
        size_t n, i;
        emb = read_embedding(argv[3], &dim);
        store = open_store(argv[1], 0);
        st = edgeid_face_identify(store, emb, dim, NULL, 0, threshold, hits, 3, &n);
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
    } else if (strcmp(cmd, "remove") == 0 && argc == 5) {
        const char *loc = argv[3], *user = argv[4];
        emb = NULL;
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
    return 0;
}
