/* Data channels (RFC 8831/8832): DCEP open/ack, stream ids, messages,
 * the per-peer send queue with bufferedAmount, and closing by stream reset. */
#include <stdlib.h>
#include "rtc/dcep.h"
#include "rtc/peer_internal.h"

#define MOD "dc"

void strapto_dc_init_default(strapto_dc_init *i)
{
    if (!i) return;
    memset(i, 0, sizeof *i);
    i->ordered = 1;
    i->max_retransmits = -1;
    i->max_packet_life_time = -1;
    i->id = -1;
}

/* ---- references ---- */

strapto_dc *strapto_dc_ref(strapto_dc *dc)
{
    if (dc) g_atomic_int_inc(&dc->refs);
    return dc;
}

void strapto_dc_unref(strapto_dc *dc)
{
    if (!dc || !g_atomic_int_dec_and_test(&dc->refs)) return;
    strapto_peer *pc = dc->pc;
    g_free(dc->label);
    g_free(dc->protocol);
    free(dc);
    st_peer_unref(pc);
}

static strapto_dc *dc_new(strapto_peer *pc, const char *label, size_t label_len, const char *proto,
                          size_t proto_len)
{
    strapto_dc *dc = calloc(1, sizeof *dc);
    if (!dc) return NULL;
    dc->label = g_strndup(label ? label : "", label ? label_len : 0);
    dc->protocol = g_strndup(proto ? proto : "", proto ? proto_len : 0);
    dc->refs = 1; /* the table's */
    dc->in_table = 1;
    dc->pc = pc;
    dc->id = -1;
    dc->ordered = 1;
    dc->max_retransmits = -1;
    dc->max_packet_life_time = -1;
    st_peer_ref(pc);
    return dc;
}

/* ---- callbacks, always on the loop thread and outside pc->mu ---- */

static strapto_dc_callbacks get_cbs(strapto_dc *dc)
{
    g_mutex_lock(&dc->pc->mu);
    strapto_dc_callbacks c = dc->cbs;
    g_mutex_unlock(&dc->pc->mu);
    return c;
}

static void fire_open(strapto_dc *dc)
{
    if (!st_peer_can_callback(dc->pc)) return;
    strapto_dc_callbacks c = get_cbs(dc);
    if (c.on_open) c.on_open(dc, c.user);
}

/* Mark closed, drop from the table, tell the user. Loop thread. */
static void finish_close(strapto_dc *dc)
{
    strapto_peer *pc = dc->pc;
    g_mutex_lock(&pc->mu);
    if (dc->state == STRAPTO_DC_CLOSED) {
        g_mutex_unlock(&pc->mu);
        return;
    }
    dc->state = STRAPTO_DC_CLOSED;
    if (dc->id >= 0 && dc->id < ST_SCTP_STREAMS && pc->by_sid[dc->id] == dc) pc->by_sid[dc->id] = NULL;
    g_ptr_array_remove(pc->pending, dc);
    strapto_dc_callbacks c = dc->cbs;
    g_mutex_unlock(&pc->mu);
    ST_DEBUG(MOD, "channel %d '%s' closed", dc->id, dc->label);
    if (st_peer_can_callback(pc) && c.on_close) c.on_close(dc, c.user);
    if (dc->in_table) {
        dc->in_table = 0;
        strapto_dc_unref(dc);
    }
}

/* ---- opening ---- */

static uint8_t channel_type(const strapto_dc *dc)
{
    uint8_t t = DCEP_RELIABLE;
    if (dc->max_retransmits >= 0) t = DCEP_PARTIAL_RELIABLE_REXMIT;
    else if (dc->max_packet_life_time >= 0) t = DCEP_PARTIAL_RELIABLE_TIMED;
    if (!dc->ordered) t |= DCEP_UNORDERED;
    return t;
}

/* Choose a free stream id of our parity (DTLS client even, server odd). Under mu. */
static int pick_sid(strapto_peer *pc)
{
    int limit = st_sctp_streams_out(pc->sctp);
    if (limit <= 0 || limit > ST_SCTP_STREAMS) limit = ST_SCTP_STREAMS;
    for (int sid = pc->dtls_client ? 0 : 1; sid < limit; sid += 2)
        if (!pc->by_sid[sid]) return sid;
    return -1;
}

