/* libstrapto — common definitions: error codes, version, memory.
 *
 * Every public function returns 0 (STRAPTO_OK) on success or a negative
 * STRAPTO_E* code on failure, unless its comment says otherwise.
 * Strings returned through `char **out` parameters are owned by the caller
 * and released with strapto_free(). Strings passed in are borrowed for the
 * duration of the call only (the library copies what it keeps).
 */
#ifndef STRAPTO_COMMON_H
#define STRAPTO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define STRAPTO_API __attribute__((visibility("default")))
#else
#define STRAPTO_API
#endif

#define STRAPTO_VERSION_MAJOR 0
#define STRAPTO_VERSION_MINOR 1
#define STRAPTO_VERSION_PATCH 0
#define STRAPTO_VERSION_STRING "0.1.0"

enum strapto_error {
    STRAPTO_OK = 0,
    STRAPTO_EINVAL = -1,      /* invalid argument */
    STRAPTO_ENOMEM = -2,      /* out of memory */
    STRAPTO_ESTATE = -3,      /* operation not valid in the object's current state */
    STRAPTO_EPARSE = -4,      /* malformed input (SDP, JSON, candidate, packet) */
    STRAPTO_EIO = -5,         /* system or network I/O error */
    STRAPTO_ETIMEDOUT = -6,   /* operation timed out */
    STRAPTO_ECLOSED = -7,     /* object or connection is closed */
    STRAPTO_EAGAIN = -8,      /* a bounded buffer is full; retry later */
    STRAPTO_ETOOBIG = -9,     /* message or input larger than the allowed bound */
    STRAPTO_ENOTFOUND = -10,  /* no such object */
    STRAPTO_EUNSUPPORTED = -11, /* feature or parameter not supported */
    STRAPTO_ECRYPTO = -12,    /* TLS/DTLS/certificate/fingerprint failure */
    STRAPTO_ELIMIT = -13,     /* a configured limit (count, rate) was reached */
    STRAPTO_EINTERNAL = -14   /* internal error (a bug: please report it) */
};

/* A static, human-readable name for an error code. Never NULL. */
STRAPTO_API const char *strapto_strerror(int err);

/* The library's version as "MAJOR.MINOR.PATCH" (static string). */
STRAPTO_API const char *strapto_version(void);

/* Release memory the library handed to the caller (strings from `char **out`
 * parameters). NULL is ignored. */
STRAPTO_API void strapto_free(void *p);

/* Monotonic clock in microseconds (arbitrary origin). */
STRAPTO_API int64_t strapto_now_us(void);

/* Wall clock in microseconds since the UNIX epoch. */
STRAPTO_API int64_t strapto_wall_us(void);

#ifdef __cplusplus
}
#endif
#endif
