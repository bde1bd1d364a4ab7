/* Unit tests of the HTTP server plumbing (lib/server/httpd.c) and of the
 * event hub's internal interface for other server modules (lib/server/hub.h):
 * timestamps, listen addresses and TLS files, the hub over WebSocket (a
 * libsoup client on this thread's main context), freeing the hub with a
 * client connected, and external clients (replay, live events, commands,
 * errors, back-pressure with EAGAIN, the client bound, the slow policy,
 * freeing from inside the send callback). */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "server/hub.h"
#include "strapto/bus.h"
#include "testutil.h"

static strapto_ctx *ctx;

/* ---- helpers ---- */

static void iterate_until(GMainContext *mc, int *flag, int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (!*flag && g_get_monotonic_time() < end) g_main_context_iteration(mc, FALSE), g_usleep(1000);
}

static const char *type_of(const char *text, char *buf, size_t len)
{
    json_t *j = json_loads(text, 0, NULL);
    const char *t = j ? json_string_value(json_object_get(j, "type")) : NULL;
    snprintf(buf, len, "%s", t ? t : "");
    json_decref(j);
    return buf;
}

/* ---- timestamps and addresses ---- */

static void test_iso8601(void)
{
    char b[40];
    st_iso8601(0, b, sizeof b);
    CHECK_STR(b, "1970-01-01T00:00:00.000Z");
    st_iso8601(1700000000123456LL, b, sizeof b);
    CHECK_STR(b, "2023-11-14T22:13:20.123Z");
    st_iso8601(-1, b, sizeof b);
    CHECK_STR(b, "1969-12-31T23:59:59.999Z");
    char *w = st_hub_wire_text("llm_progress", "{\"a\":1}", 0);
    CHECK_STR(w, "{\"type\":\"llm_progress\",\"data\":{\"a\":1},\"timestamp\":\"1970-01-01T00:00:00.000Z\"}");
    free(w);
    w = st_hub_wire_text("q\"t", NULL, 0);
    CHECK_STR(w, "{\"type\":\"q\\\"t\",\"data\":{},\"timestamp\":\"1970-01-01T00:00:00.000Z\"}");
    free(w);
}

static void test_listen(void)
{
    st_httpd *h = NULL, *h2 = NULL;
    st_httpd_config c = {0};
    const char *bad[] = {"nope", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:-1", "::1:80",
                         "[::1", "999.1.1.1:80", "127.0.0.1:8x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        c.listen = bad[i];
        CHECK_EQ_INT(st_httpd_new(ctx, 0, &c, &h), STRAPTO_EINVAL);
        CHECK(h == NULL);
    }
    c.listen = "127.0.0.1:0";
    CHECK_EQ_INT(st_httpd_new(ctx, 0, &c, &h), 0);
    REQUIRE(h);
    CHECK(st_httpd_port(h) > 0);
    CHECK_EQ_INT(st_httpd_max_body(h), 64 * 1024);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", st_httpd_port(h));
    c.listen = addr;
    CHECK_EQ_INT(st_httpd_new(ctx, 0, &c, &h2), STRAPTO_EIO); /* in use */
    st_httpd_free(h);
    c.listen = "127.0.0.1:0";
    c.tls_cert = "/nonexistent/cert.pem";
    CHECK_EQ_INT(st_httpd_new(ctx, 0, &c, &h2), STRAPTO_EINVAL); /* key missing */
    c.tls_key = "/nonexistent/key.pem";
    CHECK_EQ_INT(st_httpd_new(ctx, 0, &c, &h2), STRAPTO_EINVAL); /* unreadable */
    st_httpd_free(NULL);

    strapto_event_hub *hub = NULL;
    strapto_event_hub_config hc;
    strapto_event_hub_config_init(&hc);
    hc.listen = "bad address";
    CHECK_EQ_INT(strapto_event_hub_new(ctx, &hc, &hub), STRAPTO_EINVAL);
    hc.listen = "127.0.0.1:0";
    hc.path = "no-slash";
    CHECK_EQ_INT(strapto_event_hub_new(ctx, &hc, &hub), STRAPTO_EINVAL);
    hc.path = NULL;
    hc.slow_policy = 7;
    CHECK_EQ_INT(strapto_event_hub_new(ctx, &hc, &hub), STRAPTO_EINVAL);
    CHECK(hub == NULL);
    strapto_event_hub_free(NULL);
}

