/* The peer connection: offer/answer, and the ICE -> DTLS -> SCTP chain.
 * Every state change happens on the peer's loop thread; public functions
 * marshal onto it. */
#include <openssl/rand.h>
#include <stdlib.h>
#include "rtc/peer_internal.h"
#include "rtc/sdp.h"

#define MOD "peer"
#define SCTP_PORT 5000

/* Every entry from the transports into the peer counts as "inside a
 * callback" until it returns, so a destruction queued meanwhile (even from a
 * nested loop iteration) waits until the stack has unwound. */
static void leave_depth(strapto_peer **pc) { (*pc)->depth--; }
#define ENTER(pc) \
    (pc)->depth++; \
    __attribute__((cleanup(leave_depth))) strapto_peer *depth_guard_ = (pc); \
    (void)depth_guard_

static const char *state_names[] = {"new", "connecting", "connected", "disconnected", "failed", "closed"};

const char *strapto_peer_state_name(int s)
{
    return s >= 0 && s <= STRAPTO_PEER_CLOSED ? state_names[s] : "?";
}

void strapto_peer_config_init(strapto_peer_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->loop = -1;
}

/* ---- references and deferred destruction ---- */

static void peer_destroy(strapto_peer *pc);

static gboolean destroy_cb(gpointer data)
{
    strapto_peer *pc = data;
    if (pc->depth > 0) { /* a callback of this peer runs further up the stack */
        GSource *s = g_timeout_source_new(1);
        g_source_set_callback(s, destroy_cb, pc, NULL);
        g_source_attach(s, pc->mc);
        g_source_unref(s);
        return G_SOURCE_REMOVE;
    }
    peer_destroy(pc);
    return G_SOURCE_REMOVE;
}

void st_peer_ref(strapto_peer *pc) { g_atomic_int_inc(&pc->refs); }

/* The last reference never frees inline: we may be deep inside one of the
 * peer's own callbacks. Destruction runs from the loop, later. */
void st_peer_unref(strapto_peer *pc)
{
    if (!g_atomic_int_dec_and_test(&pc->refs)) return;
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, destroy_cb, pc, NULL);
    g_source_attach(s, pc->mc);
    g_source_unref(s);
}

int st_peer_can_callback(strapto_peer *pc) { return !pc->released; }

static void set_state(strapto_peer *pc, int state)
{
    if (pc->state == state || pc->state == STRAPTO_PEER_CLOSED) return;
    if (pc->state == STRAPTO_PEER_FAILED && state != STRAPTO_PEER_CLOSED) return;
    ST_INFO(MOD, "state %s -> %s", state_names[pc->state], state_names[state]);
    pc->state = state;
    if (!pc->released && pc->cbs.on_state) pc->cbs.on_state(pc, state, pc->cbs.user);
}

/* ---- transport callbacks ---- */

static int sctp_send(void *user, const uint8_t *data, size_t len)
{
    strapto_peer *pc = user;
    return st_dtls_write(pc->dtls, data, len) == 0 ? 0 : -1;
}

static void sctp_connected(void *user)
{
    strapto_peer *pc = user;
    ENTER(pc);
    set_state(pc, STRAPTO_PEER_CONNECTED);
    st_dc_on_sctp_connected(pc);
}

static void sctp_message(void *user, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (!pc->closed) st_dc_on_message(pc, sid, ppid, data, len);
}

static void sctp_stream_reset(void *user, uint16_t sid)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (!pc->closed) st_dc_on_stream_reset(pc, sid);
}

static void sctp_writable(void *user)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (!pc->closed) st_dc_on_writable(pc);
}

static void close_internal(strapto_peer *pc, int final_state);

static void sctp_closed(void *user, int err)
{
    strapto_peer *pc = user;
    ENTER(pc);
    ST_INFO(MOD, "SCTP association ended%s", err ? " with an error" : "");
    close_internal(pc, err ? STRAPTO_PEER_FAILED : STRAPTO_PEER_CLOSED);
}

/* Called with the DTLS lock held. Before ICE has a pair (a remote that is
 * faster than us sent its ClientHello already) libnice drops what we send:
 * keep the flight and send it the moment ICE connects, instead of waiting
 * for the DTLS retransmission timer. */
