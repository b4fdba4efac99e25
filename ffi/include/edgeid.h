/*
 * edgeid.h - C API of edgeid, the identity engine inside access-control terminals.
 *
 * A terminal keeps its own copy of the users of its location in a store (a directory on its
 * flash): crash-safe, kept up to date by the platform's synchronisation deltas
 * (edgeid_apply_delta), and answering exact 1:N face identification, 1:1 verification,
 * fingerprint identification and verification from minutiae records, and card / access code /
 * licence plate lookups.
 *
 * CONVENTIONS
 * - Every function that can fail returns an edgeid_status: EDGEID_OK (0) or an error code. After an
 *   error, edgeid_last_error_message() gives this thread's message for it (what was expected, what
 *   was found). No function crashes on NULL pointers, bad UTF-8, wrong sizes or closed handles: they
 *   give error codes. (Pointers must still cover the lengths passed with them.)
 * - Strings passed in are UTF-8 with an explicit length in bytes (const char *s, size_t s_len) and
 *   need not be NUL-terminated. Ids (location, user, template) are 1..=64 bytes without control
 *   characters. Strings returned are NUL-terminated.
 * - Buffers passed in are only read during the call; nothing keeps a pointer to them.
 * - Output arguments named *_out that are documented "may be NULL" are optional.
 * - Structs with a leading `size` field must have it set to sizeof(the struct) (version check).
 *
 * OWNERSHIP
 * - edgeid_store *: from edgeid_open / edgeid_create; released by edgeid_close (NULL: no-op). The
 *   value is a handle, not an address: after edgeid_close, calls with it return EDGEID_ERR_CLOSED.
 * - edgeid_batch *: from edgeid_batch_new; released by edgeid_batch_free (NULL: no-op).
 * - const char * returned by edgeid_version, edgeid_kernel_name, edgeid_status_str: static; never
 *   free them.
 * - edgeid_hit, edgeid_finger_hit, edgeid_stats, edgeid_apply_result, edgeid_location_status,
 *   edgeid_user_ref, digest and message buffers: the caller's memory; edgeid writes into them.
 * - Fingerprint records passed in are only read during the call (a batch keeps its own prepared
 *   copy of the template).
 * - Access codes passed in are only read during the call: never stored, copied, logged or put in
 *   an error message.
 *
 * THREADS
 * Each function states its thread safety. In short: a store handle may be used from any number of
 * threads at once; identify, verify, stats, sync status, digests and lookups run concurrently with
 * one another and with commits and applied deltas (they see the store before or after a commit or
 * delta, never half of it); commits, deltas and maintenance on one store are serialised. The
 * progress callback of edgeid_apply_delta runs on the calling thread. A store starts `threads`
 * search workers (edgeid_open_options) that share each search over a large gallery (65,536
 * templates or more); threads = 1 starts none.
 *
 * VERSIONS AND ABI: see ffi/README.md. While EDGEID_VERSION_MAJOR is 0, each minor version may
 * change the ABI (the shared library's SONAME is libedgeid.so.0.MINOR); patch versions never do.
 */

#ifndef EDGEID_H
#define EDGEID_H

/* Generated from ffi/src by cbindgen (see ffi/cbindgen.toml); do not edit by hand. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#define EDGEID_VERSION_MAJOR 0
#define EDGEID_VERSION_MINOR 1
#define EDGEID_VERSION_PATCH 0
#define EDGEID_VERSION_STRING "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH: compare with edgeid_version_number() at run time. */
#define EDGEID_VERSION_NUMBER 100
/* The ABI: the minor while MAJOR is 0, then MAJOR * 100; compare with edgeid_abi_version(). */
#define EDGEID_ABI_VERSION 1

/**
 * `edgeid_open_options.flags`: open read-only. Nothing is written (no lock file, no clean-up of
 * leftovers, no cut of a torn log tail, no upgrade), no writer lock is taken, so read-only handles
 * open beside a writer (in this or another process); the handle shows the store as it was when it
 * opened. Writes return `EDGEID_ERR_READ_ONLY`. The writer scrubs erased segment files only once
 * the read-only handles mapping them are closed: close them promptly. `edgeid_create` refuses it.
 */
#define EDGEID_OPEN_READ_ONLY 1

/**
 * Most search threads a store may start (edgeid_open_options.threads).
 */
#define EDGEID_MAX_THREADS 1024

/**
 * `sizeof(edgeid_open_options)` of version 1 (before `code_keys`): still accepted in
 * `edgeid_open_options.size`.
 */
#define EDGEID_OPEN_OPTIONS_SIZE_V1 12

/**
 * `sizeof(edgeid_stats)` of version 1 (before the fingerprint counts): still accepted in
 * `edgeid_stats.size`, and then only that many bytes are written.
 */
#define EDGEID_STATS_SIZE_V1 104

/**
 * Size of the `model` buffer in `edgeid_stats`: the longest model name (32 bytes) plus a NUL.
 */
#define EDGEID_MODEL_BUF 33

/**
 * Longest location, user or template id in bytes (UTF-8, no control characters, not empty).
 */
#define EDGEID_ID_MAX_LEN 64

/**
 * Size of the id buffers in `edgeid_hit`: the longest id plus a NUL.
 */
#define EDGEID_ID_BUF 65

/**
 * A threshold that accepts every score (face scores are cosine similarities in -1..=1,
 * fingerprint scores lie in 0..=1).
 */
#define EDGEID_ANY_SCORE -1.0

/**
 * Size of a digest buffer: 64 lowercase hex digits (SHA-256) plus a NUL.
 */
#define EDGEID_DIGEST_BUF 65

/**
 * `edgeid_lookup_card`'s `facility` for card formats without a facility code (`csn`).
 */
#define EDGEID_NO_FACILITY -1

/**
 * `position` argument: take the finger position from the record (a record with one finger view),
 * instead of naming one.
 */
#define EDGEID_FINGER_POSITION_FROM_RECORD -1

/**
 * Highest finger position (ISO/IEC 19794-2 codes: 0 unknown, 1 right thumb … 10 left little).
 */
#define EDGEID_FINGER_POSITION_MAX 10

/**
 * Lowest false-match rate the built-in calibration covers (`edgeid_finger_threshold_for_fmr`).
 */
#define EDGEID_FINGER_FMR_MIN 1e-6

/**
 * Highest false-match rate the built-in calibration covers (`edgeid_finger_threshold_for_fmr`).
 */
#define EDGEID_FINGER_FMR_MAX 1e-1

/**
 * Bytes of a code key id (`key_id` arguments of the `edgeid_code_keys` callbacks).
 */
#define EDGEID_CODE_KEY_ID_LEN 16

/**
 * Bytes of a code key and of an HMAC-SHA256.
 */
#define EDGEID_CODE_KEY_LEN 32

/**
 * Bytes of an Ed25519 public key (raw).
 */
#define EDGEID_PUBLIC_KEY_BYTES 32

/**
 * Most public keys a location trusts at once.
 */
#define EDGEID_MAX_SIGNING_KEYS 16

/**
 * Pixel format of a frame: 3 bytes per pixel, red, green, blue.
 */
#define EDGEID_PIXEL_RGB8 0

/**
 * 3 bytes per pixel, blue, green, red.
 */
#define EDGEID_PIXEL_BGR8 1

/**
 * 1 byte per pixel, luma.
 */
#define EDGEID_PIXEL_GRAY8 2

/**
 * NV12: the Y plane (`stride` bytes per row, `height` rows) followed by the interleaved UV plane
 * (`height / 2` rows, same stride); even width and height.
 */
#define EDGEID_PIXEL_NV12 3

/**
 * Quality reasons (bits of `edgeid_face.quality_reasons`): no face in the frame.
 */
#define EDGEID_QUALITY_NO_FACE 1

/**
 * The face is too small (step closer).
 */
#define EDGEID_QUALITY_TOO_SMALL 2

/**
 * The detector is unsure it is a face.
 */
#define EDGEID_QUALITY_UNCLEAR 4

/**
 * The landmarks do not form a plausible face.
 */
#define EDGEID_QUALITY_IMPLAUSIBLE 8

/**
 * The head is turned away (look at the camera).
 */
#define EDGEID_QUALITY_TURNED_AWAY 16

/**
 * The head is tilted sideways.
 */
#define EDGEID_QUALITY_TILTED 32

/**
 * The face is blurred (hold still).
 */
#define EDGEID_QUALITY_BLURRED 64

/**
 * The face is too dark.
 */
#define EDGEID_QUALITY_TOO_DARK 128

/**
 * The face is overexposed.
 */
#define EDGEID_QUALITY_TOO_BRIGHT 256

/**
 * Size of `edgeid_decision.mode` (a mode and its NUL).
 */
#define EDGEID_MODE_BUF 64

/**
 * Size of `edgeid_decision.reason_code` and `edgeid_decision.punch`.
 */
#define EDGEID_CODE_BUF 32

/**
 * `edgeid_decision.reason`: granted (no reason).
 */
#define EDGEID_REASON_NONE 0

/**
 * The door is not known at the location.
 */
#define EDGEID_REASON_UNKNOWN_DOOR 1

/**
 * No user holds the card, plate, id or code.
 */
#define EDGEID_REASON_UNKNOWN_CREDENTIAL 2

/**
 * No user's face matches at the threshold.
 */
#define EDGEID_REASON_UNKNOWN_FACE 3

/**
 * No user's fingerprint matches at the threshold.
 */
#define EDGEID_REASON_UNKNOWN_FINGER 4

/**
 * The user is disabled.
 */
#define EDGEID_REASON_DISABLED 5

/**
 * Before the user's validity.
 */
#define EDGEID_REASON_NOT_YET_VALID 6

/**
 * After the user's validity.
 */
#define EDGEID_REASON_EXPIRED 7

/**
 * No right of the user names the door.
 */
#define EDGEID_REASON_NO_RIGHT_FOR_DOOR 8

/**
 * Outside the schedules of the user's rights for the door.
 */
#define EDGEID_REASON_OUTSIDE_SCHEDULE 9

/**
 * A holiday of those schedules.
 */
#define EDGEID_REASON_HOLIDAY 10

/**
 * A mode was begun but not completed (in time).
 */
#define EDGEID_REASON_SECOND_FACTOR_MISSING 11

/**
 * A factor the modes use did not match the user.
 */
#define EDGEID_REASON_SECOND_FACTOR_MISMATCH 12

/**
 * What was presented is no mode offered here now.
 */
#define EDGEID_REASON_MODE_NOT_ALLOWED 13

/**
 * A hard anti-passback violation.
 */
#define EDGEID_REASON_ANTI_PASSBACK 14

/**
 * `edgeid_decision.factors` bit: a face matched.
 */
#define EDGEID_FACTOR_FACE 1

/**
 * A fingerprint matched.
 */
#define EDGEID_FACTOR_FINGER 2

/**
 * A card named the user.
 */
#define EDGEID_FACTOR_CARD 4

/**
 * An access code matched.
 */
#define EDGEID_FACTOR_CODE 8

/**
 * A plate named the user.
 */
#define EDGEID_FACTOR_PLATE 16

/**
 * A typed user id named the user.
 */
#define EDGEID_FACTOR_ID 32

/**
 * `edgeid_decision.anti_passback`: the door has no anti-passback (or it was not reached).
 */
#define EDGEID_APB_NONE 0

/**
 * The passage is in order.
 */
#define EDGEID_APB_OK 1

/**
 * A soft violation: granted and recorded.
 */
#define EDGEID_APB_SOFT_VIOLATION 2

/**
 * A hard violation: denied.
 */
#define EDGEID_APB_DENIED 3

/**
 * What a call returned. `EDGEID_OK` is 0; every other value is an error, and the thread's last
 * error message (`edgeid_last_error_message`) then says what was expected and what was found.
 * Values are stable: a code keeps its number forever and new codes are only appended.
 */