/* Send DATA_CHANNEL_OPEN (or nothing, when negotiated) and open. Under mu;
 * returns 1 when on_open should fire. */
static int open_locked(strapto_peer *pc, strapto_dc *dc)
{
    if (dc->id < 0) dc->id = pick_sid(pc);
    if (dc->id < 0 || (dc->id < ST_SCTP_STREAMS && pc->by_sid[dc->id] && pc->by_sid[dc->id] != dc)) {
        ST_WARN(MOD, "no free stream for channel '%s'", dc->label);
        return -1;
    }
    pc->by_sid[dc->id] = dc;
    if (!dc->negotiated) {
        size_t ll = strlen(dc->label), pl = strlen(dc->protocol);
        dcep_open o = {.channel_type = channel_type(dc),
                       .reliability = (uint32_t)(dc->max_retransmits >= 0 ? dc->max_retransmits
                                                  : dc->max_packet_life_time >= 0 ? dc->max_packet_life_time : 0),
                       .label = dc->label,
                       .label_len = (uint16_t)ll,
                       .protocol = dc->protocol,
                       .protocol_len = (uint16_t)pl};
        uint8_t *buf = malloc(12 + ll + pl);
        size_t n = buf ? dcep_write_open(&o, buf, 12 + ll + pl) : 0;
        int rc = n ? st_sctp_send(pc->sctp, (uint16_t)dc->id, PPID_DCEP, 0, ST_PR_NONE, 0, buf, n) : STRAPTO_ENOMEM;
        free(buf);
        if (rc < 0) {
            ST_WARN(MOD, "cannot send DATA_CHANNEL_OPEN for '%s': %s", dc->label, strapto_strerror(rc));
            return -1;
        }
    } else {
        dc->acked = 1;
    }
    /* RFC 8832 lets us send before the ACK (some peers never send one) */
    dc->state = STRAPTO_DC_OPEN;
    ST_DEBUG(MOD, "channel %d '%s' open (%s)", dc->id, dc->label, dc->negotiated ? "negotiated" : "DCEP");
    return 1;
}

void st_dc_on_sctp_connected(strapto_peer *pc)
{
    g_mutex_lock(&pc->mu);
    pc->sctp_up = 1;
    GPtrArray *opened = g_ptr_array_new();
    GPtrArray *failed = g_ptr_array_new();
    for (guint i = 0; i < pc->pending->len; i++) {
        strapto_dc *dc = g_ptr_array_index(pc->pending, i);
        g_ptr_array_add(open_locked(pc, dc) > 0 ? opened : failed, dc);
    }
    g_ptr_array_set_size(pc->pending, 0);
    g_mutex_unlock(&pc->mu);
    for (guint i = 0; i < opened->len; i++) fire_open(g_ptr_array_index(opened, i));
    for (guint i = 0; i < failed->len; i++) finish_close(g_ptr_array_index(failed, i));
    g_ptr_array_free(opened, TRUE);
    g_ptr_array_free(failed, TRUE);
}

typedef struct {
    strapto_peer *pc;
    strapto_dc *dc;
    int rc;
} create_op;

static void fire_open_and_unref_task(void *data)
{
    fire_open(data);
    strapto_dc_unref(data);
}

static void create_task(void *data)
{
    create_op *o = data;
    strapto_peer *pc = o->pc;
    strapto_dc *dc = o->dc;
    if (pc->closed) {
        o->rc = STRAPTO_ECLOSED;
        return;
    }
    g_mutex_lock(&pc->mu);
    if (dc->id >= 0 && pc->by_sid[dc->id]) {
        g_mutex_unlock(&pc->mu);
        o->rc = STRAPTO_ESTATE;
        return;
    }
    int fire = 0;
    if (pc->sctp_up) {
        fire = open_locked(pc, dc);
    } else {
        if (dc->id >= 0) pc->by_sid[dc->id] = dc;
        g_ptr_array_add(pc->pending, dc);
    }
    g_mutex_unlock(&pc->mu);
    o->rc = fire < 0 ? STRAPTO_ELIMIT : 0;
    if (fire > 0) {
        /* on_open after strapto_peer_create_dc() returned, like a browser */
        strapto_dc_ref(dc);
        strapto_ctx_post(pc->ctx, pc->loop, fire_open_and_unref_task, dc);
    }
}


