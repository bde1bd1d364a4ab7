/* The event hub: lifecycle, bus subscription, broadcast ring, fan-out
 * scheduling, WebSocket upgrade, public API. See hub_int.h for the design. */
#include <stdlib.h>
#include <string.h>
#include "server/hub_int.h"

#define DEFAULT_LISTEN "127.0.0.1:8765"
#define DEFAULT_PATH "/events"
#define DEFAULT_MAX_CLIENTS 100
#define DEFAULT_QUEUE 1024
#define MAX_QUEUE (1u << 20)
#define DEFAULT_MAX_MESSAGE (16 * 1024)
#define DEFAULT_RATE 20.0
#define BUS_QUEUE_MIN 65536
#define FLUSH_NOW_GAP_US 500

/* ---- reference counts ---- */

static void hub_destroy(strapto_event_hub *hub)
{
    for (uint64_t p = hub->ring_start; p < hub->ring_end; p++) hub_msg_unref(hub_ring_at(hub, p));
    free(hub->ring);
    hub_msg_unref(hub->replay);
    free(hub->path);
    st_ctx_obj_del(hub->ctx);
    free(hub);
}

void hub_ref(strapto_event_hub *hub) { hub->ref++; }

void hub_unref(strapto_event_hub *hub)
{
    if (hub && --hub->ref == 0) hub_destroy(hub);
}

void hub_client_ref(hub_client *c) { c->ref++; }

void hub_client_unref(hub_client *c)
{
    if (!c || --c->ref > 0) return;
    strapto_event_hub *hub = c->hub;
    free(c->uq);
    free(c->m_buf);
    free(c);
    hub_unref(hub);
}

/* ---- flush scheduling ---- */

typedef struct {
    GSource base;
    strapto_event_hub *hub;
} hub_source;

static void reap(strapto_event_hub *hub)
{
    hub_client *c;
    while ((c = hub->reap)) {
        hub->reap = c->reap_next;
        if (c->prev) c->prev->next = c->next;
        else hub->head = c->next;
        if (c->next) c->next->prev = c->prev;
        else hub->tail = c->prev;
        c->prev = c->next = NULL;
        hub_client_unref(c); /* the list's reference */
    }
}

static void flush_one(hub_client *c)
{
    if (c->dead || c->blocked) return;
    if (c->kind == HUB_CLIENT_WS) hub_ws_flush(c);
    else hub_ext_flush(c);
}

/* One pass: what the broadcast brought, then the clients with their own
 * messages due. */
static void flush_pass(strapto_event_hub *hub)
{
    hub->last_flush_us = g_get_monotonic_time();
    hub_ref(hub);
    reap(hub);
    if (hub->bcast_pending) {
        hub->bcast_pending = 0;
        for (hub_client *c = hub->head; c; c = c->next) {
            if (c->dead || !c->events) continue;
            if (c->blocked) {
                /* a client that cannot take more is only checked for lag */
                if (c->pos < hub->ring_start && hub->slow_policy == STRAPTO_SLOW_DISCONNECT) hub_client_catch_up(c);
                continue;
            }
            if (!c->dirty) flush_one(c);
        }
    }
    hub_client *list = hub->dirty;
    hub->dirty = NULL;
    while (list) {
        hub_client *c = list;
        list = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = 0;
        flush_one(c);
        hub_client_unref(c); /* the dirty list's reference */
    }
    reap(hub);
    hub_unref(hub);
}

static gboolean flush_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    strapto_event_hub *hub = ((hub_source *)s)->hub;
    g_source_set_ready_time(s, -1);
    hub->flush_armed = 0;
    flush_pass(hub);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs flush_funcs = {.dispatch = flush_dispatch};

void hub_arm_flush(strapto_event_hub *hub)
{
    if (hub->flush_armed || !hub->flush_src) return;
    hub->flush_armed = 1;
    g_source_set_ready_time(hub->flush_src, 0);
}

void hub_client_mark_dirty(hub_client *c)
{
    if (c->dirty || c->dead) return;
    c->dirty = 1;
    hub_client_ref(c);
    c->dirty_next = c->hub->dirty;
    c->hub->dirty = c;
    hub_arm_flush(c->hub);
}

/* ---- clients ---- */

