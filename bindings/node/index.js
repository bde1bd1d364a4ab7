'use strict';
/*
 * strapto — Node binding for libstrapto over koffi (FFI).
 *
 * Threads: libstrapto runs callbacks on its loop threads. They are koffi
 * registered callbacks; koffi hands each call to the JS thread and the loop
 * thread waits until the JS function returns. So the JS thread must never
 * block waiting for a loop: every C function that waits for a loop
 * (strapto_ctx_free, peer create/answer/set-remote/free, dc create/close,
 * bus unsubscribe, hub/server new/free/status) is called through koffi's
 * `.async` (a worker thread) and surfaces as a Promise. Functions that only
 * take a short lock (publish, dc send, properties) are synchronous.
 *
 * Callbacks are registered once per process (a fixed set of trampolines)
 * and dispatch on the `user` pointer, which carries a numeric handle id: no
 * slot is ever unregistered while the C side may still call it.
 */
const EventEmitter = require('events');
const koffi = require('koffi');

const LIB_PATH = process.env.STRAPTO_LIBRARY || 'libstrapto.so.0';
const lib = koffi.load(LIB_PATH);

/* ---- types ---- */

const ctx_options = koffi.struct('strapto_ctx_options', {
  threads: 'int', log_level: 'int', bus_replay: 'int', bus_queue: 'int',
});
const strapto_event = koffi.struct('strapto_event', {
  seq: 'uint64_t', type: 'const char *', timestamp_us: 'int64_t', source: 'const char *',
  payload: 'const char *', payload_len: 'size_t',
});
const EventFn = koffi.proto('void strapto_event_fn(const strapto_event *ev, void *user)');
const CandFn = koffi.proto('void strapto_cand_fn(void *pc, const char *candidate, const char *mid, int mline_index, void *user)');
const StateFn = koffi.proto('void strapto_state_fn(void *pc, int state, void *user)');
const DcFn = koffi.proto('void strapto_newdc_fn(void *pc, void *dc, void *user)');
const DcEvFn = koffi.proto('void strapto_dcev_fn(void *dc, void *user)');
const DcMsgFn = koffi.proto('void strapto_dcmsg_fn(void *dc, const void *data, size_t len, int binary, void *user)');
const CmdFn = koffi.proto('void strapto_hub_command_fn(const char *type, const char *data_json, uint64_t client_id, void *user)');

koffi.struct('strapto_peer_config', {
  stun_servers: 'const char *', turn_servers: 'const char *', local_addresses: 'const char *',
  loop: 'int', max_message_size: 'size_t', max_buffered: 'size_t',
  port_min: 'uint16_t', port_max: 'uint16_t', relay_only: 'int',
});
koffi.struct('strapto_peer_callbacks', {
  on_candidate: 'strapto_cand_fn *', on_state: 'strapto_state_fn *',
  on_datachannel: 'strapto_newdc_fn *', user: 'void *',
});
koffi.struct('strapto_dc_init', {
  label: 'const char *', protocol: 'const char *', ordered: 'int', max_retransmits: 'int',
  max_packet_life_time: 'int', negotiated: 'int', id: 'int',
});
koffi.struct('strapto_dc_callbacks', {
  on_open: 'strapto_dcev_fn *', on_message: 'strapto_dcmsg_fn *', on_close: 'strapto_dcev_fn *',
  on_buffered_amount_low: 'strapto_dcev_fn *', user: 'void *',
});
koffi.struct('strapto_event_hub_config', {
  listen: 'const char *', path: 'const char *', token: 'const char *',
  tls_cert: 'const char *', tls_key: 'const char *', max_clients: 'int', client_queue: 'size_t',
  slow_policy: 'int', max_message: 'size_t', input_rate: 'double', loop: 'int',
  on_command: 'strapto_hub_command_fn *', user: 'void *',
});
koffi.struct('strapto_stream_server_config', {
  listen: 'const char *', model_argv: 'const char **', restart: 'int', input_format: 'int',
  www_dir: 'const char *', token: 'const char *', tls_cert: 'const char *', tls_key: 'const char *',
  max_body: 'size_t', max_clients: 'int', client_queue: 'size_t', slow_policy: 'int',
  max_input: 'size_t', input_rate: 'double', ice_local_addresses: 'const char *',
  stun_servers: 'const char *', turn_servers: 'const char *', loop: 'int',
});

