/* DTLS 1.2 over a datagram transport we drive ourselves (ICE). One object per
 * peer connection. Thread-safety: st_dtls_write() and st_dtls_close() may be
 * called from any thread; the others only from the owning loop thread. */
#ifndef STRAPTO_RTC_DTLS_H
#define STRAPTO_RTC_DTLS_H

#include <glib.h>
#include <stdint.h>
#include "rtc/cert.h"

#define ST_DTLS_MTU 1200

typedef struct st_dtls st_dtls;

typedef struct st_dtls_callbacks {
    /* A datagram for the network. Called with the DTLS lock held: it must not
     * call back into st_dtls. */
    void (*send)(void *user, const uint8_t *data, size_t len);
    /* Handshake done and the remote certificate matches the fingerprint. */
    void (*on_connected)(void *user);
    /* Decrypted application data (one record), borrowed for the call. */
    void (*on_data)(void *user, const uint8_t *data, size_t len);
    /* The remote closed (err 0) or the session failed (err < 0, a STRAPTO_E code). */
    void (*on_closed)(void *user, int err);
} st_dtls_callbacks;

/* client: 1 to be the DTLS client (setup:active), 0 for the server.
 * fp_alg/fp/fp_len: the remote's fingerprint from its SDP. */
int st_dtls_new(st_cert *cert, GMainContext *mc, int client, const char *fp_alg, const uint8_t *fp,
                size_t fp_len, const st_dtls_callbacks *cbs, void *user, st_dtls **out);
/* Start the handshake (the client sends its first flight). */
void st_dtls_start(st_dtls *d);
/* One datagram from the network. */
void st_dtls_input(st_dtls *d, const uint8_t *data, size_t len);
/* Encrypt and send application data as one record. STRAPTO_ESTATE before
 * the handshake is done or after close; STRAPTO_ECRYPTO on failure. */
int st_dtls_write(st_dtls *d, const uint8_t *data, size_t len);
/* Send close_notify. */
void st_dtls_close(st_dtls *d);
void st_dtls_free(st_dtls *d);
/* Counters of refused input (datagrams OpenSSL rejected). */
uint64_t st_dtls_bad_input(st_dtls *d);
/* SRTP keying material (for media): profile name and 2*(key+salt) bytes. */
int st_dtls_export_srtp(st_dtls *d, const char **profile, uint8_t *out, size_t len);

#endif
