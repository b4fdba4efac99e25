/*
 * Code keys kept by the terminal (edgeid_open_options.code_keys), as a secure element would: the
 * key of a full synchronisation goes to the callbacks and to no file of the store; codes are
 * keyed by the callbacks; a failing callback changes nothing and says so; version 1 of
 * edgeid_open_options still opens (with the default key file).
 * Usage: code_keys_test SCRATCH_DIR   (SCRATCH_DIR must exist)
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define DIM 8
#define MAX_KEYS 8

/* ---- SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104), for the test's own key keeper ---------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t b[64]) {
    uint32_t w[64], a[8], t1, t2;
    int i;
    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    }
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, h, sizeof a);
    for (i = 0; i < 64; i++) {
        t1 = a[7] + (ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25)) +
             ((a[4] & a[5]) ^ (~a[4] & a[6])) + K256[i] + w[i];
        t2 = (ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22)) +
             ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
        memmove(a + 1, a, 7 * sizeof a[0]);
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) {
        h[i] += a[i];
    }
}

/* SHA-256 of `prefix` (64 bytes) followed by `msg`. */
static void sha256_after_block(const uint8_t prefix[64], const uint8_t *msg, size_t len,
                               uint8_t out[32]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint8_t block[64];
    uint64_t bits = (uint64_t)(len + 64) * 8;
    size_t i, rest;
    sha256_block(h, prefix);
    for (i = 0; i + 64 <= len; i += 64) {
        sha256_block(h, msg + i);
    }
    rest = len - i;
    memset(block, 0, sizeof block);
    memcpy(block, msg + i, rest);
    block[rest] = 0x80;
    if (rest >= 56) {
        sha256_block(h, block);
        memset(block, 0, sizeof block);
    }
    for (i = 0; i < 8; i++) {
        block[63 - i] = (uint8_t)(bits >> (8 * i));
    }
    sha256_block(h, block);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

static void hmac_sha256(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint8_t pad[64], inner[32];
    int i;
    for (i = 0; i < 64; i++) {
        pad[i] = (uint8_t)((i < 32 ? key[i] : 0) ^ 0x36);
    }
    sha256_after_block(pad, msg, len, inner);
    for (i = 0; i < 64; i++) {
        pad[i] = (uint8_t)((i < 32 ? key[i] : 0) ^ 0x5c);
    }
    sha256_after_block(pad, inner, 32, out);
}

/* ---- the terminal's key keeper ---------------------------------------------------------------- */

struct vault {
    pthread_mutex_t lock;
    uint8_t ids[MAX_KEYS][EDGEID_CODE_KEY_ID_LEN];
    uint8_t keys[MAX_KEYS][EDGEID_CODE_KEY_LEN];
    int count;
    int fail_store, fail_mac;
    int stores, macs, retains;
};

static int find(struct vault *v, const uint8_t *id) {
    int i;
    for (i = 0; i < v->count; i++) {
        if (memcmp(v->ids[i], id, EDGEID_CODE_KEY_ID_LEN) == 0) {
            return i;
        }
    }
    return -1;
}

static int32_t vault_store(void *ctx, const uint8_t *id, const uint8_t *key) {
    struct vault *v = ctx;
    int rc = 0;
    pthread_mutex_lock(&v->lock);
    v->stores++;
    if (v->fail_store) {
        rc = -5;
    } else if (find(v, id) < 0) {
        if (v->count == MAX_KEYS) {
            rc = -28;
        } else {
            memcpy(v->ids[v->count], id, EDGEID_CODE_KEY_ID_LEN);
            memcpy(v->keys[v->count], key, EDGEID_CODE_KEY_LEN);
            v->count++;
        }
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static int32_t vault_mac(void *ctx, const uint8_t *id, const uint8_t *msg, size_t len,
                         uint8_t *out) {
    struct vault *v = ctx;
    int i, rc = 0;
    pthread_mutex_lock(&v->lock);
    v->macs++;
    i = find(v, id);
    if (v->fail_mac || i < 0) {
        rc = 1;
    } else {
        hmac_sha256(v->keys[i], msg, len, out);
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static int32_t vault_retain(void *ctx, const uint8_t *ids, size_t n) {
    struct vault *v = ctx;
    int i = 0, j;
    size_t k;
    pthread_mutex_lock(&v->lock);
    v->retains++;
    while (i < v->count) {
        int keep = 0;
        for (k = 0; k < n; k++) {
            keep |= memcmp(v->ids[i], ids + k * EDGEID_CODE_KEY_ID_LEN, EDGEID_CODE_KEY_ID_LEN) == 0;
        }
        if (keep) {
            i++;
            continue;
        }
        for (j = i; j + 1 < v->count; j++) {
            memcpy(v->ids[j], v->ids[j + 1], EDGEID_CODE_KEY_ID_LEN);
            memcpy(v->keys[j], v->keys[j + 1], EDGEID_CODE_KEY_LEN);
        }
        v->count--;
    }
    pthread_mutex_unlock(&v->lock);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

static char store_dir[4096];
static struct vault vault;

/* Key A: 32 bytes of 0x5a; key B: 32 bytes of 0xa7. */
#define KEY_A_B64 "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo="
#define KEY_B_B64 "p6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6c="

static edgeid_status apply(edgeid_store *s, int seq, const char *key_b64, const char *user,
                           const char *code) {
    char json[1024];
    edgeid_apply_result r;
    memset(&r, 0, sizeof r);
    r.size = sizeof r;
    snprintf(json, sizeof json,
             "{\"format\":\"edgeid.delta/1\",\"location\":\"hq\",\"sequence\":%d,"
             "\"kind\":\"%s\"%s%s%s,\"changes\":[{\"op\":\"upsert_user\",\"user\":"
             "{\"id\":\"%s\",\"codes\":[\"%s\"]}}]}",
             seq, key_b64 ? "full" : "changes", key_b64 ? ",\"code_key\":\"" : "",
             key_b64 ? key_b64 : "", key_b64 ? "\"" : "", user, code);
    return edgeid_apply_delta(s, (const uint8_t *)json, strlen(json), NULL, NULL, &r);
}

/* 1 if `code` opens for `user` at hq, 0 if for nobody; the status otherwise (negated). */
static int who(edgeid_store *s, const char *code, const char *user) {
    bool found = false;
    edgeid_user_ref ref;
    edgeid_status st = edgeid_lookup_code(s, S("hq"), S(code), &ref, &found);
    if (st != EDGEID_OK) {
        return -(int)st;
    }
    return found && strcmp(ref.user_id, user) == 0 ? 1 : 0;
}

/* Whether any file of the store holds 32 bytes of `byte` in a row. */
static int store_holds_run(uint8_t byte) {
    DIR *d = opendir(store_dir);
    struct dirent *e;
    int found = 0;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[8192];
        FILE *f;
        int c, run = 0;
        snprintf(path, sizeof path, "%s/%s", store_dir, e->d_name);
        f = fopen(path, "rb");
        if (f == NULL) {
            continue; /* . and .. */
        }
        while ((c = fgetc(f)) != EOF) {
            run = c == byte ? run + 1 : 0;
            found |= run >= 32;
        }
        fclose(f);
    }
    if (d != NULL) {
        closedir(d);
    }
    return found;
}

static edgeid_open_options with_vault(edgeid_code_keys *k) {
    edgeid_open_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.threads = 1;
    memset(k, 0, sizeof *k);
    k->size = sizeof *k;
    k->ctx = &vault;
    k->store_key = vault_store;
    k->mac = vault_mac;
    k->retain = vault_retain;
    o.code_keys = k;
    return o;
}

int main(int argc, char **argv) {
    edgeid_store *s = NULL;
    edgeid_code_keys k;
    edgeid_open_options o;
    char msg[512];
    uint8_t mac[32];
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    (void)make_vec; /* check.h's helper, not needed here */
    snprintf(store_dir, sizeof store_dir, "%s/code-keys-store", argv[1]);
    pthread_mutex_init(&vault.lock, NULL);

    /* The test's HMAC against known answers (Python's hmac module), one of them longer than a
     * block. */
    {
        uint8_t key[32], x100[100];
        static const uint8_t want_code[32] = {
            0x16, 0xe7, 0x65, 0xd8, 0x4f, 0xf8, 0x62, 0xfb, 0xd5, 0xad, 0x44, 0x4e, 0xe0, 0x33, 0x6d, 0x0e,
            0x44, 0x60, 0xa2, 0xc0, 0xf3, 0xd4, 0xe7, 0xb8, 0xbe, 0x75, 0x8a, 0x17, 0x08, 0xe0, 0x96, 0x32};
        static const uint8_t want_long[32] = {
            0x7b, 0x74, 0x7c, 0x1a, 0x1d, 0x0b, 0x7c, 0x84, 0x75, 0x95, 0x04, 0x05, 0x93, 0x6f, 0x61, 0x87,
            0x7d, 0xa5, 0x25, 0xf4, 0xda, 0x72, 0xb5, 0x72, 0x98, 0xa0, 0xbe, 0xf6, 0xa0, 0xb0, 0x19, 0xe0};
        memset(key, 0x5a, sizeof key);
        memset(x100, 'x', sizeof x100);
        hmac_sha256(key, (const uint8_t *)"482913", 6, mac);
        CHECK(memcmp(mac, want_code, 32) == 0);
        hmac_sha256(key, x100, sizeof x100, mac);
        CHECK(memcmp(mac, want_long, 32) == 0);
    }

    /* Bad provider structs are refused before anything is created. */
    o = with_vault(&k);
    k.mac = NULL;
    EXPECT(edgeid_create(S(store_dir), S("m"), DIM, &o, &s), EDGEID_ERR_NULL);
    o = with_vault(&k);
    k.size = 8;
    EXPECT(edgeid_create(S(store_dir), S("m"), DIM, &o, &s), EDGEID_ERR_SIZE);

    o = with_vault(&k);
    EXPECT(edgeid_create(S(store_dir), S("m"), DIM, &o, &s), EDGEID_OK);
    EXPECT(apply(s, 1, KEY_A_B64, "ada", "482913"), EDGEID_OK);
    CHECK(vault.count == 1 && vault.stores == 1);
    CHECK(who(s, "482913", "ada") == 1);
    CHECK(who(s, "482914", "ada") == 0);
    CHECK(vault.macs > 0);
    CHECK(!store_holds_run(0x5a)); /* key A: in no file of the store */

    /* A callback that fails: the delta is not applied, the message says which callback. */
    vault.fail_store = 1;
    EXPECT(apply(s, 2, KEY_B_B64, "bob", "135790"), EDGEID_ERR_IO);
    edgeid_last_error_message(msg, sizeof msg);
    CHECK(strstr(msg, "store_key") != NULL && strstr(msg, "-5") != NULL);
    vault.fail_store = 0;
    CHECK(who(s, "482913", "ada") == 1);
    CHECK(vault.count == 1);
    vault.fail_mac = 1;
    CHECK(who(s, "482913", "ada") == -(int)EDGEID_ERR_IO);
    EXPECT(apply(s, 2, NULL, "bob", "135790"), EDGEID_ERR_IO);
    vault.fail_mac = 0;

    /* The rotation: key B stored, key A released after the checkpoint. */
    EXPECT(apply(s, 2, KEY_B_B64, "bob", "135790"), EDGEID_OK);
    CHECK(who(s, "135790", "bob") == 1);
    CHECK(who(s, "482913", "ada") == 0);
    EXPECT(edgeid_compact(s), EDGEID_OK);
    CHECK(vault.count == 1 && vault.retains > 0);
    CHECK(!store_holds_run(0xa7) && !store_holds_run(0x5a));
    EXPECT(edgeid_close(s), EDGEID_OK);

    /* Reopened with the keeper: codes work. */
    EXPECT(edgeid_open(S(store_dir), &o, &s), EDGEID_OK);
    CHECK(who(s, "135790", "bob") == 1);
    EXPECT(edgeid_close(s), EDGEID_OK);

    /* Version 1 of the options (no code_keys field): opens with the key file, which does not
     * hold this store's key: code lookups say so, nothing else is affected. */
    o.size = EDGEID_OPEN_OPTIONS_SIZE_V1;
    o.code_keys = (const edgeid_code_keys *)(uintptr_t)1; /* past a v1 struct: never read */
    EXPECT(edgeid_open(S(store_dir), &o, &s), EDGEID_OK);
    CHECK(who(s, "135790", "bob") == -(int)EDGEID_ERR_NOT_FOUND);
    EXPECT(edgeid_close(s), EDGEID_OK);

    pthread_mutex_destroy(&vault.lock);
    return finish("code_keys_test");
}
