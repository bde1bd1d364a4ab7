/* The WebSocket protocol (RFC 6455, server side, no extensions) on a
 * connection taken over from libsoup after its handshake processing.
 *
 * Reading: a byte-stream parser with bounded state (a 14-byte header, the
 * current message up to max_message, a 125-byte control payload). Frames of
 * a message past max_message are discarded as they arrive and the message
 * is answered with an "error" event. Protocol violations (unmasked frame,
 * reserved bits, unknown opcode, bad control frame, bad continuation) close
 * the connection with 1002, as the RFC requires.
 *
 * Writing: the frames a client is due (its partly written frame, its own
 * queue, its position in the broadcast ring) are gathered into one writev;
 * on a short write the rest waits for the socket to become writable.
 *
 * Readiness: plain TCP clients are in one epoll set polled by one GSource
 * (so a main-loop iteration costs the same with 1 or 1000 clients); TLS
 * clients use GLib's pollable stream sources. Keep-alive: a client silent
 * for 20 s is pinged and closed when still silent 20 s later.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "server/hub_int.h"

#define EP_BATCH 256

#define MAX_IOV 256
#define FLUSH_BUDGET (1u << 20)   /* bytes per client per flush round */
#define READ_BUDGET (64u * 1024)  /* bytes read per client per loop iteration */
#define CLOSE_WAIT_MS 2000
#ifndef PING_IDLE_US
#define PING_IDLE_US (20 * G_USEC_PER_SEC)    /* ping a client silent this long */
#endif
#ifndef PONG_WAIT_US
#define PONG_WAIT_US (20 * G_USEC_PER_SEC)    /* and close it if still silent after this */
#endif

static hub_msg *control_frame(int opcode, const void *payload, size_t len)
{
    hub_msg *m = hub_msg_alloc(len);
    if (!m) return NULL;
    if (len) memcpy(m->buf + HUB_RESERVE, payload, len);
    hub_msg_seal(m, opcode);
    m->flags = HUB_MSG_CONTROL | (opcode == 8 ? HUB_MSG_CLOSE : 0);
    return m;
}

static hub_msg *close_frame(int code, const char *reason)
{
    uint8_t p[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 123) rl = 123;
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rl) memcpy(p + 2, reason, rl);
    return control_frame(8, p, rl + 2);
}

/* ---- closing ---- */

void hub_ws_release(hub_client *c)
{
    if (c->ep_fd >= 0 && c->hub->epfd >= 0) epoll_ctl(c->hub->epfd, EPOLL_CTL_DEL, c->ep_fd, NULL);
    c->ep_fd = -1;
    c->ep_out = 0;
    GSource **srcs[] = {&c->in_src, &c->out_src, &c->timer};
    for (size_t i = 0; i < G_N_ELEMENTS(srcs); i++) {
        if (*srcs[i]) {
            g_source_destroy(*srcs[i]);
            g_source_unref(*srcs[i]);
            *srcs[i] = NULL;
        }
    }
    if (c->sock) g_socket_shutdown(c->sock, TRUE, TRUE, NULL);
    if (c->io) g_io_stream_close(c->io, NULL, NULL);
    st_release_stolen(st_ctx_main_context(c->hub->ctx, c->hub->loop), c->io, c->sock);
    c->io = NULL;
    c->sock = NULL;
    c->in = NULL;
    c->out = NULL;
}

void hub_ws_try_close_frame(hub_client *c, int code, const char *reason)
{
    if (c->dead || !c->out || c->cur || c->close_flushed) return;
    hub_msg *m = close_frame(code, reason);
    if (!m) return;
    g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(c->out), hub_msg_frame(m), m->len, NULL,
                                               NULL);
    hub_msg_unref(m);
}

static gboolean close_timeout(gpointer data)
{
    hub_client *c = data;
    if (c->timer) {
        g_source_unref(c->timer);
        c->timer = NULL;
    }
    hub_client_kill(c, "no close frame from the client in time");
    return G_SOURCE_REMOVE;
}

void hub_ws_close(hub_client *c, int code, const char *reason)
{
    if (c->dead || c->close_sent) return;
    c->events = 0;
    /* what was still due is not sent: the close frame goes next */
    while (c->uq_count) hub_client_uq_pop(c);
    hub_msg *m = close_frame(code, reason);
    c->close_sent = 1;
    if (!m || hub_client_push(c, m, 1) < 0) hub_client_kill(c, "cannot queue the close frame");
}

