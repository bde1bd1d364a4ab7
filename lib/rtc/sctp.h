/* SCTP over DTLS with usrsctp (AF_CONN). One association per peer
 * connection. usrsctp is process-global: it is initialised once, its timers
 * run on one library thread, associations are told apart by their pointer.
 * st_sctp_send() and st_sctp_reset_stream() may be called from any thread;
 * the rest only from the owning loop thread, where every callback runs
 * (except `send`, which runs on whichever thread makes SCTP emit a packet). */
#ifndef STRAPTO_RTC_SCTP_H
#define STRAPTO_RTC_SCTP_H

#include <glib.h>
#include <stdint.h>

#define ST_SCTP_STREAMS 1024
#define ST_SCTP_MTU 1200

typedef struct st_sctp st_sctp;

enum { ST_PR_NONE = 0, ST_PR_RTX = 1, ST_PR_TTL = 2 };

typedef struct st_sctp_callbacks {
    /* An SCTP packet for DTLS. Return 0 on success. Any thread. */
    int (*send)(void *user, const uint8_t *data, size_t len);
    void (*on_connected)(void *user);
    /* A whole message (reassembled), borrowed for the call. */
    void (*on_message)(void *user, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len);
    /* The remote reset its outgoing stream `sid` (our incoming). */
    void (*on_stream_reset)(void *user, uint16_t sid);
    /* Send-buffer space became available. */
    void (*on_writable)(void *user);
    /* The association ended: err 0 for a normal shutdown/abort by the remote. */
    void (*on_closed)(void *user, int err);
} st_sctp_callbacks;

int st_sctp_new(GMainContext *mc, uint16_t local_port, uint16_t remote_port, size_t max_message,
                const st_sctp_callbacks *cbs, void *user, st_sctp **out);
/* Start the association (both sides connect: SCTP allows the simultaneous open). */
int st_sctp_connect(st_sctp *s);
/* A decrypted DTLS record. */
void st_sctp_input(st_sctp *s, const uint8_t *data, size_t len);
/* Send one message. STRAPTO_EAGAIN when the send buffer cannot take it now
 * (wait for on_writable), STRAPTO_ETOOBIG past the buffer. */
int st_sctp_send(st_sctp *s, uint16_t sid, uint32_t ppid, int unordered, int pr_policy, uint32_t pr_value,
                 const void *data, size_t len);
/* Reset our outgoing stream (closes a data channel). */
int st_sctp_reset_stream(st_sctp *s, uint16_t sid);
/* Abort the association (the remote gets an ABORT); no callbacks after this. */
void st_sctp_close(st_sctp *s);
void st_sctp_free(st_sctp *s);
/* Negotiated stream counts (0 before connected). */
int st_sctp_streams_out(st_sctp *s);

#endif
