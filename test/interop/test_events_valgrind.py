#!/usr/bin/python3
"""strapto-cli events under valgrind memcheck: clients connect, get the
replay and a stream of events, send every kind of command and bad input
(invalid JSON, binary, oversize, an unmasked frame that ends the connection
with 1002, an abrupt disconnect), one client stops reading while others
get a burst (its events are dropped), then SIGTERM with clients still
connected. memcheck must report no error and no definitely/indirectly lost
block, and the hub must exit 0."""
import asyncio
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_events_hub import ADDR, OUT, Hub, check, failures, finish, log, recv_type  # noqa: E402
from test_events_slow import StuckClient  # noqa: E402

import websockets  # noqa: E402

if os.environ.get("SANITIZE") == "1":
    log("skipped under SANITIZE=1 (ASan and valgrind do not mix); the plain build runs it")
    sys.exit(0)
if not shutil.which("valgrind"):
    log("FAIL: valgrind is not installed")
    sys.exit(1)

# memcheck writes to a private file (copied to test/out/interop at the end)
VGLOG = os.path.join(tempfile.mkdtemp(prefix="strapto-vg-"), "events_valgrind.memcheck")
VG = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
      "--show-leak-kinds=definite,indirect", "--num-callers=30", "--log-file=" + VGLOG]


def raw_handshake(hub):
    s = socket.create_connection((ADDR, hub.port), timeout=20)
    s.sendall((f"GET {hub.path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return s, buf


async def main():
    hub = Hub("events_valgrind", "--client-queue", "16", prefix=VG, start_timeout=60)
    try:
        for i in range(20):
            hub.publish("early", {"i": i})
        async with websockets.connect(hub.url, max_queue=None, open_timeout=30) as a, \
                websockets.connect(hub.url, max_queue=None, open_timeout=30) as b:
            m = await recv_type(a, "replay", timeout=30)
            check(len(m["data"]["events"]) == 20, "replay of the 20 early events")
            await recv_type(b, "replay", timeout=30)
            for msg, want in [('{"type":"get_system_info"}', "system_info"),
                              ('{"type":"get_performance_metrics"}', "latency_trace"),
                              ("{bad json", "error"), (b"\x00bin", "error"),
                              (json.dumps({"type": "x", "data": "y" * 20000}), "error"),
                              ('{"type":"stt_start","data":{}}', None),
                              ('{"type":"consumer_input","data":{"text":"hi"}}', "consumer_input")]:
                await a.send(msg)
                if want:
                    await recv_type(a, want, timeout=30)
            check(True, "commands and bad input answered")
            s, head = raw_handshake(hub)
            s.sendall(b"\x81\x05hello")  # unmasked: protocol error
            s.settimeout(30)
            data = b""
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    data += d
            except OSError:
                pass
            check(b"\x88" in data, "unmasked frame: the hub closes the connection (close frame sent)")
            s.close()
            s, _ = raw_handshake(hub)
            s.close()  # abrupt
            for req in (f"POST {hub.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
                        f"POST {hub.path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + ("4000\r\n" + "x" * 0x4000 + "\r\n") * 8):
                s = socket.create_connection((ADDR, hub.port), timeout=30)
                try:
                    s.sendall(req.encode())
                    resp = s.recv(4096)
                except OSError:
                    resp = b""
                s.close()
                check(resp.startswith(b"HTTP/1.1 413"), f"oversized body: 413 ({resp[:20]})")
            stuck = StuckClient(hub)
            pad = "p" * 1000
            hub.feed("".join(json.dumps({"type": "tick", "data": {"i": i, "pad": pad}}) + "\n" for i in range(6000)))
            got = 0
            end = time.monotonic() + 240
            while got < 6000 and time.monotonic() < end:
                m = json.loads(await asyncio.wait_for(b.recv(), 60))
                if m["type"] == "tick":
                    got += 1
                elif m["type"] == "events_dropped":
                    got += m["data"]["missed"]
            check(got == 6000, "a reading client got the burst")
            time.sleep(1)
            stuck.close()
            hub.publish("bye", {})
            await recv_type(b, "bye", timeout=30)
        # two clients left connected at SIGTERM
        c1 = await websockets.connect(hub.url, open_timeout=30)
        c2 = await websockets.connect(hub.url, open_timeout=30)
        await recv_type(c1, "replay", timeout=30)
        await recv_type(c2, "replay", timeout=30)
    finally:
        rc = hub.stop(timeout=120)
    check(rc == 0, f"hub exits 0 under valgrind ({rc})")
    text = open(VGLOG).read()
    os.makedirs(os.path.join(OUT, "interop"), exist_ok=True)
    shutil.copy(VGLOG, os.path.join(OUT, "interop", "events_valgrind.memcheck"))
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
    ind = re.search(r"indirectly lost: ([\d,]+) bytes", text)
    log(m.group(0) if m else "no summary", "|", lost.group(0) if lost else "nothing definitely lost")
    check(m is not None and m.group(1) == "0", "memcheck reports no error")
    check(lost is None or lost.group(1) == "0", "nothing definitely lost")
    check(ind is None or ind.group(1) == "0", "nothing indirectly lost")


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 500))
    except Exception as e:  # noqa: BLE001
        log("FAIL: exception", repr(e))
        failures.append(repr(e))
    finish("test_events_valgrind")
