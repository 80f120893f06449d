/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as record batch v2 uses it.
 *
 * Two implementations, chosen once at load time:
 *  - x86_64 with SSE4.2: the crc32 instruction, compiled for that target only
 *    (no global -msse4.2, so the extension still loads on older CPUs).  The
 *    instruction has a latency of 3 cycles but issues every cycle, so the buffer
 *    is cut into three streams computed side by side; their CRCs are then joined
 *    by "shifting" a CRC over the length of the following stream with a table
 *    (CRC is linear: crc(A||B) = shift(crc(A), |B|) ^ crc_from_zero(B)).
 *  - elsewhere: slicing-by-8, eight table lookups per 8 input bytes.
 */
#include <string.h>

#include "rillet.h"

#define POLY 0x82F63B78u

/* Stream lengths for the three-way split: LONG for big buffers, SHORT for the
 * rest; both multiples of 8.  Each needs its own shift table. */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static uint32_t slice_table[8][256];
static int initialised = 0;

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len);
static uint32_t (*crc32c_impl)(uint32_t, const uint8_t *, size_t) = crc32c_sw;
static int hardware = 0;

static void init_slice_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        slice_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = slice_table[0][i];
        for (int k = 1; k < 8; k++) {
            c = slice_table[0][c & 0xff] ^ (c >> 8);
            slice_table[k][i] = c;
        }
    }
}

/* Byte-order independent little-endian load; compilers turn it into one mov. */
static inline uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len) {
    uint32_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = slice_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo = c ^ load_le32(p);
        uint32_t hi = load_le32(p + 4);
        c = slice_table[7][lo & 0xff] ^ slice_table[6][(lo >> 8) & 0xff] ^
            slice_table[5][(lo >> 16) & 0xff] ^ slice_table[4][lo >> 24] ^
            slice_table[3][hi & 0xff] ^ slice_table[2][(hi >> 8) & 0xff] ^
            slice_table[1][(hi >> 16) & 0xff] ^ slice_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) c = slice_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RL_HAVE_SSE42 1
#include <nmmintrin.h>

static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

/* Table that advances a raw CRC register over `zeros` zero bytes: by linearity,
 * the register bits are advanced one at a time and combined per byte value. */
static void init_shift_table(uint32_t table[4][256], size_t zeros) {
    uint32_t basis[32];
    for (int bit = 0; bit < 32; bit++) {
        uint32_t r = (uint32_t)1 << bit;
        for (size_t i = 0; i < zeros; i++) r = slice_table[0][r & 0xff] ^ (r >> 8);
        basis[bit] = r;
    }
    for (int k = 0; k < 4; k++) {
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t r = 0;
            for (int b = 0; b < 8; b++)
                if (v & (1u << b)) r ^= basis[8 * k + b];
            table[k][v] = r;
        }
    }
}

static inline uint32_t shift_crc(uint32_t table[4][256], uint32_t crc) {
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
           table[3][crc >> 24];
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t len) {
    uint64_t c0 = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        len--;
    }
    while (len >= 3 * LONG_BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = p + LONG_BLOCK;
        do {
            c0 = _mm_crc32_u64(c0, load64(p));
            c1 = _mm_crc32_u64(c1, load64(p + LONG_BLOCK));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * LONG_BLOCK));
            p += 8;
        } while (p < end);
        c0 = shift_crc(shift_long, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = shift_crc(shift_long, (uint32_t)c0) ^ (uint32_t)c2;
        p += 2 * LONG_BLOCK;
        len -= 3 * LONG_BLOCK;
    }
    while (len >= 3 * SHORT_BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = p + SHORT_BLOCK;
        do {
            c0 = _mm_crc32_u64(c0, load64(p));
            c1 = _mm_crc32_u64(c1, load64(p + SHORT_BLOCK));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * SHORT_BLOCK));
            p += 8;
        } while (p < end);
        c0 = shift_crc(shift_short, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = shift_crc(shift_short, (uint32_t)c0) ^ (uint32_t)c2;
        p += 2 * SHORT_BLOCK;
        len -= 3 * SHORT_BLOCK;
    }
    while (len >= 8) {
        c0 = _mm_crc32_u64(c0, load64(p));
        p += 8;
        len -= 8;
    }
    while (len--) c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}
#endif

void rl_crc32c_init(void) {
    if (initialised) return;
    init_slice_table();
#ifdef RL_HAVE_SSE42
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        init_shift_table(shift_long, LONG_BLOCK);
        init_shift_table(shift_short, SHORT_BLOCK);
        crc32c_impl = crc32c_hw;
        hardware = 1;
    }
#endif
    initialised = 1;
}

#if defined(__GNUC__) || defined(__clang__)
/* Tables ready before any caller: the module's init runs after this. */
__attribute__((constructor)) static void init_at_load(void) { rl_crc32c_init(); }
#endif

int rl_crc32c_hw(void) { return hardware; }

uint32_t rl_crc32c(uint32_t crc, const uint8_t *buf, size_t len) {
    return crc32c_impl(crc, buf, len);
}

uint32_t rl_crc32c_sw(uint32_t crc, const uint8_t *buf, size_t len) {
    return crc32c_sw(crc, buf, len);
}