static void dtls_send(void *user, const uint8_t *data, size_t len)
{
    strapto_peer *pc = user;
    if (!g_atomic_int_get(&pc->ice_up)) {
        g_mutex_lock(&pc->outq_mu);
        int held = !pc->ice_up;
        if (held && pc->n_outq < ST_MAX_EARLY_DATAGRAMS && (pc->outq[pc->n_outq] = g_memdup2(data, len)))
            pc->outq_len[pc->n_outq++] = len;
        g_mutex_unlock(&pc->outq_mu);
        if (held) return;
    }
    st_ice_send(pc->ice, data, len);
}

static void flush_outq(strapto_peer *pc)
{
    g_mutex_lock(&pc->outq_mu);
    g_atomic_int_set(&pc->ice_up, 1);
    for (int i = 0; i < pc->n_outq; i++) {
        st_ice_send(pc->ice, pc->outq[i], pc->outq_len[i]);
        g_free(pc->outq[i]);
    }
    pc->n_outq = 0;
    g_mutex_unlock(&pc->outq_mu);
}

static void dtls_connected(void *user)
{
    strapto_peer *pc = user;
    ENTER(pc);
    static const st_sctp_callbacks cbs = {sctp_send, sctp_connected, sctp_message, sctp_stream_reset,
                                          sctp_writable, sctp_closed};
    ST_DEBUG(MOD, "DTLS connected; starting SCTP (remote port %d)", pc->remote_sctp_port);
    if (st_sctp_new(pc->mc, SCTP_PORT, (uint16_t)pc->remote_sctp_port, pc->local_max_message, &cbs, pc,
                    &pc->sctp) < 0 ||
        st_sctp_connect(pc->sctp) < 0) {
        close_internal(pc, STRAPTO_PEER_FAILED);
    }
}

static void dtls_data(void *user, const uint8_t *data, size_t len)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (pc->sctp && !pc->closed) st_sctp_input(pc->sctp, data, len);
}

static void dtls_closed(void *user, int err)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (err) ST_WARN(MOD, "DTLS failed: %s", strapto_strerror(err));
    else ST_INFO(MOD, "remote closed the DTLS session");
    close_internal(pc, err ? STRAPTO_PEER_FAILED : STRAPTO_PEER_CLOSED);
}

static void start_dtls_if_ready(strapto_peer *pc)
{
    if (!pc->dtls || pc->dtls_started || pc->closed) return;
    if (st_ice_state(pc->ice) != ST_ICE_CONNECTED) return;
    pc->dtls_started = 1;
    st_dtls_start(pc->dtls);
}

static void ice_candidate(void *user, const char *cand)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (!pc->released && pc->cbs.on_candidate)
        pc->cbs.on_candidate(pc, cand, pc->app_mid ? pc->app_mid : "0", pc->app_mline, pc->cbs.user);
}

static void ice_state(void *user, int s)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (pc->closed) return;
    switch (s) {
    case ST_ICE_CHECKING: set_state(pc, STRAPTO_PEER_CONNECTING); break;
    case ST_ICE_CONNECTED:
        if (!pc->ice_up) {
            flush_outq(pc); /* sets ice_up under the lock */
        }
        if (pc->sctp_up) set_state(pc, STRAPTO_PEER_CONNECTED);
        else set_state(pc, STRAPTO_PEER_CONNECTING);
        start_dtls_if_ready(pc);
        break;
    case ST_ICE_DISCONNECTED: set_state(pc, STRAPTO_PEER_DISCONNECTED); break;
    case ST_ICE_FAILED:
        ST_WARN(MOD, "ICE failed");
        close_internal(pc, STRAPTO_PEER_FAILED);
        break;
    }
}

static void ice_data(void *user, const uint8_t *data, size_t len)
{
    strapto_peer *pc = user;
    ENTER(pc);
    if (pc->closed || len == 0) return;
    if (data[0] < 20 || data[0] > 63) { /* not DTLS (RFC 7983): RTP/RTCP comes with media */
        pc->dropped_datagrams++;
        return;
    }
    if (!pc->dtls) { /* the remote is faster than our signaling: keep a few */
        if (pc->n_early < ST_MAX_EARLY_DATAGRAMS && (pc->early[pc->n_early] = g_memdup2(data, len))) {
            pc->early_len[pc->n_early++] = len;
        } else {
            pc->dropped_datagrams++;
        }
        return;
    }
    st_dtls_input(pc->dtls, data, len);
}