/* ---- functions ---- */

const f = {
  strerror: lib.func('const char *strapto_strerror(int err)'),
  version: lib.func('const char *strapto_version(void)'),
  free: lib.func('void strapto_free(void *p)'),
  log_set_level: lib.func('int strapto_log_set_level(int level)'),
  log_get_level: lib.func('int strapto_log_get_level(void)'),
  log_level_parse: lib.func('int strapto_log_level_parse(const char *name)'),

  ctx_options_init: lib.func('void strapto_ctx_options_init(_Out_ strapto_ctx_options *opts)'),
  ctx_new: lib.func('int strapto_ctx_new(const strapto_ctx_options *opts, _Out_ void **out)'),
  ctx_free: lib.func('void strapto_ctx_free(void *ctx)'),
  ctx_threads: lib.func('int strapto_ctx_threads(void *ctx)'),
  ctx_bus: lib.func('void *strapto_ctx_bus(void *ctx)'),

  bus_publish: lib.func('int strapto_bus_publish(void *bus, const char *type, const char *source, const char *payload, _Out_ uint64_t *seq)'),
  bus_subscribe: lib.func('int strapto_bus_subscribe(void *bus, const char *prefix, int loop, size_t queue_len, strapto_event_fn *fn, void *user, _Out_ void **out)'),
  bus_unsubscribe: lib.func('int strapto_bus_unsubscribe(void *sub)'),
  bus_sub_dropped: lib.func('uint64_t strapto_bus_sub_dropped(void *sub)'),
  bus_replay: lib.func('int strapto_bus_replay(void *bus, const char *prefix, strapto_event_fn *fn, void *user)'),
  bus_last_seq: lib.func('uint64_t strapto_bus_last_seq(void *bus)'),

  peer_config_init: lib.func('void strapto_peer_config_init(_Out_ strapto_peer_config *cfg)'),
  peer_new: lib.func('int strapto_peer_new(void *ctx, const strapto_peer_config *cfg, const strapto_peer_callbacks *cbs, _Out_ void **out)'),
  peer_free: lib.func('void strapto_peer_free(void *pc)'),
  peer_create_offer: lib.func('int strapto_peer_create_offer(void *pc, _Out_ void **sdp)'),
  peer_create_answer: lib.func('int strapto_peer_create_answer(void *pc, _Out_ void **sdp)'),
  peer_set_remote: lib.func('int strapto_peer_set_remote_description(void *pc, const char *type, const char *sdp)'),
  peer_local_description: lib.func('int strapto_peer_local_description(void *pc, _Out_ void **sdp)'),
  peer_add_candidate: lib.func('int strapto_peer_add_remote_candidate(void *pc, const char *cand, const char *mid)'),
  peer_restart_ice: lib.func('int strapto_peer_restart_ice(void *pc)'),
  peer_close: lib.func('int strapto_peer_close(void *pc)'),
  peer_state: lib.func('int strapto_peer_state(void *pc)'),
  peer_state_name: lib.func('const char *strapto_peer_state_name(int state)'),
  peer_max_message_size: lib.func('size_t strapto_peer_max_message_size(void *pc)'),

  dc_init_default: lib.func('void strapto_dc_init_default(_Out_ strapto_dc_init *init)'),
  peer_create_dc: lib.func('int strapto_peer_create_dc(void *pc, const strapto_dc_init *init, const strapto_dc_callbacks *cbs, _Out_ void **out)'),
  dc_set_callbacks: lib.func('int strapto_dc_set_callbacks(void *dc, const strapto_dc_callbacks *cbs)'),
  dc_send: lib.func('int strapto_dc_send(void *dc, const void *data, size_t len, int binary)'),
  dc_buffered_amount: lib.func('size_t strapto_dc_buffered_amount(void *dc)'),
  dc_set_low: lib.func('int strapto_dc_set_buffered_amount_low_threshold(void *dc, size_t bytes)'),
  dc_close: lib.func('int strapto_dc_close(void *dc)'),
  dc_ref: lib.func('void *strapto_dc_ref(void *dc)'),
  dc_unref: lib.func('void strapto_dc_unref(void *dc)'),
  dc_label: lib.func('const char *strapto_dc_label(void *dc)'),
  dc_protocol: lib.func('const char *strapto_dc_protocol(void *dc)'),
  dc_id: lib.func('int strapto_dc_id(void *dc)'),
  dc_ordered: lib.func('int strapto_dc_ordered(void *dc)'),
  dc_max_retransmits: lib.func('int strapto_dc_max_retransmits(void *dc)'),
  dc_max_packet_life_time: lib.func('int strapto_dc_max_packet_life_time(void *dc)'),
  dc_negotiated: lib.func('int strapto_dc_negotiated(void *dc)'),
  dc_state: lib.func('int strapto_dc_state(void *dc)'),

  hub_config_init: lib.func('void strapto_event_hub_config_init(_Out_ strapto_event_hub_config *cfg)'),
  hub_new: lib.func('int strapto_event_hub_new(void *ctx, const strapto_event_hub_config *cfg, _Out_ void **out)'),
  hub_port: lib.func('int strapto_event_hub_port(void *hub)'),
  hub_clients: lib.func('int strapto_event_hub_clients(void *hub)'),
  hub_free: lib.func('void strapto_event_hub_free(void *hub)'),

  srv_config_init: lib.func('void strapto_stream_server_config_init(_Out_ strapto_stream_server_config *cfg)'),
  srv_new: lib.func('int strapto_stream_server_new(void *ctx, const strapto_stream_server_config *cfg, _Out_ void **out)'),
  srv_port: lib.func('int strapto_stream_server_port(void *srv)'),
  srv_status: lib.func('int strapto_stream_server_status(void *srv, _Out_ void **json)'),
  srv_free: lib.func('void strapto_stream_server_free(void *srv)'),
};