enum edgeid_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Success.
     */
    EDGEID_OK = 0,
    /**
     * A required pointer argument was NULL (or a pointer was not aligned for its type).
     */
    EDGEID_ERR_NULL = 1,
    /**
     * A string argument is not valid UTF-8.
     */
    EDGEID_ERR_UTF8 = 2,
    /**
     * An argument or input was refused: id rules (1..=64 bytes, no control characters), a NaN,
     * infinite or all-zero embedding, k = 0, a non-finite threshold, bad options. Nothing changed.
     */
    EDGEID_ERR_INVALID = 3,
    /**
     * An embedding's length is not the store's dimension. Nothing changed.
     */
    EDGEID_ERR_DIMENSION = 4,
    /**
     * A struct's `size` field is not `sizeof` of a version of that struct this library knows, or
     * a caller's array is too small for the result (`edgeid_sync_status` says what it needs).
     */
    EDGEID_ERR_SIZE = 5,
    /**
     * The user or template does not exist (remove, verify), or the location has never received a
     * delta (digest).
     */
    EDGEID_ERR_NOT_FOUND = 6,
    /**
     * `edgeid_open`: the directory holds no store. `edgeid_create`: it already holds one.
     */
    EDGEID_ERR_NO_STORE = 7,
    /**
     * The store is open elsewhere (another process or another handle): one writer per store.
     */
    EDGEID_ERR_LOCKED = 8,
    /**
     * A file operation failed (the message names the operation and the path).
     */
    EDGEID_ERR_IO = 9,
    /**
     * The storage device is full: the commit was refused and the store is unchanged.
     */
    EDGEID_ERR_STORAGE_FULL = 10,
    /**
     * A file of the store is damaged (the message names it and the first thing found wrong).
     */
    EDGEID_ERR_CORRUPT = 11,
    /**
     * A file was written in a format version this library does not read.
     */
    EDGEID_ERR_VERSION = 12,
    /**
     * Input of another face model than the store's.
     */
    EDGEID_ERR_MODEL = 13,
    /**
     * An earlier write or fsync failed; the store refuses writes until it is closed and reopened.
     */
    EDGEID_ERR_POISONED = 14,
    /**
     * The store handle was closed, or never was a handle.
     */
    EDGEID_ERR_CLOSED = 15,
    /**
     * The option or flag is not supported by this version of the library.
     */
    EDGEID_ERR_UNSUPPORTED = 16,
    /**
     * An internal error (a bug in edgeid) was caught. The store handle involved has been closed
     * (the files on disk are consistent: reopen the store); output arguments are unspecified.
     */
    EDGEID_ERR_PANIC = 17,
    /**
     * An error this version of the C API does not classify; the message tells what happened.
     */
    EDGEID_ERR_OTHER = 18,
    /**
     * `edgeid_apply_delta`: the delta was refused (not JSON, unsupported format, an invalid field,
     * a sequence gap, a conflict, a stale sequence); nothing of it was applied. The result says
     * which kind of refusal, the message what exactly (e.g. the path of the invalid field).
     */
    EDGEID_ERR_REFUSED = 19,
    /**
     * A write (put, remove, commit, apply a delta, compact, erase, maintain) on a store opened
     * with `EDGEID_OPEN_READ_ONLY`. Nothing changed.
     */
    EDGEID_ERR_READ_ONLY = 20,
    /**
     * Memory for the operation could not be allocated (a large batch, delta, segment or search
     * buffer). Like `EDGEID_ERR_STORAGE_FULL`: nothing was done, the store is as it was; retry
     * with a smaller batch or more memory free.
     */
    EDGEID_ERR_OUT_OF_MEMORY = 21,
    /**
     * The progress callback asked to stop (returned non-zero) before the delta was committed:
     * nothing of it was applied.
     */
    EDGEID_ERR_CANCELLED = 22,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum edgeid_status edgeid_status;
#else
typedef uint32_t edgeid_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * `edgeid_log_fn`'s level: an error kept for retry (or a store refusing writes), a refusal or
 * repair, a normal event.
 */
enum edgeid_log_level
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Something failed (housekeeping kept for retry; a store refusing writes until reopened).
     */
    EDGEID_LOG_ERROR = 1,
    /**
     * Something was refused (a delta) or repaired (a torn log tail cut at open).
     */
    EDGEID_LOG_WARN = 2,
    /**
     * A normal event (open, checkpoint, compaction).
     */
    EDGEID_LOG_INFO = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum edgeid_log_level edgeid_log_level;
#else
typedef uint32_t edgeid_log_level;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The stage an apply has reached, passed to an `edgeid_progress_fn`.
 */
enum edgeid_progress_stage
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Parsing and validating: `done` of `total` changes checked (reported at the start, every
     * 256 changes, and at the end with `done == total`).
     */
    EDGEID_PROGRESS_VALIDATING = 1,
    /**
     * The delta is valid and its sequence is next: committing (once; `done == total ==` the
     * number of changes).
     */
    EDGEID_PROGRESS_COMMITTING = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum edgeid_progress_stage edgeid_progress_stage;
#else
typedef uint32_t edgeid_progress_stage;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * What `edgeid_apply_delta` did with a delta (`edgeid_apply_result.outcome`). Values are stable;
 * new ones may be appended.
 */
enum edgeid_apply_outcome
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * No outcome: the call failed before deciding (see its status), e.g. an I/O error.
     */
    EDGEID_OUTCOME_NONE = 0,
    /**
     * Applied: the delta's changes are committed and durable.
     */
    EDGEID_OUTCOME_APPLIED = 1,
    /**
     * This exact delta had been applied before; nothing changed. A success: re-sending a delta
     * is harmless.
     */
    EDGEID_OUTCOME_ALREADY_APPLIED = 2,
    /**
     * Refused (the call returned `EDGEID_ERR_REFUSED`); nothing of the delta was applied.
     */
    EDGEID_OUTCOME_REFUSED = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum edgeid_apply_outcome edgeid_apply_outcome;
#else
typedef uint32_t edgeid_apply_outcome;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Why a delta was refused (`edgeid_apply_result.refusal`). Values are stable; new ones may be
 * appended, so handle `default:`.
 */
enum edgeid_refusal
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Not refused.
     */
    EDGEID_REFUSAL_NONE = 0,
    /**
     * Not JSON.
     */
    EDGEID_REFUSAL_PARSE = 1,
    /**
     * A `format` this library does not read.
     */
    EDGEID_REFUSAL_VERSION = 2,
    /**
     * A field is wrong; the message names it, e.g.
     * `changes[1].user.faces[0].embedding: expected 512 floats, got 511`.
     */
    EDGEID_REFUSAL_INVALID = 3,
    /**
     * The sequence skips deltas: the platform must send a full synchronisation.
     */
    EDGEID_REFUSAL_GAP = 4,
    /**
     * A sequence already applied, re-sent with different content.
     */
    EDGEID_REFUSAL_CONFLICT = 5,
    /**
     * A sequence older than the deltas this store remembers: send a full synchronisation.
     */
    EDGEID_REFUSAL_STALE = 6,
    /**
     * A reason this version of the C API does not classify; the message tells what it is.
     */
    EDGEID_REFUSAL_OTHER = 7,
    /**
     * Larger than this store accepts (`max_delta_bytes`); refused before it was parsed. The
     * platform sends the location's users in several deltas.
     */
    EDGEID_REFUSAL_TOO_LARGE = 8,
    /**
     * The signature is missing (the location requires signed deltas, or the delta replaces the
     * signing keys), malformed, made with a key not trusted for the delta's location, or does
     * not match the delta's bytes (see `edgeid_apply_delta_signed`).
     */
    EDGEID_REFUSAL_SIGNATURE = 9,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum edgeid_refusal edgeid_refusal;
#else
typedef uint32_t edgeid_refusal;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The format of a minutiae record passed as a `uint32_t format` argument. Values are stable; new
 * formats may be appended (an unknown value gives `EDGEID_ERR_UNSUPPORTED`).
 */
enum edgeid_finger_format
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Detect the format from the record's header (ISO 2005, ISO 2011, ANSI 378). The card
     * formats have no header and must be named.
     */
    EDGEID_FINGER_FORMAT_DETECT = 0,
    /**
     * ISO/IEC 19794-2:2005 finger minutiae record.
     */
    EDGEID_FINGER_FORMAT_ISO2005 = 1,
    /**
     * ANSI/INCITS 378-2004 finger minutiae record.
     */
    EDGEID_FINGER_FORMAT_ANSI378 = 2,
    /**
     * ISO/IEC 19794-2:2011 finger minutiae record.
     */
    EDGEID_FINGER_FORMAT_ISO2011 = 3,
    /**
     * ISO/IEC 19794-2 card format, normal size (5-byte minutiae, no header).
     */
    EDGEID_FINGER_FORMAT_CARD_NORMAL = 4,
    /**
     * ISO/IEC 19794-2 card format, compact size (3-byte minutiae, no header).
     */
    EDGEID_FINGER_FORMAT_CARD_COMPACT = 5,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum edgeid_finger_format edgeid_finger_format;
#else
typedef uint32_t edgeid_finger_format;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * A list of changes to face and fingerprint templates committed together, atomically, by
 * `edgeid_commit`. Opaque: created by `edgeid_batch_new`, released by `edgeid_batch_free`. Not
 * tied to a store.
 */
typedef struct edgeid_batch edgeid_batch;

/**
 * An open store. Opaque: obtained from `edgeid_open` / `edgeid_create`, released by
 * `edgeid_close`. The value is a token, not an address; never dereference it.
 */
typedef struct edgeid_store edgeid_store;

/**
 * The vision pipeline: detector and recogniser sessions, buffers. Opaque: created by
 * `edgeid_vision_open`, released by `edgeid_vision_free`.
 */
typedef struct edgeid_vision edgeid_vision;

/**
 * Keeps `key` (`EDGEID_CODE_KEY_LEN` bytes) under `key_id` (`EDGEID_CODE_KEY_ID_LEN` bytes),
 * durably, then returns 0. Any other value is a failure: the delta that brought the key is not
 * applied (`EDGEID_ERR_IO`) and nothing changes. Storing a key already held must succeed.
 */
typedef int32_t (*edgeid_store_key_fn)(void *ctx,
                                       const uint8_t *key_id,
                                       const uint8_t *key);

/**
 * Writes HMAC-SHA256(key of `key_id`, `message`) — `message_len` bytes, an access code — to
 * `out` (`EDGEID_CODE_KEY_LEN` bytes) and returns 0. Any other value is a failure: the lookup
 * or delta that needed it fails with `EDGEID_ERR_IO` and nothing changes. `message` holds a
 * plain access code: do not keep or log it.
 */
typedef int32_t (*edgeid_code_mac_fn)(void *ctx,
                                      const uint8_t *key_id,
                                      const uint8_t *message,
                                      size_t message_len,
                                      uint8_t *out);

/**
 * The store needs no code key but the `count` ones whose ids are at `key_ids` (`count` ×
 * `EDGEID_CODE_KEY_ID_LEN` bytes; `count` may be 0): the provider may discard the others (keys
 * replaced by a rotation, or stored for a delta that then failed). Return 0; a failure is
 * harmless (called again after the next checkpoint that changes the catalog, and on open).
 */
typedef int32_t (*edgeid_retain_keys_fn)(void *ctx,
                                         const uint8_t *key_ids,
                                         size_t count);