/* ---- lifecycle ---- */

int strapto_peer_new(strapto_ctx *ctx, const strapto_peer_config *cfg, const strapto_peer_callbacks *cbs,
                     strapto_peer **out)
{
    if (!ctx || !out) return STRAPTO_EINVAL;
    *out = NULL;
    strapto_peer_config d;
    strapto_peer_config_init(&d);
    if (!cfg) cfg = &d;
    if (cfg->max_message_size > ST_LIMIT_MAX_MESSAGE) {
        ST_ERR(MOD, "max_message_size %zu is over the bound %d", cfg->max_message_size, ST_LIMIT_MAX_MESSAGE);
        return STRAPTO_EINVAL;
    }
    if (cfg->loop >= strapto_ctx_threads(ctx)) return STRAPTO_EINVAL;
    if (!st_cert_get(ctx)) return STRAPTO_ECRYPTO;
    strapto_peer *pc = calloc(1, sizeof *pc);
    if (!pc) return STRAPTO_ENOMEM;
    pc->refs = 1;
    pc->ctx = ctx;
    pc->loop = st_ctx_acquire_loop(ctx, cfg->loop);
    pc->mc = st_ctx_main_context(ctx, pc->loop);
    if (cbs) pc->cbs = *cbs;
    pc->stun = st_strdup(cfg->stun_servers);
    pc->turn = st_strdup(cfg->turn_servers);
    pc->local_addrs = st_strdup(cfg->local_addresses);
    pc->port_min = cfg->port_min;
    pc->port_max = cfg->port_max;
    pc->local_max_message = cfg->max_message_size ? cfg->max_message_size : ST_DEFAULT_MAX_MESSAGE;
    pc->max_buffered = cfg->max_buffered ? cfg->max_buffered : ST_DEFAULT_MAX_BUFFERED;
    pc->dtls_client = -1;
    pc->app_mline = 0;
    g_mutex_init(&pc->mu);
    g_mutex_init(&pc->outq_mu);
    pc->pending = g_ptr_array_new();
    RAND_bytes((unsigned char *)&pc->sess_id, sizeof pc->sess_id);
    pc->sess_id &= 0x3fffffffffffffffULL;
    st_ctx_obj_add(ctx);

    st_ice_config ic = {pc->stun, pc->turn, pc->local_addrs, pc->port_min, pc->port_max, cfg->relay_only};
    static const st_ice_callbacks icbs = {ice_candidate, ice_state, ice_data};
    int rc = st_ice_new(pc->mc, &ic, &icbs, pc, &pc->ice);
    if (rc < 0) {
        pc->released = 1;
        st_peer_unref(pc);
        return rc;
    }
    *out = pc;
    return STRAPTO_OK;
}

static void peer_destroy(strapto_peer *pc)
{
    st_sctp_free(pc->sctp);
    st_dtls_free(pc->dtls);
    st_ice_free(pc->ice);
    st_dc_free_queue(pc);
    g_ptr_array_free(pc->pending, TRUE);
    for (int i = 0; i < pc->n_early; i++) g_free(pc->early[i]);
    for (int i = 0; i < pc->n_early_cands; i++) g_free(pc->early_cands[i]);
    for (size_t i = 0; i < pc->n_remote_mlines; i++) {
        free(pc->remote_mlines[i].kind);
        free(pc->remote_mlines[i].proto);
        free(pc->remote_mlines[i].fmt);
        free(pc->remote_mlines[i].mid);
    }
    free(pc->remote_mlines);
    free(pc->app_mid);
    free(pc->stun);
    free(pc->turn);
    free(pc->local_addrs);
    for (int i = 0; i < pc->n_outq; i++) g_free(pc->outq[i]);
    g_mutex_clear(&pc->outq_mu);
    g_mutex_clear(&pc->mu);
    st_ctx_release_loop(pc->ctx, pc->loop);
    st_ctx_obj_del(pc->ctx);
    free(pc);
}