/* ---- errors and helpers ---- */

const ERROR_NAMES = {
  '-1': 'EINVAL', '-2': 'ENOMEM', '-3': 'ESTATE', '-4': 'EPARSE', '-5': 'EIO', '-6': 'ETIMEDOUT',
  '-7': 'ECLOSED', '-8': 'EAGAIN', '-9': 'ETOOBIG', '-10': 'ENOTFOUND', '-11': 'EUNSUPPORTED',
  '-12': 'ECRYPTO', '-13': 'ELIMIT', '-14': 'EINTERNAL',
};

class StraptoError extends Error {
  constructor(errno, what) {
    super(`${what}: ${f.strerror(errno)}`);
    this.name = 'StraptoError';
    this.errno = errno;
    this.code = 'STRAPTO_' + (ERROR_NAMES[errno] || 'UNKNOWN');
  }
}

function check(rc, what) {
  if (rc < 0) throw new StraptoError(rc, what);
  return rc;
}

/* Call a koffi function on a worker thread; resolves with its return value. */
function callAsync(fn, ...args) {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/* Take ownership of a char* the library returned: copy to a JS string, free. */
function takeString(ptr) {
  if (!ptr) return null;
  try {
    return koffi.decode(ptr, 'char', -1);
  } finally {
    f.free(ptr);
  }
}

function toInt(v) {
  return typeof v === 'bigint' ? Number(v) : v;
}

/* Rethrow a listener's exception outside the C callback (koffi would
 * swallow it and return 0 to C). */
function safely(fn) {
  try {
    fn();
  } catch (e) {
    process.nextTick(() => { throw e; });
  }
}

/* Handles reachable from the `user` pointer of callbacks. */
const handles = new Map();
let nextHandle = 1;
function newHandle(obj) {
  const id = BigInt(nextHandle++);
  handles.set(id, obj);
  return id;
}
function lookup(user) {
  if (user === null || user === undefined) return undefined;
  return handles.get(BigInt(user));
}

function decodeEvent(evp) {
  const ev = koffi.decode(evp, strapto_event);
  return new Event(ev);
}

/* ---- the process-wide registered callbacks ---- */

const cb = {
  event: koffi.register((evp, user) => {
    const sub = lookup(user);
    if (!sub || sub._closed) return;
    const ev = decodeEvent(evp);
    safely(() => sub.emit('event', ev));
  }, koffi.pointer(EventFn)),
  candidate: koffi.register((pc, cand, mid, mline, user) => {
    const p = lookup(user);
    if (!p) return;
    const c = cand === null ? null : { candidate: cand, sdpMid: mid, sdpMLineIndex: mline };
    safely(() => {
      p.emit('candidate', c);
      if (c === null) p.emit('gatheringcomplete');
    });
  }, koffi.pointer(CandFn)),
  state: koffi.register((pc, state, user) => {
    const p = lookup(user);
    if (!p) return;
    safely(() => p.emit('state', f.peer_state_name(state), state));
  }, koffi.pointer(StateFn)),
  datachannel: koffi.register((pc, dcp, user) => {
    const p = lookup(user);
    if (!p) return;
    const dc = new DataChannel(p);
    dc._attach(dcp);
    check(f.dc_set_callbacks(dcp, dc._callbacks()), 'strapto_dc_set_callbacks');
    safely(() => p.emit('datachannel', dc));
  }, koffi.pointer(DcFn)),
  dcOpen: koffi.register((dcp, user) => {
    const dc = lookup(user);
    if (dc) dc._onOpen(dcp);
  }, koffi.pointer(DcEvFn)),
  dcMessage: koffi.register((dcp, data, len, binary, user) => {
    const dc = lookup(user);
    if (!dc) return;
    len = toInt(len);
    let msg;
    if (binary) {
      msg = len > 0 ? Buffer.from(koffi.view(data, len).slice(0)) : Buffer.alloc(0);
    } else {
      msg = len > 0 ? koffi.decode(data, 'char', len) : '';
    }
    dc._event('message', msg, !!binary);
  }, koffi.pointer(DcMsgFn)),
  dcClose: koffi.register((dcp, user) => {
    const dc = lookup(user);
    if (dc) dc._onClose(dcp);
  }, koffi.pointer(DcEvFn)),
  dcLow: koffi.register((dcp, user) => {
    const dc = lookup(user);
    if (dc) dc._event('bufferedamountlow');
  }, koffi.pointer(DcEvFn)),
  command: koffi.register((type, data, clientId, user) => {
    const hub = lookup(user);
    if (!hub) return;
    let parsed;
    try { parsed = JSON.parse(data); } catch (e) { parsed = undefined; }
    safely(() => hub.emit('command', { type, data: parsed, json: data, clientId: BigInt(clientId) }));
  }, koffi.pointer(CmdFn)),
};

/* ---- Event ---- */

class Event {
  constructor(ev) {
    this.seq = toInt(ev.seq);
    this.type = ev.type;
    this.timestampUs = toInt(ev.timestamp_us);
    this.source = ev.source || '';
    this.payload = ev.payload; // JSON text
  }
  get timestamp() { return new Date(Math.floor(this.timestampUs / 1000)); }
  get data() { return JSON.parse(this.payload); }
  toJSON() {
    return { seq: this.seq, type: this.type, timestampUs: this.timestampUs, source: this.source, data: this.data };
  }
}

/* ---- Context ---- */

/* Contexts not closed yet. When the event loop runs dry with some still
 * open, they are closed (their loop threads must not call into JS while
 * Node tears down: that crashes). process.exit() skips this: close every
 * Context before calling it. */
const openContexts = new Set();
process.on('beforeExit', () => {
  for (const ctx of openContexts) ctx.close();
});

class Context {
  constructor(options = {}) {
    const o = {};
    f.ctx_options_init(o);
    if (options.threads !== undefined) o.threads = options.threads;
    if (options.logLevel !== undefined) {
      o.log_level = typeof options.logLevel === 'string' ? check(f.log_level_parse(options.logLevel), 'log level') : options.logLevel;
    }
    if (options.busReplay !== undefined) o.bus_replay = options.busReplay;
    if (options.busQueue !== undefined) o.bus_queue = options.busQueue;
    const out = [null];
    check(f.ctx_new(o, out), 'strapto_ctx_new');
    this._ptr = out[0];
    this._children = new Set();
    this._closing = null;
    this.bus = new Bus(this, f.ctx_bus(this._ptr));
    openContexts.add(this);
  }
  get threads() { return f.ctx_threads(this._live()); }
  _live() {
    if (!this._ptr || this._closing) throw new StraptoError(-7, 'context');
    return this._ptr;
  }
  /* Free every object still alive on the context, then the context. */
  close() {
    if (this._closing) return this._closing;
    this._closing = (async () => {
      for (const child of [...this._children]) await child.close();
      const p = this._ptr;
      await callAsync(f.ctx_free, p);
      this._ptr = null;
      openContexts.delete(this);
    })();
    return this._closing;
  }
}

/* ---- Bus ---- */

class Subscription extends EventEmitter {
  constructor(ctx) {
    super();
    this._ctx = ctx;
    this._ptr = null;
    this._closed = false;
    this._id = newHandle(this);
    this._closing = null;
  }
  get dropped() { return this._ptr && !this._closed ? toInt(f.bus_sub_dropped(this._ptr)) : 0; }
  /* End the subscription; resolves once the callback cannot run any more. */
  unsubscribe() {
    if (this._closing) return this._closing;
    this._closed = true;
    this._closing = (async () => {
      try {
        if (this._ptr) check(await callAsync(f.bus_unsubscribe, this._ptr), 'strapto_bus_unsubscribe');
      } finally {
        this._ptr = null;
        handles.delete(this._id);
        this._ctx._children.delete(this);
      }
    })();
    return this._closing;
  }
  close() { return this.unsubscribe(); }
}

class Bus {
  constructor(ctx, ptr) {
    this._ctx = ctx;
    this._ptr = ptr;
  }
  /* Publish `data` (any JSON-serialisable value; undefined means {}).
   * Returns the event's sequence number. */
  publish(type, data, source) {
    const json = data === undefined ? null : JSON.stringify(data);
    return this.publishJson(type, json, source);
  }
  /* Publish a JSON text as it is. */
  publishJson(type, json, source) {
    this._ctx._live();
    const seq = [0];
    check(f.bus_publish(this._ptr, type, source ?? null, json ?? null, seq), 'strapto_bus_publish');
    return toInt(seq[0]);
  }
  /* Subscribe to events whose type starts with `prefix`. The Subscription
   * emits 'event' (Event); `listener`, if given, is attached to it. */
  subscribe(prefix, listener, options = {}) {
    if (typeof prefix === 'function') { options = listener || {}; listener = prefix; prefix = ''; }
    this._ctx._live();
    const sub = new Subscription(this._ctx);
    if (listener) sub.on('event', listener);
    const out = [null];
    const rc = f.bus_subscribe(this._ptr, prefix ?? '', options.loop ?? -1, options.queueLength ?? 0,
      cb.event, sub._id, out);
    if (rc < 0) {
      handles.delete(sub._id);
      throw new StraptoError(rc, 'strapto_bus_subscribe');
    }
    sub._ptr = out[0];
    this._ctx._children.add(sub);
    return sub;
  }
  /* The events of the replay ring matching `prefix`, oldest first. */
  replay(prefix = '') {
    this._ctx._live();
    const events = [];
    check(f.bus_replay(this._ptr, prefix, (evp) => { events.push(decodeEvent(evp)); }, null), 'strapto_bus_replay');
    return events;
  }
  get lastSeq() { return toInt(f.bus_last_seq(this._ptr)); }
}

/* ---- Peer and DataChannel ---- */

const DC_STATES = ['connecting', 'open', 'closing', 'closed'];

class DataChannel extends EventEmitter {
  constructor(peer) {
    super();
    this._peer = peer;
    this._ptr = null;
    this._id = newHandle(this);
    this._held = null; // events held until the channel is handed to the user
    this._closed = false;
    peer._channels.add(this);
  }
  _callbacks() {
    return { on_open: cb.dcOpen, on_message: cb.dcMessage, on_close: cb.dcClose,
             on_buffered_amount_low: cb.dcLow, user: this._id };
  }
  _attach(ptr) {
    if (this._ptr || !ptr) return;
    this._ptr = f.dc_ref(ptr);
    this.label = f.dc_label(ptr);
    this.protocol = f.dc_protocol(ptr);
    this.ordered = !!f.dc_ordered(ptr);
    this.maxRetransmits = f.dc_max_retransmits(ptr);
    this.maxPacketLifeTime = f.dc_max_packet_life_time(ptr);
    this.negotiated = !!f.dc_negotiated(ptr);
  }
  _event(name, ...args) {
    if (this._held) this._held.push([name, args]);
    else safely(() => this.emit(name, ...args));
  }
  _flush() {
    const held = this._held;
    this._held = null;
    if (held) for (const [name, args] of held) safely(() => this.emit(name, ...args));
  }
  _onOpen(dcp) {
    this._attach(dcp);
    this._event('open');
  }
  _onClose(dcp) {
    this._attach(dcp);
    this._closed = true;
    this._event('close');
  }
  _release() {
    handles.delete(this._id);
    if (this._ptr) f.dc_unref(this._ptr);
    this._ptr = null;
    this._closed = true;
  }
  get id() { return this._ptr ? f.dc_id(this._ptr) : -1; }
  get readyState() { return this._ptr ? DC_STATES[f.dc_state(this._ptr)] || 'closed' : 'closed'; }
  get bufferedAmount() { return this._ptr ? toInt(f.dc_buffered_amount(this._ptr)) : 0; }
  get bufferedAmountLowThreshold() { return this._low || 0; }
  set bufferedAmountLowThreshold(n) {
    if (this._ptr) check(f.dc_set_low(this._ptr, n), 'strapto_dc_set_buffered_amount_low_threshold');
    this._low = n;
  }
  /* Send a string (a string message, UTF-8) or binary data (Buffer,
   * TypedArray, DataView, ArrayBuffer: a binary message). Throws a
   * StraptoError; code STRAPTO_EAGAIN when the send queue is full (wait
   * for 'bufferedamountlow'). */
  send(data) {
    if (!this._ptr) throw new StraptoError(-3, 'strapto_dc_send');
    let buf;
    let binary = 1;
    if (typeof data === 'string') {
      buf = Buffer.from(data, 'utf8');
      binary = 0;
    } else if (Buffer.isBuffer(data)) {
      buf = data;
    } else if (ArrayBuffer.isView(data)) {
      buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } else if (data instanceof ArrayBuffer) {
      buf = Buffer.from(data);
    } else {
      throw new TypeError('send() takes a string, a Buffer, a TypedArray or an ArrayBuffer');
    }
    check(f.dc_send(this._ptr, buf.length ? buf : null, buf.length, binary), 'strapto_dc_send');
  }
  /* Close the channel; 'close' follows. */
  async close() {
    if (!this._ptr || this._closed) return;
    const rc = await callAsync(f.dc_close, this._ptr);
    if (rc < 0 && rc !== -7) throw new StraptoError(rc, 'strapto_dc_close');
  }
}

class Peer extends EventEmitter {
  /* options: stunServers, turnServers, localAddresses (string or array),
   * loop, maxMessageSize, maxBuffered, portMin, portMax, relayOnly. */
  constructor(ctx, options = {}) {
    super();
    this._ctx = ctx;
    this._channels = new Set();
    this._id = newHandle(this);
    const cfg = {};
    f.peer_config_init(cfg);
    const list = (v) => (Array.isArray(v) ? v.join(',') : v);
    if (options.stunServers !== undefined) cfg.stun_servers = list(options.stunServers);
    if (options.turnServers !== undefined) cfg.turn_servers = list(options.turnServers);
    if (options.localAddresses !== undefined) cfg.local_addresses = list(options.localAddresses);
    if (options.loop !== undefined) cfg.loop = options.loop;
    if (options.maxMessageSize !== undefined) cfg.max_message_size = options.maxMessageSize;
    if (options.maxBuffered !== undefined) cfg.max_buffered = options.maxBuffered;
    if (options.portMin !== undefined) cfg.port_min = options.portMin;
    if (options.portMax !== undefined) cfg.port_max = options.portMax;
    if (options.relayOnly) cfg.relay_only = 1;
    const cbs = { on_candidate: cb.candidate, on_state: cb.state, on_datachannel: cb.datachannel, user: this._id };
    const out = [null];
    const rc = f.peer_new(ctx._live(), cfg, cbs, out);
    if (rc < 0) {
      handles.delete(this._id);
      throw new StraptoError(rc, 'strapto_peer_new');
    }
    this._ptr = out[0];
    this._closing = null;
    ctx._children.add(this);
  }
  _live() {
    if (!this._ptr || this._closing) throw new StraptoError(-7, 'peer');
    return this._ptr;
  }
  async _sdp(fn, what) {
    const out = [null];
    const rc = await callAsync(fn, this._live(), out);
    check(rc, what);
    return takeString(out[0]);
  }
  createOffer() { return this._sdp(f.peer_create_offer, 'strapto_peer_create_offer'); }
  createAnswer() { return this._sdp(f.peer_create_answer, 'strapto_peer_create_answer'); }
  localDescription() { return this._sdp(f.peer_local_description, 'strapto_peer_local_description'); }
  async setRemoteDescription(type, sdp) {
    if (typeof type === 'object' && type !== null) ({ type, sdp } = type);
    check(await callAsync(f.peer_set_remote, this._live(), type, sdp), 'strapto_peer_set_remote_description');
  }
  /* candidate: "candidate:..." or {candidate, sdpMid}; null/"" = end of candidates. */
  async addRemoteCandidate(candidate, mid) {
    if (candidate && typeof candidate === 'object') { mid = candidate.sdpMid; candidate = candidate.candidate; }
    check(await callAsync(f.peer_add_candidate, this._live(), candidate || null, mid ?? null),
      'strapto_peer_add_remote_candidate');
  }
  async restartIce() {
    check(await callAsync(f.peer_restart_ice, this._live()), 'strapto_peer_restart_ice');
  }
  get state() { return this._ptr ? f.peer_state_name(f.peer_state(this._ptr)) : 'closed'; }
  get maxMessageSize() { return this._ptr ? toInt(f.peer_max_message_size(this._ptr)) : 0; }
  /* options: protocol, ordered, maxRetransmits, maxPacketLifeTime, negotiated, id. */
  async createDataChannel(label = '', options = {}) {
    const init = {};
    f.dc_init_default(init);
    init.label = label;
    if (options.protocol !== undefined) init.protocol = options.protocol;
    if (options.ordered !== undefined) init.ordered = options.ordered ? 1 : 0;
    if (options.maxRetransmits !== undefined && options.maxRetransmits !== null) init.max_retransmits = options.maxRetransmits;
    if (options.maxPacketLifeTime !== undefined && options.maxPacketLifeTime !== null) init.max_packet_life_time = options.maxPacketLifeTime;
    if (options.negotiated) init.negotiated = 1;
    if (options.id !== undefined && options.id !== null) init.id = options.id;
    const dc = new DataChannel(this);
    dc._held = [];
    const out = [null];
    const rc = await callAsync(f.peer_create_dc, this._live(), init, dc._callbacks(), out);
    if (rc < 0) {
      this._channels.delete(dc);
      dc._release();
      throw new StraptoError(rc, 'strapto_peer_create_dc');
    }
    dc._attach(out[0]);
    /* events that came before the caller could listen: after its await */
    setImmediate(() => dc._flush());
    return dc;
  }
  async closeConnection() {
    check(await callAsync(f.peer_close, this._live()), 'strapto_peer_close');
  }
  /* Close and free the peer; resolves when no callback can run any more. */
  close() {
    if (this._closing) return this._closing;
    const p = this._ptr;
    this._closing = (async () => {
      if (p) await callAsync(f.peer_free, p);
      this._ptr = null;
      for (const dc of this._channels) dc._release();
      this._channels.clear();
      handles.delete(this._id);
      this._ctx._children.delete(this);
    })();
    return this._closing;
  }
}

/* ---- EventHub ---- */

class EventHub extends EventEmitter {
  constructor(ctx) {
    super();
    this._ctx = ctx;
    this._ptr = null;
    this._closing = null;
    this._id = newHandle(this);
  }
  /* options: listen ("HOST:PORT"), path, token, tlsCert, tlsKey, maxClients,
   * clientQueue, slowPolicy ('notify'|'disconnect'), maxMessage, inputRate,
   * loop. Commands the hub does not handle are emitted as 'command'
   * ({type, data, json, clientId}). */
  static async create(ctx, options = {}) {
    const hub = new EventHub(ctx);
    const cfg = {};
    f.hub_config_init(cfg);
    const set = (k, v) => { if (v !== undefined && v !== null) cfg[k] = v; };
    set('listen', options.listen); set('path', options.path); set('token', options.token);
    set('tls_cert', options.tlsCert); set('tls_key', options.tlsKey);
    set('max_clients', options.maxClients); set('client_queue', options.clientQueue);
    if (options.slowPolicy !== undefined) cfg.slow_policy = options.slowPolicy === 'disconnect' || options.slowPolicy === 1 ? 1 : 0;
    set('max_message', options.maxMessage); set('input_rate', options.inputRate); set('loop', options.loop);
    cfg.on_command = options.commands === false ? null : cb.command;
    cfg.user = hub._id;
    const out = [null];
    const rc = await callAsync(f.hub_new, ctx._live(), cfg, out);
    if (rc < 0) {
      handles.delete(hub._id);
      throw new StraptoError(rc, 'strapto_event_hub_new');
    }
    hub._ptr = out[0];
    ctx._children.add(hub);
    return hub;
  }
  get port() { return this._ptr ? f.hub_port(this._ptr) : 0; }
  get clients() { return this._ptr ? f.hub_clients(this._ptr) : 0; }
  close() {
    if (this._closing) return this._closing;
    const p = this._ptr;
    this._closing = (async () => {
      if (p) await callAsync(f.hub_free, p);
      this._ptr = null;
      handles.delete(this._id);
      this._ctx._children.delete(this);
    })();
    return this._closing;
  }
}

/* ---- StreamServer ---- */

const RESTART = { never: 0, 'on-failure': 1, always: 2 };

class StreamServer {
  constructor(ctx) {
    this._ctx = ctx;
    this._ptr = null;
    this._closing = null;
  }
  /* options: listen, model (argv array), restart ('never'|'on-failure'|
   * 'always'), inputFormat ('json'|'text'), wwwDir, token, tlsCert, tlsKey,
   * maxBody, maxClients, clientQueue, slowPolicy, maxInput, inputRate,
   * iceLocalAddresses, stunServers, turnServers, loop. */
  static async create(ctx, options = {}) {
    const srv = new StreamServer(ctx);
    const cfg = {};
    f.srv_config_init(cfg);
    const set = (k, v) => { if (v !== undefined && v !== null) cfg[k] = v; };
    set('listen', options.listen);
    if (options.model) cfg.model_argv = [...options.model, null];
    if (options.restart !== undefined) cfg.restart = typeof options.restart === 'string' ? RESTART[options.restart] : options.restart;
    if (options.inputFormat !== undefined) cfg.input_format = options.inputFormat === 'text' || options.inputFormat === 1 ? 1 : 0;
    set('www_dir', options.wwwDir); set('token', options.token);
    set('tls_cert', options.tlsCert); set('tls_key', options.tlsKey);
    set('max_body', options.maxBody); set('max_clients', options.maxClients);
    set('client_queue', options.clientQueue);
    if (options.slowPolicy !== undefined) cfg.slow_policy = options.slowPolicy === 'disconnect' || options.slowPolicy === 1 ? 1 : 0;
    set('max_input', options.maxInput); set('input_rate', options.inputRate);
    const list = (v) => (Array.isArray(v) ? v.join(',') : v);
    set('ice_local_addresses', list(options.iceLocalAddresses));
    set('stun_servers', list(options.stunServers)); set('turn_servers', list(options.turnServers));
    set('loop', options.loop);
    const out = [null];
    check(await callAsync(f.srv_new, ctx._live(), cfg, out), 'strapto_stream_server_new');
    srv._ptr = out[0];
    ctx._children.add(srv);
    return srv;
  }
  get port() { return this._ptr ? f.srv_port(this._ptr) : 0; }
  /* The /status document, parsed. */
  async status() {
    if (!this._ptr || this._closing) throw new StraptoError(-7, 'stream server');
    const out = [null];
    check(await callAsync(f.srv_status, this._ptr, out), 'strapto_stream_server_status');
    return JSON.parse(takeString(out[0]));
  }
  close() {
    if (this._closing) return this._closing;
    const p = this._ptr;
    this._closing = (async () => {
      if (p) await callAsync(f.srv_free, p);
      this._ptr = null;
      this._ctx._children.delete(this);
    })();
    return this._closing;
  }
}

module.exports = {
  Context, Bus, Subscription, Event, Peer, DataChannel, EventHub, StreamServer, StraptoError,
  version: () => f.version(),
  strerror: (code) => f.strerror(code),
  setLogLevel: (level) => check(f.log_set_level(typeof level === 'string' ? check(f.log_level_parse(level), 'log level') : level), 'strapto_log_set_level'),
  getLogLevel: () => f.log_get_level(),
  libraryPath: LIB_PATH,
};
