/* ICE through libnice: one stream, one component (BUNDLE + rtcp-mux).
 * All functions except st_ice_send() run on the owning loop thread. */
#ifndef STRAPTO_RTC_ICE_H
#define STRAPTO_RTC_ICE_H

#include <glib.h>
#include <stdint.h>

#define ST_ICE_MAX_REMOTE_CANDIDATES 64
#define ST_ICE_MAX_LOCAL_CANDIDATES 64

enum { ST_ICE_NEW, ST_ICE_CHECKING, ST_ICE_CONNECTED, ST_ICE_DISCONNECTED, ST_ICE_FAILED };

typedef struct st_ice st_ice;

typedef struct st_ice_config {
    const char *stun_servers;     /* comma-separated "stun:host[:port]" */
    const char *turn_servers;     /* comma-separated "turn:user:pass@host[:port][?transport=udp|tcp]" */
    const char *local_addresses;  /* comma-separated IPs or interface names; NULL/"": all */
    uint16_t port_min, port_max;
    int relay_only;
} st_ice_config;

typedef struct st_ice_callbacks {
    void (*on_candidate)(void *user, const char *candidate); /* NULL: gathering done */
    void (*on_state)(void *user, int state);
    void (*on_data)(void *user, const uint8_t *data, size_t len);
} st_ice_callbacks;

/* Returns STRAPTO_EINVAL (with a log line) for a bad server URI or address. */
int st_ice_new(GMainContext *mc, const st_ice_config *cfg, const st_ice_callbacks *cbs, void *user,
               st_ice **out);
void st_ice_free(st_ice *ice);
void st_ice_set_controlling(st_ice *ice, int controlling);
/* Start gathering (once; later calls are no-ops until a restart). */
int st_ice_gather(st_ice *ice);
int st_ice_gathering_done(st_ice *ice);
/* Local credentials (borrowed, valid until the next restart). */
const char *st_ice_local_ufrag(st_ice *ice);
const char *st_ice_local_pwd(st_ice *ice);
/* Local candidates so far ("candidate:..." strings, borrowed). */
const char *const *st_ice_local_candidates(st_ice *ice, size_t *n);
/* Remote side. Credentials changing after a first set means an ICE restart. */
int st_ice_set_remote_credentials(st_ice *ice, const char *ufrag, const char *pwd);
/* The remote ufrag last set (NULL if none). */
const char *st_ice_remote_ufrag(st_ice *ice);
int st_ice_add_remote_candidate(st_ice *ice, const char *candidate);
void st_ice_remote_gathering_done(st_ice *ice);
/* New local credentials; remote credentials and candidates are forgotten. */
int st_ice_restart(st_ice *ice);
/* Any thread. Returns bytes sent or a negative error. */
int st_ice_send(st_ice *ice, const uint8_t *data, size_t len);
int st_ice_state(st_ice *ice);

#endif
