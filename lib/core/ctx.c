/* The context: N loop threads, each running a GLib main context. */
#include <stdlib.h>
#include <unistd.h>
#include "core/internal.h"
#include "strapto/bus.h"

#define MAX_THREADS 64

struct st_loop {
    GMainContext *mc;
    GMainLoop *ml;
    GThread *thread;
    gint load;
};

struct strapto_ctx {
    int n;
    st_loop loops[MAX_THREADS];
    gint closing;
    gint live_objects;
    int bus_queue, bus_replay;
    struct strapto_bus *bus;
    GMutex mu;
    void *rtc_state;
    void (*rtc_state_free)(void *);
};

void strapto_ctx_options_init(strapto_ctx_options *o)
{
    if (!o) return;
    o->threads = 0;
    o->log_level = -1;
    o->bus_replay = -1;
    o->bus_queue = 0;
}

static gpointer loop_main(gpointer data)
{
    st_loop *l = data;
    g_main_context_push_thread_default(l->mc);
    g_main_loop_run(l->ml);
    g_main_context_pop_thread_default(l->mc);
    return NULL;
}

int strapto_ctx_new(const strapto_ctx_options *opts, strapto_ctx **out)
{
    if (!out) return STRAPTO_EINVAL;
    *out = NULL;
    st_log_init();
    strapto_ctx_options d;
    strapto_ctx_options_init(&d);
    if (!opts) opts = &d;
    if (opts->log_level >= 0 && strapto_log_set_level(opts->log_level) < 0) return STRAPTO_EINVAL;
    int n = opts->threads;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > MAX_THREADS) n = MAX_THREADS;
    strapto_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return STRAPTO_ENOMEM;
    g_mutex_init(&ctx->mu);
    ctx->n = n;
    ctx->bus_queue = opts->bus_queue > 0 ? opts->bus_queue : 1024;
    ctx->bus_replay = opts->bus_replay < 0 ? 100 : opts->bus_replay;
    int rc = st_bus_new(ctx, ctx->bus_replay, ctx->bus_queue, &ctx->bus);
    if (rc < 0) {
        g_mutex_clear(&ctx->mu);
        free(ctx);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        st_loop *l = &ctx->loops[i];
        l->mc = g_main_context_new();
        l->ml = g_main_loop_new(l->mc, FALSE);
        char name[32]; /* 16 trips -Wformat-truncation (hence -Werror) at -O1 and above */
        snprintf(name, sizeof name, "strapto-loop%d", i);
        l->thread = g_thread_new(name, loop_main, l);
    }
    ST_DEBUG("ctx", "context started with %d loop threads", n);
    *out = ctx;
    return STRAPTO_OK;
}

static gboolean quit_cb(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void strapto_ctx_free(strapto_ctx *ctx)
{
    if (!ctx) return;
    for (int i = 0; i < ctx->n; i++)
        if (st_ctx_on_loop(ctx, i)) {
            ST_ERR("ctx", "strapto_ctx_free called from a loop thread; refused");
            return;
        }
    g_atomic_int_set(&ctx->closing, 1);
    /* Bus subscribers deliver through the loops: free the bus while loops run
     * so pending deliveries are cancelled cleanly. */
    st_bus_free(ctx->bus);
    ctx->bus = NULL;
    for (int i = 0; i < ctx->n; i++) {
        st_loop *l = &ctx->loops[i];
        GSource *s = g_idle_source_new();
        g_source_set_callback(s, quit_cb, l->ml, NULL);
        g_source_attach(s, l->mc);
        g_source_unref(s);
    }
    for (int i = 0; i < ctx->n; i++) {
        st_loop *l = &ctx->loops[i];
        g_thread_join(l->thread);
        /* run what is still pending (deferred frees) */
        while (g_main_context_iteration(l->mc, FALSE)) {}
        g_main_loop_unref(l->ml);
        g_main_context_unref(l->mc);
    }
    int live = g_atomic_int_get(&ctx->live_objects);
    if (live > 0) ST_WARN("ctx", "%d objects still alive at strapto_ctx_free (leak)", live);
    if (ctx->rtc_state && ctx->rtc_state_free) ctx->rtc_state_free(ctx->rtc_state);
    g_mutex_clear(&ctx->mu);
    free(ctx);
}

int strapto_ctx_threads(const strapto_ctx *ctx) { return ctx ? ctx->n : STRAPTO_EINVAL; }

typedef struct {
    strapto_task_fn fn;
    void *user;
} task;

static gboolean task_cb(gpointer data)
{
    task *t = data;
    t->fn(t->user);
    return G_SOURCE_REMOVE;
}

int strapto_ctx_post(strapto_ctx *ctx, int loop, strapto_task_fn fn, void *user)
{
    if (!ctx || !fn || loop >= ctx->n) return STRAPTO_EINVAL;
    if (g_atomic_int_get(&ctx->closing)) return STRAPTO_ECLOSED;
    if (loop < 0) {
        loop = st_ctx_acquire_loop(ctx, -1);
        st_ctx_release_loop(ctx, loop);
    }
    task *t = malloc(sizeof *t);
    if (!t) return STRAPTO_ENOMEM;
    t->fn = fn;
    t->user = user;
    GSource *s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_DEFAULT);
    g_source_set_callback(s, task_cb, t, free);
    g_source_attach(s, ctx->loops[loop].mc);
    g_source_unref(s);
    return STRAPTO_OK;
}

