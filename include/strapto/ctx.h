/* libstrapto — the context: loop threads that run every object.
 *
 * A context owns N loop threads. Every peer, server and client created on
 * it is pinned to one loop, and all of its callbacks run on that loop's
 * thread. Public functions may be called from any thread.
 */
#ifndef STRAPTO_CTX_H
#define STRAPTO_CTX_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strapto_ctx strapto_ctx;

typedef struct strapto_ctx_options {
    int threads;          /* loop threads; <= 0: number of CPU cores (max 64) */
    int log_level;        /* < 0: leave the process-wide level unchanged */
    int bus_replay;       /* events kept for replay; < 0: default 100; 0: none */
    int bus_queue;        /* default per-subscriber queue bound; <= 0: 1024 */
} strapto_ctx_options;

/* Fill `opts` with defaults (threads 0, log_level -1, bus_replay -1, bus_queue 0). */
STRAPTO_API void strapto_ctx_options_init(strapto_ctx_options *opts);

/* Create a context and start its threads. `opts` may be NULL for defaults.
 * On success *out owns the context; release it with strapto_ctx_free(). */
STRAPTO_API int strapto_ctx_new(const strapto_ctx_options *opts, strapto_ctx **out);

/* Stop every loop thread, join them and free the context. Every object
 * created on the context must have been freed first: objects still alive
 * are logged as a leak and must not be used afterwards (bus subscriptions
 * still registered are freed with the bus). Called from a loop thread of
 * this context it refuses with a log line and does nothing. NULL is ignored. */
STRAPTO_API void strapto_ctx_free(strapto_ctx *ctx);

/* Number of loop threads. */
STRAPTO_API int strapto_ctx_threads(const strapto_ctx *ctx);

typedef void (*strapto_task_fn)(void *user);

/* Run fn(user) on loop `loop` (0..threads-1; -1 picks the least loaded).
 * Asynchronous: returns at once. STRAPTO_ECLOSED once the context is
 * shutting down (fn is then not called). */
STRAPTO_API int strapto_ctx_post(strapto_ctx *ctx, int loop, strapto_task_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