static void close_flushed(hub_client *c)
{
    c->close_flushed = 1;
    if (c->close_rcvd) {
        hub_client_kill(c, "closed");
        return;
    }
    c->timer = g_timeout_source_new(CLOSE_WAIT_MS);
    g_source_set_callback(c->timer, close_timeout, c, NULL);
    g_source_attach(c->timer, st_ctx_main_context(c->hub->ctx, c->hub->loop));
}

static void protocol_error(hub_client *c, int code, const char *why)
{
    ST_INFO("hub", "client %llu: %s: closing (%d)", (unsigned long long)c->id, why, code);
    c->in_stop = 1;
    hub_ws_close(c, code, why);
}

/* ---- writing ---- */

static gboolean on_writable(GObject *stream, gpointer data)
{
    hub_client *c = data;
    GSource *s = c->out_src;
    c->out_src = NULL;
    c->blocked = 0;
    hub_ws_flush(c);
    if (s) g_source_unref(s);
    return G_SOURCE_REMOVE;
}

static void ep_arm(hub_client *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(c->hub->epfd, EPOLL_CTL_MOD, c->ep_fd, &ev) == 0) c->ep_out = out;
}

static void block(hub_client *c)
{
    c->blocked = 1;
    if (c->ep_fd >= 0) {
        if (!c->ep_out) ep_arm(c, 1);
        return;
    }
    if (c->out_src) return;
    c->out_src = g_pollable_output_stream_create_source(G_POLLABLE_OUTPUT_STREAM(c->out), NULL);
    g_source_set_callback(c->out_src, (GSourceFunc)(void (*)(void))on_writable, c, NULL);
    g_source_attach(c->out_src, st_ctx_main_context(c->hub->ctx, c->hub->loop));
}

enum { SRC_CUR, SRC_UQ, SRC_RING };

void hub_ws_flush(hub_client *c)
{
    strapto_event_hub *hub = c->hub;
    if (c->dead || c->blocked || !c->out) return;
    hub_client_ref(c);
    size_t budget = FLUSH_BUDGET;
    GOutputVector v[MAX_IOV];
    hub_msg *mv[MAX_IOV];
    uint8_t src[MAX_IOV];
    while (!c->dead) {
        if (hub_client_catch_up(c) < 0) break;
        int n = 0;
        size_t total = 0;
        if (c->cur) {
            v[0].buffer = hub_msg_frame(c->cur) + c->cur_off;
            v[0].size = c->cur->len - c->cur_off;
            mv[0] = c->cur;
            src[0] = SRC_CUR;
            total = v[0].size;
            n = 1;
        }
        for (unsigned i = 0; i < c->uq_count && n < MAX_IOV && total < budget; i++, n++) {
            hub_msg *m = hub_client_uq_at(c, i);
            v[n].buffer = hub_msg_frame(m);
            v[n].size = m->len;
            mv[n] = m;
            src[n] = SRC_UQ;
            total += m->len;
            if (m->flags & HUB_MSG_CLOSE) { /* nothing after the close frame */
                n++;
                goto gathered;
            }
        }
        if (c->events)
            for (uint64_t p = c->pos; p < hub->ring_end && n < MAX_IOV && total < budget; p++, n++) {
                hub_msg *m = hub_ring_at(hub, p);
                v[n].buffer = hub_msg_frame(m);
                v[n].size = m->len;
                mv[n] = m;
                src[n] = SRC_RING;
                total += m->len;
            }
    gathered:
        if (n == 0) break;
        gsize written = 0;
        GError *err = NULL;
        GPollableReturn r = g_pollable_output_stream_writev_nonblocking(G_POLLABLE_OUTPUT_STREAM(c->out), v,
                                                                        (gsize)n, &written, NULL, &err);
        if (r == G_POLLABLE_RETURN_FAILED) {
            ST_DEBUG("hub", "client %llu: write failed: %s", (unsigned long long)c->id, err ? err->message : "?");
            g_clear_error(&err);
            hub_client_kill(c, "write failed");
            break;
        }
        g_clear_error(&err);
        ST_TRACE("hub", "client %llu: writev %d frames %zu bytes: %d, %zu written (pos %llu, ring %llu..%llu, uq %u)",
                 (unsigned long long)c->id, n, total, (int)r, (size_t)written, (unsigned long long)c->pos,
                 (unsigned long long)hub->ring_start, (unsigned long long)hub->ring_end, c->uq_count);
        int64_t now = g_get_monotonic_time();
        size_t left = written;
        int closed = 0;
        for (int i = 0; i < n; i++) {
            size_t l = v[i].size;
            if (left < l) {
                if (left == 0) break;
                /* partly written: keep it as the current frame */
                if (src[i] == SRC_CUR) {
                    c->cur_off += left;
                } else {
                    c->cur = hub_msg_ref(mv[i]);
                    c->cur_off = left;
                    if (src[i] == SRC_UQ) hub_client_uq_pop(c);
                    else c->pos++;
                }
                break;
            }
            left -= l;
            hub_msg *m = mv[i];
            if (!(m->flags & HUB_MSG_CONTROL)) hub_delivered(c, m, now);
            if (m->flags & HUB_MSG_CLOSE) closed = 1;
            if (src[i] == SRC_CUR) {
                c->cur = NULL;
                c->cur_off = 0;
                hub_msg_unref(m);
            } else if (src[i] == SRC_UQ) {
                hub_client_uq_pop(c);
            } else {
                c->pos++;
            }
        }
        if (closed) {
            close_flushed(c);
            break;
        }
        if (r == G_POLLABLE_RETURN_WOULD_BLOCK || written < total) {
            block(c);
            break;
        }
        if (written >= budget) {
            hub_client_mark_dirty(c); /* more next round: others get their turn */
            break;
        }
        budget -= written;
    }
    hub_client_unref(c);
}

