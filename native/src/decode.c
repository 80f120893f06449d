/* Record v2 decoder for consumers: every record of an uncompressed records
 * section in one call, reported as parallel columns of positions and numbers.
 *
 *   record = length varint | attributes i8 | timestampDelta varlong |
 *            offsetDelta varint | key length varint (-1 = null) | key |
 *            value length varint (-1 = null) | value | header count varint |
 *            headers: key length varint | key | value length varint (-1 = null) | value
 *
 * Varints are zigzag base-128: at most 5 bytes holding 32 bits, varlongs at
 * most 10 bytes holding 64 bits.  Every field must lie inside its record and
 * every record inside the buffer; the records must fill the buffer exactly.
 * No bytes are copied: Python slices keys, values and headers from the
 * positions reported here. */
#include "rillet.h"

#define COLUMNS 7

/* Reads the varint at *p (bounded by end) into *out; returns an RL_DECODE_*
 * code.  `max_bytes` is 5 (32-bit) or 10 (64-bit); the last byte may only
 * carry the bits that fit. */
static inline int get_varint(const uint8_t **p, const uint8_t *end, int max_bytes,
                             uint64_t *out) {
    const uint8_t *q = *p;
    if (q < end && *q < 0x80) { /* the common case: a one-byte varint */
        *out = *q;
        *p = q + 1;
        return RL_DECODE_OK;
    }
    uint64_t raw = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (q >= end) return RL_DECODE_PAST_RECORD;
        uint8_t byte = *q++;
        raw |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (byte < 0x80) {
            /* 5 bytes carry 35 bits and 10 bytes 70: the top ones must be clear */
            if (i == max_bytes - 1 && byte > (max_bytes == 5 ? 0x0F : 0x01))
                return RL_DECODE_BAD_VARINT;
            *out = raw;
            *p = q;
            return RL_DECODE_OK;
        }
    }
    return RL_DECODE_BAD_VARINT;
}

static inline int64_t unzigzag(uint64_t raw) { return (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1); }

/* A 32-bit varint as a signed value; the error codes of get_varint. */
static inline int get_int(const uint8_t **p, const uint8_t *end, int64_t *out) {
    uint64_t raw;
    int code = get_varint(p, end, 5, &raw);
    *out = unzigzag(raw);
    return code;
}

/* base + delta into *out, unless it leaves the int64 range. */
static inline int add_base(int64_t base, int64_t delta, int64_t *out) {
    if (delta > 0 ? base > INT64_MAX - delta : base < INT64_MIN - delta) return 0;
    *out = base + delta;
    return 1;
}

