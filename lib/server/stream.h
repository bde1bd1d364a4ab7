/* The model stream server's internal state, shared by its files
 * (internal; not installed):
 *   stream.c         the public API: config, create/free, status; mounts
 *                    the hub and starts the model
 *   stream_rtc.c     WebRTC clients: POST /offer, POST/DELETE /whep, one
 *                    answering peer per client, its data channels fed by
 *                    the hub as external clients
 *   stream_http.c    GET / and static files, /health, request counting
 *   stream_status.c  /status (JSON) and /metrics (Prometheus text)
 * Everything runs on the server's loop thread (srv->loop), including every
 * peer's callbacks (the peers are created on that loop). */
#ifndef STRAPTO_SERVER_STREAM_H
#define STRAPTO_SERVER_STREAM_H

#include <jansson.h>
#include "server/httpd.h"
#include "server/hub.h"
#include "server/model.h"
#include "strapto/bus.h"
#include "strapto/server.h"

#define ST_STREAM_MAX_TYPES 64     /* event types counted one by one; the rest as "other" */
#define ST_STREAM_MAX_HTTP_KEYS 256 /* (route, code) pairs counted */

typedef struct st_rtc_client st_rtc_client;

struct strapto_stream_server {
    strapto_ctx *ctx;
    int loop;
    strapto_stream_server_config cfg; /* strings below are our copies */
    char *listen, *token, *www_dir, *ice_local, *stun, *turn;
    char **model_argv;
    int port;
    int64_t started_us;

    st_httpd *httpd;
    strapto_event_hub *hub;
    st_model *model;
    strapto_bus_sub *sub; /* every event, for the counters */

    /* WebRTC clients */
    GHashTable *rtc;      /* id (hex) -> st_rtc_client */
    int rtc_pending;      /* clients with no channel registered at the hub yet */
    uint64_t rtc_accepted, rtc_refused;

    /* counters */
    GHashTable *ev_types; /* type -> uint64_t* */
    uint64_t ev_other, ev_total, sub_dropped_seen;
    GHashTable *http;     /* "route\ncode" -> uint64_t* */
    uint64_t http_other;
    uint64_t rej_size, rej_json, rej_sdp, rej_auth, rej_limit, rej_type; /* HTTP-level refusals */
    uint64_t rtc_events_skipped; /* events larger than a client's max message size */
    GList *file_reqs;     /* static files being read */
    gulong req_signal;
    int closing;
};

/* stream_rtc.c */
void st_stream_rtc_init(strapto_stream_server *srv);
void st_stream_rtc_routes(strapto_stream_server *srv);
void st_stream_rtc_close_all(strapto_stream_server *srv);
int st_stream_rtc_clients(strapto_stream_server *srv);
/* Clients now: WebSocket + external (hub) + WebRTC peers not yet at the hub. */
int st_stream_clients_total(strapto_stream_server *srv);

/* stream_http.c */
/* The folder GET / serves: cfg_dir, else $STRAPTO_WWW_DIR, else the
 * installed share/strapto/www next to the library or executable, else the
 * source tree's www/. g_free() it; NULL when none exists. */
char *st_stream_find_www(const char *cfg_dir);
void st_stream_http_routes(strapto_stream_server *srv);
/* Before the httpd goes: forget pending file reads, stop counting. */
void st_stream_http_stop(strapto_stream_server *srv);
/* 1 when the request may go on (see stream_http.c for the cookie rule). */
/* The file name a GET path maps to under the www folder (g_free it), or
 * NULL when the path is not a plain relative name: no "." or ".." or
 * hidden segment, no empty segment, no encoded '/', [A-Za-z0-9._-] only. */
char *st_stream_safe_name(const char *path);
/* 1 when a Cookie header carries the page cookie with exactly `token`. */
int st_stream_cookie_token_ok(const char *cookie_header, const char *token);
int st_stream_authorize(strapto_stream_server *srv, SoupServerMessage *msg, int allow_cookie);
void st_stream_reply_error(strapto_stream_server *srv, SoupServerMessage *msg, int status, const char *code,
                           const char *message);
/* 1 for GET or HEAD; otherwise replies 405 (Allow: GET, HEAD) and returns 0. */
int st_stream_require_get(strapto_stream_server *srv, SoupServerMessage *msg);

/* stream_status.c */
json_t *st_stream_status_json(strapto_stream_server *srv);
char *st_stream_metrics_text(strapto_stream_server *srv);
void st_stream_status_routes(strapto_stream_server *srv);
void st_stream_count_event(strapto_stream_server *srv, const strapto_event *ev);

#endif
