/* libstrapto — WebRTC peer connections and data channels.
 *
 * A peer connection does ICE (libnice), DTLS (OpenSSL, the context's
 * ECDSA P-256 certificate, remote fingerprint checked against the SDP) and
 * SCTP (usrsctp) with data channels per RFC 8831/8832. Signaling is the
 * caller's: exchange the SDP texts and (with trickle) the candidates.
 *
 * Threads: a peer is pinned to one loop of its context; every callback of
 * the peer and of its channels runs on that loop's thread. All functions may
 * be called from any thread, including from inside callbacks; a call from
 * inside a callback into a peer on another loop waits for that loop while
 * still running its own loop's work, so loops calling each other do not
 * deadlock (your callbacks may then run nested inside that call).
 *
 * Lifetime: strapto_peer_free() closes the peer and releases the caller's
 * reference; after it returns no callback of that peer or its channels
 * runs any more (if called from inside one of them, none after that one
 * returns). Data channels belong to their peer: a channel pointer stays
 * valid until its on_close callback has returned or the peer is freed,
 * whichever is first; strapto_dc_ref() keeps it valid longer (then
 * strapto_dc_unref() it).
 *
 * Bounds: SDP text <= 64 KiB (STRAPTO_ETOOBIG), at most 64 remote
 * candidates, at most 1024 channels per peer (SCTP streams), a message at
 * most min(local, remote) max-message-size (remote default 64 KiB when its
 * SDP has none), and at most `max_buffered` bytes queued per peer
 * (STRAPTO_EAGAIN past it).
 */
#ifndef STRAPTO_PEER_H
#define STRAPTO_PEER_H

#include "common.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strapto_peer strapto_peer;
typedef struct strapto_dc strapto_dc;

enum strapto_peer_state {
    STRAPTO_PEER_NEW = 0,
    STRAPTO_PEER_CONNECTING = 1,   /* ICE checks / DTLS / SCTP handshakes running */
    STRAPTO_PEER_CONNECTED = 2,    /* SCTP association up: channels can open */
    STRAPTO_PEER_DISCONNECTED = 3, /* ICE lost connectivity; may come back */
    STRAPTO_PEER_FAILED = 4,       /* ICE, DTLS or SCTP failed for good */
    STRAPTO_PEER_CLOSED = 5
};

enum strapto_dc_state {
    STRAPTO_DC_CONNECTING = 0,
    STRAPTO_DC_OPEN = 1,
    STRAPTO_DC_CLOSING = 2,
    STRAPTO_DC_CLOSED = 3
};

typedef struct strapto_peer_config {
    /* Comma-separated lists (NULL or "" for none). */
    const char *stun_servers;     /* "stun:HOST[:PORT]"; libnice uses one: the first */
    const char *turn_servers;     /* "turn:USER:PASS@HOST[:PORT][?transport=udp|tcp]" */
    const char *local_addresses;  /* IP addresses ICE may use; NULL: the
                                     STRAPTO_ICE_ADDRESSES environment variable,
                                     else every non-loopback interface */
    int loop;                     /* context loop; -1: least loaded */
    size_t max_message_size;      /* advertised; 0: 262144 (256 KiB); max 16 MiB */
    size_t max_buffered;          /* send queue bound per peer; 0: 16 MiB */
    uint16_t port_min, port_max;  /* UDP port range for host candidates; 0: any */
    int relay_only;               /* 1: gather TURN relay candidates only (the W3C
                                     iceTransportPolicy "relay"); needs turn_servers */
} strapto_peer_config;

typedef struct strapto_peer_callbacks {
    /* A local ICE candidate ("candidate:..." without "a="), with its mid and
     * m-line index. NULL candidate: gathering is complete. */
    void (*on_candidate)(strapto_peer *pc, const char *candidate, const char *mid,
                         int mline_index, void *user);
    /* Connection state changed (enum strapto_peer_state). */
    void (*on_state)(strapto_peer *pc, int state, void *user);
    /* The remote opened a channel. Set its callbacks inside this callback to
     * see its first messages. `dc` is borrowed (see Lifetime above). */
    void (*on_datachannel)(strapto_peer *pc, strapto_dc *dc, void *user);
    void *user;
} strapto_peer_callbacks;

/* Defaults: every field zero/NULL except loop = -1. */
STRAPTO_API void strapto_peer_config_init(strapto_peer_config *cfg);

/* Create a peer connection. `cfg` and `cbs` may be NULL; both are copied.
 * STUN/TURN host names are resolved here, on the calling thread.
 * On success *out owns a reference; release it with strapto_peer_free(). */
STRAPTO_API int strapto_peer_new(strapto_ctx *ctx, const strapto_peer_config *cfg,
                                 const strapto_peer_callbacks *cbs, strapto_peer **out);

/* Close (if not closed) and release the caller's reference. NULL is ignored. */
STRAPTO_API void strapto_peer_free(strapto_peer *pc);

/* Create an offer and set it as the local description; ICE gathering
 * starts. *sdp_out (caller frees with strapto_free) holds the candidates
 * gathered so far, usually none: trickle them from on_candidate, or wait for
 * the end of gathering and send strapto_peer_local_description(). */
STRAPTO_API int strapto_peer_create_offer(strapto_peer *pc, char **sdp_out);

/* Same for an answer, after a remote offer was set. */
STRAPTO_API int strapto_peer_create_answer(strapto_peer *pc, char **sdp_out);

/* Set the remote description. `type` is "offer" or "answer". A malformed
 * or unusable SDP returns STRAPTO_EPARSE (or ESTATE/EUNSUPPORTED) and logs
 * what is wrong; the peer is left as it was. */