int rl_decode_records(const uint8_t *buf, size_t len, size_t count, int64_t base_offset,
                      int64_t base_timestamp, int64_t *columns, size_t stride, int64_t *headers,
                      size_t headers_cap, rl_decode_state *state) {
    const uint8_t *p = buf;
    const uint8_t *buf_end = buf + len;
    const uint8_t *field = p; /* start of the field being read: the error position */
    size_t n_headers = 0;
    size_t i = 0;
    int code = RL_DECODE_OK;
    int64_t v;

    int64_t *offsets = columns;
    int64_t *timestamps = columns + stride;
    int64_t *key_starts = columns + 2 * stride;
    int64_t *key_lens = columns + 3 * stride;
    int64_t *value_starts = columns + 4 * stride;
    int64_t *value_lens = columns + 5 * stride;
    int64_t *header_counts = columns + 6 * stride;

/* Record the failure at `field` and leave the loop. */
#define FAIL(c)       \
    do {              \
        code = (c);   \
        goto done;    \
    } while (0)
/* A 32-bit varint into v; reading past `end` means what `past` says. */
#define INT(end, past)                                                             \
    do {                                                                           \
        field = p;                                                                 \
        int c_ = get_int(&p, (end), &v);                                           \
        if (c_) FAIL(c_ == RL_DECODE_PAST_RECORD ? (past) : c_);                   \
    } while (0)

    for (i = 0; i < count; i++) {
        if (i >= stride) { /* unreachable: each record takes at least 7 bytes */
            field = p;
            FAIL(RL_DECODE_TRUNCATED);
        }
        INT(buf_end, RL_DECODE_TRUNCATED);
        if (v < 0) FAIL(RL_DECODE_NEGATIVE_LENGTH);
        if ((uint64_t)v > (uint64_t)(buf_end - p)) FAIL(RL_DECODE_TRUNCATED);
        const uint8_t *end = p + v;

        field = p;
        if (p >= end) FAIL(RL_DECODE_PAST_RECORD);
        p++; /* attributes: no record-level attribute is defined */

        uint64_t raw;
        field = p;
        int c = get_varint(&p, end, 10, &raw);
        if (c) FAIL(c);
        if (!add_base(base_timestamp, unzigzag(raw), timestamps + i)) FAIL(RL_DECODE_OUT_OF_RANGE);

        INT(end, RL_DECODE_PAST_RECORD);
        if (!add_base(base_offset, v, offsets + i)) FAIL(RL_DECODE_OUT_OF_RANGE);

        INT(end, RL_DECODE_PAST_RECORD);
        if (v < -1) FAIL(RL_DECODE_NEGATIVE_LENGTH);
        if (v > end - p) FAIL(RL_DECODE_PAST_RECORD);
        key_starts[i] = p - buf;
        key_lens[i] = v;
        if (v > 0) p += v;

        INT(end, RL_DECODE_PAST_RECORD);
        if (v < -1) FAIL(RL_DECODE_NEGATIVE_LENGTH);
        if (v > end - p) FAIL(RL_DECODE_PAST_RECORD);
        value_starts[i] = p - buf;
        value_lens[i] = v;
        if (v > 0) p += v;

        INT(end, RL_DECODE_PAST_RECORD);
        if (v < 0) FAIL(RL_DECODE_NEGATIVE_LENGTH);
        int64_t n = v;
        header_counts[i] = n;
        for (int64_t h = 0; h < n; h++) {
            int64_t *slot = n_headers < headers_cap ? headers + 4 * n_headers : NULL;
            n_headers++;
            INT(end, RL_DECODE_PAST_RECORD);
            if (v < 0) FAIL(RL_DECODE_NEGATIVE_LENGTH);
            if (v > end - p) FAIL(RL_DECODE_PAST_RECORD);
            if (slot) {
                slot[0] = p - buf;
                slot[1] = v;
            }
            p += v;
            INT(end, RL_DECODE_PAST_RECORD);
            if (v < -1) FAIL(RL_DECODE_NEGATIVE_LENGTH);
            if (v > end - p) FAIL(RL_DECODE_PAST_RECORD);
            if (slot) {
                slot[2] = p - buf;
                slot[3] = v;
            }
            if (v > 0) p += v;
        }
        field = p;
        if (p != end) FAIL(RL_DECODE_SHORT_FIELDS);
    }
    field = p;
    if (p != buf_end) FAIL(RL_DECODE_TRAILING);
    if (n_headers > headers_cap) code = RL_DECODE_NO_ROOM;
#undef INT
#undef FAIL
done:
    state->reason = code;
    state->record = (int64_t)i;
    state->error_pos = field - buf;
    state->headers = (int64_t)n_headers;
    return code;
}

/* Appends the decimal digits of v (>= 0) and then `code` at p. */
static inline char *put_count(char *p, int64_t v, char code) {
    if (v < 10) { /* gaps are mostly the few bytes of a record's varints */
        *p++ = (char)('0' + v);
    } else {
        char digits[20];
        int n = 0;
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (n) *p++ = digits[--n];
    }
    *p++ = code;
    return p;
}

/* One slice: a gap of pad bytes from *pos, then the slice; 0 when out of order. */
static inline char *put_slice(char *p, int64_t *pos, int64_t start, int64_t len) {
    if (len < -1 || start < *pos) return NULL;
    if (len < 0) len = 0;
    if (len > INT64_MAX - start) return NULL;
    if (start > *pos) p = put_count(p, start - *pos, 'x');
    p = put_count(p, len, 's');
    *pos = start + len;
    return p;
}

int64_t rl_slices_format(const int64_t *a_starts, const int64_t *a_lens, const int64_t *b_starts,
                         const int64_t *b_lens, size_t n, char *out, size_t out_cap) {
    /* a record writes two slices, each two counts of up to 20 digits and their codes */
    if (out_cap < 1 || (out_cap - 1) / 84 < n) return RL_FORMAT_NO_ROOM;
    char *p = out;
    int64_t pos = 0;
    *p++ = '<';
    for (size_t i = 0; i < n; i++) {
        p = put_slice(p, &pos, a_starts[i], a_lens[i]);
        if (!p) return RL_FORMAT_BAD_SLICES;
        p = put_slice(p, &pos, b_starts[i], b_lens[i]);
        if (!p) return RL_FORMAT_BAD_SLICES;
    }
    return p - out;
}
