/* WebRTC clients of the model stream server.
 *
 * POST /offer  {"type":"offer","sdp":...} -> 200 {"type":"answer","sdp":...,"id":ID}
 * POST /whep   application/sdp offer      -> 201, Location: /whep/ID, the answer SDP
 * DELETE /whep/ID                         -> 200; the peer closes (any client's ID)
 *
 * Each offer gets one answering peer on the server's loop. The answer is
 * sent once ICE gathering has finished (non-trickle: it holds every
 * candidate), asynchronously: the request is paused meanwhile (at most
 * GATHER_TIMEOUT_MS; then the answer carries what was gathered).
 *
 * Every data channel the client opens, whatever its label ("strapto" is the
 * documented one), becomes an external client of the event hub: the hub
 * sends it the replay and every bus event through its bounded queue (one
 * serialized text shared by all clients) and applies exactly the WebSocket
 * rules to what it sends (size, UTF-8, JSON, rate limit, commands, errors).
 * Our send() hands a message to the channel while its bufferedAmount is
 * under SEND_HIGH and answers STRAPTO_EAGAIN above it; the channel's
 * low-threshold callback (SEND_LOW) tells the hub to go on. So a client
 * that cannot keep up fills its hub queue and gets the hub's slow policy
 * (events_dropped, or a disconnect), as a WebSocket client would.
 *
 * A client whose peer fails or closes is removed; one that stays
 * "disconnected" for DISCONNECTED_TIMEOUT_MS, or is not connected
 * CONNECT_TIMEOUT_MS after its offer (it went away before using the
 * answer, or sent no usable candidate), too. Removal is always
 * deferred to an idle callback, never done inside a peer callback. */
#include <openssl/rand.h>
#include <stdlib.h>
#include "rtc/sdp.h"
#include "server/stream.h"
#include "strapto/peer.h"

#define MOD "stream"
#define SEND_HIGH (1024 * 1024)
#define SEND_LOW (256 * 1024)
#define RETRY_MS 20
#define GATHER_TIMEOUT_MS 5000
#define DISCONNECTED_TIMEOUT_MS 15000
#define CONNECT_TIMEOUT_MS 30000 /* offer to connected; past it the client is dropped */
#define MAX_CHANNELS 16

typedef struct {
    st_rtc_client *cl;
    strapto_dc *dc;  /* referenced */
    st_hub_ext *ext; /* NULL until open */
    GSource *retry;  /* the peer's queue was full: try again soon */
    int dead;        /* the hub asked us to close it */
} rtc_chan;

struct st_rtc_client {
    strapto_stream_server *srv;
    char id[33];
    unsigned num;              /* small number for logs and events */
    strapto_peer *pc;
    int whep;
    SoupServerMessage *msg;    /* the offer waiting for its answer (referenced) */
    gulong msg_finished;
    GSource *gather_timer, *disc_timer, *connect_timer, *close_idle;
    int gathered, registered, connected;
    GPtrArray *chans;          /* rtc_chan* */
    const char *close_reason;  /* static */
};

static gint next_num; /* shared by every server of the process */

/* ---- removal ---- */

static void chan_free(rtc_chan *ch)
{
    if (ch->retry) {
        g_source_destroy(ch->retry);
        g_source_unref(ch->retry);
    }
    st_hub_ext_free(ch->ext);
    strapto_dc_unref(ch->dc);
    g_free(ch);
}

static void publish_status(st_rtc_client *cl, const char *state)
{
    json_t *j = json_pack("{s:s,s:i,s:s}", "transport", "webrtc", "client", (int)cl->num, "state", state);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s) strapto_bus_publish(strapto_ctx_bus(cl->srv->ctx), "connection_status", "stream", s, NULL);
    free(s);
}

