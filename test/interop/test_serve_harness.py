"""Helpers for the `strapto-cli serve` tests (test_serve_*.py), and, run as a
script, a quick smoke test of the server.

Helpers: Server (starts `strapto-cli serve` with a model, reads its
{"type":"listening"} line, stops it with SIGTERM and checks the exit), http()
(a blocking HTTP request, for run_in_executor), RtcClient (an aiortc client
through POST /offer or POST /whep: one data channel, events collected in
order), WsClient (a WebSocket client of /events), write_model() (a small
Python model script in the test's folder), line_numbers() (the model's
numbered lines as received by a client).

Smoke test (this file run directly): the server starts with the demo model
on 127.0.0.1, GET /health and /status answer, one aiortc client (POST /offer)
receives the replay and demo tokens within 2 s, its input is answered with a
reply quoting it, a WebSocket client of /events gets the reply to its own
input, and SIGTERM stops the server with exit status 0 and the model process
gone. Then the same again with the server under valgrind memcheck (not with
SANITIZE=1): no error, nothing definitely or indirectly lost.

Environment: STRAPTO_CLI, STRAPTO_ICE_ADDRESSES (first address: where the
server's peers and aiortc meet; default 127.0.0.1), STRAPTO_TEST_OUT."""
import asyncio
import http.client as httpclient
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import aiortc_patch

ADDR = aiortc_patch.apply([a for a in os.environ.get("STRAPTO_ICE_ADDRESSES", "127.0.0.1").split(",") if a][:1])[0]

from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402

import harness  # noqa: E402
from harness import log  # noqa: E402

OUT = os.environ.get("STRAPTO_TEST_OUT", os.path.join(harness.ROOT, "test", "out"))
PY = sys.executable or "/usr/bin/python3"


class Failed(Exception):
    pass


class Checks:
    def __init__(self, tag):
        self.tag = tag
        self.failed = []

    def check(self, cond, what):
        log(("ok" if cond else "FAIL") + f" [{self.tag}]:", what)
        if not cond:
            self.failed.append(what)
        return cond

    def require(self, cond, what):
        if not self.check(cond, what):
            raise Failed(what)


def run_checks(tag, run, timeout):
    """Run `await run(checks)` within `timeout` seconds and exit 0 only when
    every check passed (the common main() of the test_serve_* files)."""
    c = Checks(tag)
    t0 = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(run(c), timeout))
    except (Failed, asyncio.TimeoutError) as e:
        log("FAIL:", e or "timeout")
        c.failed.append(str(e) or "timeout")
    log(f"{'PASS' if not c.failed else 'FAIL'} in {time.monotonic() - t0:.1f} s")
    sys.exit(1 if c.failed else 0)


def out_dir(name):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    return d


# ---- the server ----

class Server:
    """strapto-cli serve on ADDR, port chosen by the kernel."""

    def __init__(self, name, args=(), model=None, log_path=None, listen=None, env=None, prefix=(), start_timeout=15):
        self.name = name
        self.log_path = log_path or os.path.join(out_dir("serve"), f"{name}.server.log")
        cmd = list(prefix) + [harness.CLI, "serve", "--listen", listen or f"{ADDR}:0", "--local-address", ADDR,
               "--log-level", os.environ.get("STRAPTO_TEST_LOG_LEVEL", "info")] + list(args)
        if model:
            cmd += ["--"] + list(model)
        self.err = open(self.log_path, "wb")
        log(name, "start:", " ".join(cmd))
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, env=env)
        self.listening = self._read_line(start_timeout)
        if not self.listening or self.listening.get("type") != "listening":
            self.kill()
            raise Failed(f"{name}: no listening line (got {self.listening}); see {self.log_path}")
        self.url = self.listening["url"]
        self.port = self.listening["port"]
        self.base = f"http://{urllib.parse.urlsplit(self.url).hostname}:{self.port}"
        log(name, f"listening at {self.url} after {time.monotonic() - self.t0:.2f} s")

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.p.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                buf += chunk
                if b"\n" in buf:
                    line = buf.split(b"\n", 1)[0]
                    try:
                        return json.loads(line)
                    except ValueError:
                        return {"raw": line.decode("utf-8", "replace")}
            elif self.p.poll() is not None:
                return None
        return None

    def status(self, token=None):
        code, _, body = http("GET", self.base + "/status", token=token)
        return json.loads(body) if code == 200 else None

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            log(self.name, f"still running {timeout} s after SIGTERM; killing")
            self.kill()
            rc = None
        self.err.close()
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def print_log_tail(self, n=40):
        lines = self.log_text().splitlines()
        print(f"---- last {min(n, len(lines))} lines of {self.log_path}", file=sys.stderr)
        for line in lines[-n:]:
            print("   ", line, file=sys.stderr)