STRAPTO_API int strapto_peer_set_remote_description(strapto_peer *pc, const char *type,
                                                    const char *sdp);

/* The current local description with every candidate gathered so far
 * (complete once on_candidate has reported NULL). Caller frees. */
STRAPTO_API int strapto_peer_local_description(strapto_peer *pc, char **sdp_out);

/* Add a remote candidate ("candidate:..." with or without "a="). `mid`
 * may be NULL. NULL or "" candidate: the remote's end of candidates.
 * Candidates that arrive before the remote description are kept (64 at
 * most, STRAPTO_ELIMIT past that) and applied with it. */
STRAPTO_API int strapto_peer_add_remote_candidate(strapto_peer *pc, const char *candidate,
                                                  const char *mid);

/* Ask for an ICE restart: the next strapto_peer_create_offer() carries new
 * ICE credentials; open channels keep their data while ICE reconnects. */
STRAPTO_API int strapto_peer_restart_ice(strapto_peer *pc);

/* Close the connection (channels close, state goes to CLOSED). */
STRAPTO_API int strapto_peer_close(strapto_peer *pc);

/* Current state (enum strapto_peer_state); negative error for a NULL peer. */
STRAPTO_API int strapto_peer_state(strapto_peer *pc);

/* Static name of a state ("new", "connecting", ...). */
STRAPTO_API const char *strapto_peer_state_name(int state);

/* The largest message a channel of this peer can send now: the remote's
 * max-message-size (64 KiB when its SDP gives none, RFC 8841), at most
 * 2 MiB (what the SCTP send buffer takes at once); 0 before the remote
 * description. */
STRAPTO_API size_t strapto_peer_max_message_size(strapto_peer *pc);

/* ---- Data channels ---------------------------------------------------- */

typedef struct strapto_dc_init {
    const char *label;         /* NULL: "" */
    const char *protocol;      /* NULL: "" */
    int ordered;               /* default 1 */
    int max_retransmits;       /* -1 (default): reliable */
    int max_packet_life_time;  /* ms; -1 (default): reliable. Not both. */
    int negotiated;            /* 1: no DCEP; both sides create it with `id` */
    int id;                    /* stream id; -1: chosen by the library */
} strapto_dc_init;

typedef struct strapto_dc_callbacks {
    void (*on_open)(strapto_dc *dc, void *user);
    /* A whole message. `data` is borrowed for the call; binary = 0 for a
     * string message (UTF-8), 1 for binary. An empty message has len 0. */
    void (*on_message)(strapto_dc *dc, const void *data, size_t len, int binary, void *user);
    /* The channel closed (by either side or with the peer). Last callback. */
    void (*on_close)(strapto_dc *dc, void *user);
    /* buffered amount fell to or below the low threshold. */
    void (*on_buffered_amount_low)(strapto_dc *dc, void *user);
    void *user;
} strapto_dc_callbacks;

/* Defaults: ordered, reliable, not negotiated, id -1. */
STRAPTO_API void strapto_dc_init_default(strapto_dc_init *init);

/* Create a channel. May be called before the connection is up; it opens
 * when SCTP is. `init` may be NULL (defaults). *out is borrowed (see
 * Lifetime). Callbacks may be given now (`cbs`, may be NULL) or later.
 * on_open may run on the loop before this returns to another thread: use
 * the callback's `dc` argument there, not *out. */
STRAPTO_API int strapto_peer_create_dc(strapto_peer *pc, const strapto_dc_init *init,
                                       const strapto_dc_callbacks *cbs, strapto_dc **out);

/* Replace the channel's callbacks (copied). */
STRAPTO_API int strapto_dc_set_callbacks(strapto_dc *dc, const strapto_dc_callbacks *cbs);

/* Queue a message. binary = 0 sends a string message (len 0 allowed).
 * STRAPTO_ESTATE before the channel opened or after it closed,
 * STRAPTO_ETOOBIG past max-message-size, STRAPTO_EAGAIN when the peer's
 * send queue (shared by its channels) is at its bound: on_buffered_amount_low
 * then fires for this channel once the queue has drained to half. The data
 * is copied or sent before return. */
STRAPTO_API int strapto_dc_send(strapto_dc *dc, const void *data, size_t len, int binary);

/* Bytes accepted by strapto_dc_send() not yet handed to SCTP. */
STRAPTO_API size_t strapto_dc_buffered_amount(strapto_dc *dc);
STRAPTO_API int strapto_dc_set_buffered_amount_low_threshold(strapto_dc *dc, size_t bytes);

/* Close the channel (stream reset). on_close follows. */
STRAPTO_API int strapto_dc_close(strapto_dc *dc);

STRAPTO_API strapto_dc *strapto_dc_ref(strapto_dc *dc);
STRAPTO_API void strapto_dc_unref(strapto_dc *dc);

/* Properties. Strings are owned by the channel. */
STRAPTO_API const char *strapto_dc_label(strapto_dc *dc);
STRAPTO_API const char *strapto_dc_protocol(strapto_dc *dc);
STRAPTO_API int strapto_dc_id(strapto_dc *dc);
STRAPTO_API int strapto_dc_ordered(strapto_dc *dc);
STRAPTO_API int strapto_dc_max_retransmits(strapto_dc *dc);
STRAPTO_API int strapto_dc_max_packet_life_time(strapto_dc *dc);
STRAPTO_API int strapto_dc_negotiated(strapto_dc *dc);
STRAPTO_API int strapto_dc_state(strapto_dc *dc);
STRAPTO_API strapto_peer *strapto_dc_peer(strapto_dc *dc);

#ifdef __cplusplus
}
#endif
#endif
