/* Peer connection and data channel behaviour, two peers in one process:
 * messages of every kind, channel properties across DCEP, negotiated ids,
 * buffered amount and its low callback, size bounds, closing and freeing
 * from inside callbacks, malformed SDPs, and garbage DTLS/SCTP/DCEP input
 * while another pair keeps exchanging messages. */
#include <dirent.h>
#include <stdatomic.h>
#include <unistd.h>
#include "rtc/dcep.h"
#include "rtc/peer_internal.h"
#include "testutil.h"

#define WAIT_UNTIL(cond, ms)                                              \
    do {                                                                  \
        for (int _i = 0; _i < (ms) && !(cond); _i++) g_usleep(1000);      \
    } while (0)

/* ---- an in-process pair with direct signaling ---- */

typedef struct side side;
typedef struct pair pair;

struct side {
    pair *p;
    strapto_peer *pc;
    side *other;
    atomic_int state;
    atomic_int remote_channels;
    strapto_dc *remote_dc; /* last channel the remote opened */
    GMutex mu;
    GPtrArray *msgs;       /* GBytes, first byte 0/1 = binary flag */
    atomic_int opens, closes, lows, failed;
    int close_in_message;  /* close the channel from inside on_message */
    int free_in_message;   /* free the peer from inside on_message */
};

struct pair {
    side a, b;
};

static void push_msg(side *s, const void *data, size_t len, int binary)
{
    uint8_t *buf = g_malloc(len + 1);
    buf[0] = (uint8_t)binary;
    if (len) memcpy(buf + 1, data, len);
    g_mutex_lock(&s->mu);
    g_ptr_array_add(s->msgs, g_bytes_new_take(buf, len + 1));
    g_mutex_unlock(&s->mu);
}

static int n_msgs(side *s)
{
    g_mutex_lock(&s->mu);
    int n = (int)s->msgs->len;
    g_mutex_unlock(&s->mu);
    return n;
}

static void dc_open(strapto_dc *dc, void *u) { atomic_fetch_add(&((side *)u)->opens, 1); }
static void dc_close(strapto_dc *dc, void *u) { atomic_fetch_add(&((side *)u)->closes, 1); }
static void dc_low(strapto_dc *dc, void *u) { atomic_fetch_add(&((side *)u)->lows, 1); }

static void dc_message(strapto_dc *dc, const void *data, size_t len, int binary, void *u)
{
    side *s = u;
    push_msg(s, data, len, binary);
    if (s->close_in_message) strapto_dc_close(dc);
    if (s->free_in_message && s->pc) {
        strapto_peer *pc = s->pc;
        s->pc = NULL;
        strapto_peer_free(pc);
    }
}

static strapto_dc_callbacks cbs_for(side *s)
{
    strapto_dc_callbacks c = {dc_open, dc_message, dc_close, dc_low, s};
    return c;
}

static void on_candidate(strapto_peer *pc, const char *cand, const char *mid, int idx, void *u)
{
    side *s = u;
    if (s->other->pc) strapto_peer_add_remote_candidate(s->other->pc, cand, mid);
}

static void on_state(strapto_peer *pc, int st, void *u)
{
    side *s = u;
    if (st == STRAPTO_PEER_FAILED) atomic_fetch_add(&s->failed, 1);
    atomic_store(&s->state, st);
}

static void on_datachannel(strapto_peer *pc, strapto_dc *dc, void *u)
{
    side *s = u;
    strapto_dc_callbacks c = cbs_for(s);
    strapto_dc_set_callbacks(dc, &c);
    s->remote_dc = dc;
    atomic_fetch_add(&s->remote_channels, 1);
}

static void side_init(pair *p, side *s, side *other)
{
    memset(s, 0, sizeof *s);
    s->p = p;
    s->other = other;
    g_mutex_init(&s->mu);
    s->msgs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
}

static void side_clear(side *s)
{
    if (s->pc) strapto_peer_free(s->pc);
    s->pc = NULL;
    g_ptr_array_free(s->msgs, TRUE);
    g_mutex_clear(&s->mu);
}