def http(method, url, body=None, headers=None, token=None, timeout=15):
    """(status, headers dict with lower-case names, body bytes). Blocking."""
    u = urllib.parse.urlsplit(url)
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=timeout)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    except (ConnectionError, httpclient.HTTPException, OSError) as e:
        return 0, {}, str(e).encode()
    finally:
        conn.close()


async def ahttp(*a, **kw):
    return await asyncio.get_running_loop().run_in_executor(None, lambda: http(*a, **kw))


# ---- clients ----

class RtcClient:
    """An aiortc client: one data channel, every event kept in order."""

    def __init__(self, base, name, token=None, whep=False, label="strapto"):
        self.base, self.name, self.token, self.whep, self.label = base, name, token, whep, label
        self.events = []
        self.lines = []  # the model's line numbers, as they came
        self.pc = None
        self.ch = None
        self.location = None
        self.session_id = None
        self.opened = None
        self.closed = None
        self.t_open = None

    async def connect(self, timeout=15):
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self.pc = RTCPeerConnection()
        self.ch = self.pc.createDataChannel(self.label)
        t0 = time.monotonic()

        @self.ch.on("open")
        def on_open():
            self.t_open = time.monotonic() - t0
            self.opened.set()

        @self.ch.on("message")
        def on_message(m):
            try:
                ev = json.loads(m) if isinstance(m, str) else {"type": "<binary>", "data": None}
            except ValueError:
                ev = {"type": "<invalid json>", "data": m}
            self.events.append(ev)
            self.lines.extend(line_numbers([ev]))

        @self.ch.on("close")
        def on_close():
            self.closed.set()

        @self.pc.on("connectionstatechange")
        def on_state():
            if self.pc.connectionState in ("failed", "closed"):
                self.closed.set()

        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        if self.whep:
            code, hdrs, body = await ahttp("POST", self.base + "/whep", body=sdp,
                                           headers={"Content-Type": "application/sdp"}, token=self.token)
            if code != 201:
                raise Failed(f"{self.name}: POST /whep answered {code}: {body[:300]!r}")
            self.location = hdrs.get("location")
            answer = body.decode()
        else:
            code, hdrs, body = await ahttp("POST", self.base + "/offer", body=json.dumps({"type": "offer", "sdp": sdp}),
                                           headers={"Content-Type": "application/json"}, token=self.token)
            if code != 200:
                raise Failed(f"{self.name}: POST /offer answered {code}: {body[:300]!r}")
            j = json.loads(body)
            if j.get("type") != "answer":
                raise Failed(f"{self.name}: /offer reply is not an answer: {j}")
            answer = j["sdp"]
            self.session_id = j.get("id")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        try:
            await asyncio.wait_for(self.opened.wait(), timeout)
        except asyncio.TimeoutError:
            raise Failed(f"{self.name}: channel not open {timeout} s after the answer "
                         f"(connection {self.pc.connectionState})")
        log(self.name, f"channel '{self.label}' open after {self.t_open:.3f} s")

    def send(self, type_, data):
        self.ch.send(json.dumps({"type": type_, "data": data}))

    def send_raw(self, m):
        self.ch.send(m)

    def of_type(self, t):
        return [e for e in self.events if e.get("type") == t]

    async def wait_for(self, pred, timeout, what, step=0.05):
        """Poll pred(self) every `step` s (cheap predicates: self.lines)."""
        deadline = time.monotonic() + timeout
        while not pred(self):
            if time.monotonic() > deadline:
                raise Failed(f"{self.name}: timed out after {timeout} s waiting for {what} "
                             f"({len(self.events)} events, {len(self.lines)} numbered lines, "
                             f"last {self.events[-1] if self.events else None!r:.200})")
            await asyncio.sleep(step)

    async def close(self):
        if self.pc:
            await self.pc.close()