/* ---- the hub over WebSocket ---- */

typedef struct {
    SoupWebsocketConnection *ws;
    int connected, failed, closed, n;
    char types[16][32];
    char last[4096];
} ws_client;

static void ws_message(SoupWebsocketConnection *ws, gint type, GBytes *msg, gpointer data)
{
    ws_client *c = data;
    gsize len;
    const char *p = g_bytes_get_data(msg, &len);
    snprintf(c->last, sizeof c->last, "%.*s", (int)len, p);
    if (c->n < 16) type_of(c->last, c->types[c->n], sizeof c->types[0]);
    c->n++;
}

static void ws_closed(SoupWebsocketConnection *ws, gpointer data) { ((ws_client *)data)->closed = 1; }

static void ws_connected(GObject *src, GAsyncResult *res, gpointer data)
{
    ws_client *c = data;
    GError *err = NULL;
    c->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
    if (!c->ws) {
        c->failed = 1;
        g_clear_error(&err);
        return;
    }
    g_signal_connect(c->ws, "message", G_CALLBACK(ws_message), c);
    g_signal_connect(c->ws, "closed", G_CALLBACK(ws_closed), c);
    c->connected = 1;
}

static void test_ws(void)
{
    GMainContext *mc = g_main_context_new();
    g_main_context_push_thread_default(mc);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    strapto_event_hub *hub = NULL;
    strapto_event_hub_config hc;
    strapto_event_hub_config_init(&hc);
    hc.listen = "127.0.0.1:0";
    REQUIRE(strapto_event_hub_new(ctx, &hc, &hub) == 0);
    int port = strapto_event_hub_port(hub);
    CHECK(port > 0);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "before", "t", "{\"i\":1}", NULL), 0);
    g_usleep(50000);

    SoupSession *s = soup_session_new();
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/events", port);
    ws_client c = {0};
    SoupMessage *m = soup_message_new("GET", url);
    soup_session_websocket_connect_async(s, m, NULL, NULL, G_PRIORITY_DEFAULT, NULL, ws_connected, &c);
    iterate_until(mc, &c.connected, 5000);
    REQUIRE(c.connected);
    int one = 1;
    (void)one;
    gint64 end = g_get_monotonic_time() + 5000000;
    while (c.n < 1 && g_get_monotonic_time() < end) g_main_context_iteration(mc, FALSE), g_usleep(1000);
    CHECK_STR(c.types[0], "replay");
    json_t *r = json_loads(c.last, 0, NULL);
    CHECK(json_array_size(json_object_get(json_object_get(r, "data"), "events")) >= 3);
    json_decref(r);
    CHECK_EQ_INT(strapto_event_hub_clients(hub), 1);

    CHECK_EQ_INT(strapto_bus_publish(bus, "live", NULL, "[1,2]", NULL), 0);
    end = g_get_monotonic_time() + 5000000;
    while (c.n < 2 && g_get_monotonic_time() < end) g_main_context_iteration(mc, FALSE), g_usleep(1000);
    CHECK_STR(c.types[1], "live");
    CHECK(strstr(c.last, "\"data\":[1,2]") != NULL);

    soup_websocket_connection_send_text(c.ws, "{\"type\":\"get_system_info\"}");
    end = g_get_monotonic_time() + 5000000;
    while (c.n < 3 && g_get_monotonic_time() < end) g_main_context_iteration(mc, FALSE), g_usleep(1000);
    CHECK_STR(c.types[2], "system_info");
    soup_websocket_connection_send_text(c.ws, "{\"type\":42}");
    end = g_get_monotonic_time() + 5000000;
    while (c.n < 4 && g_get_monotonic_time() < end) g_main_context_iteration(mc, FALSE), g_usleep(1000);
    CHECK_STR(c.types[3], "error");

    /* free the hub with the client connected: the client is closed */
    strapto_event_hub_free(hub);
    iterate_until(mc, &c.closed, 5000);
    CHECK(c.closed);
    g_object_unref(c.ws);
    g_object_unref(m);
    g_object_unref(s);
    while (g_main_context_iteration(mc, FALSE)) {}
    g_main_context_pop_thread_default(mc);
    g_main_context_unref(mc);
}

