/* The model stream server's figures: GET /status (JSON) and GET /metrics
 * (Prometheus text format 0.0.4), and the per-type event counters behind
 * them (fed by a bus subscription to every event).
 *
 * /status:
 *   {"status":"ok","version":V,"uptime_s":S,
 *    "model":{"state":"running|restarting|exited|none","pid":N,"uptime_s":S,
 *             "restarts":N,"name":TEXT,"last_exit":{"status":N}|{"signal":N}|null,
 *             "lines":N,"inputs":N,"inputs_refused":N},
 *    "clients":{"websocket":N,"webrtc":N,"max":N},
 *    "events":{"total":N,"by_type":{TYPE:N,...,"other":N}},
 *    "dropped":N}
 * "dropped" adds the events dropped from slow clients' queues and those the
 * bus dropped for the server's subscriptions. */
#include <stdlib.h>
#include "server/stream.h"

void st_stream_count_event(strapto_stream_server *srv, const strapto_event *ev)
{
    srv->ev_total++;
    uint64_t *n = g_hash_table_lookup(srv->ev_types, ev->type);
    if (!n) {
        if (g_hash_table_size(srv->ev_types) >= ST_STREAM_MAX_TYPES) {
            srv->ev_other++;
            return;
        }
        n = g_new0(uint64_t, 1);
        g_hash_table_insert(srv->ev_types, g_strdup(ev->type), n);
    }
    (*n)++;
}

static uint64_t dropped_total(strapto_stream_server *srv, const st_hub_stats *hs)
{
    uint64_t d = hs->dropped + hs->bus_dropped;
    if (srv->sub) d += strapto_bus_sub_dropped(srv->sub);
    return d;
}

json_t *st_stream_status_json(strapto_stream_server *srv)
{
    st_hub_stats hs;
    memset(&hs, 0, sizeof hs);
    if (srv->hub) st_hub_get_stats(srv->hub, &hs);
    st_model_info mi;
    st_model_get_info(srv->model, &mi);

    json_t *model = json_object();
    json_object_set_new(model, "state", json_string(st_model_state_name(srv->model ? mi.state : ST_MODEL_NONE)));
    json_object_set_new(model, "pid", mi.pid ? json_integer(mi.pid) : json_null());
    json_object_set_new(model, "uptime_s", json_real(mi.uptime_s));
    json_object_set_new(model, "restarts", json_integer(mi.restarts));
    json_object_set_new(model, "name", mi.name ? json_string(mi.name) : json_null());
    json_t *last = json_null();
    if (mi.last_signal) last = json_pack("{s:i}", "signal", mi.last_signal);
    else if (mi.last_status >= 0) last = json_pack("{s:i}", "status", mi.last_status);
    json_object_set_new(model, "last_exit", last);
    json_object_set_new(model, "lines", json_integer((json_int_t)mi.lines_out));
    json_object_set_new(model, "inputs", json_integer((json_int_t)mi.inputs_written));
    json_object_set_new(model, "inputs_refused", json_integer((json_int_t)mi.inputs_refused));

    json_t *by_type = json_object();
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, srv->ev_types);
    while (g_hash_table_iter_next(&it, &k, &v)) json_object_set_new(by_type, k, json_integer(*(uint64_t *)v));
    if (srv->ev_other) json_object_set_new(by_type, "other", json_integer((json_int_t)srv->ev_other));

    return json_pack("{s:s,s:s,s:f,s:o,s:{s:i,s:i,s:i},s:{s:I,s:o},s:I}", "status", "ok", "version",
                     strapto_version(), "uptime_s", (strapto_now_us() - srv->started_us) / 1e6, "model", model,
                     "clients", "websocket", hs.ws_clients, "webrtc", st_stream_rtc_clients(srv), "max",
                     srv->cfg.max_clients, "events", "total", (json_int_t)srv->ev_total, "by_type", by_type,
                     "dropped", (json_int_t)dropped_total(srv, &hs));
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label(GString *s, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') g_string_append_c(s, '\\');
        if (*v == '\n') g_string_append(s, "\\n");
        else g_string_append_c(s, *v);
    }
}

