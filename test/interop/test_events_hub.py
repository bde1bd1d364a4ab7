#!/usr/bin/python3
"""Event hub (strapto-cli events) with Python websockets clients:
  a) 100 clients all receive every event of a 10,000-event burst (fed on the
     hub's stdin), in order, with no events_dropped;
  b) a new client first gets a replay with exactly the last 100 events;
  c) commands: get_system_info and get_performance_metrics are answered to
     the asking client only; consumer_input and unknown commands are printed
     on stdout; invalid JSON, a message without a string type, a binary
     message, an oversized message, invalid UTF-8 and a flood past the rate
     each get an "error" event naming the problem, and the client stays
     connected and still receives broadcasts.

The Hub class and helpers here are shared by the other test_events_* tests.
"""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CLI, OUT, log  # noqa: E402

import websockets  # noqa: E402  (python3-websockets, Debian)

ADDR = "127.0.0.1"
failures = []


def check(cond, what):
    """Record a check; the test keeps going so one run shows every failure."""
    if cond:
        log("ok:", what)
    else:
        log("FAIL:", what)
        failures.append(what)
    return cond


def finish(name):
    if failures:
        log(f"{name}: {len(failures)} check(s) failed:", *failures)
        sys.exit(1)
    log(f"{name}: all checks passed")
    sys.exit(0)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Hub:
    """A `strapto-cli events` process on 127.0.0.1, port 0. Its stderr goes
    to test/out/interop/<name>.stderr; JSON lines on its stdout are kept."""

    def __init__(self, name, *args, cli=None, env=None, prefix=(), start_timeout=15):
        os.makedirs(os.path.join(OUT, "interop"), exist_ok=True)
        self.name = name
        self.errpath = os.path.join(OUT, "interop", f"{name}.stderr")
        self.err = open(self.errpath, "w")
        self.lines = []
        self.lock = threading.Lock()
        self.url = None
        self.ready = threading.Event()
        cmd = list(prefix) + [cli or CLI, "events", "--listen", f"{ADDR}:0", "--log-level", os.environ.get("EVENTS_LOG_LEVEL", "info")] + list(args)
        log(name, "start:", " ".join(cmd))
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env)
        self.pid = self.p.pid
        threading.Thread(target=self._read_err, daemon=True).start()
        threading.Thread(target=self._read_out, daemon=True).start()
        if not self.ready.wait(start_timeout) or not self.url:
            self.kill()
            raise RuntimeError(f"{name}: no listening URL on stderr (see {self.errpath})")
        m = re.match(r"wss?://[^:]+:(\d+)(/.*)$", self.url)
        self.port = int(m.group(1))
        self.path = m.group(2)
        log(name, "listening on", self.url, "pid", self.pid)

    def _read_err(self):
        for raw in self.p.stderr:
            line = raw.decode("utf-8", "replace")
            self.err.write(line)
            self.err.flush()
            if "events: listening on " in line and not self.url:
                self.url = line.split("listening on ", 1)[1].strip()
                self.ready.set()
        self.ready.set()

    def _read_out(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                log(self.name, "non-JSON stdout:", line[:200])
                continue
            with self.lock:
                self.lines.append(msg)

    def stdout_lines(self):
        with self.lock:
            return list(self.lines)

    def feed(self, text):
        self.p.stdin.write(text.encode() if isinstance(text, str) else text)
        self.p.stdin.flush()

    def publish(self, type_, data):
        self.feed(json.dumps({"type": type_, "data": data}) + "\n")

    def rss_kib(self):
        return rss_kib(self.pid)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=30):
        """SIGTERM, wait; returns the exit status (kills on timeout)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(self.name, "did not stop in time; killing")
            self.kill()
            rc = None
        self.err.close()
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def uri(hub, query=""):
    return hub.url + query


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, type_, timeout=10, skip=None):
    """The next message of `type_`; messages of other types are appended to
    `skip` (a list) if given."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError(f"no {type_} event in {timeout}s")
        m = await recv_json(ws, left)
        if m.get("type") == type_:
            return m
        if skip is not None:
            skip.append(m)


def wait_for(cond, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


# ---------------------------------------------------------------- (a) + (b)

N_CLIENTS = 100
N_EVENTS = 10000


async def burst_client(hub, idx, connected, go, result):
    got = []
    dropped = 0
    try:
        async with websockets.connect(uri(hub), max_queue=None, ping_interval=None,
                                      open_timeout=20) as ws:
            first = await recv_json(ws, 20)
            result["first"] = first.get("type")
            connected.release()
            await go.wait()
            end = time.monotonic() + 120
            while len(got) < N_EVENTS and time.monotonic() < end:
                m = json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic()))
                t = m.get("type")
                if t == "burst":
                    got.append(m["data"]["i"])
                elif t == "events_dropped":
                    dropped += m["data"]["missed"]
    except Exception as e:  # noqa: BLE001 (recorded and checked below)
        result["error"] = repr(e)
        connected.release()
    result["count"] = len(got)
    result["in_order"] = got == list(range(len(got)))
    result["dropped"] = dropped


