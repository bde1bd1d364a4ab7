/* The model child process: stdout lines -> "model_output" events,
 * "consumer_input" events -> stdin lines, stderr -> the log, exit ->
 * "server_status", restart with backoff. See model.h for the contract.
 *
 * Spawning: g_spawn_async_with_pipes_and_fds() with a child_setup that puts
 * the child in its own process group and gives it a clean signal mask (the
 * CLI blocks SIGINT/SIGTERM in its threads for sigwait, and a blocked or
 * ignored SIGTERM would survive exec). G_SPAWN_DO_NOT_REAP_CHILD plus a
 * child watch source on our loop reaps it; st_model_free() destroys that
 * source first and then reaps with waitpid() itself.
 *
 * Every fd is non-blocking and watched with a GUnixFDSource on the loop's
 * context. Writes to the child's stdin never raise SIGPIPE in the host
 * process (the signal is blocked around the write and a pending one
 * consumed), since a library must not change the process's dispositions. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <glib-unix.h>
#include <jansson.h>
#include "server/model.h"
#include "strapto/bus.h"
#include "strapto/server.h"

#define MOD "model"
#define LINES_PER_DISPATCH 128   /* stdout lines published per loop iteration */
#define ERR_LINE_MAX 900         /* stderr bytes per log line (the log caps lines at 1 KiB) */
#define EXIT_DRAIN_MS 500        /* after the child exited, wait this long for stdout EOF */
#define JSON_FLAGS (JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL)
#define INPUT_QUEUE 4096         /* consumer_input events waiting for on_input (bus subscription) */

/* One pipe we read lines from. */
typedef struct {
    int fd;          /* -1 when closed */
    GSource *src;
    char *buf;
    size_t cap, len;
    int eof;
    int long_line;   /* inside a line longer than cap */
} line_pipe;

struct st_model {
    strapto_ctx *ctx;
    int loop;
    GMainContext *mc;
    strapto_bus *bus;
    strapto_bus_sub *sub;
    char **argv;
    char *name;
    st_model_config cfg;

    /* the current child */
    GPid pid;               /* 0: none */
    int reaped;             /* exited; exit not reported yet */
    GSource *child_src;
    int64_t started_us;
    int exit_status, exit_signal;
    char *spawn_error;
    line_pipe out, err;
    int in_fd;
    GSource *in_src;
    GSource *exit_timer, *restart_timer;

    /* lines waiting for stdin */
    GQueue inq;             /* of GBytes, each ending in '\n' */
    size_t inq_bytes, in_off;
    int64_t last_busy_event_us;

    int state;
    int stopping;
    unsigned restarts;
    int backoff_ms;
    int last_status, last_signal;
    uint64_t lines_out, inputs_written, inputs_refused;
};

const char *st_model_state_name(int s)
{
    switch (s) {
    case ST_MODEL_RUNNING: return "running";
    case ST_MODEL_RESTARTING: return "restarting";
    case ST_MODEL_EXITED: return "exited";
    default: return "none";
    }
}

/* ---- small helpers ---- */

