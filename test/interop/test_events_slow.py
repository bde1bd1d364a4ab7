#!/usr/bin/python3
"""Event hub with a client that stops reading (strapto-cli events):
  d) a raw TCP client completes the WebSocket handshake and then reads
     nothing while 20,000 events (~600 bytes each)
     are published at a steady pace. Meanwhile 10 Python websockets clients
     receive every event with no gap, in order.
     --slow notify: when the stuck client reads again it finds
       "events_dropped" {"missed":N} notices exactly where its gaps are
       (received + missed == published, each gap == the notice before it),
       and then the newest events up to the last one;
     --slow disconnect: the stuck client is disconnected (the hub logs it);
     in both, the hub's RSS grows by less than 32 MiB.
  d2) a client flooding far past its input rate (thousands of messages at
     once) is closed with 1008; a client at a normal pace is not disturbed.
"""
import asyncio
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_events_hub import ADDR, Hub, check, failures, finish, log, recv_type  # noqa: E402

import websockets  # noqa: E402

N_EVENTS = 20000
RATE = 5000  # events/s fed on stdin
N_GOOD = 10
RSS_BOUND_KIB = 32 * 1024


class StuckClient:
    """WebSocket handshake by hand, then no reading until resume()."""

    def __init__(self, hub):
        # (no tiny SO_RCVBUF: on loopback, with its 64 KiB MSS, a window that small
        # makes the sender fall back to zero-window probes once reading resumes)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect((ADDR, hub.port))
        self.s.sendall((f"GET {hub.path} HTTP/1.1\r\nHost: {ADDR}:{hub.port}\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: leave the frames in the socket
            c = self.s.recv(1)
            if not c:
                raise RuntimeError("closed during the handshake")
            head += c
        self.ok = b" 101 " in head.split(b"\r\n")[0]
        self.buf = b""
        self.eof = False

    def frames(self, timeout):
        """Read frames until EOF or `timeout` seconds without data; yields (opcode, payload)."""
        self.s.settimeout(timeout)
        while True:
            while len(self.buf) >= 2:
                op = self.buf[0] & 0x0F
                ln, hl = self.buf[1] & 0x7F, 2
                if ln == 126:
                    ln, hl = int.from_bytes(self.buf[2:4], "big"), 4
                elif ln == 127:
                    ln, hl = int.from_bytes(self.buf[2:10], "big"), 10
                if len(self.buf) < hl + ln:
                    break
                payload = self.buf[hl:hl + ln]
                self.buf = self.buf[hl + ln:]
                yield op, payload
            try:
                d = self.s.recv(1 << 20)
            except socket.timeout:
                return
            except ConnectionResetError:
                d = b""
            if not d:
                self.eof = True
                return
            self.buf += d

    def close(self):
        self.s.close()


def feeder(hub, n, rate, done):
    pad = "p" * 560
    batch = max(1, rate // 20)
    t0 = time.monotonic()
    for start in range(0, n, batch):
        lines = "".join(json.dumps({"type": "tick", "data": {"i": i, "pad": pad}}) + "\n"
                        for i in range(start, min(n, start + batch)))
        hub.feed(lines)
        ahead = (start + batch) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    done.set()


async def good_client(hub, res, ready):
    got, dropped = [], 0
    try:
        async with websockets.connect(hub.url, max_queue=None, ping_interval=None) as ws:
            await recv_type(ws, "replay")
            ready.release()
            end = time.monotonic() + 60
            while len(got) < N_EVENTS and time.monotonic() < end:
                m = json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic()))
                if m["type"] == "tick":
                    got.append(m["data"]["i"])
                elif m["type"] == "events_dropped":
                    dropped += m["data"]["missed"]
    except Exception as e:  # noqa: BLE001
        res["error"] = repr(e)
        ready.release()
    res["ok"] = got == list(range(N_EVENTS))
    res["count"] = len(got)
    res["dropped"] = dropped


async def run_policy(policy):
    log(f"(d) --slow {policy}: one client stops reading during {N_EVENTS} events at {RATE}/s")
    env = dict(os.environ)
    if env.get("ASAN_OPTIONS"):
        # ASan keeps freed memory in a quarantine (256 MiB by default), which
        # would show as RSS growth; a small one keeps the bound meaningful
        env["ASAN_OPTIONS"] += ":quarantine_size_mb=4"
    hub = Hub(f"events_slow_{policy}", "--slow", policy, env=env)
    try:
        stuck = StuckClient(hub)
        check(stuck.ok, "stuck client: handshake done")
        ready = asyncio.Semaphore(0)
        results = [dict() for _ in range(N_GOOD)]
        tasks = [asyncio.create_task(good_client(hub, results[i], ready)) for i in range(N_GOOD)]
        for _ in range(N_GOOD):
            await asyncio.wait_for(ready.acquire(), 20)
        rss0 = hub.rss_kib()
        rss_max = [rss0]
        done = threading.Event()
        t0 = time.monotonic()
        threading.Thread(target=feeder, args=(hub, N_EVENTS, RATE, done), daemon=True).start()

        async def watch_rss():
            while not done.is_set():
                rss_max[0] = max(rss_max[0], hub.rss_kib())
                await asyncio.sleep(0.1)
        w = asyncio.create_task(watch_rss())
        await asyncio.wait_for(asyncio.gather(*tasks), 90)
        await w
        dt = time.monotonic() - t0
        rss_max[0] = max(rss_max[0], hub.rss_kib())
        log(f"burst took {dt:.1f}s; hub RSS {rss0} KiB -> max {rss_max[0]} KiB")
        check(all(r.get("ok") for r in results),
              f"all {N_GOOD} reading clients got every event in order "
              f"(counts {sorted(r.get('count') for r in results)[:3]}..., errors "
              f"{[r['error'] for r in results if 'error' in r][:2]})")
        check(all(r.get("dropped") == 0 for r in results), "no reading client was told of drops")
        check(rss_max[0] - rss0 < RSS_BOUND_KIB, f"hub RSS grew by {rss_max[0] - rss0} KiB (< {RSS_BOUND_KIB})")

        # the stuck client reads again
        loop = asyncio.get_running_loop()

        def drain():
            ticks, notices, seq = [], [], []
            for op, payload in stuck.frames(5):
                if op == 8:
                    seq.append(("close", int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None))
                    continue
                if op != 1:
                    continue
                m = json.loads(payload)
                if m["type"] == "tick":
                    ticks.append(m["data"]["i"])
                    seq.append(("tick", m["data"]["i"]))
                    if m["data"]["i"] == N_EVENTS - 1:
                        break
                elif m["type"] == "events_dropped":
                    notices.append(m["data"]["missed"])
                    seq.append(("dropped", m["data"]["missed"]))
            return ticks, notices, seq
        ticks, notices, seq = await loop.run_in_executor(None, drain)
        if policy == "notify":
            check(len(notices) >= 1 and sum(notices) > 0, f"stuck client got events_dropped notices {notices[:5]}")
            check(len(ticks) + sum(notices) == N_EVENTS,
                  f"received {len(ticks)} + missed {sum(notices)} == {N_EVENTS}")
            consistent, expect = True, 0
            for kind, v in seq:
                if kind == "tick":
                    consistent &= v == expect
                    expect = v + 1
                elif kind == "dropped":
                    expect += v
            check(consistent, "every gap is exactly the count of the notice before it")
            check(ticks and ticks[-1] == N_EVENTS - 1, "the stuck client then got the newest events up to the last")
        else:
            check(not ticks or ticks[-1] < N_EVENTS - 1, f"stuck client did not get the burst's end "
                                                        f"({len(ticks)} events before the cut)")
            check(stuck.eof, "stuck client: connection closed by the hub")
            with open(hub.errpath) as f:
                err = f.read()
            check("too slow" in err, "the hub logged the slow client's disconnection")
        stuck.close()
        check(hub.alive(), "hub still running")
    finally:
        rc = hub.stop()
    check(rc == 0, f"hub exits 0 ({rc})")


async def test_flood():
    log("(d2) a client flooding far past its input rate")
    hub = Hub("events_flood")
    try:
        async with websockets.connect(hub.url, max_queue=None) as calm, \
                websockets.connect(hub.url, max_queue=None) as flood:
            await recv_type(calm, "replay")
            await recv_type(flood, "replay")
            msg = json.dumps({"type": "consumer_input", "data": {"text": "spam"}})
            code = None
            try:
                for _ in range(3000):
                    await flood.send(msg)
                await asyncio.wait_for(flood.wait_closed(), 10)
                code = flood.close_code
            except websockets.exceptions.ConnectionClosed as e:
                code = e.code
            check(code == 1008, f"the flooding client was closed with 1008 (code {code})")
            await calm.send(json.dumps({"type": "get_system_info"}))
            m = await recv_type(calm, "system_info")
            check(m["data"]["clients"] == 1, "the calm client is answered; one client left")
            hub.publish("after_flood", {})
            await recv_type(calm, "after_flood")
            check(True, "the calm client still receives broadcasts")
    finally:
        rc = hub.stop()
    check(rc == 0, f"hub exits 0 ({rc})")


async def main():
    for policy in ("notify", "disconnect"):
        t0 = time.monotonic()
        await run_policy(policy)
        log(f"(d) {policy} took {time.monotonic() - t0:.1f}s")
    await test_flood()


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 300))
    except Exception as e:  # noqa: BLE001
        log("FAIL: exception", repr(e))
        failures.append(repr(e))
    finish("test_events_slow")
