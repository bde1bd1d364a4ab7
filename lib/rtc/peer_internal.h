/* Shared between peer.c (connection, SDP, transports) and datachannel.c. */
#ifndef STRAPTO_RTC_PEER_INTERNAL_H
#define STRAPTO_RTC_PEER_INTERNAL_H

#include "core/internal.h"
#include "rtc/dtls.h"
#include "rtc/ice.h"
#include "rtc/sctp.h"
#include "strapto/peer.h"

#define ST_DEFAULT_MAX_MESSAGE (256 * 1024)
#define ST_LIMIT_MAX_MESSAGE (16 * 1024 * 1024)
#define ST_SEND_MAX_MESSAGE (2 * 1024 * 1024) /* what the SCTP send buffer takes at once */
#define ST_DEFAULT_MAX_BUFFERED (16 * 1024 * 1024)
#define ST_REMOTE_DEFAULT_MAX_MESSAGE 65536
#define ST_MAX_EARLY_DATAGRAMS 16

enum { SIG_STABLE = 0, SIG_HAVE_LOCAL_OFFER, SIG_HAVE_REMOTE_OFFER };

struct strapto_dc {
    gint refs;
    strapto_peer *pc;      /* holds a reference */
    char *label, *protocol;
    int id;                /* SCTP stream, -1 until assigned */
    int ordered, max_retransmits, max_packet_life_time, negotiated;
    int state;             /* enum strapto_dc_state; under pc->mu */
    int acked;             /* the remote knows the channel (ACK seen, or it opened it) */
    int reset_sent;
    int close_after_flush; /* close() asked while data was queued */
    int want_low;          /* refused with EAGAIN: tell it when the queue drains */
    int in_table;          /* holds the table's reference */
    strapto_dc_callbacks cbs; /* under pc->mu */
    size_t buffered, low_threshold; /* under pc->mu */
};

typedef struct st_outmsg {
    struct st_outmsg *next;
    strapto_dc *dc;        /* referenced */
    uint32_t ppid;
    size_t len;
    uint8_t data[];
} st_outmsg;

struct strapto_peer {
    gint refs;
    strapto_ctx *ctx;
    int loop;
    GMainContext *mc;
    strapto_peer_callbacks cbs;
    char *stun, *turn, *local_addrs;
    uint16_t port_min, port_max;
    size_t local_max_message, max_buffered;

    int released;          /* the user freed it: no more callbacks */
    int closed;
    int state;
    int depth;             /* transport callbacks running (loop thread only) */

    /* signaling */
    int have_local, have_remote;
    int local_is_offer;    /* our current local description is an offer */
    int sig;               /* signaling state: SIG_* */
    uint64_t sess_id, sess_version;
    char *app_mid;         /* mid of the application section */
    int app_mline;         /* its index */
    struct st_mline { char *kind, *proto, *fmt, *mid; } *remote_mlines; /* the remote offer's sections */
    size_t n_remote_mlines;
    int legacy_sctp;
    int remote_sctp_port;
    size_t remote_max_message;
    char remote_fp_alg[16];
    uint8_t remote_fp[64];
    size_t remote_fp_len;
    int dtls_client;       /* -1 until known */

    st_ice *ice;
    st_dtls *dtls;
    st_sctp *sctp;
    int dtls_started;
    uint8_t *early[ST_MAX_EARLY_DATAGRAMS];
    size_t early_len[ST_MAX_EARLY_DATAGRAMS];
    int n_early;
    uint64_t dropped_datagrams;
    /* DTLS datagrams written before ICE had a pair (outq_mu) */
    GMutex outq_mu;
    gint ice_up;           /* ICE connected once: send directly from now on (atomic) */
    uint8_t *outq[ST_MAX_EARLY_DATAGRAMS];
    size_t outq_len[ST_MAX_EARLY_DATAGRAMS];
    int n_outq;
    char *early_cands[ST_ICE_MAX_REMOTE_CANDIDATES]; /* before the remote description */
    int n_early_cands;
    int n_want_low;        /* channels refused with EAGAIN by the peer-wide bound (under mu) */

    /* channels and the send queue, under mu */
    GMutex mu;
    strapto_dc *by_sid[ST_SCTP_STREAMS];
    GPtrArray *pending;    /* created before SCTP was up */
    st_outmsg *q_head, *q_tail;
    size_t queued;
    int sctp_up;
};

/* peer.c */
void st_peer_ref(strapto_peer *pc);
void st_peer_unref(strapto_peer *pc);
int st_peer_can_callback(strapto_peer *pc);

/* datachannel.c: called on the loop thread by peer.c */
void st_dc_on_sctp_connected(strapto_peer *pc);
void st_dc_on_message(strapto_peer *pc, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len);
void st_dc_on_stream_reset(strapto_peer *pc, uint16_t sid);
void st_dc_on_writable(strapto_peer *pc);
/* close every channel (peer closing); fires on_close where allowed */
void st_dc_close_all(strapto_peer *pc);
void st_dc_free_queue(strapto_peer *pc);

#endif
