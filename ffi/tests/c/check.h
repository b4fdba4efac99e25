/* Minimal checking helpers shared by the C tests of the edgeid C API. */
#ifndef EDGEID_TEST_CHECK_H
#define EDGEID_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "edgeid.h"

static int checks_passed;
static int checks_failed;

/* A string literal or C string as the (pointer, length) pair the API takes. */
#define S(str) (str), strlen(str)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            checks_passed++;                                                       \
        } else {                                                                   \
            checks_failed++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

/* Calls `call`, expects status `want`; on an error status also expects a message that names the
 * function ("edgeid_..."). */
#define EXPECT(call, want)                                                                      \
    do {                                                                                        \
        edgeid_status got_ = (call);                                                            \
        char msg_[512];                                                                         \
        msg_[0] = 0;                                                                            \
        edgeid_last_error_message(msg_, sizeof msg_);                                           \
        if (got_ != (edgeid_status)(want)) {                                                    \
            checks_failed++;                                                                    \
            fprintf(stderr, "%s:%d: %s\n  returned %s\n  expected %s\n  last error: %s\n",      \
                    __FILE__, __LINE__, #call, edgeid_status_str(got_), #want, msg_);           \
        } else if (got_ != EDGEID_OK && strncmp(msg_, "edgeid_", 7) != 0) {                     \
            checks_failed++;                                                                    \
            fprintf(stderr, "%s:%d: %s: error message does not name the function: %s\n",        \
                    __FILE__, __LINE__, #call, msg_);                                           \
        } else {                                                                                \
            checks_passed++;                                                                    \
        }                                                                                       \
    } while (0)

/* This thread's last error message without its leading "edgeid_function: ", into `buf`: what two
 * functions that refuse an argument alike have in common. */
static inline const char *message_after_function(char *buf, size_t len) {
    const char *colon;
    buf[0] = 0;
    edgeid_last_error_message(buf, len);
    colon = strstr(buf, ": ");
    return colon != NULL ? colon + 2 : buf;
}

/* Location filters that are not valid ids (empty, a control character, 65 bytes): identify must
 * refuse them as the lookups do. */
#define BAD_LOCATION_FILTERS 3
static inline const char *bad_location_filter(int i) {
    static const char *const bad[BAD_LOCATION_FILTERS] = {
        "", "tab\there", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    return bad[i];
}

/* Expects a lookup to refuse location filter `loc` with EDGEID_ERR_INVALID, and copies its message
 * (after the function name) into `want`. */
static inline void lookup_refuses_location(edgeid_store *s, const char *loc, char *want,
                                           size_t len) {
    edgeid_user_ref u;
    bool found;
    const char *tail;
    EXPECT(edgeid_lookup_code(s, loc, strlen(loc), S("1234"), &u, &found), EDGEID_ERR_INVALID);
    tail = message_after_function(want, len);
    memmove(want, tail, strlen(tail) + 1);
    CHECK(want[0] != 0);
}

/* Deterministic pseudo-random embedding in [-1, 1). */
static void make_vec(float *v, size_t dim, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 0x9e3779b9u;
    size_t i;
    for (i = 0; i < dim; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v[i] = (float)((double)(x & 0xffffff) / (double)0x800000 - 1.0);
    }
}

static int finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

#endif