static void head(GString *s, const char *name, const char *type, const char *help)
{
    g_string_append_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static gint cmp_str(gconstpointer a, gconstpointer b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The table's keys, sorted (borrowed strings). */
static GPtrArray *sorted_keys(GHashTable *t)
{
    GPtrArray *a = g_ptr_array_sized_new(g_hash_table_size(t));
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, t);
    while (g_hash_table_iter_next(&it, &k, NULL)) g_ptr_array_add(a, k);
    g_ptr_array_sort(a, cmp_str);
    return a;
}

char *st_stream_metrics_text(strapto_stream_server *srv)
{
    st_hub_stats hs;
    memset(&hs, 0, sizeof hs);
    if (srv->hub) st_hub_get_stats(srv->hub, &hs);
    st_model_info mi;
    st_model_get_info(srv->model, &mi);
    GString *s = g_string_new(NULL);

    head(s, "strapto_clients", "gauge", "Connected clients by transport.");
    g_string_append_printf(s, "strapto_clients{transport=\"websocket\"} %d\n", hs.ws_clients);
    g_string_append_printf(s, "strapto_clients{transport=\"webrtc\"} %d\n", st_stream_rtc_clients(srv));

    head(s, "strapto_events_total", "counter", "Bus events by type.");
    GPtrArray *keys = sorted_keys(srv->ev_types);
    for (guint i = 0; i < keys->len; i++) {
        const char *t = g_ptr_array_index(keys, i);
        g_string_append(s, "strapto_events_total{type=\"");
        label(s, t);
        g_string_append_printf(s, "\"} %llu\n", (unsigned long long)*(uint64_t *)g_hash_table_lookup(srv->ev_types, t));
    }
    g_ptr_array_free(keys, TRUE);
    if (srv->ev_other)
        g_string_append_printf(s, "strapto_events_total{type=\"other\"} %llu\n", (unsigned long long)srv->ev_other);

    head(s, "strapto_events_dropped_total", "counter", "Events dropped for slow clients and subscribers.");
    g_string_append_printf(s, "strapto_events_dropped_total %llu\n", (unsigned long long)dropped_total(srv, &hs));

    head(s, "strapto_model_restarts_total", "counter", "Restarts of the model process.");
    g_string_append_printf(s, "strapto_model_restarts_total %u\n", mi.restarts);
    head(s, "strapto_model_up", "gauge", "1 while the model process runs.");
    g_string_append_printf(s, "strapto_model_up %d\n", srv->model && mi.state == ST_MODEL_RUNNING);
    head(s, "strapto_model_output_lines_total", "counter", "Lines the model wrote to stdout.");
    g_string_append_printf(s, "strapto_model_output_lines_total %llu\n", (unsigned long long)mi.lines_out);

    head(s, "strapto_http_requests_total", "counter", "HTTP requests by route and status code.");
    keys = sorted_keys(srv->http);
    for (guint i = 0; i < keys->len; i++) {
        const char *key = g_ptr_array_index(keys, i);
        const char *nl = strchr(key, '\n');
        if (!nl) continue;
        char route[48];
        snprintf(route, sizeof route, "%.*s", (int)(nl - key), key);
        g_string_append(s, "strapto_http_requests_total{route=\"");
        label(s, route);
        g_string_append_printf(s, "\",code=\"%s\"} %llu\n", nl + 1,
                               (unsigned long long)*(uint64_t *)g_hash_table_lookup(srv->http, key));
    }
    g_ptr_array_free(keys, TRUE);

    head(s, "strapto_input_rejected_total", "counter", "Client inputs refused, by reason.");
    g_string_append_printf(s, "strapto_input_rejected_total{reason=\"invalid\"} %llu\n",
                           (unsigned long long)hs.input_errors);
    g_string_append_printf(s, "strapto_input_rejected_total{reason=\"model_busy\"} %llu\n",
                           (unsigned long long)mi.inputs_refused);

    head(s, "strapto_webrtc_offers_total", "counter", "WebRTC offers by outcome.");
    g_string_append_printf(s, "strapto_webrtc_offers_total{result=\"accepted\"} %llu\n",
                           (unsigned long long)srv->rtc_accepted);
    g_string_append_printf(s, "strapto_webrtc_offers_total{result=\"full\"} %llu\n",
                           (unsigned long long)srv->rtc_refused);
    g_string_append_printf(s, "strapto_webrtc_offers_total{result=\"bad_sdp\"} %llu\n",
                           (unsigned long long)srv->rej_sdp);
    return g_string_free(s, FALSE);
}

static void handle_status(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                          gpointer user)
{
    strapto_stream_server *srv = user;
    if (strcmp(path, "/status") != 0) {
        st_stream_reply_error(srv, msg, 404, "not_found", "no such route");
        return;
    }
    if (!st_stream_require_get(srv, msg) || !st_stream_authorize(srv, msg, 0)) return;
    json_t *j = st_stream_status_json(srv);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (text) st_httpd_reply_json(msg, 200, text);
    else st_stream_reply_error(srv, msg, 500, "internal", "out of memory");
    free(text);
}

static void handle_metrics(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                           gpointer user)
{
    strapto_stream_server *srv = user;
    if (strcmp(path, "/metrics") != 0) {
        st_stream_reply_error(srv, msg, 404, "not_found", "no such route");
        return;
    }
    if (!st_stream_require_get(srv, msg) || !st_stream_authorize(srv, msg, 0)) return;
    char *text = st_stream_metrics_text(srv);
    soup_server_message_set_status(msg, 200, NULL);
    soup_server_message_set_response(msg, "text/plain; version=0.0.4; charset=utf-8", SOUP_MEMORY_TAKE, text,
                                     strlen(text));
}

void st_stream_status_routes(strapto_stream_server *srv)
{
    SoupServer *s = st_httpd_soup(srv->httpd);
    soup_server_add_handler(s, "/status", handle_status, srv, NULL);
    soup_server_add_handler(s, "/metrics", handle_metrics, srv, NULL);
}