class WsClient:
    """A WebSocket client of /events."""

    def __init__(self, base, name, token=None):
        self.url = base.replace("http://", "ws://") + "/events"
        self.name, self.token = name, token
        self.events = []
        self.lines = []
        self.ws = None
        self.task = None
        self.closed = False

    async def connect(self):
        import websockets
        hdrs = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.ws = await websockets.connect(self.url, extra_headers=hdrs, max_size=2 ** 22, max_queue=None,
                                           ping_interval=None)
        self.task = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for m in self.ws:
                try:
                    ev = json.loads(m)
                except ValueError:
                    ev = {"type": "<invalid json>", "data": m}
                self.events.append(ev)
                self.lines.extend(line_numbers([ev]))
        except Exception as e:  # connection closed
            log(self.name, "closed:", repr(e)[:200])
        self.closed = True

    async def send(self, type_, data):
        await self.ws.send(json.dumps({"type": type_, "data": data}))

    of_type = RtcClient.of_type
    wait_for = RtcClient.wait_for

    async def close(self):
        if self.ws:
            await self.ws.close()
        if self.task:
            await asyncio.wait([self.task], timeout=5)


# ---- models and checks ----

MODEL_SOURCE = r'''
import json, os, sys, threading, time
# A test model. argv: ECHO_FILE LINES [CRASH_AFTER]
# Every stdin line is appended to ECHO_FILE. An input whose text is
#   "start"       prints LINES numbered lines "line N" (plain text);
#   "start-json"  the same as typed JSON {"type":"line","n":N};
#   "start-big"   LINES lines "line N xxx..." of about 1000 bytes;
#   "slow"        LINES plain lines at "rate" lines/s (default 1000), each
#                 padded to "size" bytes when given, from a thread (input
#                 keeps being read meanwhile).
# An integer "count" member of the input replaces LINES for that run. With
# CRASH_AFTER it exits with status 1 when a run reaches that line.
echo, n = sys.argv[1], int(sys.argv[2])
crash = int(sys.argv[3]) if len(sys.argv) > 3 else 0
out = sys.stdout
lock = threading.Lock()
print(json.dumps({"type": "hello", "pid": os.getpid()}), flush=True)


def emit(text, i, size=0):
    if crash and i == crash:
        out.flush()
        print("crashing on purpose", file=sys.stderr, flush=True)
        os._exit(1)
    if text == "start-json":
        return json.dumps({"type": "line", "n": i}) + "\n"
    if text == "start-big":
        size = 1000
    line = f"line {i}"
    if size > len(line) + 1:
        line += " " + "x" * (size - len(line) - 1)
    return line + "\n"


def slow(k, rate, size):
    t0 = time.monotonic()
    i = 0
    while i < k:
        due = min(k, int((time.monotonic() - t0) * rate) + 1)
        with lock:
            while i < due:
                out.write(emit("slow", i, size))
                i += 1
            out.flush()
        time.sleep(0.002)


for raw in sys.stdin:
    with open(echo, "a") as f:
        f.write(raw)
    try:
        msg = json.loads(raw)
    except ValueError:
        continue
    text = msg.get("text") if isinstance(msg, dict) else None
    k = msg["count"] if isinstance(msg, dict) and isinstance(msg.get("count"), int) else n
    if text in ("start", "start-json", "start-big"):
        with lock:
            for i in range(k):
                out.write(emit(text, i))
            out.flush()
    elif text == "slow":
        rate = msg.get("rate") if isinstance(msg.get("rate"), (int, float)) else 1000
        size = msg.get("size") if isinstance(msg.get("size"), int) else 0
        threading.Thread(target=slow, args=(k, rate, size), daemon=True).start()
'''


