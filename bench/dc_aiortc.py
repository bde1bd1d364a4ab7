#!/usr/bin/python3
"""aiortc side of bench/dc: the same modes and the same JSON-lines protocol as
bench/dc_bench.c, for Debian's python3-aiortc (1.4) on /usr/bin/python3.

  dc_aiortc.py --offer|--answer --mode open|tp|small|rtt [options]
  dc_aiortc.py --mode idle [--pairs N]

Signaling: one JSON object a line on stdin/stdout ({"type":"offer"|"answer",
"sdp":...}); aiortc does not trickle, its SDP carries the candidates. The
offerer opens the channel "bench" and sends; the answerer receives. Results:
{"type":"result",...} lines, as the C program prints them.

aioice is pinned to 127.0.0.1 (it drops loopback from its host addresses
otherwise) and aiortc 1.4's InboundStream.pop_messages is replaced by a
corrected loop (it can leave a complete message undelivered; see
test/interop/aiortc_patch.py and DESIGN.md "Known pitfalls").
"""
import argparse
import asyncio
import gc
import json
import socket
import sys
import time

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc import rtcsctptransport as _sctp
from aiortc.utils import uint16_add, uint16_gt

ADDRESSES = ["127.0.0.1"]


def _get_host_addresses(use_ipv4, use_ipv6):
    return [a for a in ADDRESSES
            if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def _fixed_pop_messages(self):
    pos = 0
    start_pos = None
    ordered = True
    expected_tsn = 0
    while pos < len(self.reassembly):
        chunk = self.reassembly[pos]
        if start_pos is None:
            ordered = not (chunk.flags & _sctp.SCTP_DATA_UNORDERED)
            if not (chunk.flags & _sctp.SCTP_DATA_FIRST_FRAG):
                if ordered:
                    break
                pos += 1
                continue
            if ordered and uint16_gt(chunk.stream_seq, self.sequence_number):
                break
            expected_tsn = chunk.tsn
            start_pos = pos
        elif chunk.tsn != expected_tsn:
            if ordered:
                break
            start_pos = None
            continue
        if chunk.flags & _sctp.SCTP_DATA_LAST_FRAG:
            user_data = b"".join([c.user_data for c in self.reassembly[start_pos:pos + 1]])
            self.reassembly = self.reassembly[:start_pos] + self.reassembly[pos + 1:]
            if ordered and chunk.stream_seq == self.sequence_number:
                self.sequence_number = uint16_add(self.sequence_number, 1)
            pos = start_pos
            start_pos = None
            yield (chunk.stream_id, chunk.protocol, user_data)
        else:
            pos += 1
            expected_tsn = _sctp.tsn_plus_one(expected_tsn)


aioice.ice.get_host_addresses = _get_host_addresses
_sctp.InboundStream.pop_messages = _fixed_pop_messages


def proc_status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def stdin_lines():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 22)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        line = line.strip()
        if line:
            yield json.loads(line)