static void close_internal(strapto_peer *pc, int final_state)
{
    if (pc->closed) return;
    pc->closed = 1;
    if (pc->dropped_datagrams)
        ST_INFO(MOD, "%llu datagrams dropped (not DTLS, or too early for DTLS)",
                (unsigned long long)pc->dropped_datagrams);
    st_peer_ref(pc); /* callbacks below may drop the user's reference */
    st_dc_close_all(pc);
    st_dc_free_queue(pc); /* unsent messages die with the connection */
    if (pc->sctp) st_sctp_close(pc->sctp);
    if (pc->dtls) st_dtls_close(pc->dtls);
    if (final_state == STRAPTO_PEER_FAILED) set_state(pc, STRAPTO_PEER_FAILED);
    set_state(pc, STRAPTO_PEER_CLOSED);
    st_peer_unref(pc);
}

static void close_task(void *data) { close_internal(data, STRAPTO_PEER_CLOSED); }

int strapto_peer_close(strapto_peer *pc)
{
    if (!pc) return STRAPTO_EINVAL;
    st_ctx_run_sync(pc->ctx, pc->loop, close_task, pc);
    return STRAPTO_OK;
}

static void free_task(void *data)
{
    strapto_peer *pc = data;
    pc->released = 1;
    close_internal(pc, STRAPTO_PEER_CLOSED);
}

void strapto_peer_free(strapto_peer *pc)
{
    if (!pc) return;
    st_ctx_run_sync(pc->ctx, pc->loop, free_task, pc);
    st_peer_unref(pc);
}

int strapto_peer_state(strapto_peer *pc) { return pc ? pc->state : STRAPTO_EINVAL; }

size_t strapto_peer_max_message_size(strapto_peer *pc)
{
    if (!pc || !pc->have_remote) return 0;
    size_t r = pc->remote_max_message ? pc->remote_max_message : ST_SEND_MAX_MESSAGE;
    if (r > ST_SEND_MAX_MESSAGE) r = ST_SEND_MAX_MESSAGE;
    return r;
}

/* ---- descriptions ---- */

static const char *setup_text(strapto_peer *pc)
{
    if (pc->local_is_offer) return "actpass";
    return pc->dtls_client ? "active" : "passive";
}

/* Build the current local description. */
static char *write_local(strapto_peer *pc)
{
    st_cert *cert = st_cert_get(pc->ctx);
    size_t n_cands;
    const char *const *cands = st_ice_local_candidates(pc->ice, &n_cands);
    sdp_write_media app = {
        .kind = "application",
        .proto = pc->legacy_sctp ? "DTLS/SCTP" : "UDP/DTLS/SCTP",
        .fmt = pc->legacy_sctp ? "5000" : "webrtc-datachannel",
        .mid = pc->app_mid,
        .sctp_port = SCTP_PORT,
        .legacy_sctpmap = pc->legacy_sctp,
        .max_message_size = pc->local_max_message,
    };
    sdp_write_media *media = NULL;
    size_t n_media = 1;
    if (pc->local_is_offer || pc->n_remote_mlines == 0) {
        media = calloc(1, sizeof *media);
        if (!media) return NULL;
        media[0] = app;
    } else {
        /* an answer has the offer's sections in order; we take the application one */
        n_media = pc->n_remote_mlines;
        media = calloc(n_media, sizeof *media);
        if (!media) return NULL;
        for (size_t i = 0; i < n_media; i++) {
            if ((int)i == pc->app_mline) {
                media[i] = app;
            } else {
                media[i].kind = pc->remote_mlines[i].kind;
                media[i].proto = pc->remote_mlines[i].proto;
                media[i].fmt = pc->remote_mlines[i].fmt;
                media[i].mid = pc->remote_mlines[i].mid;
                media[i].rejected = 1;
            }
        }
    }
    sdp_write_desc d = {
        .sess_id = pc->sess_id,
        .sess_version = pc->sess_version,
        .ice_ufrag = st_ice_local_ufrag(pc->ice),
        .ice_pwd = st_ice_local_pwd(pc->ice),
        .fingerprint = cert->fingerprint,
        .setup = setup_text(pc),
        .media = media,
        .n_media = n_media,
        .candidates = cands,
        .n_candidates = n_cands,
        .end_of_candidates = st_ice_gathering_done(pc->ice),
    };
    char *sdp = sdp_write(&d);
    free(media);
    return sdp;
}

