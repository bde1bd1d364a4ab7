"""strapto-cli serve, acceptance 3: 100 WebSocket clients and 10 WebRTC
clients all receive every event of a 10,000-event burst in order; a new
client gets the 100-event replay.

One server (--max-clients 200) with the test model; 10 aiortc clients (5
through POST /offer, 5 through POST /whep) and 100 WebSocket clients of
/events, all connected before the burst. One input makes the model print
10,000 typed lines ({"type":"line","n":N}) at once. Every client must get
n = 0..9999 exactly once and in order, and no events_dropped notice. Then a
new WebRTC client and a new WebSocket client connect: the first event each
gets is a "replay" of 100 events, oldest first, the model's lines in it
consecutive and ending with n = 9999.

STRAPTO_SERVE_WS_CLIENTS / STRAPTO_SERVE_RTC_CLIENTS change the numbers."""
import asyncio
import json
import os
import time

from test_serve_harness import (run_checks, RtcClient, Server, WsClient, describe_gaps, line_numbers, log,
                                out_dir, write_model, PY)

N = 10000
N_WS = int(os.environ.get("STRAPTO_SERVE_WS_CLIENTS", "100"))
N_RTC = int(os.environ.get("STRAPTO_SERVE_RTC_CLIENTS", "10"))


class LightWs(WsClient):
    """A WebSocket client that keeps the raw texts (parsed at the end), so
    100 of them in one process keep up."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.raw = []

    async def _read(self):
        try:
            async for m in self.ws:
                self.raw.append(m)
        except Exception as e:
            log(self.name, "closed:", repr(e)[:200])
        self.closed = True

    def parse(self):
        self.events = [json.loads(m) for m in self.raw]
        return self.events


def last_n(text):
    try:
        d = json.loads(text).get("data")
        return d.get("n") if isinstance(d, dict) else None
    except ValueError:
        return None


def check_replay(c, name, events):
    c.require(events and events[0].get("type") == "replay", f"{name}: the first event is the replay")
    rep = events[0]["data"].get("events", [])
    nums = line_numbers(rep)
    ok = (len(rep) == 100 and all(set(e) >= {"type", "data", "timestamp"} for e in rep) and nums
          and nums == list(range(nums[0], nums[0] + len(nums))) and nums[-1] == N - 1
          and [e["timestamp"] for e in rep] == sorted(e["timestamp"] for e in rep))
    c.check(ok, f"{name}: replay of {len(rep)} events, oldest first, lines {nums[:1]}..{nums[-1:]} "
                f"({len(rep) - len(nums)} other events)")


async def run(c):
    folder = out_dir("serve_burst")
    echo = os.path.join(folder, "echo.jsonl")
    srv = Server("burst", args=["--max-clients", str(N_WS + N_RTC + 10)],
                 model=[PY, write_model(folder), echo, str(N)])
    rtcs = [RtcClient(srv.base, f"rtc{i}", whep=i % 2 == 1) for i in range(N_RTC)]
    wss = [LightWs(srv.base, f"ws{i}") for i in range(N_WS)]
    try:
        t0 = time.monotonic()
        await asyncio.gather(*(r.connect(timeout=20) for r in rtcs))
        for i in range(0, N_WS, 20):
            await asyncio.gather(*(w.connect() for w in wss[i:i + 20]))
        log(f"{N_RTC} WebRTC + {N_WS} WebSocket clients connected in {time.monotonic() - t0:.1f} s")
        await asyncio.sleep(0.5)
        st = srv.status()
        c.check(st["clients"]["websocket"] == N_WS and st["clients"]["webrtc"] == N_RTC, f"/status {st['clients']}")
        for w in wss:
            w.raw.clear()
        base = [len(r.events) for r in rtcs]

        t0 = time.monotonic()
        rtcs[0].send("consumer_input", {"text": "start-json"})
        deadline = time.monotonic() + 120
        while True:
            done_rtc = sum(1 for r in rtcs if r.lines and r.lines[-1] == N - 1)
            done_ws = sum(1 for w in wss if w.raw and last_n(w.raw[-1]) == N - 1)
            if done_rtc == N_RTC and done_ws == N_WS:
                break
            if time.monotonic() > deadline:
                log(f"timeout: {done_rtc}/{N_RTC} WebRTC and {done_ws}/{N_WS} WebSocket clients complete")
                break
            await asyncio.sleep(0.1)
        dt = time.monotonic() - t0
        log(f"burst of {N} events to {N_RTC + N_WS} clients in {dt:.2f} s "
            f"({N * (N_RTC + N_WS) / dt:.0f} deliveries/s)")
        bad = 0
        for r, b in zip(rtcs, base):
            nums = r.lines[-N:] if len(r.lines) >= N else r.lines
            evs = r.events[b:]
            drops = [e for e in evs if e.get("type") == "events_dropped"]
            if nums != list(range(N)) or drops:
                bad += 1
                c.check(False, f"{r.name}: {describe_gaps(nums, N)}; {len(drops)} events_dropped")
        c.check(bad == 0, f"all {N_RTC} WebRTC clients got 0..{N - 1} exactly once, in order, nothing dropped")
        bad = 0
        for w in wss:
            evs = w.parse()
            nums = line_numbers(evs)
            drops = [e for e in evs if e.get("type") == "events_dropped"]
            if nums != list(range(N)) or drops:
                bad += 1
                if bad <= 5:
                    c.check(False, f"{w.name}: {describe_gaps(nums, N)}; {len(drops)} events_dropped")
        c.check(bad == 0, f"all {N_WS} WebSocket clients got 0..{N - 1} exactly once, in order ({bad} did not)")
        st = srv.status()
        c.check(st["dropped"] == 0, f"/status: nothing dropped ({st['dropped']})")

        # newcomers get the replay
        late_rtc = RtcClient(srv.base, "late-rtc")
        late_ws = WsClient(srv.base, "late-ws")
        await late_rtc.connect()
        await late_ws.connect()
        await late_ws.wait_for(lambda x: len(x.events) >= 1, 5, "the replay")
        check_replay(c, "late-rtc", late_rtc.events)
        check_replay(c, "late-ws", late_ws.events)
        await late_rtc.close()
        await late_ws.close()
    finally:
        await asyncio.gather(*(r.close() for r in rtcs), return_exceptions=True)
        await asyncio.gather(*(w.close() for w in wss), return_exceptions=True)
        rc = srv.stop()
        c.check(rc == 0, f"server exit status {rc}")
        if c.failed:
            srv.print_log_tail(40)


def main():
    run_checks("burst", run, 300)


if __name__ == "__main__":
    main()
