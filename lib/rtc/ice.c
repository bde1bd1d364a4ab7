/* ICE with libnice: host candidates on chosen addresses, STUN/TURN, trickle,
 * restart. */
#include <agent.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdlib.h>
#include "core/internal.h"
#include "rtc/ice.h"

#define ST_ICE_SOCKET_BUFFER (4 * 1024 * 1024)

struct st_ice {
    NiceAgent *agent;
    guint stream;
    GMainContext *mc;
    st_ice_callbacks cbs;
    void *user;
    int gathering, gathered;
    int state;
    int restarting; /* until a pair is selected with the new credentials */
    size_t n_remote;
    char *ufrag, *pwd;
    char *remote_ufrag, *remote_pwd;
    char *local[ST_ICE_MAX_LOCAL_CANDIDATES + 1];
    size_t n_local;
    gulong sig[4];
};

/* ---- configuration parsing ---- */

static int resolve_host(const char *host, char *ip, size_t iplen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return -1;
    int ok = getnameinfo(res->ai_addr, res->ai_addrlen, ip, (socklen_t)iplen, NULL, 0, NI_NUMERICHOST) == 0;
    freeaddrinfo(res);
    return ok ? 0 : -1;
}

/* "scheme:[user:pass@]host[:port][?transport=x]" */
static int parse_server(const char *uri, const char *scheme, char *user, char *pass, char *host, int *port,
                        int *tcp)
{
    size_t sl = strlen(scheme);
    if (strncmp(uri, scheme, sl) || uri[sl] != ':') return -1;
    char buf[512];
    if (strlen(uri + sl + 1) >= sizeof buf) return -1;
    strcpy(buf, uri + sl + 1);
    *tcp = 0;
    char *q = strchr(buf, '?');
    if (q) {
        *q++ = 0;
        if (!strcmp(q, "transport=tcp")) *tcp = 1;
        else if (strcmp(q, "transport=udp")) return -1;
    }
    char *hp = buf;
    user[0] = pass[0] = 0;
    char *at = strrchr(buf, '@');
    if (at) {
        *at = 0;
        hp = at + 1;
        char *colon = strchr(buf, ':');
        if (!colon) return -1;
        *colon = 0;
        if (strlen(buf) > 127 || strlen(colon + 1) > 127) return -1;
        strcpy(user, buf);
        strcpy(pass, colon + 1);
    }
    *port = 3478;
    char *pc = strrchr(hp, ':');
    if (pc && !strchr(pc + 1, ']')) {
        *pc = 0;
        char *end;
        long p = strtol(pc + 1, &end, 10);
        if (*end || p <= 0 || p > 65535) return -1;
        *port = (int)p;
    }
    if (hp[0] == '[') {
        hp++;
        char *rb = strchr(hp, ']');
        if (rb) *rb = 0;
    }
    if (!*hp || strlen(hp) > 255) return -1;
    strcpy(host, hp);
    return 0;
}

static int add_local(st_ice *ice, const char *item)
{
    NiceAddress a;
    nice_address_init(&a);
    if (nice_address_set_from_string(&a, item)) {
        nice_agent_add_local_address(ice->agent, &a);
        return 0;
    }
    /* an interface name: add each of its addresses */
    struct ifaddrs *ifs = NULL, *i;
    int found = 0;
    if (getifaddrs(&ifs) != 0) return -1;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || strcmp(i->ifa_name, item)) continue;
        if (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6) continue;
        if (i->ifa_addr->sa_family == AF_INET6 &&
            IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
            continue;
        nice_address_set_from_sockaddr(&a, i->ifa_addr);
        nice_agent_add_local_address(ice->agent, &a);
        found++;
    }
    freeifaddrs(ifs);
    return found ? 0 : -1;
}