typedef struct {
    strapto_peer *pc;
    const char *type;
    const char *sdp;
    const char *cand;
    const char *mid;
    char *out;
    int rc;
} op;

static void create_dtls(strapto_peer *pc)
{
    if (pc->dtls) return;
    static const st_dtls_callbacks dcbs = {dtls_send, dtls_connected, dtls_data, dtls_closed};
    int rc = st_dtls_new(st_cert_get(pc->ctx), pc->mc, pc->dtls_client, pc->remote_fp_alg, pc->remote_fp,
                         pc->remote_fp_len, &dcbs, pc, &pc->dtls);
    if (rc < 0) {
        close_internal(pc, STRAPTO_PEER_FAILED);
        return;
    }
    ST_DEBUG(MOD, "DTLS %s", pc->dtls_client ? "client" : "server");
    for (int i = 0; i < pc->n_early && pc->dtls; i++) {
        st_dtls_input(pc->dtls, pc->early[i], pc->early_len[i]);
        g_free(pc->early[i]);
    }
    pc->n_early = 0;
    start_dtls_if_ready(pc);
}

static void create_offer_task(void *data)
{
    op *o = data;
    strapto_peer *pc = o->pc;
    if (pc->closed) { o->rc = STRAPTO_ECLOSED; return; }
    if (pc->sig == SIG_HAVE_REMOTE_OFFER) { o->rc = STRAPTO_ESTATE; return; }
    if (!pc->app_mid) pc->app_mid = st_strdup("0");
    if (!pc->have_local) st_ice_set_controlling(pc->ice, 1);
    pc->local_is_offer = 1;
    pc->have_local = 1;
    pc->sig = SIG_HAVE_LOCAL_OFFER;
    pc->sess_version++;
    o->rc = st_ice_gather(pc->ice);
    if (o->rc < 0) return;
    o->out = write_local(pc);
    if (!o->out) o->rc = STRAPTO_ENOMEM;
}

int strapto_peer_create_offer(strapto_peer *pc, char **sdp_out)
{
    if (!pc || !sdp_out) return STRAPTO_EINVAL;
    op o = {.pc = pc};
    st_ctx_run_sync(pc->ctx, pc->loop, create_offer_task, &o);
    *sdp_out = o.out;
    return o.rc;
}

static void create_answer_task(void *data)
{
    op *o = data;
    strapto_peer *pc = o->pc;
    if (pc->closed) { o->rc = STRAPTO_ECLOSED; return; }
    if (pc->sig != SIG_HAVE_REMOTE_OFFER) { o->rc = STRAPTO_ESTATE; return; }
    pc->have_local = 1;
    pc->local_is_offer = 0;
    pc->sig = SIG_STABLE;
    pc->sess_version++;
    o->rc = st_ice_gather(pc->ice);
    if (o->rc < 0) return;
    o->out = write_local(pc);
    if (!o->out) { o->rc = STRAPTO_ENOMEM; return; }
    create_dtls(pc);
}

int strapto_peer_create_answer(strapto_peer *pc, char **sdp_out)
{
    if (!pc || !sdp_out) return STRAPTO_EINVAL;
    op o = {.pc = pc};
    st_ctx_run_sync(pc->ctx, pc->loop, create_answer_task, &o);
    *sdp_out = o.out;
    return o.rc;
}

static void local_description_task(void *data)
{
    op *o = data;
    if (!o->pc->have_local) { o->rc = STRAPTO_ESTATE; return; }
    o->out = write_local(o->pc);
    o->rc = o->out ? 0 : STRAPTO_ENOMEM;
}

int strapto_peer_local_description(strapto_peer *pc, char **sdp_out)
{
    if (!pc || !sdp_out) return STRAPTO_EINVAL;
    op o = {.pc = pc};
    st_ctx_run_sync(pc->ctx, pc->loop, local_description_task, &o);
    *sdp_out = o.out;
    return o.rc;
}