hub_client *hub_client_new(strapto_event_hub *hub, int kind)
{
    hub_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->hub = hub;
    hub_ref(hub);
    c->ref = 1; /* the client list's */
    c->kind = kind;
    c->id = ++hub->next_id;
    snprintf(c->source, sizeof c->source, "ws:%llu", (unsigned long long)c->id);
    c->hdr_need = 2;
    c->prev = hub->tail;
    if (hub->tail) hub->tail->next = c;
    else hub->head = c;
    hub->tail = c;
    if (kind == HUB_CLIENT_WS) hub->n_ws++;
    else hub->n_ext++;
    g_atomic_int_set(&hub->n_clients, hub->n_ws + hub->n_ext);
    return c;
}

static void uq_clear(hub_client *c)
{
    while (c->uq_count) hub_client_uq_pop(c);
}

void hub_client_uq_pop(hub_client *c)
{
    if (!c->uq_count) return;
    hub_msg_unref(c->uq[c->uq_head]);
    c->uq[c->uq_head] = NULL;
    c->uq_head = (c->uq_head + 1) % c->uq_cap;
    c->uq_count--;
}

int hub_client_push(hub_client *c, hub_msg *m, int front)
{
    /* control frames and notices may exceed the bound a little, replies not */
    unsigned limit = front ? HUB_UQ_MAX + 16 : HUB_UQ_MAX;
    if (c->dead || c->uq_count >= limit || (c->close_sent && !(m->flags & HUB_MSG_CLOSE))) {
        hub_msg_unref(m);
        return -1;
    }
    if (c->uq_count == c->uq_cap) {
        unsigned ncap = c->uq_cap ? c->uq_cap * 2 : 4;
        hub_msg **nq = malloc(ncap * sizeof *nq);
        if (!nq) {
            hub_msg_unref(m);
            return -1;
        }
        for (unsigned i = 0; i < c->uq_count; i++) nq[i] = c->uq[(c->uq_head + i) % c->uq_cap];
        free(c->uq);
        c->uq = nq;
        c->uq_cap = ncap;
        c->uq_head = 0;
    }
    if (front) {
        c->uq_head = (c->uq_head + c->uq_cap - 1) % c->uq_cap;
        c->uq[c->uq_head] = m;
    } else {
        c->uq[(c->uq_head + c->uq_count) % c->uq_cap] = m;
    }
    c->uq_count++;
    hub_client_mark_dirty(c);
    return 0;
}

void hub_client_kill(hub_client *c, const char *why)
{
    if (c->dead) return;
    strapto_event_hub *hub = c->hub;
    c->dead = 1;
    ST_DEBUG("hub", "client %llu closed: %s", (unsigned long long)c->id, why ? why : "");
    if (c->kind == HUB_CLIENT_WS) {
        hub_ws_release(c);
        hub->n_ws--;
    } else {
        hub->n_ext--;
    }
    g_atomic_int_set(&hub->n_clients, hub->n_ws + hub->n_ext);
    uq_clear(c);
    hub_msg_unref(c->cur);
    c->cur = NULL;
    free(c->m_buf);
    c->m_buf = NULL;
    c->m_len = c->m_cap = 0;
    c->reap_next = hub->reap;
    hub->reap = c;
    hub_arm_flush(hub);
}

int hub_client_catch_up(hub_client *c)
{
    strapto_event_hub *hub = c->hub;
    if (!c->events) return 0;
    if (c->pos < hub->ring_start) {
        uint64_t lost = hub->ring_start - c->pos;
        c->pos = hub->ring_start;
        if (hub->slow_policy == STRAPTO_SLOW_DISCONNECT) {
            hub->st_slow_disc++;
            ST_INFO("hub", "client %llu too slow (more than %zu events pending): disconnecting (1008)",
                    (unsigned long long)c->id, hub->client_queue);
            if (c->kind == HUB_CLIENT_WS) {
                hub_ws_try_close_frame(c, 1008, "too slow");
                hub_client_kill(c, "too slow");
            } else {
                hub_client_ref(c);
                hub_client_kill(c, "too slow");
                if (c->ext.close) c->ext.close(1008, "too slow", c->ext.user);
                hub_client_unref(c);
            }
            return -1;
        }
        if (!c->missed)
            ST_DEBUG("hub", "client %llu is slow: dropping its %llu oldest events", (unsigned long long)c->id,
                     (unsigned long long)lost);
        c->missed += lost;
        hub->st_dropped += lost;
    }
    while (c->pos < hub->ring_end) {
        const hub_msg *m = hub_ring_at(hub, c->pos);
        if (!(m->flags & HUB_MSG_BUS) || m->seq > c->skip_seq) break;
        c->pos++;
    }
    if (c->missed && !c->close_sent) {
        char data[64];
        snprintf(data, sizeof data, "{\"missed\":%llu}", (unsigned long long)c->missed);
        hub_msg *m = hub_msg_event("events_dropped", data, strlen(data), strapto_wall_us());
        if (m && hub_client_push(c, m, 1) == 0) c->missed = 0;
    }
    return 0;
}