/* Create both peers; `setup` may create channels before the offer. */
static int pair_new(strapto_ctx *ctx, pair *p, size_t max_buffered)
{
    side_init(p, &p->a, &p->b);
    side_init(p, &p->b, &p->a);
    strapto_peer_config cfg;
    strapto_peer_config_init(&cfg);
    cfg.local_addresses = "127.0.0.1";
    cfg.max_buffered = max_buffered;
    strapto_peer_callbacks ca = {on_candidate, on_state, on_datachannel, &p->a};
    strapto_peer_callbacks cb = {on_candidate, on_state, on_datachannel, &p->b};
    if (strapto_peer_new(ctx, &cfg, &ca, &p->a.pc) < 0) return -1;
    if (strapto_peer_new(ctx, &cfg, &cb, &p->b.pc) < 0) return -1;
    return 0;
}

static int pair_connect(pair *p)
{
    char *offer = NULL, *answer = NULL;
    int rc = strapto_peer_create_offer(p->a.pc, &offer);
    if (rc == 0) rc = strapto_peer_set_remote_description(p->b.pc, "offer", offer);
    if (rc == 0) rc = strapto_peer_create_answer(p->b.pc, &answer);
    if (rc == 0) rc = strapto_peer_set_remote_description(p->a.pc, "answer", answer);
    strapto_free(offer);
    strapto_free(answer);
    if (rc < 0) return rc;
    WAIT_UNTIL(atomic_load(&p->a.state) == STRAPTO_PEER_CONNECTED && atomic_load(&p->b.state) == STRAPTO_PEER_CONNECTED,
               5000);
    return atomic_load(&p->a.state) == STRAPTO_PEER_CONNECTED ? 0 : -1;
}

static void pair_free(pair *p)
{
    side_clear(&p->a);
    side_clear(&p->b);
}

static GBytes *msg_at(side *s, int i)
{
    g_mutex_lock(&s->mu);
    GBytes *b = i < (int)s->msgs->len ? g_bytes_ref(g_ptr_array_index(s->msgs, i)) : NULL;
    g_mutex_unlock(&s->mu);
    return b;
}

static int msg_equals(side *s, int i, const void *data, size_t len, int binary)
{
    GBytes *b = msg_at(s, i);
    if (!b) return 0;
    size_t n;
    const uint8_t *d = g_bytes_get_data(b, &n);
    int ok = n == len + 1 && d[0] == binary && (len == 0 || !memcmp(d + 1, data, len));
    g_bytes_unref(b);
    return ok;
}

/* ---- tests ---- */

static void test_messages(strapto_ctx *ctx)
{
    pair p;
    REQUIRE(pair_new(ctx, &p, 0) == 0);
    strapto_dc_init init;
    strapto_dc_init_default(&init);
    init.label = "chat";
    init.protocol = "json";
    strapto_dc_callbacks ca = cbs_for(&p.a);
    strapto_dc *dc = NULL;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &dc), 0);
    CHECK_EQ_INT(strapto_dc_state(dc), STRAPTO_DC_CONNECTING);
    CHECK_EQ_INT(strapto_dc_send(dc, "x", 1, 0), STRAPTO_ESTATE); /* not open yet */
    REQUIRE(pair_connect(&p) == 0);
    WAIT_UNTIL(atomic_load(&p.a.opens) == 1 && atomic_load(&p.b.opens) == 1, 3000);
    CHECK_EQ_INT(atomic_load(&p.a.opens), 1);
    CHECK_EQ_INT(atomic_load(&p.b.remote_channels), 1);
    REQUIRE(p.b.remote_dc != NULL);
    CHECK_STR(strapto_dc_label(p.b.remote_dc), "chat");
    CHECK_STR(strapto_dc_protocol(p.b.remote_dc), "json");
    CHECK_EQ_INT(strapto_dc_id(p.b.remote_dc), strapto_dc_id(dc));
    CHECK_EQ_INT(strapto_dc_ordered(p.b.remote_dc), 1);

    /* every kind of message, both ways */
    static uint8_t big[256 * 1024];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 + 3);
    CHECK_EQ_INT(strapto_dc_send(dc, "héllo", strlen("héllo"), 0), 0);
    CHECK_EQ_INT(strapto_dc_send(dc, "", 0, 0), 0);
    CHECK_EQ_INT(strapto_dc_send(dc, NULL, 0, 1), 0);
    CHECK_EQ_INT(strapto_dc_send(dc, big, sizeof big, 1), 0);
    CHECK_EQ_INT(strapto_dc_send(dc, big, sizeof big + 1, 1), STRAPTO_ETOOBIG);
    WAIT_UNTIL(n_msgs(&p.b) == 4, 3000);
    CHECK_EQ_INT(n_msgs(&p.b), 4);
    CHECK(msg_equals(&p.b, 0, "héllo", strlen("héllo"), 0));
    CHECK(msg_equals(&p.b, 1, "", 0, 0));
    CHECK(msg_equals(&p.b, 2, "", 0, 1));
    CHECK(msg_equals(&p.b, 3, big, sizeof big, 1));
    CHECK_EQ_INT(strapto_dc_send(p.b.remote_dc, "back", 4, 1), 0);
    WAIT_UNTIL(n_msgs(&p.a) == 1, 3000);
    CHECK(msg_equals(&p.a, 0, "back", 4, 1));

    /* closing one side closes both */
    CHECK_EQ_INT(strapto_dc_close(dc), 0);
    WAIT_UNTIL(atomic_load(&p.a.closes) == 1 && atomic_load(&p.b.closes) == 1, 3000);
    CHECK_EQ_INT(atomic_load(&p.a.closes), 1);
    CHECK_EQ_INT(atomic_load(&p.b.closes), 1);
    /* the peer connection stays up; a new channel opens */
    CHECK_EQ_INT(strapto_peer_state(p.a.pc), STRAPTO_PEER_CONNECTED);
    init.label = "second";
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &dc), 0);
    WAIT_UNTIL(atomic_load(&p.b.remote_channels) == 2, 3000);
    CHECK_EQ_INT(atomic_load(&p.b.remote_channels), 2);

    /* closing the peer: the remote sees it close */
    strapto_peer_close(p.a.pc);
    WAIT_UNTIL(atomic_load(&p.b.state) == STRAPTO_PEER_CLOSED, 3000);
    CHECK_EQ_INT(atomic_load(&p.b.state), STRAPTO_PEER_CLOSED);
    CHECK_EQ_INT(strapto_peer_state(p.a.pc), STRAPTO_PEER_CLOSED);
    pair_free(&p);
}