GMainContext *st_ctx_main_context(strapto_ctx *ctx, int index) { return ctx->loops[index].mc; }

int st_ctx_acquire_loop(strapto_ctx *ctx, int want)
{
    int best = 0;
    if (want >= 0 && want < ctx->n) {
        best = want;
    } else {
        for (int i = 1; i < ctx->n; i++)
            if (g_atomic_int_get(&ctx->loops[i].load) < g_atomic_int_get(&ctx->loops[best].load))
                best = i;
    }
    g_atomic_int_inc(&ctx->loops[best].load);
    return best;
}

void st_ctx_release_loop(strapto_ctx *ctx, int index)
{
    if (index >= 0 && index < ctx->n) g_atomic_int_add(&ctx->loops[index].load, -1);
}

int st_ctx_on_loop(strapto_ctx *ctx, int index)
{
    return ctx->loops[index].thread == g_thread_self();
}

typedef struct {
    strapto_task_fn fn;
    void *user;
    GMutex mu;
    GCond cond;
    int done;
} sync_task;

static gboolean sync_cb(gpointer data)
{
    sync_task *t = data;
    t->fn(t->user);
    g_mutex_lock(&t->mu);
    t->done = 1;
    g_cond_signal(&t->cond);
    g_mutex_unlock(&t->mu);
    return G_SOURCE_REMOVE;
}

/* The loop index of the calling thread, or -1 when it is not one of ctx's. */
static int current_loop(strapto_ctx *ctx)
{
    GThread *self = g_thread_self();
    for (int i = 0; i < ctx->n; i++)
        if (ctx->loops[i].thread == self) return i;
    return -1;
}

void st_ctx_run_sync(strapto_ctx *ctx, int index, strapto_task_fn fn, void *user)
{
    int me = current_loop(ctx);
    if (me == index) {
        fn(user);
        return;
    }
    sync_task t = {.fn = fn, .user = user};
    g_mutex_init(&t.mu);
    g_cond_init(&t.cond);
    GSource *s = g_idle_source_new();
    g_source_set_priority(s, G_PRIORITY_HIGH);
    g_source_set_callback(s, sync_cb, &t, NULL);
    g_source_attach(s, ctx->loops[index].mc);
    g_source_unref(s);
    g_mutex_lock(&t.mu);
    if (me < 0) {
        while (!t.done) g_cond_wait(&t.cond, &t.mu);
    } else {
        /* Called from another loop of this context (a callback calling into
         * an object on another loop). That loop may at this moment wait for
         * ours in the same way: keep dispatching our own loop's work while
         * waiting, so two loops calling each other never deadlock. */
        GMainContext *own = ctx->loops[me].mc;
        while (!t.done) {
            g_mutex_unlock(&t.mu);
            while (g_main_context_iteration(own, FALSE)) {}
            g_mutex_lock(&t.mu);
            if (!t.done) g_cond_wait_until(&t.cond, &t.mu, g_get_monotonic_time() + 500);
        }
    }
    g_mutex_unlock(&t.mu);
    g_mutex_clear(&t.mu);
    g_cond_clear(&t.cond);
}

void st_ctx_obj_add(strapto_ctx *ctx) { g_atomic_int_inc(&ctx->live_objects); }
void st_ctx_obj_del(strapto_ctx *ctx) { g_atomic_int_add(&ctx->live_objects, -1); }
int st_ctx_live_objects(strapto_ctx *ctx) { return g_atomic_int_get(&ctx->live_objects); }
strapto_bus *strapto_ctx_bus(strapto_ctx *ctx) { return ctx ? ctx->bus : NULL; }

void *st_ctx_rtc_state(strapto_ctx *ctx)
{
    g_mutex_lock(&ctx->mu);
    void *s = ctx->rtc_state;
    g_mutex_unlock(&ctx->mu);
    return s;
}

void st_ctx_set_rtc_state(strapto_ctx *ctx, void *state, void (*free_fn)(void *))
{
    g_mutex_lock(&ctx->mu);
    ctx->rtc_state = state;
    ctx->rtc_state_free = free_fn;
    g_mutex_unlock(&ctx->mu);
}