void hub_delivered(hub_client *c, const hub_msg *m, int64_t now_us)
{
    strapto_event_hub *hub = c->hub;
    hub->st_delivered++;
    if (m->recv_us) hub_hist_add(&hub->h_send[0], now_us - m->recv_us);
}

void hub_client_start_events(hub_client *c)
{
    strapto_event_hub *hub = c->hub;
    uint64_t last = 0;
    hub_msg *m = hub_replay_msg(hub, &last);
    if (m) hub_client_push(c, m, 0);
    c->skip_seq = last;
    c->pos = hub->ring_end;
    c->events = 1;
    hub_client_mark_dirty(c);
}

/* ---- the bus ---- */

static void ring_push(strapto_event_hub *hub, hub_msg *m)
{
    while (hub->ring_end > hub->ring_start &&
           (hub->ring_end - hub->ring_start >= hub->ring_cap || hub->ring_bytes + m->len > HUB_RING_MAX_BYTES)) {
        hub_msg **slot = &hub->ring[hub->ring_start % hub->ring_cap];
        hub->ring_bytes -= (*slot)->len;
        hub_msg_unref(*slot);
        *slot = NULL;
        hub->ring_start++;
    }
    hub->ring[hub->ring_end % hub->ring_cap] = m;
    hub->ring_end++;
    hub->ring_bytes += m->len;
}

static void on_bus_event(const strapto_event *ev, void *user)
{
    strapto_event_hub *hub = user;
    if (hub->closed) return;
    int64_t mono = g_get_monotonic_time();
    if (mono - hub->h_rot_us > 10 * G_USEC_PER_SEC) {
        hub->h_pub[1] = hub->h_pub[0];
        hub->h_send[1] = hub->h_send[0];
        memset(&hub->h_pub[0], 0, sizeof hub->h_pub[0]);
        memset(&hub->h_send[0], 0, sizeof hub->h_send[0]);
        hub->h_rot_us = mono;
    }
    hub_hist_add(&hub->h_pub[0], strapto_wall_us() - ev->timestamp_us);
    hub->st_events++;
    hub_msg *m = hub_msg_event(ev->type, ev->payload, ev->payload_len, ev->timestamp_us);
    if (!m) {
        ST_WARN("hub", "out of memory: event %llu not sent", (unsigned long long)ev->seq);
        return;
    }
    m->flags = HUB_MSG_BUS;
    m->seq = ev->seq;
    m->recv_us = mono;
    ring_push(hub, m);
    hub->bcast_pending = 1;
    /* After a quiet spell, send at once: waiting for the flush source costs
     * a main-loop iteration (tens of microseconds with many clients). In a
     * burst the flush source batches many events per writev. */
    if (!hub->flush_armed && mono - hub->last_flush_us > FLUSH_NOW_GAP_US) flush_pass(hub);
    else hub_arm_flush(hub);
}

/* ---- WebSocket upgrade ---- */

typedef struct {
    strapto_event_hub *hub;
    int done;
} upgrade_req;

static void upgrade_req_free(gpointer data, GClosure *closure)
{
    upgrade_req *r = data;
    if (!r->done) r->hub->pending--;
    hub_unref(r->hub);
    free(r);
}