static void keep_remote_mlines(strapto_peer *pc, const sdp_session *s)
{
    for (size_t i = 0; i < pc->n_remote_mlines; i++) {
        free(pc->remote_mlines[i].kind);
        free(pc->remote_mlines[i].proto);
        free(pc->remote_mlines[i].fmt);
        free(pc->remote_mlines[i].mid);
    }
    free(pc->remote_mlines);
    pc->remote_mlines = calloc(s->n_media, sizeof *pc->remote_mlines);
    pc->n_remote_mlines = pc->remote_mlines ? s->n_media : 0;
    for (size_t i = 0; i < pc->n_remote_mlines; i++) {
        pc->remote_mlines[i].kind = st_strdup(s->media[i].kind);
        pc->remote_mlines[i].proto = st_strdup(s->media[i].proto);
        pc->remote_mlines[i].fmt = st_strdup(s->media[i].fmt);
        pc->remote_mlines[i].mid = st_strdup(s->media[i].mid);
    }
}

static void set_remote_task(void *data)
{
    op *o = data;
    strapto_peer *pc = o->pc;
    int is_offer = !strcmp(o->type, "offer");
    if (pc->closed) { o->rc = STRAPTO_ECLOSED; return; }
    if (is_offer && pc->sig == SIG_HAVE_LOCAL_OFFER) {
        ST_WARN(MOD, "remote offer while our offer is pending (glare) is not supported");
        o->rc = STRAPTO_ESTATE;
        return;
    }
    if (!is_offer && pc->sig != SIG_HAVE_LOCAL_OFFER) {
        ST_WARN(MOD, "remote answer without a local offer");
        o->rc = STRAPTO_ESTATE;
        return;
    }
    char err[160] = "";
    sdp_session *s = NULL;
    int rc = sdp_parse(o->sdp, strlen(o->sdp), &s, err, sizeof err);
    if (rc < 0) {
        ST_WARN(MOD, "remote %s refused: %s", o->type, err);
        o->rc = rc;
        return;
    }
    int ai = sdp_find_application(s);
    if (ai < 0) {
        ST_WARN(MOD, "remote %s has no usable application (data channel) section", o->type);
        sdp_free(s);
        o->rc = STRAPTO_EUNSUPPORTED;
        return;
    }
    const sdp_media *m = &s->media[ai];
    if (!m->ice_ufrag || !m->ice_pwd || !m->fingerprint_alg || m->fingerprint_len == 0 ||
        strlen(m->fingerprint_alg) >= sizeof pc->remote_fp_alg) {
        ST_WARN(MOD, "remote %s lacks ICE credentials or a fingerprint", o->type);
        sdp_free(s);
        o->rc = STRAPTO_EPARSE;
        return;
    }
    if (pc->dtls && (m->fingerprint_len != pc->remote_fp_len || memcmp(m->fingerprint, pc->remote_fp, m->fingerprint_len))) {
        ST_WARN(MOD, "remote %s changes the DTLS fingerprint mid-session: refused", o->type);
        sdp_free(s);
        o->rc = STRAPTO_EUNSUPPORTED;
        return;
    }
    /* roles: from the first exchange only */
    if (pc->dtls_client < 0) {
        if (is_offer) {
            pc->dtls_client = m->setup != SDP_SETUP_ACTIVE; /* actpass/passive/none: we are active */
            int lite = m->ice_lite;
            st_ice_set_controlling(pc->ice, lite);
        } else {
            pc->dtls_client = m->setup != SDP_SETUP_ACTIVE; /* remote active: we are the server */
        }
    }
    /* a remote offer with new ICE credentials in a running session: ICE restart */
    const char *prev = st_ice_remote_ufrag(pc->ice);
    int restart = is_offer && prev && strcmp(prev, m->ice_ufrag) != 0;
    if (is_offer) {
        free(pc->app_mid);
        pc->app_mid = st_strdup(m->mid ? m->mid : "0");
        pc->app_mline = ai;
        pc->legacy_sctp = m->legacy_sctpmap;
        keep_remote_mlines(pc, s);
        if (restart) st_ice_restart(pc->ice);
    }
    memcpy(pc->remote_fp, m->fingerprint, m->fingerprint_len);
    pc->remote_fp_len = m->fingerprint_len;
    strcpy(pc->remote_fp_alg, m->fingerprint_alg);
    pc->remote_sctp_port = m->sctp_port ? m->sctp_port : SCTP_PORT;
    pc->remote_max_message = !m->max_message_size_present ? ST_REMOTE_DEFAULT_MAX_MESSAGE : m->max_message_size;
    rc = st_ice_set_remote_credentials(pc->ice, m->ice_ufrag, m->ice_pwd);
    if (rc < 0) {
        sdp_free(s);
        o->rc = rc;
        return;
    }
    for (size_t i = 0; i < m->n_candidates; i++) st_ice_add_remote_candidate(pc->ice, m->candidates[i]);
    if (m->end_of_candidates) st_ice_remote_gathering_done(pc->ice);
    pc->have_remote = 1;
    pc->sig = is_offer ? SIG_HAVE_REMOTE_OFFER : SIG_STABLE;
    sdp_free(s);
    for (int i = 0; i < pc->n_early_cands; i++) { /* candidates that came first */
        if (*pc->early_cands[i]) st_ice_add_remote_candidate(pc->ice, pc->early_cands[i]);
        else st_ice_remote_gathering_done(pc->ice);
        g_free(pc->early_cands[i]);
    }
    pc->n_early_cands = 0;
    if (!is_offer) create_dtls(pc);
    o->rc = 0;
}

