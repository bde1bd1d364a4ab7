/* SCTP associations on usrsctp, initialised without its threads; timers run
 * on one library thread while any association exists. */
#include <errno.h>
#include <stdlib.h>
#include <usrsctp.h>
#include "core/internal.h"
#include "rtc/crc32c.h"
#include "rtc/sctp.h"

#define SCTP_BUFSIZE (4 * 1024 * 1024)
#define TIMER_TICK_MS 10

typedef struct inbound {
    struct inbound *next;
    void *data;     /* owned, malloc'd by usrsctp */
    size_t len;
    uint16_t sid;
    uint32_t ppid;
    int flags;
} inbound;

struct st_sctp {
    struct socket *sock;
    GMainContext *mc;
    st_sctp_callbacks cbs;
    void *user;
    uint16_t local_port, remote_port;
    size_t max_message;
    int connected, closed;
    int streams_out;
    /* inbound queue: filled by usrsctp's receive callback, drained on the loop */
    GMutex qmu;
    inbound *qhead, *qtail;
    int drain_scheduled, writable_scheduled;
    int draining;
    GSource *drain_src, *writable_src;
    /* reassembly of partial deliveries, per stream */
    GHashTable *partial; /* sid -> GByteArray */
    GHashTable *partial_drop; /* sids being discarded until EOR */
    /* stream resets waiting for an earlier one to finish */
    GMutex rmu;
    uint16_t pending_reset[64];
    int n_pending_reset;
};

/* ---- process-wide usrsctp state ---- */

static GMutex glob_mu;
static GRWLock live_lock;     /* guards `live` and the packets sent through it */
static GHashTable *live;      /* st_sctp* set */
static int n_assoc;
static int usrsctp_ready;
static GThread *timer_thread;
static gint timer_stop;

static int conn_output(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df)
{
    int rc = -1;
    g_rw_lock_reader_lock(&live_lock);
    st_sctp *s = addr;
    if (live && g_hash_table_contains(live, s)) {
        /* usrsctp leaves the checksum to us (offload): SSE4.2 is several
         * times faster than its table */
        if (len >= 12) {
            uint8_t *b = buf;
            memset(b + 8, 0, 4);
            uint32_t crc = st_sctp_crc32c(b, len);
            memcpy(b + 8, &crc, 4);
        }
        rc = s->cbs.send(s->user, buf, len) == 0 ? 0 : -1;
    }
    g_rw_lock_reader_unlock(&live_lock);
    return rc;
}

static void debug_printf(const char *fmt, ...) {}

static gpointer timer_main(gpointer unused)
{
    gint64 last = g_get_monotonic_time();
    while (!g_atomic_int_get(&timer_stop)) {
        g_usleep(TIMER_TICK_MS * 1000);
        gint64 now = g_get_monotonic_time();
        usrsctp_handle_timers((uint32_t)((now - last) / 1000));
        last = now;
    }
    return NULL;
}

static void global_ref(void)
{
    g_mutex_lock(&glob_mu);
    if (!usrsctp_ready) {
        usrsctp_init_nothreads(0, conn_output, debug_printf);
        usrsctp_enable_crc32c_offload(); /* computed in conn_output; input is DTLS-authenticated */
        usrsctp_sysctl_set_sctp_ecn_enable(0);
        usrsctp_sysctl_set_sctp_pr_enable(1);
        usrsctp_sysctl_set_sctp_reconfig_enable(1);
        usrsctp_sysctl_set_sctp_asconf_enable(0);
        usrsctp_sysctl_set_sctp_auto_asconf(0);
        usrsctp_sysctl_set_sctp_nr_incoming_streams_default(ST_SCTP_STREAMS);
        usrsctp_sysctl_set_sctp_nr_outgoing_streams_default(ST_SCTP_STREAMS);
        usrsctp_sysctl_set_sctp_max_chunks_on_queue(10 * 1024);
        usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
        usrsctp_sysctl_set_sctp_sack_freq_default(4);
        usrsctp_sysctl_set_sctp_rto_min_default(200);
        usrsctp_sysctl_set_sctp_rto_initial_default(1000);
        usrsctp_sysctl_set_sctp_rto_max_default(10000);
        usrsctp_sysctl_set_sctp_init_rto_max_default(10000);
        usrsctp_sysctl_set_sctp_assoc_rtx_max_default(20);
        usrsctp_sysctl_set_sctp_path_rtx_max_default(20);
        usrsctp_sysctl_set_sctp_heartbeat_interval_default(10000);
        usrsctp_sysctl_set_sctp_initial_cwnd(10);
        usrsctp_sysctl_set_sctp_sendspace(SCTP_BUFSIZE);
        usrsctp_sysctl_set_sctp_recvspace(SCTP_BUFSIZE);
        usrsctp_sysctl_set_sctp_blackhole(2);
        usrsctp_ready = 1;
        live = g_hash_table_new(NULL, NULL);
    }
    if (n_assoc++ == 0) {
        g_atomic_int_set(&timer_stop, 0);
        timer_thread = g_thread_new("strapto-sctp", timer_main, NULL);
    }
    g_mutex_unlock(&glob_mu);
}