static void on_upgraded(SoupServerMessage *msg, gpointer data)
{
    upgrade_req *r = data;
    if (r->done) return;
    r->done = 1;
    strapto_event_hub *hub = r->hub;
    hub->pending--;
    if (soup_server_message_get_status(msg) != SOUP_STATUS_SWITCHING_PROTOCOLS) return;
    hub_ref(hub);
    GSocket *sock = soup_server_message_get_socket(msg);
    if (sock) g_object_ref(sock);
    GIOStream *io = soup_server_message_steal_connection(msg); /* r and msg may be gone now */
    hub_client *c = NULL;
    if (io && !hub->closed && (c = hub_client_new(hub, HUB_CLIENT_WS))) {
        if (hub_ws_start(c, io, sock) == 0) {
            ST_DEBUG("hub", "client %llu connected (%d clients)", (unsigned long long)c->id, hub->n_ws + hub->n_ext);
            hub_client_start_events(c);
            hub_ws_read(c);
        } else {
            hub_client_kill(c, "cannot use the connection");
        }
    } else {
        if (sock) g_socket_shutdown(sock, TRUE, TRUE, NULL);
        if (io) g_io_stream_close(io, NULL, NULL);
        st_release_stolen(st_ctx_main_context(hub->ctx, hub->loop), io, sock);
    }
    hub_unref(hub);
}

static void on_ws_request(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                          gpointer data)
{
    strapto_event_hub *hub = data;
    /* a refused upgrade ends the connection: WebSocket clients (Python's
     * websockets among them) wait for that before reporting the refusal */
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
    if (hub->closed) {
        st_httpd_reply_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "closing", "the event hub is closing");
        return;
    }
    if (!st_httpd_authorize(hub->httpd, msg)) {
        hub->st_refused++;
        return;
    }
    GError *err = NULL;
    if (!soup_websocket_server_check_handshake(msg, NULL, NULL, NULL, &err)) {
        st_httpd_reply_error(msg, SOUP_STATUS_BAD_REQUEST, "websocket_required",
                             err && err->message ? err->message : "a WebSocket handshake is required here");
        g_clear_error(&err);
        return;
    }
    if (hub->n_ws + hub->n_ext + hub->pending >= hub->max_clients) {
        hub->st_refused++;
        ST_INFO("hub", "refusing a client from %s: %d clients already (the maximum): 503",
                soup_server_message_get_remote_host(msg) ? soup_server_message_get_remote_host(msg) : "?",
                hub->max_clients);
        st_httpd_reply_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too_many_clients",
                             "the event hub has its maximum number of clients");
        return;
    }
    soup_message_headers_remove(soup_server_message_get_response_headers(msg), "Connection");
    if (!soup_websocket_server_process_handshake(msg, NULL, NULL, NULL, NULL)) return;
    upgrade_req *r = calloc(1, sizeof *r);
    if (!r) {
        st_httpd_reply_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "no_memory", "out of memory");
        return;
    }
    r->hub = hub;
    hub_ref(hub);
    hub->pending++;
    g_signal_connect_data(msg, "wrote-informational", G_CALLBACK(on_upgraded), r, upgrade_req_free, 0);
}

/* ---- lifecycle ---- */

void strapto_event_hub_config_init(strapto_event_hub_config *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->loop = -1;
    cfg->slow_policy = STRAPTO_SLOW_NOTIFY;
}

typedef struct {
    strapto_event_hub *hub;
    int rc;
} hub_task;

static gboolean tick(gpointer data)
{
    strapto_event_hub *hub = data;
    int64_t now = g_get_monotonic_time();
    for (hub_client *c = hub->head; c; c = c->next) hub_ws_keepalive(c, now);
    return G_SOURCE_CONTINUE;
}

static void sources_on_loop(void *data)
{
    strapto_event_hub *hub = data;
    hub->flush_src = g_source_new(&flush_funcs, sizeof(hub_source));
    ((hub_source *)hub->flush_src)->hub = hub;
    g_source_set_name(hub->flush_src, "strapto-hub-flush");
    g_source_set_priority(hub->flush_src, G_PRIORITY_DEFAULT);
    g_source_set_ready_time(hub->flush_src, -1);
    g_source_attach(hub->flush_src, st_ctx_main_context(hub->ctx, hub->loop));
    hub_ws_epoll_init(hub);
    hub->tick_src = g_timeout_source_new_seconds(5);
    g_source_set_callback(hub->tick_src, tick, hub, NULL);
    g_source_attach(hub->tick_src, st_ctx_main_context(hub->ctx, hub->loop));
}