/* ---- reading ---- */

static void message_done(hub_client *c)
{
    int op = c->m_op, skip = c->m_skip;
    unsigned char *buf = c->m_buf;
    size_t len = c->m_len;
    c->m_buf = NULL;
    c->m_len = c->m_cap = 0;
    c->m_op = 0;
    c->m_skip = 0;
    if (buf) buf[len] = 0; /* room was kept for it */
    /* once we have sent our close frame, messages are no longer acted on */
    if (!c->close_sent) hub_cmd_message(c, buf ? (const char *)buf : "", len, op == 2, skip);
    free(buf);
}

static void control_done(hub_client *c)
{
    switch (c->f_op) {
    case 9: /* ping: pong with the same payload (rate limited with the messages) */
        if (c->close_sent) break;
        if (c->tokens >= 1 || c->rate_us == 0) {
            hub_msg *m = control_frame(10, c->c_buf, c->c_len);
            if (m) hub_client_push(c, m, 1);
        }
        break;
    case 10: /* pong */
        break;
    case 8: { /* close */
        int code = 1000;
        if (c->c_len == 1) {
            protocol_error(c, 1002, "close frame with a 1-byte payload");
            return;
        }
        if (c->c_len >= 2) code = (c->c_buf[0] << 8) | c->c_buf[1];
        if (c->c_len > 2 && !g_utf8_validate((const char *)c->c_buf + 2, (gssize)c->c_len - 2, NULL)) {
            protocol_error(c, 1007, "close reason is not UTF-8"); /* RFC 6455 8.1 */
            return;
        }
        c->close_rcvd = 1;
        c->in_stop = 1;
        if (c->close_flushed) {
            hub_client_kill(c, "closed");
        } else if (!c->close_sent) {
            /* echo a valid code; 1005/1006/1015 and out-of-range ones are not sendable */
            int reply = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                                (code >= 3000 && code <= 4999) ? code : 1000;
            hub_ws_close(c, reply, "");
        }
        break;
    }
    }
}

