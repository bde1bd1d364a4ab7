/* Unit tests for the event bus (lib/core/bus.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include "testutil.h"
#include "core/internal.h"
#include "strapto/bus.h"

#define WAIT_MS 20000 /* upper bound of any wait; a passing run never comes near it */

static strapto_ctx *new_ctx(int threads, int replay, int queue)
{
    strapto_ctx_options o;
    strapto_ctx_options_init(&o);
    o.threads = threads;
    o.bus_replay = replay;
    o.bus_queue = queue;
    strapto_ctx *ctx = NULL;
    REQUIRE(strapto_ctx_new(&o, &ctx) == 0 && ctx);
    return ctx;
}

/* Poll `*v` (atomically) until it reaches `want`; 0 on timeout. */
static int wait_atleast(gint *v, int want)
{
    for (int i = 0; i < WAIT_MS; i++) {
        if (g_atomic_int_get(v) >= want) return 1;
        g_usleep(1000);
    }
    return 0;
}

/* ---- log capture ---- */
static GMutex log_mu;
static GString *log_text;

static void log_capture(int level, const char *module, const char *msg, void *user)
{
    g_mutex_lock(&log_mu);
    g_string_append_printf(log_text, "%s %s: %s\n", strapto_log_level_name(level), module, msg);
    g_mutex_unlock(&log_mu);
}

static void log_start(void)
{
    g_mutex_lock(&log_mu);
    if (!log_text) log_text = g_string_new("");
    g_string_truncate(log_text, 0);
    g_mutex_unlock(&log_mu);
    strapto_log_set_handler(log_capture, NULL);
}

/* Stop capturing; returns the captured text (g_free it). */
static char *log_stop(void)
{
    strapto_log_set_handler(NULL, NULL);
    g_mutex_lock(&log_mu);
    char *s = g_strdup(log_text->str);
    g_mutex_unlock(&log_mu);
    return s;
}

