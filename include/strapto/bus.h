/* libstrapto — the event bus.
 *
 * One bus per context. An event is {seq, type, timestamp, source, payload}
 * where payload is a JSON text (UTF-8). Publishing is allowed from any
 * thread and never blocks on subscribers: each subscriber has a bounded
 * queue; when it is full the oldest queued event for that subscriber is
 * dropped and its drop counter grows. Delivery is asynchronous, on the
 * subscriber's loop thread, in publication order (seq order). The bus keeps
 * a ring of the last N events (strapto_ctx_options.bus_replay) for replay.
 *
 * Bounds: type <= 128 bytes, source <= 128 bytes, payload <= 1 MiB
 * (STRAPTO_BUS_MAX_PAYLOAD); larger input is refused with STRAPTO_ETOOBIG.
 * The type is printable ASCII, the source UTF-8 without control characters
 * (STRAPTO_EINVAL otherwise); the payload is any one JSON value.
 */
#ifndef STRAPTO_BUS_H
#define STRAPTO_BUS_H

#include "common.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRAPTO_BUS_MAX_TYPE 128
#define STRAPTO_BUS_MAX_SOURCE 128
#define STRAPTO_BUS_MAX_PAYLOAD (1024 * 1024)

typedef struct strapto_bus strapto_bus;
typedef struct strapto_bus_sub strapto_bus_sub;

/* An event as delivered to callbacks. Every pointer is borrowed and valid
 * only during the callback. */
typedef struct strapto_event {
    uint64_t seq;            /* 1, 2, 3, ... per bus */
    const char *type;        /* e.g. "model_output" */
    int64_t timestamp_us;    /* wall clock, microseconds since the UNIX epoch */
    const char *source;      /* publisher's name, "" if none */
    const char *payload;     /* JSON text, NUL-terminated */
    size_t payload_len;      /* strlen(payload) */
} strapto_event;

typedef void (*strapto_event_fn)(const strapto_event *ev, void *user);

/* The context's bus (owned by the context; valid until strapto_ctx_free). */
STRAPTO_API strapto_bus *strapto_ctx_bus(strapto_ctx *ctx);

/* Publish an event. `type` must be non-empty; `source` may be NULL;
 * `payload_json` may be NULL (meaning "{}") and otherwise must be valid JSON
 * (STRAPTO_EPARSE if not). The texts are copied. On success *seq_out (if not
 * NULL) receives the event's sequence number. */
STRAPTO_API int strapto_bus_publish(strapto_bus *bus, const char *type, const char *source,
                                    const char *payload_json, uint64_t *seq_out);

/* Subscribe to events whose type starts with `type_prefix` ("" or NULL: all).
 * `loop` is the context loop the callback runs on (-1: any). `queue_len`
 * bounds the subscriber's queue (0: the context default). On success *out
 * is the subscription handle, owned by the caller until
 * strapto_bus_unsubscribe(). */
STRAPTO_API int strapto_bus_subscribe(strapto_bus *bus, const char *type_prefix, int loop,
                                      size_t queue_len, strapto_event_fn fn, void *user,
                                      strapto_bus_sub **out);

/* End a subscription and free the handle. Safe from inside the
 * subscription's own callback. When it returns, `fn` is not running (unless
 * called from inside `fn` itself) and will not be called again. */
STRAPTO_API int strapto_bus_unsubscribe(strapto_bus_sub *sub);

/* Events dropped for this subscriber because its queue was full. */
STRAPTO_API uint64_t strapto_bus_sub_dropped(const strapto_bus_sub *sub);

/* Call fn synchronously, on the calling thread, for each event in the replay
 * ring matching `type_prefix`, oldest first. Returns the number of events
 * passed to fn (>= 0) or an error. */
STRAPTO_API int strapto_bus_replay(strapto_bus *bus, const char *type_prefix,
                                   strapto_event_fn fn, void *user);

/* Sequence number of the last event published (0 if none). */
STRAPTO_API uint64_t strapto_bus_last_seq(strapto_bus *bus);

#ifdef __cplusplus
}
#endif
#endif
