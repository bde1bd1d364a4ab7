/* The Data Channel Establishment Protocol (RFC 8832) and the data channel
 * payload protocol identifiers (RFC 8831). */
#ifndef STRAPTO_RTC_DCEP_H
#define STRAPTO_RTC_DCEP_H

#include <stddef.h>
#include <stdint.h>

enum {
    PPID_DCEP = 50,
    PPID_STRING = 51,
    PPID_BINARY_PARTIAL = 52, /* deprecated */
    PPID_BINARY = 53,
    PPID_STRING_PARTIAL = 54, /* deprecated */
    PPID_STRING_EMPTY = 56,
    PPID_BINARY_EMPTY = 57
};

enum { DCEP_ACK = 0x02, DCEP_OPEN = 0x03 };

enum {
    DCEP_RELIABLE = 0x00,
    DCEP_PARTIAL_RELIABLE_REXMIT = 0x01,
    DCEP_PARTIAL_RELIABLE_TIMED = 0x02,
    DCEP_UNORDERED = 0x80
};

typedef struct dcep_open {
    uint8_t channel_type;
    uint16_t priority;
    uint32_t reliability;
    const char *label;    /* not NUL-terminated when parsed: use label_len */
    uint16_t label_len;
    const char *protocol;
    uint16_t protocol_len;
} dcep_open;

/* Parse a DATA_CHANNEL_OPEN. 0 on success, STRAPTO_EPARSE if malformed
 * (lengths past the end, unknown channel type). Pointers point into `buf`. */
int dcep_parse_open(const uint8_t *buf, size_t len, dcep_open *out);
/* Encode; returns the length written, or 0 if `cap` is too small. */
size_t dcep_write_open(const dcep_open *o, uint8_t *buf, size_t cap);

#endif