/**
 * A keeper of code keys of the terminal's own (`edgeid_open_options.code_keys`): access codes
 * are stored as HMAC-SHA256 with a per-location key the platform sends in full synchronisations,
 * and whoever reads both the hashes and the key recovers every code offline. By default the key
 * is kept in the file `CODE-KEYS` in the store directory (mode 0600), apart from the hashes;
 * with these callbacks it is kept where the terminal says, e.g. in a secure element, and never
 * reaches the flash. The store names keys by an id (a one-way hash of the key).
 *
 * The struct is copied at open; `ctx` is passed back to every callback and must stay valid
 * until `edgeid_close` returns. The callbacks may be called from any thread that uses the store,
 * concurrently (lookups run beside deltas): they must be thread-safe. They must return (no
 * `longjmp`, no C++ exception) and must not call edgeid functions on this store. The provider
 * must hold every key it was given for the store (reopen with the same provider): a store
 * opened without it answers code lookups with `EDGEID_ERR_NOT_FOUND` or the provider's error
 * until a full synchronisation brings the key again.
 */
typedef struct edgeid_code_keys {
    /**
     * Must be `sizeof(edgeid_code_keys)`.
     */
    uint32_t size;
    /**
     * Passed back to every callback.
     */
    void *ctx;
    /**
     * Required: keeps a new key durably.
     */
    edgeid_store_key_fn store_key;
    /**
     * Required: keys an access code.
     */
    edgeid_code_mac_fn mac;
    /**
     * Optional (NULL: keys are never discarded).
     */
    edgeid_retain_keys_fn retain;
} edgeid_code_keys;

/**
 * The vendor's logger (`edgeid_open_options.log`): `message` is one line of UTF-8 text,
 * NUL-terminated, valid only during the call. Called on the thread of the store call that
 * produced the event; calls from different threads may be concurrent, so the function must be
 * thread-safe. It must return normally and must not call this store's writing functions or close
 * it. Set per store (each handle its own logger): the library keeps no global logger.
 */
typedef void (*edgeid_log_fn)(void *user_data,
                              edgeid_log_level level,
                              const char *message);

/**
 * How to open or create a store. Zero means "default" in every field, so
 * `edgeid_open_options o = { .size = sizeof(edgeid_open_options) };` gives the defaults, and so
 * does passing NULL instead of options. Version 2 appended `code_keys`, version 3 `log` and
 * `log_user_data`; the sizes of versions 1 (`EDGEID_OPEN_OPTIONS_SIZE_V1`, 12) and 2 (24 on
 * 64-bit targets, 16 on 32-bit ones) are still accepted.
 */
typedef struct edgeid_open_options {
    /**
     * Must be `sizeof(edgeid_open_options)` (lets later versions add fields; see ABI rules).
     */
    uint32_t size;
    /**
     * Search threads: 0 = one per CPU core (default), 1 = search on the calling thread only,
     * n = a pool of n threads (at most `EDGEID_MAX_THREADS`) that share each large search.
     */
    uint32_t threads;
    /**
     * `EDGEID_OPEN_*` bits; unknown bits give `EDGEID_ERR_UNSUPPORTED`.
     */
    uint32_t flags;
    /**
     * NULL (default): the locations' code keys are kept in the file `CODE-KEYS` in the store
     * directory (mode 0600), apart from the hashes they key. Else: the terminal keeps them, e.g.
     * in a secure element (see `edgeid_code_keys`); the struct is copied during the call.
     */
    const struct edgeid_code_keys *code_keys;
    /**
     * NULL (default): no log. Else the store reports the events a firmware log wants through it
     * (`edgeid_log_fn`): open and what recovery did, checkpoints and compactions, housekeeping
     * failures kept for retry, a store that refuses writes until reopened, refused deltas.
     */
    edgeid_log_fn log;
    /**
     * Passed to `log` unchanged.
     */
    void *log_user_data;
} edgeid_open_options;

/**
 * Counts and sizes of a store (`edgeid_store_stats`). Set `size` before the call. Version 2 of
 * this struct appended the fingerprint counts; fields are only ever appended.
 */
typedef struct edgeid_stats {
    /**
     * Must be `sizeof(edgeid_stats)` on input (lets later versions add fields).
     */
    uint32_t size;
    /**
     * Embedding dimension.
     */
    uint32_t dim;
    /**
     * Live face templates.
     */
    uint64_t live_templates;
    /**
     * Deleted rows whose space compaction has not reclaimed yet.
     */
    uint64_t deleted_rows;
    /**
     * Segment files.
     */
    uint64_t segments;
    /**
     * Rows in the in-memory tail (logged, not yet written as a segment).
     */
    uint64_t tail_rows;
    /**
     * Bytes of segment files.
     */
    uint64_t segment_bytes;
    /**
     * Bytes of the write-ahead log.
     */
    uint64_t wal_bytes;
    /**
     * Sequence number of the last commit (0 for a new store).
     */
    uint64_t seq;
    /**
     * Length of `model` in bytes.
     */
    uint32_t model_len;
    /**
     * Face model name, printable ASCII, NUL-terminated.
     */
    char model[EDGEID_MODEL_BUF];
    /**
     * Live fingerprint templates.
     */
    uint64_t fingers;
    /**
     * Deleted fingerprint rows whose space compaction has not reclaimed yet.
     */
    uint64_t deleted_fingers;
    /**
     * Fingerprint segment files.
     */
    uint64_t finger_segments;
    /**
     * Fingerprint rows in the in-memory tail (logged, not yet written as a segment).
     */
    uint64_t finger_tail_rows;
} edgeid_stats;

/**
 * One identified user (or the result of a verification). The ids are copied into the struct:
 * `xxx_id_len` bytes of UTF-8, followed by a NUL (ids never contain NUL), so they can be used with
 * or without the length. This struct's layout never changes within a major version.
 */
typedef struct edgeid_hit {
    /**
     * Cosine similarity of the probe to the user's best template, -1..=1.
     */
    double score;
    /**
     * Length of `location_id` in bytes.
     */
    size_t location_id_len;
    /**
     * Length of `user_id` in bytes.
     */
    size_t user_id_len;
    /**
     * Length of `template_id` in bytes.
     */
    size_t template_id_len;
    /**
     * Location the user belongs to.
     */
    char location_id[EDGEID_ID_BUF];
    /**
     * The user.
     */
    char user_id[EDGEID_ID_BUF];
    /**
     * The user's template that scored best.
     */
    char template_id[EDGEID_ID_BUF];
} edgeid_hit;

/**
 * Progress callback of `edgeid_apply_delta`: `user_data` is the pointer given to it, unchanged.
 * Called on the thread that called `edgeid_apply_delta`, before it returns; see there for what
 * the callback may and may not do.
 */
typedef void (*edgeid_progress_fn)(void *user_data,
                                   edgeid_progress_stage stage,
                                   size_t done,
                                   size_t total);

/**
 * Result of `edgeid_apply_delta`. Set `size = sizeof(edgeid_apply_result)` before the call (lets
 * later versions add fields at the end); the library fills in everything else.
 */
typedef struct edgeid_apply_result {
    /**
     * Must be `sizeof(edgeid_apply_result)` on input; left unchanged.
     */
    uint32_t size;
    /**
     * What happened.
     */
    edgeid_apply_outcome outcome;
    /**
     * Why it was refused (`EDGEID_REFUSAL_NONE` unless `outcome` is `EDGEID_OUTCOME_REFUSED`).
     */
    edgeid_refusal refusal;
    /**
     * The delta's sequence number (applied: the location's sequence now). 0 when refused for a
     * reason that is not about the sequence (parse, version, invalid).
     */
    uint64_t sequence;
    /**
     * Number of changes applied (0 unless `outcome` is `EDGEID_OUTCOME_APPLIED`).
     */
    uint64_t changes;
    /**
     * Length of `location_id` in bytes (0 when refused for a parse, version or invalid reason).
     */
    size_t location_id_len;
    /**
     * The delta's location, UTF-8, NUL-terminated.
     */
    char location_id[EDGEID_ID_BUF];
} edgeid_apply_result;

/**
 * Progress callback of `edgeid_apply_delta_cancellable`: as `edgeid_progress_fn`, and its return
 * value decides: 0 goes on, any other value cancels the apply (`EDGEID_ERR_CANCELLED`, nothing of
 * the delta applied). See `edgeid_apply_delta_cancellable` for when a cancel takes effect.
 */
typedef int (*edgeid_progress_cancel_fn)(void *user_data,
                                         edgeid_progress_stage stage,
                                         size_t done,
                                         size_t total);

/**
 * Sync state of one location (`edgeid_sync_status`). This struct's layout never changes within
 * a major version.
 */
typedef struct edgeid_location_status {
    /**
     * Sequence number of the last delta applied.
     */
    uint64_t sequence;
    /**
     * Users.
     */
    uint64_t users;
    /**
     * Face templates in the face index at this location.
     */
    uint64_t faces;
    /**
     * Fingerprint templates.
     */
    uint64_t fingers;
    /**
     * Length of `location_id` in bytes.
     */
    size_t location_id_len;
    /**
     * The location, UTF-8, NUL-terminated.
     */
    char location_id[EDGEID_ID_BUF];
    /**
     * The location's digest: 64 lowercase hex digits and a NUL (as `edgeid_digest`).
     */
    char digest[EDGEID_DIGEST_BUF];
} edgeid_location_status;

/**
 * A user found by a credential: location and user id, UTF-8 with lengths, NUL-terminated. This
 * struct's layout never changes within a major version.
 */
typedef struct edgeid_user_ref {
    /**
     * Length of `location_id` in bytes.
     */
    size_t location_id_len;
    /**
     * Length of `user_id` in bytes.
     */
    size_t user_id_len;
    /**
     * The user's location.
     */
    char location_id[EDGEID_ID_BUF];
    /**
     * The user.
     */
    char user_id[EDGEID_ID_BUF];
} edgeid_user_ref;

/**
 * One user identified by a fingerprint (or the result of a fingerprint verification). The ids
 * are copied into the struct: `xxx_id_len` bytes of UTF-8, followed by a NUL. This struct's
 * layout never changes within a major version.
 */
typedef struct edgeid_finger_hit {
    /**
     * Matcher score of the probe against the user's best fingerprint template, 0..=1 (compare it
     * with `edgeid_finger_threshold_for_fmr`'s threshold).
     */
    double score;
    /**
     * Length of `location_id` in bytes.
     */
    size_t location_id_len;
    /**
     * Length of `user_id` in bytes.
     */
    size_t user_id_len;
    /**
     * Length of `template_id` in bytes.
     */
    size_t template_id_len;
    /**
     * Finger position of that template (0 unknown, 1 right thumb … 10 left little).
     */
    uint32_t position;
    /**
     * Location the user belongs to.
     */
    char location_id[EDGEID_ID_BUF];
    /**
     * The user.
     */
    char user_id[EDGEID_ID_BUF];
    /**
     * The user's fingerprint template that scored best.
     */
    char template_id[EDGEID_ID_BUF];
} edgeid_finger_hit;

/**
 * What was found in a frame. Written by `edgeid_face_extract` and the `_frame` functions.
 */
typedef struct edgeid_face {
    /**
     * 1 if a face was found (the largest is used), else 0 (then only `quality_reasons` is set).
     */
    uint32_t found;
    /**
     * Faces the detector found.
     */
    uint32_t faces;
    /**
     * Box in source pixels: x, y, width, height.
     */
    float box_xywh[4];
    /**
     * Five landmarks (x, y): eyes, nose tip, mouth corners, in image order left to right.
     */
    float landmarks[10];
    /**
     * Detector score, 0..1.
     */
    float score;
    /**
     * 1 if the face passes the quality gate (enrolment requires it).
     */
    uint32_t quality_passed;
    /**
     * Why not: `EDGEID_QUALITY_*` bits.
     */
    uint32_t quality_reasons;
    /**
     * Distance between the eyes in pixels.
     */
    float eye_distance_px;
    /**
     * Head turn estimate, degrees.
     */
    float yaw_deg;
    /**
     * Head tilt up/down estimate, degrees.
     */
    float pitch_deg;
    /**
     * In-plane rotation, degrees.
     */
    float roll_deg;
    /**
     * Variance of the Laplacian of the aligned crop.
     */
    float sharpness;
    /**
     * Mean luma of the crop's centre, 0..255.
     */
    float brightness;
    /**
     * Milliseconds the extraction took (decode/convert, detect, align, embed, quality).
     */
    float total_ms;
} edgeid_face;