static int count_substr(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---- a collector: copies every event it is given ---- */
typedef struct {
    uint64_t seq;
    char *type, *source, *payload;
    size_t payload_len;
    int64_t ts;
    const char *payload_ptr; /* the shared event's address, compared only */
    int on_loop;
} rec;

typedef struct {
    GMutex mu;
    GPtrArray *recs;
    gint n;
    strapto_ctx *ctx;
    int loop; /* expected loop, -1: do not check */
} coll;

static void rec_free(gpointer p)
{
    rec *r = p;
    g_free(r->type);
    g_free(r->source);
    g_free(r->payload);
    g_free(r);
}

static void coll_init(coll *c, strapto_ctx *ctx, int loop)
{
    g_mutex_init(&c->mu);
    c->recs = g_ptr_array_new_with_free_func(rec_free);
    c->n = 0;
    c->ctx = ctx;
    c->loop = loop;
}

static void coll_clear(coll *c)
{
    g_ptr_array_free(c->recs, TRUE);
    g_mutex_clear(&c->mu);
}

static void coll_cb(const strapto_event *ev, void *user)
{
    coll *c = user;
    rec *r = g_new0(rec, 1);
    r->seq = ev->seq;
    r->type = g_strdup(ev->type);
    r->source = g_strdup(ev->source);
    r->payload = g_strdup(ev->payload);
    r->payload_len = ev->payload_len;
    r->ts = ev->timestamp_us;
    r->payload_ptr = ev->payload;
    r->on_loop = c->loop < 0 || st_ctx_on_loop(c->ctx, c->loop);
    g_mutex_lock(&c->mu);
    g_ptr_array_add(c->recs, r);
    g_mutex_unlock(&c->mu);
    g_atomic_int_inc(&c->n);
}

static rec *coll_at(coll *c, guint i)
{
    g_mutex_lock(&c->mu);
    rec *r = i < c->recs->len ? g_ptr_array_index(c->recs, i) : NULL;
    g_mutex_unlock(&c->mu);
    return r;
}

/* ---- 1. basic fields, re-entrant publish, shared events ---- */
typedef struct {
    strapto_bus *bus;
    gint rc_sum;
} pinger;

static void ping_cb(const strapto_event *ev, void *user)
{
    pinger *p = user;
    char buf[64];
    snprintf(buf, sizeof buf, "{\"re\":%" PRIu64 "}", ev->seq);
    /* publishing from a callback must not deadlock */
    g_atomic_int_add(&p->rc_sum, strapto_bus_publish(p->bus, "pong", "ponger", buf, NULL));
}

static void test_basic(void)
{
    strapto_ctx *ctx = new_ctx(2, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    REQUIRE(bus);
    CHECK_EQ_INT(strapto_bus_last_seq(bus), 0);
    coll a, b;
    coll_init(&a, ctx, 0);
    coll_init(&b, ctx, 1);
    strapto_bus_sub *sa = NULL, *sb = NULL;
    CHECK_EQ_INT(strapto_bus_subscribe(bus, NULL, 0, 0, coll_cb, &a, &sa), 0);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", 1, 0, coll_cb, &b, &sb), 0);
    REQUIRE(sa && sb);

    int64_t t0 = strapto_wall_us();
    uint64_t seq = 0;
    CHECK_EQ_INT(strapto_bus_publish(bus, "model_output", "tester", "{\"text\":\"hi\"}", &seq), 0);
    CHECK_EQ_INT(seq, 1);
    CHECK_EQ_INT(strapto_bus_publish(bus, "connection_status", NULL, NULL, &seq), 0);
    CHECK_EQ_INT(seq, 2);
    const char *ws = " [1, 2 ,\"x\"] \n";
    CHECK_EQ_INT(strapto_bus_publish(bus, "error", "", ws, &seq), 0);
    CHECK_EQ_INT(seq, 3);
    int64_t t1 = strapto_wall_us();
    CHECK_EQ_INT(strapto_bus_last_seq(bus), 3);

    REQUIRE(wait_atleast(&a.n, 3) && wait_atleast(&b.n, 3));
    static const char *types[] = {"model_output", "connection_status", "error"};
    static const char *sources[] = {"tester", "", ""};
    const char *payloads[] = {"{\"text\":\"hi\"}", "{}", ws};
    for (int k = 0; k < 2; k++) {
        coll *c = k ? &b : &a;
        for (guint i = 0; i < 3; i++) {
            rec *r = coll_at(c, i);
            REQUIRE(r);
            CHECK_EQ_INT(r->seq, i + 1);
            CHECK_STR(r->type, types[i]);
            CHECK_STR(r->source, sources[i]);
            CHECK_STR(r->payload, payloads[i]); /* stored exactly as given */
            CHECK_EQ_INT(r->payload_len, strlen(payloads[i]));
            CHECK(r->ts >= t0 && r->ts <= t1);
            CHECK(r->on_loop); /* delivered on the subscriber's loop */
        }
    }
    /* one shared immutable event per publish, not a copy per subscriber
     * (the events are still alive in the replay ring) */
    for (guint i = 0; i < 3; i++) CHECK(coll_at(&a, i)->payload_ptr == coll_at(&b, i)->payload_ptr);

    /* publish from inside a callback */
    pinger pg = {.bus = bus};
    coll pongs;
    coll_init(&pongs, ctx, -1);
    strapto_bus_sub *sp = NULL, *spo = NULL;
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "ping", 0, 0, ping_cb, &pg, &sp), 0);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "pong", 1, 0, coll_cb, &pongs, &spo), 0);
    for (int i = 0; i < 10; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "ping", "pinger", NULL, NULL), 0);
    CHECK(wait_atleast(&pongs.n, 10));
    CHECK_EQ_INT(g_atomic_int_get(&pg.rc_sum), 0);
    CHECK_STR(coll_at(&pongs, 0)->source, "ponger");

    CHECK_EQ_INT(strapto_bus_sub_dropped(sa), 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(sa), 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(sb), 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(sp), 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(spo), 0);
    strapto_ctx_free(ctx);
    coll_clear(&a);
    coll_clear(&b);
    coll_clear(&pongs);
}

/* ---- 2. argument checking ---- */
static void nop_cb(const strapto_event *ev, void *user) {}