static void destroy_source(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

static void publish_json(st_model *m, const char *type, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (!s) return;
    int rc = strapto_bus_publish(m->bus, type, "model", s, NULL);
    if (rc < 0) ST_DEBUG(MOD, "publishing %s failed: %s", type, strapto_strerror(rc));
    free(s);
}

/* write() that cannot kill the process with SIGPIPE. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, buf, len);
    int e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Longest prefix of s[0..len) not ending inside a UTF-8 sequence (used to
 * cut an over-long line; invalid bytes are repaired later anyway). */
static size_t utf8_cut(const char *s, size_t len)
{
    size_t k = len;
    for (int i = 0; i < 3 && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80; i++) k--;
    return k ? k : len;
}

/* ---- stdout: lines to events ---- */

static void publish_line(st_model *m, const char *s, size_t len, int whole)
{
    if (whole && len && s[len - 1] == '\r') len--;
    char *payload = NULL;
    if (whole) {
        size_t i = 0;
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i < len && s[i] == '{') {
            json_error_t e;
            json_t *j = json_loadb(s, len, JSON_FLAGS, &e);
            if (j && json_is_object(j) && json_is_string(json_object_get(j, "type")))
                payload = g_strndup(s, len); /* a typed event, verbatim */
            json_decref(j);
        }
    }
    if (!payload) {
        gchar *valid = g_utf8_make_valid(s, (gssize)len);
        json_t *o = json_object();
        json_object_set_new(o, "text", json_stringn(valid, strlen(valid)));
        char *d = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        g_free(valid);
        if (!d) return;
        payload = g_strdup(d);
        free(d);
    }
    int rc = strapto_bus_publish(m->bus, "model_output", "model", payload, NULL);
    if (rc < 0) ST_WARN(MOD, "%s: output line dropped: %s", m->name, strapto_strerror(rc));
    else m->lines_out++;
    g_free(payload);
}

static void log_err_line(st_model *m, const char *s, size_t len)
{
    if (len && s[len - 1] == '\r') len--;
    char buf[ERR_LINE_MAX + 1];
    if (len > ERR_LINE_MAX) len = ERR_LINE_MAX;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
    }
    buf[len] = 0;
    gchar *valid = g_utf8_make_valid(buf, (gssize)len);
    ST_INFO(MOD, "%s: %s", m->name, valid);
    g_free(valid);
}

/* Deliver line number `whole`/piece from a pipe buffer. */
static void deliver(st_model *m, line_pipe *p, const char *s, size_t len, int whole)
{
    if (p == &m->out) publish_line(m, s, len, whole);
    else log_err_line(m, s, len);
}

/* Deliver up to `budget` lines (or pieces) from p's buffer; returns how many. */
static int take_lines(st_model *m, line_pipe *p, int budget)
{
    int n = 0;
    size_t pos = 0;
    while (n < budget && pos < p->len) {
        char *nl = memchr(p->buf + pos, '\n', p->len - pos);
        if (!nl) break;
        size_t l = (size_t)(nl - (p->buf + pos));
        deliver(m, p, p->buf + pos, l, !p->long_line);
        p->long_line = 0;
        pos += l + 1;
        n++;
    }
    if (n < budget && pos == 0 && p->len == p->cap) {
        /* a full buffer without a newline: a line longer than the bound */
        if (!p->long_line && p == &m->out)
            ST_WARN(MOD, "%s: stdout line longer than %zu bytes; publishing it in pieces", m->name, p->cap);
        size_t k = p == &m->out ? utf8_cut(p->buf, p->len - 1) : p->len;
        deliver(m, p, p->buf, k, 0);
        p->long_line = 1;
        pos = k;
        n++;
    }
    if (pos) {
        memmove(p->buf, p->buf + pos, p->len - pos);
        p->len -= pos;
    }
    return n;
}

static void finish_exit(st_model *m);

static void pipe_close(line_pipe *p)
{
    destroy_source(&p->src);
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    p->len = 0;
    p->long_line = 0;
}

/* Read and deliver. Returns PUMP_EOF when the pipe is closed, PUMP_MORE
 * when the budget ran out (lines may wait in the buffer), PUMP_IDLE when
 * everything available was delivered. */
enum { PUMP_EOF = 0, PUMP_IDLE = 1, PUMP_MORE = 2 };

