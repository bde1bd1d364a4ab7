/* The event bus.
 *
 * Events are immutable and reference-counted: one allocation holds the
 * header and the type, source and payload texts; the replay ring and every
 * subscriber queue hold a reference to that same block (no copies).
 *
 * Locks (always taken in this order, never the other way round):
 *   bus->mu  the sequence counter, the subscriber list, the replay ring;
 *   sub->mu  one subscriber's queue, drop counter and delivery state.
 * No callback ever runs with either lock held, and no log line is emitted
 * with either lock held (a log handler may call back into the library).
 *
 * Delivery: each subscription owns one GSource attached to its loop's main
 * context, woken with g_source_set_ready_time(src, 0) when the queue goes
 * from empty to non-empty (sub->scheduled stays set until the drain finds
 * the queue empty, so publishers wake the loop once per burst, not once per
 * event). The drain takes up to DRAIN_BATCH events under sub->mu, delivers
 * them outside it, and repeats; after DRAIN_ROUNDS batches it yields to the
 * loop's other sources and is re-dispatched on the next iteration.
 *
 * Lifetime of a subscription: one reference for the caller's handle, one for
 * the GSource (dropped in its finalize, i.e. after any dispatch in progress
 * has returned). sub->running names the thread inside a delivery batch;
 * closing waits on sub->cond until it is NULL, unless the closing thread is
 * that thread (unsubscribe from inside the callback).
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "core/internal.h"
#include "strapto/bus.h"

#define DRAIN_BATCH 64   /* events taken from a queue per lock */
#define DRAIN_ROUNDS 16  /* batches per dispatch before yielding to the loop */
#define RING_MIN 16      /* first allocation of a ring; it doubles up to its bound */
#define MAX_WARN 8       /* first-drop warnings collected per publish */

typedef struct st_event {
    gint ref;
    size_t type_len;
    strapto_event ev; /* pointers into text[] */
    char text[];      /* type \0 source \0 payload \0 */
} st_event;

static st_event *event_ref(st_event *e)
{
    g_atomic_int_inc(&e->ref);
    return e;
}

static void event_unref(st_event *e)
{
    if (e && g_atomic_int_dec_and_test(&e->ref)) free(e);
}

/* A bounded FIFO of event references, allocated lazily (grows by doubling up
 * to `max`). */
typedef struct {
    st_event **buf;
    size_t cap, head, count, max;
} ev_ring;

/* Append `ev`, taking over the caller's reference. Returns the reference the
 * caller must release: the oldest event when the ring was full (or `ev`
 * itself when it cannot be stored: max 0, or no memory for a first slot);
 * NULL when nothing was evicted. */
static st_event *ring_push(ev_ring *r, st_event *ev)
{
    if (r->max == 0) return ev;
    if (r->count == r->cap && r->cap < r->max) {
        size_t ncap = r->cap ? r->cap * 2 : RING_MIN;
        if (ncap > r->max || ncap < r->cap) ncap = r->max;
        st_event **nb = malloc(ncap * sizeof *nb);
        if (nb) {
            for (size_t i = 0; i < r->count; i++) nb[i] = r->buf[(r->head + i) % r->cap];
            free(r->buf);
            r->buf = nb;
            r->cap = ncap;
            r->head = 0;
        }
        /* without memory the ring keeps its size and evicts instead */
    }
    st_event *out = NULL;
    if (r->count == r->cap) {
        if (r->cap == 0) return ev;
        out = r->buf[r->head];
        r->head = (r->head + 1) % r->cap;
        r->count--;
    }
    r->buf[(r->head + r->count) % r->cap] = ev;
    r->count++;
    return out;
}

