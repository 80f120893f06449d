"""cffi declarations of the native core (API mode, out-of-line).

``emit()`` writes ``native/_generated/_rillet.c``; setuptools compiles it
together with ``native/src/*.c`` into ``native._rillet``.  Every function
declared here has a pure-Python twin in ``native/twins.py``.
"""

from __future__ import annotations

import os

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))

CDEF = """
void rl_crc32c_init(void);
int rl_crc32c_hw(void);
uint32_t rl_crc32c(uint32_t crc, const uint8_t *buf, size_t len);
uint32_t rl_crc32c_sw(uint32_t crc, const uint8_t *buf, size_t len);

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

typedef struct {
    int64_t next;
    int64_t error_pos;
    int32_t reason;
} rl_scan_state;

size_t rl_scan_batches(const uint8_t *buf, size_t len, size_t start, int strict,
                       rl_batch_info *out, size_t cap, rl_scan_state *state);

enum {
    RL_ASSIGN_OK = 0,
    RL_ASSIGN_TRUNCATED = 1,
    RL_ASSIGN_BAD_LENGTH = 2,
    RL_ASSIGN_BAD_DELTA = 3,
    RL_ASSIGN_OVERFLOW = 4,
};
int rl_assign_offsets(uint8_t *buf, size_t len, int64_t first_offset, int32_t leader_epoch,
                      int64_t *next_offset, int64_t *error_pos);

int64_t rl_offset_index_lookup(const uint8_t *buf, size_t n_entries, int64_t target);
int64_t rl_time_index_lookup(const uint8_t *buf, size_t n_entries, int64_t target);

enum {
    RL_ENCODE_BAD_LENGTHS = -1,
    RL_ENCODE_NO_ROOM = -2,
    RL_ENCODE_TOO_LONG = -3,
    RL_ENCODE_BAD_DELTA = -4,
};
int64_t rl_encode_records(uint8_t *out, size_t out_cap, size_t n, const uint8_t *values,
                          size_t values_len, const int32_t *value_lens, const uint8_t *keys,
                          size_t keys_len, const int32_t *key_lens, const int64_t *timestamp_deltas,
                          const uint8_t *headers, size_t headers_len, const int32_t *header_lens,
                          int32_t offset_delta_start);

enum {
    RL_DECODE_OK = 0,
    RL_DECODE_TRUNCATED = 1,
    RL_DECODE_BAD_VARINT = 2,
    RL_DECODE_NEGATIVE_LENGTH = 3,
    RL_DECODE_PAST_RECORD = 4,
    RL_DECODE_SHORT_FIELDS = 5,
    RL_DECODE_TRAILING = 6,
    RL_DECODE_OUT_OF_RANGE = 7,
    RL_DECODE_NO_ROOM = 8,
};
typedef struct {
    int64_t error_pos;
    int64_t record;
    int64_t headers;
    int32_t reason;
} rl_decode_state;
int rl_decode_records(const uint8_t *buf, size_t len, size_t count, int64_t base_offset,
                      int64_t base_timestamp, int64_t *columns, size_t stride, int64_t *headers,
                      size_t headers_cap, rl_decode_state *state);
enum {
    RL_FORMAT_BAD_SLICES = -1,
    RL_FORMAT_NO_ROOM = -2,
};
int64_t rl_slices_format(const int64_t *a_starts, const int64_t *a_lens, const int64_t *b_starts,
                         const int64_t *b_lens, size_t n, char *out, size_t out_cap);
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("native._rillet", '#include "rillet.h"')


def emit() -> str:
    """Write the generated C source and return its path."""
    out_dir = os.path.join(HERE, "_generated")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "_rillet.c")
    ffibuilder.emit_c_code(path)
    return path


if __name__ == "__main__":
    print(emit())