/**
 * What the readers collected. Zero means "not presented" (NULL pointers) or "default" in every
 * field, so `edgeid_presented p = { .size = sizeof(edgeid_presented) };` presents nothing.
 * Strings are UTF-8 with lengths. The `*_at` fields say when a factor was presented (Unix
 * seconds; 0 = at the decision's time): factors further apart than the second-factor timeout do
 * not combine. Fields are only ever appended (see ABI rules).
 */
typedef struct edgeid_presented {
    /**
     * Must be `sizeof(edgeid_presented)`.
     */
    uint32_t size;
    /**
     * Format of `finger` (`edgeid_finger_format`; `EDGEID_FINGER_FORMAT_DETECT` for ISO/ANSI).
     */
    uint32_t finger_format;
    /**
     * Second-factor timeout in milliseconds (0 = 10 s).
     */
    uint32_t second_factor_timeout_ms;
    /**
     * Padding (must be 0).
     */
    uint32_t reserved;
    /**
     * Face threshold, cosine (0 = the default, 0.30).
     */
    double face_threshold;
    /**
     * Fingerprint threshold (0 = the built-in calibration's at FMR 1e-4).
     */
    double finger_threshold;
    /**
     * A face embedding of the store's dimension (NULL: none).
     */
    const float *face;
    /**
     * Floats at `face`.
     */
    size_t face_len;
    /**
     * A fingerprint minutiae record (NULL: none).
     */
    const uint8_t *finger;
    /**
     * Bytes at `finger`.
     */
    size_t finger_len;
    /**
     * A card: "csn:HEX", "wiegand26:FACILITY:NUMBER" or "wiegand34:FACILITY:NUMBER" (NULL: none).
     */
    const char *card;
    /**
     * Bytes at `card`.
     */
    size_t card_len;
    /**
     * An access code, 4..=12 digits (NULL: none).
     */
    const char *code;
    /**
     * Bytes at `code`.
     */
    size_t code_len;
    /**
     * A licence plate (NULL: none).
     */
    const char *plate;
    /**
     * Bytes at `plate`.
     */
    size_t plate_len;
    /**
     * A typed user id (NULL: none).
     */
    const char *user_id;
    /**
     * Bytes at `user_id`.
     */
    size_t user_id_len;
    /**
     * The punch chosen on the terminal ("check_in", "check_out", "break_out", "break_in",
     * "overtime_in", "overtime_out"; NULL: the door's).
     */
    const char *punch;
    /**
     * Bytes at `punch`.
     */
    size_t punch_len;
    /**
     * When the face was presented.
     */
    int64_t face_at;
    /**
     * When the fingerprint was presented.
     */
    int64_t finger_at;
    /**
     * When the card was presented.
     */
    int64_t card_at;
    /**
     * When the code was entered.
     */
    int64_t code_at;
    /**
     * When the plate was read.
     */
    int64_t plate_at;
    /**
     * When the user id was typed.
     */
    int64_t user_id_at;
} edgeid_presented;

/**
 * A decision. Strings are UTF-8, NUL-terminated (lengths for the user id). This struct's layout
 * never changes within a major version.
 */
typedef struct edgeid_decision {
    /**
     * Open the door.
     */
    bool granted;
    /**
     * A duress code was used: raise the alarm (whatever the outcome).
     */
    bool duress;
    /**
     * The punch is a duplicate within the door's window.
     */
    bool duplicate_punch;
    /**
     * `EDGEID_REASON_*` (`EDGEID_REASON_NONE` when granted).
     */
    uint32_t reason;
    /**
     * `EDGEID_FACTOR_*` bits of the factors that matched the user.
     */
    uint32_t factors;
    /**
     * `EDGEID_APB_*`.
     */
    uint32_t anti_passback;
    /**
     * When the decision was made (Unix seconds).
     */
    int64_t at;
    /**
     * Face score (NaN when no face was compared) and its threshold.
     */
    float face_score;
    /**
     * Threshold the face score was compared with.
     */
    float face_threshold;
    /**
     * Fingerprint score (NaN when none was compared).
     */
    float finger_score;
    /**
     * Threshold the fingerprint score was compared with.
     */
    float finger_threshold;
    /**
     * Length of `user_id` (0: no user known).
     */
    size_t user_id_len;
    /**
     * The user, once known.
     */
    char user_id[EDGEID_ID_BUF];
    /**
     * The reason's stable code ("" when granted), e.g. "outside_schedule".
     */
    char reason_code[EDGEID_CODE_BUF];
    /**
     * The mode that was satisfied ("" when denied).
     */
    char mode[EDGEID_MODE_BUF];
    /**
     * The punch recorded ("" for none).
     */
    char punch[EDGEID_CODE_BUF];
} edgeid_decision;

/**
 * Read callback of `edgeid_apply_delta_stream`: writes the next bytes of the delta to
 * `buf` (room for `cap` bytes, `cap` > 0) and returns how many it wrote (1..=`cap`), 0 at the
 * end of the delta, or a negative value on an error (the apply then fails with `EDGEID_ERR_IO`
 * and nothing of the delta is applied). `user_data` is the pointer given to
 * `edgeid_apply_delta_stream`, unchanged. Called on the thread that called it, before it returns;
 * it may block (e.g. on a socket), but while it does other writes to the store wait.
 */
typedef ptrdiff_t (*edgeid_read_fn)(void *user_data,
                                    uint8_t *buf,
                                    size_t cap);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Opens an existing store.
 *
 * `path`/`path_len`: the store directory, UTF-8, not NUL-terminated. `options`: NULL for
 * defaults. On success `*store_out` is the new handle; on failure it is set to NULL.
 * Errors: `EDGEID_ERR_NO_STORE` (no store there: create one), `EDGEID_ERR_LOCKED` (open in another
 * process or through another handle), `EDGEID_ERR_CORRUPT`, `EDGEID_ERR_VERSION`, `EDGEID_ERR_IO`,
 * `EDGEID_ERR_UNSUPPORTED` (unknown flags), `EDGEID_ERR_SIZE`, and argument errors.
 * Thread safety: any thread. A store directory can be open for writing once at a time, and
 * read-only (`EDGEID_OPEN_READ_ONLY`) any number of times beside it.
 *
 * # Safety
 * `path` must point to `path_len` readable bytes; `options`, if not NULL, to an
 * `edgeid_open_options`; `store_out` to writable memory for one pointer.
 */
edgeid_status edgeid_open(const char *path,
                          size_t path_len,
                          const struct edgeid_open_options *options,
                          struct edgeid_store **store_out);

/**
 * Creates a new, empty store in directory `path` (created if missing) for embeddings of face
 * model `model` (1..=32 printable ASCII bytes) with `dim` dimensions (8..=4096), and opens it.
 *
 * On success `*store_out` is the new handle; on failure it is set to NULL.
 * Errors: `EDGEID_ERR_NO_STORE` (a store already exists there), `EDGEID_ERR_INVALID` (model name,
 * dimension, or `EDGEID_OPEN_READ_ONLY`), `EDGEID_ERR_IO`, `EDGEID_ERR_LOCKED`, and as `edgeid_open`.
 * Thread safety: any thread.
 *
 * # Safety
 * `path` must point to `path_len` readable bytes, `model` to `model_len`; `options`, if not NULL,
 * to an `edgeid_open_options`; `store_out` to writable memory for one pointer.
 */
edgeid_status edgeid_create(const char *path,
                            size_t path_len,
                            const char *model,
                            size_t model_len,
                            size_t dim,
                            const struct edgeid_open_options *options,
                            struct edgeid_store **store_out);

/**
 * Closes a store: waits until calls running on it in other threads return, then closes its files
 * and releases its lock (the directory can be opened again as soon as this returns). Afterwards
 * every call with this handle returns `EDGEID_ERR_CLOSED`.
 *
 * `edgeid_close(NULL)` does nothing and returns `EDGEID_OK`; closing a handle twice returns
 * `EDGEID_ERR_CLOSED`. Everything committed is already durable: closing loses nothing.
 * Thread safety: any thread, also while other threads use the store (their later calls return
 * `EDGEID_ERR_CLOSED`).
 */
edgeid_status edgeid_close(struct edgeid_store *store);

/**
 * Fills `*stats` with the store's counts and sizes, face and fingerprint. Set
 * `stats->size = sizeof(edgeid_stats)` first. Sizes of older versions of the struct are accepted
 * too (`EDGEID_STATS_SIZE_V1`: without the fingerprint counts) and only that many bytes are
 * written; any other size gives `EDGEID_ERR_SIZE`.
 * Thread safety: any thread, concurrently with every other call on the store.
 *
 * # Safety
 * `stats` must point to `stats->size` writable bytes (an `edgeid_stats` of the version the caller
 * was compiled with) whose `size` field is initialised.
 */
edgeid_status edgeid_store_stats(struct edgeid_store *store,
                                 struct edgeid_stats *stats);

/**
 * Compacts the store: writes the in-memory tail as a segment and rewrites segments with deleted
 * rows, so dead rows stop costing scan time and their bytes leave the flash.
 * Thread safety: any thread; serialised with commits and other maintenance; identify and verify
 * on other threads continue meanwhile (on the state before compaction).
 */
edgeid_status edgeid_compact(struct edgeid_store *store);

/**
 * Erases the bytes of deleted templates now (compaction plus overwriting the obsolete files).
 * `*still_mapped_out` (may be NULL) receives how many obsolete files searches running right now
 * still read; they are erased by a later commit or `edgeid_maintain`.
 * Thread safety: as `edgeid_compact`.
 *
 * # Safety
 * `still_mapped_out`, if not NULL, must point to writable memory for one `size_t`.
 */
edgeid_status edgeid_erase_deleted(struct edgeid_store *store,
                                   size_t *still_mapped_out);

/**
 * Housekeeping a long-running terminal calls periodically (say once a minute): erases deleted
 * templates once the oldest deletion is 10 minutes old, writes a large tail as a segment, and
 * removes files no search uses any more. Cheap when there is nothing to do.
 * Thread safety: as `edgeid_compact`.
 */
edgeid_status edgeid_maintain(struct edgeid_store *store);

/**
 * Reads every segment completely and checks all checksums (`EDGEID_ERR_CORRUPT` names the first
 * damaged file). `*segments_out` (may be NULL) receives the number of segments checked.
 * Thread safety: any thread, concurrently with every other call on the store.
 *
 * # Safety
 * `segments_out`, if not NULL, must point to writable memory for one `size_t`.
 */
edgeid_status edgeid_verify_checksums(struct edgeid_store *store,
                                      size_t *segments_out);

/**
 * Adds or replaces one face template and commits it (durable when this returns).
 *
 * The ids are UTF-8, 1..=64 bytes, no control characters, not NUL-terminated. `embedding` holds
 * `dim` floats as the model produced them (the store normalises them); `dim` must be the store's
 * dimension (`EDGEID_ERR_DIMENSION`), values finite and not all zero (`EDGEID_ERR_INVALID`). A
 * template with the same three ids is replaced. `*seq_out` (may be NULL) receives the commit's
 * sequence number.
 * Thread safety: any thread, concurrently with identify/verify/stats on other threads (they see
 * the store before or after the commit, never half of it); commits are serialised.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes, `embedding` to `dim` floats;
 * `seq_out`, if not NULL, to writable memory for one `uint64_t`.
 */
