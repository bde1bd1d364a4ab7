/* The context's DTLS identity (ECDSA P-256, self-signed, SHA-256 fingerprint). */
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include "core/internal.h"
#include "rtc/cert.h"

static GMutex cert_mu;

static int verify_any(int ok, X509_STORE_CTX *store)
{
    /* WebRTC certificates are self-signed: the fingerprint from the SDP is
     * checked after the handshake instead of a chain. */
    return 1;
}

static void cert_free(void *p)
{
    st_cert *c = p;
    if (!c) return;
    SSL_CTX_free(c->ssl_ctx);
    X509_free(c->x509);
    EVP_PKEY_free(c->key);
    free(c);
}

size_t st_cert_digest(X509 *x509, const char *alg, unsigned char *out)
{
    const EVP_MD *md = NULL;
    if (!alg || !strcmp(alg, "sha-256")) md = EVP_sha256();
    else if (!strcmp(alg, "sha-1")) md = EVP_sha1();
    else if (!strcmp(alg, "sha-224")) md = EVP_sha224();
    else if (!strcmp(alg, "sha-384")) md = EVP_sha384();
    else if (!strcmp(alg, "sha-512")) md = EVP_sha512();
    if (!md) return 0;
    unsigned int n = 0;
    if (!X509_digest(x509, md, out, &n)) return 0;
    return n;
}

static st_cert *cert_make(void)
{
    st_cert *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->key = EVP_EC_gen("P-256");
    c->x509 = X509_new();
    if (!c->key || !c->x509) goto fail;
    X509_set_version(c->x509, 2);
    unsigned char serial[8];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c->x509));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c->x509), -86400);
    X509_gmtime_adj(X509_getm_notAfter(c->x509), 30L * 86400);
    X509_NAME *name = X509_get_subject_name(c->x509);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"libstrapto", -1, -1, 0);
    X509_set_issuer_name(c->x509, name);
    X509_set_pubkey(c->x509, c->key);
    if (!X509_sign(c->x509, c->key, EVP_sha256())) goto fail;

    unsigned char d[EVP_MAX_MD_SIZE];
    size_t n = st_cert_digest(c->x509, "sha-256", d);
    if (n != 32) goto fail;
    char *p = c->fingerprint + sprintf(c->fingerprint, "sha-256 ");
    for (size_t i = 0; i < n; i++) p += sprintf(p, i ? ":%02X" : "%02X", d[i]);

    c->ssl_ctx = SSL_CTX_new(DTLS_method());
    if (!c->ssl_ctx) goto fail;
    SSL_CTX_set_min_proto_version(c->ssl_ctx, DTLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(c->ssl_ctx, DTLS1_2_VERSION);
    SSL_CTX_set_options(c->ssl_ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_read_ahead(c->ssl_ctx, 1);
    SSL_CTX_set_quiet_shutdown(c->ssl_ctx, 0);
    SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_any);
    SSL_CTX_set_cipher_list(c->ssl_ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
                                        "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA");
    SSL_CTX_set1_groups_list(c->ssl_ctx, "X25519:P-256:P-384");
    /* DTLS-SRTP profiles, so media (SRTP) can use the same handshake */
    SSL_CTX_set_tlsext_use_srtp(c->ssl_ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80");
    if (SSL_CTX_use_certificate(c->ssl_ctx, c->x509) != 1 || SSL_CTX_use_PrivateKey(c->ssl_ctx, c->key) != 1 ||
        SSL_CTX_check_private_key(c->ssl_ctx) != 1)
        goto fail;
    return c;
fail:
    ST_ERR("dtls", "cannot create the DTLS certificate: %s", ERR_reason_error_string(ERR_get_error()));
    cert_free(c);
    return NULL;
}

st_cert *st_cert_get(strapto_ctx *ctx)
{
    g_mutex_lock(&cert_mu);
    st_cert *c = st_ctx_rtc_state(ctx);
    if (!c) {
        c = cert_make();
        if (c) st_ctx_set_rtc_state(ctx, c, cert_free);
    }
    g_mutex_unlock(&cert_mu);
    return c;
}