static st_event *ring_pop(ev_ring *r)
{
    if (!r->count) return NULL;
    st_event *e = r->buf[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return e;
}

static st_event *ring_at(const ev_ring *r, size_t i) { return r->buf[(r->head + i) % r->cap]; }

static void ring_clear(ev_ring *r)
{
    st_event *e;
    while ((e = ring_pop(r))) event_unref(e);
    free(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->count = 0;
}

struct strapto_bus_sub {
    gint ref;
    strapto_bus *bus;
    strapto_ctx *ctx;
    int loop;
    strapto_event_fn fn;
    void *user;
    char *prefix; /* never NULL; "" matches everything */
    size_t prefix_len;
    /* under bus->mu */
    strapto_bus_sub *prev, *next;
    int attached;
    /* under mu */
    GMutex mu;
    GCond cond;
    ev_ring q;
    uint64_t dropped;
    int scheduled;    /* a drain is pending or running and will look at q again */
    int warned;       /* the first drop was reported */
    GThread *running; /* thread inside a delivery batch, or NULL */
    GSource *src;     /* NULL once closed */
    gint closed;      /* written under mu; read atomically by the drain */
};

struct strapto_bus {
    strapto_ctx *ctx;
    size_t default_queue;
    GMutex mu;
    /* under mu */
    uint64_t seq;
    ev_ring replay;
    strapto_bus_sub *head, *tail;
    size_t nsubs;
    int closed;
};

typedef struct {
    GSource base;
    strapto_bus_sub *sub; /* holds one reference */
} drain_source;

static void sub_unref(strapto_bus_sub *sub)
{
    if (!g_atomic_int_dec_and_test(&sub->ref)) return;
    ring_clear(&sub->q);
    free(sub->prefix);
    g_mutex_clear(&sub->mu);
    g_cond_clear(&sub->cond);
    free(sub);
}

static int matches(const strapto_bus_sub *sub, const char *type, size_t type_len)
{
    return sub->prefix_len <= type_len && memcmp(type, sub->prefix, sub->prefix_len) == 0;
}

/* ---- validation ---- */

/* A type or type prefix: at most STRAPTO_BUS_MAX_TYPE bytes of printable
 * ASCII (0x20..0x7e). */
static int check_type(const char *s, int allow_empty, size_t *len_out)
{
    size_t n = strnlen(s, STRAPTO_BUS_MAX_TYPE + 1);
    if (n > STRAPTO_BUS_MAX_TYPE) return STRAPTO_ETOOBIG;
    if (n == 0 && !allow_empty) return STRAPTO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return STRAPTO_EINVAL;
    *len_out = n;
    return STRAPTO_OK;
}

/* A source name: at most STRAPTO_BUS_MAX_SOURCE bytes of UTF-8 without
 * control characters (it ends up in logs and in JSON on the bridges). */
static int check_source(const char *s, size_t *len_out)
{
    size_t n = strnlen(s, STRAPTO_BUS_MAX_SOURCE + 1);
    if (n > STRAPTO_BUS_MAX_SOURCE) return STRAPTO_ETOOBIG;
    if (!g_utf8_validate(s, (gssize)n, NULL)) return STRAPTO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) return STRAPTO_EINVAL;
    *len_out = n;
    return STRAPTO_OK;
}

/* ---- delivery ---- */

static gboolean drain_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    strapto_bus_sub *sub = ((drain_source *)s)->sub;
    GThread *self = g_thread_self();
    st_event *batch[DRAIN_BATCH];
    /* Disarm first: a publisher only re-arms after we clear sub->scheduled
     * (under sub->mu, below), so this cannot swallow a later wake-up. */
    g_source_set_ready_time(s, -1);
    for (int round = 0; round < DRAIN_ROUNDS; round++) {
        g_mutex_lock(&sub->mu);
        if (g_atomic_int_get(&sub->closed) || sub->q.count == 0) {
            sub->scheduled = 0;
            g_mutex_unlock(&sub->mu);
            return G_SOURCE_CONTINUE;
        }
        size_t n = 0;
        while (n < DRAIN_BATCH && sub->q.count) batch[n++] = ring_pop(&sub->q);
        sub->running = self;
        g_mutex_unlock(&sub->mu);

        size_t i = 0;
        for (; i < n; i++) {
            /* unsubscribed (by the callback itself, or by a thread now
             * waiting for this batch to end): deliver nothing more */
            if (g_atomic_int_get(&sub->closed)) break;
            sub->fn(&batch[i]->ev, sub->user);
            event_unref(batch[i]);
        }
        for (; i < n; i++) event_unref(batch[i]);

        g_mutex_lock(&sub->mu);
        sub->running = NULL;
        g_cond_broadcast(&sub->cond);
        g_mutex_unlock(&sub->mu);
    }
    /* Still busy: let the loop's other sources run, then come back
     * (sub->scheduled stays set, so publishers do not re-arm). */
    g_source_set_ready_time(s, 0);
    return G_SOURCE_CONTINUE;
}

static void drain_finalize(GSource *s) { sub_unref(((drain_source *)s)->sub); }