static void destroy_src(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

static void drop_msg(st_rtc_client *cl)
{
    if (!cl->msg) return;
    g_signal_handler_disconnect(cl->msg, cl->msg_finished);
    g_object_unref(cl->msg);
    cl->msg = NULL;
}

/* Remove from the table, stop the peer (no callback after this), free. */
static void client_destroy(st_rtc_client *cl)
{
    strapto_stream_server *srv = cl->srv;
    g_hash_table_remove(srv->rtc, cl->id);
    if (cl->msg) {
        SoupServerMessage *msg = g_object_ref(cl->msg);
        drop_msg(cl);
        st_stream_reply_error(srv, msg, srv->closing ? 503 : 500, srv->closing ? "shutting_down" : "peer_closed",
                              "the connection ended before its answer was ready");
        soup_server_message_unpause(msg);
        g_object_unref(msg);
    }
    strapto_peer_free(cl->pc);
    for (guint i = 0; i < cl->chans->len; i++) chan_free(g_ptr_array_index(cl->chans, i));
    g_ptr_array_free(cl->chans, TRUE);
    destroy_src(&cl->gather_timer);
    destroy_src(&cl->disc_timer);
    destroy_src(&cl->connect_timer);
    destroy_src(&cl->close_idle);
    if (!cl->registered) srv->rtc_pending--;
    ST_INFO(MOD, "WebRTC client %u removed (%s)", cl->num, cl->close_reason ? cl->close_reason : "closed");
    if (cl->connected && !srv->closing) publish_status(cl, "closed");
    g_free(cl);
}

static gboolean close_idle_cb(gpointer data)
{
    st_rtc_client *cl = data;
    g_source_unref(cl->close_idle);
    cl->close_idle = NULL;
    client_destroy(cl);
    return G_SOURCE_REMOVE;
}

static void schedule_close(st_rtc_client *cl, const char *reason)
{
    if (cl->close_idle) return;
    cl->close_reason = reason;
    cl->close_idle = g_idle_source_new();
    g_source_set_priority(cl->close_idle, G_PRIORITY_DEFAULT);
    g_source_set_callback(cl->close_idle, close_idle_cb, cl, NULL);
    g_source_attach(cl->close_idle, st_ctx_main_context(cl->srv->ctx, cl->srv->loop));
}

/* ---- channels (hub external clients) ---- */

static gboolean retry_cb(gpointer data)
{
    rtc_chan *ch = data;
    g_source_unref(ch->retry);
    ch->retry = NULL;
    if (ch->ext && !ch->dead) st_hub_ext_writable(ch->ext);
    return G_SOURCE_REMOVE;
}

static int chan_send(const char *text, size_t len, void *user)
{
    rtc_chan *ch = user;
    if (ch->dead) return STRAPTO_ECLOSED;
    if (strapto_dc_buffered_amount(ch->dc) >= SEND_HIGH) return STRAPTO_EAGAIN; /* on_buffered_amount_low resumes */
    int rc = strapto_dc_send(ch->dc, text, len, 0);
    if (rc == STRAPTO_EAGAIN) { /* the peer's whole queue is full: no low callback is certain */
        if (!ch->retry) {
            ch->retry = g_timeout_source_new(RETRY_MS);
            g_source_set_callback(ch->retry, retry_cb, ch, NULL);
            g_source_attach(ch->retry, st_ctx_main_context(ch->cl->srv->ctx, ch->cl->srv->loop));
        }
        return rc;
    }
    if (rc == STRAPTO_ETOOBIG) { /* over the client's max-message-size: this event cannot reach it */
        if (ch->cl->srv->rtc_events_skipped++ == 0)
            ST_WARN(MOD, "WebRTC client %u: a %zu-byte event is over its max-message-size; skipped (counted)",
                    ch->cl->num, len);
        return 0;
    }
    return rc;
}

static void chan_close_req(int code, const char *reason, void *user)
{
    rtc_chan *ch = user;
    ch->dead = 1;
    ST_INFO(MOD, "WebRTC client %u: closing (%d %s)", ch->cl->num, code, reason ? reason : "");
    schedule_close(ch->cl, code == 1008 ? "policy (slow or flooding)" : "closed by the hub");
}

static void dc_open(strapto_dc *dc, void *user)
{
    rtc_chan *ch = user;
    st_rtc_client *cl = ch->cl;
    strapto_stream_server *srv = cl->srv;
    if (ch->ext || cl->close_idle) return;
    strapto_dc_set_buffered_amount_low_threshold(dc, SEND_LOW);
    st_hub_ext_config ec = {.send = chan_send, .close = chan_close_req, .user = ch, .events = 1, .kind = "webrtc"};
    int rc = st_hub_ext_new(srv->hub, &ec, &ch->ext);
    if (rc < 0) {
        ch->ext = NULL;
        ST_WARN(MOD, "WebRTC client %u: channel '%s' refused by the hub: %s", cl->num, strapto_dc_label(dc),
                strapto_strerror(rc));
        const char *data = rc == STRAPTO_ELIMIT
                               ? "{\"code\":\"too_many_clients\",\"message\":\"the server is full\"}"
                               : "{\"code\":\"internal\",\"message\":\"cannot register the channel\"}";
        char *wire = st_hub_wire_text("error", data, strapto_wall_us());
        if (wire) strapto_dc_send(dc, wire, strlen(wire), 0);
        free(wire);
        schedule_close(cl, rc == STRAPTO_ELIMIT ? "too many clients" : "hub refused the channel");
        return;
    }
    if (!cl->registered) {
        cl->registered = 1;
        srv->rtc_pending--;
    }
    ST_INFO(MOD, "WebRTC client %u: channel %d '%s' open (hub client %llu)", cl->num, strapto_dc_id(dc),
            strapto_dc_label(dc), (unsigned long long)st_hub_ext_id(ch->ext));
}

static void dc_message(strapto_dc *dc, const void *data, size_t len, int binary, void *user)
{
    rtc_chan *ch = user;
    if (ch->ext && !ch->dead) st_hub_ext_message(ch->ext, data, len, binary);
}

static void dc_low(strapto_dc *dc, void *user)
{
    rtc_chan *ch = user;
    if (ch->ext && !ch->dead) st_hub_ext_writable(ch->ext);
}

static void dc_close(strapto_dc *dc, void *user)
{
    rtc_chan *ch = user;
    st_rtc_client *cl = ch->cl;
    ST_DEBUG(MOD, "WebRTC client %u: channel '%s' closed", cl->num, strapto_dc_label(dc));
    g_ptr_array_remove(cl->chans, ch);
    chan_free(ch);
}

/* ---- peer callbacks ---- */

static void send_answer(st_rtc_client *cl);

static void pc_candidate(strapto_peer *pc, const char *cand, const char *mid, int idx, void *user)
{
    st_rtc_client *cl = user;
    if (cand) return;
    cl->gathered = 1;
    if (cl->msg) send_answer(cl);
}

static gboolean disc_timeout(gpointer data)
{
    st_rtc_client *cl = data;
    g_source_unref(cl->disc_timer);
    cl->disc_timer = NULL;
    schedule_close(cl, "disconnected too long");
    return G_SOURCE_REMOVE;
}

static gboolean connect_timeout(gpointer data)
{
    st_rtc_client *cl = data;
    g_source_unref(cl->connect_timer);
    cl->connect_timer = NULL;
    schedule_close(cl, "not connected in time");
    return G_SOURCE_REMOVE;
}

static void pc_state(strapto_peer *pc, int state, void *user)
{
    st_rtc_client *cl = user;
    ST_DEBUG(MOD, "WebRTC client %u: %s", cl->num, strapto_peer_state_name(state));
    switch (state) {
    case STRAPTO_PEER_CONNECTED:
        destroy_src(&cl->disc_timer);
        destroy_src(&cl->connect_timer);
        if (!cl->connected) {
            cl->connected = 1;
            ST_INFO(MOD, "WebRTC client %u connected", cl->num);
            publish_status(cl, "connected");
        }
        break;
    case STRAPTO_PEER_DISCONNECTED:
        if (!cl->disc_timer) {
            cl->disc_timer = g_timeout_source_new(DISCONNECTED_TIMEOUT_MS);
            g_source_set_callback(cl->disc_timer, disc_timeout, cl, NULL);
            g_source_attach(cl->disc_timer, st_ctx_main_context(cl->srv->ctx, cl->srv->loop));
        }
        break;
    case STRAPTO_PEER_FAILED: schedule_close(cl, "connection failed"); break;
    case STRAPTO_PEER_CLOSED: schedule_close(cl, "connection closed"); break;
    default: break;
    }
}

static void pc_datachannel(strapto_peer *pc, strapto_dc *dc, void *user)
{
    st_rtc_client *cl = user;
    if (cl->chans->len >= MAX_CHANNELS || cl->close_idle) {
        ST_WARN(MOD, "WebRTC client %u: channel '%s' refused (%s)", cl->num, strapto_dc_label(dc),
                cl->close_idle ? "closing" : "too many channels");
        strapto_dc_close(dc);
        return;
    }
    rtc_chan *ch = g_new0(rtc_chan, 1);
    ch->cl = cl;
    ch->dc = strapto_dc_ref(dc);
    strapto_dc_callbacks cbs = {dc_open, dc_message, dc_close, dc_low, ch};
    strapto_dc_set_callbacks(dc, &cbs);
    g_ptr_array_add(cl->chans, ch);
}

/* ---- signaling ---- */

static void send_answer(st_rtc_client *cl)
{
    strapto_stream_server *srv = cl->srv;
    SoupServerMessage *msg = g_object_ref(cl->msg);
    drop_msg(cl);
    destroy_src(&cl->gather_timer);
    char *sdp = NULL;
    int rc = strapto_peer_local_description(cl->pc, &sdp);
    if (rc < 0 || !sdp) {
        st_stream_reply_error(srv, msg, 500, "internal", "cannot build the answer");
        schedule_close(cl, "no answer");
    } else if (cl->whep) {
        char loc[64];
        snprintf(loc, sizeof loc, "/whep/%s", cl->id);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Location", loc);
        soup_server_message_set_status(msg, 201, NULL);
        soup_server_message_set_response(msg, "application/sdp", SOUP_MEMORY_COPY, sdp, strlen(sdp));
    } else {
        json_t *j = json_pack("{s:s,s:s,s:s}", "type", "answer", "sdp", sdp, "id", cl->id);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (text) st_httpd_reply_json(msg, 200, text);
        else st_stream_reply_error(srv, msg, 500, "internal", "out of memory");
        free(text);
    }
    strapto_free(sdp);
    soup_server_message_unpause(msg);
    g_object_unref(msg);
}

static gboolean gather_timeout(gpointer data)
{
    st_rtc_client *cl = data;
    g_source_unref(cl->gather_timer);
    cl->gather_timer = NULL;
    ST_WARN(MOD, "WebRTC client %u: ICE gathering not finished after %d ms; answering with what we have", cl->num,
            GATHER_TIMEOUT_MS);
    if (cl->msg) send_answer(cl);
    return G_SOURCE_REMOVE;
}

static void msg_finished(SoupServerMessage *msg, gpointer data)
{
    st_rtc_client *cl = data;
    drop_msg(cl);
    schedule_close(cl, "the offer's request went away");
}

/* 1 when the offer can be answered: it parses and has a data channel
 * section with ICE credentials and a fingerprint (what the peer needs);
 * otherwise 0 with the reason. Checked before the client limit, so a bad
 * offer is a 400 whatever the load. */
static int offer_usable(const char *sdp, char *why, size_t len)
{
    char err[160] = "";
    sdp_session *s = NULL;
    if (sdp_parse(sdp, strlen(sdp), &s, err, sizeof err) < 0) {
        snprintf(why, len, "the offer SDP does not parse: %s", err);
        return 0;
    }
    int ai = sdp_find_application(s);
    int ok = ai >= 0;
    if (!ok) snprintf(why, len, "the offer has no data channel (m=application) section");
    else if (!s->media[ai].ice_ufrag || !s->media[ai].ice_pwd || !s->media[ai].fingerprint_len) {
        snprintf(why, len, "the offer's data channel section lacks ICE credentials or a DTLS fingerprint");
        ok = 0;
    }
    sdp_free(s);
    return ok;
}

/* Create the client for an offer and answer it (now or once gathered). */
static void start_client(strapto_stream_server *srv, SoupServerMessage *msg, const char *sdp, int whep)
{
    if (srv->closing) {
        st_stream_reply_error(srv, msg, 503, "shutting_down", "the server is shutting down");
        return;
    }
    char why[240];
    if (!offer_usable(sdp, why, sizeof why)) {
        srv->rej_sdp++;
        st_stream_reply_error(srv, msg, 400, "invalid_sdp", why);
        return;
    }
    if (st_stream_clients_total(srv) >= srv->cfg.max_clients) {
        srv->rtc_refused++;
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
        st_stream_reply_error(srv, msg, 503, "too_many_clients", "the server has its maximum number of clients");
        return;
    }
    st_rtc_client *cl = g_new0(st_rtc_client, 1);
    cl->srv = srv;
    cl->whep = whep;
    cl->num = (unsigned)g_atomic_int_add(&next_num, 1) + 1;
    cl->chans = g_ptr_array_new();
    unsigned char rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)g_random_int();
    }
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(cl->id + 2 * i, 3, "%02x", rnd[i]);
    srv->rtc_pending++;

    strapto_peer_config pcfg;
    strapto_peer_config_init(&pcfg);
    pcfg.loop = srv->loop;
    pcfg.local_addresses = srv->ice_local && *srv->ice_local ? srv->ice_local : NULL;
    pcfg.stun_servers = srv->stun;
    pcfg.turn_servers = srv->turn;
    strapto_peer_callbacks cbs = {pc_candidate, pc_state, pc_datachannel, cl};
    int rc = strapto_peer_new(srv->ctx, &pcfg, &cbs, &cl->pc);
    if (rc < 0) {
        ST_ERR(MOD, "cannot create a peer: %s", strapto_strerror(rc));
        st_stream_reply_error(srv, msg, 500, "internal", "cannot create a peer connection");
        g_ptr_array_free(cl->chans, TRUE);
        srv->rtc_pending--;
        g_free(cl);
        return;
    }
    g_hash_table_insert(srv->rtc, cl->id, cl);
    rc = strapto_peer_set_remote_description(cl->pc, "offer", sdp);
    if (rc < 0) {
        srv->rej_sdp++;
        char m[160];
        snprintf(m, sizeof m, "the offer SDP was refused: %s%s", strapto_strerror(rc),
                 rc == STRAPTO_EUNSUPPORTED ? " (a data channel section is required)" : "");
        st_stream_reply_error(srv, msg, 400, "invalid_sdp", m);
        cl->close_reason = "invalid offer";
        client_destroy(cl);
        return;
    }
    char *answer = NULL;
    rc = strapto_peer_create_answer(cl->pc, &answer);
    strapto_free(answer);
    if (rc < 0) {
        st_stream_reply_error(srv, msg, 500, "internal", "cannot create the answer");
        cl->close_reason = "no answer";
        client_destroy(cl);
        return;
    }
    srv->rtc_accepted++;
    ST_INFO(MOD, "WebRTC client %u: %s offer from %s", cl->num, whep ? "WHEP" : "JSON",
            soup_server_message_get_remote_host(msg) ? soup_server_message_get_remote_host(msg) : "?");
    cl->connect_timer = g_timeout_source_new(CONNECT_TIMEOUT_MS);
    g_source_set_callback(cl->connect_timer, connect_timeout, cl, NULL);
    g_source_attach(cl->connect_timer, st_ctx_main_context(srv->ctx, srv->loop));
    cl->msg = g_object_ref(msg);
    cl->msg_finished = g_signal_connect(msg, "finished", G_CALLBACK(msg_finished), cl);
    soup_server_message_pause(msg);
    if (cl->gathered) {
        send_answer(cl);
        return;
    }
    cl->gather_timer = g_timeout_source_new(GATHER_TIMEOUT_MS);
    g_source_set_callback(cl->gather_timer, gather_timeout, cl, NULL);
    g_source_attach(cl->gather_timer, st_ctx_main_context(srv->ctx, srv->loop));
}

