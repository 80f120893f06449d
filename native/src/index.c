/* Offset and time index search over Kafka's big-endian index files.
 *
 *   offset index entry (8 bytes):  relative offset u32 | file position u32
 *   time index entry (12 bytes):   timestamp i64      | relative offset u32
 *
 * Both find the last entry whose key is <= target in ascending entries.
 * As Kafka's AbstractIndex argues, lookups mostly ask for recent data, so the
 * last 8 KiB of entries (the "warm" pages, likely in the page cache) are
 * searched first and the cold part is touched only when needed. */
#include "rillet.h"

#define WARM_BYTES 8192

typedef int64_t (*key_fn)(const uint8_t *buf, size_t slot);

static int64_t offset_key(const uint8_t *buf, size_t slot) { return rl_be32(buf + slot * 8); }

static int64_t time_key(const uint8_t *buf, size_t slot) {
    return (int64_t)rl_be64(buf + slot * 12);
}

/* Largest slot in [lo, hi] with key <= target; requires key(lo) <= target. */
static inline size_t search(const uint8_t *buf, key_fn key, size_t lo, size_t hi, int64_t target) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (key(buf, mid) <= target)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static inline int64_t lookup(const uint8_t *buf, size_t n, int64_t target, key_fn key,
                             size_t warm_entries) {
    if (n == 0) return -1;
    size_t first_warm = n - 1 > warm_entries ? n - 1 - warm_entries : 0;
    if (key(buf, first_warm) <= target) return (int64_t)search(buf, key, first_warm, n - 1, target);
    if (key(buf, 0) > target) return -1;
    return (int64_t)search(buf, key, 0, first_warm, target);
}

int64_t rl_offset_index_lookup(const uint8_t *buf, size_t n_entries, int64_t target) {
    return lookup(buf, n_entries, target, offset_key, WARM_BYTES / 8);
}

int64_t rl_time_index_lookup(const uint8_t *buf, size_t n_entries, int64_t target) {
    return lookup(buf, n_entries, target, time_key, WARM_BYTES / 12);
}
