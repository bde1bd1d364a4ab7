#!/usr/bin/python3
"""bench/events_py.py — the Python baseline for bench/events: a websockets
(Debian python3-websockets 10.4) broadcast server doing the event hub's job
the way seed 002's Coda server does it: every JSON line on stdin
({"type","data"}) becomes an event {"type","data","timestamp"} (ISO 8601
UTC, compact JSON) broadcast to every client (websockets.broadcast); the
last 100 events are kept and sent to each new client first as one
{"type":"replay","data":{"events":[...]}}; clients' commands get_system_info
and get_performance_metrics are answered, others printed on stdout.

  events_py.py [--port 0] [--path /events]

Prints "listening on ws://127.0.0.1:PORT/PATH" on stderr.
"""
import argparse
import asyncio
import collections
import datetime
import json
import os
import sys
import time

import websockets

START = time.monotonic()


def iso_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(o):
    return json.dumps(o, separators=(",", ":"))


class Server:
    def __init__(self, path):
        self.path = path
        self.clients = set()
        self.replay = collections.deque(maxlen=100)

    def event(self, type_, data):
        ev = {"type": type_, "data": data, "timestamp": iso_now()}
        self.replay.append(ev)
        websockets.broadcast(self.clients, dumps(ev))

    async def handler(self, ws, path):
        if path.split("?")[0] != self.path:
            await ws.close(1008, "wrong path")
            return
        await ws.send(dumps({"type": "replay", "data": {"events": list(self.replay)}, "timestamp": iso_now()}))
        self.clients.add(ws)
        try:
            async for msg in ws:
                try:
                    cmd = json.loads(msg)
                    t = cmd["type"]
                except (ValueError, KeyError, TypeError):
                    await ws.send(dumps({"type": "error", "data": {"code": "invalid_message", "message": "bad"},
                                         "timestamp": iso_now()}))
                    continue
                if t == "get_system_info":
                    rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGESIZE")
                    await ws.send(dumps({"type": "system_info", "data": {
                        "version": "py", "uptime": time.monotonic() - START, "memory": rss,
                        "clients": len(self.clients)}, "timestamp": iso_now()}))
                elif t == "get_performance_metrics":
                    await ws.send(dumps({"type": "latency_trace", "data": {}, "timestamp": iso_now()}))
                else:
                    print(dumps({"type": t, "data": cmd.get("data"), "timestamp": iso_now()}), flush=True)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.clients.discard(ws)

    async def read_stdin(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                return
            try:
                m = json.loads(line)
                self.event(m["type"], m.get("data", {}))
            except (ValueError, KeyError, TypeError):
                continue


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--path", default="/events")
    a = ap.parse_args()
    srv = Server(a.path)
    async with websockets.serve(srv.handler, "127.0.0.1", a.port, max_size=16384, ping_interval=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}{a.path}", file=sys.stderr, flush=True)
        await srv.read_stdin()
        await asyncio.Future()  # keep serving after EOF, like strapto-cli events


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
