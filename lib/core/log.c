/* Process-wide logging: levels, a replaceable handler, one line per event. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include "core/internal.h"

volatile int st_log_level_cached = STRAPTO_LOG_WARN;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static strapto_log_fn log_fn;
static void *log_user;

static const char *names[] = {"error", "warn", "info", "debug", "trace"};

const char *strapto_log_level_name(int level)
{
    return (level >= 0 && level <= STRAPTO_LOG_TRACE) ? names[level] : "?";
}

int strapto_log_level_parse(const char *name)
{
    if (!name || !*name) return STRAPTO_EINVAL;
    for (int i = 0; i <= STRAPTO_LOG_TRACE; i++)
        if (!strcasecmp(name, names[i])) return i;
    if (!strcasecmp(name, "warning")) return STRAPTO_LOG_WARN;
    if (name[0] >= '0' && name[0] <= '4' && name[1] == 0) return name[0] - '0';
    return STRAPTO_EINVAL;
}

static void log_init_once(void)
{
    const char *env = getenv("STRAPTO_LOG_LEVEL");
    int lvl = strapto_log_level_parse(env);
    if (lvl >= 0) st_log_level_cached = lvl;
}

void st_log_init(void) { pthread_once(&log_once, log_init_once); }

int strapto_log_set_level(int level)
{
    st_log_init();
    if (level < 0 || level > STRAPTO_LOG_TRACE) return STRAPTO_EINVAL;
    st_log_level_cached = level;
    return STRAPTO_OK;
}

int strapto_log_get_level(void)
{
    st_log_init();
    return st_log_level_cached;
}

void strapto_log_set_handler(strapto_log_fn fn, void *user)
{
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_mu);
}

void strapto_log(int level, const char *module, const char *fmt, ...)
{
    st_log_init();
    if (level > st_log_level_cached) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* one event, one line */
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    pthread_mutex_lock(&log_mu);
    strapto_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_mu);
    if (fn) {
        fn(level, module ? module : "", buf, user);
        return;
    }
    char line[1200];
    int n = snprintf(line, sizeof line, "%s %s: %s\n", strapto_log_level_name(level),
                     module ? module : "strapto", buf);
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
    fwrite(line, 1, (size_t)n, stderr);
}
