"""Internals shared by the wrappers: the handle registry that callbacks go
through, the callback guard, and a thread-safe inbox readable from plain
threads and from asyncio."""
import asyncio
import collections
import itertools
import logging
import threading
import time

log = logging.getLogger("strapto")

# ---- handles ----
# The C side never gets a Python object pointer: `user` is an integer handle
# looked up here. A callback arriving for a handle already removed (an object
# being freed) finds nothing and returns, so no callback reaches a freed
# object even if the library were to call late.

_handles = {}
_handles_lock = threading.Lock()
_next_handle = itertools.count(1)


def register(obj):
    with _handles_lock:
        h = next(_next_handle)
        _handles[h] = obj
        return h


def unregister(h):
    with _handles_lock:
        _handles.pop(h, None)


def lookup(h):
    if h is None:
        return None
    with _handles_lock:
        return _handles.get(h)


# Threads currently running a library callback (loop threads, or the caller
# of strapto_bus_replay). Freeing the context from there would be refused by
# the library, so Context.close() checks it.
_tls = threading.local()


def in_callback():
    return getattr(_tls, "depth", 0) > 0


def guarded(fn):
    """Wrap a ctypes callback body: never let an exception escape into C
    (ctypes would print and ignore it; we log it)."""
    def wrapper(*args):
        _tls.depth = getattr(_tls, "depth", 0) + 1
        try:
            fn(*args)
        except BaseException:  # noqa: B902 - nothing may cross into C
            try:
                log.exception("exception in a strapto callback (%s)", getattr(fn, "__name__", "?"))
            except BaseException:
                pass
        finally:
            _tls.depth -= 1
    wrapper.__name__ = getattr(fn, "__name__", "callback")
    return wrapper


def call_user(cb, *args):
    """Call a user callback, logging (not propagating) its exception."""
    if cb is None:
        return
    try:
        cb(*args)
    except Exception:
        log.exception("exception in user callback %r", cb)


# ---- inbox ----

_END = object()


class Inbox:
    """An unbounded FIFO written by library threads and read by a plain
    thread (get) or by asyncio (aget / async iteration). close() ends it:
    readers get the remaining items, then EOF (None from get, StopAsyncIteration)."""

    def __init__(self, maxlen=None):
        self._q = collections.deque()
        self._cond = threading.Condition()
        self._waiters = []  # (asyncio loop, future)
        self._closed = False
        self._maxlen = maxlen
        self.dropped = 0

    def put(self, item):
        with self._cond:
            if self._closed:
                return
            if self._maxlen is not None and len(self._q) >= self._maxlen:
                self._q.popleft()
                self.dropped += 1
            self._q.append(item)
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        self._wake(waiters)

    def close(self):
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        self._wake(waiters)

    @property
    def closed(self):
        return self._closed

    def __len__(self):
        with self._cond:
            return len(self._q)

    @staticmethod
    def _wake(waiters):
        for loop, fut in waiters:
            try:
                loop.call_soon_threadsafe(_set_done, fut)
            except RuntimeError:  # that event loop is closed
                pass

    def get(self, timeout=None):
        """Next item; None at the end. TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._q:
                    return self._q.popleft()
                if self._closed:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("no message within %.3g s" % timeout)
                self._cond.wait(left)

    def get_nowait(self):
        with self._cond:
            if self._q:
                return self._q.popleft()
            return None

    async def aget(self, timeout=None):
        """Next item; None at the end. asyncio.TimeoutError after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._cond:
                if self._q:
                    return self._q.popleft()
                if self._closed:
                    return None
                fut = loop.create_future()
                self._waiters.append((loop, fut))
            try:
                if deadline is None:
                    await fut
                else:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise asyncio.TimeoutError()
                    await asyncio.wait_for(fut, left)
            finally:
                with self._cond:
                    try:
                        self._waiters.remove((loop, fut))
                    except ValueError:
                        pass

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.aget()
        if item is None:
            raise StopAsyncIteration
        return item

    def __iter__(self):
        while True:
            item = self.get()
            if item is None:
                return
            yield item


def _set_done(fut):
    if not fut.done():
        fut.set_result(None)


class StateWatch:
    """A value set by library threads that a thread or a coroutine can wait
    on until a predicate holds."""

    def __init__(self, value):
        self.value = value
        self._cond = threading.Condition()
        self._waiters = []

    def set(self, value):
        with self._cond:
            self.value = value
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        Inbox._wake(waiters)

    def wait(self, pred, timeout=None):
        with self._cond:
            if not self._cond.wait_for(lambda: pred(self.value), timeout):
                raise TimeoutError("state is %r after %.3g s" % (self.value, timeout))
            return self.value

    async def await_(self, pred, timeout=None):
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._cond:
                if pred(self.value):
                    return self.value
                fut = loop.create_future()
                self._waiters.append((loop, fut))
            try:
                if deadline is None:
                    await fut
                else:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise asyncio.TimeoutError("state is %r" % (self.value,))
                    await asyncio.wait_for(fut, left)
            finally:
                with self._cond:
                    try:
                        self._waiters.remove((loop, fut))
                    except ValueError:
                        pass
