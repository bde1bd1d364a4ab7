/* The HTTP server every server module shares: a SoupServer on one loop.
 *
 * Bounds:
 *  - request headers: libsoup's own limit (64 KiB of header block; larger
 *    requests are refused by libsoup with 400/413 before any handler runs);
 *  - request bodies: max_body. libsoup reads (and accumulates) a request body
 *    even after a handler has set a status, so a body announced larger than
 *    max_body by Content-Length, or a chunked body that grows past it, is
 *    refused here by taking the connection away from libsoup: a 413 with a
 *    JSON error body is written on it, the write side is shut down, and what
 *    the client still sends is read and discarded for a short while (bounded
 *    in time and bytes) so that it sees the 413 rather than a reset. This
 *    happens in the message's "got-headers" / "got-chunk" signals, for every
 *    path (an early handler only covers the paths it is registered for).
 *    st_httpd_check_body() is the check after the fact for handlers.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "server/httpd.h"
#include "server/hub_int.h" /* st_release_stolen (its prototype belongs in httpd.h) */

#define DEFAULT_MAX_BODY (64 * 1024)
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1024 * 1024)

struct st_httpd {
    strapto_ctx *ctx;
    int loop;
    int own_loop;          /* acquired here (loop -1) and released at free */
    SoupServer *server;
    char *token;           /* NULL: no auth */
    size_t token_len;
    size_t max_body;
    int port;
    int tls;
};

/* ---- small helpers ---- */

void st_iso8601(int64_t wall_us, char *buf, size_t len)
{
    if (!buf || !len) return;
    int64_t sec = wall_us / 1000000, rem = wall_us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(rem / 1000));
}

void st_httpd_reply_json(SoupServerMessage *msg, int status, const char *json)
{
    if (!msg) return;
    if (!json) json = "{}";
    soup_server_message_set_status(msg, (guint)status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, json, strlen(json));
}

/* {"error":{"code":CODE,"message":MESSAGE}}; malloc'd. */
static char *error_json(const char *code, const char *message)
{
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
                          message ? message : "");
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

void st_httpd_reply_error(SoupServerMessage *msg, int status, const char *code, const char *message)
{
    char *s = error_json(code, message);
    st_httpd_reply_json(msg, status, s ? s : "{\"error\":{\"code\":\"error\",\"message\":\"\"}}");
    free(s);
}

/* ---- listen address ---- */

/* "HOST:PORT" or "[V6]:PORT"; HOST an IP literal or "localhost". */
static GSocketAddress *parse_listen(const char *listen)
{
    if (!listen || !*listen || strlen(listen) > 256) return NULL;
    char host[260];
    const char *port_s;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof host) return NULL;
        memcpy(host, listen + 1, (size_t)(rb - listen - 1));
        host[rb - listen - 1] = 0;
        port_s = rb + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host) return NULL;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = 0;
        if (strchr(host, ':')) return NULL; /* a bare IPv6 address needs brackets */
        port_s = colon + 1;
    }
    if (!*port_s || strlen(port_s) > 5) return NULL;
    for (const char *p = port_s; *p; p++)
        if (*p < '0' || *p > '9') return NULL;
    long port = strtol(port_s, NULL, 10);
    if (port < 0 || port > 65535) return NULL;
    GInetAddress *ia = NULL;
    if (!strcmp(host, "localhost")) ia = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    else ia = g_inet_address_new_from_string(host);
    if (!ia) return NULL;
    GSocketAddress *sa = g_inet_socket_address_new(ia, (guint16)port);
    g_object_unref(ia);
    return sa;
}

/* Drop a connection taken from libsoup (our references to its stream and
 * socket). libsoup 3.2 keeps one reference to the GSocket of every stolen
 * connection that nothing ever releases (soup_server_add_websocket_handler
 * leaks it the same way: ~350 bytes per connection, seen with valgrind on
 * 3.2.3). The socket is closed at once; the references are dropped from an
 * idle callback, when no source of the connection is being dispatched any
 * more, and a socket then still held twice (ours + libsoup's) is released
 * twice. Only for libsoup 3.2.x and older, where it was verified. */
typedef struct {
    GIOStream *io;
    GSocket *sock;
} stolen_conn;

static gboolean release_later(gpointer data)
{
    stolen_conn *s = data;
    if (s->io) g_object_unref(s->io);
    if (s->sock) {
        guint refs = (guint)g_atomic_int_get((gint *)&G_OBJECT(s->sock)->ref_count);
        if (refs == 2 && soup_get_major_version() == 3 && soup_get_minor_version() <= 2) g_object_unref(s->sock);
        g_object_unref(s->sock);
    }
    free(s);
    return G_SOURCE_REMOVE;
}

