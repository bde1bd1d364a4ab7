"""Loading libstrapto.so.0 and declaring the C API for ctypes.

The library is found, in this order, at:
  1. $STRAPTO_LIBRARY (a path to the shared object),
  2. $STRAPTO_LIB_DIR/libstrapto.so.0,
  3. the package directory (a copy bundled next to this file),
  4. the system's library path (ldconfig, LD_LIBRARY_PATH): "libstrapto.so.0".

ctypes.CDLL releases the GIL for the duration of every foreign call, so a
blocking library call (one that waits for a loop thread) never deadlocks with
a callback that needs the GIL on that loop thread.
"""
import ctypes
import ctypes.util
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_int64, c_size_t,
                    c_uint16, c_uint64, c_void_p)

SONAME = "libstrapto.so.0"


def _candidates():
    env = os.environ.get("STRAPTO_LIBRARY")
    if env:
        yield env
    d = os.environ.get("STRAPTO_LIB_DIR")
    if d:
        yield os.path.join(d, SONAME)
    yield os.path.join(os.path.dirname(os.path.abspath(__file__)), SONAME)
    yield SONAME
    found = ctypes.util.find_library("strapto")
    if found:
        yield found


def _load():
    errors = []
    for i, path in enumerate(_candidates()):
        # an explicit STRAPTO_LIBRARY must load: do not silently fall back
        if os.sep in path and not os.path.exists(path):
            if i == 0 and os.environ.get("STRAPTO_LIBRARY"):
                raise OSError("STRAPTO_LIBRARY=%s: no such file" % path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            if i == 0 and os.environ.get("STRAPTO_LIBRARY"):
                raise
            errors.append("%s: %s" % (path, e))
    raise OSError("cannot load %s (set STRAPTO_LIBRARY to its path): %s" % (SONAME, "; ".join(errors)))


lib, path = _load()

# ---- structures ----


class CtxOptions(Structure):
    _fields_ = [("threads", c_int), ("log_level", c_int), ("bus_replay", c_int), ("bus_queue", c_int)]


class CEvent(Structure):
    _fields_ = [("seq", c_uint64), ("type", c_char_p), ("timestamp_us", c_int64), ("source", c_char_p),
                ("payload", c_void_p), ("payload_len", c_size_t)]


EVENT_FN = CFUNCTYPE(None, POINTER(CEvent), c_void_p)
TASK_FN = CFUNCTYPE(None, c_void_p)
LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_char_p, c_void_p)


class PeerConfig(Structure):
    _fields_ = [("stun_servers", c_char_p), ("turn_servers", c_char_p), ("local_addresses", c_char_p),
                ("loop", c_int), ("max_message_size", c_size_t), ("max_buffered", c_size_t),
                ("port_min", c_uint16), ("port_max", c_uint16), ("relay_only", c_int)]


ON_CANDIDATE_FN = CFUNCTYPE(None, c_void_p, c_char_p, c_char_p, c_int, c_void_p)
ON_STATE_FN = CFUNCTYPE(None, c_void_p, c_int, c_void_p)
ON_DATACHANNEL_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p)


class PeerCallbacks(Structure):
    _fields_ = [("on_candidate", ON_CANDIDATE_FN), ("on_state", ON_STATE_FN),
                ("on_datachannel", ON_DATACHANNEL_FN), ("user", c_void_p)]


class DcInit(Structure):
    _fields_ = [("label", c_char_p), ("protocol", c_char_p), ("ordered", c_int), ("max_retransmits", c_int),
                ("max_packet_life_time", c_int), ("negotiated", c_int), ("id", c_int)]


DC_FN = CFUNCTYPE(None, c_void_p, c_void_p)
DC_MESSAGE_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t, c_int, c_void_p)


class DcCallbacks(Structure):
    _fields_ = [("on_open", DC_FN), ("on_message", DC_MESSAGE_FN), ("on_close", DC_FN),
                ("on_buffered_amount_low", DC_FN), ("user", c_void_p)]


HUB_COMMAND_FN = CFUNCTYPE(None, c_char_p, c_char_p, c_uint64, c_void_p)


class HubConfig(Structure):
    _fields_ = [("listen", c_char_p), ("path", c_char_p), ("token", c_char_p), ("tls_cert", c_char_p),
                ("tls_key", c_char_p), ("max_clients", c_int), ("client_queue", c_size_t),
                ("slow_policy", c_int), ("max_message", c_size_t), ("input_rate", c_double),
                ("loop", c_int), ("on_command", HUB_COMMAND_FN), ("user", c_void_p)]


class StreamServerConfig(Structure):
    _fields_ = [("listen", c_char_p), ("model_argv", POINTER(c_char_p)), ("restart", c_int),
                ("input_format", c_int), ("www_dir", c_char_p), ("token", c_char_p), ("tls_cert", c_char_p),
                ("tls_key", c_char_p), ("max_body", c_size_t), ("max_clients", c_int),
                ("client_queue", c_size_t), ("slow_policy", c_int), ("max_input", c_size_t),
                ("input_rate", c_double), ("ice_local_addresses", c_char_p), ("stun_servers", c_char_p),
                ("turn_servers", c_char_p), ("loop", c_int)]


