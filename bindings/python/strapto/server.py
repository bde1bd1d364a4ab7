"""The event hub and the model stream server (strapto_server(3))."""
import asyncio
import ctypes
import json

from ._lib import HUB_COMMAND_FN, HubConfig, StreamServerConfig, dec, enc, lib, take_string
from ._util import Inbox, call_user, guarded, lookup, register, unregister
from .errors import ECLOSED, check, error

SLOW_NOTIFY, SLOW_DISCONNECT = 0, 1
RESTART_NEVER, RESTART_ON_FAILURE, RESTART_ALWAYS = 0, 1, 2
INPUT_JSON, INPUT_TEXT = 0, 1


@guarded
def _on_command(type_, data, client_id, user):
    hub = lookup(user)
    if hub is not None:
        hub._command(dec(type_), dec(data), client_id)


_COMMAND_CB = HUB_COMMAND_FN(_on_command)


class Command:
    """A client command the hub does not handle itself."""
    __slots__ = ("type", "data_json", "client_id")

    def __init__(self, type, data_json, client_id):
        self.type, self.data_json, self.client_id = type, data_json, client_id

    @property
    def data(self):
        return json.loads(self.data_json) if self.data_json else None

    def __repr__(self):
        return "Command(type=%r, client_id=%d, data=%s)" % (self.type, self.client_id, self.data_json)


class _Server:
    _free = None
    _what = "server"

    def _p(self):
        p = self._ptr
        if not p:
            raise error(ECLOSED, detail="the %s is closed" % self._what)
        return p

    @property
    def closed(self):
        return self._ptr is None

    def close(self):
        p, self._ptr = self._ptr, None
        if not p:
            return
        type(self)._free(p)
        h = getattr(self, "_handle", None)
        if h is not None:
            unregister(h)
        inbox = getattr(self, "_commands", None)
        if inbox is not None:
            inbox.close()
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


class EventHub(_Server):
    """A WebSocket server that broadcasts the context's bus events.

    on_command(cmd) (attribute or keyword; runs on a loop thread) receives
    the commands the hub does not handle itself; set handle_commands=True to
    have them queue for commands()/`async for` instead. With neither, the
    hub answers such commands with an "error" event."""
    _free = staticmethod(lib.strapto_event_hub_free)
    _what = "event hub"

    def __init__(self, context, *, listen=None, path=None, token=None, tls_cert=None, tls_key=None,
                 max_clients=0, client_queue=0, slow_policy=SLOW_NOTIFY, max_message=0, input_rate=0.0,
                 loop=-1, on_command=None, handle_commands=False):
        context._check_open()
        self.context = context
        self.on_command = on_command
        self._commands = Inbox()
        self._ptr = None
        cfg = HubConfig()
        lib.strapto_event_hub_config_init(ctypes.byref(cfg))
        self._keep = [enc(listen), enc(path), enc(token), enc(tls_cert), enc(tls_key)]
        cfg.listen, cfg.path, cfg.token, cfg.tls_cert, cfg.tls_key = self._keep
        cfg.max_clients = int(max_clients)
        cfg.client_queue = int(client_queue)
        cfg.slow_policy = int(slow_policy)
        cfg.max_message = int(max_message)
        cfg.input_rate = float(input_rate)
        cfg.loop = int(loop)
        self._handle = None
        if on_command is not None or handle_commands:
            self._handle = register(self)
            cfg.on_command = _COMMAND_CB
            cfg.user = self._handle
        out = ctypes.c_void_p()
        try:
            check(lib.strapto_event_hub_new(context._ptr, ctypes.byref(cfg), ctypes.byref(out)),
                  "strapto_event_hub_new", listen)
        except BaseException:
            if self._handle is not None:
                unregister(self._handle)
            raise
        self._ptr = out.value
        context._adopt(self)

    def _command(self, type_, data, client_id):
        cmd = Command(type_, data, client_id)
        if self.on_command is not None:
            call_user(self.on_command, cmd)
        else:
            self._commands.put(cmd)

    @property
    def port(self):
        return check(lib.strapto_event_hub_port(self._p()), "strapto_event_hub_port")

    @property
    def clients(self):
        return check(lib.strapto_event_hub_clients(self._p()), "strapto_event_hub_clients")

    def commands(self):
        return iter(self._commands)

    def __aiter__(self):
        return self._commands.__aiter__()

    def __repr__(self):
        return "<strapto.EventHub %s>" % ("closed" if self._ptr is None else "port %d" % self.port)


class StreamServer(_Server):
    """The model stream server: runs `model_argv`, streams its stdout lines
    as "model_output" events over WebSocket and WebRTC, serves HTTP."""
    _free = staticmethod(lib.strapto_stream_server_free)
    _what = "stream server"

    def __init__(self, context, *, listen=None, model_argv=None, restart=RESTART_NEVER, input_format=INPUT_JSON,
                 www_dir=None, token=None, tls_cert=None, tls_key=None, max_body=0, max_clients=0,
                 client_queue=0, slow_policy=SLOW_NOTIFY, max_input=0, input_rate=0.0, ice_local_addresses=None,
                 stun_servers=None, turn_servers=None, loop=-1):
        context._check_open()
        self.context = context
        self._ptr = None
        cfg = StreamServerConfig()
        lib.strapto_stream_server_config_init(ctypes.byref(cfg))

        def lst(v):
            if v is None:
                return None
            return enc(v if isinstance(v, (str, bytes)) else ",".join(v))
        self._keep = [enc(listen), enc(www_dir), enc(token), enc(tls_cert), enc(tls_key),
                      lst(ice_local_addresses), lst(stun_servers), lst(turn_servers)]
        (cfg.listen, cfg.www_dir, cfg.token, cfg.tls_cert, cfg.tls_key, cfg.ice_local_addresses,
         cfg.stun_servers, cfg.turn_servers) = self._keep
        if model_argv:
            argv = (ctypes.c_char_p * (len(model_argv) + 1))(*[enc(a) for a in model_argv], None)
            self._keep.append(argv)
            cfg.model_argv = ctypes.cast(argv, ctypes.POINTER(ctypes.c_char_p))
        cfg.restart = int(restart)
        cfg.input_format = int(input_format)
        cfg.max_body = int(max_body)
        cfg.max_clients = int(max_clients)
        cfg.client_queue = int(client_queue)
        cfg.slow_policy = int(slow_policy)
        cfg.max_input = int(max_input)
        cfg.input_rate = float(input_rate)
        cfg.loop = int(loop)
        out = ctypes.c_void_p()
        check(lib.strapto_stream_server_new(context._ptr, ctypes.byref(cfg), ctypes.byref(out)),
              "strapto_stream_server_new", listen)
        self._ptr = out.value
        context._adopt(self)

    @property
    def port(self):
        return check(lib.strapto_stream_server_port(self._p()), "strapto_stream_server_port")

    def status(self):
        """The /status document, decoded."""
        out = ctypes.c_void_p()
        check(lib.strapto_stream_server_status(self._p(), ctypes.byref(out)), "strapto_stream_server_status")
        return json.loads(take_string(out))

    def __repr__(self):
        return "<strapto.StreamServer %s>" % ("closed" if self._ptr is None else "port %d" % self.port)
