"""WebRTC peer connections and data channels (strapto_peer(3), strapto_dc(3))."""
import asyncio
import ctypes
import threading

from ._lib import (DC_FN, DC_MESSAGE_FN, ON_CANDIDATE_FN, ON_DATACHANNEL_FN, ON_STATE_FN, DcCallbacks, DcInit,
                   PeerCallbacks, PeerConfig, dec, enc, lib, take_string)
from ._util import Inbox, StateWatch, call_user, guarded, lookup, register, unregister
from .errors import ECLOSED, ESTATE, check, error

# enum strapto_peer_state
NEW, CONNECTING, CONNECTED, DISCONNECTED, FAILED, CLOSED = range(6)
PEER_STATES = ("new", "connecting", "connected", "disconnected", "failed", "closed")
# enum strapto_dc_state
DC_CONNECTING, DC_OPEN, DC_CLOSING, DC_CLOSED = range(4)
DC_STATES = ("connecting", "open", "closing", "closed")


def _closed_error(what):
    return error(ECLOSED, detail="%s is closed" % what)


# ---- trampolines (module lifetime: the C side may call them at any time) ----

@guarded
def _on_candidate(pc_ptr, cand, mid, index, user):
    pc = lookup(user)
    if pc is not None:
        pc._candidate(dec(cand), dec(mid), index)


@guarded
def _on_state(pc_ptr, state, user):
    pc = lookup(user)
    if pc is not None:
        pc._state_changed(state)


@guarded
def _on_datachannel(pc_ptr, dc_ptr, user):
    pc = lookup(user)
    if pc is not None:
        pc._remote_channel(dc_ptr)


@guarded
def _dc_on_open(dc_ptr, user):
    dc = lookup(user)
    if dc is not None:
        dc._opened(dc_ptr)


@guarded
def _dc_on_message(dc_ptr, data, length, binary, user):
    dc = lookup(user)
    if dc is not None:
        raw = ctypes.string_at(data, length) if length else b""
        dc._message(dc_ptr, raw if binary else raw.decode("utf-8", "replace"))


@guarded
def _dc_on_close(dc_ptr, user):
    dc = lookup(user)
    if dc is not None:
        dc._closed(dc_ptr)


@guarded
def _dc_on_low(dc_ptr, user):
    dc = lookup(user)
    if dc is not None:
        dc._low(dc_ptr)


_CANDIDATE_CB = ON_CANDIDATE_FN(_on_candidate)
_STATE_CB = ON_STATE_FN(_on_state)
_DATACHANNEL_CB = ON_DATACHANNEL_FN(_on_datachannel)
_DC_OPEN_CB = DC_FN(_dc_on_open)
_DC_MESSAGE_CB = DC_MESSAGE_FN(_dc_on_message)
_DC_CLOSE_CB = DC_FN(_dc_on_close)
_DC_LOW_CB = DC_FN(_dc_on_low)