int strapto_peer_create_dc(strapto_peer *pc, const strapto_dc_init *init, const strapto_dc_callbacks *cbs,
                           strapto_dc **out)
{
    if (!pc || !out) return STRAPTO_EINVAL;
    *out = NULL;
    strapto_dc_init d;
    strapto_dc_init_default(&d);
    if (!init) init = &d;
    if (init->max_retransmits >= 0 && init->max_packet_life_time >= 0) return STRAPTO_EINVAL;
    if (init->negotiated && (init->id < 0 || init->id >= ST_SCTP_STREAMS)) return STRAPTO_EINVAL;
    if (init->id >= ST_SCTP_STREAMS) return STRAPTO_EINVAL;
    size_t ll = init->label ? strlen(init->label) : 0, pl = init->protocol ? strlen(init->protocol) : 0;
    if (ll > 65535 || pl > 65535) return STRAPTO_ETOOBIG;
    strapto_dc *dc = dc_new(pc, init->label, ll, init->protocol, pl);
    if (!dc) return STRAPTO_ENOMEM;
    dc->ordered = init->ordered ? 1 : 0;
    dc->max_retransmits = init->max_retransmits;
    dc->max_packet_life_time = init->max_packet_life_time;
    dc->negotiated = init->negotiated ? 1 : 0;
    dc->id = init->id;
    if (cbs) dc->cbs = *cbs;
    create_op o = {pc, dc, 0};
    st_ctx_run_sync(pc->ctx, pc->loop, create_task, &o);
    if (o.rc < 0) {
        dc->in_table = 0;
        strapto_dc_unref(dc);
        return o.rc;
    }
    *out = dc;
    return 0;
}

static void handle_open(strapto_peer *pc, uint16_t sid, const uint8_t *data, size_t len)
{
    dcep_open o;
    if (dcep_parse_open(data, len, &o) < 0) {
        ST_WARN(MOD, "malformed DATA_CHANNEL_OPEN on stream %u; ignored", sid);
        return;
    }
    g_mutex_lock(&pc->mu);
    int taken = pc->by_sid[sid] != NULL;
    g_mutex_unlock(&pc->mu);
    if (taken || (sid % 2) == (pc->dtls_client ? 0 : 1)) {
        ST_WARN(MOD, "DATA_CHANNEL_OPEN on stream %u %s; ignored", sid,
                taken ? "already in use" : "of our own parity");
        return;
    }
    strapto_dc *dc = dc_new(pc, o.label, o.label_len, o.protocol, o.protocol_len);
    if (!dc) return;
    dc->id = sid;
    dc->ordered = !(o.channel_type & DCEP_UNORDERED);
    if ((o.channel_type & 0x7f) == DCEP_PARTIAL_RELIABLE_REXMIT) dc->max_retransmits = (int)(o.reliability & 0x7fffffff);
    if ((o.channel_type & 0x7f) == DCEP_PARTIAL_RELIABLE_TIMED) dc->max_packet_life_time = (int)(o.reliability & 0x7fffffff);
    dc->acked = 1;
    dc->state = STRAPTO_DC_OPEN;
    g_mutex_lock(&pc->mu);
    pc->by_sid[sid] = dc;
    g_mutex_unlock(&pc->mu);
    static const uint8_t ack = DCEP_ACK;
    int rc = st_sctp_send(pc->sctp, sid, PPID_DCEP, 0, ST_PR_NONE, 0, &ack, 1);
    if (rc < 0) ST_WARN(MOD, "cannot send DATA_CHANNEL_ACK on stream %u: %s", sid, strapto_strerror(rc));
    ST_DEBUG(MOD, "remote opened channel %u '%s'", sid, dc->label);
    strapto_dc_ref(dc);
    if (st_peer_can_callback(pc) && pc->cbs.on_datachannel) pc->cbs.on_datachannel(pc, dc, pc->cbs.user);
    if (dc->state == STRAPTO_DC_OPEN) fire_open(dc);
    strapto_dc_unref(dc);
}