/* the hub freed from inside its own on_command callback */
static strapto_event_hub *g_selfhub;
static int g_cmd_calls;

static void free_from_command(const char *type, const char *data_json, uint64_t client_id, void *user)
{
    g_cmd_calls++;
    CHECK_STR(type, "please_free");
    CHECK_STR(data_json, "{\"x\":1}");
    strapto_event_hub_free(g_selfhub);
    g_selfhub = NULL;
}

static void test_free_in_callback(void)
{
    GMainContext *mc = g_main_context_new();
    g_main_context_push_thread_default(mc);
    strapto_event_hub_config hc;
    strapto_event_hub_config_init(&hc);
    hc.listen = "127.0.0.1:0";
    hc.on_command = free_from_command;
    REQUIRE(strapto_event_hub_new(ctx, &hc, &g_selfhub) == 0);
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/events", strapto_event_hub_port(g_selfhub));
    SoupSession *s = soup_session_new();
    SoupMessage *m = soup_message_new("GET", url);
    ws_client c = {0};
    soup_session_websocket_connect_async(s, m, NULL, NULL, G_PRIORITY_DEFAULT, NULL, ws_connected, &c);
    iterate_until(mc, &c.connected, 5000);
    REQUIRE(c.connected);
    soup_websocket_connection_send_text(c.ws, "{\"type\":\"please_free\",\"data\":{\"x\":1}}");
    iterate_until(mc, &c.closed, 5000);
    CHECK(c.closed);
    CHECK_EQ_INT(g_cmd_calls, 1);
    CHECK(g_selfhub == NULL);
    g_object_unref(c.ws);
    g_object_unref(m);
    g_object_unref(s);
    while (g_main_context_iteration(mc, FALSE)) {}
    g_main_context_pop_thread_default(mc);
    g_main_context_unref(mc);
}

/* ---- external clients ---- */

typedef struct {
    strapto_event_hub *hub;
    st_hub_ext *ext;
    int n, eagain, free_in_send, closed, close_code;
    char types[64][32];
} ext_rec;

static int ext_send(const char *text, size_t len, void *user)
{
    ext_rec *e = user;
    if (e->eagain) return STRAPTO_EAGAIN;
    CHECK(strlen(text) == len);
    if (e->n < 64) type_of(text, e->types[e->n], sizeof e->types[0]);
    e->n++;
    if (e->free_in_send) {
        st_hub_ext_free(e->ext);
        e->ext = NULL;
    }
    return 0;
}

static void ext_close(int code, const char *reason, void *user)
{
    ext_rec *e = user;
    e->closed = 1;
    e->close_code = code;
}

typedef struct {
    ext_rec *e;
    int events;
    const char *msg;
    int rc;
    int op;
} ext_task;

enum { OP_NEW, OP_MSG, OP_WRITABLE, OP_FREE, OP_STATS };

static void ext_on_loop(void *data)
{
    ext_task *t = data;
    ext_rec *e = t->e;
    switch (t->op) {
    case OP_NEW: {
        st_hub_ext_config c = {ext_send, ext_close, e, t->events, "test"};
        t->rc = st_hub_ext_new(e->hub, &c, &e->ext);
        break;
    }
    case OP_MSG: t->rc = st_hub_ext_message(e->ext, t->msg, strlen(t->msg), 0); break;
    case OP_WRITABLE: st_hub_ext_writable(e->ext); break;
    case OP_FREE:
        st_hub_ext_free(e->ext);
        e->ext = NULL;
        break;
    }
}

static int ext_do(ext_rec *e, int op, const char *msg, int events)
{
    ext_task t = {e, events, msg, 0, op};
    st_ctx_run_sync(ctx, st_hub_loop(e->hub), ext_on_loop, &t);
    return t.rc;
}

static int wait_n(ext_rec *e, int n)
{
    for (int i = 0; i < 500 && e->n < n; i++) g_usleep(10000);
    return e->n >= n;
}