static int pipe_pump(st_model *m, line_pipe *p, int budget)
{
    for (;;) {
        budget -= take_lines(m, p, budget);
        if (budget <= 0) return PUMP_MORE;
        if (p->fd < 0) return PUMP_EOF;
        ssize_t r = read(p->fd, p->buf + p->len, p->cap - p->len);
        if (r > 0) {
            p->len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return PUMP_IDLE;
        /* EOF (or a read error): the rest is the last line */
        if (p->len) deliver(m, p, p->buf, p->len, !p->long_line);
        p->eof = 1;
        pipe_close(p);
        return PUMP_EOF;
    }
}

static gboolean out_ready(gint fd, GIOCondition cond, gpointer data)
{
    st_model *m = data;
    g_source_set_ready_time(m->out.src, -1);
    int r = pipe_pump(m, &m->out, LINES_PER_DISPATCH);
    if (r == PUMP_EOF) {
        if (m->reaped) finish_exit(m);
        return G_SOURCE_REMOVE; /* pipe_close() destroyed the source already */
    }
    /* budget spent: come back on the next iteration even if the pipe is
     * drained (complete lines may wait in the buffer) */
    if (r == PUMP_MORE) g_source_set_ready_time(m->out.src, 0);
    return G_SOURCE_CONTINUE;
}

static gboolean err_ready(gint fd, GIOCondition cond, gpointer data)
{
    st_model *m = data;
    g_source_set_ready_time(m->err.src, -1);
    int r = pipe_pump(m, &m->err, LINES_PER_DISPATCH);
    if (r == PUMP_EOF) return G_SOURCE_REMOVE;
    if (r == PUMP_MORE) g_source_set_ready_time(m->err.src, 0);
    return G_SOURCE_CONTINUE;
}

static void pipe_open(st_model *m, line_pipe *p, int fd, GUnixFDSourceFunc fn)
{
    set_nonblock(fd);
    p->fd = fd;
    p->eof = 0;
    p->len = 0;
    p->long_line = 0;
    p->src = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_callback(p->src, (GSourceFunc)(void (*)(void))fn, m, NULL);
    g_source_attach(p->src, m->mc);
}

/* ---- stdin ---- */

static void stdin_close(st_model *m)
{
    destroy_source(&m->in_src);
    if (m->in_fd >= 0) close(m->in_fd);
    m->in_fd = -1;
    if (m->in_off) { /* a line half-written to a dead child is lost */
        GBytes *b = g_queue_pop_head(&m->inq);
        if (b) {
            m->inq_bytes -= g_bytes_get_size(b);
            g_bytes_unref(b);
        }
        m->in_off = 0;
    }
}

static void inq_clear(st_model *m)
{
    GBytes *b;
    while ((b = g_queue_pop_head(&m->inq))) g_bytes_unref(b);
    m->inq_bytes = 0;
    m->in_off = 0;
}

/* Write what we can. Returns 1 when data is left and the fd is usable. */
static int stdin_write(st_model *m)
{
    while (m->in_fd >= 0 && !g_queue_is_empty(&m->inq)) {
        GBytes *b = g_queue_peek_head(&m->inq);
        gsize len;
        const char *d = g_bytes_get_data(b, &len);
        ssize_t n = write_nosigpipe(m->in_fd, d + m->in_off, len - m->in_off);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
            ST_INFO(MOD, "%s: stdin closed (%s)", m->name, g_strerror(errno));
            stdin_close(m);
            return 0;
        }
        m->in_off += (size_t)n;
        if (m->in_off == len) {
            g_queue_pop_head(&m->inq);
            m->inq_bytes -= len;
            m->in_off = 0;
            m->inputs_written++;
            g_bytes_unref(b);
        }
    }
    return 0;
}

static gboolean in_ready(gint fd, GIOCondition cond, gpointer data)
{
    st_model *m = data;
    if (stdin_write(m)) return G_SOURCE_CONTINUE;
    if (m->in_src) {
        g_source_unref(m->in_src);
        m->in_src = NULL;
    }
    return G_SOURCE_REMOVE;
}

static void stdin_kick(st_model *m)
{
    if (m->in_fd < 0 || m->in_src) return;
    if (!stdin_write(m) || m->in_fd < 0) return;
    m->in_src = g_unix_fd_source_new(m->in_fd, G_IO_OUT | G_IO_ERR | G_IO_HUP);
    g_source_set_callback(m->in_src, (GSourceFunc)(void (*)(void))in_ready, m, NULL);
    g_source_attach(m->in_src, m->mc);
}

