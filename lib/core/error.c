/* Error names, version, memory and clocks. */
#include <stdlib.h>
#include <time.h>
#include "core/internal.h"

const char *strapto_strerror(int err)
{
    switch (err) {
    case STRAPTO_OK: return "success";
    case STRAPTO_EINVAL: return "invalid argument";
    case STRAPTO_ENOMEM: return "out of memory";
    case STRAPTO_ESTATE: return "operation not valid in the current state";
    case STRAPTO_EPARSE: return "malformed input";
    case STRAPTO_EIO: return "I/O error";
    case STRAPTO_ETIMEDOUT: return "timed out";
    case STRAPTO_ECLOSED: return "closed";
    case STRAPTO_EAGAIN: return "buffer full, try again later";
    case STRAPTO_ETOOBIG: return "too large";
    case STRAPTO_ENOTFOUND: return "not found";
    case STRAPTO_EUNSUPPORTED: return "not supported";
    case STRAPTO_ECRYPTO: return "TLS/DTLS or certificate failure";
    case STRAPTO_ELIMIT: return "limit reached";
    case STRAPTO_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}

const char *strapto_version(void) { return STRAPTO_VERSION_STRING; }

void strapto_free(void *p) { free(p); }

int64_t strapto_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t strapto_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *st_strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