static GSourceFuncs drain_funcs = {
    .dispatch = drain_dispatch,
    .finalize = drain_finalize,
};

/* Close a subscription the caller has just unlinked from the bus, and drop
 * the handle's reference. Waits for a delivery batch running on another
 * thread; does not wait when called from inside that batch. */
static void sub_close(strapto_bus_sub *sub)
{
    GThread *self = g_thread_self();
    g_mutex_lock(&sub->mu);
    g_atomic_int_set(&sub->closed, 1);
    ev_ring q = sub->q;
    sub->q.buf = NULL;
    sub->q.cap = sub->q.head = sub->q.count = 0;
    GSource *src = sub->src;
    sub->src = NULL;
    while (sub->running && sub->running != self) g_cond_wait(&sub->cond, &sub->mu);
    int inside = sub->running == self;
    uint64_t dropped = sub->dropped;
    g_mutex_unlock(&sub->mu);

    size_t pending = q.count;
    ring_clear(&q);
    if (src) {
        g_source_destroy(src); /* cancels a pending drain */
        g_source_unref(src);   /* finalize (now, or after the running dispatch) drops its ref */
    }
    st_ctx_release_loop(sub->ctx, sub->loop);
    ST_DEBUG("bus", "unsubscribed prefix \"%s\" (loop %d%s): %zu queued events discarded, %llu dropped in all",
             sub->prefix, sub->loop, inside ? ", from its callback" : "", pending,
             (unsigned long long)dropped);
    sub_unref(sub);
}

/* ---- public API ---- */

int strapto_bus_publish(strapto_bus *bus, const char *type, const char *source,
                        const char *payload_json, uint64_t *seq_out)
{
    if (!bus || !type) return STRAPTO_EINVAL;
    size_t tlen = 0, slen = 0;
    int rc = check_type(type, 0, &tlen);
    if (rc < 0) {
        ST_DEBUG("bus", "publish refused: %s type", rc == STRAPTO_ETOOBIG ? "oversize" : "empty or non-printable");
        return rc;
    }
    if (source && (rc = check_source(source, &slen)) < 0) {
        ST_DEBUG("bus", "publish of \"%s\" refused: %s source", type,
                 rc == STRAPTO_ETOOBIG ? "oversize" : "invalid");
        return rc;
    }
    if (!source) source = "";
    if (!payload_json) payload_json = "{}";
    size_t plen = strnlen(payload_json, (size_t)STRAPTO_BUS_MAX_PAYLOAD + 1);
    if (plen > STRAPTO_BUS_MAX_PAYLOAD) {
        ST_DEBUG("bus", "publish of \"%s\" refused: payload larger than %d bytes", type, STRAPTO_BUS_MAX_PAYLOAD);
        return STRAPTO_ETOOBIG;
    }
    /* Exactly one JSON value, optionally surrounded by whitespace (jansson
     * checks the rest of the buffer since JSON_DISABLE_EOF_CHECK is not set).
     * JSON_ALLOW_NUL: "\u0000" inside a string is valid JSON.
     * JSON_DECODE_INT_AS_REAL: integers beyond int64 (ids, u64 counters) are
     * valid JSON; decoded as doubles they do not overflow. Still refused by
     * jansson: numbers beyond double range (1e400), lone surrogate escapes,
     * nesting deeper than 2048. */
    json_error_t jerr;
    json_t *j = json_loadb(payload_json, plen, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!j) {
        ST_DEBUG("bus", "publish of \"%s\" refused: payload is not one JSON value (%s, line %d column %d)",
                 type, jerr.text, jerr.line, jerr.column);
        return STRAPTO_EPARSE;
    }
    json_decref(j);

    st_event *e = malloc(sizeof *e + tlen + slen + plen + 3);
    if (!e) return STRAPTO_ENOMEM;
    e->ref = 1; /* ours until the end of this function */
    e->type_len = tlen;
    char *p = e->text;
    memcpy(p, type, tlen);
    p[tlen] = 0;
    e->ev.type = p;
    p += tlen + 1;
    memcpy(p, source, slen);
    p[slen] = 0;
    e->ev.source = p;
    p += slen + 1;
    memcpy(p, payload_json, plen);
    p[plen] = 0;
    e->ev.payload = p;
    e->ev.payload_len = plen;

    strapto_bus_sub *warn[MAX_WARN];
    size_t nwarn = 0;
    g_mutex_lock(&bus->mu);
    if (bus->closed) {
        g_mutex_unlock(&bus->mu);
        free(e);
        return STRAPTO_ECLOSED;
    }
    e->ev.seq = ++bus->seq;
    e->ev.timestamp_us = strapto_wall_us();
    event_unref(ring_push(&bus->replay, event_ref(e)));
    for (strapto_bus_sub *sub = bus->head; sub; sub = sub->next) {
        if (!matches(sub, e->ev.type, tlen)) continue;
        g_mutex_lock(&sub->mu);
        if (!g_atomic_int_get(&sub->closed)) {
            st_event *old = ring_push(&sub->q, event_ref(e));
            if (old) {
                event_unref(old);
                sub->dropped++;
                if (!sub->warned) {
                    sub->warned = 1;
                    if (nwarn < MAX_WARN) {
                        g_atomic_int_inc(&sub->ref);
                        warn[nwarn++] = sub;
                    }
                }
            }
            if (!sub->scheduled && sub->q.count) {
                sub->scheduled = 1;
                g_source_set_ready_time(sub->src, 0);
            }
        }
        g_mutex_unlock(&sub->mu);
    }
    uint64_t seq = e->ev.seq;
    g_mutex_unlock(&bus->mu);
    event_unref(e);

    for (size_t i = 0; i < nwarn; i++) {
        ST_WARN("bus", "subscriber to \"%s\" on loop %d is too slow: its queue of %zu is full, "
                "dropping its oldest events (counted, see strapto_bus_sub_dropped; not logged again)",
                warn[i]->prefix, warn[i]->loop, warn[i]->q.max);
        sub_unref(warn[i]);
    }
    if (seq_out) *seq_out = seq;
    return STRAPTO_OK;
}