static void test_channel_kinds(strapto_ctx *ctx)
{
    pair p;
    REQUIRE(pair_new(ctx, &p, 0) == 0);
    strapto_dc_init init;
    strapto_dc_callbacks ca = cbs_for(&p.a), cb = cbs_for(&p.b);
    strapto_dc *u = NULL, *t = NULL, *na = NULL, *nb = NULL;
    strapto_dc_init_default(&init);
    init.label = "unordered";
    init.ordered = 0;
    init.max_retransmits = 0;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &u), 0);
    strapto_dc_init_default(&init);
    init.label = "timed";
    init.max_packet_life_time = 150;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &t), 0);
    strapto_dc_init_default(&init);
    init.max_packet_life_time = 1;
    init.max_retransmits = 1;
    strapto_dc *bad = NULL;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &bad), STRAPTO_EINVAL);
    strapto_dc_init_default(&init);
    init.label = "neg";
    init.negotiated = 1;
    init.id = 9;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &na), 0);
    CHECK_EQ_INT(strapto_peer_create_dc(p.b.pc, &init, &cb, &nb), 0);
    REQUIRE(pair_connect(&p) == 0);
    WAIT_UNTIL(atomic_load(&p.b.remote_channels) == 2 && atomic_load(&p.a.opens) == 3, 3000);
    CHECK_EQ_INT(atomic_load(&p.b.remote_channels), 2); /* the negotiated one is not announced */
    CHECK_EQ_INT(strapto_dc_id(na), 9);
    CHECK_EQ_INT(strapto_dc_negotiated(nb), 1);
    CHECK_EQ_INT(strapto_dc_state(nb), STRAPTO_DC_OPEN);
    /* properties crossed DCEP: find the remote copies by label */
    strapto_peer *pb = p.b.pc;
    int seen = 0;
    g_mutex_lock(&pb->mu);
    for (int i = 0; i < ST_SCTP_STREAMS; i++) {
        strapto_dc *d = pb->by_sid[i];
        if (!d) continue;
        if (!strcmp(d->label, "unordered")) {
            CHECK_EQ_INT(d->ordered, 0);
            CHECK_EQ_INT(d->max_retransmits, 0);
            CHECK_EQ_INT(d->max_packet_life_time, -1);
            seen++;
        } else if (!strcmp(d->label, "timed")) {
            CHECK_EQ_INT(d->ordered, 1);
            CHECK_EQ_INT(d->max_packet_life_time, 150);
            CHECK_EQ_INT(d->max_retransmits, -1);
            seen++;
        }
    }
    g_mutex_unlock(&pb->mu);
    CHECK_EQ_INT(seen, 2);
    /* negotiated channel carries data both ways */
    CHECK_EQ_INT(strapto_dc_send(na, "n1", 2, 0), 0);
    CHECK_EQ_INT(strapto_dc_send(nb, "n2", 2, 0), 0);
    WAIT_UNTIL(n_msgs(&p.a) >= 1 && n_msgs(&p.b) >= 1, 3000);
    CHECK(msg_equals(&p.b, 0, "n1", 2, 0));
    CHECK(msg_equals(&p.a, 0, "n2", 2, 0));
    /* a second negotiated channel on a taken id is refused */
    strapto_dc *dup = NULL;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &dup), STRAPTO_ESTATE);
    pair_free(&p);
}

