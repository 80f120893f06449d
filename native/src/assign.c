/* Offset assignment on append: patch baseOffset and partitionLeaderEpoch of
 * every batch in place (the CRC does not cover them).  The whole buffer is
 * checked before the first byte is written, so bad input changes nothing. */
#include "rillet.h"

#define LOG_OVERHEAD 12
#define HEADER_SIZE 61
#define MIN_BATCH_LENGTH 49

int rl_assign_offsets(uint8_t *buf, size_t len, int64_t first_offset, int32_t leader_epoch,
                      int64_t *next_offset, int64_t *error_pos) {
    /* First pass: every batch whole, deltas sane, offsets within int64. */
    int64_t offset = first_offset;
    size_t pos = 0;
    while (pos < len) {
        *error_pos = (int64_t)pos;
        if (len - pos < HEADER_SIZE) return RL_ASSIGN_TRUNCATED;
        int32_t length = (int32_t)rl_be32(buf + pos + 8);
        if (length < MIN_BATCH_LENGTH || (size_t)length > len - pos - LOG_OVERHEAD)
            return RL_ASSIGN_BAD_LENGTH;
        int32_t delta = (int32_t)rl_be32(buf + pos + 23);
        if (delta < 0) return RL_ASSIGN_BAD_DELTA;
        if (offset > INT64_MAX - ((int64_t)delta + 1)) return RL_ASSIGN_OVERFLOW;
        offset += (int64_t)delta + 1;
        pos += LOG_OVERHEAD + (size_t)length;
    }
    /* Second pass: patch. */
    offset = first_offset;
    pos = 0;
    while (pos < len) {
        uint8_t *b = buf + pos;
        rl_put_be64(b, (uint64_t)offset);
        rl_put_be32(b + 12, (uint32_t)leader_epoch);
        offset += (int64_t)(int32_t)rl_be32(b + 23) + 1;
        pos += LOG_OVERHEAD + (size_t)(int32_t)rl_be32(b + 8);
    }
    *next_offset = offset;
    return RL_ASSIGN_OK;
}