async def test_burst(hub):
    log(f"(a) {N_CLIENTS} clients, burst of {N_EVENTS} events through stdin")
    connected = asyncio.Semaphore(0)
    go = asyncio.Event()
    results = [dict() for _ in range(N_CLIENTS)]
    tasks = [asyncio.create_task(burst_client(hub, i, connected, go, results[i])) for i in range(N_CLIENTS)]
    for _ in range(N_CLIENTS):
        await asyncio.wait_for(connected.acquire(), 60)
    errors = [r["error"] for r in results if "error" in r]
    check(not errors, f"all {N_CLIENTS} clients connected ({errors[:3]})")
    check(all(r.get("first") == "replay" for r in results if "error" not in r),
          "each client's first message is a replay")
    go.set()
    rss0 = hub.rss_kib()
    t0 = time.monotonic()
    payload = "".join(json.dumps({"type": "burst", "data": {"i": i, "pad": "x" * 40}}) + "\n"
                      for i in range(N_EVENTS))
    await asyncio.get_running_loop().run_in_executor(None, hub.feed, payload)
    await asyncio.wait_for(asyncio.gather(*tasks), 180)
    dt = time.monotonic() - t0
    counts = sorted(r.get("count", 0) for r in results)
    log(f"burst delivered in {dt:.2f}s: {N_CLIENTS * N_EVENTS / dt:.0f} deliveries/s (Python clients); "
        f"counts min {counts[0]} max {counts[-1]}; hub RSS {rss0} -> {hub.rss_kib()} KiB")
    check(all(r.get("count") == N_EVENTS for r in results),
          f"every client received all {N_EVENTS} events (min {counts[0]})")
    check(all(r.get("in_order") for r in results), "every client received them in order, no gap")
    check(all(r.get("dropped", 0) == 0 for r in results), "no client was told of dropped events")
    check(not any("error" in r for r in results), "no client failed")


async def test_replay(hub):
    log("(b) a new client gets the last 100 events as its replay")
    async with websockets.connect(uri(hub), max_queue=None) as ws:
        first = await recv_json(ws)
        check(first.get("type") == "replay", "first message is a replay")
        evs = first.get("data", {}).get("events", [])
        check(len(evs) == 100, f"replay holds exactly 100 events (got {len(evs)})")
        idx = [e.get("data", {}).get("i") for e in evs]
        check(idx == list(range(N_EVENTS - 100, N_EVENTS)), "replay = the last 100 events, oldest first")
        check(all(set(e) == {"type", "data", "timestamp"} for e in evs), "replayed events have type/data/timestamp")
        check(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["timestamp"]) for e in evs),
              "timestamps are ISO 8601 UTC with milliseconds")


# ---------------------------------------------------------------- (c)