void st_dc_on_message(strapto_peer *pc, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len)
{
    if (sid >= ST_SCTP_STREAMS) return;
    if (ppid == PPID_DCEP) {
        if (len >= 1 && data[0] == DCEP_OPEN) {
            handle_open(pc, sid, data, len);
        } else if (len >= 1 && data[0] == DCEP_ACK) {
            g_mutex_lock(&pc->mu);
            if (pc->by_sid[sid]) pc->by_sid[sid]->acked = 1;
            g_mutex_unlock(&pc->mu);
        } else {
            ST_WARN(MOD, "unknown DCEP message on stream %u; ignored", sid);
        }
        return;
    }
    g_mutex_lock(&pc->mu);
    strapto_dc *dc = pc->by_sid[sid];
    if (dc) strapto_dc_ref(dc);
    strapto_dc_callbacks c = dc ? dc->cbs : (strapto_dc_callbacks){0};
    int open = dc && dc->state == STRAPTO_DC_OPEN;
    g_mutex_unlock(&pc->mu);
    if (!dc) {
        ST_DEBUG(MOD, "message on stream %u with no channel; dropped", sid);
        return;
    }
    /* the remote sends data: it got our OPEN */
    dc->acked = 1;
    int binary;
    switch (ppid) {
    case PPID_STRING: binary = 0; break;
    case PPID_BINARY: binary = 1; break;
    case PPID_STRING_EMPTY: binary = 0; len = 0; break;
    case PPID_BINARY_EMPTY: binary = 1; len = 0; break;
    default:
        ST_WARN(MOD, "message with unknown PPID %u on stream %u; dropped", ppid, sid);
        strapto_dc_unref(dc);
        return;
    }
    if (open && c.on_message && st_peer_can_callback(pc)) c.on_message(dc, data, len, binary, c.user);
    strapto_dc_unref(dc);
}

void st_dc_on_stream_reset(strapto_peer *pc, uint16_t sid)
{
    g_mutex_lock(&pc->mu);
    strapto_dc *dc = sid < ST_SCTP_STREAMS ? pc->by_sid[sid] : NULL;
    int need_reset = dc && !dc->reset_sent;
    if (dc) {
        dc->reset_sent = 1;
        strapto_dc_ref(dc);
    }
    g_mutex_unlock(&pc->mu);
    if (!dc) return;
    if (need_reset) st_sctp_reset_stream(pc->sctp, sid);
    finish_close(dc);
    strapto_dc_unref(dc);
}

void st_dc_close_all(strapto_peer *pc)
{
    GPtrArray *all = g_ptr_array_new();
    g_mutex_lock(&pc->mu);
    for (int i = 0; i < ST_SCTP_STREAMS; i++)
        if (pc->by_sid[i] && pc->by_sid[i]->in_table) {
            strapto_dc_ref(pc->by_sid[i]);
            g_ptr_array_add(all, pc->by_sid[i]);
        }
    for (guint i = 0; i < pc->pending->len; i++) {
        strapto_dc *dc = g_ptr_array_index(pc->pending, i);
        if (dc->id < 0 || pc->by_sid[dc->id] != dc) {
            strapto_dc_ref(dc);
            g_ptr_array_add(all, dc);
        }
    }
    g_mutex_unlock(&pc->mu);
    for (guint i = 0; i < all->len; i++) {
        finish_close(g_ptr_array_index(all, i));
        strapto_dc_unref(g_ptr_array_index(all, i));
    }
    g_ptr_array_free(all, TRUE);
}

/* ---- sending ---- */

static int pr_policy(const strapto_dc *dc, uint32_t *value)
{
    if (dc->max_retransmits >= 0) {
        *value = (uint32_t)dc->max_retransmits;
        return ST_PR_RTX;
    }
    if (dc->max_packet_life_time >= 0) {
        *value = (uint32_t)dc->max_packet_life_time;
        return ST_PR_TTL;
    }
    *value = 0;
    return ST_PR_NONE;
}

/* Under mu. */
static int send_now(strapto_peer *pc, strapto_dc *dc, uint32_t ppid, const void *data, size_t len)
{
    uint32_t prv;
    int pol = pr_policy(dc, &prv);
    /* until the remote acknowledged the channel, send ordered (RFC 8832 s6) */
    int unordered = !dc->ordered && dc->acked;
    return st_sctp_send(pc->sctp, (uint16_t)dc->id, ppid, unordered, pol, prv, data, len);
}