static void test_errors(void)
{
    strapto_ctx *ctx = new_ctx(1, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    char big[STRAPTO_BUS_MAX_TYPE + 2];

    CHECK_EQ_INT(strapto_bus_publish(NULL, "t", NULL, NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_publish(bus, NULL, NULL, NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_publish(bus, "", NULL, NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_publish(bus, "bad\ntype", NULL, NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_publish(bus, "bad\x7f", NULL, NULL, NULL), STRAPTO_EINVAL);
    memset(big, 'a', sizeof big);
    big[STRAPTO_BUS_MAX_TYPE] = 0;
    CHECK_EQ_INT(strapto_bus_publish(bus, big, NULL, NULL, NULL), 0); /* 128: allowed */
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", big, NULL, NULL), 0);
    big[STRAPTO_BUS_MAX_TYPE] = 'a';
    big[STRAPTO_BUS_MAX_TYPE + 1] = 0;
    CHECK_EQ_INT(strapto_bus_publish(bus, big, NULL, NULL, NULL), STRAPTO_ETOOBIG);
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", big, NULL, NULL), STRAPTO_ETOOBIG);
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", "a\x01", NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", "\xff\xfe", NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", "caf\xc3\xa9", NULL, NULL), 0); /* UTF-8 source */

    static const char *bad[] = {"", " ", "{", "{} {}", "[1]x", "{'a':1}", "nul", "\xff", "1 2",
                                "{\"a\":1}}", "[1,]", "\"abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = strapto_bus_publish(bus, "t", NULL, bad[i], NULL);
        if (rc != STRAPTO_EPARSE) fprintf(stderr, "payload '%s' gave %d\n", bad[i], rc);
        CHECK_EQ_INT(rc, STRAPTO_EPARSE);
    }
    static const char *good[] = {"1", "\"s\"", "null", " {} ", "[]\n", "\"\\u0000\"", "{\"a\":[1,{\"b\":null}]}",
                                 "-1.5e3", "18446744073709551615", "{\"id\":-99999999999999999999999}"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int rc = strapto_bus_publish(bus, "t", NULL, good[i], NULL);
        if (rc != 0) fprintf(stderr, "payload '%s' gave %d\n", good[i], rc);
        CHECK_EQ_INT(rc, 0);
    }
    /* payload bound: exactly 1 MiB is fine, one byte more is not */
    size_t max = STRAPTO_BUS_MAX_PAYLOAD;
    char *p = malloc(max + 2);
    REQUIRE(p);
    p[0] = '"';
    memset(p + 1, 'x', max - 2);
    p[max - 1] = '"';
    p[max] = 0;
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", NULL, p, NULL), 0);
    p[max - 1] = 'x';
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", NULL, p, NULL), STRAPTO_EPARSE); /* unterminated */
    p[max] = '"';
    p[max + 1] = 0;
    CHECK_EQ_INT(strapto_bus_publish(bus, "t", NULL, p, NULL), STRAPTO_ETOOBIG);
    free(p);
    /* refused publishes do not use sequence numbers */
    CHECK_EQ_INT(strapto_bus_last_seq(bus), 3 + sizeof good / sizeof *good + 1);

    strapto_bus_sub *s = (strapto_bus_sub *)&s;
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", 0, 0, NULL, NULL, &s), STRAPTO_EINVAL);
    CHECK(s == NULL);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", 0, 0, nop_cb, NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_subscribe(NULL, "", 0, 0, nop_cb, NULL, &s), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", 1, 0, nop_cb, NULL, &s), STRAPTO_EINVAL); /* 1 thread */
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", -2, 0, nop_cb, NULL, &s), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "a\tb", 0, 0, nop_cb, NULL, &s), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, big, 0, 0, nop_cb, NULL, &s), STRAPTO_ETOOBIG);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "x", -1, 0, nop_cb, NULL, &s), 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(s), 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_sub_dropped(NULL), 0);
    CHECK_EQ_INT(strapto_bus_last_seq(NULL), 0);
    CHECK_EQ_INT(strapto_bus_replay(NULL, "", nop_cb, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_replay(bus, "", NULL, NULL), STRAPTO_EINVAL);
    CHECK_EQ_INT(strapto_bus_replay(bus, big, nop_cb, NULL), STRAPTO_ETOOBIG);
    CHECK(strapto_ctx_bus(NULL) == NULL);
    strapto_ctx_free(ctx);
}

/* ---- 3. prefix filtering ---- */
static void test_prefix(void)
{
    strapto_ctx *ctx = new_ctx(2, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    const char *prefixes[] = {"stt_", "llm_", NULL, "llm_token", "nothing"};
    const int want[] = {2, 2, 6, 1, 0};
    coll c[5];
    strapto_bus_sub *s[5];
    for (int i = 0; i < 5; i++) {
        coll_init(&c[i], ctx, -1);
        CHECK_EQ_INT(strapto_bus_subscribe(bus, prefixes[i], i % 2 ? -1 : 0, 0, coll_cb, &c[i], &s[i]), 0);
    }
    const char *types[] = {"stt_partial", "llm_token", "llm_done", "tts_audio", "llm", "stt_final"};
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(strapto_bus_publish(bus, types[i], NULL, NULL, NULL), 0);
    for (int i = 0; i < 5; i++) CHECK(wait_atleast(&c[i].n, want[i]));
    g_usleep(20000); /* room for a wrong extra delivery to show up */
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(g_atomic_int_get(&c[i].n), want[i]);
        const char *pre = prefixes[i] ? prefixes[i] : "";
        for (guint k = 0; k < c[i].recs->len; k++) {
            rec *r = coll_at(&c[i], k);
            CHECK(strncmp(r->type, pre, strlen(pre)) == 0);
            if (k) CHECK(r->seq > coll_at(&c[i], k - 1)->seq);
        }
        CHECK_EQ_INT(strapto_bus_unsubscribe(s[i]), 0);
        coll_clear(&c[i]);
    }
    strapto_ctx_free(ctx);
}

/* ---- 4. ordering: 8 publishers x 20000 events, 3 subscribers on 3 loops ---- */
#define NPUB 8
#define NEV 20000

typedef struct {
    strapto_ctx *ctx;
    int loop;
    int next[NPUB];  /* next index expected from each publisher (loop thread only) */
    uint64_t last_seq;
    gint n, errors, wrong_thread;
} order_sub;

static void order_cb(const strapto_event *ev, void *user)
{
    order_sub *o = user;
    int p = -1, i = -1;
    if (sscanf(ev->payload, "{\"p\":%d,\"i\":%d}", &p, &i) != 2 || p < 0 || p >= NPUB) {
        g_atomic_int_inc(&o->errors);
        return;
    }
    char src[8];
    snprintf(src, sizeof src, "p%d", p);
    if (strcmp(ev->source, src) || strcmp(ev->type, "llm_token")) g_atomic_int_inc(&o->errors);
    if (i != o->next[p]) g_atomic_int_inc(&o->errors);
    o->next[p] = i + 1;
    if (ev->seq <= o->last_seq) g_atomic_int_inc(&o->errors);
    o->last_seq = ev->seq;
    if ((g_atomic_int_get(&o->n) & 1023) == 0 && !st_ctx_on_loop(o->ctx, o->loop))
        g_atomic_int_inc(&o->wrong_thread);
    g_atomic_int_inc(&o->n);
}

typedef struct {
    strapto_bus *bus;
    int id;
    int errors;
} publisher;

static gpointer publisher_main(gpointer data)
{
    publisher *pb = data;
    char src[8], buf[64];
    snprintf(src, sizeof src, "p%d", pb->id);
    uint64_t last = 0;
    for (int i = 0; i < NEV; i++) {
        snprintf(buf, sizeof buf, "{\"p\":%d,\"i\":%d}", pb->id, i);
        uint64_t seq = 0;
        if (strapto_bus_publish(pb->bus, "llm_token", src, buf, &seq) != 0 || seq <= last) pb->errors++;
        last = seq;
    }
    return NULL;
}

static void test_ordering(void)
{
    strapto_ctx *ctx = new_ctx(4, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    order_sub subs[3];
    strapto_bus_sub *h[3], *other = NULL;
    memset(subs, 0, sizeof subs);
    for (int k = 0; k < 3; k++) {
        subs[k].ctx = ctx;
        subs[k].loop = k;
        CHECK_EQ_INT(strapto_bus_subscribe(bus, k == 2 ? "llm_" : "", k, (size_t)NPUB * NEV, order_cb,
                                           &subs[k], &h[k]), 0);
    }
    /* a subscriber that matches nothing must not disturb anything */
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "stt_", 3, 4, nop_cb, NULL, &other), 0);
    publisher pubs[NPUB];
    GThread *th[NPUB];
    for (int i = 0; i < NPUB; i++) {
        pubs[i] = (publisher){.bus = bus, .id = i};
        th[i] = g_thread_new("pub", publisher_main, &pubs[i]);
    }
    for (int i = 0; i < NPUB; i++) {
        g_thread_join(th[i]);
        CHECK_EQ_INT(pubs[i].errors, 0);
    }
    CHECK_EQ_INT(strapto_bus_last_seq(bus), NPUB * NEV);
    for (int k = 0; k < 3; k++) {
        CHECK(wait_atleast(&subs[k].n, NPUB * NEV));
        CHECK_EQ_INT(g_atomic_int_get(&subs[k].n), NPUB * NEV);
        CHECK_EQ_INT(g_atomic_int_get(&subs[k].errors), 0);
        CHECK_EQ_INT(g_atomic_int_get(&subs[k].wrong_thread), 0);
        CHECK_EQ_INT(subs[k].last_seq, NPUB * NEV);
        for (int p = 0; p < NPUB; p++) CHECK_EQ_INT(subs[k].next[p], NEV);
        CHECK_EQ_INT(strapto_bus_sub_dropped(h[k]), 0);
        CHECK_EQ_INT(strapto_bus_unsubscribe(h[k]), 0);
    }
    CHECK_EQ_INT(strapto_bus_sub_dropped(other), 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(other), 0);
    strapto_ctx_free(ctx);
}

/* ---- 5. replay ring ---- */
typedef struct {
    uint64_t seqs[512];
    int n;
    strapto_bus *bus; /* publish from the replay callback when set */
    int publish_rc;
} replay_acc;

static void replay_cb(const strapto_event *ev, void *user)
{
    replay_acc *r = user;
    if (r->n < 512) r->seqs[r->n] = ev->seq;
    r->n++;
    char want[32];
    snprintf(want, sizeof want, "%" PRIu64, ev->seq);
    if (strcmp(ev->payload, want)) r->publish_rc = -100; /* payload mismatch */
    if (r->bus) r->publish_rc |= strapto_bus_publish(r->bus, "c_evt", NULL, "0", NULL);
}

static void test_replay(void)
{
    strapto_ctx *ctx = new_ctx(1, -1, 0); /* default ring: 100 */
    strapto_bus *bus = strapto_ctx_bus(ctx);
    replay_acc r = {0};
    CHECK_EQ_INT(strapto_bus_replay(bus, "", replay_cb, &r), 0);
    for (int i = 1; i <= 250; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        CHECK_EQ_INT(strapto_bus_publish(bus, i % 5 == 0 ? "b_evt" : "a_evt", NULL, buf, NULL), 0);
    }
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(strapto_bus_replay(bus, NULL, replay_cb, &r), 100);
    CHECK_EQ_INT(r.n, 100);
    CHECK_EQ_INT(r.publish_rc, 0);
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(r.seqs[i], 151 + i);
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(strapto_bus_replay(bus, "b_", replay_cb, &r), 20);
    for (int i = 0; i < 20; i++) CHECK_EQ_INT(r.seqs[i], 155 + 5 * i);
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(strapto_bus_replay(bus, "a_evt", replay_cb, &r), 80);
    CHECK_EQ_INT(r.seqs[0], 151);
    CHECK_EQ_INT(r.seqs[79], 249);
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(strapto_bus_replay(bus, "zzz", replay_cb, &r), 0);
    /* callbacks run outside the bus lock: publishing from one works, and the
     * replay still covers the snapshot taken when it started */
    memset(&r, 0, sizeof r);
    r.bus = bus;
    CHECK_EQ_INT(strapto_bus_replay(bus, "b_", replay_cb, &r), 20);
    CHECK_EQ_INT(r.publish_rc, 0);
    CHECK_EQ_INT(strapto_bus_last_seq(bus), 270);
    memset(&r, 0, sizeof r);
    /* the ring now holds 171..270: 20 c_evt pushed 20 old ones out */
    CHECK_EQ_INT(strapto_bus_replay(bus, "b_", replay_cb, &r), 16);
    CHECK_EQ_INT(r.seqs[0], 175);
    CHECK_EQ_INT(r.seqs[15], 250);
    strapto_ctx_free(ctx);

    ctx = new_ctx(1, 0, 0); /* no ring */
    bus = strapto_ctx_bus(ctx);
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "a", NULL, "1", NULL), 0);
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(strapto_bus_replay(bus, "", replay_cb, &r), 0);
    strapto_ctx_free(ctx);

    ctx = new_ctx(1, 3, 0);
    bus = strapto_ctx_bus(ctx);
    for (int i = 1; i <= 2; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        CHECK_EQ_INT(strapto_bus_publish(bus, "a", NULL, buf, NULL), 0);
    }
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(strapto_bus_replay(bus, "", replay_cb, &r), 2);
    for (int i = 3; i <= 7; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        CHECK_EQ_INT(strapto_bus_publish(bus, "a", NULL, buf, NULL), 0);
    }
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(strapto_bus_replay(bus, "", replay_cb, &r), 3);
    CHECK_EQ_INT(r.seqs[0], 5);
    CHECK_EQ_INT(r.seqs[2], 7);
    CHECK_EQ_INT(r.publish_rc, 0);
    strapto_ctx_free(ctx);
}

/* ---- 6. a blocked subscriber: bounded queue, drops, publisher never blocks ---- */
#define DROP_Q 10
#define DROP_N 1000

typedef struct {
    GMutex mu;
    GCond cond;
    int released;
    gint in_cb;   /* inside the first (blocked) callback */
    gint n;
    uint64_t seqs[DROP_N];
} gate_sub;

static void gate_cb(const strapto_event *ev, void *user)
{
    gate_sub *g = user;
    int k = g_atomic_int_get(&g->n);
    if (k < DROP_N) g->seqs[k] = ev->seq;
    if (k == 0) {
        g_atomic_int_set(&g->in_cb, 1);
        g_mutex_lock(&g->mu);
        while (!g->released) g_cond_wait(&g->cond, &g->mu);
        g_mutex_unlock(&g->mu);
        g_atomic_int_set(&g->in_cb, 0);
    }
    g_atomic_int_inc(&g->n);
}

static void test_drops(void)
{
    strapto_ctx *ctx = new_ctx(2, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    gate_sub g;
    memset(&g, 0, sizeof g);
    g_mutex_init(&g.mu);
    g_cond_init(&g.cond);
    strapto_bus_sub *s = NULL;
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "drop_", 1, DROP_Q, gate_cb, &g, &s), 0);
    log_start();
    CHECK_EQ_INT(strapto_bus_publish(bus, "drop_evt", NULL, NULL, NULL), 0);
    REQUIRE(wait_atleast(&g.in_cb, 1)); /* the callback holds event 1 and blocks */
    for (int i = 1; i < DROP_N; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "drop_evt", NULL, "[]", NULL), 0);
    /* every publish returned while the callback is still blocked */
    CHECK_EQ_INT(g_atomic_int_get(&g.in_cb), 1);
    CHECK_EQ_INT(g_atomic_int_get(&g.n), 0);
    CHECK_EQ_INT(strapto_bus_sub_dropped(s), DROP_N - 1 - DROP_Q);
    g_mutex_lock(&g.mu);
    g.released = 1;
    g_cond_broadcast(&g.cond);
    g_mutex_unlock(&g.mu);
    CHECK(wait_atleast(&g.n, 1 + DROP_Q));
    g_usleep(20000);
    int delivered = g_atomic_int_get(&g.n);
    CHECK_EQ_INT(delivered, 1 + DROP_Q);
    CHECK_EQ_INT(strapto_bus_sub_dropped(s), DROP_N - (uint64_t)delivered);
    /* the newest events survived, in order */
    CHECK_EQ_INT(g.seqs[0], 1);
    for (int i = 1; i < delivered && i <= DROP_Q; i++) CHECK_EQ_INT(g.seqs[i], DROP_N - DROP_Q + i);
    char *log = log_stop();
    /* one warning for the first drop, naming the prefix; none per drop */
    CHECK_EQ_INT(count_substr(log, "warn bus:"), 1);
    CHECK(strstr(log, "\"drop_\"") != NULL);
    g_free(log);
    CHECK_EQ_INT(strapto_bus_unsubscribe(s), 0);
    strapto_ctx_free(ctx);
    g_mutex_clear(&g.mu);
    g_cond_clear(&g.cond);
}