void st_release_stolen(GMainContext *mc, GIOStream *io, GSocket *sock)
{
    if (sock) g_socket_close(sock, NULL);
    stolen_conn *s = malloc(sizeof *s);
    if (!s) { /* without memory: keep libsoup's leak, drop ours */
        if (io) g_object_unref(io);
        if (sock) g_object_unref(sock);
        return;
    }
    s->io = io;
    s->sock = sock;
    GSource *src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, release_later, s, NULL);
    g_source_attach(src, mc);
    g_source_unref(src);
}

/* ---- refusing oversize bodies (see the top comment) ---- */

typedef struct {
    GIOStream *io;
    GSocket *sock;
    GMainContext *mc;
    GSource *src, *timer;
    size_t drained;
} linger_conn;

static void linger_end(linger_conn *l)
{
    if (l->src) {
        g_source_destroy(l->src);
        g_source_unref(l->src);
    }
    if (l->timer) {
        g_source_destroy(l->timer);
        g_source_unref(l->timer);
    }
    if (l->sock) g_socket_shutdown(l->sock, TRUE, TRUE, NULL);
    g_io_stream_close(l->io, NULL, NULL);
    st_release_stolen(l->mc, l->io, l->sock);
    free(l);
}

static gboolean linger_read(GObject *stream, gpointer data)
{
    linger_conn *l = data;
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        GError *err = NULL;
        gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(stream), buf, sizeof buf,
                                                            NULL, &err);
        if (n < 0 && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            g_error_free(err);
            return G_SOURCE_CONTINUE;
        }
        if (err) g_error_free(err);
        if (n <= 0 || (l->drained += (size_t)n) > LINGER_MAX_BYTES) {
            linger_end(l);
            return G_SOURCE_REMOVE; /* the source was destroyed in linger_end; the return value is moot */
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean linger_timeout(gpointer data)
{
    linger_end(data);
    return G_SOURCE_REMOVE;
}

static void refuse_body(st_httpd *h, SoupServerMessage *msg, goffset announced)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    if (sock) g_object_ref(sock);
    const char *path = g_uri_get_path(soup_server_message_get_uri(msg));
    ST_INFO("httpd", "refusing a request body of %s%lld bytes on %s (bound %zu): 413",
            announced >= 0 ? "" : "more than ", (long long)(announced >= 0 ? announced : (goffset)h->max_body),
            path ? path : "?", h->max_body);
    GIOStream *io = soup_server_message_steal_connection(msg); /* msg may be gone from here on */
    if (!io) {
        if (sock) g_object_unref(sock);
        return;
    }
    char message[128];
    snprintf(message, sizeof message, "request body larger than %zu bytes", h->max_body);
    char *body = error_json("body_too_large", message);
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", body ? strlen(body) : 0);
    GOutputVector v[2] = {{head, (gsize)hl}, {body ? body : "", body ? strlen(body) : 0}};
    GOutputStream *out = g_io_stream_get_output_stream(io);
    if (G_IS_POLLABLE_OUTPUT_STREAM(out))
        g_pollable_output_stream_writev_nonblocking(G_POLLABLE_OUTPUT_STREAM(out), v, 2, NULL, NULL, NULL);
    free(body);
    linger_conn *l = calloc(1, sizeof *l);
    GInputStream *in = g_io_stream_get_input_stream(io);
    if (!l || !G_IS_POLLABLE_INPUT_STREAM(in)) {
        free(l);
        if (sock) g_socket_shutdown(sock, TRUE, TRUE, NULL);
        g_io_stream_close(io, NULL, NULL);
        st_release_stolen(st_ctx_main_context(h->ctx, h->loop), io, sock);
        return;
    }
    l->io = io;
    l->sock = sock;
    l->mc = st_ctx_main_context(h->ctx, h->loop);
    /* half-close: the response is out, the client may keep sending for a while */
    if (sock && !G_IS_TLS_CONNECTION(io)) g_socket_shutdown(sock, FALSE, TRUE, NULL);
    GMainContext *mc = st_ctx_main_context(h->ctx, h->loop);
    l->src = g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(in), NULL);
    g_source_set_callback(l->src, (GSourceFunc)(void (*)(void))linger_read, l, NULL);
    g_source_attach(l->src, mc);
    l->timer = g_timeout_source_new(LINGER_MS);
    g_source_set_callback(l->timer, linger_timeout, l, NULL);
    g_source_attach(l->timer, mc);
}

