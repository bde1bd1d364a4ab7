/* The model child process of the stream server (internal; not installed).
 *
 * st_model runs MODEL argv as a child in its own process group, with pipes
 * on its stdin, stdout and stderr, on one loop of a context:
 *
 *  - stdout: each line (LF or CRLF terminated; at most max_line bytes, a
 *    longer line is published in max_line pieces with one logged warning)
 *    becomes one "model_output" bus event (source "model"). A line that is
 *    a JSON object with a string "type" member is a typed event: its data is
 *    that object, verbatim, with the model's own "type" inside it (the bus
 *    type stays "model_output", so a model cannot pose as a client or as the
 *    server). Anything else is wrapped as {"text": line}; invalid UTF-8 is
 *    repaired with U+FFFD. A bounded number of lines is published per loop
 *    iteration, so a chatty model never floods a subscriber's queue.
 *  - stderr: each line goes to the log at info level, module "model",
 *    prefixed by the model's name (control characters replaced).
 *  - stdin: every "consumer_input" bus event is written as one line: its
 *    data as compact JSON (STRAPTO_INPUT_JSON) or the data's "text" member
 *    alone with CR/LF replaced by spaces (STRAPTO_INPUT_TEXT; data without a
 *    string "text" falls back to the JSON line). The queue of lines waiting
 *    for the child is bounded (bytes and lines); past it an input is
 *    refused, counted and logged. Queued lines survive a restart; they are
 *    dropped when the model stops for good.
 *  - exit: a "server_status" event {"model":"exited","status":N} or
 *    {"model":"exited","signal":N} (plus "error" when the command could not
 *    be started, and "restart_in_s" when a restart is scheduled), published
 *    after the last stdout line. Each start publishes {"model":"running",
 *    "pid":N,"restarts":N}.
 *  - restart policy (enum strapto_restart_policy): backoff 0.5 s doubling
 *    to 30 s, back to 0.5 s after the model stayed up 60 s.
 *  - stop (st_model_free): SIGTERM to the process group, SIGKILL after the
 *    grace period; the child is always reaped.
 *
 * Every function runs on the model's loop thread (the loop whose
 * GMainContext is thread-default there). */
#ifndef STRAPTO_SERVER_MODEL_H
#define STRAPTO_SERVER_MODEL_H

#include <stdint.h>
#include "core/internal.h"

typedef struct st_model st_model;

typedef struct st_model_config {
    const char *const *argv; /* NULL-terminated, argv[0] searched in PATH; copied */
    int restart;             /* enum strapto_restart_policy */
    int input_format;        /* enum strapto_input_format */
    size_t max_line;         /* stdout line bound; 0: 64 KiB */
    size_t stdin_bytes;      /* bytes queued for stdin; 0: 1 MiB */
    size_t stdin_lines;      /* lines queued for stdin; 0: 1024 */
    int grace_ms;            /* SIGTERM -> SIGKILL; <= 0: 2000 */
    int backoff_min_ms;      /* <= 0: 500 */
    int backoff_max_ms;      /* <= 0: 30000 */
    int stable_ms;           /* up this long resets the backoff; <= 0: 60000 */
} st_model_config;

enum st_model_state {
    ST_MODEL_NONE = 0,       /* no model configured */
    ST_MODEL_RUNNING = 1,
    ST_MODEL_RESTARTING = 2, /* exited; a restart is scheduled */
    ST_MODEL_EXITED = 3      /* exited for good (policy) or stopped */
};

typedef struct st_model_info {
    int state;               /* enum st_model_state */
    int pid;                 /* 0 when not running */
    double uptime_s;         /* of the running process; 0 otherwise */
    unsigned restarts;       /* starts after the first one */
    int last_status;         /* exit status of the last exit, -1: none */
    int last_signal;         /* signal of the last exit, 0: none */
    uint64_t lines_out;      /* stdout lines published */
    uint64_t inputs_written; /* lines written to stdin */
    uint64_t inputs_refused; /* stdin queue full, model stopped, or dropped by the bus */
    const char *name;        /* e.g. "python3 model.py"; owned by the model */
} st_model_info;

/* Start the model (the first spawn happens before this returns; a spawn
 * failure is reported like an exit and follows the restart policy). */
int st_model_new(strapto_ctx *ctx, int loop, const st_model_config *cfg, st_model **out);
void st_model_get_info(st_model *m, st_model_info *out);
const char *st_model_state_name(int state);
/* Stop the child (SIGTERM, SIGKILL after grace_ms), reap it, free.
 * Blocks the loop for at most grace_ms + 1 s. NULL is ignored. */
void st_model_free(st_model *m);

#endif