static void global_unref(void)
{
    GThread *t = NULL;
    g_mutex_lock(&glob_mu);
    if (--n_assoc == 0) {
        g_atomic_int_set(&timer_stop, 1);
        t = timer_thread;
        timer_thread = NULL;
    }
    g_mutex_unlock(&glob_mu);
    if (t) g_thread_join(t);
}

/* ---- inbound path ---- */

static void drain(st_sctp *s);

static gboolean drain_cb(gpointer data)
{
    st_sctp *s = data;
    g_mutex_lock(&s->qmu);
    s->drain_scheduled = 0;
    g_source_unref(s->drain_src);
    s->drain_src = NULL;
    g_mutex_unlock(&s->qmu);
    drain(s);
    return G_SOURCE_REMOVE;
}

static gboolean writable_cb(gpointer data)
{
    st_sctp *s = data;
    g_mutex_lock(&s->qmu);
    s->writable_scheduled = 0;
    g_source_unref(s->writable_src);
    s->writable_src = NULL;
    g_mutex_unlock(&s->qmu);
    if (!s->closed) s->cbs.on_writable(s->user);
    return G_SOURCE_REMOVE;
}

/* Called by usrsctp, possibly on its timer thread: queue and, off the loop, wake it. */
static int receive_cb(struct socket *sock, union sctp_sockstore addr, void *data, size_t len,
                      struct sctp_rcvinfo rcv, int flags, void *ulp)
{
    st_sctp *s = ulp;
    if (!data) return 1;
    inbound *m = malloc(sizeof *m);
    if (!m) {
        free(data);
        return 1;
    }
    m->next = NULL;
    m->data = data;
    m->len = len;
    m->sid = rcv.rcv_sid;
    m->ppid = ntohl(rcv.rcv_ppid);
    m->flags = flags;
    g_mutex_lock(&s->qmu);
    if (s->qtail) s->qtail->next = m;
    else s->qhead = m;
    s->qtail = m;
    if (!g_main_context_is_owner(s->mc) && !s->drain_scheduled && !s->closed) {
        s->drain_scheduled = 1;
        s->drain_src = g_idle_source_new();
        g_source_set_callback(s->drain_src, drain_cb, s, NULL);
        g_source_attach(s->drain_src, s->mc);
    }
    g_mutex_unlock(&s->qmu);
    return 1;
}

static int send_cb(struct socket *sock, uint32_t sb_free, void *ulp)
{
    st_sctp *s = ulp;
    g_mutex_lock(&s->qmu);
    if (!s->writable_scheduled && !s->closed) {
        s->writable_scheduled = 1;
        s->writable_src = g_idle_source_new();
        g_source_set_callback(s->writable_src, writable_cb, s, NULL);
        g_source_attach(s->writable_src, s->mc);
    }
    g_mutex_unlock(&s->qmu);
    return 0;
}

static void retry_resets(st_sctp *s);

