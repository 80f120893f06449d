/* Rillet native core: CRC-32C, record batch scanning, offset assignment, index
 * search, record encoding and decoding.  Every function here is declared to cffi in
 * native/ffi_build.py and has a pure-Python twin in native/twins.py. */
#ifndef RILLET_H
#define RILLET_H
#include <stddef.h>
#include <stdint.h>

/* crc32c.c */
void rl_crc32c_init(void);
int rl_crc32c_hw(void);
uint32_t rl_crc32c(uint32_t crc, const uint8_t *buf, size_t len);
uint32_t rl_crc32c_sw(uint32_t crc, const uint8_t *buf, size_t len);

/* scan.c: header fields of one valid batch.  Only int64_t members, so that
 * Python can read an array of them as a flat int64_t array (no padding). */
typedef struct {
    int64_t position;
    int64_t size;
    int64_t base_offset;
    int64_t last_offset_delta;
    int64_t partition_leader_epoch;
    int64_t magic;
    int64_t crc;
    int64_t attributes;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int64_t producer_epoch;
    int64_t base_sequence;
    int64_t record_count;
} rl_batch_info;

/* Scan failure reasons (native/results.py REASONS lists them in this order). */
enum {
    RL_SCAN_OK = 0,
    RL_SCAN_TRUNCATED = 1,
    RL_SCAN_BAD_LENGTH = 2,
    RL_SCAN_BAD_MAGIC = 3,
    RL_SCAN_BAD_CRC = 4,
    RL_SCAN_BAD_RECORD_COUNT = 5,
};

typedef struct {
    int64_t next;      /* end of the last valid batch reported */
    int64_t error_pos; /* first invalid byte, when reason != RL_SCAN_OK */
    int32_t reason;    /* RL_SCAN_* */
} rl_scan_state;

size_t rl_scan_batches(const uint8_t *buf, size_t len, size_t start, int strict,
                       rl_batch_info *out, size_t cap, rl_scan_state *state);

/* assign.c */
enum {
    RL_ASSIGN_OK = 0,
    RL_ASSIGN_TRUNCATED = 1,
    RL_ASSIGN_BAD_LENGTH = 2,
    RL_ASSIGN_BAD_DELTA = 3,
    RL_ASSIGN_OVERFLOW = 4,
};
int rl_assign_offsets(uint8_t *buf, size_t len, int64_t first_offset, int32_t leader_epoch,
                      int64_t *next_offset, int64_t *error_pos);

/* index.c */
int64_t rl_offset_index_lookup(const uint8_t *buf, size_t n_entries, int64_t target);
int64_t rl_time_index_lookup(const uint8_t *buf, size_t n_entries, int64_t target);

/* encode.c */
enum {
    RL_ENCODE_BAD_LENGTHS = -1, /* item lengths do not add up to their blob */
    RL_ENCODE_NO_ROOM = -2,     /* output buffer too small */
    RL_ENCODE_TOO_LONG = -3,    /* a record longer than 2**31 - 1 bytes */
    RL_ENCODE_BAD_DELTA = -4,   /* offsetDelta would overflow int32 */
};
int64_t rl_encode_records(uint8_t *out, size_t out_cap, size_t n, const uint8_t *values,
                          size_t values_len, const int32_t *value_lens, const uint8_t *keys,
                          size_t keys_len, const int32_t *key_lens, const int64_t *timestamp_deltas,
                          const uint8_t *headers, size_t headers_len, const int32_t *header_lens,
                          int32_t offset_delta_start);

/* decode.c: failure reasons (native/results.py DECODE_REASONS lists them in
 * this order); RL_DECODE_NO_ROOM only asks for a larger header array. */
enum {
    RL_DECODE_OK = 0,
    RL_DECODE_TRUNCATED = 1,      /* a record's length goes past the end of the buffer */
    RL_DECODE_BAD_VARINT = 2,     /* a varint longer than its type allows */
    RL_DECODE_NEGATIVE_LENGTH = 3, /* a length below -1, or below 0 where null is not allowed */
    RL_DECODE_PAST_RECORD = 4,    /* a field goes past the end of its record */
    RL_DECODE_SHORT_FIELDS = 5,   /* the fields end before the record's length says */
    RL_DECODE_TRAILING = 6,       /* bytes left after the last record */
    RL_DECODE_OUT_OF_RANGE = 7,   /* a base plus its delta leaves the int64 range */
    RL_DECODE_NO_ROOM = 8,        /* more headers than headers_cap (state->headers says how many) */
};

typedef struct {
    int64_t error_pos; /* first byte of the field that failed */
    int64_t record;    /* index of the record that failed (count when none did) */
    int64_t headers;   /* headers found, whether or not they fitted */
    int32_t reason;    /* RL_DECODE_* */
} rl_decode_state;

/* `columns` holds 7 arrays of `stride` int64 each (stride >= min(count, len / 7 + 1)):
 * offset (base_offset + offsetDelta), timestamp (base_timestamp +
 * timestampDelta), key start, key length, value start, value length, header count.  `headers` holds 4 int64 per header: key start, key
 * length, value start, value length.  Positions are from `buf`; length -1 is null. */
int rl_decode_records(const uint8_t *buf, size_t len, size_t count, int64_t base_offset,
                      int64_t base_timestamp, int64_t *columns, size_t stride, int64_t *headers,
                      size_t headers_cap, rl_decode_state *state);

/* A format for Python's struct module that, unpacked from the buffer the
 * positions refer to, yields the slices a[0], b[0], a[1], b[1], ... as bytes
 * (a null slice, length -1, as empty bytes): keys and values of decoded
 * records in one call, without an integer object per position.  Returns the
 * format's length, or RL_FORMAT_* when the slices are not in ascending,
 * non-overlapping order or out_cap < 1 + 84 * n. */
enum {
    RL_FORMAT_BAD_SLICES = -1,
    RL_FORMAT_NO_ROOM = -2,
};
int64_t rl_slices_format(const int64_t *a_starts, const int64_t *a_lens, const int64_t *b_starts,
                         const int64_t *b_lens, size_t n, char *out, size_t out_cap);

/* Big-endian field access shared by the sources. */
static inline uint32_t rl_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t rl_be64(const uint8_t *p) {
    return (uint64_t)rl_be32(p) << 32 | rl_be32(p + 4);
}
static inline uint16_t rl_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void rl_put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void rl_put_be64(uint8_t *p, uint64_t v) {
    rl_put_be32(p, (uint32_t)(v >> 32));
    rl_put_be32(p + 4, (uint32_t)v);
}

#endif