int strapto_peer_set_remote_description(strapto_peer *pc, const char *type, const char *sdp)
{
    if (!pc || !type || !sdp) return STRAPTO_EINVAL;
    if (strcmp(type, "offer") && strcmp(type, "answer")) return STRAPTO_EINVAL;
    size_t len = strnlen(sdp, SDP_MAX_TEXT + 1);
    if (len > SDP_MAX_TEXT) {
        ST_WARN(MOD, "remote %s refused: larger than %d bytes", type, SDP_MAX_TEXT);
        return STRAPTO_ETOOBIG;
    }
    op o = {.pc = pc, .type = type, .sdp = sdp};
    st_ctx_run_sync(pc->ctx, pc->loop, set_remote_task, &o);
    return o.rc;
}

static void add_candidate_task(void *data)
{
    op *o = data;
    strapto_peer *pc = o->pc;
    if (pc->closed) { o->rc = STRAPTO_ECLOSED; return; }
    if (!pc->have_remote) {
        /* trickle can outrun the description: keep a bounded number for later */
        if (pc->n_early_cands >= ST_ICE_MAX_REMOTE_CANDIDATES) { o->rc = STRAPTO_ELIMIT; return; }
        pc->early_cands[pc->n_early_cands++] = g_strdup(o->cand ? o->cand : "");
        o->rc = 0;
        return;
    }
    if (!o->cand || !*o->cand || !strcmp(o->cand, "end-of-candidates") || !strcmp(o->cand, "a=end-of-candidates")) {
        st_ice_remote_gathering_done(pc->ice);
        o->rc = 0;
        return;
    }
    o->rc = st_ice_add_remote_candidate(pc->ice, o->cand);
}

int strapto_peer_add_remote_candidate(strapto_peer *pc, const char *candidate, const char *mid)
{
    if (!pc) return STRAPTO_EINVAL;
    if (candidate && strlen(candidate) > 1024) return STRAPTO_ETOOBIG;
    op o = {.pc = pc, .cand = candidate, .mid = mid};
    st_ctx_run_sync(pc->ctx, pc->loop, add_candidate_task, &o);
    return o.rc;
}

static void restart_task(void *data)
{
    op *o = data;
    strapto_peer *pc = o->pc;
    if (pc->closed) { o->rc = STRAPTO_ECLOSED; return; }
    if (pc->sig != SIG_STABLE || !pc->have_remote) { o->rc = STRAPTO_ESTATE; return; }
    o->rc = st_ice_restart(pc->ice); /* the next offer carries the new credentials */
}

int strapto_peer_restart_ice(strapto_peer *pc)
{
    if (!pc) return STRAPTO_EINVAL;
    op o = {.pc = pc};
    st_ctx_run_sync(pc->ctx, pc->loop, restart_task, &o);
    return o.rc;
}
