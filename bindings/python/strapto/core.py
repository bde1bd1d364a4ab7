"""Context, event bus, logging."""
import asyncio
import atexit
import ctypes
import json
import threading
import weakref

from . import _util
from ._lib import EVENT_FN, LOG_FN, TASK_FN, CtxOptions, dec, enc, lib
from ._util import Inbox, guarded, log, lookup, register, unregister
from .errors import ECLOSED, StateError, check, error

# ---- logging ----

LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE = range(5)
_PY_LEVELS = {0: 40, 1: 30, 2: 20, 3: 10, 4: 5}


def version():
    return lib.strapto_version().decode()


def set_log_level(level):
    """Set the library's log level: an int 0..4 or a name ("error".."trace")."""
    if isinstance(level, str):
        level = check(lib.strapto_log_level_parse(level.encode()), "strapto_log_level_parse", level)
    check(lib.strapto_log_set_level(int(level)), "strapto_log_set_level")


def get_log_level():
    return lib.strapto_log_get_level()


_log_state = {"logger": None, "installed": False}


@guarded
def _log_trampoline(level, module, msg, user):
    logger = _log_state["logger"]
    if logger is None:
        return
    m = dec(module) or "?"
    logger.log(_PY_LEVELS.get(level, 10), "%s: %s", m, dec(msg))


_LOG_CB = LOG_FN(_log_trampoline)  # lives as long as the module


def log_to_python(logger=None):
    """Route the library's log lines to the `logging` logger (default
    "strapto.lib"). The process-wide level still filters first
    (set_log_level). Undone by log_to_stderr() and at interpreter exit."""
    import logging
    _log_state["logger"] = logger or logging.getLogger("strapto.lib")
    lib.strapto_log_set_handler(_LOG_CB, None)
    _log_state["installed"] = True


def log_to_stderr():
    """Restore the library's own stderr log handler."""
    if _log_state["installed"]:
        lib.strapto_log_set_handler(LOG_FN(), None)
        _log_state["installed"] = False
    _log_state["logger"] = None


# ---- events ----

class Event:
    """A bus event: seq, type, timestamp_us, source, payload (JSON text).
    `data` is the payload decoded, `timestamp` the time in seconds."""
    __slots__ = ("seq", "type", "timestamp_us", "source", "payload")

    def __init__(self, seq, type, timestamp_us, source, payload):
        self.seq = seq
        self.type = type
        self.timestamp_us = timestamp_us
        self.source = source
        self.payload = payload

    @classmethod
    def _from_c(cls, p):
        ev = p.contents
        payload = ctypes.string_at(ev.payload, ev.payload_len).decode("utf-8", "replace") if ev.payload else "{}"
        return cls(ev.seq, dec(ev.type), ev.timestamp_us, dec(ev.source) or "", payload)

    @property
    def data(self):
        return json.loads(self.payload)

    @property
    def timestamp(self):
        return self.timestamp_us / 1e6

    def __repr__(self):
        return "Event(seq=%d, type=%r, source=%r, payload=%s)" % (self.seq, self.type, self.source,
                                                                    self.payload[:200])

    def __eq__(self, other):
        return isinstance(other, Event) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)


@guarded
def _event_trampoline(evp, user):
    sub = lookup(user)
    if sub is not None:
        sub._deliver(Event._from_c(evp))


_EVENT_CB = EVENT_FN(_event_trampoline)


class _ReplaySink:
    def __init__(self):
        self.events = []

    def _deliver(self, ev):
        self.events.append(ev)


class Subscription:
    """A bus subscription. With a callback, events go to it (on a loop
    thread). Without, they queue here: iterate (`for ev in sub`, `async for
    ev in sub`) or call get()/aget(). close() (or leaving a `with`/`async with`
    block) ends it; after close() returns the callback is not running and
    will not run again."""

    def __init__(self, bus, prefix, callback, loop, queue_len):
        self.bus = bus
        self.prefix = prefix
        self.callback = callback
        self._inbox = Inbox()
        self._ptr = None
        self._handle = register(self)
        out = ctypes.c_void_p()
        ctx = bus.context
        ctx._check_open()
        try:
            check(lib.strapto_bus_subscribe(bus._ptr, enc(prefix or ""), int(loop), int(queue_len), _EVENT_CB,
                                            self._handle, ctypes.byref(out)), "strapto_bus_subscribe", prefix)
        except BaseException:
            unregister(self._handle)
            raise
        self._ptr = out.value
        ctx._adopt(self)

    def _deliver(self, ev):
        cb = self.callback
        if cb is not None:
            _util.call_user(cb, ev)
        else:
            self._inbox.put(ev)

    @property
    def dropped(self):
        """Events the library dropped because this subscriber's queue was full."""
        p = self._ptr
        return lib.strapto_bus_sub_dropped(p) if p else 0

    @property
    def closed(self):
        return self._ptr is None

    def close(self):
        p, self._ptr = self._ptr, None
        if p:
            lib.strapto_bus_unsubscribe(p)
            self.bus.context._disown(self)
        unregister(self._handle)
        self._inbox.close()

    def get(self, timeout=None):
        """The next event (blocking); None once closed and drained."""
        return self._inbox.get(timeout)

    async def aget(self, timeout=None):
        return await self._inbox.aget(timeout)

    def __iter__(self):
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
        self.close()


