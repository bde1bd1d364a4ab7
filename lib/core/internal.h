/* Internal helpers shared by every module (not installed). */
#ifndef STRAPTO_CORE_INTERNAL_H
#define STRAPTO_CORE_INTERNAL_H

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include "strapto/common.h"
#include "strapto/log.h"
#include "strapto/ctx.h"

#define ST_LOG(lvl, mod, ...) \
    do { if ((lvl) <= st_log_level_cached) strapto_log((lvl), (mod), __VA_ARGS__); } while (0)
#define ST_ERR(mod, ...) ST_LOG(STRAPTO_LOG_ERROR, mod, __VA_ARGS__)
#define ST_WARN(mod, ...) ST_LOG(STRAPTO_LOG_WARN, mod, __VA_ARGS__)
#define ST_INFO(mod, ...) ST_LOG(STRAPTO_LOG_INFO, mod, __VA_ARGS__)
#define ST_DEBUG(mod, ...) ST_LOG(STRAPTO_LOG_DEBUG, mod, __VA_ARGS__)
#define ST_TRACE(mod, ...) ST_LOG(STRAPTO_LOG_TRACE, mod, __VA_ARGS__)

extern volatile int st_log_level_cached;
void st_log_init(void);

/* ---- context internals ---- */
typedef struct st_loop st_loop;

/* The GLib main context of loop `index` (0..threads-1). */
GMainContext *st_ctx_main_context(strapto_ctx *ctx, int index);
/* Pick a loop index: `want` if valid, else the least loaded one.
 * Adds one to that loop's load; st_ctx_release_loop() undoes it. */
int st_ctx_acquire_loop(strapto_ctx *ctx, int want);
void st_ctx_release_loop(strapto_ctx *ctx, int index);
/* True when the calling thread is loop `index`'s thread. */
int st_ctx_on_loop(strapto_ctx *ctx, int index);
/* Run fn(user) on loop `index` and wait for it; runs inline when already on
 * that thread. */
void st_ctx_run_sync(strapto_ctx *ctx, int index, strapto_task_fn fn, void *user);
/* Register/unregister a live object for the leak check at ctx free. */
void st_ctx_obj_add(strapto_ctx *ctx);
void st_ctx_obj_del(strapto_ctx *ctx);
int st_ctx_live_objects(strapto_ctx *ctx);

/* Bus lifecycle (owned by the context). */
struct strapto_bus;
int st_bus_new(strapto_ctx *ctx, int replay, int queue, struct strapto_bus **out);
void st_bus_free(struct strapto_bus *bus);

/* Certificate of the context (DTLS). Opaque to callers outside lib/rtc. */
void *st_ctx_rtc_state(strapto_ctx *ctx);
void st_ctx_set_rtc_state(strapto_ctx *ctx, void *state, void (*free_fn)(void *));

/* strdup that returns NULL for NULL */
char *st_strdup(const char *s);

#endif