static int configure(st_ice *ice, const st_ice_config *cfg)
{
    char user[128], pass[128], host[256], ip[64];
    int port, tcp;
    const char *addrs = cfg->local_addresses;
    if (!addrs || !*addrs) addrs = getenv("STRAPTO_ICE_ADDRESSES");
    if (addrs && *addrs) {
        gchar **v = g_strsplit_set(addrs, ", ", -1);
        for (gchar **p = v; *p; p++) {
            if (!**p) continue;
            if (add_local(ice, *p) < 0) {
                ST_ERR("ice", "local address '%s' is neither an IP address nor an interface with addresses", *p);
                g_strfreev(v);
                return STRAPTO_EINVAL;
            }
        }
        g_strfreev(v);
    }
    if (cfg->stun_servers && *cfg->stun_servers) {
        gchar **v = g_strsplit(cfg->stun_servers, ",", -1);
        int rc = 0;
        for (gchar **p = v; *p && !rc; p++) {
            g_strstrip(*p);
            if (!**p) continue;
            if (parse_server(*p, "stun", user, pass, host, &port, &tcp) < 0 || resolve_host(host, ip, sizeof ip) < 0) {
                ST_ERR("ice", "bad STUN server '%s' (want stun:HOST[:PORT])", *p);
                rc = STRAPTO_EINVAL;
                break;
            }
            /* libnice takes one STUN server: the first */
            if (p != v) {
                ST_WARN("ice", "only the first STUN server is used; ignoring '%s'", *p);
                continue;
            }
            g_object_set(ice->agent, "stun-server", ip, "stun-server-port", (guint)port, NULL);
        }
        g_strfreev(v);
        if (rc) return rc;
    }
    if (cfg->turn_servers && *cfg->turn_servers) {
        gchar **v = g_strsplit(cfg->turn_servers, ",", -1);
        int rc = 0;
        for (gchar **p = v; *p && !rc; p++) {
            g_strstrip(*p);
            if (!**p) continue;
            int turns = !strncmp(*p, "turns:", 6);
            if (parse_server(*p, turns ? "turns" : "turn", user, pass, host, &port, &tcp) < 0 ||
                resolve_host(host, ip, sizeof ip) < 0) {
                ST_ERR("ice", "bad TURN server (want turn:USER:PASS@HOST[:PORT][?transport=udp|tcp])");
                rc = STRAPTO_EINVAL;
                break;
            }
            NiceRelayType t = turns ? NICE_RELAY_TYPE_TURN_TLS : tcp ? NICE_RELAY_TYPE_TURN_TCP : NICE_RELAY_TYPE_TURN_UDP;
            nice_agent_set_relay_info(ice->agent, ice->stream, 1, ip, (guint)port, user, pass, t);
        }
        g_strfreev(v);
        if (rc) return rc;
    }
    if (cfg->relay_only) {
        if (!cfg->turn_servers || !*cfg->turn_servers) {
            ST_ERR("ice", "relay_only needs a TURN server");
            return STRAPTO_EINVAL;
        }
        g_object_set(ice->agent, "force-relay", TRUE, NULL);
    }
    if (cfg->port_min || cfg->port_max)
        nice_agent_set_port_range(ice->agent, ice->stream, 1, cfg->port_min, cfg->port_max);
    return 0;
}

/* ---- libnice signals ---- */

static void on_new_candidate(NiceAgent *agent, NiceCandidate *c, gpointer data)
{
    st_ice *ice = data;
    if (c->stream_id != ice->stream || c->component_id != 1) return;
    gchar *sdp = nice_agent_generate_local_candidate_sdp(agent, c);
    if (!sdp) return;
    const char *s = !strncmp(sdp, "a=", 2) ? sdp + 2 : sdp;
    if (ice->n_local < ST_ICE_MAX_LOCAL_CANDIDATES) {
        ice->local[ice->n_local++] = g_strdup(s);
        ice->local[ice->n_local] = NULL;
        ST_DEBUG("ice", "local %s", s);
        ice->cbs.on_candidate(ice->user, s);
    }
    g_free(sdp);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    st_ice *ice = data;
    if (stream != ice->stream || ice->gathered) return;
    ice->gathered = 1;
    ST_DEBUG("ice", "gathering done: %zu candidates", ice->n_local);
    ice->cbs.on_candidate(ice->user, NULL);
}

static void set_state(st_ice *ice, int s)
{
    if (ice->state == s) return;
    ice->state = s;
    ice->cbs.on_state(ice->user, s);
}

static void on_component_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer data)
{
    st_ice *ice = data;
    if (stream != ice->stream || comp != 1) return;
    ST_DEBUG("ice", "component state %s", nice_component_state_to_string(state));
    switch (state) {
    case NICE_COMPONENT_STATE_CONNECTING:
        if (ice->state == ST_ICE_NEW) set_state(ice, ST_ICE_CHECKING);
        break;
    case NICE_COMPONENT_STATE_CONNECTED:
    case NICE_COMPONENT_STATE_READY: set_state(ice, ST_ICE_CONNECTED); break;
    case NICE_COMPONENT_STATE_FAILED: set_state(ice, ST_ICE_FAILED); break;
    case NICE_COMPONENT_STATE_DISCONNECTED:
        if (ice->state == ST_ICE_CONNECTED) set_state(ice, ST_ICE_DISCONNECTED);
        break;
    default: break;
    }
}

