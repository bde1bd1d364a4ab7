/* Event hub internals shared by hub.c (lifecycle, bus, fan-out, upgrade),
 * hub_msg.c (frames, wire text, replay), hub_ws.c (the WebSocket protocol
 * on a connection taken over from libsoup) and hub_cmd.c (client commands,
 * replies, rate limits, figures, external clients).
 *
 * Everything here runs on the hub's loop thread; reference counts are plain
 * ints for that reason.
 *
 * Fan-out: every bus event is serialised ONCE into a hub_msg holding the
 * complete WebSocket frame (header + {"type","data","timestamp"} text),
 * then appended to the hub's broadcast ring (the last client_queue events,
 * bounded in bytes too). A client is a cursor into that ring plus a small
 * queue of its own messages (replies, replay, notices, control frames).
 * Writing gathers the frames a client is due into one writev (no copy).
 * A client whose cursor falls behind the ring's oldest entry has more than
 * client_queue events pending: it is slow (events dropped + "events_dropped"
 * notice, or closed with 1008).
 *
 * Why not SoupWebsocketConnection: it writes one frame per syscall (one
 * per main-loop iteration when the socket is busy), copies every message
 * per connection, and has no buffered-amount API; taking the connection
 * after libsoup's own handshake processing (soup_websocket_server_process_
 * handshake + soup_server_message_steal_connection, as libsoup itself does
 * for soup_server_add_websocket_handler) lets clients share frames and
 * batch them.
 */
#ifndef STRAPTO_SERVER_HUB_INT_H
#define STRAPTO_SERVER_HUB_INT_H

#include <jansson.h>
#include "server/hub.h"
#include "strapto/bus.h"

#define HUB_RESERVE 10                 /* room for the largest frame header */
#define HUB_MSG_BUS 1u                 /* came from the bus (has a seq) */
#define HUB_MSG_CONTROL 2u             /* a control frame (never given to external clients) */
#define HUB_MSG_CLOSE 4u               /* the close frame */
#define HUB_RING_MAX_BYTES (32u << 20) /* bound of the broadcast ring in bytes */
#define HUB_UQ_MAX 256                 /* per-client queue of its own messages */
#define HUB_HIST_BUCKETS 640

typedef struct hub_msg {
    int ref;
    unsigned flags;
    uint64_t seq;     /* bus sequence number (HUB_MSG_BUS) */
    int64_t recv_us;  /* monotonic time the hub got it; 0 = not measured */
    size_t off;       /* frame = buf + off */
    size_t len;       /* frame length */
    size_t text_len;  /* payload = buf + HUB_RESERVE */
    unsigned char buf[];
} hub_msg;

static inline const unsigned char *hub_msg_frame(const hub_msg *m) { return m->buf + m->off; }
static inline const char *hub_msg_text(const hub_msg *m) { return (const char *)m->buf + HUB_RESERVE; }

/* A message with room for text_len payload bytes (caller fills
 * buf + HUB_RESERVE, then calls hub_msg_seal). NULL without memory. */
hub_msg *hub_msg_alloc(size_t text_len);
/* Write the frame header (FIN + opcode) in front of the payload. */
void hub_msg_seal(hub_msg *m, int opcode);
/* A text frame holding a copy of `text`. */
hub_msg *hub_msg_text_new(const char *text, size_t len);
/* The wire text of an event, as a sealed text frame. data NULL: {}. */
hub_msg *hub_msg_event(const char *type, const char *data, size_t data_len, int64_t wall_us);
static inline hub_msg *hub_msg_ref(hub_msg *m) { m->ref++; return m; }
void hub_msg_unref(hub_msg *m);

/* A latency histogram (microseconds, ~6% resolution). */
typedef struct {
    uint32_t n[HUB_HIST_BUCKETS];
    uint64_t count;
} hub_hist;
void hub_hist_add(hub_hist *h, int64_t us);
/* Percentile (0..100) over the sum of two histograms; -1 when empty. */
int64_t hub_hist_pct(const hub_hist *a, const hub_hist *b, double pct);

