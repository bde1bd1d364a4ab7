/* CRC32c (Castagnoli) as SCTP uses it (RFC 4960 appendix B), with the SSE4.2
 * instruction when the CPU has it. */
#ifndef STRAPTO_RTC_CRC32C_H
#define STRAPTO_RTC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The SCTP checksum of a packet whose checksum field (bytes 8..11) is zero,
 * in the byte order it is stored in the packet's header. */
uint32_t st_sctp_crc32c(const uint8_t *data, size_t len);

#endif