/* Bigger kernel buffers on the socket in use: bursts of DTLS records
 * overflow the default 208 KiB and SCTP then has to retransmit. */
static void size_socket_buffers(st_ice *ice)
{
    GSocket *sock = nice_agent_get_selected_socket(ice->agent, ice->stream, 1);
    if (!sock) return;
    g_socket_set_option(sock, SOL_SOCKET, SO_RCVBUF, ST_ICE_SOCKET_BUFFER, NULL);
    g_socket_set_option(sock, SOL_SOCKET, SO_SNDBUF, ST_ICE_SOCKET_BUFFER, NULL);
    g_object_unref(sock);
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint comp, NiceCandidate *l, NiceCandidate *r,
                             gpointer data)
{
    st_ice *ice = data;
    size_socket_buffers(ice);
    char a[NICE_ADDRESS_STRING_LEN], b[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(&l->addr, a);
    nice_address_to_string(&r->addr, b);
    if (ice->restarting) {
        ice->restarting = 0;
        ST_INFO("ice", "ICE restart complete: selected pair %s:%u -> %s:%u", a, nice_address_get_port(&l->addr), b,
                nice_address_get_port(&r->addr));
    } else {
        ST_DEBUG("ice", "selected pair %s:%u -> %s:%u", a, nice_address_get_port(&l->addr), b,
                 nice_address_get_port(&r->addr));
    }
}

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf, gpointer data)
{
    st_ice *ice = data;
    ice->cbs.on_data(ice->user, (const uint8_t *)buf, len);
}

/* ---- API ---- */

int st_ice_new(GMainContext *mc, const st_ice_config *cfg, const st_ice_callbacks *cbs, void *user,
               st_ice **out)
{
    st_ice *ice = calloc(1, sizeof *ice);
    if (!ice) return STRAPTO_ENOMEM;
    ice->mc = mc;
    ice->cbs = *cbs;
    ice->user = user;
    /* Aggressive nomination when controlling: regular nomination costs a
     * second round of checks (~40 ms) before the pair is usable. */
    ice->agent = nice_agent_new_full(mc, NICE_COMPATIBILITY_RFC5245, NICE_AGENT_OPTION_ICE_TRICKLE);
    if (!ice->agent) {
        free(ice);
        return STRAPTO_ENOMEM;
    }
    /* 5 ms between checks (RFC 8445 Ta allows it for few pairs) instead of 20 */
    g_object_set(ice->agent, "ice-tcp", FALSE, "upnp", FALSE, "stun-pacing-timer", 5u, NULL);
    ice->stream = nice_agent_add_stream(ice->agent, 1);
    int rc = configure(ice, cfg);
    if (rc < 0) {
        g_object_unref(ice->agent);
        free(ice);
        return rc;
    }
    ice->sig[0] = g_signal_connect(ice->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), ice);
    ice->sig[1] = g_signal_connect(ice->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), ice);
    ice->sig[2] = g_signal_connect(ice->agent, "component-state-changed", G_CALLBACK(on_component_state), ice);
    ice->sig[3] = g_signal_connect(ice->agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), ice);
    nice_agent_attach_recv(ice->agent, ice->stream, 1, mc, on_recv, ice);
    gchar *u = NULL, *p = NULL;
    nice_agent_get_local_credentials(ice->agent, ice->stream, &u, &p);
    ice->ufrag = u;
    ice->pwd = p;
    *out = ice;
    return STRAPTO_OK;
}

static void clear_local(st_ice *ice)
{
    for (size_t i = 0; i < ice->n_local; i++) g_free(ice->local[i]);
    ice->n_local = 0;
    ice->local[0] = NULL;
}

void st_ice_free(st_ice *ice)
{
    if (!ice) return;
    for (int i = 0; i < 4; i++) g_signal_handler_disconnect(ice->agent, ice->sig[i]);
    nice_agent_attach_recv(ice->agent, ice->stream, 1, ice->mc, NULL, NULL);
    nice_agent_remove_stream(ice->agent, ice->stream);
    g_object_unref(ice->agent);
    clear_local(ice);
    g_free(ice->ufrag);
    g_free(ice->pwd);
    g_free(ice->remote_ufrag);
    g_free(ice->remote_pwd);
    free(ice);
}

