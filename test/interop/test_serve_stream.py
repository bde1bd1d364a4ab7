"""strapto-cli serve, acceptance 2: an aiortc client through POST /offer and a
second through POST /whep each receive all 5,000 lines of a test model in
order, nothing lost; inputs from both reach the model.

The test model (test_serve_harness.MODEL_SOURCE) appends every stdin line to
an echo file and prints 5,000 numbered plain-text lines ("line N", wrapped by
the server as {"text": "line N"}) when an input's text is "start"; then as
many typed lines ({"type":"line","n":N}, passed through as the event's data)
on "start-json". Both clients send an input of their own, one of them the
triggers. Checks: every client got 0..4999 twice (plain, then typed), in
order, exactly once; the echo file holds the inputs of both clients as JSON
lines (--input-format json: the data object); /whep answered 201 with a
Location, DELETE on it answers 200 and the client's connection ends, a second
DELETE and an unknown id answer 404; /status counts what happened."""
import asyncio
import json
import os
import time

from test_serve_harness import (run_checks, RtcClient, Server, ahttp, describe_gaps, line_numbers, log,
                                out_dir, read_echo, write_model, PY)

N = 5000


async def run(c):
    folder = out_dir("serve_stream")
    echo = os.path.join(folder, "echo.jsonl")
    if os.path.exists(echo):
        os.unlink(echo)
    model = write_model(folder)
    srv = Server("stream", model=[PY, model, echo, str(N)])
    a = RtcClient(srv.base, "offer-client")
    b = RtcClient(srv.base, "whep-client", whep=True)
    try:
        await asyncio.gather(a.connect(), b.connect())
        c.check(b.location and b.location.startswith("/whep/") and len(b.location) > 10,
                f"/whep: 201 with Location {b.location}")
        c.check(a.session_id and len(a.session_id) == 32, "/offer: the answer carries an id")
        st = srv.status()
        c.check(st["clients"]["webrtc"] == 2, f"/status: 2 WebRTC clients ({st['clients']})")

        a.send("consumer_input", {"text": "from the offer client", "n": 1})
        b.send("consumer_input", {"text": "from the WHEP client ✓", "n": 2})
        got = await read_echo(echo, 2, 5)
        c.check(sorted(x.get("n") for x in got) == [1, 2] and all(type(x.get("n")) is int for x in got) and
                {x["text"] for x in got} == {"from the offer client", "from the WHEP client ✓"},
                f"inputs of both clients reached the model's stdin as JSON lines: {got}")

        t0 = time.monotonic()
        a.send("consumer_input", {"text": "start"})
        await asyncio.gather(*(cl.wait_for(lambda x: len(x.lines) >= N, 60, f"{N} lines")
                               for cl in (a, b)))
        dt = time.monotonic() - t0
        for cl in (a, b):
            nums = line_numbers(cl.events)
            c.check(nums == list(range(N)), f"{cl.name}: {N} plain lines, {describe_gaps(nums, N)}")
        log(f"{N} lines to both clients in {dt:.2f} s ({N / dt:.0f} lines/s)")

        t0 = time.monotonic()
        b.send("consumer_input", {"text": "start-json"})
        await asyncio.gather(*(cl.wait_for(lambda x: len(x.lines) >= 2 * N, 60, f"{N} typed lines")
                               for cl in (a, b)))
        dt = time.monotonic() - t0
        log(f"{N} typed lines to both clients in {dt:.2f} s ({N / dt:.0f} lines/s)")
        for cl in (a, b):
            typed = [e["data"] for e in cl.events if e.get("type") == "model_output"
                     and isinstance(e.get("data"), dict) and e["data"].get("type") == "line"]
            c.check([d["n"] for d in typed] == list(range(N)) and all(set(d) == {"type", "n"} for d in typed),
                    f"{cl.name}: {N} typed lines passed through as the event data, in order")
            drops = cl.of_type("events_dropped")
            c.check(not drops, f"{cl.name}: no events_dropped notice ({drops[:1]})")
        got = await read_echo(echo, 4, 5)
        c.check([x.get("text") for x in got[2:]] == ["start", "start-json"], "the triggers reached the model too")

        # WHEP teardown
        code, _, body = await ahttp("DELETE", srv.base + b.location)
        c.check(code == 200, f"DELETE {b.location} -> {code}")
        try:
            await asyncio.wait_for(b.closed.wait(), 10)
            c.check(True, "the WHEP client's connection ended after DELETE")
        except asyncio.TimeoutError:
            c.check(False, f"the WHEP client's connection still {b.pc.connectionState} 10 s after DELETE")
        code, _, _ = await ahttp("DELETE", srv.base + b.location)
        c.check(code == 404, f"a second DELETE -> {code}")
        code, _, body = await ahttp("DELETE", srv.base + "/whep/0123456789abcdef0123456789abcdef")
        c.check(code == 404 and json.loads(body).get("error", {}).get("code") == "not_found",
                f"DELETE of an unknown session -> {code} {body[:80]!r}")
        for _ in range(50):
            st = srv.status()
            if st["clients"]["webrtc"] == 1:
                break
            await asyncio.sleep(0.1)
        c.check(st["clients"]["webrtc"] == 1, f"/status: 1 WebRTC client left ({st['clients']})")
        c.check(st["events"]["by_type"].get("model_output", 0) >= 2 * N + 1,
                f"/status counts model_output events ({st['events']['by_type']})")
        c.check(st["model"]["inputs"] == 4, f"/status: 4 inputs written to the model ({st['model']['inputs']})")
        c.check(st["dropped"] == 0, f"/status: nothing dropped ({st['dropped']})")
        await a.close()
        await b.close()
        rc = srv.stop()
        c.check(rc == 0, f"server exit status {rc} after SIGTERM")
    finally:
        await a.close()
        await b.close()
        srv.kill()
        if c.failed:
            srv.print_log_tail()


def main():
    run_checks("stream", run, 150)


if __name__ == "__main__":
    main()
