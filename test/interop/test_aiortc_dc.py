"""Interop: libstrapto data channels against aiortc (Debian python3-aiortc 1.4),
both ways round.

 (a) strapto-cli --offer --echo (trickle ICE) with a negotiated channel 'neg'
     (id 3) and an in-band 'lossy' (unordered, max-retransmits 0); aiortc
     answers, receives trickled candidates with addIceCandidate, checks the
     parameters of the channels strapto opened ('strapto', 'lossy'), creates
     'neg' (id 3) itself and opens 'from-aiortc'.
 (b) aiortc offers 'from-aiortc', 'neg' (negotiated, id 3) and
     'lossy-aiortc' (unordered, max-retransmits 0); strapto-cli --answer
     --echo --no-trickle with 'neg,id=3'. The CLI log must report the
     parameters of the channels aiortc opened.
In each direction aiortc sends 1000 messages over the reliable channels
(str and bytes, empty to 65536 bytes, non-ASCII text; interleaved across the
channels, respecting bufferedAmount) plus a handful on the lossy channel; every
echo must come back byte-exact with the same type, in order on the reliable
ones. Then aiortc closes the connection; strapto-cli must exit 0 and its
summary must count what it echoed.

aiortc_patch.py pins aiortc to the test's address and fixes four bugs of
aiortc 1.4's SCTP (reassembly, FORWARD-TSN pruning, flight size after T3,
lost FORWARD-TSN never resent); each fix is checked against the stock code
first (self tests in __main__).

Run: STRAPTO_CLI=build/strapto-cli /usr/bin/python3 test/interop/test_aiortc_dc.py
Env: STRAPTO_ICE_ADDRESSES (first address is used), STRAPTO_TEST_SEED (replay
a message set), STRAPTO_TEST_OUT (log folder, default test/out),
STRAPTO_TEST_LOG_LEVEL (strapto-cli --log-level, default info)."""
import asyncio
import logging
import os
import sys
import time

import aiortc_patch

ADDRS = aiortc_patch.apply([a for a in os.environ.get("STRAPTO_ICE_ADDRESSES", "127.0.0.1").split(",") if a][:1])

from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402

import harness  # noqa: E402
from harness import log  # noqa: E402
from aiortc_peer import (ANY_ORDER, ORDERED_CHECK, AsyncStrapto, EchoChecker, ice_candidate,  # noqa: E402
                         interleave, make_messages, new_rng, random_str, remote_channels_in_log,
                         send_messages, sctp_state, wait_until, wire_len)

ADDR = ADDRS[0]
OUT = os.environ.get("STRAPTO_TEST_OUT", os.path.join(harness.ROOT, "test", "out"))
N_RELIABLE = 1000
LOG_LEVEL = os.environ.get("STRAPTO_TEST_LOG_LEVEL", "info")
TOTAL_TIMEOUT = 55
DIRECTION_TIMEOUT = 25
EXCHANGE_TIMEOUT = 12


class Failed(Exception):
    pass


class Checks:
    def __init__(self, tag):
        self.tag = tag
        self.failed = []

    def check(self, cond, what):
        if cond:
            log(f"ok [{self.tag}]:", what)
        else:
            log(f"FAIL [{self.tag}]:", what)
            self.failed.append(what)
        return cond

    def require(self, cond, what):
        if not self.check(cond, what):
            raise Failed(what)


def lossy_messages(rng):
    """A handful for the unordered max-retransmits=0 channel; two of them span
    several SCTP chunks."""
    return ["", b"", "x", b"\x01", "ünïcødé ✓", rng.randbytes(100), random_str(rng, 1000),
            rng.randbytes(1199), rng.randbytes(3000), random_str(rng, 5000)]


def check_props(c, ch, label, ordered, max_rtx, max_plt, negotiated=False):
    c.check(ch.label == label and ch.ordered is ordered and ch.maxRetransmits == max_rtx
            and ch.maxPacketLifeTime == max_plt and ch.protocol == "" and ch.negotiated is negotiated,
            f"aiortc sees channel '{ch.label}' id {ch.id}: ordered={ch.ordered} maxRetransmits={ch.maxRetransmits} "
            f"maxPacketLifeTime={ch.maxPacketLifeTime} protocol={ch.protocol!r} negotiated={ch.negotiated} "
            f"(want ordered={ordered} maxRetransmits={max_rtx} maxPacketLifeTime={max_plt})")