edgeid_status edgeid_face_put(struct edgeid_store *store,
                              const char *location_id,
                              size_t location_id_len,
                              const char *user_id,
                              size_t user_id_len,
                              const char *template_id,
                              size_t template_id_len,
                              const float *embedding,
                              size_t dim,
                              uint64_t *seq_out);

/**
 * Removes one face template and commits (`EDGEID_ERR_NOT_FOUND` if it does not exist).
 * `*seq_out` (may be NULL) receives the commit's sequence number.
 * Thread safety: as `edgeid_face_put`.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
 * memory for one `uint64_t`.
 */
edgeid_status edgeid_face_remove(struct edgeid_store *store,
                                 const char *location_id,
                                 size_t location_id_len,
                                 const char *user_id,
                                 size_t user_id_len,
                                 const char *template_id,
                                 size_t template_id_len,
                                 uint64_t *seq_out);

/**
 * Removes every face template of a user at a location and commits (`EDGEID_ERR_NOT_FOUND` if the
 * user has none); the user's fingerprint templates stay (see `edgeid_finger_remove_user`).
 * `*seq_out` (may be NULL) receives the commit's sequence number.
 * Thread safety: as `edgeid_face_put`.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
 * memory for one `uint64_t`.
 */
edgeid_status edgeid_face_remove_user(struct edgeid_store *store,
                                      const char *location_id,
                                      size_t location_id_len,
                                      const char *user_id,
                                      size_t user_id_len,
                                      uint64_t *seq_out);

/**
 * A new, empty batch. Returns NULL only if the library failed internally (see
 * `edgeid_last_error_message`). Free it with `edgeid_batch_free`.
 * Thread safety: a batch may be used by one thread at a time, and handed between threads.
 */
struct edgeid_batch *edgeid_batch_new(void);

/**
 * Adds "put this face template" to a batch. Checks the ids and values now (the batch is unchanged
 * if they are refused); the dimension is checked by `edgeid_commit` against the store.
 * Thread safety: see `edgeid_batch_new`.
 *
 * # Safety
 * `batch` must be NULL or a live batch from `edgeid_batch_new`; each id pointer must point to its
 * length in readable bytes, `embedding` to `dim` floats.
 */
edgeid_status edgeid_batch_face_put(struct edgeid_batch *batch,
                                    const char *location_id,
                                    size_t location_id_len,
                                    const char *user_id,
                                    size_t user_id_len,
                                    const char *template_id,
                                    size_t template_id_len,
                                    const float *embedding,
                                    size_t dim);

/**
 * Adds "remove this face template" to a batch (the commit fails with `EDGEID_ERR_NOT_FOUND` if it
 * does not exist then). Thread safety: see `edgeid_batch_new`.
 *
 * # Safety
 * `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
 */
edgeid_status edgeid_batch_face_remove(struct edgeid_batch *batch,
                                       const char *location_id,
                                       size_t location_id_len,
                                       const char *user_id,
                                       size_t user_id_len,
                                       const char *template_id,
                                       size_t template_id_len);

/**
 * Adds "remove every face template of this user" to a batch (the commit fails with
 * `EDGEID_ERR_NOT_FOUND` if the user has none then); fingerprints stay. Thread safety: see
 * `edgeid_batch_new`.
 *
 * # Safety
 * `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
 */
edgeid_status edgeid_batch_face_remove_user(struct edgeid_batch *batch,
                                            const char *location_id,
                                            size_t location_id_len,
                                            const char *user_id,
                                            size_t user_id_len);

/**
 * Number of changes in a batch (0 for NULL). Thread safety: see `edgeid_batch_new`.
 *
 * # Safety
 * `batch` must be NULL or a live batch not used by another thread during the call.
 */
size_t edgeid_batch_len(const struct edgeid_batch *batch);

/**
 * Commits every change of `batch` (faces and fingerprints), in order, as one atomic and durable
 * commit: all or nothing (a refused change, e.g. removing a template that does not exist, refuses
 * the whole batch and the message names the change by its index). The batch is not modified:
 * free it or reuse it. `*seq_out` (may be NULL) receives the commit's sequence number. An empty
 * batch writes nothing; `*seq_out` then receives the current sequence number.
 * Thread safety: as `edgeid_face_put`; the batch must not be modified during the call.
 *
 * # Safety
 * `batch` must be NULL or a live batch; `seq_out`, if not NULL, must point to writable memory for
 * one `uint64_t`.
 */
edgeid_status edgeid_commit(struct edgeid_store *store,
                            const struct edgeid_batch *batch,
                            uint64_t *seq_out);

/**
 * Frees a batch. `edgeid_batch_free(NULL)` does nothing. Thread safety: any thread, once no other
 * thread uses the batch.
 *
 * # Safety
 * `batch` must be NULL or a live batch from `edgeid_batch_new`, not used afterwards.
 */
void edgeid_batch_free(struct edgeid_batch *batch);

/**
 * 1:N identification: the up to `k` users whose best template is most similar to the probe,
 * best first (ties: by user id, location id, template id), each at most once.
 *
 * `probe`: `dim` floats as the model produced them; `dim` must be the store's dimension.
 * `location_id`: NULL for every location, or only users of this location. `threshold`: only users
 * scoring at least this (cosine, -1..=1; `EDGEID_ANY_SCORE` for all; must be finite).
 * `hits`: an array of `k >= 1` entries; the first `*n_hits` are written, the rest untouched.
 * The result is exact (equal to scoring every template) and the same on every CPU.
 * Thread safety: any number of threads at once, also while another thread commits.
 *
 * # Safety
 * `probe` must point to `dim` floats, `location_id` (if not NULL) to `location_id_len` bytes,
 * `hits` to `k` writable `edgeid_hit`, `n_hits` to a writable `size_t`.
 */
edgeid_status edgeid_face_identify(struct edgeid_store *store,
                                   const float *probe,
                                   size_t dim,
                                   const char *location_id,
                                   size_t location_id_len,
                                   double threshold,
                                   struct edgeid_hit *hits,
                                   size_t k,
                                   size_t *n_hits);

/**
 * 1:1 verification: how similar the probe is to a user's best template at a location.
 * `*hit_out` receives the score and the template; compare the score with your threshold.
 * `EDGEID_ERR_NOT_FOUND` if the user has no face template there.
 * Thread safety: as `edgeid_face_identify`.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes, `probe` to `dim` floats, `hit_out`
 * to a writable `edgeid_hit`.
 */
edgeid_status edgeid_face_verify(struct edgeid_store *store,
                                 const char *location_id,
                                 size_t location_id_len,
                                 const char *user_id,
                                 size_t user_id_len,
                                 const float *probe,
                                 size_t dim,
                                 struct edgeid_hit *hit_out);

/**
 * The library's version, "MAJOR.MINOR.PATCH" (NUL-terminated, static: never free it). Compare it
 * with `EDGEID_VERSION_STRING` to detect a library older than the header you built against.
 * Thread safety: any thread.
 */
const char *edgeid_version(void);

/**
 * The library's version as one number, `MAJOR * 10000 + MINOR * 100 + PATCH` (0.1.0 is 100),
 * for a firmware that compares versions at run time without parsing a string: check it against
 * `EDGEID_VERSION_NUMBER` from the header. Thread safety: any thread.
 */
uint32_t edgeid_version_number(void);

/**
 * The ABI this library implements, `EDGEID_ABI_VERSION` of the header it was built with: a
 * program built against another ABI must not use it (the SONAME encodes the same rule: every
 * 0.x minor, then every major). Thread safety: any thread.
 */
uint32_t edgeid_abi_version(void);

/**
 * Name of the SIMD kernel this CPU uses for face search, e.g. "avx512vnni", "avx2", "neon",
 * "scalar" (NUL-terminated, static: never free it). Every kernel gives the same results.
 * Thread safety: any thread.
 */
const char *edgeid_kernel_name(void);

/**
 * A short, static description of a status code, e.g. "EDGEID_ERR_NULL: a required pointer was
 * NULL" (NUL-terminated; never free it). Unknown codes give "unknown edgeid status code".
 * Thread safety: any thread.
 */
const char *edgeid_status_str(uint32_t status);

/**
 * The message of the last failed call on this thread (calls that succeed leave it unchanged, so
 * read it right after the failure). Copies it into `buf` as UTF-8, cut at a character boundary to
 * fit `buf_len - 1` bytes, and NUL-terminates it; returns the full length in bytes (without the
 * NUL). So `if (n >= buf_len)` the message was cut; `edgeid_last_error_message(NULL, 0)` returns
 * the length needed. Returns 0 (and writes "") if no call on this thread has failed.
 * Thread safety: any thread; each thread has its own message.
 *
 * # Safety
 * `buf`, if not NULL, must point to `buf_len` writable bytes.
 */
size_t edgeid_last_error_message(char *buf,
                                 size_t buf_len);

/**
 * Applies one synchronisation delta (`edgeid.delta/1` JSON, see docs/sync-protocol.md) from a
 * buffer: validates all of it, then commits all of it atomically and durably, or nothing.
 *
 * `delta`/`delta_len`: the JSON bytes (UTF-8; not NUL-terminated; only read during the call).
 * `progress` (may be NULL) is called with `user_data` as the apply goes on (see below).
 * `result`: set `result->size = sizeof(edgeid_apply_result)` first (`EDGEID_ERR_SIZE` otherwise).
 *
 * Returns and fills in `*result`:
 * - `EDGEID_OK`, outcome `EDGEID_OUTCOME_APPLIED` (durable when this returns; `changes` says how
 *   many) or `EDGEID_OUTCOME_ALREADY_APPLIED` (this exact delta was applied before: nothing
 *   changed); `location_id` and `sequence` are the delta's.
 * - `EDGEID_ERR_REFUSED`, outcome `EDGEID_OUTCOME_REFUSED`: nothing was applied. `refusal` says
 *   why (`EDGEID_REFUSAL_GAP` and `_STALE`: send a full synchronisation; `_CONFLICT`; `_PARSE`,
 *   `_VERSION`, `_INVALID`: a bad delta) and `edgeid_last_error_message` what exactly, e.g.
 *   "changes[1].user.faces[0].embedding: expected 512 floats, got 511". For gap, conflict and
 *   stale, `location_id` and `sequence` are the delta's; otherwise they are empty and 0.
 * - any other error (`EDGEID_ERR_IO`, `EDGEID_ERR_STORAGE_FULL`, `EDGEID_ERR_POISONED`, argument
 *   errors, ...): outcome `EDGEID_OUTCOME_NONE`. A NULL or closed store, or a NULL or wrong-size
 *   `result`, leave `*result` untouched: initialise it as
 *   `edgeid_apply_result r = { .size = sizeof r };` and its outcome reads `EDGEID_OUTCOME_NONE`
 *   after every failure that is not a refusal.
 *
 * The progress callback runs on the calling thread, inside this call: first with
 * `EDGEID_PROGRESS_VALIDATING` (`done` of `total` changes checked, from 0 to `total`), then once
 * with `EDGEID_PROGRESS_COMMITTING` when the whole delta is valid and its sequence is the one to
 * apply next (an already applied delta, or a gap, conflict or stale one, gets no committing
 * report); an invalid delta stops the reports where it was found invalid. The callback must return
 * normally (no longjmp out of it, no C++ exception through it), must not call this store's
 * writing functions (put, remove, commit, apply, compact, maintain, erase) and must not close it
 * (`edgeid_close` would wait for this call forever);
 * functions that only read (identify, verify, stats, sync status, digest, lookups) are allowed.
 *
 * Thread safety: any thread. Applies, commits and maintenance on one store are serialised;
 * identify, verify, stats, sync status, digest and lookups on other threads run concurrently and
 * see the store before or after the delta, never part of it.
 *
 * # Safety
 * `delta` must point to `delta_len` readable bytes; `progress`, if not NULL, must be a function
 * of this type that is safe to call with `user_data`; `result` must point to a writable
 * `edgeid_apply_result` whose `size` field is initialised.
 */