# ---- prototypes ----

def _proto(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_p = c_void_p
_pp = POINTER(c_void_p)
_P = [
    # common
    ("strapto_strerror", c_char_p, c_int),
    ("strapto_version", c_char_p),
    ("strapto_free", None, _p),
    ("strapto_now_us", c_int64),
    ("strapto_wall_us", c_int64),
    # log
    ("strapto_log_set_level", c_int, c_int),
    ("strapto_log_get_level", c_int),
    ("strapto_log_level_parse", c_int, c_char_p),
    ("strapto_log_level_name", c_char_p, c_int),
    ("strapto_log_set_handler", None, LOG_FN, _p),
    # ctx
    ("strapto_ctx_options_init", None, POINTER(CtxOptions)),
    ("strapto_ctx_new", c_int, POINTER(CtxOptions), _pp),
    ("strapto_ctx_free", None, _p),
    ("strapto_ctx_threads", c_int, _p),
    ("strapto_ctx_post", c_int, _p, c_int, TASK_FN, _p),
    # bus
    ("strapto_ctx_bus", _p, _p),
    ("strapto_bus_publish", c_int, _p, c_char_p, c_char_p, c_char_p, POINTER(c_uint64)),
    ("strapto_bus_subscribe", c_int, _p, c_char_p, c_int, c_size_t, EVENT_FN, _p, _pp),
    ("strapto_bus_unsubscribe", c_int, _p),
    ("strapto_bus_sub_dropped", c_uint64, _p),
    ("strapto_bus_replay", c_int, _p, c_char_p, EVENT_FN, _p),
    ("strapto_bus_last_seq", c_uint64, _p),
    # peer
    ("strapto_peer_config_init", None, POINTER(PeerConfig)),
    ("strapto_peer_new", c_int, _p, POINTER(PeerConfig), POINTER(PeerCallbacks), _pp),
    ("strapto_peer_free", None, _p),
    ("strapto_peer_create_offer", c_int, _p, _pp),
    ("strapto_peer_create_answer", c_int, _p, _pp),
    ("strapto_peer_set_remote_description", c_int, _p, c_char_p, c_char_p),
    ("strapto_peer_local_description", c_int, _p, _pp),
    ("strapto_peer_add_remote_candidate", c_int, _p, c_char_p, c_char_p),
    ("strapto_peer_restart_ice", c_int, _p),
    ("strapto_peer_close", c_int, _p),
    ("strapto_peer_state", c_int, _p),
    ("strapto_peer_state_name", c_char_p, c_int),
    ("strapto_peer_max_message_size", c_size_t, _p),
    # data channels
    ("strapto_dc_init_default", None, POINTER(DcInit)),
    ("strapto_peer_create_dc", c_int, _p, POINTER(DcInit), POINTER(DcCallbacks), _pp),
    ("strapto_dc_set_callbacks", c_int, _p, POINTER(DcCallbacks)),
    ("strapto_dc_send", c_int, _p, c_char_p, c_size_t, c_int),
    ("strapto_dc_buffered_amount", c_size_t, _p),
    ("strapto_dc_set_buffered_amount_low_threshold", c_int, _p, c_size_t),
    ("strapto_dc_close", c_int, _p),
    ("strapto_dc_ref", _p, _p),
    ("strapto_dc_unref", None, _p),
    ("strapto_dc_label", c_char_p, _p),
    ("strapto_dc_protocol", c_char_p, _p),
    ("strapto_dc_id", c_int, _p),
    ("strapto_dc_ordered", c_int, _p),
    ("strapto_dc_max_retransmits", c_int, _p),
    ("strapto_dc_max_packet_life_time", c_int, _p),
    ("strapto_dc_negotiated", c_int, _p),
    ("strapto_dc_state", c_int, _p),
    ("strapto_dc_peer", _p, _p),
    # servers
    ("strapto_event_hub_config_init", None, POINTER(HubConfig)),
    ("strapto_event_hub_new", c_int, _p, POINTER(HubConfig), _pp),
    ("strapto_event_hub_port", c_int, _p),
    ("strapto_event_hub_clients", c_int, _p),
    ("strapto_event_hub_free", None, _p),
    ("strapto_stream_server_config_init", None, POINTER(StreamServerConfig)),
    ("strapto_stream_server_new", c_int, _p, POINTER(StreamServerConfig), _pp),
    ("strapto_stream_server_port", c_int, _p),
    ("strapto_stream_server_status", c_int, _p, _pp),
    ("strapto_stream_server_free", None, _p),
]

for _row in _P:
    _proto(*_row)
del _row


def enc(s):
    """str -> bytes for a `const char *` argument (None stays None)."""
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return str(s).encode("utf-8")


def dec(b):
    if b is None:
        return None
    return b.decode("utf-8", "replace")


def take_string(p):
    """Copy and strapto_free() a `char **out` string."""
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value).decode("utf-8", "replace")
    finally:
        lib.strapto_free(p)
