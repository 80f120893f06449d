/* Record v2 encoder for the SDK: all records of a batch in one call.
 *
 *   record = length varint | attributes i8 (0) | timestampDelta varlong |
 *            offsetDelta varint | key length varint | key | value length varint |
 *            value | headers (pre-encoded: count varint, then each header)
 *
 * Varints are zigzag base-128.  Keys, values and header sections arrive as one
 * blob each plus an int32 length per record (-1 = null key/value, or no
 * headers: a single 0 count byte, which is also written for an empty section). */
#include <string.h>

#include "rillet.h"

static inline size_t varint_size(int64_t v) {
    uint64_t zz = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (zz >= 0x80) {
        zz >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *put_varint(uint8_t *p, int64_t v) {
    uint64_t zz = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (zz >= 0x80) {
        *p++ = (uint8_t)(zz | 0x80);
        zz >>= 7;
    }
    *p++ = (uint8_t)zz;
    return p;
}

/* Lengths must be >= -1 and the non-null ones must add up to the blob. */
static int lengths_match(const int32_t *lens, size_t n, size_t blob_len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] < -1) return 0;
        if (lens[i] > 0) total += (size_t)lens[i];
    }
    return total == blob_len;
}

int64_t rl_encode_records(uint8_t *out, size_t out_cap, size_t n, const uint8_t *values,
                          size_t values_len, const int32_t *value_lens, const uint8_t *keys,
                          size_t keys_len, const int32_t *key_lens, const int64_t *timestamp_deltas,
                          const uint8_t *headers, size_t headers_len, const int32_t *header_lens,
                          int32_t offset_delta_start) {
    if (n == 0) return 0;
    if (offset_delta_start < 0 || (int64_t)offset_delta_start + (int64_t)(n - 1) > INT32_MAX)
        return RL_ENCODE_BAD_DELTA;
    if (!lengths_match(value_lens, n, values_len)) return RL_ENCODE_BAD_LENGTHS;
    if (key_lens ? !lengths_match(key_lens, n, keys_len) : keys_len != 0)
        return RL_ENCODE_BAD_LENGTHS;
    if (header_lens ? !lengths_match(header_lens, n, headers_len) : headers_len != 0)
        return RL_ENCODE_BAD_LENGTHS;

    uint8_t *p = out;
    const uint8_t *end = out + out_cap;
    for (size_t i = 0; i < n; i++) {
        int32_t vlen = value_lens[i];
        int32_t klen = key_lens ? key_lens[i] : -1;
        int32_t hlen = header_lens ? header_lens[i] : -1;
        int64_t ts = timestamp_deltas ? timestamp_deltas[i] : 0;
        int32_t offset_delta = offset_delta_start + (int32_t)i;

        uint64_t body = 1 + varint_size(ts) + varint_size(offset_delta);
        body += klen < 0 ? 1 : varint_size(klen) + (uint64_t)klen;
        body += vlen < 0 ? 1 : varint_size(vlen) + (uint64_t)vlen;
        body += hlen <= 0 ? 1 : (uint64_t)hlen;
        if (body > INT32_MAX) return RL_ENCODE_TOO_LONG;
        if (varint_size((int64_t)body) + body > (uint64_t)(end - p)) return RL_ENCODE_NO_ROOM;

        p = put_varint(p, (int64_t)body);
        *p++ = 0; /* attributes */
        p = put_varint(p, ts);
        p = put_varint(p, offset_delta);
        p = put_varint(p, klen);
        if (klen > 0) {
            memcpy(p, keys, (size_t)klen);
            p += klen;
            keys += klen;
        }
        p = put_varint(p, vlen);
        if (vlen > 0) {
            memcpy(p, values, (size_t)vlen);
            p += vlen;
            values += vlen;
        }
        if (hlen > 0) {
            memcpy(p, headers, (size_t)hlen);
            p += hlen;
            headers += hlen;
        } else {
            *p++ = 0;
        }
    }
    return (int64_t)(p - out);
}
