/* libFuzzer target: DATA_CHANNEL_OPEN parsing (RFC 8832). A parsed message
 * must re-encode to the same bytes. */
#include <stdlib.h>
#include <string.h>
#include "rtc/dcep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dcep_open o;
    if (dcep_parse_open(data, size, &o) != 0) return 0;
    size_t n = 12 + (size_t)o.label_len + o.protocol_len;
    if (n > size) abort();
    uint8_t *buf = malloc(n);
    if (!buf) return 0;
    if (dcep_write_open(&o, buf, n) != n || memcmp(buf, data, n) != 0) abort();
    free(buf);
    return 0;
}