int strapto_bus_subscribe(strapto_bus *bus, const char *type_prefix, int loop, size_t queue_len,
                          strapto_event_fn fn, void *user, strapto_bus_sub **out)
{
    if (out) *out = NULL;
    if (!bus || !fn || !out) return STRAPTO_EINVAL;
    size_t plen = 0;
    if (type_prefix) {
        int rc = check_type(type_prefix, 1, &plen);
        if (rc < 0) return rc;
    }
    if (loop < -1 || loop >= strapto_ctx_threads(bus->ctx)) return STRAPTO_EINVAL;
    if (queue_len == 0) queue_len = bus->default_queue;
    if (queue_len > SIZE_MAX / (2 * sizeof(st_event *))) return STRAPTO_EINVAL;

    strapto_bus_sub *sub = calloc(1, sizeof *sub);
    char *prefix = malloc(plen + 1);
    if (!sub || !prefix) {
        free(sub);
        free(prefix);
        return STRAPTO_ENOMEM;
    }
    memcpy(prefix, type_prefix ? type_prefix : "", plen);
    prefix[plen] = 0;
    sub->ref = 2; /* the handle and the drain source */
    sub->bus = bus;
    sub->ctx = bus->ctx;
    sub->fn = fn;
    sub->user = user;
    sub->prefix = prefix;
    sub->prefix_len = plen;
    sub->q.max = queue_len;
    g_mutex_init(&sub->mu);
    g_cond_init(&sub->cond);
    sub->loop = st_ctx_acquire_loop(bus->ctx, loop);

    GSource *src = g_source_new(&drain_funcs, sizeof(drain_source));
    ((drain_source *)src)->sub = sub;
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_name(src, "strapto-bus-drain");
    g_source_set_ready_time(src, -1);
    sub->src = src;
    g_source_attach(src, st_ctx_main_context(bus->ctx, sub->loop));

    g_mutex_lock(&bus->mu);
    if (bus->closed) {
        g_mutex_unlock(&bus->mu);
        sub_close(sub);
        return STRAPTO_ECLOSED;
    }
    sub->attached = 1;
    sub->prev = bus->tail;
    if (bus->tail) bus->tail->next = sub;
    else bus->head = sub;
    bus->tail = sub;
    bus->nsubs++;
    g_mutex_unlock(&bus->mu);

    ST_DEBUG("bus", "subscribed to \"%s\" on loop %d, queue %zu", prefix, sub->loop, queue_len);
    *out = sub;
    return STRAPTO_OK;
}