async def run_pair_side(args):
    pc = RTCPeerConnection()
    finished = asyncio.Event()
    st = {"sent_bytes": 0, "sent_msgs": 0, "recv_bytes": 0, "recv_msgs": 0,
          "t_first": 0.0, "end_sent": False, "sending_done": False, "samples": [], "pings": 0}
    size = args.size or (65536 if args.mode == "tp" else 100)
    buf = bytes((i * 31 + 7) & 255 for i in range(size))

    def sender_result(extra):
        r = {"type": "result", "role": "sender", "hwm_kib": proc_status_kib("VmHWM"),
             "anon_kib": proc_status_kib("RssAnon"), "file_kib": proc_status_kib("RssFile")}
        r.update(extra)
        out(r)
        finished.set()

    def setup_sender(ch):
        def pump():
            if st["sending_done"]:
                return
            k = 0
            while ch.bufferedAmount < args.high:
                if st["sent_bytes"] >= args.bytes or (k % 64 == 0 and time.monotonic() - st["t_start"] >= args.seconds):
                    st["sending_done"] = True
                    ch.send("end")
                    return
                k += 1
                ch.send(buf)
                st["sent_bytes"] += size
                st["sent_msgs"] += 1

        def ping():
            st["t_ping"] = time.monotonic()
            ch.send(st["pings"].to_bytes(8, "little") + buf[8:])

        @ch.on("open")
        def on_open():
            st["t_open"] = time.monotonic()
            if args.mode == "open":
                sender_result({"open_ms": (st["t_open"] - st["t_offer"]) * 1e3})
            elif args.mode in ("tp", "small"):
                ch.bufferedAmountLowThreshold = args.low
                st["t_start"] = time.monotonic()
                pump()
            elif args.mode == "rtt":
                ping()

        @ch.on("bufferedamountlow")
        def on_low():
            pump()

        @ch.on("message")
        def on_message(msg):
            if args.mode == "rtt":
                t = time.monotonic()
                if st["pings"] >= args.warmup:
                    st["samples"].append(t - st["t_ping"])
                st["pings"] += 1
                if len(st["samples"]) >= args.count:
                    sender_result({"samples": len(st["samples"])})
                    out({"type": "rtt", "us": [round(s * 1e6, 1) for s in st["samples"]]})
                else:
                    ping()
            elif isinstance(msg, str) and msg.startswith("done:"):
                el = time.monotonic() - st["t_start"]
                sender_result({"bytes": st["sent_bytes"], "messages": st["sent_msgs"], "seconds": el,
                               "MBps": st["sent_bytes"] / el / 1e6, "msgs_per_s": st["sent_msgs"] / el,
                               "open_ms": (st["t_open"] - st["t_offer"]) * 1e3})

    def setup_receiver(ch):
        @ch.on("message")
        def on_message(msg):
            if args.mode == "rtt":
                if isinstance(msg, bytes):
                    ch.send(msg)
                return
            if isinstance(msg, bytes):
                if not st["recv_msgs"]:
                    st["t_first"] = time.monotonic()
                st["recv_msgs"] += 1
                st["recv_bytes"] += len(msg)
            elif msg == "end":
                t = time.monotonic()
                ch.send("done:%d:%d" % (st["recv_msgs"], st["recv_bytes"]))
                el = t - st["t_first"]
                out({"type": "result", "role": "receiver", "bytes": st["recv_bytes"],
                     "messages": st["recv_msgs"], "seconds": el,
                     "MBps": st["recv_bytes"] / el / 1e6 if el > 0 else 0,
                     "msgs_per_s": st["recv_msgs"] / el if el > 0 else 0,
                     "hwm_kib": proc_status_kib("VmHWM"), "anon_kib": proc_status_kib("RssAnon"),
                     "file_kib": proc_status_kib("RssFile")})

    @pc.on("datachannel")
    def on_datachannel(ch):
        setup_receiver(ch)

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState in ("failed", "closed"):
            finished.set()

    if args.offer:
        ch = pc.createDataChannel("bench")
        setup_sender(ch)
        st["t_offer"] = time.monotonic()
        await pc.setLocalDescription(await pc.createOffer())
        out({"type": "offer", "sdp": pc.localDescription.sdp})

    async def signaling():
        async for m in stdin_lines():
            t = m.get("type")
            if t == "offer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=m["sdp"], type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                out({"type": "answer", "sdp": pc.localDescription.sdp})
            elif t == "answer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=m["sdp"], type="answer"))
            elif t == "bye":
                break
        finished.set()  # stdin closed: the driver is done with us

    sig = asyncio.ensure_future(signaling())
    await finished.wait()
    sig.cancel()
    await pc.close()


async def run_idle(args):
    pcs = []

    async def pair():
        a, b = RTCPeerConnection(), RTCPeerConnection()
        pcs.extend((a, b))
        opened = [asyncio.Event(), asyncio.Event()]
        ch = a.createDataChannel("idle")
        ch.on("open", lambda: opened[0].set())

        @b.on("datachannel")
        def on_dc(c):
            opened[1].set()

        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await asyncio.wait_for(asyncio.gather(opened[0].wait(), opened[1].wait()), 30)
        return (a, b)

    await pair()  # warm-up pair: one-time costs stay out of the figure
    await asyncio.sleep(0.3)
    gc.collect()
    rss0 = proc_status_kib("VmRSS")
    t0 = time.monotonic()
    made = 0
    for base in range(0, args.pairs, args.batch):
        n = min(args.batch, args.pairs - base)
        await asyncio.gather(*[pair() for _ in range(n)])
        made += n
    t_conn = time.monotonic() - t0
    await asyncio.sleep(1.0)
    gc.collect()
    ok = sum(1 for p in pcs[2:] if p.connectionState == "connected") // 2
    rss1 = proc_status_kib("VmRSS")
    out({"type": "result", "role": "idle", "pairs": args.pairs, "peer_connections": 2 * args.pairs,
         "connected_pairs": ok, "rss_before_kib": rss0, "rss_after_kib": rss1,
         "kib_per_pc": (rss1 - rss0) / (2.0 * args.pairs), "connect_s": t_conn,
         "hwm_kib": proc_status_kib("VmHWM")})
    for p in pcs:
        await p.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--offer", action="store_true")
    ap.add_argument("--answer", action="store_true")
    ap.add_argument("--mode", required=True, choices=["open", "tp", "small", "rtt", "idle"])
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--low", type=int, default=1 << 20)
    ap.add_argument("--high", type=int, default=4 << 20)
    ap.add_argument("--bytes", type=int, default=1 << 40)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--batch", type=int, default=10)
    args = ap.parse_args()
    if args.mode == "idle":
        asyncio.run(run_idle(args))
    else:
        if args.offer == args.answer:
            ap.error("one of --offer, --answer")
        asyncio.run(run_pair_side(args))


if __name__ == "__main__":
    main()
