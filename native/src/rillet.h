/* Rillet native core: CRC-32C, record batch scanning, index search, record encoding. */
#ifndef RILLET_H
#define RILLET_H
#include <stddef.h>
#include <stdint.h>

uint32_t rl_crc32c(uint32_t crc, const uint8_t *buf, size_t len);
int rl_crc32c_hw(void);

#endif
