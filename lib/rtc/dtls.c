/* DTLS 1.2 with OpenSSL through a custom BIO: datagrams in from ICE, out
 * through a callback, one record per datagram, MTU 1200, a short initial
 * retransmission timer. */
#include <openssl/err.h>
#include <stdlib.h>
#include "core/internal.h"
#include "rtc/dtls.h"

#define DTLS_INITIAL_TIMEOUT_US 50000
#define DTLS_MAX_TIMEOUT_US 3000000

struct st_dtls {
    SSL *ssl;
    BIO *bio;
    GMutex mu;
    GMainContext *mc;
    GSource *timer;
    st_dtls_callbacks cbs;
    void *user;
    int client;
    int connected;
    int closed;
    int failed;
    char fp_alg[16];
    uint8_t fp[EVP_MAX_MD_SIZE];
    size_t fp_len;
    const uint8_t *in;    /* the datagram being read (under mu) */
    size_t in_len;
    uint64_t bad_input;
    uint8_t rbuf[16384 + 256];
};

static BIO_METHOD *bio_method;
static GOnce bio_once = G_ONCE_INIT;

static int bio_write(BIO *b, const char *data, int len)
{
    st_dtls *d = BIO_get_data(b);
    if (len > 0) d->cbs.send(d->user, (const uint8_t *)data, (size_t)len);
    return len;
}

static int bio_read(BIO *b, char *buf, int len)
{
    st_dtls *d = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!d->in) {
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = d->in_len < (size_t)len ? d->in_len : (size_t)len;
    memcpy(buf, d->in, n);
    d->in = NULL;
    d->in_len = 0;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    st_dtls *d = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return d && d->in ? (long)d->in_len : 0;
    case BIO_CTRL_WPENDING: return 0;
    case BIO_CTRL_DGRAM_QUERY_MTU: return ST_DTLS_MTU;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD: return 28; /* IPv4 + UDP */
    default: return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static gpointer bio_method_init(gpointer unused)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "strapto-dtls");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
}

static unsigned int timer_cb(SSL *ssl, unsigned int previous_us)
{
    if (previous_us == 0) return DTLS_INITIAL_TIMEOUT_US;
    unsigned int next = previous_us * 2;
    return next > DTLS_MAX_TIMEOUT_US ? DTLS_MAX_TIMEOUT_US : next;
}