/* ---- 7. unsubscribe from inside the callback ---- */
typedef struct {
    strapto_bus_sub *self;
    gint n;
    int rc;
} selfunsub;

static void selfunsub_cb(const strapto_event *ev, void *user)
{
    selfunsub *u = user;
    if (g_atomic_int_add(&u->n, 1) == 0) u->rc = strapto_bus_unsubscribe(u->self);
}

typedef struct {
    GMutex mu;
    GCond cond;
    int open;
    gint entered;
} loop_gate;

static void gate_task(void *user)
{
    loop_gate *lg = user;
    g_atomic_int_set(&lg->entered, 1);
    g_mutex_lock(&lg->mu);
    while (!lg->open) g_cond_wait(&lg->cond, &lg->mu);
    g_mutex_unlock(&lg->mu);
}

static void gate_open(loop_gate *lg)
{
    g_mutex_lock(&lg->mu);
    lg->open = 1;
    g_cond_broadcast(&lg->cond);
    g_mutex_unlock(&lg->mu);
}

static void nothing_task(void *user) {}

static void test_unsub_inside(void)
{
    strapto_ctx *ctx = new_ctx(2, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    selfunsub u = {0};
    coll w;
    coll_init(&w, ctx, 0);
    strapto_bus_sub *ws = NULL;
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", 0, 0, selfunsub_cb, &u, &u.self), 0);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", 0, 0, coll_cb, &w, &ws), 0);
    /* hold loop 0 so that all 100 events are queued before the first drain:
     * the callback unsubscribes in the middle of a 64-event batch */
    loop_gate lg;
    memset(&lg, 0, sizeof lg);
    g_mutex_init(&lg.mu);
    g_cond_init(&lg.cond);
    CHECK_EQ_INT(strapto_ctx_post(ctx, 0, gate_task, &lg), 0);
    REQUIRE(wait_atleast(&lg.entered, 1));
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "e", NULL, NULL, NULL), 0);
    gate_open(&lg);
    CHECK(wait_atleast(&w.n, 100));
    st_ctx_run_sync(ctx, 0, nothing_task, NULL);
    /* more events after the unsubscribe reach the witness only */
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(strapto_bus_publish(bus, "e", NULL, NULL, NULL), 0);
    CHECK(wait_atleast(&w.n, 200));
    g_usleep(20000);
    CHECK_EQ_INT(g_atomic_int_get(&u.n), 1);
    CHECK_EQ_INT(u.rc, 0);
    CHECK_EQ_INT(strapto_bus_unsubscribe(ws), 0);
    strapto_ctx_free(ctx);
    coll_clear(&w);
    g_mutex_clear(&lg.mu);
    g_cond_clear(&lg.cond);
}

