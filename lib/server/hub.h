/* The event hub's internal interface, for the other server modules (the
 * model stream server mounts the hub on its own st_httpd and feeds its
 * WebRTC clients through it). Internal; not installed.
 *
 * Threads: unless a comment says otherwise, every function here runs on the
 * hub's loop thread (st_hub_loop(); the same loop as the st_httpd it is
 * attached to). Callbacks run on that thread too.
 *
 * Typical use by a server that owns its HTTP server:
 *
 *     strapto_event_hub_config hc;
 *     strapto_event_hub_config_init(&hc);
 *     hc.loop = my_loop;            // the loop of my st_httpd
 *     hc.max_clients = ...;         // WebSocket + external clients together
 *     st_hub_new_detached(ctx, &hc, &hub);        // any thread; no listener
 *     st_hub_attach(hub, my_httpd, "/events");    // on the loop thread
 *     ...
 *     strapto_event_hub_free(hub);  // before st_httpd_free(my_httpd)
 */
#ifndef STRAPTO_SERVER_HUB_H
#define STRAPTO_SERVER_HUB_H

#include "strapto/server.h"
#include "server/httpd.h"

/* Create a hub that does not listen by itself (cfg->listen, tls_cert,
 * tls_key and token are ignored: the st_httpd it is attached to applies its
 * own). It subscribes to the bus at once, on loop cfg->loop (-1: least
 * loaded; use the st_httpd's loop). Any thread. Free with
 * strapto_event_hub_free(). */
int st_hub_new_detached(strapto_ctx *ctx, const strapto_event_hub_config *cfg,
                        strapto_event_hub **out);

/* The loop the hub runs on. Any thread. */
int st_hub_loop(strapto_event_hub *hub);

/* Serve the hub's WebSocket at `path` on `h` (same loop as the hub). The
 * upgrade is refused with 401 (JSON error body) without h's token, with 503
 * past max_clients, with 400 when it is not a WebSocket handshake (a
 * refusal also closes the connection). The hub pings a WebSocket client
 * silent for 20 s and closes it when it does not answer within 20 s more.
 * One attachment per hub: STRAPTO_ESTATE if already attached,
 * STRAPTO_EINVAL when called off the hub's loop. The hub removes its
 * handler and closes its WebSocket clients when freed, so free the hub
 * before the st_httpd. */
int st_hub_attach(strapto_event_hub *hub, st_httpd *h, const char *path);

/* Connected clients (WebSocket + external). Any thread. */
int st_hub_clients(strapto_event_hub *hub);

/* Send one event {"type","data","timestamp"} to client `client_id`, or to
 * every client when client_id is 0, without going through the bus (not
 * replayed). data_json NULL means {}; it must be valid JSON (STRAPTO_EPARSE).
 * Goes through each client's bounded queue. STRAPTO_ENOTFOUND: no such
 * client. */
int st_hub_send(strapto_event_hub *hub, uint64_t client_id, const char *type,
                const char *data_json);

/* The wire text {"type","data","timestamp"} of an event (data_json NULL:
 * {}; not validated). malloc'd, caller frees; NULL without memory. Any
 * thread. */
char *st_hub_wire_text(const char *type, const char *data_json, int64_t wall_us);

/* ---- external clients (e.g. WebRTC data channels) ----
 * A client whose transport the caller owns. It gets an id in the hub's
 * client id space, counts toward max_clients and the "clients" figure, and
 * its messages get exactly the WebSocket clients' treatment: size bound
 * (max_message), UTF-8 and JSON checks, the per-client rate limit (token
 * bucket input_rate, burst 2x), consumer_input published on the bus with
 * source "ws:<id>" ("<kind>:<id>" for external clients), get_system_info,
 * get_performance_metrics, on_command, "error" events. */
typedef struct st_hub_ext st_hub_ext;

typedef struct st_hub_ext_config {
    /* Hand one text message to the transport. Return 0 when taken,
     * STRAPTO_EAGAIN when the transport is full for now (the hub keeps it
     * queued and tries again after st_hub_ext_writable()), any other
     * negative code when the transport is gone (the hub stops sending). */
    int (*send)(const char *text, size_t len, void *user);
    /* The hub wants the client closed (slow policy "disconnect", or an
     * input flood) with a WebSocket-like code (1008) and reason. The caller
     * closes its transport and calls st_hub_ext_free() (now or later). May
     * be NULL. */
    void (*close)(int code, const char *reason, void *user);
    void *user;
    /* 1: the client first gets the "replay" event, then every bus event
     * (through its bounded queue with the hub's slow policy); 0: only
     * replies to its own commands and st_hub_send(). */
    int events;
    /* Prefix of the bus source of its consumer_input events ("<kind>:<id>");
     * NULL: "dc". */
    const char *kind;
} st_hub_ext_config;

/* Register an external client. STRAPTO_ELIMIT past max_clients. *out is
 * the caller's until st_hub_ext_free(). */
int st_hub_ext_new(strapto_event_hub *hub, const st_hub_ext_config *cfg, st_hub_ext **out);
uint64_t st_hub_ext_id(const st_hub_ext *c);
/* One message the client sent (binary: 1 for a binary message, which is
 * refused with an "error" event). Returns 0, or STRAPTO_ELIMIT when the
 * client floods far past its rate (a WebSocket client would be closed with
 * 1008; close() has been called). */
int st_hub_ext_message(st_hub_ext *c, const char *text, size_t len, int binary);
/* The transport can take more after a send() returned STRAPTO_EAGAIN. */
void st_hub_ext_writable(st_hub_ext *c);
/* Unregister and free. Safe from inside the client's own send()/close()
 * callbacks. After strapto_event_hub_free() (which calls close() with 1001
 * for every external client still registered), any thread. NULL is
 * ignored. */
void st_hub_ext_free(st_hub_ext *c);

/* ---- figures (for /status and /metrics) ---- */
typedef struct st_hub_stats {
    int clients;             /* WebSocket + external */
    int ws_clients;
    uint64_t events;         /* bus events received by the hub */
    uint64_t delivered;      /* messages handed to clients */
    uint64_t dropped;        /* events dropped from slow clients' queues */
    uint64_t bus_dropped;    /* events the bus dropped for the hub's subscription */
    uint64_t slow_disconnects;
    uint64_t refused;        /* upgrades refused: 401 + 503 */
    uint64_t inputs;         /* client messages received */
    uint64_t input_errors;   /* of which answered with an "error" event */
    int64_t pub_to_hub_p50_us, pub_to_hub_p99_us;  /* bus publish -> hub receive */
    int64_t hub_to_send_p50_us, hub_to_send_p99_us; /* hub receive -> handed to the socket */
} st_hub_stats;

/* Any thread. */
void st_hub_get_stats(strapto_event_hub *hub, st_hub_stats *out);

#endif