enum { HUB_CLIENT_WS = 0, HUB_CLIENT_EXT = 1 };

typedef struct hub_client hub_client;

struct hub_client {
    strapto_event_hub *hub;
    int ref;
    int kind;
    uint64_t id;
    char source[40];        /* bus source of its consumer_input: "ws:ID" */
    int events;             /* receives the broadcast */
    int dead;               /* closed: no more I/O or callbacks; waiting to be reaped */
    hub_client *prev, *next, *reap_next, *dirty_next;
    int dirty;              /* in hub->dirty */
    int blocked;            /* transport full: waiting to be told it can take more */
    /* delivery */
    uint64_t pos;           /* next broadcast ring position to send */
    uint64_t skip_seq;      /* bus events up to this seq came with the replay */
    uint64_t missed;        /* dropped, not yet told */
    hub_msg *cur;           /* partly written frame (WebSocket) */
    size_t cur_off;
    hub_msg **uq;           /* own messages, FIFO (control frames go first) */
    unsigned uq_cap, uq_head, uq_count;
    /* input rate: token bucket + flood meter */
    double tokens, flood;
    int64_t rate_us;
    int64_t last_rate_err_us;
    /* WebSocket transport */
    GIOStream *io;
    GSocket *sock;
    GInputStream *in;
    GOutputStream *out;
    GSource *in_src, *out_src, *timer; /* TLS clients: GLib sources */
    int ep_fd;              /* plain TCP clients: the fd in hub->epfd (-1: none) */
    int ep_out;             /* EPOLLOUT is armed */
    int close_sent, close_flushed, close_rcvd;
    int64_t last_rx_us;     /* monotonic time of the last bytes received */
    int64_t ping_us;        /* a keep-alive ping is out since then; 0: none */
    int in_stop;            /* input is discarded (protocol error, close received) */
    /* WebSocket parser */
    uint8_t hdr[14];
    uint8_t hdr_have, hdr_need;
    uint8_t f_op, f_fin, mask[4];
    uint64_t f_left, f_pos;
    int m_op;               /* 1 text, 2 binary, 0 none */
    int m_skip;             /* over max_message: discarding the rest */
    unsigned char *m_buf;
    size_t m_len, m_cap;
    uint8_t c_buf[125];
    size_t c_len;
    /* external transport */
    st_hub_ext_config ext;
};

struct strapto_event_hub {
    strapto_ctx *ctx;
    strapto_bus *bus;
    int loop;
    int ref;
    int closed;
    /* configuration */
    int max_clients;
    size_t client_queue;
    int slow_policy;
    size_t max_message;
    double input_rate;
    strapto_hub_command_fn on_command;
    void *user;
    /* HTTP */
    st_httpd *own_httpd;    /* strapto_event_hub_new's own server */
    st_httpd *httpd;        /* the one it is attached to */
    char *path;
    /* clients */
    hub_client *head, *tail, *reap, *dirty;
    int n_ws, n_ext, pending;
    gint n_clients;         /* n_ws + n_ext, for other threads */
    uint64_t next_id;
    /* broadcast ring */
    hub_msg **ring;
    size_t ring_cap, ring_bytes;
    uint64_t ring_start, ring_end; /* positions; entry p at ring[p % ring_cap] */
    /* scheduling */
    strapto_bus_sub *sub;
    GSource *flush_src, *tick_src; /* tick: keep-alive pings */
    int epfd;               /* epoll set of the plain TCP clients (-1: none) */
    GSource *ep_src;        /* polls epfd on the loop */
    int flush_armed, bcast_pending;
    /* replay cache */
    hub_msg *replay;
    uint64_t replay_seq;
    int replay_n;
    /* figures */
    int64_t start_us;
    uint64_t st_events, st_delivered, st_dropped, st_slow_disc, st_refused, st_inputs, st_input_errors;
    hub_hist h_pub[2], h_send[2]; /* [0] current window, [1] previous */
    int64_t h_rot_us;
    int64_t last_flush_us; /* monotonic time of the last flush pass */
};