/* The request body as a NUL-terminated string (NULL when empty). */
static char *body_text(SoupServerMessage *msg, size_t *len_out)
{
    SoupMessageBody *b = soup_server_message_get_request_body(msg);
    GBytes *bytes = b ? soup_message_body_flatten(b) : NULL;
    if (!bytes) return NULL;
    gsize n;
    const char *d = g_bytes_get_data(bytes, &n);
    char *s = NULL;
    if (n) {
        s = g_malloc(n + 1);
        memcpy(s, d, n);
        s[n] = 0;
    }
    g_bytes_unref(bytes);
    *len_out = n;
    return s;
}

static int method_is(SoupServerMessage *msg, const char *m)
{
    return strcmp(soup_server_message_get_method(msg), m) == 0;
}

static void not_allowed(strapto_stream_server *srv, SoupServerMessage *msg, const char *allow)
{
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", allow);
    st_stream_reply_error(srv, msg, 405, "method_not_allowed", "method not allowed on this route");
}

static void handle_offer(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                         gpointer user)
{
    strapto_stream_server *srv = user;
    if (strcmp(path, "/offer") != 0) {
        st_stream_reply_error(srv, msg, 404, "not_found", "no such route");
        return;
    }
    if (!method_is(msg, "POST")) {
        not_allowed(srv, msg, "POST");
        return;
    }
    if (!st_stream_authorize(srv, msg, 0) || !st_httpd_check_body(srv->httpd, msg)) return;
    size_t len = 0;
    char *body = body_text(msg, &len);
    json_error_t e;
    json_t *j = body ? json_loadb(body, len, 0, &e) : NULL;
    g_free(body);
    if (!j) {
        srv->rej_json++;
        char m[200];
        snprintf(m, sizeof m, "the body is not JSON: %s", body ? e.text : "empty body");
        st_stream_reply_error(srv, msg, 400, "invalid_json", m);
        return;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *sdp = json_object_get(j, "sdp");
    if (!json_is_object(j) || !type || strcmp(type, "offer") != 0 || !json_is_string(sdp) ||
        json_string_length(sdp) != strlen(json_string_value(sdp))) {
        srv->rej_json++;
        st_stream_reply_error(srv, msg, 400, "invalid_offer",
                              "expected {\"type\":\"offer\",\"sdp\":\"...\"} with a string sdp");
        json_decref(j);
        return;
    }
    start_client(srv, msg, json_string_value(sdp), 0);
    json_decref(j);
}

static void handle_whep(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                        gpointer user)
{
    strapto_stream_server *srv = user;
    if (!strcmp(path, "/whep")) {
        if (!method_is(msg, "POST")) {
            not_allowed(srv, msg, "POST");
            return;
        }
        if (!st_stream_authorize(srv, msg, 0) || !st_httpd_check_body(srv->httpd, msg)) return;
        const char *ct = soup_message_headers_get_content_type(soup_server_message_get_request_headers(msg), NULL);
        if (!ct || g_ascii_strcasecmp(ct, "application/sdp") != 0) {
            st_stream_reply_error(srv, msg, 415, "unsupported_media_type", "a WHEP offer is application/sdp");
            return;
        }
        size_t len = 0;
        char *sdp = body_text(msg, &len);
        if (!sdp || strlen(sdp) != len || !g_utf8_validate(sdp, (gssize)len, NULL)) {
            srv->rej_sdp++;
            st_stream_reply_error(srv, msg, 400, "invalid_sdp", "the offer SDP is empty or not UTF-8 text");
            g_free(sdp);
            return;
        }
        start_client(srv, msg, sdp, 1);
        g_free(sdp);
        return;
    }
    const char *id = path + strlen("/whep/");
    if (strncmp(path, "/whep/", 6) != 0 || strchr(id, '/')) {
        st_stream_reply_error(srv, msg, 404, "not_found", "no such route");
        return;
    }
    if (!method_is(msg, "DELETE")) {
        /* no trickle (PATCH): our answers carry every candidate */
        not_allowed(srv, msg, "DELETE");
        return;
    }
    if (!st_stream_authorize(srv, msg, 0)) return;
    st_rtc_client *cl = g_hash_table_lookup(srv->rtc, id);
    if (!cl) {
        st_stream_reply_error(srv, msg, 404, "not_found", "no such session");
        return;
    }
    schedule_close(cl, "deleted by the client");
    st_httpd_reply_json(msg, 200, "{\"status\":\"closed\"}");
}

/* ---- module ---- */

void st_stream_rtc_init(strapto_stream_server *srv)
{
    srv->rtc = g_hash_table_new(g_str_hash, g_str_equal); /* keys live in the clients */
}

void st_stream_rtc_routes(strapto_stream_server *srv)
{
    SoupServer *s = st_httpd_soup(srv->httpd);
    soup_server_add_handler(s, "/offer", handle_offer, srv, NULL);
    soup_server_add_handler(s, "/whep", handle_whep, srv, NULL);
}

void st_stream_rtc_close_all(strapto_stream_server *srv)
{
    if (!srv->rtc) return;
    GList *all = g_hash_table_get_values(srv->rtc);
    for (GList *l = all; l; l = l->next) {
        st_rtc_client *cl = l->data;
        if (!cl->close_reason) cl->close_reason = "server shutting down";
        client_destroy(cl);
    }
    g_list_free(all);
}

int st_stream_rtc_clients(strapto_stream_server *srv) { return srv->rtc ? (int)g_hash_table_size(srv->rtc) : 0; }

int st_stream_clients_total(strapto_stream_server *srv)
{
    return (srv->hub ? st_hub_clients(srv->hub) : 0) + srv->rtc_pending;
}