/* The line for one consumer_input payload. JSON: the payload verbatim (a
 * raw CR or LF in JSON text can only be whitespace, so it becomes a space
 * and the line stays one line with the client's exact data). Text: the
 * "text" member (or a JSON string payload) with CR, LF and NUL as spaces;
 * without one, the JSON line. */
static char *input_line(st_model *m, const char *payload, size_t plen, size_t *len_out)
{
    char *line = NULL;
    size_t n = 0;
    if (m->cfg.input_format == STRAPTO_INPUT_TEXT) {
        json_error_t e;
        json_t *j = json_loadb(payload, plen, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);
        json_t *text = json_is_object(j) ? json_object_get(j, "text") : (json_is_string(j) ? j : NULL);
        if (json_is_string(text)) {
            n = json_string_length(text);
            line = g_malloc(n + 2);
            memcpy(line, json_string_value(text), n);
        }
        json_decref(j);
    }
    if (!line) {
        n = plen;
        line = g_malloc(n + 2);
        memcpy(line, payload, n);
    }
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r' || line[i] == 0) line[i] = ' ';
    line[n] = '\n';
    line[n + 1] = 0;
    *len_out = n + 1;
    return line;
}

static void refuse_input(st_model *m, const char *why)
{
    m->inputs_refused++;
    int64_t now = strapto_now_us();
    if (now - m->last_busy_event_us < G_USEC_PER_SEC) return; /* at most one report a second */
    m->last_busy_event_us = now;
    ST_WARN(MOD, "%s: input refused: %s (%llu refused so far)", m->name, why,
            (unsigned long long)m->inputs_refused);
    json_t *j = json_pack("{s:s,s:s}", "code", "model_busy", "message", why); /* the hub's error shape */
    if (j) publish_json(m, "error", j);
}

static void on_input(const strapto_event *ev, void *user)
{
    st_model *m = user;
    if (strcmp(ev->type, "consumer_input") != 0) return;
    if (m->state == ST_MODEL_EXITED) {
        refuse_input(m, "the model is not running");
        return;
    }
    size_t len = 0;
    char *line = input_line(m, ev->payload, ev->payload_len, &len);
    if (!line) return;
    if (g_queue_get_length(&m->inq) >= m->cfg.stdin_lines || m->inq_bytes + len > m->cfg.stdin_bytes) {
        g_free(line);
        refuse_input(m, "the model's input queue is full");
        return;
    }
    g_queue_push_tail(&m->inq, g_bytes_new_take(line, len));
    m->inq_bytes += len;
    stdin_kick(m);
}

/* ---- process lifecycle ---- */

static void spawn(st_model *m);

static gboolean restart_cb(gpointer data)
{
    st_model *m = data;
    g_source_unref(m->restart_timer);
    m->restart_timer = NULL;
    m->restarts++;
    spawn(m);
    return G_SOURCE_REMOVE;
}

/* The child exited and its stdout is drained (or given up on): report it
 * and apply the restart policy. */