def write_model(folder):
    path = os.path.join(folder, "test_model.py")
    with open(path, "w") as f:
        f.write(MODEL_SOURCE)
    return path


def line_numbers(events):
    """Numbers of the model's lines in the order a client got them (plain
    "line N" and typed {"type":"line","n":N} alike)."""
    out = []
    for e in events:
        if e.get("type") != "model_output" or not isinstance(e.get("data"), dict):
            continue
        d = e["data"]
        if d.get("type") == "line" and isinstance(d.get("n"), int):
            out.append(d["n"])
        elif isinstance(d.get("text"), str) and d["text"].startswith("line "):
            out.append(int(d["text"][5:].split(" ", 1)[0]))
    return out


def describe_gaps(nums, n):
    """A short account of what is wrong with a received sequence."""
    if nums == list(range(n)):
        return "complete and in order"
    seen = set(nums)
    missing = [i for i in range(n) if i not in seen]
    disorder = sum(1 for a, b in zip(nums, nums[1:]) if b != a + 1)
    return (f"{len(nums)} received, {len(missing)} missing (first {missing[:5]}), "
            f"{len(nums) - len(seen)} duplicates, {disorder} breaks in order")


async def read_echo(path, want, timeout, pred=None):
    """Lines of the model's echo file once `want` of them (matching pred) are there."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                lines = [json.loads(x) for x in f if x.strip()]
        except (OSError, ValueError):
            lines = []
        got = [x for x in lines if pred is None or pred(x)]
        if len(got) >= want or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.05)


# ---- smoke test ----

async def smoke(tag="smoke", prefix=(), slow=1.0):
    """The demo model to a WebRTC and a WebSocket client; `prefix` runs the
    server under a tool (valgrind), `slow` stretches the time bounds."""
    c = Checks(tag)
    srv = Server(tag, prefix=prefix, start_timeout=15 * slow)
    client = None
    ws = None
    try:
        code, _, body = await ahttp("GET", srv.base + "/health")
        c.check(code == 200 and json.loads(body) == {"status": "ok"}, f"GET /health -> {code} {body[:60]!r}")
        st = srv.status()
        c.check(st and st["model"]["state"] == "running" and st["model"]["pid"], f"/status: model running ({st and st['model']})")
        client = RtcClient(srv.base, f"{tag}-client")
        t0 = time.monotonic()
        await client.connect(timeout=15 * slow)
        await client.wait_for(lambda cl: any(e.get("type") == "model_output" and e["data"].get("type") == "token"
                                             for e in cl.events), 2.0 * slow, "a demo token")
        c.check(True, f"demo tokens arrive {time.monotonic() - t0:.2f} s after the offer")
        c.check(client.events[0].get("type") == "replay", "the first event is the replay")
        c.check(all(set(e) >= {"type", "data", "timestamp"} for e in client.events), "events are {type,data,timestamp}")
        client.send("consumer_input", {"text": "héllo smoke ✓"})
        await client.wait_for(lambda cl: any(e.get("type") == "model_output" and e["data"].get("type") == "reply"
                                             and "héllo smoke ✓" in e["data"].get("text", "") for e in cl.events),
                              3.0 * slow, "the demo model's reply")
        c.check(True, "the demo model answered the input, quoting it")
        ws = WsClient(srv.base, f"{tag}-ws")
        await ws.connect()
        await ws.send("consumer_input", {"text": "over the WebSocket"})
        await ws.wait_for(lambda x: any(e.get("type") == "model_output" and "over the WebSocket" in
                                        str(e["data"].get("text", "")) for e in x.events), 3.0 * slow, "a reply")
        c.check(True, "a WebSocket client of /events on the same server gets the reply to its input")
        code, _, _ = await ahttp("GET", srv.base + "/metrics")
        c.check(code == 200, "GET /metrics")
        pid = srv.status()["model"]["pid"]
        await ws.close()
        ws = None
        await client.close()
        client = None
        rc = srv.stop(timeout=15 * slow)
        c.check(rc == 0, f"SIGTERM: exit status {rc}")
        gone = False
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                gone = True
                break
            time.sleep(0.05)
        c.check(gone, f"the model process {pid} is gone after the server stopped")
    finally:
        if client:
            await client.close()
        if ws:
            await ws.close()
        srv.kill()
    if c.failed:
        srv.print_log_tail()
    return c, srv


# libsoup 3.2.x (Debian bookworm: 3.2.3) loses the GSocket of every accepted
# connection once the client has closed it: a plain SoupServer with one
# handler shows it too. Fixed upstream in 3.3 (libsoup commit d20c6601,
# "Don't leak idle connections closed by the client"). Not ours: suppressed.
LIBSOUP_SUPP = """{
   libsoup-3.2-accepted-connection
   Memcheck:Leak
   match-leak-kinds: definite,indirect
   ...
   fun:g_socket_accept
   obj:*libsoup-3.0.so*
}
"""


async def all_smoke():
    c, _ = await smoke()
    failed = c.failed
    if os.environ.get("SANITIZE") == "1" or not shutil.which("valgrind"):
        log("valgrind run skipped (SANITIZE=1 or no valgrind)")
        return failed
    vlog = os.path.join(out_dir("serve"), "valgrind.log")
    supp = os.path.join(out_dir("serve"), "valgrind-libsoup.supp")
    with open(supp, "w") as f:
        f.write(LIBSOUP_SUPP)
    vg = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
          "--show-leak-kinds=definite,indirect", "--num-callers=30", f"--suppressions={supp}", f"--log-file={vlog}"]
    cv, srv = await smoke("valgrind", prefix=vg, slow=5.0)
    text = open(vlog).read()
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
    ind = re.search(r"indirectly lost: ([\d,]+) bytes", text)
    log("valgrind:", m.group(0) if m else "no summary", "|", lost.group(0) if lost else "nothing definitely lost")
    cv.check(m is not None and m.group(1) == "0", f"valgrind: memcheck reports no error (see {vlog})")
    cv.check(lost is None or lost.group(1) == "0", "valgrind: nothing definitely lost")
    cv.check(ind is None or ind.group(1) == "0", "valgrind: nothing indirectly lost")
    return failed + cv.failed


async def client_process(base, path, token):
    """`--client BASE FILE [TOKEN]`: an RtcClient in a process of its own (so
    a test can SIGSTOP it). Writes one JSON line per event to FILE ({"n": N}
    for the model's numbered lines, the event itself otherwise), prints
    "open" once connected, runs until stdin ends."""
    cl = RtcClient(base, "client-process", token=token)
    f = open(path, "w", buffering=1)
    written = 0

    def flush():
        nonlocal written
        for e in cl.events[written:]:
            nums = line_numbers([e])
            f.write(json.dumps({"n": nums[0]} if nums else e) + "\n")
        written = len(cl.events)

    await cl.connect()
    print("open", flush=True)
    loop = asyncio.get_running_loop()
    stdin_done = loop.run_in_executor(None, sys.stdin.read)
    while not stdin_done.done():
        flush()
        await asyncio.sleep(0.05)
    flush()
    f.write(json.dumps({"type": "<state>", "data": cl.pc.connectionState}) + "\n")
    f.close()
    await cl.close()


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--client":
        asyncio.run(client_process(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
        return
    t0 = time.monotonic()
    try:
        failed = asyncio.run(asyncio.wait_for(all_smoke(), 240))
    except (Failed, asyncio.TimeoutError) as e:
        log("FAIL:", e)
        failed = [str(e)]
    log(f"{'PASS' if not failed else 'FAIL'} in {time.monotonic() - t0:.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
