/* libstrapto — real-time streaming between programs, browsers, Janus
 * rooms, robots and model processes. Include this header for the whole API. */
#ifndef STRAPTO_H
#define STRAPTO_H
#include "common.h"
#include "log.h"
#include "ctx.h"
#include "bus.h"
#include "peer.h"
#include "server.h"
#endif
