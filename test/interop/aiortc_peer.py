"""asyncio helpers for interop tests that pair aiortc with strapto-cli peer:
signaling glue around harness.Peer, message generation, an echo checker and
a flow-controlled sender."""
import asyncio
import collections
import math
import os
import random
import re
import time

import harness
from harness import log
from aiortc.sdp import candidate_from_sdp

ORDERED_CHECK = "ordered"
ANY_ORDER = "any"


class AsyncStrapto:
    """A strapto-cli peer whose signaling lines arrive on an asyncio queue."""

    def __init__(self, args, name, stderr_path):
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self.stderr_path = stderr_path
        self.peer = harness.Peer(args, name, stderr_path=stderr_path)
        # lines printed before this (the offer comes within milliseconds) are
        # held by the harness and replayed here
        harness.set_signal_target(self.peer, lambda m: self.loop.call_soon_threadsafe(self.queue.put_nowait, m))

    async def recv(self, timeout):
        return await asyncio.wait_for(self.queue.get(), timeout)

    def send(self, msg):
        self.peer.send(msg)

    async def wait_exit(self, timeout):
        return await self.loop.run_in_executor(None, self.peer.wait, timeout)

    def kill(self):
        if self.peer.p.poll() is None:
            self.peer.p.kill()
            try:
                self.peer.p.wait(5)
            except Exception:
                pass

    def log_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def ice_candidate(msg):
    """RTCIceCandidate from a {"type":"candidate",...} signaling line."""
    line = msg["candidate"]
    if line.startswith("a="):
        line = line[2:]
    if line.startswith("candidate:"):
        line = line[len("candidate:"):]
    c = candidate_from_sdp(line)
    c.sdpMid = msg.get("sdpMid")
    c.sdpMLineIndex = msg.get("sdpMLineIndex")
    return c


def remote_channels_in_log(text):
    """{label: (id, ordered, max_retransmits, max_packet_life_time)} from the
    CLI's 'remote opened channel' log lines."""
    out = {}
    for m in re.finditer(r"remote opened channel (\d+) '([^']*)' \(ordered (-?\d+), max-retransmits (-?\d+), "
                         r"max-packet-life-time (-?\d+)\)", text):
        out[m.group(2)] = tuple(int(m.group(i)) for i in (1, 3, 4, 5))
    return out


# ---- messages ----

_ALPHABET = ("abcdefghijklmnopqrstuvwxyz0123456789 .,;:!?-_" "éüßøñçЖжЯλπΩ中文日本語한국어" "✓✔★☃€™" "🚀🎉😀🦀")


def random_str(rng, nbytes):
    """A str whose UTF-8 encoding is exactly nbytes long (mixes 1-4 byte chars)."""
    parts = []
    left = nbytes
    while left > 0:
        ch = rng.choice(_ALPHABET)
        n = len(ch.encode("utf-8"))
        if n > left:
            ch = "x"
            n = 1
        parts.append(ch)
        left -= n
    s = "".join(parts)
    assert len(s.encode("utf-8")) == nbytes
    return s


def random_size(rng, lo=1, hi=65536):
    """Log-uniform size: many small messages, some large ones."""
    return min(hi, max(lo, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1))))))


def make_messages(rng, n):
    """n messages mixing str and bytes from empty up to 64 KiB, starting with
    the edge cases: empty str, empty bytes, 1 byte each type, non-ASCII
    strings, exactly 65536 bytes binary, a 65536-byte UTF-8 string."""
    fixed = ["", b"", "a", b"\x00", "héllo wörld ✓ 日本語 🚀", random_str(rng, 1200), b"\xff" * 1201,
             rng.randbytes(65536), random_str(rng, 65536), rng.randbytes(65535)]
    msgs = fixed[:n]
    while len(msgs) < n:
        size = random_size(rng)
        msgs.append(rng.randbytes(size) if rng.random() < 0.5 else random_str(rng, size))
    rng.shuffle(msgs)
    return msgs


def wire_len(m):
    return len(m.encode("utf-8")) if isinstance(m, str) else len(m)


def describe(m):
    t = "str" if isinstance(m, str) else "bytes"
    return f"{t}[{wire_len(m)}]"