int st_hub_new_detached(strapto_ctx *ctx, const strapto_event_hub_config *cfg, strapto_event_hub **out)
{
    if (out) *out = NULL;
    if (!ctx || !out) return STRAPTO_EINVAL;
    strapto_event_hub_config d;
    strapto_event_hub_config_init(&d);
    if (!cfg) cfg = &d;
    if (cfg->loop < -1 || cfg->loop >= strapto_ctx_threads(ctx) ||
        (cfg->slow_policy != STRAPTO_SLOW_NOTIFY && cfg->slow_policy != STRAPTO_SLOW_DISCONNECT) ||
        cfg->client_queue > MAX_QUEUE || cfg->input_rate != cfg->input_rate)
        return STRAPTO_EINVAL;
    strapto_event_hub *hub = calloc(1, sizeof *hub);
    if (!hub) return STRAPTO_ENOMEM;
    hub->ctx = ctx;
    hub->bus = strapto_ctx_bus(ctx);
    hub->ref = 1;
    hub->max_clients = cfg->max_clients > 0 ? cfg->max_clients : DEFAULT_MAX_CLIENTS;
    hub->client_queue = cfg->client_queue ? cfg->client_queue : DEFAULT_QUEUE;
    hub->slow_policy = cfg->slow_policy;
    hub->max_message = cfg->max_message ? cfg->max_message : DEFAULT_MAX_MESSAGE;
    hub->input_rate = cfg->input_rate > 0 ? cfg->input_rate : DEFAULT_RATE;
    hub->on_command = cfg->on_command;
    hub->user = cfg->user;
    hub->start_us = g_get_monotonic_time();
    hub->h_rot_us = hub->start_us;
    hub->ring_cap = hub->client_queue;
    hub->epfd = -1;
    hub->ring = calloc(hub->ring_cap, sizeof *hub->ring);
    if (!hub->ring) {
        free(hub);
        return STRAPTO_ENOMEM;
    }
    st_ctx_obj_add(ctx);
    hub->loop = st_ctx_acquire_loop(ctx, cfg->loop);
    st_ctx_run_sync(ctx, hub->loop, sources_on_loop, hub);
    size_t bq = hub->client_queue * 4 > BUS_QUEUE_MIN ? hub->client_queue * 4 : BUS_QUEUE_MIN;
    int rc = strapto_bus_subscribe(hub->bus, "", hub->loop, bq, on_bus_event, hub, &hub->sub);
    if (rc < 0) {
        strapto_event_hub_free(hub);
        return rc;
    }
    *out = hub;
    return STRAPTO_OK;
}

int st_hub_loop(strapto_event_hub *hub) { return hub ? hub->loop : STRAPTO_EINVAL; }

int st_hub_attach(strapto_event_hub *hub, st_httpd *h, const char *path)
{
    if (!hub || !h || !path || path[0] != '/') return STRAPTO_EINVAL;
    if (!st_ctx_on_loop(hub->ctx, hub->loop)) return STRAPTO_EINVAL;
    if (hub->httpd || hub->closed) return STRAPTO_ESTATE;
    hub->path = strdup(path);
    if (!hub->path) return STRAPTO_ENOMEM;
    hub->httpd = h;
    soup_server_add_handler(st_httpd_soup(h), path, on_ws_request, hub, NULL);
    return STRAPTO_OK;
}

typedef struct {
    strapto_event_hub *hub;
    st_httpd_config hc;
    const char *path;
    int rc;
} attach_task;

static void attach_on_loop(void *data)
{
    attach_task *t = data;
    t->rc = st_hub_attach(t->hub, t->hub->own_httpd, t->path);
}

int strapto_event_hub_new(strapto_ctx *ctx, const strapto_event_hub_config *cfg, strapto_event_hub **out)
{
    if (out) *out = NULL;
    if (!ctx || !out) return STRAPTO_EINVAL;
    strapto_event_hub_config d;
    strapto_event_hub_config_init(&d);
    if (!cfg) cfg = &d;
    const char *path = cfg->path ? cfg->path : DEFAULT_PATH;
    if (path[0] != '/') return STRAPTO_EINVAL;
    strapto_event_hub *hub = NULL;
    int rc = st_hub_new_detached(ctx, cfg, &hub);
    if (rc < 0) return rc;
    attach_task t = {hub, {0}, path, 0};
    t.hc.listen = cfg->listen ? cfg->listen : DEFAULT_LISTEN;
    t.hc.token = cfg->token;
    t.hc.tls_cert = cfg->tls_cert;
    t.hc.tls_key = cfg->tls_key;
    rc = st_httpd_new(ctx, hub->loop, &t.hc, &hub->own_httpd);
    if (rc == 0) {
        st_ctx_run_sync(ctx, hub->loop, attach_on_loop, &t);
        rc = t.rc;
    }
    if (rc < 0) {
        strapto_event_hub_free(hub);
        return rc;
    }
    ST_INFO("hub", "event hub on %s://%s%s (port %d)", cfg->tls_cert ? "wss" : "ws", t.hc.listen, path,
            st_httpd_port(hub->own_httpd));
    *out = hub;
    return STRAPTO_OK;
}

