/* libstrapto — logging.
 *
 * The log is process-wide. Each event is one line: "level module: message"
 * (level in lower case: error, warn, info, debug, trace).
 * By default lines go to stderr at level WARN or more severe; the initial
 * level is read from the STRAPTO_LOG_LEVEL environment variable
 * (error|warn|info|debug|trace or 0..4) on first use. Secrets are never
 * logged.
 */
#ifndef STRAPTO_LOG_H
#define STRAPTO_LOG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum strapto_log_level {
    STRAPTO_LOG_ERROR = 0,
    STRAPTO_LOG_WARN = 1,
    STRAPTO_LOG_INFO = 2,
    STRAPTO_LOG_DEBUG = 3,
    STRAPTO_LOG_TRACE = 4
};

/* A log handler. `module` and `msg` are valid only during the call. It may be
 * called from any library thread, concurrently; it must not call back into
 * the logging functions. */
typedef void (*strapto_log_fn)(int level, const char *module, const char *msg, void *user);

/* Set the most verbose level that is emitted. STRAPTO_EINVAL if out of range. */
STRAPTO_API int strapto_log_set_level(int level);
STRAPTO_API int strapto_log_get_level(void);

/* Parse "error", "warn", "info", "debug", "trace" or "0".."4".
 * Returns the level, or STRAPTO_EINVAL. */
STRAPTO_API int strapto_log_level_parse(const char *name);

/* Static name of a level ("error", ...), or "?" */
STRAPTO_API const char *strapto_log_level_name(int level);

/* Install a handler (NULL restores the stderr handler). `user` is passed
 * back. A handler being replaced may still be running on another thread
 * when this returns. */
STRAPTO_API void strapto_log_set_handler(strapto_log_fn fn, void *user);

/* Emit a line through the installed handler (for bindings and the CLI). */
STRAPTO_API void strapto_log(int level, const char *module, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
