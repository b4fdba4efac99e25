/*
 * Face images to templates through the C API: a pipeline opened from the model descriptors, a
 * JPEG's bytes and a raw RGB camera frame (with padding in its stride) to embeddings, a frame with
 * no face, bad arguments, enrolment and identification straight from a frame, and a store of
 * another model refused.
 * Usage: vision_test SCRATCH_DIR MODELS_DIR JPEG_A JPEG_B RAW_RGB WIDTH HEIGHT STRIDE
 *   JPEG_A and RAW_RGB are photos of one person, JPEG_B of another; RAW_RGB holds HEIGHT rows of
 *   STRIDE bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define DIM 512

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long n;
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) {
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static float dot(const float *a, const float *b) {
    float s = 0;
    int i;
    for (i = 0; i < DIM; i++) {
        s += a[i] * b[i];
    }
    return s;
}

int main(int argc, char **argv) {
    edgeid_vision *v = NULL;
    edgeid_store *store = NULL, *other = NULL;
    edgeid_face face;
    edgeid_hit hits[3];
    size_t n_hits = 99, a_len, b_len, raw_len;
    float ea[DIM], eb[DIM], er[DIM];
    uint8_t grey[64 * 64 * 3];
    uint8_t *a, *b, *raw;
    uint32_t w, h;
    size_t stride;
    char path[4096];

    (void)make_vec;
    if (argc != 9) {
        fprintf(stderr, "usage: vision_test SCRATCH MODELS JPEG_A JPEG_B RAW W H STRIDE\n");
        return 2;
    }
    a = slurp(argv[3], &a_len);
    b = slurp(argv[4], &b_len);
    raw = slurp(argv[5], &raw_len);
    w = (uint32_t)atoi(argv[6]);
    h = (uint32_t)atoi(argv[7]);
    stride = (size_t)atol(argv[8]);

    EXPECT(edgeid_vision_open(S("/nonexistent/models"), NULL, 0, 0, 1, &v), EDGEID_ERR_IO);
    CHECK(v == NULL);
    EXPECT(edgeid_vision_open(S(argv[2]), NULL, 0, 0, 1, NULL), EDGEID_ERR_NULL);
    EXPECT(edgeid_vision_open(S(argv[2]), NULL, 0, 0, 1, &v), EDGEID_OK);
    CHECK(v != NULL);

    /* JPEG bytes and a raw frame to embeddings. */
    EXPECT(edgeid_face_extract_encoded(v, a, a_len, ea, DIM, &face), EDGEID_OK);
    CHECK(face.found == 1 && face.faces == 1 && face.quality_passed == 1);
    CHECK(face.score > 0.8f && face.box_xywh[2] > 20 && face.eye_distance_px > 20);
    CHECK(fabsf(dot(ea, ea) - 1.0f) < 1e-4f);
    EXPECT(edgeid_face_extract_encoded(v, b, b_len, eb, DIM, &face), EDGEID_OK);
    EXPECT(edgeid_face_extract(v, raw, raw_len, w, h, stride, EDGEID_PIXEL_RGB8, er, DIM, &face),
           EDGEID_OK);
    CHECK(face.found == 1);
    printf("same person %.3f, different people %.3f\n", dot(ea, er), dot(ea, eb));
    CHECK(dot(ea, er) > 0.3f);
    CHECK(dot(ea, eb) < 0.3f);

    /* No face: an answer, not an error. */
    memset(grey, 128, sizeof grey);
    EXPECT(edgeid_face_extract(v, grey, sizeof grey, 64, 64, 64 * 3, EDGEID_PIXEL_RGB8, er, DIM, &face),
           EDGEID_OK);
    CHECK(face.found == 0 && (face.quality_reasons & EDGEID_QUALITY_NO_FACE));

    /* Bad arguments. */
    EXPECT(edgeid_face_extract(v, grey, sizeof grey, 64, 64, 64 * 3, 9, er, DIM, &face), EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_extract(v, grey, sizeof grey, 64, 64, 10, EDGEID_PIXEL_RGB8, er, DIM, &face),
           EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_extract(v, NULL, 10, 64, 64, 64 * 3, EDGEID_PIXEL_RGB8, er, DIM, &face), EDGEID_ERR_NULL);
    EXPECT(edgeid_face_extract(NULL, grey, sizeof grey, 64, 64, 64 * 3, EDGEID_PIXEL_RGB8, er, DIM, &face),
           EDGEID_ERR_NULL);
    EXPECT(edgeid_face_extract_encoded(v, a, 0, ea, DIM, &face), EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_extract_encoded(v, a, a_len / 2, ea, DIM, &face), EDGEID_ERR_INVALID);
    EXPECT(edgeid_face_extract_encoded(v, a, a_len, ea, 128, &face), EDGEID_ERR_DIMENSION);

    /* Enrol from a frame, identify from a frame. */
    snprintf(path, sizeof path, "%s/store", argv[1]);
    EXPECT(edgeid_create(S(path), S("w600k_mbf"), DIM, NULL, &store), EDGEID_OK);
    EXPECT(edgeid_face_put_frame(store, v, S("door"), S("ann"), S("f1"), raw, raw_len, w, h, stride,
                                 EDGEID_PIXEL_RGB8, &face),
           EDGEID_OK);
    EXPECT(edgeid_face_put_frame(store, v, S("door"), S("bob"), S("f1"), grey, sizeof grey, 64, 64,
                                 64 * 3, EDGEID_PIXEL_RGB8, &face),
           EDGEID_ERR_REFUSED);
    CHECK(face.quality_reasons & EDGEID_QUALITY_NO_FACE);
    EXPECT(edgeid_face_identify_frame(store, v, raw, raw_len, w, h, stride, EDGEID_PIXEL_RGB8, NULL, 0,
                                      0.3, hits, 3, &n_hits, &face),
           EDGEID_OK);
    CHECK(n_hits == 1 && strcmp(hits[0].user_id, "ann") == 0 && hits[0].score > 0.99);
    EXPECT(edgeid_face_identify(store, ea, DIM, NULL, 0, 0.3, hits, 3, &n_hits), EDGEID_OK);
    CHECK(n_hits == 1 && strcmp(hits[0].user_id, "ann") == 0);
    EXPECT(edgeid_face_identify(store, eb, DIM, NULL, 0, 0.3, hits, 3, &n_hits), EDGEID_OK);
    CHECK(n_hits == 0);

    /* A store of another model: refused, not compared. */
    snprintf(path, sizeof path, "%s/other", argv[1]);
    EXPECT(edgeid_create(S(path), S("other-model"), DIM, NULL, &other), EDGEID_OK);
    EXPECT(edgeid_face_identify_frame(other, v, raw, raw_len, w, h, stride, EDGEID_PIXEL_RGB8, NULL, 0,
                                      0.3, hits, 3, &n_hits, &face),
           EDGEID_ERR_MODEL);

    EXPECT(edgeid_close(other), EDGEID_OK);
    EXPECT(edgeid_close(store), EDGEID_OK);
    edgeid_vision_free(v);
    edgeid_vision_free(NULL);
    free(a);
    free(b);
    free(raw);
    return finish("vision_test");
}