class EchoChecker:
    """Tracks what was sent on each channel and checks the echoes."""

    def __init__(self):
        self.expected = {}   # label -> deque of messages (ordered channels)
        self.pool = {}       # label -> list of messages sent (any-order channels)
        self.mode = {}
        self.sent = collections.Counter()
        self.sent_bytes = collections.Counter()
        self.received = collections.Counter()
        self.errors = []
        self.inflight = 0    # bytes sent and not yet echoed, reliable channels
        self.progress = asyncio.Event()

    def add_channel(self, ch, mode):
        label = ch.label
        self.mode[label] = mode
        self.expected[label] = collections.deque()
        self.pool[label] = []

        @ch.on("message")
        def on_message(m, label=label):
            self._on_echo(label, m)

        @ch.on("bufferedamountlow")
        def on_low():
            self.progress.set()

    def note_sent(self, label, m):
        self.sent[label] += 1
        self.sent_bytes[label] += wire_len(m)
        if self.mode[label] == ORDERED_CHECK:
            self.expected[label].append(m)
            self.inflight += wire_len(m)
        else:
            self.pool[label].append(m)

    def _error(self, text):
        if len(self.errors) < 20:
            log("ERROR:", text)
        self.errors.append(text)

    def _on_echo(self, label, m):
        self.received[label] += 1
        self.progress.set()
        if not isinstance(m, (str, bytes)):
            self._error(f"{label}: echo of unexpected type {type(m)}")
            return
        if self.mode[label] == ORDERED_CHECK:
            q = self.expected[label]
            if not q:
                self._error(f"{label}: unexpected extra echo {describe(m)}")
                return
            exp = q.popleft()
            self.inflight -= wire_len(exp)
            if type(exp) is not type(m) or exp != m:
                later = next((i for i, x in enumerate(q) if type(x) is type(m) and x == m), None)
                where = f"; it equals the message expected {later + 1} later (messages lost/reordered)" \
                    if later is not None else ""
                self._error(f"{label}: echo #{self.received[label]} is {describe(m)}, expected {describe(exp)}"
                            f"{' (same length, different content)' if wire_len(m) == wire_len(exp) else ''}{where}")
        else:
            pool = self.pool[label]
            for i, x in enumerate(pool):
                if type(x) is type(m) and x == m:
                    del pool[i]
                    return
            self._error(f"{label}: echo {describe(m)} matches nothing sent (or came back twice)")

    def outstanding(self, label):
        return len(self.expected[label])

    def all_ordered_done(self):
        return all(not q for lbl, q in self.expected.items() if self.mode[lbl] == ORDERED_CHECK)


async def send_messages(checker, plan, high=256 * 1024, window=2 * 1024 * 1024, timeout=30):
    """Send plan = [(channel, message), ...] in order. Respects aiortc's
    bufferedAmount (waits below `high` on each channel) and keeps at most
    `window` bytes in flight without an echo, so neither aiortc's queue nor
    the echoing peer's send buffer grows without bound."""
    deadline = time.monotonic() + timeout
    for ch, m in plan:
        while ch.bufferedAmount > high or (checker.mode[ch.label] == ORDERED_CHECK and checker.inflight > window):
            if time.monotonic() > deadline:
                raise asyncio.TimeoutError(f"flow control: {ch.label} bufferedAmount {ch.bufferedAmount}, "
                                           f"{checker.inflight} bytes in flight")
            checker.progress.clear()
            try:
                await asyncio.wait_for(checker.progress.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
        if ch.readyState != "open":
            raise RuntimeError(f"channel {ch.label} is {ch.readyState} while sending")
        ch.send(m)
        checker.note_sent(ch.label, m)
        await asyncio.sleep(0)


def interleave(rng, per_channel):
    """[(ch, msg)] taking messages from the channels in random order while
    keeping each channel's own order."""
    queues = [(ch, collections.deque(msgs)) for ch, msgs in per_channel]
    plan = []
    while True:
        live = [q for q in queues if q[1]]
        if not live:
            return plan
        weights = [len(q[1]) for q in live]
        ch, q = rng.choices(live, weights)[0]
        plan.append((ch, q.popleft()))


async def wait_until(pred, timeout, what, step=0.02):
    """Wait for pred(); on timeout raise with `what` (a str, or a callable
    giving the text at that time)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise asyncio.TimeoutError(what() if callable(what) else what)
        await asyncio.sleep(step)


def sctp_state(pc):
    """aiortc's SCTP receive state, for failure reports: per inbound stream the
    next expected SSN and what waits in the reassembly queue."""
    sctp = pc.sctp
    if sctp is None:
        return "no SCTP transport"
    parts = [f"association {sctp._association_state.name}, last_received_tsn {sctp._last_received_tsn}, "
             f"advertised_rwnd {sctp._advertised_rwnd}, misordered {len(sctp._sack_misordered)}, "
             f"outbound queue {len(sctp._outbound_queue)}, sent queue {len(sctp._sent_queue)}, "
             f"data channel queue {len(sctp._data_channel_queue)}; flight_size {sctp._flight_size}, "
             f"cwnd {sctp._cwnd}, ssthresh {getattr(sctp, '_ssthresh', None)}, "
             f"T3 {'running' if sctp._t3_handle else 'stopped'}, fast_recovery_exit {sctp._fast_recovery_exit}, "
             f"forward_tsn pending {sctp._forward_tsn_chunk is not None}, "
             f"last_sacked_tsn {sctp._last_sacked_tsn}, advanced_peer_ack_tsn {sctp._advanced_peer_ack_tsn}, "
             f"local_tsn {sctp._local_tsn}"]
    for sid, st in sorted(sctp._inbound_streams.items()):
        r = st.reassembly
        head = ", ".join(f"tsn {c.tsn} ssn {c.stream_seq} flags {c.flags} len {len(c.user_data)}" for c in r[:4])
        parts.append(f"stream {sid}: next ssn {st.sequence_number}, {len(r)} chunks queued"
                     + (f" [{head}{' ...' if len(r) > 4 else ''}]" if r else ""))
    return "\n    ".join(parts)


def new_rng(tag):
    seed = int(os.environ.get("STRAPTO_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
    log(f"{tag}: random seed {seed} (set STRAPTO_TEST_SEED to replay)")
    return random.Random(seed)