static void frame_begin(hub_client *c)
{
    strapto_event_hub *hub = c->hub;
    uint8_t b0 = c->hdr[0], b1 = c->hdr[1];
    int fin = b0 >> 7, op = b0 & 0x0f;
    uint64_t len = b1 & 0x7f;
    size_t at = 2;
    if (len == 126) {
        len = ((uint64_t)c->hdr[2] << 8) | c->hdr[3];
        at = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | c->hdr[2 + i];
        at = 10;
    }
    memcpy(c->mask, c->hdr + at, 4);
    if (b0 & 0x70) { protocol_error(c, 1002, "reserved bits set (no extension was negotiated)"); return; }
    if (!(b1 & 0x80)) { protocol_error(c, 1002, "unmasked client frame"); return; }
    if (len >> 63) { protocol_error(c, 1002, "bad frame length"); return; }
    if (op & 8) {
        if (op > 10) { protocol_error(c, 1002, "unknown control opcode"); return; }
        if (!fin || len > 125) { protocol_error(c, 1002, "fragmented or oversized control frame"); return; }
        c->c_len = 0;
    } else {
        if (op > 2) { protocol_error(c, 1002, "unknown data opcode"); return; }
        if (op == 0 && !c->m_op) { protocol_error(c, 1002, "continuation frame without a message"); return; }
        if (op != 0 && c->m_op) { protocol_error(c, 1002, "new message before the last one ended"); return; }
        if (op != 0) {
            c->m_op = op;
            c->m_skip = 0;
            c->m_len = 0;
        }
        if (!c->m_skip && len > hub->max_message - c->m_len) {
            c->m_skip = 1;
            free(c->m_buf);
            c->m_buf = NULL;
            c->m_len = c->m_cap = 0;
        }
        if (!c->m_skip && c->m_len + len + 1 > c->m_cap) {
            size_t ncap = c->m_len + (size_t)len + 1;
            unsigned char *nb = realloc(c->m_buf, ncap);
            if (!nb) {
                hub_client_kill(c, "out of memory");
                return;
            }
            c->m_buf = nb;
            c->m_cap = ncap;
        }
    }
    c->f_op = (uint8_t)op;
    c->f_fin = (uint8_t)fin;
    c->f_left = len;
    c->f_pos = 0;
}

static void frame_end(hub_client *c)
{
    c->hdr_have = 0;
    c->hdr_need = 2;
    if (c->f_op & 8) control_done(c);
    else if (c->f_fin) message_done(c);
}

static void ws_parse(hub_client *c, const uint8_t *p, size_t n)
{
    while (n && !c->dead && !c->in_stop) {
        if (c->hdr_have < c->hdr_need) {
            size_t take = c->hdr_need - c->hdr_have;
            if (take > n) take = n;
            memcpy(c->hdr + c->hdr_have, p, take);
            c->hdr_have = (uint8_t)(c->hdr_have + take);
            p += take;
            n -= take;
            if (c->hdr_have == 2) {
                uint8_t l7 = c->hdr[1] & 0x7f;
                c->hdr_need = (uint8_t)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((c->hdr[1] & 0x80) ? 4 : 0));
            }
            if (c->hdr_have < c->hdr_need) continue;
            frame_begin(c);
            if (c->dead || c->in_stop) return;
            if (c->f_left == 0) frame_end(c);
            continue;
        }
        size_t take = c->f_left < n ? (size_t)c->f_left : n;
        uint8_t *dst = NULL;
        if (c->f_op & 8) dst = c->c_buf + c->c_len;
        else if (!c->m_skip) dst = c->m_buf + c->m_len;
        if (dst)
            for (size_t i = 0; i < take; i++) dst[i] = p[i] ^ c->mask[(c->f_pos + i) & 3];
        if (c->f_op & 8) c->c_len += take;
        else if (!c->m_skip) c->m_len += take;
        c->f_pos += take;
        c->f_left -= take;
        p += take;
        n -= take;
        if (c->f_left == 0) frame_end(c);
    }
}

static void read_some(hub_client *c)
{
    if (c->dead) return;
    hub_client_ref(c);
    uint8_t buf[16384];
    size_t budget = READ_BUDGET;
    while (!c->dead && budget) {
        GError *err = NULL;
        gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(c->in), buf, sizeof buf, NULL,
                                                            &err);
        if (n > 0) {
            c->last_rx_us = g_get_monotonic_time();
            c->ping_us = 0;
            budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
            if (!c->in_stop) ws_parse(c, buf, (size_t)n);
            continue;
        }
        if (n == 0) {
            hub_client_kill(c, "connection closed by the client");
        } else if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            g_error_free(err);
            break;
        } else {
            ST_DEBUG("hub", "client %llu: read failed: %s", (unsigned long long)c->id, err ? err->message : "?");
            hub_client_kill(c, "read failed");
        }
        g_clear_error(&err);
        break;
    }
    hub_client_unref(c);
}

void hub_ws_read(hub_client *c)
{
    /* bytes libsoup read past the handshake wait in the input stream's
     * buffer, where epoll cannot see them; GLib's source for that stream
     * does */
    if (c->ep_fd >= 0) read_some(c);
}