static void test_buffered(strapto_ctx *ctx)
{
    pair p;
    REQUIRE(pair_new(ctx, &p, 1024 * 1024) == 0); /* 1 MiB send queue */
    strapto_dc_init init;
    strapto_dc_init_default(&init);
    init.label = "bulk";
    strapto_dc_callbacks ca = cbs_for(&p.a);
    strapto_dc *dc = NULL;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &dc), 0);
    REQUIRE(pair_connect(&p) == 0);
    WAIT_UNTIL(atomic_load(&p.a.opens) == 1, 3000);
    CHECK_EQ_INT(strapto_dc_set_buffered_amount_low_threshold(dc, 256 * 1024), 0);
    static uint8_t chunk[64 * 1024];
    int sent = 0, eagain = 0;
    size_t max_buffered = 0;
    for (int i = 0; i < 400 && !eagain; i++) { /* 25 MB offered faster than SCTP drains */
        memset(chunk, i & 0xff, sizeof chunk);
        int rc = strapto_dc_send(dc, chunk, sizeof chunk, 1);
        if (rc == STRAPTO_EAGAIN) eagain = 1;
        else if (rc == 0) sent++;
        size_t b = strapto_dc_buffered_amount(dc);
        if (b > max_buffered) max_buffered = b;
    }
    CHECK(eagain);                          /* the bound holds */
    CHECK(max_buffered > 0 && max_buffered <= 1024 * 1024);
    WAIT_UNTIL(n_msgs(&p.b) == sent, 10000);
    CHECK_EQ_INT(n_msgs(&p.b), sent);       /* everything accepted arrived */
    CHECK(atomic_load(&p.a.lows) >= 1);     /* and the low callback fired */
    CHECK_EQ_INT(strapto_dc_buffered_amount(dc), 0);
    int ordered_ok = 1;
    for (int i = 0; i < sent; i++) {
        GBytes *b = msg_at(&p.b, i);
        const uint8_t *d = g_bytes_get_data(b, NULL);
        if (d[1] != (i & 0xff)) ordered_ok = 0;
        g_bytes_unref(b);
    }
    CHECK(ordered_ok);
    pair_free(&p);
}

/* A peer freed while its send queue is full is still destroyed. */
static void test_free_with_queue(strapto_ctx *ctx)
{
    WAIT_UNTIL(st_ctx_live_objects(ctx) == 0, 3000); /* earlier tests' peers are gone */
    int before = st_ctx_live_objects(ctx);
    CHECK_EQ_INT(before, 0);
    pair p;
    REQUIRE(pair_new(ctx, &p, 1024 * 1024) == 0);
    strapto_dc_callbacks ca = cbs_for(&p.a);
    strapto_dc *dc = NULL;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, NULL, &ca, &dc), 0);
    REQUIRE(pair_connect(&p) == 0);
    WAIT_UNTIL(atomic_load(&p.a.opens) == 1, 3000);
    static uint8_t chunk[64 * 1024];
    int eagain = 0;
    for (int i = 0; i < 400 && !eagain; i++) eagain = strapto_dc_send(dc, chunk, sizeof chunk, 1) == STRAPTO_EAGAIN;
    CHECK(eagain);
    CHECK(strapto_dc_buffered_amount(dc) > 0);
    pair_free(&p);
    WAIT_UNTIL(st_ctx_live_objects(ctx) == before, 3000);
    CHECK_EQ_INT(st_ctx_live_objects(ctx), before);
}