/* ---- 8. unsubscribe from another thread while events flow ---- */
typedef struct {
    gint in_cb, n, after, violations;
} flow_state;

static void flow_cb(const strapto_event *ev, void *user)
{
    flow_state *f = user; /* freed right after unsubscribe: ASan catches a late call */
    g_atomic_int_set(&f->in_cb, 1);
    if (g_atomic_int_get(&f->after)) g_atomic_int_inc(&f->violations);
    if ((ev->seq & 3) == 0) g_usleep(100); /* widen the window for unsubscribing mid-callback */
    g_atomic_int_inc(&f->n);
    g_atomic_int_set(&f->in_cb, 0);
}

typedef struct {
    strapto_bus *bus;
    gint stop;
    int errors;
    long count;
} flow_pub;

static gpointer flow_pub_main(gpointer data)
{
    flow_pub *fp = data;
    while (!g_atomic_int_get(&fp->stop)) {
        if (strapto_bus_publish(fp->bus, "flow", "flower", "{\"x\":1}", NULL) != 0) fp->errors++;
        if ((++fp->count & 63) == 0) g_usleep(50);
    }
    return NULL;
}

typedef struct {
    strapto_bus_sub *sub;
    int rc;
} unsub_task_arg;

static void unsub_task(void *user)
{
    unsub_task_arg *a = user;
    a->rc = strapto_bus_unsubscribe(a->sub);
}