static void finish_exit(st_model *m)
{
    destroy_source(&m->exit_timer);
    pipe_pump(m, &m->err, LINES_PER_DISPATCH); /* what it said last */
    pipe_close(&m->out);
    pipe_close(&m->err);
    stdin_close(m);
    int64_t up_ms = m->started_us ? (strapto_now_us() - m->started_us) / 1000 : 0;
    int failed = m->spawn_error || m->exit_signal || m->exit_status != 0;
    int restart = !m->stopping && (m->cfg.restart == STRAPTO_RESTART_ALWAYS ||
                                   (m->cfg.restart == STRAPTO_RESTART_ON_FAILURE && failed));
    if (up_ms >= m->cfg.stable_ms) m->backoff_ms = m->cfg.backoff_min_ms;
    int delay = m->backoff_ms;
    m->last_status = m->exit_signal ? -1 : m->exit_status;
    m->last_signal = m->exit_signal;

    json_t *j = json_pack("{s:s}", "model", "exited");
    if (m->exit_signal) json_object_set_new(j, "signal", json_integer(m->exit_signal));
    else json_object_set_new(j, "status", json_integer(m->exit_status));
    if (m->spawn_error) json_object_set_new(j, "error", json_string(m->spawn_error));
    json_object_set_new(j, "uptime_s", json_real((double)up_ms / 1000.0));
    if (restart) json_object_set_new(j, "restart_in_s", json_real(delay / 1000.0));
    if (m->exit_signal)
        ST_WARN(MOD, "%s (pid %d) killed by signal %d%s", m->name, (int)m->pid, m->exit_signal,
                restart ? "; restarting" : "");
    else if (m->spawn_error)
        ST_ERR(MOD, "%s could not be started: %s%s", m->name, m->spawn_error, restart ? "; retrying" : "");
    else
        ST_LOG(failed ? STRAPTO_LOG_WARN : STRAPTO_LOG_INFO, MOD, "%s (pid %d) exited with status %d%s", m->name,
               (int)m->pid, m->exit_status, restart ? "; restarting" : "");
    if (restart) ST_INFO(MOD, "restart in %.1f s", delay / 1000.0);
    publish_json(m, "server_status", j);

    m->pid = 0;
    m->reaped = 0;
    m->started_us = 0;
    g_free(m->spawn_error);
    m->spawn_error = NULL;
    if (restart) {
        m->state = ST_MODEL_RESTARTING;
        m->backoff_ms = delay * 2 > m->cfg.backoff_max_ms ? m->cfg.backoff_max_ms : delay * 2;
        m->restart_timer = g_timeout_source_new((guint)delay);
        g_source_set_callback(m->restart_timer, restart_cb, m, NULL);
        g_source_attach(m->restart_timer, m->mc);
    } else {
        m->state = ST_MODEL_EXITED;
        if (!g_queue_is_empty(&m->inq))
            ST_INFO(MOD, "%s: %u queued input lines dropped", m->name, g_queue_get_length(&m->inq));
        inq_clear(m);
    }
}

static gboolean exit_timer_cb(gpointer data)
{
    st_model *m = data;
    ST_DEBUG(MOD, "%s: stdout still open %d ms after exit (a child process holds it?); closing", m->name,
             EXIT_DRAIN_MS);
    g_source_unref(m->exit_timer);
    m->exit_timer = NULL;
    pipe_pump(m, &m->out, LINES_PER_DISPATCH);
    finish_exit(m);
    return G_SOURCE_REMOVE;
}

static void child_exited(GPid pid, gint wait_status, gpointer data)
{
    st_model *m = data;
    if (m->child_src) {
        g_source_unref(m->child_src); /* the source ends with this dispatch */
        m->child_src = NULL;
    }
    m->reaped = 1;
    if (WIFEXITED(wait_status)) {
        m->exit_status = WEXITSTATUS(wait_status);
        m->exit_signal = 0;
    } else if (WIFSIGNALED(wait_status)) {
        m->exit_status = -1;
        m->exit_signal = WTERMSIG(wait_status);
    }
    stdin_close(m);
    if (m->out.fd < 0) {
        finish_exit(m);
        return;
    }
    m->exit_timer = g_timeout_source_new(EXIT_DRAIN_MS);
    g_source_set_callback(m->exit_timer, exit_timer_cb, m, NULL);
    g_source_attach(m->exit_timer, m->mc);
}