class DataChannel:
    """A data channel. Get one from Peer.create_data_channel() or, for a
    channel the remote opened, from Peer.on_datachannel / accept().

    Callbacks (attributes, run on the peer's loop thread): on_open(),
    on_message(msg) with msg a str (string message) or bytes (binary),
    on_close(), on_buffered_amount_low(). While on_message is None, messages
    queue in the channel: recv()/arecv(), `for m in dc.messages()`, `async
    for m in dc`. The queue ends (None / StopAsyncIteration) when the channel
    closes."""

    def __init__(self, peer):
        self.peer = peer
        self.on_open = None
        self.on_message = None
        self.on_close = None
        self.on_buffered_amount_low = None
        self._inbox = Inbox()
        self._state = StateWatch(DC_CONNECTING)
        self._lock = threading.Lock()
        self._ptr = None  # holds a strapto_dc_ref() while not None
        self._props = {}
        self._handle = register(self)

    def _callbacks(self):
        cbs = DcCallbacks()
        cbs.on_open = _DC_OPEN_CB
        cbs.on_message = _DC_MESSAGE_CB
        cbs.on_close = _DC_CLOSE_CB
        cbs.on_buffered_amount_low = _DC_LOW_CB
        cbs.user = self._handle
        return cbs

    def _adopt_ptr(self, p):
        """Take our reference on `p` (valid at this point) once."""
        with self._lock:
            if self._ptr is None and not self._props.get("_released"):
                self._ptr = lib.strapto_dc_ref(p)
                self._cache()

    def _cache(self):
        p = self._ptr
        if p:
            self._props.update(label=dec(lib.strapto_dc_label(p)), protocol=dec(lib.strapto_dc_protocol(p)),
                               id=lib.strapto_dc_id(p), ordered=bool(lib.strapto_dc_ordered(p)),
                               max_retransmits=lib.strapto_dc_max_retransmits(p),
                               max_packet_life_time=lib.strapto_dc_max_packet_life_time(p),
                               negotiated=bool(lib.strapto_dc_negotiated(p)))

    def _release(self):
        """Drop our reference (channel closed or peer freed)."""
        with self._lock:
            p, self._ptr = self._ptr, None
            if p:
                self._cache_from(p)
            self._props["_released"] = True
        if p:
            lib.strapto_dc_unref(p)
        unregister(self._handle)
        self._inbox.close()
        if self._state.value != DC_CLOSED:
            self._state.set(DC_CLOSED)

    def _cache_from(self, p):
        self._props["id"] = lib.strapto_dc_id(p)

    def _use(self):
        """A pointer with an extra reference for one call (unref after)."""
        with self._lock:
            p = self._ptr
            if not p:
                raise _closed_error("the data channel")
            return lib.strapto_dc_ref(p)

    # callbacks from the loop thread
    def _opened(self, p):
        self._adopt_ptr(p)
        with self._lock:
            self._cache()
        self._state.set(DC_OPEN)
        call_user(self.on_open)

    def _message(self, p, msg):
        self._adopt_ptr(p)
        cb = self.on_message
        if cb is not None:
            call_user(cb, msg)
        else:
            self._inbox.put(msg)

    def _closed(self, p):
        self._adopt_ptr(p)
        self._state.set(DC_CLOSED)
        try:
            call_user(self.on_close)
        finally:
            self.peer._forget_channel(self)
            self._release()

    def _low(self, p):
        call_user(self.on_buffered_amount_low)

    # API
    def send(self, data):
        """Send a str (string message) or bytes-like (binary message).
        Raises StateError before open/after close, TooBigError, WouldBlockError
        when the peer's send queue is full (see on_buffered_amount_low)."""
        if isinstance(data, str):
            buf, binary = data.encode("utf-8"), 0
        else:
            buf, binary = bytes(data), 1
        p = self._use()
        try:
            check(lib.strapto_dc_send(p, buf, len(buf), binary), "strapto_dc_send")
        finally:
            lib.strapto_dc_unref(p)

    def close(self):
        """Close the channel (stream reset); on_close follows."""
        with self._lock:
            p = lib.strapto_dc_ref(self._ptr) if self._ptr else None
        if not p:
            return
        try:
            rc = lib.strapto_dc_close(p)
            if rc < 0 and rc not in (ESTATE, ECLOSED):
                check(rc, "strapto_dc_close")
        finally:
            lib.strapto_dc_unref(p)

    async def aclose(self, timeout=10):
        """Close and wait for the channel to be closed."""
        self.close()
        await self._state.await_(lambda s: s == DC_CLOSED, timeout)

    def _int_prop(self, fn):
        p = self._use()
        try:
            return fn(p)
        finally:
            lib.strapto_dc_unref(p)

    @property
    def state(self):
        """One of DC_CONNECTING, DC_OPEN, DC_CLOSING, DC_CLOSED."""
        with self._lock:
            p = lib.strapto_dc_ref(self._ptr) if self._ptr else None
        if not p:
            return self._state.value
        try:
            return lib.strapto_dc_state(p)
        finally:
            lib.strapto_dc_unref(p)

    @property
    def ready_state(self):
        return DC_STATES[self.state]

    def _prop(self, name):
        with self._lock:
            if self._ptr:
                self._cache()
            return self._props.get(name)

    label = property(lambda self: self._prop("label"))
    protocol = property(lambda self: self._prop("protocol"))
    id = property(lambda self: self._prop("id"))
    ordered = property(lambda self: self._prop("ordered"))
    max_retransmits = property(lambda self: self._prop("max_retransmits"))
    max_packet_life_time = property(lambda self: self._prop("max_packet_life_time"))
    negotiated = property(lambda self: self._prop("negotiated"))

    @property
    def buffered_amount(self):
        return self._int_prop(lib.strapto_dc_buffered_amount)

    def set_buffered_amount_low_threshold(self, nbytes):
        p = self._use()
        try:
            check(lib.strapto_dc_set_buffered_amount_low_threshold(p, int(nbytes)),
                  "strapto_dc_set_buffered_amount_low_threshold")
        finally:
            lib.strapto_dc_unref(p)

    # waiting
    def wait_open(self, timeout=None):
        """Block until open; ClosedError if it closed instead."""
        s = self._state.wait(lambda s: s in (DC_OPEN, DC_CLOSED), timeout)
        if s != DC_OPEN:
            raise _closed_error("the data channel")
        return self

    async def opened(self, timeout=None):
        """Await the channel being open; ClosedError if it closed instead."""
        s = await self._state.await_(lambda s: s in (DC_OPEN, DC_CLOSED), timeout)
        if s != DC_OPEN:
            raise _closed_error("the data channel")
        return self

    def recv(self, timeout=None):
        """The next queued message (str or bytes); None once closed."""
        return self._inbox.get(timeout)

    async def arecv(self, timeout=None):
        return await self._inbox.aget(timeout)

    def messages(self):
        return iter(self._inbox)

    def __aiter__(self):
        return self._inbox.__aiter__()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    def __repr__(self):
        return "<strapto.DataChannel %r id=%s %s>" % (self.label, self.id, DC_STATES[self._state.value])