void st_ice_set_controlling(st_ice *ice, int controlling)
{
    g_object_set(ice->agent, "controlling-mode", controlling ? TRUE : FALSE, NULL);
}

int st_ice_gather(st_ice *ice)
{
    if (ice->gathering) return 0;
    ice->gathering = 1;
    if (!nice_agent_gather_candidates(ice->agent, ice->stream)) {
        ST_ERR("ice", "candidate gathering failed (no usable local address?)");
        return STRAPTO_EIO;
    }
    return 0;
}

int st_ice_gathering_done(st_ice *ice) { return ice->gathered; }
const char *st_ice_local_ufrag(st_ice *ice) { return ice->ufrag; }
const char *st_ice_local_pwd(st_ice *ice) { return ice->pwd; }

const char *const *st_ice_local_candidates(st_ice *ice, size_t *n)
{
    *n = ice->n_local;
    return (const char *const *)ice->local;
}

int st_ice_set_remote_credentials(st_ice *ice, const char *ufrag, const char *pwd)
{
    if (!ufrag || !pwd) return STRAPTO_EINVAL;
    if (ice->remote_ufrag && !strcmp(ice->remote_ufrag, ufrag) && !strcmp(ice->remote_pwd, pwd)) return 0;
    if (!nice_agent_set_remote_credentials(ice->agent, ice->stream, ufrag, pwd)) return STRAPTO_EPARSE;
    g_free(ice->remote_ufrag);
    g_free(ice->remote_pwd);
    ice->remote_ufrag = g_strdup(ufrag);
    ice->remote_pwd = g_strdup(pwd);
    return 0;
}

const char *st_ice_remote_ufrag(st_ice *ice) { return ice->remote_ufrag; }

int st_ice_add_remote_candidate(st_ice *ice, const char *cand)
{
    if (!strncmp(cand, "a=", 2)) cand += 2;
    if (ice->n_remote >= ST_ICE_MAX_REMOTE_CANDIDATES) {
        ST_WARN("ice", "too many remote candidates (max %d); ignored", ST_ICE_MAX_REMOTE_CANDIDATES);
        return STRAPTO_ELIMIT;
    }
    if (strstr(cand, ".local ")) {
        ST_INFO("ice", "skipping mDNS candidate (not resolvable here)");
        return STRAPTO_EUNSUPPORTED;
    }
    char *line = g_strconcat("a=", cand, NULL); /* libnice wants the attribute form */
    NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(ice->agent, ice->stream, line);
    g_free(line);
    if (!c) {
        ST_WARN("ice", "cannot parse remote candidate");
        return STRAPTO_EPARSE;
    }
    if (c->component_id != 1) { /* RTCP candidates are not needed with rtcp-mux */
        nice_candidate_free(c);
        return 0;
    }
    if (c->transport != NICE_CANDIDATE_TRANSPORT_UDP) {
        nice_candidate_free(c);
        return STRAPTO_EUNSUPPORTED;
    }
    GSList *l = g_slist_append(NULL, c);
    int n = nice_agent_set_remote_candidates(ice->agent, ice->stream, 1, l);
    g_slist_free(l);
    nice_candidate_free(c);
    if (n < 1) return STRAPTO_EPARSE;
    ice->n_remote++;
    ST_DEBUG("ice", "remote %s", cand);
    return 0;
}

void st_ice_remote_gathering_done(st_ice *ice)
{
    nice_agent_peer_candidate_gathering_done(ice->agent, ice->stream);
}

int st_ice_restart(st_ice *ice)
{
    if (!nice_agent_restart_stream(ice->agent, ice->stream)) return STRAPTO_EIO;
    g_free(ice->ufrag);
    g_free(ice->pwd);
    ice->ufrag = ice->pwd = NULL;
    nice_agent_get_local_credentials(ice->agent, ice->stream, &ice->ufrag, &ice->pwd);
    g_free(ice->remote_ufrag);
    g_free(ice->remote_pwd);
    ice->remote_ufrag = ice->remote_pwd = NULL;
    ice->n_remote = 0;
    ice->restarting = 1;
    ST_INFO("ice", "ICE restart: new local credentials");
    return 0;
}

int st_ice_send(st_ice *ice, const uint8_t *data, size_t len)
{
    gint n = nice_agent_send(ice->agent, ice->stream, 1, (guint)len, (const gchar *)data);
    return n < 0 ? STRAPTO_EIO : n;
}

int st_ice_state(st_ice *ice) { return ice->state; }