int strapto_event_hub_port(strapto_event_hub *hub)
{
    if (!hub) return STRAPTO_EINVAL;
    if (hub->own_httpd) return st_httpd_port(hub->own_httpd);
    if (hub->httpd) return st_httpd_port(hub->httpd);
    return STRAPTO_ESTATE;
}

int strapto_event_hub_clients(strapto_event_hub *hub)
{
    return hub ? g_atomic_int_get(&hub->n_clients) : STRAPTO_EINVAL;
}

int st_hub_clients(strapto_event_hub *hub) { return strapto_event_hub_clients(hub); }

static void free_on_loop(void *data)
{
    strapto_event_hub *hub = data;
    hub->closed = 1;
    if (hub->httpd && hub->path) soup_server_remove_handler(st_httpd_soup(hub->httpd), hub->path);
    if (hub->sub) strapto_bus_unsubscribe(hub->sub);
    hub->sub = NULL;
    for (hub_client *c = hub->head; c; c = c->next) {
        if (c->dead) continue;
        if (c->kind == HUB_CLIENT_WS) {
            hub_ws_try_close_frame(c, 1001, "going away");
            hub_client_kill(c, "hub closing");
        } else {
            hub_client_ref(c);
            hub_client_kill(c, "hub closing");
            if (c->ext.close) c->ext.close(1001, "going away", c->ext.user);
            hub_client_unref(c);
        }
    }
    hub_client *list = hub->dirty;
    hub->dirty = NULL;
    while (list) {
        hub_client *c = list;
        list = c->dirty_next;
        c->dirty = 0;
        hub_client_unref(c);
    }
    reap(hub);
    hub_ws_epoll_free(hub);
    GSource **srcs[] = {&hub->flush_src, &hub->tick_src};
    for (size_t i = 0; i < G_N_ELEMENTS(srcs); i++)
        if (*srcs[i]) {
            g_source_destroy(*srcs[i]);
            g_source_unref(*srcs[i]);
            *srcs[i] = NULL;
        }
    if (hub->own_httpd) st_httpd_free(hub->own_httpd); /* inline: we are on its loop */
    hub->own_httpd = NULL;
    hub->httpd = NULL;
    hub_unref(hub);
}

void strapto_event_hub_free(strapto_event_hub *hub)
{
    if (!hub) return;
    strapto_ctx *ctx = hub->ctx;
    int loop = hub->loop;
    st_ctx_run_sync(ctx, loop, free_on_loop, hub);
    st_ctx_release_loop(ctx, loop);
}

/* ---- pushing events without the bus ---- */

int st_hub_send(strapto_event_hub *hub, uint64_t client_id, const char *type, const char *data_json)
{
    if (!hub || !type || !*type || strlen(type) > STRAPTO_BUS_MAX_TYPE || !g_utf8_validate(type, -1, NULL))
        return STRAPTO_EINVAL;
    if (hub->closed) return STRAPTO_ECLOSED;
    const char *data = data_json ? data_json : "{}";
    size_t dl = strlen(data);
    json_error_t je;
    json_t *j = json_loadb(data, dl, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j) return STRAPTO_EPARSE;
    json_decref(j);
    hub_msg *m = hub_msg_event(type, data, dl, strapto_wall_us());
    if (!m) return STRAPTO_ENOMEM;
    int found = 0;
    for (hub_client *c = hub->head; c; c = c->next) {
        if (c->dead || (client_id && c->id != client_id)) continue;
        found = 1;
        hub_client_push(c, hub_msg_ref(m), 0);
        if (client_id) break;
    }
    hub_msg_unref(m);
    return found || !client_id ? STRAPTO_OK : STRAPTO_ENOTFOUND;
}