static void test_ext(void)
{
    strapto_bus *bus = strapto_ctx_bus(ctx);
    strapto_event_hub_config hc;
    strapto_event_hub_config_init(&hc);
    hc.max_clients = 2;
    hc.client_queue = 8;
    hc.slow_policy = STRAPTO_SLOW_DISCONNECT;
    strapto_event_hub *hub = NULL;
    REQUIRE(st_hub_new_detached(ctx, &hc, &hub) == 0);
    CHECK_EQ_INT(strapto_event_hub_port(hub), STRAPTO_ESTATE);
    ext_rec a = {.hub = hub}, b = {.hub = hub}, c = {.hub = hub};
    CHECK_EQ_INT(ext_do(&a, OP_NEW, NULL, 1), 0);
    CHECK_EQ_INT(ext_do(&b, OP_NEW, NULL, 0), 0);
    CHECK_EQ_INT(ext_do(&c, OP_NEW, NULL, 0), STRAPTO_ELIMIT);
    CHECK_EQ_INT(st_hub_clients(hub), 2);
    CHECK(st_hub_ext_id(a.ext) != st_hub_ext_id(b.ext));
    CHECK(wait_n(&a, 1));
    CHECK_STR(a.types[0], "replay");
    CHECK_EQ_INT(strapto_bus_publish(bus, "ext_live", NULL, NULL, NULL), 0);
    CHECK(wait_n(&a, 2));
    CHECK_STR(a.types[1], "ext_live");
    CHECK_EQ_INT(b.n, 0); /* events 0: no broadcast */

    CHECK_EQ_INT(ext_do(&b, OP_MSG, "{\"type\":\"get_performance_metrics\"}", 0), 0);
    CHECK(wait_n(&b, 1));
    CHECK_STR(b.types[0], "latency_trace");
    CHECK_EQ_INT(ext_do(&b, OP_MSG, "{nope", 0), 0);
    CHECK(wait_n(&b, 2));
    CHECK_STR(b.types[1], "error");

    /* back-pressure: nothing is lost while the transport says EAGAIN */
    a.eagain = 1;
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "held", NULL, NULL, NULL), 0);
    g_usleep(100000);
    CHECK_EQ_INT(a.n, 2);
    a.eagain = 0;
    ext_do(&a, OP_WRITABLE, NULL, 0);
    CHECK(wait_n(&a, 7));
    CHECK_STR(a.types[6], "held");

    /* slow with the disconnect policy: more than client_queue events pending */
    a.eagain = 1;
    for (int i = 0; i < 20; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "flood", NULL, NULL, NULL), 0);
    for (int i = 0; i < 200 && !a.closed; i++) g_usleep(10000);
    CHECK(a.closed);
    CHECK_EQ_INT(a.close_code, 1008);
    CHECK_EQ_INT(st_hub_clients(hub), 1);
    ext_do(&a, OP_FREE, NULL, 0);

    /* freed from inside its own send callback */
    ext_rec d = {.hub = hub, .free_in_send = 1};
    CHECK_EQ_INT(ext_do(&d, OP_NEW, NULL, 1), 0);
    CHECK(wait_n(&d, 1));
    CHECK_EQ_INT(strapto_bus_publish(bus, "after_free", NULL, NULL, NULL), 0);
    g_usleep(100000);
    CHECK_EQ_INT(d.n, 1);

    st_hub_stats st;
    st_hub_get_stats(hub, &st);
    CHECK_EQ_INT(st.clients, 1);
    CHECK(st.events >= 27);
    CHECK(st.slow_disconnects == 1);
    CHECK(st.inputs == 2 && st.input_errors == 1);

    /* the hub goes away with b still registered: b is told, then freed by its owner */
    strapto_event_hub_free(hub);
    CHECK(b.closed);
    CHECK_EQ_INT(b.close_code, 1001);
    st_hub_ext_free(b.ext); /* the hub is gone; the handle is still the caller's */
}

int main(void)
{
    strapto_ctx_options o;
    strapto_ctx_options_init(&o);
    o.threads = 2;
    REQUIRE(strapto_ctx_new(&o, &ctx) == 0);
    test_iso8601();
    test_listen();
    test_ws();
    test_free_in_callback();
    test_ext();
    strapto_ctx_free(ctx);
    TEST_DONE();
}