async def exchange(c, tag, rng, pc, checker, reliable, lossy):
    """Send N_RELIABLE messages spread over `reliable` channels (interleaved)
    and a handful on `lossy`, then wait for every reliable echo."""
    per = []
    n = len(reliable)
    for i, ch in enumerate(reliable):
        per.append((ch, make_messages(rng, N_RELIABLE // n + (1 if i < N_RELIABLE % n else 0))))
    lossy_msgs = lossy_messages(rng)
    plan = interleave(rng, per)
    # the lossy messages go out while the reliable channels are busy
    step = max(1, len(plan) // (len(lossy_msgs) + 1))
    for i, m in enumerate(lossy_msgs):
        plan.insert((i + 1) * step + i, (lossy, m))
    total = sum(len(msgs) for _, msgs in per)
    total_bytes = sum(wire_len(m) for _, msgs in per for m in msgs)
    n_str = sum(isinstance(m, str) for _, msgs in per for m in msgs)
    log(f"[{tag}] sending {total} reliable messages ({n_str} str, {total - n_str} bytes; {total_bytes} bytes) over "
        f"{', '.join(ch.label for ch in reliable)} + {len(lossy_msgs)} on {lossy.label}")
    t0 = time.monotonic()
    sent_task = asyncio.ensure_future(send_messages(checker, plan, timeout=DIRECTION_TIMEOUT))
    last_report = 0
    try:
        while not (sent_task.done() and checker.all_ordered_done()):
            await asyncio.sleep(0.05)
            if sent_task.done() and sent_task.exception():
                raise sent_task.exception()
            if checker.errors:
                break
            done = sum(checker.received[ch.label] for ch in reliable)
            if done - last_report >= 250:
                last_report = done
                log(f"[{tag}] {done}/{total} echoes back")
            if time.monotonic() - t0 > EXCHANGE_TIMEOUT:
                missing = {ch.label: checker.outstanding(ch.label) for ch in reliable}
                c.check(False, f"all echoes back within {EXCHANGE_TIMEOUT} s; still missing: {missing}; "
                        f"sent {dict(checker.sent)}, all sent: {sent_task.done()}")
                log(f"[{tag}] aiortc SCTP state:\n    {sctp_state(pc)}")
                break
    finally:
        if not sent_task.done():
            sent_task.cancel()
    dt = time.monotonic() - t0
    # give the lossy echoes a moment to straggle in
    deadline = time.monotonic() + 1.0
    while checker.received[lossy.label] < len(lossy_msgs) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    c.check(not checker.errors, f"every reliable echo byte-exact, same type, in order ({len(checker.errors)} errors)")
    for ch in reliable:
        c.check(checker.received[ch.label] == checker.sent[ch.label] and checker.outstanding(ch.label) == 0,
                f"{ch.label}: {checker.received[ch.label]}/{checker.sent[ch.label]} echoes "
                f"({checker.sent_bytes[ch.label]} bytes)")
    log(f"[{tag}] {total} reliable messages echoed in {dt:.2f} s "
        f"({2 * total_bytes / dt / 1e6:.1f} MB/s both ways); lossy: {checker.received[lossy.label]}/"
        f"{len(lossy_msgs)} came back")
    # what was actually handed to aiortc (less than planned if sending stalled)
    return (sum(checker.sent[ch.label] for ch in reliable), sum(checker.sent_bytes[ch.label] for ch in reliable),
            checker.sent[lossy.label], checker.sent_bytes[lossy.label])


async def finish(c, tag, sp, pc, checker, n_rel, bytes_rel, n_lossy, bytes_lossy):
    """aiortc closes; strapto-cli must exit 0 with a matching summary."""
    log(f"[{tag}] aiortc closes the connection")
    await asyncio.wait_for(pc.close(), 5)
    rc = await sp.wait_exit(10)
    c.check(rc == 0, f"strapto-cli exit status {rc} after aiortc closed (want 0)")
    s = sp.peer.summary()
    if not c.check(s is not None, f"strapto-cli summary: {s}"):
        return
    total = n_rel + n_lossy
    c.check(s.get("failed") is False, "summary failed=false")
    c.check(s.get("echoed") == s.get("messages_received"),
            f"echoed {s.get('echoed')} == messages_received {s.get('messages_received')} (no echo dropped)")
    lossy_back = checker.received[[lbl for lbl, m in checker.mode.items() if m == ANY_ORDER][0]]
    c.check(n_rel + lossy_back <= s.get("echoed", -1) <= total,
            f"echoed {s.get('echoed')}: aiortc sent {n_rel} reliable + {n_lossy} lossy, "
            f"{lossy_back} lossy came back")
    if s.get("messages_received") == total:
        c.check(s.get("bytes_received") == bytes_rel + bytes_lossy,
                f"bytes_received {s.get('bytes_received')} == {bytes_rel + bytes_lossy} sent")
    else:
        log(f"[{tag}] note: {total - s.get('messages_received', 0)} lossy messages did not reach strapto")
    text = sp.log_text()
    c.check("echo failed" not in text, "no 'echo failed' in the strapto-cli log")


async def direction_a(c):
    """strapto offers (trickle), aiortc answers."""
    tag = c.tag
    rng = new_rng(tag)
    sp = AsyncStrapto(["--offer", "--echo", "--channel", "neg,id=3", "--channel", "lossy,unordered,max-retransmits=0",
                       "--local-address", ADDR, "--log-level", LOG_LEVEL],
                      "strapto(offer)", os.path.join(OUT, "aiortc_dc_a.strapto.log"))
    pc = RTCPeerConnection()
    checker = EchoChecker()
    remote = {}
    try:
        @pc.on("datachannel")
        def on_datachannel(ch):
            log(f"[{tag}] strapto opened '{ch.label}' id {ch.id}")
            remote[ch.label] = ch
            checker.add_channel(ch, ANY_ORDER if ch.label == "lossy" else ORDERED_CHECK)

        offer = await sp.recv(10)
        c.require(offer.get("type") == "offer", f"strapto sent an offer first (got {offer.get('type')})")
        # strapto gathers on loopback before it writes the offer, so the offer
        # already lists its candidates (and a=end-of-candidates) and the same
        # ones trickle after it. Take them out of the SDP, so aiortc learns
        # them only from the trickled lines, through addIceCandidate.
        lines = offer["sdp"].split("\r\n")
        kept = [ln for ln in lines if not ln.startswith(("a=candidate:", "a=end-of-candidates"))]
        log(f"[{tag}] offer carries {len(lines) - len(kept)} candidate/end-of-candidates lines; "
            f"aiortc gets only the trickled ones")
        await pc.setRemoteDescription(RTCSessionDescription("\r\n".join(kept), "offer"))
        ice = pc.sctp.transport.transport
        n_cands = [0, False]

        async def pump():  # trickled candidates -> aiortc
            while True:
                m = await sp.queue.get()
                if m["type"] == "candidate":
                    await pc.addIceCandidate(ice_candidate(m))
                    n_cands[0] += 1
                elif m["type"] == "end-of-candidates":
                    await ice.addRemoteCandidate(None)  # aiortc 1.4 has no public API for it
                    n_cands[1] = True
                else:
                    log(f"[{tag}] unexpected signaling from strapto: {m.get('type')}")

        pump_task = asyncio.ensure_future(pump())
        neg = pc.createDataChannel("neg", negotiated=True, id=3)
        mine = pc.createDataChannel("from-aiortc")
        checker.add_channel(neg, ORDERED_CHECK)
        checker.add_channel(mine, ORDERED_CHECK)
        await pc.setLocalDescription(await pc.createAnswer())
        c.check("a=candidate" in pc.localDescription.sdp, "aiortc's answer carries its candidates")
        sp.send({"type": "answer", "sdp": pc.localDescription.sdp})
        t0 = time.monotonic()
        await wait_until(lambda: "strapto" in remote and "lossy" in remote and neg.readyState == "open"
                         and mine.readyState == "open", 10,
                         lambda: f"channels not open: remote={sorted(remote)} neg={neg.readyState} "
                         f"from-aiortc={mine.readyState}; aiortc ICE {pc.iceConnectionState}, "
                         f"SCTP {sctp_state(pc)}")
        log(f"[{tag}] all channels open {time.monotonic() - t0:.2f} s after the answer; "
            f"{n_cands[0]} trickled candidates, end-of-candidates {n_cands[1]}")
        c.check(n_cands[0] >= 1 and n_cands[1] and len(ice.getRemoteCandidates()) >= 1,
                f"strapto trickled {n_cands[0]} candidates and end-of-candidates; aiortc took "
                f"{len(ice.getRemoteCandidates())} remote candidates from addIceCandidate")
        c.check(pc.connectionState == "connected", f"aiortc connectionState {pc.connectionState}")
        check_props(c, remote["strapto"], "strapto", True, None, None)
        check_props(c, remote["lossy"], "lossy", False, 0, None)
        check_props(c, neg, "neg", True, None, None, negotiated=True)
        ids = {lbl: ch.id for lbl, ch in remote.items()}
        c.check(neg.id == 3 and all(i % 2 == 1 and i != 3 for i in ids.values()) and len(set(ids.values())) == 2,
                f"strapto (DTLS server) picked odd in-band ids avoiding negotiated 3: {ids}")
        try:  # the CLI logs the remote-opened channel on its loop thread
            await wait_until(lambda: "from-aiortc" in remote_channels_in_log(sp.log_text()), 3, "log line")
        except asyncio.TimeoutError:
            pass
        seen = remote_channels_in_log(sp.log_text())
        c.check(seen.get("from-aiortc") == (mine.id, 1, -1, -1),
                f"strapto-cli reports aiortc's 'from-aiortc' (id {mine.id}, ordered, reliable): {seen}")

        n_rel, b_rel, n_lossy, b_lossy = await exchange(c, tag, rng, pc, checker, [remote["strapto"], neg, mine],
                                                        remote["lossy"])
        pump_task.cancel()
        await finish(c, tag, sp, pc, checker, n_rel, b_rel, n_lossy, b_lossy)
    finally:
        await pc.close()
        sp.kill()


async def direction_b(c):
    """aiortc offers (complete SDP), strapto answers with --no-trickle."""
    tag = c.tag
    rng = new_rng(tag)
    sp = AsyncStrapto(["--answer", "--echo", "--no-trickle", "--channel", "neg,id=3", "--local-address", ADDR,
                       "--log-level", LOG_LEVEL], "strapto(answer)", os.path.join(OUT, "aiortc_dc_b.strapto.log"))
    pc = RTCPeerConnection()
    checker = EchoChecker()
    try:
        mine = pc.createDataChannel("from-aiortc")
        neg = pc.createDataChannel("neg", negotiated=True, id=3)
        lossy = pc.createDataChannel("lossy-aiortc", ordered=False, maxRetransmits=0)
        checker.add_channel(mine, ORDERED_CHECK)
        checker.add_channel(neg, ORDERED_CHECK)
        checker.add_channel(lossy, ANY_ORDER)
        await pc.setLocalDescription(await pc.createOffer())
        c.check("a=candidate" in pc.localDescription.sdp, "aiortc's offer carries its candidates")
        sp.send({"type": "offer", "sdp": pc.localDescription.sdp})
        ans = await sp.recv(10)
        c.require(ans.get("type") == "answer", f"strapto answered (got {ans.get('type')})")
        c.check("a=candidate" in ans["sdp"], "--no-trickle answer carries strapto's candidates")
        t0 = time.monotonic()
        await pc.setRemoteDescription(RTCSessionDescription(ans["sdp"], "answer"))
        await wait_until(lambda: mine.readyState == "open" and neg.readyState == "open" and lossy.readyState == "open",
                         10, lambda: f"channels not open: from-aiortc={mine.readyState} neg={neg.readyState} "
                         f"lossy-aiortc={lossy.readyState}; aiortc ICE {pc.iceConnectionState}, SCTP {sctp_state(pc)}")
        log(f"[{tag}] all channels open {time.monotonic() - t0:.2f} s after the answer")
        extra = []
        while not sp.queue.empty():
            extra.append(sp.queue.get_nowait().get("type"))
        c.check(not extra, f"no trickled signaling with --no-trickle ({extra})")
        check_props(c, lossy, "lossy-aiortc", False, 0, None)
        check_props(c, neg, "neg", True, None, None, negotiated=True)
        c.check(mine.id % 2 == 1 and lossy.id % 2 == 1 and neg.id == 3 and len({mine.id, lossy.id, neg.id}) == 3,
                f"aiortc (DTLS server) ids: from-aiortc {mine.id}, lossy-aiortc {lossy.id}, neg {neg.id}")
        try:
            await wait_until(lambda: len(remote_channels_in_log(sp.log_text())) >= 2, 3, "strapto-cli log lines")
        except asyncio.TimeoutError:
            pass
        seen = remote_channels_in_log(sp.log_text())
        c.check(seen.get("from-aiortc") == (mine.id, 1, -1, -1),
                f"strapto-cli reports 'from-aiortc' as id {mine.id}, ordered, reliable: {seen.get('from-aiortc')}")
        c.check(seen.get("lossy-aiortc") == (lossy.id, 0, 0, -1),
                f"strapto-cli reports 'lossy-aiortc' as id {lossy.id}, unordered, max-retransmits 0: "
                f"{seen.get('lossy-aiortc')}")
        c.check("neg" not in seen, "the negotiated channel was not announced in-band")

        n_rel, b_rel, n_lossy, b_lossy = await exchange(c, tag, rng, pc, checker, [mine, neg], lossy)
        await finish(c, tag, sp, pc, checker, n_rel, b_rel, n_lossy, b_lossy)
    finally:
        await pc.close()
        sp.kill()


async def run_direction(name, fn):
    c = Checks(name)
    sp_logs = {"a": "aiortc_dc_a.strapto.log", "b": "aiortc_dc_b.strapto.log"}
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(fn(c), DIRECTION_TIMEOUT)
    except Failed:
        pass
    except asyncio.TimeoutError as e:
        c.failed.append(f"timeout: {e}")
        log(f"FAIL [{name}]: timeout {e}")
    except Exception as e:  # noqa: BLE001
        c.failed.append(f"{type(e).__name__}: {e}")
        log(f"FAIL [{name}]: {type(e).__name__}: {e}")
        import traceback
        traceback.print_exc()
    log(f"[{name}] finished in {time.monotonic() - t0:.2f} s: {'PASS' if not c.failed else 'FAIL'}")
    if c.failed:
        path = os.path.join(OUT, sp_logs[name])
        try:
            lines = open(path, "rb").read().decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        print(f"---- last {min(60, len(lines))} lines of {path}", file=sys.stderr)
        for line in lines[-60:]:
            print("   ", line, file=sys.stderr)
    return c.failed


async def main():
    loop = asyncio.get_running_loop()
    loop_errors = []

    def on_loop_error(loop, ctx):
        # exceptions in aiortc's own tasks (e.g. an assertion on a DCEP
        # message) would otherwise only be printed at exit
        loop_errors.append(ctx.get("message", "") + " " + repr(ctx.get("exception")))
        log("asyncio error:", ctx.get("message"), repr(ctx.get("exception")))

    loop.set_exception_handler(on_loop_error)
    failed = []
    failed += [f"a: {f}" for f in await run_direction("a", direction_a)]
    failed += [f"b: {f}" for f in await run_direction("b", direction_b)]
    if loop_errors:
        failed += [f"asyncio: {e}" for e in loop_errors]
    return failed


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    st = aiortc_patch.self_test()
    harness.check(st["fixed"] == [2, 1] and st["stock"] != [2, 1],
                  f"aiortc pop_messages patch: stock loop delivers {st['stock']}, fixed {st['fixed']} (want [2, 1])")
    st = aiortc_patch.self_test_forward_tsn()
    harness.check(st["fixed"] == 1 and st["stock"] != 1,
                  f"aiortc FORWARD-TSN patch: stock handler delivers {st['stock']}, fixed {st['fixed']} (want 1)")
    st = aiortc_patch.self_test_t3()
    harness.check(st["fixed"] == 0 and st["stock"] != 0,
                  f"aiortc T3 patch: flight size left after all acked: stock {st['stock']}, fixed {st['fixed']} (want 0)")
    st = aiortc_patch.self_test_lost_forward_tsn()
    harness.check(st["fixed"] and not st["stock"],
                  f"aiortc FORWARD-TSN resend patch: FORWARD-TSN sent again after a loss: stock {st['stock']}, "
                  f"fixed {st['fixed']}")
    if not os.access(harness.CLI, os.X_OK):
        harness.check(False, f"strapto-cli at {harness.CLI}")
    t0 = time.monotonic()
    try:
        failed = asyncio.run(asyncio.wait_for(main(), TOTAL_TIMEOUT))
    except asyncio.TimeoutError:
        failed = ["whole test timed out"]
    log(f"total {time.monotonic() - t0:.2f} s")
    if failed:
        log(f"FAILED ({len(failed)}):")
        for f in failed:
            log("  -", f)
        sys.exit(1)
    log("PASS")
    sys.exit(0)