static void child_setup(gpointer data)
{
    /* async-signal-safe calls only: we are between fork and exec */
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

static void spawn(st_model *m)
{
    gchar **env = g_get_environ();
    env = g_environ_setenv(env, "PYTHONUNBUFFERED", "1", FALSE); /* line-by-line output from Python models */
    GError *err = NULL;
    gint in_fd = -1, out_fd = -1, err_fd = -1;
    GPid pid = 0;
    gboolean ok = g_spawn_async_with_pipes_and_fds(
        NULL, (const gchar *const *)m->argv, (const gchar *const *)env,
        G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES, child_setup, NULL, -1, -1, -1,
        NULL, NULL, 0, &pid, &in_fd, &out_fd, &err_fd, &err);
    g_strfreev(env);
    m->exit_status = 0;
    m->exit_signal = 0;
    if (!ok) {
        m->spawn_error = g_strdup(err ? err->message : "spawn failed");
        m->exit_status = 127;
        g_clear_error(&err);
        m->reaped = 1;
        finish_exit(m);
        return;
    }
    m->pid = pid;
    m->reaped = 0;
    m->started_us = strapto_now_us();
    m->state = ST_MODEL_RUNNING;
    pipe_open(m, &m->out, out_fd, out_ready);
    pipe_open(m, &m->err, err_fd, err_ready);
    set_nonblock(in_fd);
    m->in_fd = in_fd;
    m->in_off = 0;
    m->child_src = g_child_watch_source_new(pid);
    g_source_set_callback(m->child_src, (GSourceFunc)(void (*)(void))child_exited, m, NULL);
    g_source_attach(m->child_src, m->mc);
    ST_INFO(MOD, "%s started (pid %d)", m->name, (int)pid);
    json_t *j = json_pack("{s:s,s:i,s:i}", "model", "running", "pid", (int)pid, "restarts", (int)m->restarts);
    if (j) publish_json(m, "server_status", j);
    stdin_kick(m);
}

static char *make_name(char **argv)
{
    gchar *a = g_path_get_basename(argv[0]);
    gchar *name;
    if (argv[1] && argv[1][0] != '-') {
        gchar *b = g_path_get_basename(argv[1]);
        name = g_strconcat(a, " ", b, NULL);
        g_free(b);
    } else {
        name = g_strdup(a);
    }
    g_free(a);
    if (strlen(name) > 64) name[64] = 0;
    gchar *valid = g_utf8_make_valid(name, -1);
    g_free(name);
    for (char *p = valid; *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
    return valid;
}

int st_model_new(strapto_ctx *ctx, int loop, const st_model_config *cfg, st_model **out)
{
    if (!ctx || !cfg || !out || !cfg->argv || !cfg->argv[0] || !cfg->argv[0][0]) return STRAPTO_EINVAL;
    *out = NULL;
    size_t argc = 0;
    while (cfg->argv[argc]) argc++;
    if (argc > 4096) return STRAPTO_EINVAL;
    st_model *m = g_new0(st_model, 1);
    m->ctx = ctx;
    m->loop = loop;
    m->mc = st_ctx_main_context(ctx, loop);
    m->bus = strapto_ctx_bus(ctx);
    m->cfg = *cfg;
    m->cfg.argv = NULL;
    if (!m->cfg.max_line) m->cfg.max_line = 64 * 1024;
    if (m->cfg.max_line < 16) m->cfg.max_line = 16;
    if (!m->cfg.stdin_bytes) m->cfg.stdin_bytes = 1024 * 1024;
    if (!m->cfg.stdin_lines) m->cfg.stdin_lines = 1024;
    if (m->cfg.grace_ms <= 0) m->cfg.grace_ms = 2000;
    if (m->cfg.backoff_min_ms <= 0) m->cfg.backoff_min_ms = 500;
    if (m->cfg.backoff_max_ms <= 0) m->cfg.backoff_max_ms = 30000;
    if (m->cfg.backoff_max_ms < m->cfg.backoff_min_ms) m->cfg.backoff_max_ms = m->cfg.backoff_min_ms;
    if (m->cfg.stable_ms <= 0) m->cfg.stable_ms = 60000;
    m->backoff_ms = m->cfg.backoff_min_ms;
    m->argv = g_new0(char *, argc + 1);
    for (size_t i = 0; i < argc; i++) m->argv[i] = g_strdup(cfg->argv[i]);
    m->name = make_name(m->argv);
    m->out.fd = m->err.fd = m->in_fd = -1;
    m->out.cap = m->cfg.max_line;
    m->err.cap = ERR_LINE_MAX;
    m->out.buf = g_malloc(m->out.cap);
    m->err.buf = g_malloc(m->err.cap);
    m->last_status = -1;
    g_queue_init(&m->inq);
    int rc = strapto_bus_subscribe(m->bus, "consumer_input", loop, INPUT_QUEUE, on_input, m, &m->sub);
    if (rc < 0) {
        ST_ERR(MOD, "cannot subscribe to consumer_input: %s", strapto_strerror(rc));
        m->stopping = 1;
        st_model_free(m);
        return rc;
    }
    spawn(m);
    *out = m;
    return STRAPTO_OK;
}

void st_model_get_info(st_model *m, st_model_info *o)
{
    memset(o, 0, sizeof *o);
    o->last_status = -1;
    if (!m) return;
    o->state = m->state;
    o->pid = m->state == ST_MODEL_RUNNING ? (int)m->pid : 0;
    o->uptime_s = m->started_us && m->state == ST_MODEL_RUNNING ? (strapto_now_us() - m->started_us) / 1e6 : 0;
    o->restarts = m->restarts;
    o->last_status = m->last_status;
    o->last_signal = m->last_signal;
    o->lines_out = m->lines_out;
    o->inputs_written = m->inputs_written;
    o->inputs_refused = m->inputs_refused + (m->sub ? strapto_bus_sub_dropped(m->sub) : 0);
    o->name = m->name;
}

/* Poll for the child's end for up to ms milliseconds; 1 when reaped. */
static int reap_within(pid_t pid, int ms)
{
    for (int waited = 0;; waited += 10) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) return 1;
        if (r < 0 && errno == EINTR) continue;
        if (waited >= ms) return 0;
        g_usleep(10 * 1000);
    }
}