static void on_notification(st_sctp *s, const union sctp_notification *n, size_t len)
{
    if (len < sizeof n->sn_header) return;
    switch (n->sn_header.sn_type) {
    case SCTP_ASSOC_CHANGE: {
        const struct sctp_assoc_change *ac = &n->sn_assoc_change;
        if (ac->sac_state == SCTP_COMM_UP || ac->sac_state == SCTP_RESTART) {
            s->streams_out = ac->sac_outbound_streams;
            if (!s->connected) {
                s->connected = 1;
                ST_DEBUG("sctp", "association up (%u out, %u in streams)", ac->sac_outbound_streams,
                         ac->sac_inbound_streams);
                s->cbs.on_connected(s->user);
            }
        } else if (ac->sac_state == SCTP_COMM_LOST || ac->sac_state == SCTP_SHUTDOWN_COMP ||
                   ac->sac_state == SCTP_CANT_STR_ASSOC) {
            int err = ac->sac_state == SCTP_SHUTDOWN_COMP ? 0 : ac->sac_state == SCTP_COMM_LOST ? 0 : STRAPTO_EIO;
            ST_DEBUG("sctp", "association ended (state %u, error %u)", ac->sac_state, ac->sac_error);
            if (!s->closed) {
                s->closed = 1;
                s->cbs.on_closed(s->user, s->connected ? err : STRAPTO_EIO);
            }
        }
        break;
    }
    case SCTP_STREAM_RESET_EVENT: {
        const struct sctp_stream_reset_event *ev = &n->sn_strreset_event;
        size_t count = (ev->strreset_length - sizeof *ev) / sizeof(uint16_t);
        if (sizeof *ev + count * sizeof(uint16_t) > len) break;
        if (ev->strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) {
            for (size_t i = 0; i < count && !s->closed; i++) s->cbs.on_stream_reset(s->user, ev->strreset_stream_list[i]);
        }
        retry_resets(s);
        break;
    }
    case SCTP_SENDER_DRY_EVENT:
        if (!s->closed) s->cbs.on_writable(s->user);
        break;
    default: break;
    }
}

static void deliver(st_sctp *s, inbound *m)
{
    if (m->flags & MSG_NOTIFICATION) {
        on_notification(s, m->data, m->len);
        return;
    }
    gpointer key = GUINT_TO_POINTER(m->sid);
    int eor = (m->flags & MSG_EOR) != 0;
    if (g_hash_table_contains(s->partial_drop, key)) {
        if (eor) g_hash_table_remove(s->partial_drop, key);
        return;
    }
    GByteArray *pa = g_hash_table_lookup(s->partial, key);
    if (!pa && eor) {
        if (m->len > s->max_message) {
            ST_WARN("sctp", "message of %zu bytes on stream %u exceeds max-message-size %zu; dropped", m->len,
                    m->sid, s->max_message);
            return;
        }
        s->cbs.on_message(s->user, m->sid, m->ppid, m->data, m->len);
        return;
    }
    if (!pa) {
        pa = g_byte_array_new();
        g_hash_table_insert(s->partial, key, pa);
    }
    if (pa->len + m->len > s->max_message) {
        ST_WARN("sctp", "message on stream %u exceeds max-message-size %zu; dropped", m->sid, s->max_message);
        g_hash_table_remove(s->partial, key);
        if (!eor) g_hash_table_add(s->partial_drop, key);
        return;
    }
    g_byte_array_append(pa, m->data, (guint)m->len);
    if (eor) {
        s->cbs.on_message(s->user, m->sid, m->ppid, pa->data, pa->len);
        g_hash_table_remove(s->partial, key);
    }
}

static void drain(st_sctp *s)
{
    /* A user callback may run the loop recursively (st_ctx_run_sync into
     * another loop); a nested drain would deliver newer messages before the
     * rest of this batch. The outer drain picks them up instead. */
    if (s->draining) return;
    s->draining = 1;
    for (;;) {
        g_mutex_lock(&s->qmu);
        inbound *m = s->qhead;
        s->qhead = s->qtail = NULL;
        g_mutex_unlock(&s->qmu);
        if (!m) break;
        while (m) {
            inbound *next = m->next;
            if (!s->closed) deliver(s, m);
            free(m->data);
            free(m);
            m = next;
        }
    }
    s->draining = 0;
}

/* ---- API ---- */

static void byte_array_free(gpointer p) { g_byte_array_free(p, TRUE); }

