/* DATA_CHANNEL_OPEN encoding and decoding (RFC 8832 section 5.1). */
#include <string.h>
#include "rtc/dcep.h"
#include "strapto/common.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

int dcep_parse_open(const uint8_t *buf, size_t len, dcep_open *o)
{
    if (len < 12 || buf[0] != DCEP_OPEN) return STRAPTO_EPARSE;
    o->channel_type = buf[1];
    switch (o->channel_type & 0x7f) {
    case DCEP_RELIABLE:
    case DCEP_PARTIAL_RELIABLE_REXMIT:
    case DCEP_PARTIAL_RELIABLE_TIMED: break;
    default: return STRAPTO_EPARSE;
    }
    o->priority = rd16(buf + 2);
    o->reliability = rd32(buf + 4);
    o->label_len = rd16(buf + 8);
    o->protocol_len = rd16(buf + 10);
    if ((size_t)12 + o->label_len + o->protocol_len > len) return STRAPTO_EPARSE;
    o->label = (const char *)buf + 12;
    o->protocol = (const char *)buf + 12 + o->label_len;
    return 0;
}

size_t dcep_write_open(const dcep_open *o, uint8_t *buf, size_t cap)
{
    size_t n = (size_t)12 + o->label_len + o->protocol_len;
    if (n > cap) return 0;
    buf[0] = DCEP_OPEN;
    buf[1] = o->channel_type;
    buf[2] = (uint8_t)(o->priority >> 8);
    buf[3] = (uint8_t)o->priority;
    for (int i = 0; i < 4; i++) buf[4 + i] = (uint8_t)(o->reliability >> (24 - 8 * i));
    buf[8] = (uint8_t)(o->label_len >> 8);
    buf[9] = (uint8_t)o->label_len;
    buf[10] = (uint8_t)(o->protocol_len >> 8);
    buf[11] = (uint8_t)o->protocol_len;
    if (o->label_len) memcpy(buf + 12, o->label, o->label_len);
    if (o->protocol_len) memcpy(buf + 12 + o->label_len, o->protocol, o->protocol_len);
    return n;
}
