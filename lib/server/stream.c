/* The model stream server: public API. It owns an st_httpd, mounts the
 * event hub on it at /events, starts the model process, registers the
 * WebRTC, static-file and status routes, and counts every bus event. */
#include <stdlib.h>
#include "server/stream.h"

#define MOD "stream"
#define COUNT_QUEUE 8192 /* the counting subscription's queue */

void strapto_stream_server_config_init(strapto_stream_server_config *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->loop = -1;
}

static void on_event(const strapto_event *ev, void *user) { st_stream_count_event(user, ev); }

typedef struct {
    strapto_stream_server *srv;
    const char *tls_cert, *tls_key; /* the caller's, only needed while starting */
    int rc;
} task;

static void teardown(strapto_stream_server *srv)
{
    srv->closing = 1;
    st_stream_rtc_close_all(srv);
    st_stream_http_stop(srv);
    strapto_event_hub_free(srv->hub); /* before the httpd it is attached to */
    srv->hub = NULL;
    st_httpd_free(srv->httpd);
    srv->httpd = NULL;
    st_model_free(srv->model);
    srv->model = NULL;
    if (srv->sub) strapto_bus_unsubscribe(srv->sub);
    srv->sub = NULL;
}

static void start_task(void *data)
{
    task *t = data;
    strapto_stream_server *srv = t->srv;
    const strapto_stream_server_config *c = &srv->cfg;

    int rc = strapto_bus_subscribe(strapto_ctx_bus(srv->ctx), "", srv->loop, COUNT_QUEUE, on_event, srv, &srv->sub);
    if (rc < 0) goto fail;

    st_httpd_config hc = {.listen = srv->listen, .token = srv->token, .tls_cert = t->tls_cert,
                          .tls_key = t->tls_key, .max_body = c->max_body};
    rc = st_httpd_new(srv->ctx, srv->loop, &hc, &srv->httpd);
    if (rc < 0) goto fail;
    srv->port = st_httpd_port(srv->httpd);

    strapto_event_hub_config ec;
    strapto_event_hub_config_init(&ec);
    ec.loop = srv->loop;
    ec.max_clients = c->max_clients;
    ec.client_queue = c->client_queue;
    ec.slow_policy = c->slow_policy;
    ec.max_message = c->max_input;
    ec.input_rate = c->input_rate;
    rc = st_hub_new_detached(srv->ctx, &ec, &srv->hub);
    if (rc < 0) goto fail;
    rc = st_hub_attach(srv->hub, srv->httpd, "/events");
    if (rc < 0) goto fail;

    st_stream_rtc_init(srv);
    st_stream_rtc_routes(srv);
    st_stream_status_routes(srv);
    st_stream_http_routes(srv); /* "/" last: it catches every other path */

    if (srv->model_argv) {
        st_model_config mc = {
            .argv = (const char *const *)srv->model_argv,
            .restart = c->restart,
            .input_format = c->input_format,
        };
        rc = st_model_new(srv->ctx, srv->loop, &mc, &srv->model);
        if (rc < 0) goto fail;
    }
    t->rc = 0;
    return;
fail:
    teardown(srv);
    t->rc = rc;
}

static void free_strings(strapto_stream_server *srv)
{
    g_free(srv->listen);
    g_free(srv->token);
    g_free(srv->www_dir);
    g_free(srv->ice_local);
    g_free(srv->stun);
    g_free(srv->turn);
    g_strfreev(srv->model_argv);
    if (srv->ev_types) g_hash_table_destroy(srv->ev_types);
    if (srv->http) g_hash_table_destroy(srv->http);
    if (srv->rtc) g_hash_table_destroy(srv->rtc);
}

