/* libstrapto — the model stream server and the event hub.
 *
 * The event hub is a WebSocket server on the context's event bus. Every bus
 * event goes to every client as a text message {"type","data","timestamp"}
 * (timestamp: ISO 8601 UTC with milliseconds, data: the event's JSON
 * payload). A new client first receives one "replay" event whose data is
 * {"events":[...]} with the last events of the bus (up to its replay size,
 * 100 by default), oldest first. Clients send commands in the same shape:
 * "consumer_input" (published on the bus for the model), "get_system_info"
 * (answered with "system_info"), "get_performance_metrics" (answered with
 * "latency_trace"); any other type goes to the on_command callback, or is
 * answered with an "error" event when there is none; invalid JSON or a
 * message without a string "type" gets an "error" event naming the problem.
 *
 * The model stream server runs a model process, turns each line of its
 * stdout into a "model_output" event, writes each "consumer_input" event to
 * its stdin, and serves browsers and programs over HTTP (libsoup): GET /
 * (a page that connects over WebRTC), POST /offer (JSON offer -> answer),
 * POST /whep (application/sdp, 201 + Location, DELETE to end), GET /status,
 * GET /health, GET /metrics (Prometheus text), and the event hub at
 * WebSocket /events. WebRTC clients exchange the same {"type","data",
 * "timestamp"} messages over a data channel labelled "strapto" (channels
 * of other labels are treated the same).
 *
 * Threads: both objects run on one loop of their context; callbacks run
 * there. Functions may be called from any thread.
 *
 * Bounds (defaults, all configurable): request body 64 KiB (413 past it),
 * input 16 KiB per message, 20 inputs/s per client (burst 40), 100 clients
 * (503 past it), 1024 events queued per client before it counts as slow.
 */
#ifndef STRAPTO_SERVER_H
#define STRAPTO_SERVER_H

#include "common.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

enum strapto_slow_policy {
    STRAPTO_SLOW_NOTIFY = 0,     /* drop the oldest queued events, then tell the client
                                    with a "events_dropped" event {"missed": N} */
    STRAPTO_SLOW_DISCONNECT = 1  /* close the client's connection (code 1008) */
};

enum strapto_restart_policy {
    STRAPTO_RESTART_NEVER = 0,
    STRAPTO_RESTART_ON_FAILURE = 1, /* exit status != 0 or a signal; with backoff */
    STRAPTO_RESTART_ALWAYS = 2
};

enum strapto_input_format {
    STRAPTO_INPUT_JSON = 0, /* each consumer_input's data as one JSON line */
    STRAPTO_INPUT_TEXT = 1  /* the "text" member alone, one line */
};

/* ---- event hub ---- */

typedef struct strapto_event_hub strapto_event_hub;

/* A command from a client that the hub does not handle itself.
 * `type` and `data_json` are borrowed for the call; `client_id` names the
 * client (unique per hub). */
typedef void (*strapto_hub_command_fn)(const char *type, const char *data_json, uint64_t client_id,
                                       void *user);

typedef struct strapto_event_hub_config {
    const char *listen;        /* "HOST:PORT" (port 0: any); NULL: "127.0.0.1:8765" */
    const char *path;          /* WebSocket path; NULL: "/events" */
    const char *token;         /* bearer token ("Authorization: Bearer T" or ?token=T); NULL: none */
    const char *tls_cert, *tls_key; /* PEM files: wss:// when both are set */
    int max_clients;           /* <= 0: 100 */
    size_t client_queue;       /* events queued per client; 0: 1024 */
    int slow_policy;           /* enum strapto_slow_policy */
    size_t max_message;        /* bytes per client message; 0: 16 KiB */
    double input_rate;         /* messages/s per client; <= 0: 20 (burst twice that) */
    int loop;                  /* context loop; -1: least loaded */
    strapto_hub_command_fn on_command;
    void *user;
} strapto_event_hub_config;

/* Defaults as described in each field (listen NULL, loop -1, zeros). */
STRAPTO_API void strapto_event_hub_config_init(strapto_event_hub_config *cfg);
/* Create the hub and start listening. *out owns it. STRAPTO_EIO when the
 * address cannot be bound, STRAPTO_EINVAL for a bad address. */
STRAPTO_API int strapto_event_hub_new(strapto_ctx *ctx, const strapto_event_hub_config *cfg,
                                      strapto_event_hub **out);
/* The bound TCP port. */
STRAPTO_API int strapto_event_hub_port(strapto_event_hub *hub);
/* Connected clients now. */
STRAPTO_API int strapto_event_hub_clients(strapto_event_hub *hub);
/* Close every connection and free the hub. NULL is ignored. */
STRAPTO_API void strapto_event_hub_free(strapto_event_hub *hub);

/* ---- model stream server ---- */

typedef struct strapto_stream_server strapto_stream_server;

typedef struct strapto_stream_server_config {
    const char *listen;          /* "HOST:PORT"; NULL: "127.0.0.1:8080" */
    const char *const *model_argv; /* NULL-terminated argv of the model process;
                                      NULL: no model (events only) */
    int restart;                 /* enum strapto_restart_policy */
    int input_format;            /* enum strapto_input_format */
    const char *www_dir;         /* files served under GET /; NULL: the installed ones */
    const char *token;           /* bearer token for every route, the WebSocket and the offer */
    const char *tls_cert, *tls_key;
    size_t max_body;             /* request body bound; 0: 64 KiB */
    int max_clients;             /* WebSocket + WebRTC clients; <= 0: 100 */
    size_t client_queue;         /* as in the hub */
    int slow_policy;
    size_t max_input;            /* bytes per input message; 0: 16 KiB */
    double input_rate;           /* inputs/s per client; <= 0: 20 */
    const char *ice_local_addresses; /* for the WebRTC clients' peers (see strapto_peer_config) */
    const char *stun_servers, *turn_servers;
    int loop;
} strapto_stream_server_config;

STRAPTO_API void strapto_stream_server_config_init(strapto_stream_server_config *cfg);
/* Create, bind and start the model. *out owns the server. */
STRAPTO_API int strapto_stream_server_new(strapto_ctx *ctx, const strapto_stream_server_config *cfg,
                                          strapto_stream_server **out);
STRAPTO_API int strapto_stream_server_port(strapto_stream_server *srv);
/* The /status document (caller frees with strapto_free). */
STRAPTO_API int strapto_stream_server_status(strapto_stream_server *srv, char **json_out);
/* Stop the model (SIGTERM, then SIGKILL after 2 s), close every client,
 * free. NULL is ignored. */
STRAPTO_API void strapto_stream_server_free(strapto_stream_server *srv);

#ifdef __cplusplus
}
#endif
#endif