class Peer:
    """A WebRTC peer connection (strapto_peer(3)).

    Callbacks (attributes or constructor keywords; run on the peer's loop
    thread): on_candidate(candidate, mid, mline_index) with candidate None at
    the end of gathering; on_state(state); on_datachannel(channel). While
    on_datachannel is None, remote-opened channels queue for accept()/
    aaccept().

    close() frees the peer: when it returns, no callback of it or of its
    channels runs any more."""

    def __init__(self, context, *, local_addresses=None, stun_servers=None, turn_servers=None, loop=-1,
                 max_message_size=0, max_buffered=0, port_range=None, relay_only=False, on_candidate=None,
                 on_state=None, on_datachannel=None):
        context._check_open()
        self.context = context
        self.on_candidate = on_candidate
        self.on_state = on_state
        self.on_datachannel = on_datachannel
        self._state = StateWatch(NEW)
        self._gathered = StateWatch(False)
        self._candidates = []
        self._incoming = Inbox()
        self._channels = {}
        self._chan_lock = threading.Lock()
        self._ptr = None
        self._handle = register(self)
        cfg = PeerConfig()
        lib.strapto_peer_config_init(ctypes.byref(cfg))

        def lst(v):
            if v is None:
                return None
            return enc(v if isinstance(v, (str, bytes)) else ",".join(v))
        self._keep = (lst(stun_servers), lst(turn_servers), lst(local_addresses))
        cfg.stun_servers, cfg.turn_servers, cfg.local_addresses = self._keep
        cfg.loop = int(loop)
        cfg.max_message_size = int(max_message_size)
        cfg.max_buffered = int(max_buffered)
        if port_range:
            cfg.port_min, cfg.port_max = port_range
        cfg.relay_only = 1 if relay_only else 0
        cbs = PeerCallbacks(_CANDIDATE_CB, _STATE_CB, _DATACHANNEL_CB, self._handle)
        out = ctypes.c_void_p()
        try:
            check(lib.strapto_peer_new(context._ptr, ctypes.byref(cfg), ctypes.byref(cbs), ctypes.byref(out)),
                  "strapto_peer_new")
        except BaseException:
            unregister(self._handle)
            raise
        self._ptr = out.value
        context._adopt(self)

    # callbacks from the loop thread
    def _candidate(self, cand, mid, index):
        if cand is None:
            self._gathered.set(True)
        else:
            self._candidates.append((cand, mid, index))
        call_user(self.on_candidate, cand, mid, index)

    def _state_changed(self, state):
        self._state.set(state)
        call_user(self.on_state, state)

    def _remote_channel(self, dc_ptr):
        dc = DataChannel(self)
        dc._adopt_ptr(dc_ptr)
        with self._chan_lock:
            self._channels[id(dc)] = dc
        cbs = dc._callbacks()
        lib.strapto_dc_set_callbacks(dc_ptr, ctypes.byref(cbs))
        if lib.strapto_dc_state(dc_ptr) == DC_OPEN:
            dc._state.set(DC_OPEN)
        if self.on_datachannel is not None:
            call_user(self.on_datachannel, dc)
        else:
            self._incoming.put(dc)

    def _forget_channel(self, dc):
        with self._chan_lock:
            self._channels.pop(id(dc), None)

    def _p(self):
        p = self._ptr
        if not p:
            raise _closed_error("the peer")
        return p

    # signaling
    def create_offer(self):
        """Create and set the local offer; returns its SDP (candidates
        gathered so far: trickle the rest, or use wait_gathered())."""
        out = ctypes.c_void_p()
        check(lib.strapto_peer_create_offer(self._p(), ctypes.byref(out)), "strapto_peer_create_offer")
        return take_string(out)

    def create_answer(self):
        out = ctypes.c_void_p()
        check(lib.strapto_peer_create_answer(self._p(), ctypes.byref(out)), "strapto_peer_create_answer")
        return take_string(out)

    def set_remote_description(self, type, sdp):
        """type: "offer" or "answer"."""
        check(lib.strapto_peer_set_remote_description(self._p(), enc(type), enc(sdp)),
              "strapto_peer_set_remote_description")

    @property
    def local_description(self):
        out = ctypes.c_void_p()
        check(lib.strapto_peer_local_description(self._p(), ctypes.byref(out)), "strapto_peer_local_description")
        return take_string(out)

    def add_remote_candidate(self, candidate, mid=None):
        """Add a remote candidate; None or "" marks the end of candidates."""
        check(lib.strapto_peer_add_remote_candidate(self._p(), enc(candidate or ""), enc(mid)),
              "strapto_peer_add_remote_candidate")

    def restart_ice(self):
        check(lib.strapto_peer_restart_ice(self._p()), "strapto_peer_restart_ice")

    @property
    def local_candidates(self):
        return list(self._candidates)

    @property
    def state(self):
        p = self._ptr
        return lib.strapto_peer_state(p) if p else CLOSED

    @property
    def state_name(self):
        return PEER_STATES[self.state]

    @property
    def max_message_size(self):
        return lib.strapto_peer_max_message_size(self._p())

    # channels
    def create_data_channel(self, label="", *, protocol="", ordered=True, max_retransmits=None,
                            max_packet_life_time=None, negotiated=False, id=None, on_open=None,
                            on_message=None, on_close=None):
        init = DcInit()
        lib.strapto_dc_init_default(ctypes.byref(init))
        init.label = enc(label)
        init.protocol = enc(protocol)
        init.ordered = 1 if ordered else 0
        if max_retransmits is not None:
            init.max_retransmits = int(max_retransmits)
        if max_packet_life_time is not None:
            init.max_packet_life_time = int(max_packet_life_time)
        init.negotiated = 1 if negotiated else 0
        if id is not None:
            init.id = int(id)
        dc = DataChannel(self)
        dc.on_open, dc.on_message, dc.on_close = on_open, on_message, on_close
        with self._chan_lock:
            self._channels[builtins_id(dc)] = dc
        cbs = dc._callbacks()
        out = ctypes.c_void_p()
        rc = lib.strapto_peer_create_dc(self._p(), ctypes.byref(init), ctypes.byref(cbs), ctypes.byref(out))
        if rc < 0:
            self._forget_channel(dc)
            unregister(dc._handle)
            check(rc, "strapto_peer_create_dc", label)
        # `out` stays valid until on_close has returned; if a callback ran
        # first it already took our reference
        if dc._state.value != DC_CLOSED:
            dc._adopt_ptr(out.value)
        return dc

    def accept(self, timeout=None):
        """The next channel the remote opened (when on_datachannel is None)."""
        dc = self._incoming.get(timeout)
        if dc is None:
            raise _closed_error("the peer")
        return dc

    async def aaccept(self, timeout=None):
        dc = await self._incoming.aget(timeout)
        if dc is None:
            raise _closed_error("the peer")
        return dc

    # waiting
    def wait_state(self, states, timeout=None):
        states = (states,) if isinstance(states, int) else tuple(states)
        return self._state.wait(lambda s: s in states, timeout)

    async def await_state(self, states, timeout=None):
        states = (states,) if isinstance(states, int) else tuple(states)
        return await self._state.await_(lambda s: s in states, timeout)

    def wait_connected(self, timeout=None):
        s = self.wait_state((CONNECTED, FAILED, CLOSED), timeout)
        if s != CONNECTED:
            raise error(ESTATE, detail="peer is %s" % PEER_STATES[s])

    async def connected(self, timeout=None):
        """Await the CONNECTED state; StateError on FAILED/CLOSED."""
        s = await self.await_state((CONNECTED, FAILED, CLOSED), timeout)
        if s != CONNECTED:
            raise error(ESTATE, detail="peer is %s" % PEER_STATES[s])

    def wait_gathered(self, timeout=None):
        """Block until ICE gathering is complete; returns the local description."""
        self._gathered.wait(bool, timeout)
        return self.local_description

    async def gathered(self, timeout=None):
        await self._gathered.await_(bool, timeout)
        return self.local_description

    # lifetime
    @property
    def closed(self):
        return self._ptr is None

    def close(self):
        """Close and free the peer. After it returns no callback of the peer
        or its channels runs (called from inside one: none after it)."""
        p, self._ptr = self._ptr, None
        if not p:
            return
        lib.strapto_peer_free(p)
        unregister(self._handle)
        with self._chan_lock:
            chans = list(self._channels.values())
            self._channels.clear()
        for dc in chans:
            dc._release()
        self._incoming.close()
        self._state.set(CLOSED)
        self.context._disown(self)

    async def aclose(self):
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    def __repr__(self):
        return "<strapto.Peer %s>" % PEER_STATES[self.state]


builtins_id = id
