/* JSON-lines signaling over stdin/stdout (see signal.h). */
#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <poll.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "sigio.h"

#define MAX_LINE (256 * 1024)

struct sig_session {
    strapto_peer *pc;
    int offerer, trickle;
    strapto_peer_callbacks app;
    pthread_mutex_t mu;
    int local_sent;     /* the current local description went out */
    int gathered;
    int answer_pending; /* non-trickle answerer: send the answer once gathered */
    int offer_pending;  /* non-trickle offerer: send the offer once gathered */
    char **held;        /* candidate lines waiting for the description */
    size_t n_held;
    FILE *in;
    int stop_pipe[2];
    pthread_t reader;
    int reader_started;
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

void sig_print_line(const char *json)
{
    pthread_mutex_lock(&out_mu);
    fputs(json, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

static void print_obj(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) sig_print_line(s);
    free(s);
    json_decref(o);
}

static void send_sdp(const char *type, const char *sdp)
{
    print_obj(json_pack("{s:s,s:s}", "type", type, "sdp", sdp));
}

/* Send the local description now, then any candidates held back. */
/* With trickle, candidates that will follow as their own lines (those held
 * back while the description was made) are taken out of it, so nothing is
 * said twice: a strict trickle peer refuses a candidate repeated after
 * end-of-candidates. Candidates gathered earlier (after an ICE restart: all
 * of them) stay in the description. */
static int held_has(sig_session *s, const char *line, size_t n)
{
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_held && !found; i++) {
        json_t *o = json_loads(s->held[i], 0, NULL);
        const char *c = json_string_value(json_object_get(o, "candidate"));
        const char *t = json_string_value(json_object_get(o, "type"));
        if (c) found = n >= 2 + strlen(c) && !strncmp(line + 2, c, strlen(c)) &&
                       (line[2 + strlen(c)] == '\r' || line[2 + strlen(c)] == '\n');
        else if (t && !strcmp(t, "end-of-candidates")) found = !strncmp(line, "a=end-of-candidates", 19);
        json_decref(o);
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static char *without_held(sig_session *s, const char *sdp)
{
    GString *out = g_string_sized_new(strlen(sdp));
    for (const char *p = sdp; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
        int cand = !strncmp(p, "a=candidate:", 12) || !strncmp(p, "a=end-of-candidates", 19);
        if (!cand || !held_has(s, p, n)) g_string_append_len(out, p, (gssize)n);
        p += n;
    }
    return g_string_free(out, FALSE);
}

static void send_local(sig_session *s, const char *type, const char *sdp)
{
    if (s->trickle) {
        char *bare = without_held(s, sdp);
        send_sdp(type, bare);
        g_free(bare);
    } else {
        send_sdp(type, sdp);
    }
    pthread_mutex_lock(&s->mu);
    s->local_sent = 1;
    char **held = s->held;
    size_t n = s->n_held;
    s->held = NULL;
    s->n_held = 0;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        sig_print_line(held[i]);
        free(held[i]);
    }
    free(held);
}

static void send_full_description(sig_session *s, const char *type)
{
    char *sdp = NULL;
    if (strapto_peer_local_description(s->pc, &sdp) == 0) send_local(s, type, sdp);
    strapto_free(sdp);
}

static void on_candidate(strapto_peer *pc, const char *cand, const char *mid, int mline, void *user)
{
    sig_session *s = user;
    if (!s->trickle) {
        if (cand) return;
        pthread_mutex_lock(&s->mu);
        s->gathered = 1;
        int offer = s->offer_pending, answer = s->answer_pending;
        s->offer_pending = s->answer_pending = 0;
        pthread_mutex_unlock(&s->mu);
        if (offer) send_full_description(s, "offer");
        if (answer) send_full_description(s, "answer");
        return;
    }
    json_t *o = cand ? json_pack("{s:s,s:s,s:s,s:i}", "type", "candidate", "candidate", cand, "sdpMid", mid,
                                 "sdpMLineIndex", mline)
                     : json_pack("{s:s}", "type", "end-of-candidates");
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line) return;
    pthread_mutex_lock(&s->mu);
    if (!s->local_sent) {
        char **h = realloc(s->held, (s->n_held + 1) * sizeof *h);
        if (h) {
            s->held = h;
            s->held[s->n_held++] = line;
            line = NULL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (line) {
        sig_print_line(line);
        free(line);
    }
}

static void on_state(strapto_peer *pc, int state, void *user)
{
    sig_session *s = user;
    if (s->app.on_state) s->app.on_state(pc, state, s->app.user);
}

static void on_datachannel(strapto_peer *pc, strapto_dc *dc, void *user)
{
    sig_session *s = user;
    if (s->app.on_datachannel) s->app.on_datachannel(pc, dc, s->app.user);
}

int sig_new(strapto_ctx *ctx, const strapto_peer_config *cfg, int offerer, int trickle,
            const strapto_peer_callbacks *app, sig_session **out)
{
    sig_session *s = calloc(1, sizeof *s);
    if (!s) return STRAPTO_ENOMEM;
    s->offerer = offerer;
    s->trickle = trickle;
    if (app) s->app = *app;
    pthread_mutex_init(&s->mu, NULL);
    strapto_peer_callbacks cbs = {on_candidate, on_state, on_datachannel, s};
    int rc = strapto_peer_new(ctx, cfg, &cbs, &s->pc);
    if (rc < 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

strapto_peer *sig_peer(sig_session *s) { return s->pc; }

static int make_offer(sig_session *s)
{
    char *sdp = NULL;
    pthread_mutex_lock(&s->mu);
    s->local_sent = 0;
    pthread_mutex_unlock(&s->mu);
    int rc = strapto_peer_create_offer(s->pc, &sdp);
    if (rc < 0) {
        strapto_log(STRAPTO_LOG_ERROR, "cli", "create offer failed: %s", strapto_strerror(rc));
        return rc;
    }
    if (s->trickle) {
        send_local(s, "offer", sdp);
    } else {
        pthread_mutex_lock(&s->mu);
        int now = s->gathered;
        if (!now) s->offer_pending = 1;
        pthread_mutex_unlock(&s->mu);
        if (now) send_full_description(s, "offer");
    }
    strapto_free(sdp);
    return 0;
}

static void handle_line(sig_session *s, const char *line)
{
    json_error_t err;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    const char *type = o ? json_string_value(json_object_get(o, "type")) : NULL;
    if (!type) {
        strapto_log(STRAPTO_LOG_WARN, "cli", "signaling: ignoring a line that is not a JSON object with a \"type\"");
        json_decref(o);
        return;
    }
    int rc = 0;
    if (!strcmp(type, "offer") || !strcmp(type, "answer")) {
        const char *sdp = json_string_value(json_object_get(o, "sdp"));
        rc = sdp ? strapto_peer_set_remote_description(s->pc, type, sdp) : STRAPTO_EPARSE;
        if (rc == 0 && !strcmp(type, "offer")) {
            char *ans = NULL;
            pthread_mutex_lock(&s->mu);
            s->local_sent = 0;
            pthread_mutex_unlock(&s->mu);
            rc = strapto_peer_create_answer(s->pc, &ans);
            if (rc == 0 && s->trickle) {
                send_local(s, "answer", ans);
            } else if (rc == 0) {
                pthread_mutex_lock(&s->mu);
                int now = s->gathered;
                if (!now) s->answer_pending = 1;
                pthread_mutex_unlock(&s->mu);
                if (now) send_full_description(s, "answer");
            }
            strapto_free(ans);
        }
    } else if (!strcmp(type, "candidate")) {
        const char *c = json_string_value(json_object_get(o, "candidate"));
        const char *mid = json_string_value(json_object_get(o, "sdpMid"));
        if (c && *c) rc = strapto_peer_add_remote_candidate(s->pc, c, mid);
        else rc = strapto_peer_add_remote_candidate(s->pc, NULL, mid);
    } else if (!strcmp(type, "end-of-candidates")) {
        rc = strapto_peer_add_remote_candidate(s->pc, NULL, NULL);
    } else if (!strcmp(type, "bye")) {
        strapto_peer_close(s->pc);
    } else {
        strapto_log(STRAPTO_LOG_DEBUG, "cli", "signaling: ignoring message of type '%s'", type);
    }
    if (rc < 0) strapto_log(STRAPTO_LOG_WARN, "cli", "signaling: %s refused: %s", type, strapto_strerror(rc));
    json_decref(o);
}

static void *reader_main(void *data)
{
    sig_session *s = data;
    int fd = fileno(s->in);
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    int skipping = 0; /* inside an over-long line */
    while (buf) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[1].revents) break;
        if (len == cap) {
            if (cap >= MAX_LINE) { /* drop what we have of a too-long line */
                strapto_log(STRAPTO_LOG_WARN, "cli", "signaling: line over %d bytes ignored", MAX_LINE);
                len = 0;
                skipping = 1;
            } else {
                char *nb = realloc(buf, cap * 2);
                if (!nb) break;
                buf = nb;
                cap *= 2;
            }
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
            *nl = 0;
            size_t l = (size_t)(nl - start);
            if (l && start[l - 1] == '\r') start[--l] = 0;
            if (!skipping && l) handle_line(s, start);
            skipping = 0;
            start = nl + 1;
        }
        len -= (size_t)(start - buf);
        memmove(buf, start, len);
    }
    free(buf);
    return NULL;
}

int sig_start(sig_session *s, FILE *in)
{
    s->in = in;
    if (s->offerer) {
        int rc = make_offer(s);
        if (rc < 0) return rc;
    }
    if (pipe(s->stop_pipe) < 0) return STRAPTO_EIO;
    if (pthread_create(&s->reader, NULL, reader_main, s) != 0) return STRAPTO_EIO;
    s->reader_started = 1;
    return 0;
}

int sig_restart_ice(sig_session *s)
{
    int rc = strapto_peer_restart_ice(s->pc);
    return rc < 0 ? rc : make_offer(s);
}

void sig_free(sig_session *s)
{
    if (!s) return;
    if (s->reader_started) {
        (void)!write(s->stop_pipe[1], "x", 1);
        pthread_join(s->reader, NULL);
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
    }
    strapto_peer_free(s->pc);
    for (size_t i = 0; i < s->n_held; i++) free(s->held[i]);
    free(s->held);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