async def test_commands(hub):
    log("(c) commands and invalid input")
    async with websockets.connect(uri(hub), max_queue=None) as a, \
            websockets.connect(uri(hub), max_queue=None) as b:
        await recv_type(a, "replay")
        await recv_type(b, "replay")

        await a.send(json.dumps({"type": "get_system_info", "data": {}, "timestamp": "2025-05-01T12:34:56.789Z"}))
        m = await recv_type(a, "system_info")
        d = m["data"]
        check(isinstance(d.get("version"), str) and isinstance(d.get("uptime"), (int, float))
              and isinstance(d.get("memory"), int) and d["memory"] > 0 and d.get("clients") == 2,
              f"system_info has version, uptime, memory (RSS bytes), clients=2: {d}")
        await a.send(json.dumps({"type": "get_performance_metrics"}))
        m = await recv_type(a, "latency_trace")
        d = m["data"]
        st = d.get("stages", {})
        check("publish_to_hub" in st and "hub_to_send" in st and d.get("delivered", 0) > 0
              and st["hub_to_send"].get("p99_us", -1) >= 0,
              f"latency_trace has per-stage timings and counters: {json.dumps(d)[:300]}")

        # b must not see a's replies
        hub.publish("marker", {"n": 1})
        other = []
        await recv_type(b, "marker", skip=other)
        check(not any(o.get("type") in ("system_info", "latency_trace") for o in other),
              "replies went to the asking client only")
        await recv_type(a, "marker")

        await a.send(json.dumps({"type": "consumer_input", "data": {"text": "hello model"}}))
        await a.send(json.dumps({"type": "stt_start", "data": {"mode": "push_to_talk"}}))
        check(wait_for(lambda: len([x for x in hub.stdout_lines()
                                    if x.get("type") in ("consumer_input", "stt_start")]) >= 2, 5),
              "consumer_input and an unknown command are printed on stdout")
        outl = {x["type"]: x for x in hub.stdout_lines()}
        ci = outl.get("consumer_input", {})
        check(ci.get("data") == {"text": "hello model"} and isinstance(ci.get("client"), int)
              and isinstance(ci.get("timestamp"), str),
              f"stdout line is {{type,data,timestamp,client}}: {ci}")
        check(outl.get("stt_start", {}).get("data") == {"mode": "push_to_talk"}, "unknown command data printed")

        bad = [
            ("not json", "invalid_json"),
            ('{"type": 5}', "invalid_message"),
            ('["a"]', "invalid_message"),
            ('{"data": {}}', "invalid_message"),
            (b"\x00\x01binary", "binary_not_supported"),
            (json.dumps({"type": "consumer_input", "data": {"text": "x" * 20000}}), "message_too_large"),
        ]
        for msg, code in bad:
            await a.send(msg)
            e = await recv_type(a, "error")
            check(e["data"].get("code") == code and e["data"].get("message"),
                  f"{code}: error event {e['data']}")
        # invalid UTF-8 in a text frame: websockets refuses to send it, so write the frame ourselves
        check(await raw_invalid_utf8(hub) == "invalid_utf8", "invalid UTF-8 text: error invalid_utf8")

        # a flood of inputs past the rate (20/s, burst 40): errors for the excess, still connected
        await asyncio.sleep(2.1)  # refill the bucket
        for i in range(60):
            await a.send(json.dumps({"type": "consumer_input", "data": {"n": i}}))
        limited = 0
        end = time.monotonic() + 5
        while time.monotonic() < end and limited < 15:
            m = await recv_json(a, 5)
            if m["type"] == "error" and m["data"]["code"] == "rate_limited":
                limited += 1
        check(limited >= 15, f"inputs past the rate get rate_limited errors ({limited} of ~20)")
        check(a.open and b.open, "both clients still connected")
        hub.publish("after", {"ok": True})
        m = await recv_type(a, "after")
        check(m["data"] == {"ok": True}, "the flooding client still receives broadcasts")
        m = await recv_type(b, "after")
        check(m["data"] == {"ok": True}, "the other client received the broadcast too")


async def raw_invalid_utf8(hub):
    """Handshake by hand, send a masked text frame with invalid UTF-8, read the reply event."""
    loop = asyncio.get_running_loop()

    def run():
        s = socket.create_connection((ADDR, hub.port), timeout=5)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        s.sendall((f"GET {hub.path} HTTP/1.1\r\nHost: {ADDR}:{hub.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, buf = buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            return "no upgrade"
        payload = b'{"type":"x","data":"\xff\xfe"}'
        mask = b"\x01\x02\x03\x04"
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))
        end = time.monotonic() + 5
        while time.monotonic() < end:
            while len(buf) >= 2:
                ln = buf[1] & 0x7F
                hl = 2
                if ln == 126:
                    ln = int.from_bytes(buf[2:4], "big")
                    hl = 4
                elif ln == 127:
                    ln = int.from_bytes(buf[2:10], "big")
                    hl = 10
                if len(buf) < hl + ln:
                    break
                m = json.loads(buf[hl:hl + ln])
                buf = buf[hl + ln:]
                if m.get("type") == "error":
                    s.close()
                    return m["data"]["code"]
            buf += s.recv(65536)
        s.close()
        return None

    return await loop.run_in_executor(None, run)


async def main():
    # the whole burst is written at once: every client needs room for all of it
    hub = Hub("events_hub", "--client-queue", "16384")
    try:
        t0 = time.monotonic()
        await test_burst(hub)
        log(f"(a) took {time.monotonic() - t0:.1f}s")
        await test_replay(hub)
        t0 = time.monotonic()
        await test_commands(hub)
        log(f"(c) took {time.monotonic() - t0:.1f}s")
        check(hub.alive(), "hub still running")
    finally:
        rc = hub.stop()
    check(rc == 0, f"hub exits 0 on SIGTERM (rc {rc})")


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 400))
    except Exception as e:  # noqa: BLE001
        log("FAIL: exception", repr(e))
        failures.append(repr(e))
    finish("test_events_hub")