edgeid_status edgeid_apply_delta(struct edgeid_store *store,
                                 const uint8_t *delta,
                                 size_t delta_len,
                                 edgeid_progress_fn progress,
                                 void *user_data,
                                 struct edgeid_apply_result *result);

/**
 * `edgeid_apply_delta` (or `edgeid_apply_delta_signed` when `signature` is given) with a
 * progress callback that may cancel: when `progress` returns non-zero the call returns
 * `EDGEID_ERR_CANCELLED`, outcome `EDGEID_OUTCOME_NONE`, and nothing of the delta was applied
 * (the sequence does not move; send it again later). A cancel during `EDGEID_PROGRESS_VALIDATING`
 * stops the reports at once and takes effect when validation ends; the `EDGEID_PROGRESS_COMMITTING`
 * report is the last chance: after it returns 0 the delta is committed. Everything else (result,
 * other statuses, what the callback may call) is as for `edgeid_apply_delta`.
 *
 * Thread safety: as `edgeid_apply_delta`.
 *
 * # Safety
 * As `edgeid_apply_delta`; `signature` must point to `signature_len` readable bytes (NULL with
 * length 0: an unsigned delta).
 */
edgeid_status edgeid_apply_delta_cancellable(struct edgeid_store *store,
                                             const uint8_t *delta,
                                             size_t delta_len,
                                             const uint8_t *signature,
                                             size_t signature_len,
                                             edgeid_progress_cancel_fn progress,
                                             void *user_data,
                                             struct edgeid_apply_result *result);

/**
 * The sync state of every location this store has received deltas for, sorted by location id:
 * sequence, number of users, face and fingerprint templates, and digest.
 *
 * `statuses`: an array of `cap` entries (may be NULL if `cap` is 0). `*n_statuses` receives the
 * number of locations, also when it is larger than `cap`: then the first `cap` entries are
 * written and the call returns `EDGEID_ERR_SIZE` (call again with an array of `*n_statuses`
 * entries; `edgeid_sync_status(store, NULL, 0, &n)` asks for the number only).
 * Thread safety: any thread, concurrently with every other call on the store (a consistent
 * snapshot: before or after a delta applied meanwhile).
 *
 * # Safety
 * `statuses`, if not NULL, must point to `cap` writable `edgeid_location_status`; `n_statuses`
 * to a writable `size_t`.
 */
edgeid_status edgeid_sync_status(struct edgeid_store *store,
                                 struct edgeid_location_status *statuses,
                                 size_t cap,
                                 size_t *n_statuses);

/**
 * The digest of a location (see docs/sync-protocol.md, "The digest"): equal to the platform's
 * digest of what it sent iff the store holds exactly that. Writes 64 lowercase hex digits and a
 * NUL to `digest_out` (`EDGEID_DIGEST_BUF` bytes). `EDGEID_ERR_NOT_FOUND` if the location has
 * never received a delta (or the id is mistyped); `digest_out` then holds the digest of an empty
 * location (SHA-256 of the empty text, `e3b0c442...`), which is what that location holds and
 * what `edgeid sync digest` prints for it.
 * Thread safety: as `edgeid_sync_status`.
 *
 * # Safety
 * `location_id` must point to `location_id_len` readable bytes; `digest_out` to
 * `EDGEID_DIGEST_BUF` writable bytes.
 */
edgeid_status edgeid_digest(struct edgeid_store *store,
                            const char *location_id,
                            size_t location_id_len,
                            char *digest_out);

/**
 * Finds the user holding a card. `location_id`: NULL to search every location (a card is unique
 * within a location only: the first location by id that has it wins), or only this one.
 * `format`: "csn" (`number` = the card serial, 2..=32 hex digits, any case; `facility` =
 * `EDGEID_NO_FACILITY`), "wiegand26" (`facility` 0..=255) or "wiegand34" (`facility` 0..=65535),
 * with `number` the decimal card number 0..=65535.
 * On success `*found_out` says whether a user holds the card, and `*user_out` is that user (all
 * zero if none). A malformed card (unknown format, bad number or facility) gives
 * `EDGEID_ERR_INVALID`.
 * Thread safety: any thread, concurrently with every other call on the store (a lookup sees the
 * store before or after a delta applied meanwhile).
 *
 * # Safety
 * `location_id` (if not NULL), `format` and `number` must point to their lengths in readable
 * bytes; `user_out` to a writable `edgeid_user_ref`, `found_out` to a writable `bool`.
 */
edgeid_status edgeid_lookup_card(struct edgeid_store *store,
                                 const char *location_id,
                                 size_t location_id_len,
                                 const char *format,
                                 size_t format_len,
                                 const char *number,
                                 size_t number_len,
                                 int64_t facility,
                                 struct edgeid_user_ref *user_out,
                                 bool *found_out);

/**
 * Finds the user an access code belongs to (4..=12 ASCII digits, `EDGEID_ERR_INVALID`
 * otherwise). `location_id`: NULL to search every location (the first by id that has the code
 * wins), or only this one. On success `*found_out` says whether the code belongs to a user, and
 * `*user_out` is that user (all zero if none). The code is only read during the call: it is
 * hashed with each location's key and never stored, copied, logged or put in an error message.
 * Thread safety: as `edgeid_lookup_card`.
 *
 * # Safety
 * `location_id` (if not NULL) and `code` must point to their lengths in readable bytes;
 * `user_out` to a writable `edgeid_user_ref`, `found_out` to a writable `bool`.
 */
edgeid_status edgeid_lookup_code(struct edgeid_store *store,
                                 const char *location_id,
                                 size_t location_id_len,
                                 const char *code,
                                 size_t code_len,
                                 struct edgeid_user_ref *user_out,
                                 bool *found_out);

/**
 * Checks an access code against one user: `*match_out` is true iff `code` is one of the access
 * codes of user `user_id` at `location_id` (false also for an unknown user or location). The code
 * must be 4..=12 ASCII digits (`EDGEID_ERR_INVALID` otherwise); it is only read during the call,
 * never stored, copied, logged or put in an error message.
 * Thread safety: as `edgeid_lookup_card`.
 *
 * # Safety
 * The id pointers and `code` must point to their lengths in readable bytes; `match_out` to a
 * writable `bool`.
 */
edgeid_status edgeid_check_code(struct edgeid_store *store,
                                const char *location_id,
                                size_t location_id_len,
                                const char *user_id,
                                size_t user_id_len,
                                const char *code,
                                size_t code_len,
                                bool *match_out);

/**
 * Finds the user a licence plate belongs to. Plates are compared after upper-casing and removing
 * spaces, dashes and dots ("ab 123 c" finds "AB-123-C"); 1..=16 letters or digits must remain
 * (`EDGEID_ERR_INVALID` otherwise). `location_id`: NULL to search every location (the first by
 * id that has the plate wins), or only this one. On success `*found_out` says whether the plate
 * belongs to a user, and `*user_out` is that user (all zero if none).
 * Thread safety: as `edgeid_lookup_card`.
 *
 * # Safety
 * `location_id` (if not NULL) and `plate` must point to their lengths in readable bytes;
 * `user_out` to a writable `edgeid_user_ref`, `found_out` to a writable `bool`.
 */
edgeid_status edgeid_lookup_plate(struct edgeid_store *store,
                                  const char *location_id,
                                  size_t location_id_len,
                                  const char *plate,
                                  size_t plate_len,
                                  struct edgeid_user_ref *user_out,
                                  bool *found_out);

/**
 * Compares two fingerprint minutiae records (1:1, no store): `*score_out` receives the matcher
 * score, 0..=1 (higher: more similar; compare it with `edgeid_finger_threshold_for_fmr`).
 *
 * `a`/`a_len` and `b`/`b_len`: the two records. `a_format` and `b_format`: an
 * `edgeid_finger_format` each (`EDGEID_FINGER_FORMAT_DETECT` for ISO and ANSI records; card
 * formats must be named), so a live scan can be compared with a card template. `a_position` and
 * `b_position`: which finger view of a record with several to compare (required then);
 * `EDGEID_FINGER_POSITION_FROM_RECORD` (-1) for a record with one view. A record that cannot be
 * read (truncated, a field out of range, a card format not named, several views and no position)
 * gives `EDGEID_ERR_INVALID` and the message says which record and what is wrong; an unknown
 * format number `EDGEID_ERR_UNSUPPORTED`. `*score_out` is set to 0 first.
 * Thread safety: any thread, any number at once.
 *
 * # Safety
 * `a` must point to `a_len` readable bytes, `b` to `b_len`; `score_out` to a writable `double`.
 */
edgeid_status edgeid_finger_compare(const uint8_t *a,
                                    size_t a_len,
                                    uint32_t a_format,
                                    int32_t a_position,
                                    const uint8_t *b,
                                    size_t b_len,
                                    uint32_t b_format,
                                    int32_t b_position,
                                    double *score_out);

/**
 * The score threshold for a false-match rate, from the built-in calibration: accept a comparison
 * (or a hit) when its score is at least `*threshold_out`. E.g. `fmr = 1e-4` ("1 in 10,000").
 * `fmr` must lie in `EDGEID_FINGER_FMR_MIN..=EDGEID_FINGER_FMR_MAX` (1e-6..=1e-1), the range the
 * calibration covers (`EDGEID_ERR_INVALID` otherwise, also for NaN). The calibration rests on
 * impostor scores of public test data: 1e-4 is weakly supported by data, 1e-5 and 1e-6 are
 * extrapolated; measure on your own sensor where it matters.
 * Thread safety: any thread.
 *
 * # Safety
 * `threshold_out` must point to a writable `double`.
 */
edgeid_status edgeid_finger_threshold_for_fmr(double fmr,
                                              double *threshold_out);

/**
 * The estimated false-match rate of a score used as threshold, from the built-in calibration
 * (for logs and audit trails: "accepted at FMR 3e-5"). Scores below the calibrated range give
 * `EDGEID_FINGER_FMR_MAX`, above it `EDGEID_FINGER_FMR_MIN`. `score` must be finite
 * (`EDGEID_ERR_INVALID` otherwise).
 * Thread safety: any thread.
 *
 * # Safety
 * `fmr_out` must point to a writable `double`.
 */
edgeid_status edgeid_finger_fmr_for_score(double score,
                                          double *fmr_out);

/**
 * Enrols one fingerprint template from a minutiae record and commits it (durable when this
 * returns). A template with the same three ids is replaced.
 *
 * The ids are UTF-8, 1..=64 bytes, no control characters, not NUL-terminated. `record`/
 * `record_len`: the record, `format` an `edgeid_finger_format`. `position`: for a record with
 * several finger views, the finger position (1..=10, or 0) of the view to enrol (required then);
 * for the card formats, which carry no position, the position to record; for a record with one
 * view, ignored: its own position is recorded. `EDGEID_FINGER_POSITION_FROM_RECORD` (-1) names
 * none. A record that cannot be read, or does not say which view to enrol, gives
 * `EDGEID_ERR_INVALID` (nothing changed). `*seq_out` (may be NULL) receives the commit's sequence
 * number.
 * Thread safety: as `edgeid_face_put`.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes, `record` to `record_len` bytes;
 * `seq_out`, if not NULL, to writable memory for one `uint64_t`.
 */
edgeid_status edgeid_finger_put(struct edgeid_store *store,
                                const char *location_id,
                                size_t location_id_len,
                                const char *user_id,
                                size_t user_id_len,
                                const char *template_id,
                                size_t template_id_len,
                                const uint8_t *record,
                                size_t record_len,
                                uint32_t format,
                                int32_t position,
                                uint64_t *seq_out);