int strapto_dc_send(strapto_dc *dc, const void *data, size_t len, int binary)
{
    if (!dc || (!data && len)) return STRAPTO_EINVAL;
    strapto_peer *pc = dc->pc;
    static const uint8_t zero = 0;
    uint32_t ppid = binary ? (len ? PPID_BINARY : PPID_BINARY_EMPTY) : (len ? PPID_STRING : PPID_STRING_EMPTY);
    if (!len) { /* empty messages carry one ignored byte */
        data = &zero;
        len = 1;
    }
    size_t max = strapto_peer_max_message_size(pc);
    g_mutex_lock(&pc->mu);
    int rc;
    if (dc->state != STRAPTO_DC_OPEN || pc->closed || !pc->sctp) {
        rc = STRAPTO_ESTATE;
    } else if (len > max) {
        rc = STRAPTO_ETOOBIG;
    } else if (!pc->q_head && (rc = send_now(pc, dc, ppid, data, len)) != STRAPTO_EAGAIN) {
        /* sent, or failed for good */
    } else if (pc->queued + len > pc->max_buffered) {
        rc = STRAPTO_EAGAIN;
        if (!dc->want_low) { /* the queue is the peer's: this channel may have nothing in it */
            dc->want_low = 1;
            pc->n_want_low++;
        }
    } else {
        st_outmsg *m = malloc(sizeof *m + len);
        if (!m) {
            rc = STRAPTO_ENOMEM;
        } else {
            m->next = NULL;
            m->dc = strapto_dc_ref(dc);
            m->ppid = ppid;
            m->len = len;
            memcpy(m->data, data, len);
            if (pc->q_tail) pc->q_tail->next = m;
            else pc->q_head = m;
            pc->q_tail = m;
            pc->queued += len;
            dc->buffered += len;
            rc = 0;
        }
    }
    g_mutex_unlock(&pc->mu);
    return rc;
}

void st_dc_on_writable(strapto_peer *pc)
{
    GPtrArray *low = NULL, *resets = NULL;
    g_mutex_lock(&pc->mu);
    while (pc->q_head) {
        st_outmsg *m = pc->q_head;
        int rc = m->dc->state == STRAPTO_DC_OPEN || m->dc->close_after_flush ? send_now(pc, m->dc, m->ppid, m->data, m->len) : STRAPTO_ESTATE;
        if (rc == STRAPTO_EAGAIN) break;
        if (rc < 0) ST_WARN(MOD, "queued message on channel %d dropped: %s", m->dc->id, strapto_strerror(rc));
        pc->q_head = m->next;
        if (!pc->q_head) pc->q_tail = NULL;
        pc->queued -= m->len;
        strapto_dc *dc = m->dc;
        size_t before = dc->buffered;
        dc->buffered -= m->len;
        if (before > dc->low_threshold && dc->buffered <= dc->low_threshold && dc->cbs.on_buffered_amount_low) {
            if (!low) low = g_ptr_array_new();
            g_ptr_array_add(low, strapto_dc_ref(dc));
        }
        if (dc->close_after_flush && dc->buffered == 0 && !dc->reset_sent) {
            dc->reset_sent = 1;
            if (!resets) resets = g_ptr_array_new();
            g_ptr_array_add(resets, strapto_dc_ref(dc));
        }
        free(m);
        strapto_dc_unref(dc); /* the queue's reference; the table still holds one while open */
    }
    if (pc->n_want_low && pc->queued <= pc->max_buffered / 2) {
        for (int i = 0; i < ST_SCTP_STREAMS && pc->n_want_low; i++) {
            strapto_dc *d = pc->by_sid[i];
            if (!d || !d->want_low) continue;
            d->want_low = 0;
            pc->n_want_low--;
            if (!d->cbs.on_buffered_amount_low) continue;
            if (!low) low = g_ptr_array_new();
            if (!g_ptr_array_find(low, d, NULL)) g_ptr_array_add(low, strapto_dc_ref(d));
        }
        pc->n_want_low = 0;
    }
    g_mutex_unlock(&pc->mu);
    if (resets) {
        for (guint i = 0; i < resets->len; i++) {
            strapto_dc *dc = g_ptr_array_index(resets, i);
            if (st_sctp_reset_stream(pc->sctp, (uint16_t)dc->id) < 0) finish_close(dc);
            strapto_dc_unref(dc);
        }
        g_ptr_array_free(resets, TRUE);
    }
    if (!low) return;
    for (guint i = 0; i < low->len; i++) {
        strapto_dc *dc = g_ptr_array_index(low, i);
        strapto_dc_callbacks c = get_cbs(dc);
        if (st_peer_can_callback(pc) && c.on_buffered_amount_low && dc->state == STRAPTO_DC_OPEN)
            c.on_buffered_amount_low(dc, c.user);
        strapto_dc_unref(dc);
    }
    g_ptr_array_free(low, TRUE);
}

