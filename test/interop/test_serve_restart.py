"""strapto-cli serve, acceptance 4: the model crashing is reported and it is
restarted (--restart on-failure, with backoff); the clients stay connected
and keep receiving.

Server 1 (--restart on-failure), one aiortc client (POST /offer) and one
WebSocket client (/events). The test model prints 300 numbered lines per
"start" input and exits with status 1 at line 300 (CRASH_AFTER):
  run 1: "start" -> lines 0..299, then server_status {"model":"exited",
         "status":1,"restart_in_s":0.5} after the last line, then
         {"model":"running","restarts":1} with a new pid about 0.5 s later;
  run 2: the same, with restart_in_s 1.0 (backoff doubles);
  run 3: the model is killed with SIGKILL -> {"model":"exited","signal":9},
         restarted.
Both clients see every line of every run in order and stay connected;
/status reports 3 restarts and the last exit; /metrics counts the restarts.
Server 2 (--restart never): after the crash /status says "exited", no
restart comes, and an input then gets an "error" event (model_busy) while
the client stays connected."""
import asyncio
import os
import signal
import time

from test_serve_harness import (run_checks, RtcClient, Server, WsClient, ahttp, describe_gaps, line_numbers,
                                log, out_dir, write_model, PY)

CRASH = 300


def statuses(cl, model_state):
    return [e["data"] for e in cl.of_type("server_status") if e["data"].get("model") == model_state]


async def crash_run(c, srv, clients, run, trigger_from, expect_exit, kill_pid=None):
    """One run: trigger (or kill), wait for exit + restart on every client."""
    exits0 = [len(statuses(cl, "exited")) for cl in clients]
    runs0 = [len(statuses(cl, "running")) for cl in clients]
    lines0 = [len(line_numbers(cl.events)) for cl in clients]
    t0 = time.monotonic()
    if kill_pid:
        os.kill(kill_pid, signal.SIGKILL)
    elif isinstance(trigger_from, WsClient):
        await trigger_from.send("consumer_input", {"text": "start"})
    else:
        trigger_from.send("consumer_input", {"text": "start"})
    for i, cl in enumerate(clients):
        await cl.wait_for(lambda x, i=i: len(statuses(x, "running")) > runs0[i], 10, f"run {run}: the restart")
    dt = time.monotonic() - t0
    for i, cl in enumerate(clients):
        ex = statuses(cl, "exited")[exits0[i]:]
        ok = len(ex) == 1 and all(ex[0].get(k) == v for k, v in expect_exit.items())
        c.check(ok, f"run {run}: {cl.name} got server_status exited {ex}")
        rs = statuses(cl, "running")[runs0[i]:]
        c.check(len(rs) == 1 and rs[0].get("restarts") == run, f"run {run}: {cl.name} got running {rs}")
        if not kill_pid:
            nums = line_numbers(cl.events)[lines0[i]:]
            c.check(nums == list(range(CRASH)), f"run {run}: {cl.name} got lines 0..{CRASH - 1}: "
                                                 f"{describe_gaps(nums, CRASH)}")
            # the exit is reported after the last line
            idx_exit = max(k for k, e in enumerate(cl.events) if e.get("type") == "server_status"
                           and e["data"].get("model") == "exited")
            idx_last = max(k for k, e in enumerate(cl.events) if e.get("type") == "model_output"
                           and e["data"].get("text") == f"line {CRASH - 1}")
            c.check(idx_last < idx_exit, f"run {run}: {cl.name}: the exit event comes after the last line")
    log(f"run {run}: exit reported and model restarted {dt:.2f} s after the trigger")
    return dt