int strapto_stream_server_new(strapto_ctx *ctx, const strapto_stream_server_config *cfg,
                              strapto_stream_server **out)
{
    if (!ctx || !out) return STRAPTO_EINVAL;
    *out = NULL;
    strapto_stream_server_config d;
    strapto_stream_server_config_init(&d);
    if (!cfg) cfg = &d;
    if (cfg->restart < STRAPTO_RESTART_NEVER || cfg->restart > STRAPTO_RESTART_ALWAYS ||
        (cfg->input_format != STRAPTO_INPUT_JSON && cfg->input_format != STRAPTO_INPUT_TEXT) ||
        (cfg->slow_policy != STRAPTO_SLOW_NOTIFY && cfg->slow_policy != STRAPTO_SLOW_DISCONNECT) ||
        cfg->loop < -1 || cfg->loop >= strapto_ctx_threads(ctx) || (!cfg->tls_cert != !cfg->tls_key)) {
        ST_ERR(MOD, "invalid configuration (restart, input_format, slow_policy, loop or TLS files)");
        return STRAPTO_EINVAL;
    }
    if (cfg->model_argv && (!cfg->model_argv[0] || !cfg->model_argv[0][0])) {
        ST_ERR(MOD, "model_argv is empty");
        return STRAPTO_EINVAL;
    }
    strapto_stream_server *srv = g_new0(strapto_stream_server, 1);
    srv->ctx = ctx;
    srv->cfg = *cfg;
    srv->listen = g_strdup(cfg->listen ? cfg->listen : "127.0.0.1:8080");
    srv->token = cfg->token && *cfg->token ? g_strdup(cfg->token) : NULL;
    srv->www_dir = st_stream_find_www(cfg->www_dir);
    srv->ice_local = g_strdup(cfg->ice_local_addresses);
    srv->stun = g_strdup(cfg->stun_servers);
    srv->turn = g_strdup(cfg->turn_servers);
    if (cfg->model_argv) srv->model_argv = g_strdupv((gchar **)cfg->model_argv);
    /* the copies stand in for the caller's strings */
    srv->cfg.listen = srv->listen;
    srv->cfg.token = srv->token;
    srv->cfg.www_dir = srv->www_dir;
    srv->cfg.ice_local_addresses = srv->ice_local;
    srv->cfg.stun_servers = srv->stun;
    srv->cfg.turn_servers = srv->turn;
    srv->cfg.model_argv = (const char *const *)srv->model_argv;
    srv->cfg.tls_cert = srv->cfg.tls_key = NULL; /* only needed while starting (see task) */
    if (srv->cfg.max_clients <= 0) srv->cfg.max_clients = 100;
    srv->ev_types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    srv->http = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    srv->started_us = strapto_now_us();
    if (!srv->www_dir)
        ST_WARN(MOD, "no folder with the web page found (set www_dir or STRAPTO_WWW_DIR); GET / will answer 404");
    srv->loop = st_ctx_acquire_loop(ctx, cfg->loop);

    task t = {.srv = srv, .tls_cert = cfg->tls_cert, .tls_key = cfg->tls_key};
    st_ctx_run_sync(ctx, srv->loop, start_task, &t);
    if (t.rc < 0) {
        st_ctx_release_loop(ctx, srv->loop);
        free_strings(srv);
        g_free(srv);
        return t.rc;
    }
    st_ctx_obj_add(ctx);
    ST_INFO(MOD, "model stream server on port %d, %s%s", srv->port, srv->www_dir ? "page from " : "no page",
            srv->www_dir ? srv->www_dir : "");
    *out = srv;
    return STRAPTO_OK;
}

int strapto_stream_server_port(strapto_stream_server *srv) { return srv ? srv->port : STRAPTO_EINVAL; }

typedef struct {
    strapto_stream_server *srv;
    char *json;
} status_task;

static void status_cb(void *data)
{
    status_task *t = data;
    json_t *j = st_stream_status_json(t->srv);
    t->json = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
}

int strapto_stream_server_status(strapto_stream_server *srv, char **json_out)
{
    if (!srv || !json_out) return STRAPTO_EINVAL;
    status_task t = {.srv = srv};
    st_ctx_run_sync(srv->ctx, srv->loop, status_cb, &t);
    *json_out = t.json;
    return t.json ? STRAPTO_OK : STRAPTO_ENOMEM;
}

static void free_task(void *data) { teardown(data); }

void strapto_stream_server_free(strapto_stream_server *srv)
{
    if (!srv) return;
    st_ctx_run_sync(srv->ctx, srv->loop, free_task, srv);
    st_ctx_release_loop(srv->ctx, srv->loop);
    st_ctx_obj_del(srv->ctx);
    free_strings(srv);
    g_free(srv);
}
