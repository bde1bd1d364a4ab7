"""strapto: Python bindings (ctypes) for libstrapto.

    import strapto
    with strapto.Context() as ctx:
        ctx.bus.publish("model_output", {"text": "hi"})

Classes: Context, Bus, Event, Subscription, Peer, DataChannel, EventHub,
StreamServer; errors: StraptoError and its subclasses (strapto.errors).
Callbacks run on the library's loop threads (with the GIL); an exception
raised in one is logged on the "strapto" logger, never propagated into C.
The asyncio layer: `async with`, await peer.connected(), await
dc.opened(), `async for msg in dc`, `async for ev in bus.events(prefix)`,
await x.aclose().
"""
from . import errors
from ._lib import path as library_path
from .core import (LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_TRACE, LOG_WARN, Bus, Context, Event, Subscription,
                   get_log_level, log_to_python, log_to_stderr, set_log_level, version)
from .errors import StraptoError, strerror
from .peer import (CLOSED, CONNECTED, CONNECTING, DC_CLOSED, DC_CLOSING, DC_CONNECTING, DC_OPEN, DISCONNECTED,
                   FAILED, NEW, DataChannel, Peer)
from .server import (INPUT_JSON, INPUT_TEXT, RESTART_ALWAYS, RESTART_NEVER, RESTART_ON_FAILURE, SLOW_DISCONNECT,
                     SLOW_NOTIFY, Command, EventHub, StreamServer)

__version__ = "0.1.0"

__all__ = [
    "Context", "Bus", "Event", "Subscription", "Peer", "DataChannel", "EventHub", "StreamServer", "Command",
    "StraptoError", "errors", "strerror", "version", "library_path", "set_log_level", "get_log_level",
    "log_to_python", "log_to_stderr",
    "NEW", "CONNECTING", "CONNECTED", "DISCONNECTED", "FAILED", "CLOSED",
    "DC_CONNECTING", "DC_OPEN", "DC_CLOSING", "DC_CLOSED",
    "SLOW_NOTIFY", "SLOW_DISCONNECT", "RESTART_NEVER", "RESTART_ON_FAILURE", "RESTART_ALWAYS",
    "INPUT_JSON", "INPUT_TEXT",
    "LOG_ERROR", "LOG_WARN", "LOG_INFO", "LOG_DEBUG", "LOG_TRACE",
]