async def on_failure(c, folder):
    echo = os.path.join(folder, "echo1.jsonl")
    srv = Server("restart", args=["--restart", "on-failure"],
                 model=[PY, write_model(folder), echo, "100000", str(CRASH)])
    rtc = RtcClient(srv.base, "rtc-client")
    ws = WsClient(srv.base, "ws-client")
    try:
        await rtc.connect()
        await ws.connect()
        await ws.wait_for(lambda x: len(x.events) >= 1, 5, "the replay")
        pid0 = srv.status()["model"]["pid"]
        dt1 = await crash_run(c, srv, [rtc, ws], 1, rtc, {"status": 1, "restart_in_s": 0.5})
        c.check(0.4 < dt1 < 3, f"run 1: restart after the 0.5 s backoff ({dt1:.2f} s)")
        st = srv.status()
        pid1 = st["model"]["pid"]
        c.check(st["model"]["state"] == "running" and pid1 and pid1 != pid0,
                f"/status: running again with a new pid ({pid0} -> {pid1})")
        dt2 = await crash_run(c, srv, [rtc, ws], 2, ws, {"status": 1, "restart_in_s": 1.0})
        c.check(0.9 < dt2 < 4, f"run 2: restart after the doubled 1 s backoff ({dt2:.2f} s)")
        pid2 = srv.status()["model"]["pid"]
        await crash_run(c, srv, [rtc, ws], 3, None, {"signal": 9, "restart_in_s": 2.0}, kill_pid=pid2)
        st = srv.status()
        c.check(st["model"]["restarts"] == 3 and st["model"]["last_exit"] == {"signal": 9},
                f"/status: 3 restarts, last exit by signal 9 ({st['model']})")
        code, _, body = await ahttp("GET", srv.base + "/metrics")
        c.check(code == 200 and b"strapto_model_restarts_total 3" in body and b"strapto_model_up 1" in body,
                "/metrics: strapto_model_restarts_total 3, strapto_model_up 1")
        # still connected and receiving
        c.check(rtc.ch.readyState == "open" and rtc.pc.connectionState == "connected",
                f"the WebRTC client stayed connected ({rtc.pc.connectionState})")
        c.check(not ws.closed, "the WebSocket client stayed connected")
        n0 = [len(x.lines) for x in (rtc, ws)]
        rtc.send("consumer_input", {"text": "start"})
        for i, x in enumerate((rtc, ws)):
            await x.wait_for(lambda y, i=i: len(y.lines) >= n0[i] + CRASH, 10, "run 4's lines")
        c.check(True, "both clients receive the restarted model's output")
        c.check(not rtc.of_type("events_dropped") and not ws.of_type("events_dropped"), "nothing dropped")
    finally:
        await rtc.close()
        await ws.close()
        rc = srv.stop()
        c.check(rc == 0, f"server 1 exit status {rc}")
        if c.failed:
            srv.print_log_tail(60)


async def never(c, folder):
    echo = os.path.join(folder, "echo2.jsonl")
    srv = Server("restart-never", args=["--restart", "never"],
                 model=[PY, write_model(folder), echo, "100000", str(CRASH)])
    rtc = RtcClient(srv.base, "rtc-never")
    try:
        await rtc.connect()
        rtc.send("consumer_input", {"text": "start"})
        await rtc.wait_for(lambda x: statuses(x, "exited"), 10, "the exit")
        ex = statuses(rtc, "exited")
        c.check(len(ex) == 1 and ex[0].get("status") == 1 and "restart_in_s" not in ex[0],
                f"--restart never: exited without a restart ({ex})")
        await asyncio.sleep(1.0)
        st = srv.status()
        c.check(st["model"]["state"] == "exited" and st["model"]["pid"] is None and len(statuses(rtc, "running")) == 0,
                f"/status: exited, no restart ({st['model']})")
        rtc.send("consumer_input", {"text": "anyone there?"})
        await rtc.wait_for(lambda x: any(e["data"].get("code") == "model_busy" for e in x.of_type("error")), 5,
                           "an error event for input to a stopped model")
        c.check(True, "input to the stopped model -> error event model_busy")
        c.check(rtc.pc.connectionState == "connected", "the client stays connected")
    finally:
        await rtc.close()
        rc = srv.stop()
        c.check(rc == 0, f"server 2 exit status {rc}")
        if c.failed:
            srv.print_log_tail(40)


async def run(c):
    folder = out_dir("serve_restart")
    await on_failure(c, folder)
    await never(c, folder)


def main():
    run_checks("restart", run, 120)


if __name__ == "__main__":
    main()