static void stop_child(st_model *m)
{
    if (!m->pid || m->reaped) return;
    pid_t pid = (pid_t)m->pid;
    /* GLib no longer watches it once the source is gone: we reap it here */
    destroy_source(&m->child_src);
    stdin_close(m); /* EOF on stdin: a well-behaved model may already end */
    if (kill(-pid, SIGTERM) < 0) kill(pid, SIGTERM);
    int gone = reap_within(pid, m->cfg.grace_ms);
    if (!gone) {
        ST_WARN(MOD, "%s (pid %d) ignored SIGTERM for %d ms; sending SIGKILL", m->name, (int)pid, m->cfg.grace_ms);
        if (kill(-pid, SIGKILL) < 0) kill(pid, SIGKILL);
        gone = reap_within(pid, 1000);
        if (!gone) ST_ERR(MOD, "%s (pid %d) did not die after SIGKILL", m->name, (int)pid);
    }
    /* what is left of its process group (the group outlives its leader
     * only while members remain, so the id is still ours) */
    if (gone && kill(-pid, 0) == 0) kill(-pid, SIGKILL);
    ST_INFO(MOD, "%s (pid %d) stopped", m->name, (int)pid);
    m->reaped = 1;
}

void st_model_free(st_model *m)
{
    if (!m) return;
    m->stopping = 1;
    if (m->sub) strapto_bus_unsubscribe(m->sub);
    m->sub = NULL;
    destroy_source(&m->restart_timer);
    destroy_source(&m->exit_timer);
    stop_child(m);
    destroy_source(&m->child_src);
    pipe_close(&m->out);
    pipe_close(&m->err);
    stdin_close(m);
    inq_clear(m);
    g_free(m->out.buf);
    g_free(m->err.buf);
    g_free(m->spawn_error);
    g_strfreev(m->argv);
    g_free(m->name);
    g_free(m);
}