int st_sctp_new(GMainContext *mc, uint16_t local_port, uint16_t remote_port, size_t max_message,
                const st_sctp_callbacks *cbs, void *user, st_sctp **out)
{
    st_sctp *s = calloc(1, sizeof *s);
    if (!s) return STRAPTO_ENOMEM;
    s->mc = mc;
    s->cbs = *cbs;
    s->user = user;
    s->local_port = local_port;
    s->remote_port = remote_port;
    s->max_message = max_message;
    g_mutex_init(&s->qmu);
    g_mutex_init(&s->rmu);
    s->partial = g_hash_table_new_full(NULL, NULL, NULL, byte_array_free);
    s->partial_drop = g_hash_table_new(NULL, NULL);
    global_ref();
    usrsctp_register_address(s);
    s->sock = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, receive_cb, send_cb, SCTP_BUFSIZE / 2, s);
    if (!s->sock) {
        ST_ERR("sctp", "usrsctp_socket failed: %s", strerror(errno));
        usrsctp_deregister_address(s);
        global_unref();
        g_hash_table_destroy(s->partial);
        g_hash_table_destroy(s->partial_drop);
        g_mutex_clear(&s->qmu);
        g_mutex_clear(&s->rmu);
        free(s);
        return STRAPTO_EIO;
    }
    g_rw_lock_writer_lock(&live_lock);
    g_hash_table_add(live, s);
    g_rw_lock_writer_unlock(&live_lock);

    struct socket *so = s->sock;
    usrsctp_set_non_blocking(so, 1);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    usrsctp_setsockopt(so, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    struct sctp_assoc_value av = {.assoc_id = SCTP_ALL_ASSOC,
                                  .assoc_value = SCTP_ENABLE_RESET_STREAM_REQ | SCTP_ENABLE_CHANGE_ASSOC_REQ};
    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av, sizeof av);
    int one = 1;
    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &one, sizeof one);
    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof one);
    uint16_t evs[] = {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SENDER_DRY_EVENT, SCTP_STREAM_CHANGE_EVENT};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        struct sctp_event ev = {.se_assoc_id = SCTP_ALL_ASSOC, .se_type = evs[i], .se_on = 1};
        usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev);
    }
    struct sctp_initmsg im = {.sinit_num_ostreams = ST_SCTP_STREAMS, .sinit_max_instreams = ST_SCTP_STREAMS};
    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof im);
    struct sctp_paddrparams pp = {0};
    pp.spp_assoc_id = SCTP_FUTURE_ASSOC;
    pp.spp_flags = SPP_PMTUD_DISABLE;
    pp.spp_pathmtu = ST_SCTP_MTU;
    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof pp);
    int bufsz = SCTP_BUFSIZE;
    usrsctp_setsockopt(so, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    usrsctp_setsockopt(so, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
    uint32_t pdp = (uint32_t)(max_message < SCTP_BUFSIZE / 2 ? max_message : SCTP_BUFSIZE / 2);
    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_PARTIAL_DELIVERY_POINT, &pdp, sizeof pdp);

    struct sockaddr_conn sc = {0};
    sc.sconn_family = AF_CONN;
    sc.sconn_port = htons(local_port);
    sc.sconn_addr = s;
    if (usrsctp_bind(so, (struct sockaddr *)&sc, sizeof sc) < 0) {
        ST_ERR("sctp", "bind failed: %s", strerror(errno));
        st_sctp_free(s);
        return STRAPTO_EIO;
    }
    *out = s;
    return STRAPTO_OK;
}

int st_sctp_connect(st_sctp *s)
{
    struct sockaddr_conn sc = {0};
    sc.sconn_family = AF_CONN;
    sc.sconn_port = htons(s->remote_port);
    sc.sconn_addr = s;
    if (usrsctp_connect(s->sock, (struct sockaddr *)&sc, sizeof sc) < 0 && errno != EINPROGRESS) {
        ST_ERR("sctp", "connect failed: %s", strerror(errno));
        return STRAPTO_EIO;
    }
    return 0;
}

void st_sctp_input(st_sctp *s, const uint8_t *data, size_t len)
{
    if (s->closed) return;
    usrsctp_conninput(s, data, len, 0);
    drain(s);
}

