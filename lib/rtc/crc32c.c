/* CRC32c: hardware (SSE4.2 crc32 instruction) or a table. */
#include <string.h>
#include "rtc/crc32c.h"

static uint32_t table[256];
static int table_ready;

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        table[i] = c;
    }
    table_ready = 1;
}

static uint32_t crc_table(uint32_t crc, const uint8_t *p, size_t n)
{
    if (!table_ready) make_table(); /* idempotent: a race writes equal values */
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t st_sctp_crc32c(const uint8_t *data, size_t len)
{
    uint32_t crc;
#if defined(__x86_64__)
    static int hw = -1;
    if (hw < 0) hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    crc = hw ? crc_hw(0xffffffffu, data, len) : crc_table(0xffffffffu, data, len);
#else
    crc = crc_table(0xffffffffu, data, len);
#endif
    /* stored little-endian first byte first, as usrsctp does on x86 */
    return ~crc;
}