class Bus:
    """The context's event bus (see strapto_bus(3))."""

    def __init__(self, context):
        self.context = context
        self._ptr = lib.strapto_ctx_bus(context._ptr)

    def publish(self, type, data=None, source=None, *, json_text=None):
        """Publish an event; `data` is any JSON-serialisable value (None: {}),
        or give the JSON text itself as `json_text`. Returns its seq."""
        self.context._check_open()
        if json_text is None and data is not None:
            json_text = json.dumps(data, separators=(",", ":"))
        seq = ctypes.c_uint64()
        check(lib.strapto_bus_publish(self._ptr, enc(type), enc(source), enc(json_text), ctypes.byref(seq)),
              "strapto_bus_publish", type)
        return seq.value

    def subscribe(self, prefix="", callback=None, *, loop=-1, queue_len=0):
        """Subscribe to events whose type starts with `prefix`; see Subscription."""
        return Subscription(self, prefix, callback, loop, queue_len)

    def events(self, prefix="", *, queue_len=0):
        """A Subscription without callback, for `async for ev in bus.events(...)`."""
        return Subscription(self, prefix, None, -1, queue_len)

    def replay(self, prefix=""):
        """The events kept in the replay ring matching `prefix`, oldest first."""
        self.context._check_open()
        sink = _ReplaySink()
        h = register(sink)
        try:
            check(lib.strapto_bus_replay(self._ptr, enc(prefix or ""), _EVENT_CB, h), "strapto_bus_replay")
        finally:
            unregister(h)
        return sink.events

    @property
    def last_seq(self):
        self.context._check_open()
        return lib.strapto_bus_last_seq(self._ptr)


# ---- context ----

@guarded
def _task_trampoline(user):
    fn = lookup(user)
    unregister(user)
    if fn is not None:
        fn()


_TASK_CB = TASK_FN(_task_trampoline)

_live_contexts = weakref.WeakSet()


class Context:
    """A libstrapto context: N loop threads and the event bus.

    Use as a context manager (`with strapto.Context() as ctx:` or `async
    with`). close() frees every object still open on it (servers, peers,
    subscriptions), then the context. Objects created on a context keep it
    referenced."""

    def __init__(self, threads=0, log_level=None, bus_replay=None, bus_queue=0):
        opts = CtxOptions()
        lib.strapto_ctx_options_init(ctypes.byref(opts))
        opts.threads = int(threads or 0)
        if log_level is not None:
            if isinstance(log_level, str):
                log_level = check(lib.strapto_log_level_parse(log_level.encode()), "strapto_log_level_parse")
            opts.log_level = int(log_level)
        if bus_replay is not None:
            opts.bus_replay = int(bus_replay)
        opts.bus_queue = int(bus_queue or 0)
        out = ctypes.c_void_p()
        self._ptr = None
        self._children = {}
        self._lock = threading.Lock()
        check(lib.strapto_ctx_new(ctypes.byref(opts), ctypes.byref(out)), "strapto_ctx_new")
        self._ptr = out.value
        self.bus = Bus(self)
        _live_contexts.add(self)

    # children bookkeeping: strong references until each is closed
    def _adopt(self, obj):
        with self._lock:
            self._children[id(obj)] = obj

    def _disown(self, obj):
        with self._lock:
            self._children.pop(id(obj), None)

    def _check_open(self):
        if self._ptr is None:
            raise error(ECLOSED, detail="the context is closed")

    @property
    def closed(self):
        return self._ptr is None

    @property
    def threads(self):
        self._check_open()
        return lib.strapto_ctx_threads(self._ptr)

    def post(self, fn, loop=-1):
        """Run fn() on a loop thread (asynchronously)."""
        self._check_open()
        h = register(fn)
        rc = lib.strapto_ctx_post(self._ptr, int(loop), _TASK_CB, h)
        if rc < 0:
            unregister(h)
            check(rc, "strapto_ctx_post")

    # factories
    def peer(self, **kw):
        from .peer import Peer
        return Peer(self, **kw)

    def event_hub(self, **kw):
        from .server import EventHub
        return EventHub(self, **kw)

    def stream_server(self, **kw):
        from .server import StreamServer
        return StreamServer(self, **kw)

    def close(self):
        """Free every object still open on the context, then the context.
        Not allowed from inside a library callback (StateError)."""
        if self._ptr is None:
            return
        if _util.in_callback():
            raise StateError(-3, "strapto_ctx_free", "cannot free a context from inside one of its callbacks")
        from .peer import Peer
        with self._lock:
            children = list(self._children.values())
        # servers first, then peers, then subscriptions
        order = {"EventHub": 0, "StreamServer": 0}
        children.sort(key=lambda o: order.get(type(o).__name__, 1 if isinstance(o, Peer) else 2))
        for c in children:
            try:
                c.close()
            except Exception:
                log.exception("closing %r", c)
        p, self._ptr = self._ptr, None
        lib.strapto_ctx_free(p)
        _live_contexts.discard(self)

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

    def __del__(self):
        try:
            if self._ptr is not None and not _util.in_callback():
                self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<strapto.Context %s>" % ("closed" if self._ptr is None else "threads=%d" % self.threads)


@atexit.register
def _shutdown():
    # free everything before the interpreter finalises: no callback may
    # enter Python after that
    for ctx in list(_live_contexts):
        try:
            ctx.close()
        except Exception:
            pass
    log_to_stderr()