static void unlink_sub(strapto_bus *bus, strapto_bus_sub *sub)
{
    if (sub->prev) sub->prev->next = sub->next;
    else bus->head = sub->next;
    if (sub->next) sub->next->prev = sub->prev;
    else bus->tail = sub->prev;
    sub->prev = sub->next = NULL;
    sub->attached = 0;
    bus->nsubs--;
}

int strapto_bus_unsubscribe(strapto_bus_sub *sub)
{
    if (!sub) return STRAPTO_EINVAL;
    strapto_bus *bus = sub->bus;
    g_mutex_lock(&bus->mu);
    int mine = sub->attached;
    if (mine) unlink_sub(bus, sub);
    g_mutex_unlock(&bus->mu);
    /* Not attached: st_bus_free (context teardown) detached it and is
     * closing it; the handle is freed there. */
    if (mine) sub_close(sub);
    return STRAPTO_OK;
}

uint64_t strapto_bus_sub_dropped(const strapto_bus_sub *csub)
{
    if (!csub) return 0;
    strapto_bus_sub *sub = (strapto_bus_sub *)csub; /* the lock is not part of the value */
    g_mutex_lock(&sub->mu);
    uint64_t d = sub->dropped;
    g_mutex_unlock(&sub->mu);
    return d;
}

int strapto_bus_replay(strapto_bus *bus, const char *type_prefix, strapto_event_fn fn, void *user)
{
    if (!bus || !fn) return STRAPTO_EINVAL;
    size_t plen = 0;
    if (type_prefix) {
        int rc = check_type(type_prefix, 1, &plen);
        if (rc < 0) return rc;
    }
    g_mutex_lock(&bus->mu);
    size_t n = bus->replay.count, m = 0;
    st_event **v = NULL;
    if (n && !(v = malloc(n * sizeof *v))) {
        g_mutex_unlock(&bus->mu);
        return STRAPTO_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        st_event *e = ring_at(&bus->replay, i);
        if (!plen || (plen <= e->type_len && memcmp(e->ev.type, type_prefix, plen) == 0))
            v[m++] = event_ref(e);
    }
    g_mutex_unlock(&bus->mu);
    for (size_t i = 0; i < m; i++) fn(&v[i]->ev, user);
    for (size_t i = 0; i < m; i++) event_unref(v[i]);
    free(v);
    return (int)m;
}

uint64_t strapto_bus_last_seq(strapto_bus *bus)
{
    if (!bus) return 0;
    g_mutex_lock(&bus->mu);
    uint64_t s = bus->seq;
    g_mutex_unlock(&bus->mu);
    return s;
}

/* ---- lifecycle (owned by the context) ---- */

int st_bus_new(strapto_ctx *ctx, int replay, int queue, struct strapto_bus **out)
{
    if (!ctx || !out) return STRAPTO_EINVAL;
    *out = NULL;
    strapto_bus *bus = calloc(1, sizeof *bus);
    if (!bus) return STRAPTO_ENOMEM;
    bus->ctx = ctx;
    bus->default_queue = queue > 0 ? (size_t)queue : 1024;
    bus->replay.max = replay > 0 ? (size_t)replay : 0;
    g_mutex_init(&bus->mu);
    *out = bus;
    return STRAPTO_OK;
}

void st_bus_free(struct strapto_bus *bus)
{
    if (!bus) return;
    g_mutex_lock(&bus->mu);
    bus->closed = 1;
    strapto_bus_sub *list = bus->head;
    size_t n = bus->nsubs;
    for (strapto_bus_sub *s = list; s; s = s->next) s->attached = 0;
    bus->head = bus->tail = NULL;
    bus->nsubs = 0;
    g_mutex_unlock(&bus->mu);
    if (n)
        ST_WARN("bus", "%zu subscription%s still registered at context free (leak); freeing %s",
                n, n == 1 ? "" : "s", n == 1 ? "it" : "them");
    while (list) {
        strapto_bus_sub *next = list->next;
        ST_DEBUG("bus", "freeing leftover subscription to \"%s\" on loop %d", list->prefix, list->loop);
        sub_close(list); /* cancels its drain, waits for a running callback */
        list = next;
    }
    /* No subscription is left; while this ran, publish/subscribe (e.g. from a
     * callback finishing on a loop) were refused with ECLOSED. */
    ring_clear(&bus->replay);
    g_mutex_clear(&bus->mu);
    free(bus);
}
