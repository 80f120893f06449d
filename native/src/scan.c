/* Record batch v2 scanner: walks concatenated batches, checks each one's
 * length, magic, CRC-32C and record count, and reports the header fields.
 * Field offsets are listed in native/results.py. */
#include "rillet.h"

#define LOG_OVERHEAD 12
#define MIN_BATCH_LENGTH 49
#define LENGTH_OFFSET 8
#define MAGIC_OFFSET 16
#define CRC_OFFSET 17
#define CRC_START 21
#define RECORD_COUNT_OFFSET 57

_Static_assert(sizeof(rl_batch_info) == 14 * sizeof(int64_t), "rl_batch_info must be flat int64s");

/* Fills at most `cap` entries of `out` with the valid batches found from
 * `start`, and returns how many.  Stops early at the first invalid batch
 * (state->reason, state->error_pos) or at the end of the buffer (reason 0,
 * next == len).  When it returns cap with reason 0 and next < len, the caller
 * continues from state->next. */
size_t rl_scan_batches(const uint8_t *buf, size_t len, size_t start, int strict,
                       rl_batch_info *out, size_t cap, rl_scan_state *state) {
    size_t pos = start;
    size_t count = 0;
    int reason = RL_SCAN_OK;
    size_t error_pos = 0;

    while (pos < len && count < cap) {
        const uint8_t *b = buf + pos;
        size_t remaining = len - pos;
        if (remaining < LOG_OVERHEAD) {
            reason = RL_SCAN_TRUNCATED;
            error_pos = pos;
            break;
        }
        int32_t length = (int32_t)rl_be32(b + LENGTH_OFFSET);
        if (length < MIN_BATCH_LENGTH) {
            reason = RL_SCAN_BAD_LENGTH;
            error_pos = pos + LENGTH_OFFSET;
            break;
        }
        if (remaining <= MAGIC_OFFSET) {
            reason = RL_SCAN_TRUNCATED;
            error_pos = pos;
            break;
        }
        if (b[MAGIC_OFFSET] != 2) {
            reason = RL_SCAN_BAD_MAGIC;
            error_pos = pos + MAGIC_OFFSET;
            break;
        }
        size_t size = LOG_OVERHEAD + (size_t)length;
        if (size > remaining) {
            reason = RL_SCAN_TRUNCATED;
            error_pos = pos;
            break;
        }
        uint32_t crc = rl_be32(b + CRC_OFFSET);
        if (rl_crc32c(0, b + CRC_START, size - CRC_START) != crc) {
            reason = RL_SCAN_BAD_CRC;
            error_pos = pos + CRC_OFFSET;
            break;
        }
        int32_t last_offset_delta = (int32_t)rl_be32(b + 23);
        int32_t record_count = (int32_t)rl_be32(b + RECORD_COUNT_OFFSET);
        int64_t expected = (int64_t)last_offset_delta + 1;
        int count_ok = strict ? (record_count >= 1 && record_count == expected)
                              : (record_count >= 0 && record_count <= expected);
        if (!count_ok) {
            reason = RL_SCAN_BAD_RECORD_COUNT;
            error_pos = pos + RECORD_COUNT_OFFSET;
            break;
        }
        rl_batch_info *info = &out[count++];
        info->position = (int64_t)pos;
        info->size = (int64_t)size;
        info->base_offset = (int64_t)rl_be64(b);
        info->last_offset_delta = last_offset_delta;
        info->partition_leader_epoch = (int32_t)rl_be32(b + 12);
        info->magic = (int8_t)b[MAGIC_OFFSET];
        info->crc = crc;
        info->attributes = (int16_t)rl_be16(b + 21);
        info->base_timestamp = (int64_t)rl_be64(b + 27);
        info->max_timestamp = (int64_t)rl_be64(b + 35);
        info->producer_id = (int64_t)rl_be64(b + 43);
        info->producer_epoch = (int16_t)rl_be16(b + 51);
        info->base_sequence = (int32_t)rl_be32(b + 53);
        info->record_count = record_count;
        pos += size;
    }
    state->next = (int64_t)pos;
    state->reason = reason;
    state->error_pos = (int64_t)error_pos;
    return count;
}
