/* JSON-lines signaling for a peer connection, as `strapto-cli peer` speaks it:
 * remote messages on an input stream, local ones on stdout, one JSON object
 * a line: {"type":"offer"|"answer","sdp":"..."},
 * {"type":"candidate","candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0},
 * {"type":"end-of-candidates"}. */
#ifndef STRAPTO_CLI_SIGIO_H
#define STRAPTO_CLI_SIGIO_H

#include <pthread.h>
#include <stdio.h>
#include "strapto/strapto.h"

typedef struct sig_session sig_session;

/* Create a session and its peer. `app` gets on_state and on_datachannel
 * (on_candidate is the session's own). */
int sig_new(strapto_ctx *ctx, const strapto_peer_config *cfg, int offerer, int trickle,
            const strapto_peer_callbacks *app, sig_session **out);
strapto_peer *sig_peer(sig_session *s);
/* Start: the offerer sends its offer; both read the remote side from `in`
 * on a thread of their own. */
int sig_start(sig_session *s, FILE *in);
/* Write one JSON line to stdout (serialised with the signaling lines). */
void sig_print_line(const char *json);
/* Restart ICE: a new offer with new credentials (offerer only). */
int sig_restart_ice(sig_session *s);
/* Stop the reader thread and free the session and its peer. */
void sig_free(sig_session *s);

#endif