static gboolean on_readable(GObject *stream, gpointer data)
{
    hub_client *c = data;
    read_some(c);
    return c->dead ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* ---- the epoll set ---- */

typedef struct {
    GSource base;
    strapto_event_hub *hub;
} ep_source;

static gboolean ep_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    strapto_event_hub *hub = ((ep_source *)s)->hub;
    struct epoll_event evs[EP_BATCH];
    int n = epoll_wait(hub->epfd, evs, EP_BATCH, 0);
    if (n <= 0) return G_SOURCE_CONTINUE;
    /* a client may be closed (or the hub freed) while the batch is handled:
     * hold them all first */
    hub_ref(hub);
    for (int i = 0; i < n; i++) hub_client_ref(evs[i].data.ptr);
    for (int i = 0; i < n; i++) {
        hub_client *c = evs[i].data.ptr;
        if (c->dead) continue;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_some(c);
        if (!c->dead && (evs[i].events & EPOLLOUT) && c->blocked) {
            ep_arm(c, 0);
            c->blocked = 0;
            hub_ws_flush(c);
        }
    }
    for (int i = 0; i < n; i++) hub_client_unref(evs[i].data.ptr);
    hub_unref(hub);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs ep_funcs = {.dispatch = ep_dispatch};

void hub_ws_epoll_init(strapto_event_hub *hub)
{
    hub->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (hub->epfd < 0) {
        ST_WARN("hub", "epoll_create1 failed (%s): one GLib source per client instead", g_strerror(errno));
        return;
    }
    hub->ep_src = g_source_new(&ep_funcs, sizeof(ep_source));
    ((ep_source *)hub->ep_src)->hub = hub;
    g_source_set_name(hub->ep_src, "strapto-hub-epoll");
    g_source_add_unix_fd(hub->ep_src, hub->epfd, G_IO_IN);
    g_source_attach(hub->ep_src, st_ctx_main_context(hub->ctx, hub->loop));
}

void hub_ws_epoll_free(strapto_event_hub *hub)
{
    if (hub->ep_src) {
        g_source_destroy(hub->ep_src);
        g_source_unref(hub->ep_src);
        hub->ep_src = NULL;
    }
    if (hub->epfd >= 0) close(hub->epfd);
    hub->epfd = -1;
}

void hub_ws_keepalive(hub_client *c, int64_t now)
{
    if (c->dead || c->kind != HUB_CLIENT_WS || c->close_sent) return;
    if (c->ping_us && now - c->ping_us > PONG_WAIT_US) {
        ST_INFO("hub", "client %llu silent for %lld s, not even answering a ping: closing",
                (unsigned long long)c->id, (long long)((now - c->last_rx_us) / G_USEC_PER_SEC));
        hub_ws_try_close_frame(c, 1001, "no answer to ping");
        hub_client_kill(c, "keep-alive timeout");
        return;
    }
    if (!c->ping_us && now - c->last_rx_us > PING_IDLE_US) {
        hub_msg *m = control_frame(9, "strapto", 7);
        if (m && hub_client_push(c, m, 1) == 0) c->ping_us = now;
    }
}

int hub_ws_start(hub_client *c, GIOStream *io, GSocket *sock)
{
    c->last_rx_us = g_get_monotonic_time();
    c->io = io;
    c->sock = sock;
    c->in = g_io_stream_get_input_stream(io);
    c->out = g_io_stream_get_output_stream(io);
    if (!G_IS_POLLABLE_INPUT_STREAM(c->in) || !G_IS_POLLABLE_OUTPUT_STREAM(c->out) ||
        !g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(c->in)) ||
        !g_pollable_output_stream_can_poll(G_POLLABLE_OUTPUT_STREAM(c->out))) {
        ST_WARN("hub", "the connection's streams (%s) cannot be polled", G_OBJECT_TYPE_NAME(io));
        return -1;
    }
    ST_TRACE("hub", "client %llu: streams %s / %s / %s", (unsigned long long)c->id, G_OBJECT_TYPE_NAME(io),
             G_OBJECT_TYPE_NAME(c->in), G_OBJECT_TYPE_NAME(c->out));
    if (sock) g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    c->ep_fd = -1;
    /* plain TCP (no TLS layer between us and the socket): the epoll set */
    if (sock && c->hub->epfd >= 0 && !strcmp(G_OBJECT_TYPE_NAME(c->out), "GSocketOutputStream")) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        int fd = g_socket_get_fd(sock);
        if (epoll_ctl(c->hub->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
            c->ep_fd = fd;
            return 0; /* the caller reads what may be buffered already: hub_ws_read() */
        }
    }
    c->in_src = g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(c->in), NULL);
    g_source_set_callback(c->in_src, (GSourceFunc)(void (*)(void))on_readable, c, NULL);
    g_source_attach(c->in_src, st_ctx_main_context(c->hub->ctx, c->hub->loop));
    return 0;
}