static void test_callbacks_that_close(strapto_ctx *ctx)
{
    /* close a channel, then free a whole peer, from inside on_message */
    pair p;
    REQUIRE(pair_new(ctx, &p, 0) == 0);
    strapto_dc_init init;
    strapto_dc_init_default(&init);
    strapto_dc_callbacks ca = cbs_for(&p.a);
    strapto_dc *dc1 = NULL, *dc2 = NULL;
    init.label = "one";
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &dc1), 0);
    REQUIRE(pair_connect(&p) == 0);
    WAIT_UNTIL(atomic_load(&p.b.remote_channels) == 1, 3000);
    p.b.close_in_message = 1;
    for (int i = 0; i < 5; i++) strapto_dc_send(dc1, "m", 1, 0);
    WAIT_UNTIL(atomic_load(&p.a.closes) == 1, 3000);
    CHECK_EQ_INT(atomic_load(&p.a.closes), 1);
    CHECK(n_msgs(&p.b) >= 1);
    p.b.close_in_message = 0;
    init.label = "two";
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, &init, &ca, &dc2), 0);
    WAIT_UNTIL(atomic_load(&p.b.remote_channels) == 2, 3000);
    p.b.free_in_message = 1;
    for (int i = 0; i < 50; i++) strapto_dc_send(dc2, "boom", 4, 0);
    WAIT_UNTIL(p.b.pc == NULL, 3000);
    CHECK(p.b.pc == NULL);
    WAIT_UNTIL(atomic_load(&p.a.state) == STRAPTO_PEER_CLOSED, 5000);
    CHECK_EQ_INT(atomic_load(&p.a.state), STRAPTO_PEER_CLOSED);
    pair_free(&p);
}

static int count_malformed(strapto_ctx *ctx)
{
    const char *dir = getenv("SDP_MALFORMED_DIR") ? getenv("SDP_MALFORMED_DIR") : "test/unit/sdp_malformed";
    DIR *d = opendir(dir);
    REQUIRE(d != NULL);
    struct dirent *e;
    int n = 0;
    strapto_peer *pc = NULL;
    REQUIRE(strapto_peer_new(ctx, NULL, NULL, &pc) == 0);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gchar *text = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &text, &len, NULL)) continue;
        if (strlen(text) != len) { /* a NUL byte: the C-string API cannot carry it (test_sdp covers it) */
            g_free(text);
            continue;
        }
        int rc = strapto_peer_set_remote_description(pc, "offer", text);
        if (rc >= 0) fprintf(stderr, "malformed SDP %s was accepted\n", e->d_name);
        CHECK(rc < 0);
        CHECK_EQ_INT(strapto_peer_state(pc), STRAPTO_PEER_NEW);
        g_free(text);
        n++;
    }
    closedir(d);
    strapto_peer_free(pc);
    return n;
}

/* Garbage into every layer of a live peer while another pair talks. */
typedef struct {
    strapto_peer *pc;
    int what;
} inject_op;

static void inject_task(void *data)
{
    inject_op *o = data;
    strapto_peer *pc = o->pc;
    uint8_t buf[1500];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)g_random_int();
        size_t len = 1 + (size_t)g_random_int_range(0, (int)sizeof buf);
        switch (o->what) {
        case 0: /* a DTLS-looking header, then garbage or truncation */
            buf[0] = 23;
            buf[1] = 0xfe;
            buf[2] = 0xfd;
            st_dtls_input(pc->dtls, buf, round % 2 ? len : (size_t)(round % 13));
            break;
        case 1: /* raw garbage into SCTP (fails its checksum) */
            st_sctp_input(pc->sctp, buf, len);
            break;
        }
    }
}

