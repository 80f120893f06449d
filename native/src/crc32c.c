#include "rillet.h"
/* placeholder, replaced by the native work */
static uint32_t table[256];
static int init = 0;
int rl_crc32c_hw(void) { return 0; }
uint32_t rl_crc32c(uint32_t crc, const uint8_t *buf, size_t len) {
    if (!init) { for (uint32_t i = 0; i < 256; i++) { uint32_t c = i; for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1; table[i] = c; } init = 1; }
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}