/* hub_msg.c: see the hub_msg functions above, and */
/* The replay event for a new client (cached while the bus does not move);
 * a new reference, or NULL. *last_seq_out: seq of its newest event. */
hub_msg *hub_replay_msg(strapto_event_hub *hub, uint64_t *last_seq_out);

/* hub.c */
void hub_ref(strapto_event_hub *hub);
void hub_unref(strapto_event_hub *hub);
hub_client *hub_client_new(strapto_event_hub *hub, int kind);
void hub_client_ref(hub_client *c);
void hub_client_unref(hub_client *c);
/* Mark dead, release transport and queues, leave it to be reaped. */
void hub_client_kill(hub_client *c, const char *why);
/* Queue one of the client's own messages (takes the reference). front:
 * ahead of the others (control frames, notices). Returns 0 or -1 (full:
 * the message was released). */
int hub_client_push(hub_client *c, hub_msg *m, int front);
void hub_client_mark_dirty(hub_client *c);
/* Before gathering what a client is due: slow-client accounting (drop +
 * notice, or close), replay overlap. Returns -1 when the client was closed. */
int hub_client_catch_up(hub_client *c);
/* Pop the head of the client's own queue (releases it). */
void hub_client_uq_pop(hub_client *c);
static inline hub_msg *hub_client_uq_at(const hub_client *c, unsigned i)
{
    return c->uq[(c->uq_head + i) % c->uq_cap];
}
static inline hub_msg *hub_ring_at(const strapto_event_hub *hub, uint64_t pos)
{
    return hub->ring[pos % hub->ring_cap];
}
/* A message written out completely to client c (figures). */
void hub_delivered(hub_client *c, const hub_msg *m, int64_t now_us);
void hub_arm_flush(strapto_event_hub *hub);
/* Start a client on the broadcast: replay first, then live events. */
void hub_client_start_events(hub_client *c);

/* hub_ws.c */
/* The epoll set for plain TCP clients: with one GSource per client, every
 * main-loop iteration prepares and checks every client (~1 us each here),
 * which a wake-up pays for before it dispatches anything. TLS clients keep
 * GLib's pollable sources (decrypted data may wait in the TLS layer). */
void hub_ws_epoll_init(strapto_event_hub *hub);
void hub_ws_epoll_free(strapto_event_hub *hub);
int hub_ws_start(hub_client *c, GIOStream *io, GSocket *sock);
/* Read what is already there (after hub_ws_start and the replay). */
void hub_ws_read(hub_client *c);
void hub_ws_flush(hub_client *c);
/* Close handshake: send a close frame (code, reason), then close. */
void hub_ws_close(hub_client *c, int code, const char *reason);
/* Release the transport (sources, streams, socket). */
void hub_ws_release(hub_client *c);
/* httpd.c: release a connection stolen from libsoup: close the socket now,
 * drop our stream and socket references from an idle callback on `mc`
 * (works around libsoup 3.2's leaked socket reference). Takes both
 * references. (Belongs in httpd.h, which is not this module's file.) */
void st_release_stolen(GMainContext *mc, GIOStream *io, GSocket *sock);
/* Keep-alive (from the hub's tick): ping a client silent for a while,
 * close one that does not answer. */
void hub_ws_keepalive(hub_client *c, int64_t now_us);
/* Best effort: write a close frame now if the stream is at a frame boundary. */
void hub_ws_try_close_frame(hub_client *c, int code, const char *reason);

/* hub_cmd.c */
/* One complete client message. binary: refused. oversize: it went past
 * max_message (the text is not given). Returns 0, or -1 when the client
 * was closed for flooding. */
int hub_cmd_message(hub_client *c, const char *text, size_t len, int binary, int oversize);
/* An "error" event to one client. */
void hub_cmd_error(hub_client *c, const char *code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void hub_ext_flush(hub_client *c);

#endif