static void log_ssl_errors(const char *what)
{
    unsigned long e;
    int n = 0;
    while ((e = ERR_get_error()) != 0)
        if (n++ < 3) ST_WARN("dtls", "%s: %s", what, ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
}

int st_dtls_new(st_cert *cert, GMainContext *mc, int client, const char *fp_alg, const uint8_t *fp,
                size_t fp_len, const st_dtls_callbacks *cbs, void *user, st_dtls **out)
{
    if (!cert || !cbs || !fp || fp_len == 0 || fp_len > EVP_MAX_MD_SIZE || !fp_alg || strlen(fp_alg) >= 16)
        return STRAPTO_EINVAL;
    bio_method = g_once(&bio_once, bio_method_init, NULL);
    st_dtls *d = calloc(1, sizeof *d);
    if (!d) return STRAPTO_ENOMEM;
    g_mutex_init(&d->mu);
    d->mc = mc;
    d->cbs = *cbs;
    d->user = user;
    d->client = client;
    strcpy(d->fp_alg, fp_alg);
    memcpy(d->fp, fp, fp_len);
    d->fp_len = fp_len;
    d->ssl = SSL_new(cert->ssl_ctx);
    d->bio = BIO_new(bio_method);
    if (!d->ssl || !d->bio) {
        BIO_free(d->bio);
        SSL_free(d->ssl);
        g_mutex_clear(&d->mu);
        free(d);
        return STRAPTO_ENOMEM;
    }
    BIO_set_data(d->bio, d);
    SSL_set_bio(d->ssl, d->bio, d->bio);
    SSL_set_mtu(d->ssl, ST_DTLS_MTU);
    DTLS_set_link_mtu(d->ssl, ST_DTLS_MTU + 28);
    DTLS_set_timer_cb(d->ssl, timer_cb);
    if (client) SSL_set_connect_state(d->ssl);
    else SSL_set_accept_state(d->ssl);
    *out = d;
    return STRAPTO_OK;
}

static gboolean on_timer(gpointer data);

/* Called with mu held: (re)arm the retransmission timer. */
static void schedule_timer(st_dtls *d)
{
    if (d->timer) {
        g_source_destroy(d->timer);
        g_source_unref(d->timer);
        d->timer = NULL;
    }
    if (d->connected || d->closed) return;
    struct timeval tv;
    if (DTLSv1_get_timeout(d->ssl, &tv) != 1) return;
    guint ms = (guint)(tv.tv_sec * 1000 + tv.tv_usec / 1000);
    d->timer = g_timeout_source_new(ms ? ms : 1);
    g_source_set_callback(d->timer, on_timer, d, NULL);
    g_source_attach(d->timer, d->mc);
}

/* Called with mu held after a handshake step. Returns 1 when it just completed. */
static int check_handshake(st_dtls *d, int ret, int *err)
{
    if (ret == 1) {
        X509 *peer = SSL_get1_peer_certificate(d->ssl);
        unsigned char dg[EVP_MAX_MD_SIZE];
        size_t n = peer ? st_cert_digest(peer, d->fp_alg, dg) : 0;
        X509_free(peer);
        if (n == 0 || n != d->fp_len || memcmp(dg, d->fp, n) != 0) {
            ST_WARN("dtls", "remote certificate does not match the SDP fingerprint (%s)", d->fp_alg);
            d->failed = 1;
            *err = STRAPTO_ECRYPTO;
            return 0;
        }
        d->connected = 1;
        ST_DEBUG("dtls", "handshake complete (%s, %s)", d->client ? "client" : "server", SSL_get_cipher(d->ssl));
        return 1;
    }
    int e = SSL_get_error(d->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    log_ssl_errors("handshake failed");
    d->failed = 1;
    *err = STRAPTO_ECRYPTO;
    return 0;
}

static gboolean on_timer(gpointer data)
{
    st_dtls *d = data;
    int err = 0;
    g_mutex_lock(&d->mu);
    g_source_unref(d->timer);
    d->timer = NULL;
    if (!d->connected && !d->closed && !d->failed) {
        int r = DTLSv1_handle_timeout(d->ssl);
        if (r < 0) {
            log_ssl_errors("handshake timed out");
            d->failed = 1;
            err = STRAPTO_ETIMEDOUT;
        } else {
            schedule_timer(d);
        }
    }
    g_mutex_unlock(&d->mu);
    if (err) d->cbs.on_closed(d->user, err);
    return G_SOURCE_REMOVE;
}

void st_dtls_start(st_dtls *d)
{
    int err = 0, done = 0;
    g_mutex_lock(&d->mu);
    if (d->client && !d->connected && !d->failed) {
        done = check_handshake(d, SSL_do_handshake(d->ssl), &err);
        schedule_timer(d);
    }
    g_mutex_unlock(&d->mu);
    if (done) d->cbs.on_connected(d->user);
    if (err) d->cbs.on_closed(d->user, err);
}

void st_dtls_input(st_dtls *d, const uint8_t *data, size_t len)
{
    int err = 0, done = 0, closed = 0;
    if (len == 0) return; /* a zero-length read would look like EOF to OpenSSL */
    g_mutex_lock(&d->mu);
    if (d->failed || d->closed) {
        g_mutex_unlock(&d->mu);
        return;
    }
    d->in = data;
    d->in_len = len;
    if (!d->connected) {
        done = check_handshake(d, SSL_do_handshake(d->ssl), &err);
        schedule_timer(d);
        if (!done || err) {
            if (d->in) d->bad_input++;
            d->in = NULL;
            g_mutex_unlock(&d->mu);
            if (err) d->cbs.on_closed(d->user, err);
            return;
        }
    }
    g_mutex_unlock(&d->mu);
    if (done) d->cbs.on_connected(d->user);
    int delivered = 0;
    /* application data: one record per SSL_read, delivered without the lock */
    for (;;) {
        g_mutex_lock(&d->mu);
        if (d->closed || d->failed) {
            g_mutex_unlock(&d->mu);
            break;
        }
        int n = SSL_read(d->ssl, d->rbuf, sizeof d->rbuf);
        if (n <= 0) {
            int e = SSL_get_error(d->ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN) {
                d->closed = 1;
                closed = 1;
            } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                log_ssl_errors("read failed");
                d->failed = 1;
                err = STRAPTO_ECRYPTO;
            }
            /* a datagram that yielded no record (garbage, replay, stray handshake) */
            if (!delivered && !done) d->bad_input++;
            d->in = NULL;
            g_mutex_unlock(&d->mu);
            break;
        }
        g_mutex_unlock(&d->mu);
        delivered++;
        d->cbs.on_data(d->user, d->rbuf, (size_t)n);
    }
    if (closed) {
        ST_DEBUG("dtls", "remote sent close_notify");
        d->cbs.on_closed(d->user, 0);
    } else if (err) {
        d->cbs.on_closed(d->user, err);
    }
}

int st_dtls_write(st_dtls *d, const uint8_t *data, size_t len)
{
    int rc = STRAPTO_OK;
    g_mutex_lock(&d->mu);
    if (!d->connected || d->closed || d->failed) {
        rc = STRAPTO_ESTATE;
    } else {
        int n = SSL_write(d->ssl, data, (int)len);
        if (n != (int)len) {
            log_ssl_errors("write failed");
            rc = STRAPTO_ECRYPTO;
        }
    }
    g_mutex_unlock(&d->mu);
    return rc;
}

void st_dtls_close(st_dtls *d)
{
    g_mutex_lock(&d->mu);
    if (d->connected && !d->closed && !d->failed) SSL_shutdown(d->ssl);
    d->closed = 1;
    ERR_clear_error();
    g_mutex_unlock(&d->mu);
}


uint64_t st_dtls_bad_input(st_dtls *d) { return d->bad_input; }

int st_dtls_export_srtp(st_dtls *d, const char **profile, uint8_t *out, size_t len)
{
    int rc = STRAPTO_ESTATE;
    g_mutex_lock(&d->mu);
    SRTP_PROTECTION_PROFILE *p = d->connected ? SSL_get_selected_srtp_profile(d->ssl) : NULL;
    if (p) {
        if (SSL_export_keying_material(d->ssl, out, len, "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0) == 1) {
            *profile = p->name;
            rc = STRAPTO_OK;
        } else {
            rc = STRAPTO_ECRYPTO;
        }
    }
    g_mutex_unlock(&d->mu);
    return rc;
}

void st_dtls_free(st_dtls *d)
{
    if (!d) return;
    if (d->timer) {
        g_source_destroy(d->timer);
        g_source_unref(d->timer);
    }
    SSL_free(d->ssl); /* frees the BIO too */
    g_mutex_clear(&d->mu);
    free(d);
}