void st_dc_free_queue(strapto_peer *pc)
{
    g_mutex_lock(&pc->mu);
    st_outmsg *m = pc->q_head;
    pc->q_head = pc->q_tail = NULL;
    pc->queued = 0;
    for (st_outmsg *i = m; i; i = i->next) i->dc->buffered -= i->len;
    g_mutex_unlock(&pc->mu);
    /* queued messages hold their channel, which holds the peer: drop them
     * outside the lock, or a closed peer would never be freed */
    while (m) {
        st_outmsg *next = m->next;
        strapto_dc_unref(m->dc);
        free(m);
        m = next;
    }
}

/* ---- the rest of the API ---- */

int strapto_dc_set_callbacks(strapto_dc *dc, const strapto_dc_callbacks *cbs)
{
    if (!dc) return STRAPTO_EINVAL;
    g_mutex_lock(&dc->pc->mu);
    if (cbs) dc->cbs = *cbs;
    else memset(&dc->cbs, 0, sizeof dc->cbs);
    g_mutex_unlock(&dc->pc->mu);
    return 0;
}

size_t strapto_dc_buffered_amount(strapto_dc *dc)
{
    if (!dc) return 0;
    g_mutex_lock(&dc->pc->mu);
    size_t b = dc->buffered;
    g_mutex_unlock(&dc->pc->mu);
    return b;
}

int strapto_dc_set_buffered_amount_low_threshold(strapto_dc *dc, size_t bytes)
{
    if (!dc) return STRAPTO_EINVAL;
    g_mutex_lock(&dc->pc->mu);
    dc->low_threshold = bytes;
    g_mutex_unlock(&dc->pc->mu);
    return 0;
}

static void close_task(void *data)
{
    strapto_dc *dc = data;
    strapto_peer *pc = dc->pc;
    g_mutex_lock(&pc->mu);
    int state = dc->state;
    int do_reset = state == STRAPTO_DC_OPEN && !dc->reset_sent && pc->sctp && !pc->closed;
    if (do_reset) {
        dc->state = STRAPTO_DC_CLOSING;
        if (dc->buffered > 0) { /* queued data goes out first; on_writable resets */
            dc->close_after_flush = 1;
            do_reset = 0;
        } else {
            dc->reset_sent = 1;
        }
    }
    g_mutex_unlock(&pc->mu);
    if (do_reset) {
        /* the channel closes when the remote resets its side in turn */
        if (st_sctp_reset_stream(pc->sctp, (uint16_t)dc->id) < 0) finish_close(dc);
    } else if (state == STRAPTO_DC_CONNECTING) {
        finish_close(dc);
    }
}

int strapto_dc_close(strapto_dc *dc)
{
    if (!dc) return STRAPTO_EINVAL;
    strapto_dc_ref(dc);
    st_ctx_run_sync(dc->pc->ctx, dc->pc->loop, close_task, dc);
    strapto_dc_unref(dc);
    return 0;
}

const char *strapto_dc_label(strapto_dc *dc) { return dc ? dc->label : NULL; }
const char *strapto_dc_protocol(strapto_dc *dc) { return dc ? dc->protocol : NULL; }
int strapto_dc_id(strapto_dc *dc) { return dc ? dc->id : STRAPTO_EINVAL; }
int strapto_dc_ordered(strapto_dc *dc) { return dc ? dc->ordered : STRAPTO_EINVAL; }
int strapto_dc_max_retransmits(strapto_dc *dc) { return dc ? dc->max_retransmits : STRAPTO_EINVAL; }
int strapto_dc_max_packet_life_time(strapto_dc *dc) { return dc ? dc->max_packet_life_time : STRAPTO_EINVAL; }
int strapto_dc_negotiated(strapto_dc *dc) { return dc ? dc->negotiated : STRAPTO_EINVAL; }
int strapto_dc_state(strapto_dc *dc) { return dc ? dc->state : STRAPTO_EINVAL; }
strapto_peer *strapto_dc_peer(strapto_dc *dc) { return dc ? dc->pc : NULL; }