int st_sctp_send(st_sctp *s, uint16_t sid, uint32_t ppid, int unordered, int pr_policy, uint32_t pr_value,
                 const void *data, size_t len)
{
    struct sctp_sendv_spa spa;
    memset(&spa, 0, sizeof spa);
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = sid;
    spa.sendv_sndinfo.snd_flags = SCTP_EOR | (unordered ? SCTP_UNORDERED : 0);
    spa.sendv_sndinfo.snd_ppid = htonl(ppid);
    if (pr_policy != ST_PR_NONE) {
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = pr_policy == ST_PR_RTX ? SCTP_PR_SCTP_RTX : SCTP_PR_SCTP_TTL;
        spa.sendv_prinfo.pr_value = pr_value;
    }
    ssize_t n = usrsctp_sendv(s->sock, data, len, NULL, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0);
    if (n >= 0) return 0;
    if (errno == EWOULDBLOCK || errno == EAGAIN) return STRAPTO_EAGAIN;
    if (errno == EMSGSIZE) return STRAPTO_ETOOBIG;
    ST_WARN("sctp", "send on stream %u failed: %s", sid, strerror(errno));
    return STRAPTO_EIO;
}

static int do_reset(st_sctp *s, uint16_t sid)
{
    char buf[sizeof(struct sctp_reset_streams) + sizeof(uint16_t)];
    struct sctp_reset_streams *srs = (struct sctp_reset_streams *)buf;
    memset(buf, 0, sizeof buf);
    srs->srs_assoc_id = SCTP_ALL_ASSOC;
    srs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
    srs->srs_number_streams = 1;
    srs->srs_stream_list[0] = sid;
    if (usrsctp_setsockopt(s->sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, srs, (socklen_t)sizeof buf) == 0) return 0;
    return errno == EALREADY || errno == EBUSY || errno == EAGAIN ? STRAPTO_EAGAIN : STRAPTO_EIO;
}

int st_sctp_reset_stream(st_sctp *s, uint16_t sid)
{
    g_mutex_lock(&s->rmu);
    int rc = s->n_pending_reset ? STRAPTO_EAGAIN : do_reset(s, sid);
    if (rc == STRAPTO_EAGAIN) {
        if (s->n_pending_reset < (int)(sizeof s->pending_reset / sizeof s->pending_reset[0])) {
            s->pending_reset[s->n_pending_reset++] = sid;
            rc = 0;
        } else {
            rc = STRAPTO_ELIMIT;
        }
    }
    g_mutex_unlock(&s->rmu);
    return rc;
}

static void retry_resets(st_sctp *s)
{
    g_mutex_lock(&s->rmu);
    while (s->n_pending_reset > 0) {
        if (do_reset(s, s->pending_reset[0]) == STRAPTO_EAGAIN) break;
        memmove(s->pending_reset, s->pending_reset + 1, (size_t)(--s->n_pending_reset) * sizeof(uint16_t));
    }
    g_mutex_unlock(&s->rmu);
}

int st_sctp_streams_out(st_sctp *s) { return s->streams_out; }

void st_sctp_close(st_sctp *s)
{
    if (!s || !s->sock) return;
    s->closed = 1; /* no callbacks from here on */
    /* SO_LINGER 0: the close sends an ABORT, while still registered as live */
    usrsctp_close(s->sock);
    s->sock = NULL;
}

void st_sctp_free(st_sctp *s)
{
    if (!s) return;
    st_sctp_close(s);
    g_rw_lock_writer_lock(&live_lock);
    g_hash_table_remove(live, s);
    g_rw_lock_writer_unlock(&live_lock);
    usrsctp_deregister_address(s);
    g_mutex_lock(&s->qmu);
    if (s->drain_src) {
        g_source_destroy(s->drain_src);
        g_source_unref(s->drain_src);
    }
    if (s->writable_src) {
        g_source_destroy(s->writable_src);
        g_source_unref(s->writable_src);
    }
    inbound *m = s->qhead;
    s->qhead = s->qtail = NULL;
    g_mutex_unlock(&s->qmu);
    while (m) {
        inbound *next = m->next;
        free(m->data);
        free(m);
        m = next;
    }
    g_hash_table_destroy(s->partial);
    g_hash_table_destroy(s->partial_drop);
    g_mutex_clear(&s->qmu);
    g_mutex_clear(&s->rmu);
    global_unref();
    free(s);
}