/**
 * Removes one fingerprint template and commits (`EDGEID_ERR_NOT_FOUND` if it does not exist).
 * The user's face templates stay.
 * Deleted templates are erased from the flash by `edgeid_maintain` within 10 minutes, or at once
 * by `edgeid_erase_deleted`. `*seq_out` (may be NULL) receives the commit's sequence number.
 * Thread safety: as `edgeid_face_put`.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
 * memory for one `uint64_t`.
 */
edgeid_status edgeid_finger_remove(struct edgeid_store *store,
                                   const char *location_id,
                                   size_t location_id_len,
                                   const char *user_id,
                                   size_t user_id_len,
                                   const char *template_id,
                                   size_t template_id_len,
                                   uint64_t *seq_out);

/**
 * Removes every fingerprint template of a user at a location and commits
 * (`EDGEID_ERR_NOT_FOUND` if the user has none); the user's face templates stay.
 * `*seq_out` (may be NULL) receives the commit's sequence number. Thread safety: as
 * `edgeid_face_put`.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes; `seq_out`, if not NULL, to writable
 * memory for one `uint64_t`.
 */
edgeid_status edgeid_finger_remove_user(struct edgeid_store *store,
                                        const char *location_id,
                                        size_t location_id_len,
                                        const char *user_id,
                                        size_t user_id_len,
                                        uint64_t *seq_out);

/**
 * Adds "remove every fingerprint template of this user" to a batch (the commit fails with
 * `EDGEID_ERR_NOT_FOUND` if the user has none then); faces stay. Thread safety: see
 * `edgeid_batch_new`.
 *
 * # Safety
 * `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
 */
edgeid_status edgeid_batch_finger_remove_user(struct edgeid_batch *batch,
                                              const char *location_id,
                                              size_t location_id_len,
                                              const char *user_id,
                                              size_t user_id_len);

/**
 * Adds "put this fingerprint template" to a batch, so faces and fingerprints can be committed
 * together by `edgeid_commit`. The ids and the record are checked and the record prepared now,
 * as `edgeid_finger_put` does (the batch is unchanged if they are refused).
 * Thread safety: see `edgeid_batch_new`.
 *
 * # Safety
 * `batch` must be NULL or a live batch from `edgeid_batch_new`; each id pointer must point to its
 * length in readable bytes, `record` to `record_len` bytes.
 */
edgeid_status edgeid_batch_finger_put(struct edgeid_batch *batch,
                                      const char *location_id,
                                      size_t location_id_len,
                                      const char *user_id,
                                      size_t user_id_len,
                                      const char *template_id,
                                      size_t template_id_len,
                                      const uint8_t *record,
                                      size_t record_len,
                                      uint32_t format,
                                      int32_t position);

/**
 * Adds "remove this fingerprint template" to a batch (the commit fails with
 * `EDGEID_ERR_NOT_FOUND` if it does not exist then). Thread safety: see `edgeid_batch_new`.
 *
 * # Safety
 * `batch` must be NULL or a live batch; each id pointer must point to its length in readable bytes.
 */
edgeid_status edgeid_batch_finger_remove(struct edgeid_batch *batch,
                                         const char *location_id,
                                         size_t location_id_len,
                                         const char *user_id,
                                         size_t user_id_len,
                                         const char *template_id,
                                         size_t template_id_len);

/**
 * Fingerprint 1:N identification: the up to `k` users whose best fingerprint template scores
 * highest against the probe record, best first, each at most once.
 *
 * `record`/`record_len`, `format`, `position`: the probe, as for `edgeid_finger_put` (`position`
 * selects the view of a record with several; -1 for a record with one). `location_id`: NULL for
 * every location, or only users of this location. `threshold`: only users scoring at least this
 * (0..=1, e.g. from `edgeid_finger_threshold_for_fmr`; `EDGEID_ANY_SCORE` for all; must be
 * finite). `hits`: an array of `k >= 1` entries; the first `*n_hits` are written, the rest
 * untouched. The search uses a prefilter that is widened when no candidate scores confidently;
 * its result can differ from scoring every template in rare cases (unlike face identification,
 * which is exact).
 * Thread safety: any number of threads at once, also while another thread commits.
 *
 * # Safety
 * `record` must point to `record_len` bytes, `location_id` (if not NULL) to `location_id_len`
 * bytes, `hits` to `k` writable `edgeid_finger_hit`, `n_hits` to a writable `size_t`.
 */
edgeid_status edgeid_finger_identify(struct edgeid_store *store,
                                     const uint8_t *record,
                                     size_t record_len,
                                     uint32_t format,
                                     int32_t position,
                                     const char *location_id,
                                     size_t location_id_len,
                                     double threshold,
                                     struct edgeid_finger_hit *hits,
                                     size_t k,
                                     size_t *n_hits);

/**
 * Fingerprint 1:1 verification: how well the probe record matches a user's best fingerprint
 * template at a location. `*hit_out` receives the score, the template and its finger position;
 * compare the score with your threshold (`edgeid_finger_threshold_for_fmr`).
 * `EDGEID_ERR_NOT_FOUND` if the user has no fingerprint template there. `record`, `format` and
 * `position` as for `edgeid_finger_identify`.
 * Thread safety: as `edgeid_finger_identify`.
 *
 * # Safety
 * Each id pointer must point to its length in readable bytes, `record` to `record_len` bytes,
 * `hit_out` to a writable `edgeid_finger_hit`.
 */
edgeid_status edgeid_finger_verify(struct edgeid_store *store,
                                   const char *location_id,
                                   size_t location_id_len,
                                   const char *user_id,
                                   size_t user_id_len,
                                   const uint8_t *record,
                                   size_t record_len,
                                   uint32_t format,
                                   int32_t position,
                                   struct edgeid_finger_hit *hit_out);

/**
 * Applies one synchronisation delta with its detached signature: as `edgeid_apply_delta`, and
 * first the signature is checked over the exact `delta_len` bytes of `delta`, before they are
 * parsed.
 *
 * `signature`/`signature_len`: the signature envelope exactly as the platform sent it (the text
 * `edgeid.sig/1 ed25519 <key id> <base64 signature>`, optionally with a line feed; only read
 * during the call). NULL with length 0 applies the delta unsigned, like `edgeid_apply_delta`.
 *
 * Refusals specific to signatures return `EDGEID_ERR_REFUSED` with `result->refusal ==
 * EDGEID_REFUSAL_SIGNATURE` and nothing applied: a malformed envelope, a key id no location
 * trusts, a signature that does not match the bytes, a key not trusted for the delta's location
 * (a key of location A never authorises a delta for B), an unsigned delta for a location that
 * requires signatures (`edgeid_require_signatures`), an unsigned delta carrying `signing_keys`.
 * A signed delta carrying `signing_keys` replaces its location's keys in the same commit.
 *
 * Everything else (progress, result) is as `edgeid_apply_delta`.
 * Thread safety: as `edgeid_apply_delta`.
 *
 * # Safety
 * As `edgeid_apply_delta`; `signature` must point to `signature_len` readable bytes (or be NULL
 * with `signature_len` 0).
 */
edgeid_status edgeid_apply_delta_signed(struct edgeid_store *store,
                                        const uint8_t *delta,
                                        size_t delta_len,
                                        const uint8_t *signature,
                                        size_t signature_len,
                                        edgeid_progress_fn progress,
                                        void *user_data,
                                        struct edgeid_apply_result *result);

/**
 * Trusts an Ed25519 public key (`public_key`: its 32 raw bytes) for the deltas of a location.
 * A local, privileged act: the program that provisions the terminal calls it; afterwards the
 * platform rotates keys with signed deltas. Durable when it returns. `*added_out` (may be NULL)
 * is false when the key was trusted already.
 *
 * Errors: `EDGEID_ERR_INVALID` for bytes that are not a usable Ed25519 public key (not a curve
 * point, or a weak key of small order), a bad location id, or a location that trusts
 * `EDGEID_MAX_SIGNING_KEYS` keys already. Thread safety: as `edgeid_apply_delta`.
 *
 * # Safety
 * `location_id` must point to `location_id_len` readable bytes, `public_key` to 32 readable
 * bytes; `added_out` is NULL or points to a writable `bool`.
 */
edgeid_status edgeid_signing_key_add(struct edgeid_store *store,
                                     const char *location_id,
                                     size_t location_id_len,
                                     const uint8_t *public_key,
                                     bool *added_out);

/**
 * Stops trusting a public key (its 32 raw bytes) for a location's deltas. Durable when it
 * returns. `*removed_out` (may be NULL) is false when it was not trusted. Removing the last key
 * of a location that requires signatures refuses every delta for it until a key is added.
 * Thread safety: as `edgeid_apply_delta`.
 *
 * # Safety
 * As `edgeid_signing_key_add`, with `removed_out`.
 */
edgeid_status edgeid_signing_key_remove(struct edgeid_store *store,
                                        const char *location_id,
                                        size_t location_id_len,
                                        const uint8_t *public_key,
                                        bool *removed_out);

/**
 * Whether unsigned deltas for a location are refused (`EDGEID_REFUSAL_SIGNATURE`). Durable when
 * it returns. Thread safety: as `edgeid_apply_delta`.
 *
 * # Safety
 * `location_id` must point to `location_id_len` readable bytes.
 */
edgeid_status edgeid_require_signatures(struct edgeid_store *store,
                                        const char *location_id,
                                        size_t location_id_len,
                                        bool require);

/**
 * The public keys a location trusts, 32 bytes each, in the order they were added, and whether
 * it requires signatures. `keys_out`: room for `cap` keys (`cap * 32` bytes; NULL if `cap` is
 * 0). `*n_keys` receives the number of keys, also when it is larger than `cap`: then the first
 * `cap` are written and the call returns `EDGEID_ERR_SIZE`. A location with no keys gives 0 and
 * `*require_out == false` (unless it requires signatures). Thread safety: any thread,
 * concurrently with every other call.
 *
 * # Safety
 * `location_id` must point to `location_id_len` readable bytes; `keys_out`, if not NULL, to
 * `cap * 32` writable bytes; `n_keys` to a writable `size_t`; `require_out` is NULL or points to
 * a writable `bool`.
 */
edgeid_status edgeid_signing_keys(struct edgeid_store *store,
                                  const char *location_id,
                                  size_t location_id_len,
                                  uint8_t *keys_out,
                                  size_t cap,
                                  size_t *n_keys,
                                  bool *require_out);

/**
 * Loads the face pipeline: the model descriptors of `models_dir` (`yunet.json`, `w600k_mbf.json`;
 * each model file's sha256 is checked), ONNX Runtime from `ort_library` (NULL: `EDGEID_ORT_DYLIB`,
 * else the setup step's cache), the detector at `detector_size` px (0: the descriptor's, 320),
 * `threads` ONNX Runtime threads per model (0: one per core). One process loads one runtime
 * library. Errors: `EDGEID_ERR_UNSUPPORTED` (runtime missing), `EDGEID_ERR_NOT_FOUND` (model file
 * missing), `EDGEID_ERR_CORRUPT` (wrong model file), `EDGEID_ERR_INVALID`.
 * Thread safety: any thread, also while other pipelines run.
 *
 * # Safety
 * `models_dir` must point to `models_dir_len` bytes, `ort_library` (if not NULL) to
 * `ort_library_len` bytes, `out` to a writable pointer.
 */
edgeid_status edgeid_vision_open(const char *models_dir,
                                 size_t models_dir_len,
                                 const char *ort_library,
                                 size_t ort_library_len,
                                 uint32_t detector_size,
                                 uint32_t threads,
                                 struct edgeid_vision **out);

/**
 * Releases a pipeline (NULL: no-op).
 * Thread safety: no other call may be using `v`.
 *
 * # Safety
 * `v` must be NULL or a pointer from `edgeid_vision_open` not yet freed.
 */
void edgeid_vision_free(struct edgeid_vision *v);

