/* The context's DTLS identity: an ECDSA P-256 key, a self-signed
 * certificate and the SSL_CTX every DTLS session of the context uses. */
#ifndef STRAPTO_RTC_CERT_H
#define STRAPTO_RTC_CERT_H

#include <openssl/ssl.h>
#include "strapto/ctx.h"

typedef struct st_cert {
    EVP_PKEY *key;
    X509 *x509;
    SSL_CTX *ssl_ctx;
    char fingerprint[128]; /* "sha-256 AB:CD:..." for the SDP */
} st_cert;

/* The context's identity, created on first use (thread-safe). NULL on failure. */
st_cert *st_cert_get(strapto_ctx *ctx);

/* SHA-256 (or the named hash) digest of a certificate into out (>= 64
 * bytes). Returns the digest length, or 0 for an unknown hash. */
size_t st_cert_digest(X509 *x509, const char *alg, unsigned char *out);

#endif