static void test_unsub_other_thread(void)
{
    strapto_ctx *ctx = new_ctx(3, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    flow_pub fp = {.bus = bus};
    log_start(); /* the slow callbacks make the bus warn about drops: expected */
    GThread *th = g_thread_new("flow", flow_pub_main, &fp);
    int mid_callback = 0;
    for (int round = 0; round < 30; round++) {
        flow_state *f = g_new0(flow_state, 1);
        strapto_bus_sub *s = NULL;
        int loop = round % 3;
        CHECK_EQ_INT(strapto_bus_subscribe(bus, "flow", loop, 64, flow_cb, f, &s), 0);
        CHECK(wait_atleast(&f->n, 5 + round % 7));
        mid_callback += g_atomic_int_get(&f->in_cb);
        if (round % 2) {
            /* from another loop's thread */
            unsub_task_arg a = {.sub = s, .rc = -99};
            st_ctx_run_sync(ctx, (loop + 1) % 3, unsub_task, &a);
            CHECK_EQ_INT(a.rc, 0);
        } else {
            CHECK_EQ_INT(strapto_bus_unsubscribe(s), 0);
        }
        g_atomic_int_set(&f->after, 1);
        CHECK_EQ_INT(g_atomic_int_get(&f->in_cb), 0); /* not running when unsubscribe returned */
        int n = g_atomic_int_get(&f->n);
        g_usleep(2000);
        CHECK_EQ_INT(g_atomic_int_get(&f->n), n); /* and not called again */
        CHECK_EQ_INT(g_atomic_int_get(&f->violations), 0);
        g_free(f);
    }
    g_atomic_int_set(&fp.stop, 1);
    g_thread_join(th);
    g_free(log_stop());
    CHECK_EQ_INT(fp.errors, 0);
    fprintf(stderr, "  unsubscribe while flowing: %ld events published, %d/30 unsubscribes began mid-callback\n",
            fp.count, mid_callback);
    strapto_ctx_free(ctx);
}

/* ---- 9. context freed with subscriptions left ---- */
typedef struct {
    loop_gate gate;
    gint entered, done, n;
} slow_state;

static void slow_cb(const strapto_event *ev, void *user)
{
    slow_state *s = user;
    g_atomic_int_inc(&s->n);
    g_atomic_int_set(&s->entered, 1);
    g_mutex_lock(&s->gate.mu);
    while (!s->gate.open) g_cond_wait(&s->gate.cond, &s->gate.mu);
    g_mutex_unlock(&s->gate.mu);
    g_atomic_int_set(&s->done, 1);
}

static void sleep_task(void *user) { g_usleep(100000); }

/* Opens the slow callback's gate once strapto_ctx_free is under way (its bus
 * warning was logged), i.e. while it waits for that callback. */
static gpointer opener_main(gpointer data)
{
    slow_state *s = data;
    for (int i = 0; i < WAIT_MS; i++) {
        g_mutex_lock(&log_mu);
        int seen = strstr(log_text->str, "still registered") != NULL;
        g_mutex_unlock(&log_mu);
        if (seen) break;
        g_usleep(1000);
    }
    g_usleep(50000);
    gate_open(&s->gate);
    return NULL;
}

static void test_ctx_free_with_subs(void)
{
    strapto_ctx *ctx = new_ctx(2, -1, 0);
    strapto_bus *bus = strapto_ctx_bus(ctx);
    slow_state slow;
    memset(&slow, 0, sizeof slow);
    g_mutex_init(&slow.gate.mu);
    g_cond_init(&slow.gate.cond);
    strapto_bus_sub *s1, *s2, *s3;
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "slow", 1, 0, slow_cb, &slow, &s3), 0);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "", 0, 4, nop_cb, NULL, &s1), 0);
    CHECK_EQ_INT(strapto_bus_subscribe(bus, "x", -1, 0, nop_cb, NULL, &s2), 0);
    CHECK_EQ_INT(strapto_bus_publish(bus, "slow", NULL, NULL, NULL), 0);
    REQUIRE(wait_atleast(&slow.entered, 1)); /* a callback is running (blocked) on loop 1 */
    CHECK_EQ_INT(strapto_ctx_post(ctx, 0, sleep_task, NULL), 0); /* loop 0 busy: deliveries stay queued */
    log_start(); /* s1 (queue 4) drops, and warns: expected */
    for (int i = 0; i < 50; i++) {
        CHECK_EQ_INT(strapto_bus_publish(bus, "x_evt", NULL, "[1]", NULL), 0);
        CHECK_EQ_INT(strapto_bus_publish(bus, "slow", NULL, "[2]", NULL), 0);
    }
    GThread *opener = g_thread_new("opener", opener_main, &slow);
    strapto_ctx_free(ctx); /* frees s1, s2, s3; cancels queued deliveries; waits for slow_cb */
    g_thread_join(opener);
    char *log = log_stop();
    CHECK_EQ_INT(g_atomic_int_get(&slow.done), 1);
    CHECK_EQ_INT(g_atomic_int_get(&slow.n), 1); /* its 50 queued events were cancelled */
    CHECK(strstr(log, "warn bus: 3 subscriptions still registered") != NULL);
    g_free(log);
    g_mutex_clear(&slow.gate.mu);
    g_cond_clear(&slow.gate.cond);
}

int main(void)
{
    int64_t t0 = strapto_now_us();
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"basic", test_basic},
        {"errors", test_errors},
        {"prefix", test_prefix},
        {"ordering", test_ordering},
        {"replay", test_replay},
        {"drops", test_drops},
        {"unsubscribe inside callback", test_unsub_inside},
        {"unsubscribe from another thread", test_unsub_other_thread},
        {"ctx free with subscriptions", test_ctx_free_with_subs},
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        int64_t t = strapto_now_us();
        int before = tu_failures;
        tests[i].fn();
        fprintf(stderr, "%s %s (%.2fs)\n", tu_failures == before ? "ok  " : "FAIL", tests[i].name,
                (strapto_now_us() - t) / 1e6);
    }
    if (log_text) g_string_free(log_text, TRUE);
    fprintf(stderr, "total %.2fs\n", (strapto_now_us() - t0) / 1e6);
    TEST_DONE();
}