/**
 * A camera frame to a template: detects the faces, aligns the largest, embeds it. `format`:
 * `EDGEID_PIXEL_*`; `stride`: bytes from one row to the next. When a face is found,
 * `embedding` receives `dim` L2-normalised floats (`dim` must be the recogniser's, 512 for the
 * reference model); `*face_out` always receives the box, landmarks and quality (`found` = 0 and
 * `EDGEID_QUALITY_NO_FACE` when there is none, which is not an error).
 * Thread safety: any thread; calls on one `edgeid_vision` are serialised (one pipeline per
 * thread extracts in parallel).
 *
 * # Safety
 * `data` must point to `data_len` readable bytes, `embedding` to `dim` writable floats, `face_out`
 * to a writable `edgeid_face`; `v` must come from `edgeid_vision_open`.
 */
edgeid_status edgeid_face_extract(struct edgeid_vision *v,
                                  const uint8_t *data,
                                  size_t data_len,
                                  uint32_t width,
                                  uint32_t height,
                                  size_t stride,
                                  uint32_t format,
                                  float *embedding,
                                  size_t dim,
                                  struct edgeid_face *face_out);

/**
 * As `edgeid_face_extract`, from the bytes of a JPEG or PNG file (an image whose header declares
 * more than 64 Mpx is refused before decoding).
 * Thread safety: as `edgeid_face_extract`.
 *
 * # Safety
 * As `edgeid_face_extract`.
 */
edgeid_status edgeid_face_extract_encoded(struct edgeid_vision *v,
                                          const uint8_t *data,
                                          size_t data_len,
                                          float *embedding,
                                          size_t dim,
                                          struct edgeid_face *face_out);

/**
 * 1:N identification straight from a camera frame: as `edgeid_face_extract`, then as
 * `edgeid_face_identify` (`k` hits at most, `threshold`, `location_id` NULL for all). No face:
 * `*n_hits` = 0, `face_out->found` = 0, `EDGEID_OK`. The store's model id must be the
 * recogniser's (`EDGEID_ERR_MODEL`).
 * Thread safety: as `edgeid_face_extract` for `v`, as `edgeid_face_identify` for the store.
 *
 * # Safety
 * As `edgeid_face_extract` and `edgeid_face_identify`.
 */
edgeid_status edgeid_face_identify_frame(struct edgeid_store *store,
                                         struct edgeid_vision *v,
                                         const uint8_t *data,
                                         size_t data_len,
                                         uint32_t width,
                                         uint32_t height,
                                         size_t stride,
                                         uint32_t format,
                                         const char *location_id,
                                         size_t location_id_len,
                                         double threshold,
                                         struct edgeid_hit *hits,
                                         size_t k,
                                         size_t *n_hits,
                                         struct edgeid_face *face_out);

/**
 * Enrols (or replaces) a face template straight from a camera frame: refused with
 * `EDGEID_ERR_REFUSED` when no face is found or the face fails the quality gate
 * (`face_out->quality_reasons` says why: tell the person). Durable when it returns `EDGEID_OK`.
 * Thread safety: as `edgeid_face_extract` for `v`, as `edgeid_face_put` for the store.
 *
 * # Safety
 * As `edgeid_face_extract`; each id pointer must point to its length in bytes.
 */
edgeid_status edgeid_face_put_frame(struct edgeid_store *store,
                                    struct edgeid_vision *v,
                                    const char *location_id,
                                    size_t location_id_len,
                                    const char *user_id,
                                    size_t user_id_len,
                                    const char *template_id,
                                    size_t template_id_len,
                                    const uint8_t *data,
                                    size_t data_len,
                                    uint32_t width,
                                    uint32_t height,
                                    size_t stride,
                                    uint32_t format,
                                    struct edgeid_face *face_out);

/**
 * Events after a cursor, as one JSON object `{"events": [...], "cursor": N}` (the shape of
 * `edgeid events read --json`, `docs/journal.md`), written NUL-terminated to `buf` (room for
 * `cap` bytes). `*len_out` receives the length of the text without the NUL, also when it does not
 * fit: then nothing is written and the call returns `EDGEID_ERR_SIZE` (ask with `buf` NULL and
 * `cap` 0 for the size; a page read again is the same while nothing is acknowledged past it).
 * At most `limit` events (capped at 100,000), only durable ones, in id order. `*cursor_out`
 * (if not NULL) receives the page's cursor: the last id returned, or `after` when none — what
 * to pass to `edgeid_events_ack` and as the next `after`. Thread safety: any thread,
 * concurrently with every other call.
 *
 * # Safety
 * `buf`, if not NULL, must point to `cap` writable bytes; `len_out` to a writable `size_t`;
 * `cursor_out` is NULL or points to a writable `uint64_t`.
 */
edgeid_status edgeid_events_read(struct edgeid_store *store,
                                 uint64_t after,
                                 size_t limit,
                                 char *buf,
                                 size_t cap,
                                 size_t *len_out,
                                 uint64_t *cursor_out);

/**
 * Acknowledges every event up to `cursor` (durable before it returns): they may be dropped from
 * now on. An older cursor than the acknowledged one changes nothing (the acknowledgement never
 * moves backwards); one past the last event is `EDGEID_ERR_INVALID`. `*acked_out` (if not NULL)
 * receives the acknowledged cursor. Thread safety: any thread, concurrently with every other
 * call.
 *
 * # Safety
 * `acked_out` is NULL or points to a writable `uint64_t`.
 */
edgeid_status edgeid_events_ack(struct edgeid_store *store,
                                uint64_t cursor,
                                uint64_t *acked_out);

/**
 * The terminal's clock was set from `from_micros` to `to_micros` (Unix microseconds): appends a
 * `clock_changed` event (durable before it returns; its id to `*id_out` if not NULL) and sets
 * the time quality of later events: `synced` true when the new time comes from the platform or
 * NTP, false otherwise. Thread safety: any thread, concurrently with every other call.
 *
 * # Safety
 * `id_out` is NULL or points to a writable `uint64_t`.
 */
edgeid_status edgeid_clock_changed(struct edgeid_store *store,
                                   int64_t from_micros,
                                   int64_t to_micros,
                                   bool synced,
                                   uint64_t *id_out);

/**
 * Whether the terminal's clock was set since boot (by the platform or NTP): the time quality of
 * later events (`synced` or `unsynced`; default after opening: not set). Thread safety: any
 * thread, concurrently with every other call.
 */
edgeid_status edgeid_clock_synced(struct edgeid_store *store,
                                  bool synced);

/**
 * May the person who presented `*presented` pass `door_id` of `location_id`? `at`: when (Unix
 * seconds; 0 = now, from the system clock). The checks, their order and the reasons are those of
 * the library (`docs`: the `access` module): unknown door, credential, enabled, validity, right,
 * schedule (in its IANA zone, with holidays), mode, anti-passback. `*decision_out` receives the
 * answer; a denial is `EDGEID_OK` with `granted` false and a reason. Anti-passback and punch
 * state is durable before the call returns.
 * Errors: `EDGEID_ERR_INVALID` for nothing presented or a malformed card, code, plate, id,
 * punch or fingerprint record, a face of the wrong dimension,
 * `EDGEID_ERR_SIZE` for a wrong `presented->size`, `EDGEID_ERR_READ_ONLY` on a read-only store;
 * `*decision_out` is then all zero (not granted).
 * Thread safety: any thread, concurrently with every other call on the store; decisions at
 * doors with anti-passback or punches are serialised among themselves.
 *
 * # Safety
 * `location_id` and `door_id` must point to their lengths in readable bytes; `presented` to a
 * readable `edgeid_presented` whose non-NULL pointers point to their lengths in readable
 * elements; `decision_out` to a writable `edgeid_decision`.
 */
edgeid_status edgeid_decide(struct edgeid_store *store,
                            const char *location_id,
                            size_t location_id_len,
                            const char *door_id,
                            size_t door_id_len,
                            int64_t at,
                            const struct edgeid_presented *presented,
                            struct edgeid_decision *decision_out);

/**
 * Applies one synchronisation delta read from the file at `path`, of any size, in bounded memory
 * (`edgeid_open_options` has no limit for it: `max_delta_bytes` does not apply; the store's
 * memory budget sizes the pieces it is read in). Validated, then committed atomically and
 * durably, or nothing: as `edgeid_apply_delta`, whose result, statuses and refusals it shares.
 *
 * `path`/`path_len`: the file, UTF-8, not NUL-terminated. The delta's `changes` must be its last
 * member (as the platform writes it; otherwise `EDGEID_ERR_REFUSED`, `EDGEID_REFUSAL_INVALID`),
 * and it must be unsigned (a location that requires signed deltas refuses it with
 * `EDGEID_REFUSAL_SIGNATURE`: a signature covers the exact bytes, which are never all held; use
 * `edgeid_apply_delta_signed` there). A file that cannot be opened or read gives `EDGEID_ERR_IO`
 * (outcome `EDGEID_OUTCOME_NONE`), with the path in the message.
 *
 * `progress` (may be NULL) is called with `user_data`; a non-zero return cancels the apply:
 * `EDGEID_ERR_CANCELLED`, outcome `EDGEID_OUTCOME_NONE`, nothing of the delta applied. The order
 * of the reports differs from `edgeid_apply_delta`: `EDGEID_PROGRESS_COMMITTING` comes first
 * (once, `done == total == 0`, when the delta's header is valid and its sequence is next; the
 * changes are then read and staged under the store's writer lock), then
 * `EDGEID_PROGRESS_VALIDATING` with `done` changes read and `total` 0 (unknown), as the changes
 * are read. The last report comes after the whole file was read, before anything is committed:
 * every report is a chance to cancel. What the callback may call is as for `edgeid_apply_delta`.
 *
 * Thread safety: any thread. Applies, commits and maintenance on one store are serialised (a
 * slow disk delays other writes, never searches); identify, verify, stats, sync status, digest
 * and lookups on other threads run concurrently and see the store before or after the delta.
 *
 * # Safety
 * `path` must point to `path_len` readable bytes; `progress`, if not NULL, must be a function of
 * this type that is safe to call with `user_data`; `result` must point to a writable
 * `edgeid_apply_result` whose `size` field is initialised.
 */
edgeid_status edgeid_apply_delta_file(struct edgeid_store *store,
                                      const char *path,
                                      size_t path_len,
                                      edgeid_progress_cancel_fn progress,
                                      void *user_data,
                                      struct edgeid_apply_result *result);

/**
 * `edgeid_apply_delta_file` with the delta's bytes coming from `read` instead of a file (e.g. a
 * socket or a decompressor): `read` is called with `user_data` until it returns 0 (see
 * `edgeid_read_fn`); it may return any number of bytes at a time. `progress` (may be NULL) is
 * called with the same `user_data`. A negative return of `read`, or more bytes than `cap`, gives
 * `EDGEID_ERR_IO` and nothing applied. Everything else (the delta's form, progress and cancel,
 * result, statuses) is as for `edgeid_apply_delta_file`.
 *
 * Thread safety: as `edgeid_apply_delta_file`; `read` runs on the calling thread.
 *
 * # Safety
 * `read` must be a function of this type that is safe to call with `user_data` and a buffer of
 * `cap` writable bytes; `progress`, if not NULL, a function of its type safe to call with
 * `user_data`; `result` must point to a writable `edgeid_apply_result` whose `size` field is
 * initialised.
 */
edgeid_status edgeid_apply_delta_stream(struct edgeid_store *store,
                                        edgeid_read_fn read,
                                        edgeid_progress_cancel_fn progress,
                                        void *user_data,
                                        struct edgeid_apply_result *result);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

/*
 * ---- Planned, not in this version ------------------------------------------------------------
 * Appended here later, without changing anything above: the access decision (user, door, time ->
 * granted or why not).
 */

#endif /* EDGEID_H */