static st_httpd *httpd_of(SoupServer *server) { return g_object_get_data(G_OBJECT(server), "st-httpd"); }

static void on_got_headers(SoupServerMessage *msg, gpointer data)
{
    st_httpd *h = httpd_of(data);
    if (!h) return;
    SoupMessageHeaders *hd = soup_server_message_get_request_headers(msg);
    if (soup_message_headers_get_encoding(hd) == SOUP_ENCODING_CONTENT_LENGTH) {
        goffset n = soup_message_headers_get_content_length(hd);
        if (n > 0 && (guint64)n > h->max_body) refuse_body(h, msg, n);
    }
}

static void on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
    st_httpd *h = httpd_of(data);
    if (!h) return;
    SoupMessageBody *b = soup_server_message_get_request_body(msg);
    if (b && b->length > 0 && (guint64)b->length > h->max_body) refuse_body(h, msg, -1);
}

static void on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    /* Both handlers go away with the message, or with the server. */
    g_signal_connect_object(msg, "got-headers", G_CALLBACK(on_got_headers), server, 0);
    g_signal_connect_object(msg, "got-chunk", G_CALLBACK(on_got_chunk), server, 0);
}

/* ---- lifecycle ---- */

typedef struct {
    strapto_ctx *ctx;
    int loop;
    const st_httpd_config *cfg;
    st_httpd *out;
    int rc;
} new_task;

static void httpd_destroy(st_httpd *h)
{
    if (!h) return;
    if (h->server) {
        g_object_set_data(G_OBJECT(h->server), "st-httpd", NULL);
        soup_server_disconnect(h->server);
        g_object_unref(h->server);
    }
    if (h->token) {
        memset(h->token, 0, h->token_len);
        free(h->token);
    }
    free(h);
}

static void new_on_loop(void *data)
{
    new_task *t = data;
    const st_httpd_config *cfg = t->cfg;
    t->rc = STRAPTO_OK;
    GSocketAddress *addr = parse_listen(cfg->listen);
    if (!addr) {
        ST_ERR("httpd", "bad listen address \"%s\" (want HOST:PORT or [V6]:PORT)", cfg->listen ? cfg->listen : "");
        t->rc = STRAPTO_EINVAL;
        return;
    }
    if (!!(cfg->tls_cert && *cfg->tls_cert) != !!(cfg->tls_key && *cfg->tls_key)) {
        ST_ERR("httpd", "TLS needs both a certificate and a key file");
        g_object_unref(addr);
        t->rc = STRAPTO_EINVAL;
        return;
    }
    st_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        g_object_unref(addr);
        t->rc = STRAPTO_ENOMEM;
        return;
    }
    h->ctx = t->ctx;
    h->loop = t->loop;
    h->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    if (cfg->token && *cfg->token) {
        h->token = strdup(cfg->token);
        h->token_len = strlen(cfg->token);
        if (!h->token) {
            g_object_unref(addr);
            httpd_destroy(h);
            t->rc = STRAPTO_ENOMEM;
            return;
        }
    }
    h->server = soup_server_new("server-header", "strapto/" STRAPTO_VERSION_STRING " ", NULL);
    g_object_set_data(G_OBJECT(h->server), "st-httpd", h);
    g_signal_connect(h->server, "request-started", G_CALLBACK(on_request_started), NULL);
    SoupServerListenOptions opts = 0;
    GError *err = NULL;
    if (cfg->tls_cert && *cfg->tls_cert) {
        GTlsCertificate *cert = g_tls_certificate_new_from_files(cfg->tls_cert, cfg->tls_key, &err);
        if (!cert) {
            ST_ERR("httpd", "cannot load the TLS certificate %s / key %s: %s", cfg->tls_cert, cfg->tls_key,
                   err ? err->message : "?");
            g_clear_error(&err);
            g_object_unref(addr);
            httpd_destroy(h);
            t->rc = STRAPTO_EINVAL;
            return;
        }
        soup_server_set_tls_certificate(h->server, cert);
        g_object_unref(cert);
        opts |= SOUP_SERVER_LISTEN_HTTPS;
        h->tls = 1;
    }
    if (!soup_server_listen(h->server, addr, opts, &err)) {
        ST_ERR("httpd", "cannot listen on %s: %s", cfg->listen, err ? err->message : "?");
        g_clear_error(&err);
        g_object_unref(addr);
        httpd_destroy(h);
        t->rc = STRAPTO_EIO;
        return;
    }
    g_object_unref(addr);
    GSList *ls = soup_server_get_listeners(h->server);
    for (GSList *l = ls; l && !h->port; l = l->next) {
        GSocketAddress *la = g_socket_get_local_address(l->data, NULL);
        if (la && G_IS_INET_SOCKET_ADDRESS(la)) h->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(la));
        if (la) g_object_unref(la);
    }
    g_slist_free(ls);
    ST_INFO("httpd", "%s server bound to %s (port %d)%s", h->tls ? "HTTPS" : "HTTP", cfg->listen, h->port,
            h->token ? ", bearer token required" : "");
    t->out = h;
}