static void test_hostile_input(strapto_ctx *ctx)
{
    pair good, victim;
    REQUIRE(pair_new(ctx, &good, 0) == 0);
    REQUIRE(pair_new(ctx, &victim, 0) == 0);
    strapto_dc_init init;
    strapto_dc_init_default(&init);
    init.label = "good";
    strapto_dc_callbacks cg = cbs_for(&good.a), cv = cbs_for(&victim.a);
    strapto_dc *gdc = NULL, *vdc = NULL;
    CHECK_EQ_INT(strapto_peer_create_dc(good.a.pc, &init, &cg, &gdc), 0);
    init.label = "victim";
    CHECK_EQ_INT(strapto_peer_create_dc(victim.a.pc, &init, &cv, &vdc), 0);
    REQUIRE(pair_connect(&good) == 0);
    REQUIRE(pair_connect(&victim) == 0);
    WAIT_UNTIL(atomic_load(&good.a.opens) == 1 && atomic_load(&victim.b.remote_channels) == 1, 3000);

    int sent = 0;
    /* 1: malformed SDPs on fresh peers */
    int n = count_malformed(ctx);
    CHECK(n >= 20);
    for (int i = 0; i < 100; i++) sent += strapto_dc_send(gdc, &i, sizeof i, 1) == 0;
    /* 2: garbage DTLS and SCTP into the victim's receiver */
    for (int what = 0; what < 2; what++) {
        inject_op o = {victim.b.pc, what};
        st_ctx_run_sync(ctx, victim.b.pc->loop, inject_task, &o);
        for (int i = 0; i < 100; i++) sent += strapto_dc_send(gdc, &i, sizeof i, 1) == 0;
    }
    CHECK(st_dtls_bad_input(victim.b.pc->dtls) > 0);
    /* 3: authenticated garbage: the victim's remote sends raw SCTP user
     * messages with bad DCEP, unknown PPIDs, an OPEN on our parity */
    st_sctp *ss = victim.a.pc->sctp;
    uint8_t bad_open[] = {DCEP_OPEN, 0x00, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 'x'}; /* label past the end */
    uint8_t bad_type[] = {DCEP_OPEN, 0x7e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t unknown[] = {0x42};
    CHECK_EQ_INT(st_sctp_send(ss, 101, PPID_DCEP, 0, ST_PR_NONE, 0, bad_open, sizeof bad_open), 0);
    CHECK_EQ_INT(st_sctp_send(ss, 103, PPID_DCEP, 0, ST_PR_NONE, 0, bad_type, sizeof bad_type), 0);
    CHECK_EQ_INT(st_sctp_send(ss, 105, PPID_DCEP, 0, ST_PR_NONE, 0, unknown, sizeof unknown), 0);
    CHECK_EQ_INT(st_sctp_send(ss, (uint16_t)strapto_dc_id(vdc), 9999, 0, ST_PR_NONE, 0, "?", 1), 0);
    CHECK_EQ_INT(st_sctp_send(ss, 107, PPID_STRING, 0, ST_PR_NONE, 0, "nochannel", 9), 0);
    for (int i = 0; i < 100; i++) sent += strapto_dc_send(gdc, &i, sizeof i, 1) == 0;

    /* the good pair lost nothing, the victim still works */
    WAIT_UNTIL(n_msgs(&good.b) == sent, 5000);
    CHECK_EQ_INT(sent, 400);
    CHECK_EQ_INT(n_msgs(&good.b), sent);
    CHECK_EQ_INT(atomic_load(&victim.b.remote_channels), 1); /* no channel from the bad OPENs */
    CHECK_EQ_INT(strapto_dc_send(vdc, "still here", 10, 0), 0);
    WAIT_UNTIL(n_msgs(&victim.b) == 1, 3000);
    CHECK(msg_equals(&victim.b, 0, "still here", 10, 0));
    CHECK_EQ_INT(strapto_peer_state(victim.b.pc), STRAPTO_PEER_CONNECTED);
    pair_free(&good);
    pair_free(&victim);
}

/* A remote certificate that does not match the SDP fingerprint fails the
 * connection on the side that checks it, and no channel opens. */
static void test_fingerprint_mismatch(strapto_ctx *ctx)
{
    pair p;
    REQUIRE(pair_new(ctx, &p, 0) == 0);
    strapto_dc_callbacks ca = cbs_for(&p.a);
    strapto_dc *dc = NULL;
    CHECK_EQ_INT(strapto_peer_create_dc(p.a.pc, NULL, &ca, &dc), 0);
    char *offer = NULL, *answer = NULL;
    REQUIRE(strapto_peer_create_offer(p.a.pc, &offer) == 0);
    REQUIRE(strapto_peer_set_remote_description(p.b.pc, "offer", offer) == 0);
    REQUIRE(strapto_peer_create_answer(p.b.pc, &answer) == 0);
    char *fp = strstr(answer, "a=fingerprint:sha-256 ");
    REQUIRE(fp != NULL);
    fp += strlen("a=fingerprint:sha-256 ");
    fp[0] = fp[0] == 'A' ? 'B' : 'A'; /* one nibble off */
    REQUIRE(strapto_peer_set_remote_description(p.a.pc, "answer", answer) == 0);
    WAIT_UNTIL(atomic_load(&p.a.state) == STRAPTO_PEER_CLOSED, 5000);
    CHECK_EQ_INT(atomic_load(&p.a.state), STRAPTO_PEER_CLOSED);
    CHECK_EQ_INT(atomic_load(&p.a.failed), 1);
    CHECK_EQ_INT(atomic_load(&p.a.opens), 0);
    CHECK_EQ_INT(atomic_load(&p.b.remote_channels), 0);
    strapto_free(offer);
    strapto_free(answer);
    pair_free(&p);
}

static void test_api_errors(strapto_ctx *ctx)
{
    strapto_peer *pc = NULL;
    char *sdp = NULL;
    CHECK_EQ_INT(strapto_peer_new(NULL, NULL, NULL, &pc), STRAPTO_EINVAL);
    strapto_peer_config cfg;
    strapto_peer_config_init(&cfg);
    cfg.local_addresses = "not-an-interface-or-ip";
    CHECK_EQ_INT(strapto_peer_new(ctx, &cfg, NULL, &pc), STRAPTO_EINVAL);
    strapto_peer_config_init(&cfg);
    cfg.stun_servers = "http://example";
    CHECK_EQ_INT(strapto_peer_new(ctx, &cfg, NULL, &pc), STRAPTO_EINVAL);
    strapto_peer_config_init(&cfg);
    cfg.max_message_size = 64 * 1024 * 1024;
    CHECK_EQ_INT(strapto_peer_new(ctx, &cfg, NULL, &pc), STRAPTO_EINVAL);
    REQUIRE(strapto_peer_new(ctx, NULL, NULL, &pc) == 0);
    CHECK_EQ_INT(strapto_peer_create_answer(pc, &sdp), STRAPTO_ESTATE);
    CHECK_EQ_INT(strapto_peer_set_remote_description(pc, "answer", "v=0\r\n"), STRAPTO_ESTATE);
    CHECK_EQ_INT(strapto_peer_set_remote_description(pc, "pranswer", "v=0\r\n"), STRAPTO_EINVAL);
    /* candidates before the remote description are kept (64 at most) */
    int kept = 0, rc = 0;
    for (int i = 0; i < 70 && rc == 0; i++)
        if ((rc = strapto_peer_add_remote_candidate(pc, "candidate:1 1 udp 1 127.0.0.1 9 typ host", "0")) == 0) kept++;
    CHECK_EQ_INT(kept, 64);
    CHECK_EQ_INT(rc, STRAPTO_ELIMIT);
    CHECK_EQ_INT(strapto_peer_restart_ice(pc), STRAPTO_ESTATE);
    char *huge = g_malloc(70 * 1024);
    memset(huge, 'a', 70 * 1024 - 1);
    huge[70 * 1024 - 1] = 0;
    CHECK_EQ_INT(strapto_peer_set_remote_description(pc, "offer", huge), STRAPTO_ETOOBIG);
    g_free(huge);
    CHECK_EQ_INT(strapto_peer_create_offer(pc, &sdp), 0);
    CHECK(sdp && strstr(sdp, "a=setup:actpass") && strstr(sdp, "webrtc-datachannel") &&
          strstr(sdp, "a=max-message-size:262144"));
    strapto_free(sdp);
    CHECK_EQ_INT(strapto_peer_set_remote_description(pc, "offer", "v=0\r\n"), STRAPTO_ESTATE); /* glare */
    strapto_peer_free(pc);
    CHECK_STR(strapto_peer_state_name(STRAPTO_PEER_CONNECTED), "connected");
    CHECK(strcmp(strapto_strerror(STRAPTO_EPARSE), "unknown error") != 0);
}

int main(void)
{
    strapto_ctx_options o;
    strapto_ctx_options_init(&o);
    o.threads = 2;
    strapto_ctx *ctx = NULL;
    REQUIRE(strapto_ctx_new(&o, &ctx) == 0);
    test_api_errors(ctx);
    test_messages(ctx);
    test_channel_kinds(ctx);
    test_buffered(ctx);
    test_callbacks_that_close(ctx);
    test_free_with_queue(ctx);
    test_hostile_input(ctx);
    test_fingerprint_mismatch(ctx);
    strapto_ctx_free(ctx);
    TEST_DONE();
}