int st_httpd_new(strapto_ctx *ctx, int loop, const st_httpd_config *cfg, st_httpd **out)
{
    if (out) *out = NULL;
    if (!ctx || !cfg || !out || loop < -1 || loop >= strapto_ctx_threads(ctx)) return STRAPTO_EINVAL;
    int own = loop < 0;
    if (own) loop = st_ctx_acquire_loop(ctx, -1);
    new_task t = {ctx, loop, cfg, NULL, 0};
    st_ctx_run_sync(ctx, loop, new_on_loop, &t);
    if (t.rc < 0) {
        if (own) st_ctx_release_loop(ctx, loop);
        return t.rc;
    }
    t.out->own_loop = own;
    *out = t.out;
    return STRAPTO_OK;
}

static void free_on_loop(void *data) { httpd_destroy(data); }

void st_httpd_free(st_httpd *h)
{
    if (!h) return;
    strapto_ctx *ctx = h->ctx;
    int loop = h->loop, own = h->own_loop;
    st_ctx_run_sync(ctx, loop, free_on_loop, h);
    if (own) st_ctx_release_loop(ctx, loop);
}

SoupServer *st_httpd_soup(st_httpd *h) { return h ? h->server : NULL; }
int st_httpd_port(st_httpd *h) { return h ? h->port : STRAPTO_EINVAL; }
size_t st_httpd_max_body(st_httpd *h) { return h ? h->max_body : 0; }

/* ---- auth and bounds ---- */

static int token_equal(const st_httpd *h, const char *s, size_t n)
{
    /* constant time in the token's content (the length is not secret) */
    unsigned char d = (unsigned char)(n != h->token_len);
    for (size_t i = 0; i < h->token_len; i++) d |= (unsigned char)(h->token[i] ^ (i < n ? s[i] : 0));
    return d == 0;
}

int st_httpd_authorize(st_httpd *h, SoupServerMessage *msg)
{
    if (!h || !msg) return 0;
    if (!h->token) return 1;
    SoupMessageHeaders *hd = soup_server_message_get_request_headers(msg);
    const char *auth = soup_message_headers_get_one(hd, "Authorization");
    if (auth) {
        while (*auth == ' ') auth++;
        if (!g_ascii_strncasecmp(auth, "Bearer ", 7)) {
            const char *tok = auth + 7;
            while (*tok == ' ') tok++;
            size_t n = strlen(tok);
            while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t')) n--;
            if (token_equal(h, tok, n)) return 1;
        }
    }
    const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
    if (query && strlen(query) <= 8192) {
        GHashTable *q = soup_form_decode(query);
        const char *tok = q ? g_hash_table_lookup(q, "token") : NULL;
        int ok = tok && token_equal(h, tok, strlen(tok));
        if (q) g_hash_table_unref(q);
        if (ok) return 1;
    }
    const char *path = g_uri_get_path(soup_server_message_get_uri(msg));
    ST_INFO("httpd", "%s %s from %s: %s bearer token, 401", soup_server_message_get_method(msg), path ? path : "?",
            soup_server_message_get_remote_host(msg) ? soup_server_message_get_remote_host(msg) : "?",
            auth ? "wrong" : "no");
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                 "Bearer realm=\"strapto\"");
    st_httpd_reply_error(msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
    return 0;
}

int st_httpd_check_body(st_httpd *h, SoupServerMessage *msg)
{
    if (!h || !msg) return 0;
    SoupMessageBody *b = soup_server_message_get_request_body(msg);
    if (b && b->length > 0 && (guint64)b->length > h->max_body) {
        char m[128];
        snprintf(m, sizeof m, "request body larger than %zu bytes", h->max_body);
        st_httpd_reply_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "body_too_large", m);
        return 0;
    }
    return 1;
}
