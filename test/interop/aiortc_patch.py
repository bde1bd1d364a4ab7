"""Runtime patches for Debian's aiortc 1.4 / aioice 0.8 used by the interop
tests. Import this module and call apply() before creating any
RTCPeerConnection.

1. Host addresses. aioice.ice.get_host_addresses() walks every interface and
   explicitly drops 127.0.0.1 (and ::1), so on loopback, or inside the test
   network namespace, aiortc offers candidates the other peer cannot or may
   not use. Connection.gather_candidates() looks the function up in the
   aioice.ice module at call time, so replacing the module attribute pins
   aiortc to the addresses the test allows.

2. SCTP reassembly. aiortc.rtcsctptransport.InboundStream.pop_messages() can
   leave a complete message in the reassembly queue without delivering it.
   The reassembly list of one stream holds that stream's DATA chunks sorted by
   TSN. TSNs are shared by all streams of the association, so when two
   channels send at once, consecutive messages of one stream have TSN gaps
   between them (the other channel's messages). pop_messages() runs once per
   arriving chunk and walks the list with `start_pos` (first chunk of the
   message being assembled) and `expected_tsn`. Two mistakes:
     - after yielding a message it sets pos = start_pos but does not reset
       start_pos, so the next chunk is judged as a *continuation* of the
       message just delivered and compared with that message's last TSN + 1.
       If another channel's message sits in between, the TSNs differ and an
       ordered stream `break`s: the next message, although complete, stays
       queued. This happens whenever one arriving chunk completes two
       messages at once: a late chunk (lost and retransmitted, or reordered)
       of message N arrives after message N+1 of the same stream is complete.
       The stuck message is delivered only if another chunk later arrives on
       that stream; with request/response traffic (an echo) or at the end of
       a transfer nothing does, and it is never delivered.
     - unordered stream: when the message at start_pos misses a fragment, the
       chunk that broke the TSN run is skipped (`pos += 1`) instead of being
       examined as the start of another message, so a complete unordered
       message behind an incomplete one is not delivered (and is skipped
       again on every later call while the incomplete one stays incomplete).
   Loss happens even on loopback: aiortc reads its UDP socket from Python and
   the kernel drops datagrams when the socket buffer overflows under a burst
   (thousands of UdpRcvbufErrors during one run of test_aiortc_dc.py). The
   same loop was ported to werift
   (werift-webrtc#706). The corrected loop below resets start_pos after every
   yield, so each following chunk is examined as a possible message start with
   the FIRST_FRAG and stream-sequence checks, and on an unordered TSN break it
   re-examines the chunk instead of skipping it.

3. FORWARD-TSN handling (found by test_aiortc_dc.py, not in the design
   notes). RTCSctpTransport._receive_forward_tsn_chunk() moves the cumulative
   TSN to the chunk's new cumulative TSN, then folds in the out-of-order TSNs
   already received just above it (correct), and then prunes *every* stream's
   reassembly queue up to that folded-in `_last_received_tsn` instead of up to
   the FORWARD-TSN's own cumulative TSN. Chunks above the forward point were
   not abandoned by the sender: they are received fragments of live messages,
   possibly of reliable channels. Seen here: strapto echoes on a
   max-retransmits=0 channel; one of those datagrams is lost (aiortc's UDP
   socket buffer overflows under a burst), so the sender abandons that TSN
   and sends FORWARD-TSN <that TSN>. Meanwhile aiortc already holds the
   first fragment of a 64 KiB message of a reliable ordered channel
   just above it (later fragments still in flight or being retransmitted).
   The prune drops that first fragment; when the rest arrives the queue head
   is a middle fragment, pop_messages() can never start a message there, and
   the reliable channel is stuck for good while its SACKs still acknowledge
   everything (the data is gone on the receiver only). The stuck data also
   keeps aiortc's advertised window negative, so the whole association
   crawls. It also prunes after trying to deliver, so a complete ordered
   message behind the abandoned one waits for the next chunk of its stream.
   The fixed version prunes up to chunk.cumulative_tsn only, never moves a
   stream's expected SSN backwards, and then delivers what became
   deliverable on every stream.

4. Congestion bookkeeping after a T3-rtx timeout (found by this test too).
   RTCSctpTransport._t3_expired() resets _flight_size to 0 and marks every
   chunk of the sent queue for retransmission, including chunks the peer
   already acknowledged in a SACK gap block (_acked = True). _transmit()
   retransmits them and adds their size to _flight_size again, but when the
   cumulative ack later covers them, _receive_sack_chunk() only subtracts
   chunks that are not marked _acked. Every gap-acked chunk caught by a T3
   timeout therefore stays in _flight_size for good. T3 also drops cwnd to
   one chunk (1200), so one such leak is enough: with the sent queue empty
   _flight_size stays >= cwnd, _transmit() never sends again, no SACK or T3
   ever comes to wake it, and aiortc's sending stalls silently while its
   queues fill (a stall with exactly that state was seen once on a loaded
   machine: "outbound queue 9, sent queue 0, data channel queue 95"; the
   leak itself is shown by self_test_t3()). It needs a loss followed by a T3 timeout (RTO >= 1 s) while later
   chunks were gap-acked, e.g. the receiver's socket buffer overflowing on a
   busy machine. The fixed handler leaves gap-acked chunks alone, as RFC 4960
   only asks to retransmit what is still outstanding, and keeps T3 running
   while anything is outstanding (aiortc restarts it only when the earliest
   chunk is retransmitted).

5. Lost FORWARD-TSN (found with 2% packet loss added by nftables). _update_advanced_peer_ack_point()
   builds a FORWARD-TSN only when it pops abandoned chunks off the sent
   queue. If that FORWARD-TSN is lost, the abandoned TSN is already gone
   from the queue, so no later SACK or T3 expiry ever sends another one: the
   peer's cumulative ack stays below the abandoned TSN forever and the
   association stops making progress (seen: sent queue 2257 chunks,
   last_sacked_tsn = advanced_peer_ack_tsn - 1, T3 stopped). RFC 3758
   section 3.5 C3: whenever the Advanced.Peer.Ack.Point is above the
   cumulative TSN ack of a SACK, send a FORWARD-TSN again. The fixed version
   does that, remembering the ordered streams skipped since the last ack.
"""
import asyncio
import os
import socket

import aioice.ice
from aiortc import rtcsctptransport as _sctp
from aiortc.utils import uint16_add, uint16_gt, uint16_gte, uint32_gt, uint32_gte

_applied = False
_orig_pop_messages = _sctp.InboundStream.pop_messages
_orig_receive_forward_tsn_chunk = _sctp.RTCSctpTransport._receive_forward_tsn_chunk
_orig_t3_expired = _sctp.RTCSctpTransport._t3_expired
_orig_update_advanced_peer_ack_point = _sctp.RTCSctpTransport._update_advanced_peer_ack_point


def fixed_pop_messages(self):
    """Yield (stream_id, protocol, user_data) for every message of this stream
    that can be delivered now, removing its chunks from the reassembly list."""
    pos = 0
    start_pos = None
    ordered = True
    expected_tsn = 0
    while pos < len(self.reassembly):
        chunk = self.reassembly[pos]
        if start_pos is None:
            # looking for the first fragment of the next message
            ordered = not (chunk.flags & _sctp.SCTP_DATA_UNORDERED)
            if not (chunk.flags & _sctp.SCTP_DATA_FIRST_FRAG):
                if ordered:
                    break  # the head of the ordered queue is incomplete
                pos += 1  # tail of an incomplete unordered message
                continue
            if ordered and uint16_gt(chunk.stream_seq, self.sequence_number):
                break  # an earlier ordered message is still missing
            expected_tsn = chunk.tsn
            start_pos = pos
        elif chunk.tsn != expected_tsn:
            # a fragment of the current message is missing
            if ordered:
                break
            start_pos = None  # look at this chunk again as a possible start
            continue

        if chunk.flags & _sctp.SCTP_DATA_LAST_FRAG:
            user_data = b"".join([c.user_data for c in self.reassembly[start_pos:pos + 1]])
            self.reassembly = self.reassembly[:start_pos] + self.reassembly[pos + 1:]
            if ordered and chunk.stream_seq == self.sequence_number:
                self.sequence_number = uint16_add(self.sequence_number, 1)
            pos = start_pos
            start_pos = None  # the fix: the next chunk starts a new message
            yield (chunk.stream_id, chunk.protocol, user_data)
        else:
            pos += 1
            expected_tsn = _sctp.tsn_plus_one(expected_tsn)


async def fixed_receive_forward_tsn_chunk(self, chunk):
    """Handle a FORWARD TSN chunk (RFC 3758 section 3.6)."""
    self._sack_needed = True

    # it's a duplicate
    if uint32_gte(self._last_received_tsn, chunk.cumulative_tsn):
        return

    def is_obsolete(x):
        return uint32_gt(x, self._last_received_tsn)

    # advance the cumulative TSN, then over what was already received above it
    self._last_received_tsn = chunk.cumulative_tsn
    self._sack_misordered = set(filter(is_obsolete, self._sack_misordered))
    for tsn in sorted(self._sack_misordered):
        if tsn == _sctp.tsn_plus_one(self._last_received_tsn):
            self._last_received_tsn = tsn
        else:
            break
    self._sack_duplicates = list(filter(is_obsolete, self._sack_duplicates))
    self._sack_misordered = set(filter(is_obsolete, self._sack_misordered))

    # drop what the sender abandoned: chunks up to ITS cumulative TSN only
    for inbound_stream in self._inbound_streams.values():
        self._advertised_rwnd += inbound_stream.prune_chunks(chunk.cumulative_tsn)

    # skip the abandoned ordered messages
    for stream_id, stream_seq in chunk.streams:
        inbound_stream = self._get_inbound_stream(stream_id)
        if uint16_gte(stream_seq, inbound_stream.sequence_number):
            inbound_stream.sequence_number = uint16_add(stream_seq, 1)

    # deliver whatever the abandoned messages were holding back
    for inbound_stream in list(self._inbound_streams.values()):
        for message in inbound_stream.pop_messages():
            self._advertised_rwnd += len(message[2])
            await self._receive(*message)


def fixed_t3_expired(self):
    """T3-rtx timer expiry (RFC 4960 section 6.3.3)."""
    self._t3_handle = None

    # mark for retransmission what is still outstanding, or abandon it;
    # chunks acknowledged in a gap block stay acknowledged (the fix)
    for chunk in self._sent_queue:
        if not self._maybe_abandon(chunk) and not chunk._acked:
            chunk._retransmit = True
    self._update_advanced_peer_ack_point()

    # adjust congestion window
    self._fast_recovery_exit = None
    self._flight_size = 0
    self._partial_bytes_acked = 0
    self._ssthresh = max(self._cwnd // 2, 4 * _sctp.USERDATA_MAX_LENGTH)
    self._cwnd = _sctp.USERDATA_MAX_LENGTH

    # R1: T3 runs while data is outstanding, whichever chunk goes out first
    if self._sent_queue:
        self._t3_restart()

    asyncio.ensure_future(self._transmit())


def fixed_update_advanced_peer_ack_point(self):
    """Advance the Advanced.Peer.Ack.Point over abandoned chunks (RFC 3758
    section 3.5 C1-C3) and (re)build the FORWARD-TSN while the peer has not
    acknowledged up to it."""
    streams = getattr(self, "_strapto_fwd_streams", None)
    if streams is None or uint32_gt(self._last_sacked_tsn, self._advanced_peer_ack_tsn):
        streams = {}
    if uint32_gt(self._last_sacked_tsn, self._advanced_peer_ack_tsn):
        self._advanced_peer_ack_tsn = self._last_sacked_tsn

    while self._sent_queue and self._sent_queue[0]._abandoned:
        chunk = self._sent_queue.popleft()
        self._advanced_peer_ack_tsn = chunk.tsn
        if not (chunk.flags & _sctp.SCTP_DATA_UNORDERED):
            streams[chunk.stream_id] = chunk.stream_seq
    self._strapto_fwd_streams = streams

    if uint32_gt(self._advanced_peer_ack_tsn, self._last_sacked_tsn):
        self._forward_tsn_chunk = _sctp.ForwardTsnChunk()
        self._forward_tsn_chunk.cumulative_tsn = self._advanced_peer_ack_tsn
        self._forward_tsn_chunk.streams = list(streams.items())


def _chunk(tsn, sid, seq, flags, data):
    c = _sctp.DataChunk()
    c.tsn, c.stream_id, c.stream_seq, c.flags, c.protocol, c.user_data = tsn, sid, seq, flags, 53, data
    return c


def self_test():
    """Run both loops on the two failure cases; returns
    {"stock": [n1, n2], "fixed": [n1, n2]}, messages delivered per case
    (the right answer is [2, 1]).
    Case 1, ordered: stream 1 gets seq 0 in TSNs 10-11 and seq 1 in TSN 14
    (12-13 belong to another stream). TSN 10 arrives last: both complete.
    Case 2, unordered: TSN 10 starts a message whose TSN 11 is missing, TSN 14
    is a complete one-chunk message behind it."""
    first, last, unord = _sctp.SCTP_DATA_FIRST_FRAG, _sctp.SCTP_DATA_LAST_FRAG, _sctp.SCTP_DATA_UNORDERED
    out = {}
    for name, pop in (("stock", _orig_pop_messages), ("fixed", fixed_pop_messages)):
        s = _sctp.InboundStream()
        got = []
        for c in (_chunk(11, 1, 0, last, b"b"), _chunk(14, 1, 1, first | last, b"c"), _chunk(10, 1, 0, first, b"a")):
            s.add_chunk(c)  # as _receive_data_chunk: pop after every chunk
            got += list(pop(s))
        n1 = len(got)
        s = _sctp.InboundStream()
        got = []
        for c in (_chunk(10, 1, 0, first | unord, b"a"), _chunk(14, 1, 0, first | last | unord, b"c")):
            s.add_chunk(c)
            got += list(pop(s))
        out[name] = [n1, len(got)]
    return out


class _FakeAssociation:
    """Just the receive-side state of RTCSctpTransport, driven by its real
    _receive_data_chunk/_mark_received and the FORWARD-TSN handler under test."""

    def __init__(self, fwd_handler, last_tsn):
        self._sack_needed = False
        self._last_received_tsn = last_tsn
        self._sack_misordered = set()
        self._sack_duplicates = []
        self._inbound_streams = {}
        self._advertised_rwnd = 1 << 20
        self.delivered = []
        self._fwd = fwd_handler

    _get_inbound_stream = _sctp.RTCSctpTransport._get_inbound_stream
    _mark_received = _sctp.RTCSctpTransport._mark_received
    _receive_data_chunk = _sctp.RTCSctpTransport._receive_data_chunk

    async def _receive(self, stream_id, pp_id, data):
        self.delivered.append((stream_id, data))


def self_test_forward_tsn():
    """TSN 101 (unordered, lossy channel) is lost and abandoned; TSNs 102-104
    are one 3-fragment message of reliable ordered stream 3, of which 102-103
    arrived before the FORWARD-TSN(101) and 104 after it. Returns how many
    messages the stock and the fixed handler deliver: {"stock": n, "fixed": n}
    (the right answer is 1)."""
    first, last = _sctp.SCTP_DATA_FIRST_FRAG, _sctp.SCTP_DATA_LAST_FRAG
    out = {}
    for name, fwd in (("stock", _orig_receive_forward_tsn_chunk), ("fixed", fixed_receive_forward_tsn_chunk)):
        a = _FakeAssociation(fwd, 100)
        s = _sctp.InboundStream.pop_messages
        _sctp.InboundStream.pop_messages = fixed_pop_messages
        try:
            async def run():
                await a._receive_data_chunk(_chunk(102, 3, 0, first, b"a"))
                await a._receive_data_chunk(_chunk(103, 3, 0, 0, b"b"))
                f = _sctp.ForwardTsnChunk()
                f.cumulative_tsn = 101
                await a._fwd(a, f)
                await a._receive_data_chunk(_chunk(104, 3, 0, last, b"c"))
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(run())
            finally:
                loop.close()
        finally:
            _sctp.InboundStream.pop_messages = s
        out[name] = len(a.delivered)
    return out


def self_test_t3():
    """Four 1000-byte chunks in flight; the first is lost, the SACK gap-acks
    the other three, T3 expires, then everything is acknowledged. Returns the
    flight size left with an empty sent queue: {"stock": n, "fixed": n}
    (the right answer is 0)."""

    class Ice:
        role = "controlling"

    class Dtls:
        state = "connected"
        transport = Ice()

        async def _send_data(self, data):
            pass

        def _register_data_receiver(self, receiver):
            pass

    out = {}
    for name, t3 in (("stock", _orig_t3_expired), ("fixed", fixed_t3_expired)):
        async def run():
            t = _sctp.RTCSctpTransport(Dtls())
            t._association_state = _sctp.RTCSctpTransport.State.ESTABLISHED
            t._remote_port = 5000
            t._ssthresh = 1 << 20
            first = t._local_tsn
            for _ in range(4):
                await t._send(1, 53, b"x" * 1000)
            sack = _sctp.SackChunk()
            sack.cumulative_tsn, sack.advertised_rwnd, sack.gaps = (first - 1) % (1 << 32), 1 << 20, [(2, 4)]
            await t._receive_sack_chunk(sack)
            t._t3_cancel()
            t3(t)
            await asyncio.sleep(0.01)
            sack = _sctp.SackChunk()
            sack.cumulative_tsn, sack.advertised_rwnd = (first + 3) % (1 << 32), 1 << 20
            await t._receive_sack_chunk(sack)
            t._t3_cancel()
            return t._flight_size if not t._sent_queue else -1

        loop = asyncio.new_event_loop()
        try:
            out[name] = loop.run_until_complete(run())
        finally:
            loop.close()
    return out


def self_test_lost_forward_tsn():
    """A max-retransmits=0 chunk is abandoned and its FORWARD-TSN is lost;
    the peer's next SACK still acknowledges only up to before it. Returns
    whether a FORWARD-TSN goes out again: {"stock": bool, "fixed": bool}."""

    class Ice:
        role = "controlling"

    class Dtls:
        state = "connected"
        transport = Ice()

        async def _send_data(self, data):
            pass

        def _register_data_receiver(self, receiver):
            pass

    out = {}
    for name, upd in (("stock", _orig_update_advanced_peer_ack_point),
                      ("fixed", fixed_update_advanced_peer_ack_point)):
        async def run():
            t = _sctp.RTCSctpTransport(Dtls())
            t._update_advanced_peer_ack_point = upd.__get__(t)
            t._association_state = _sctp.RTCSctpTransport.State.ESTABLISHED
            t._remote_port = 5000
            t._ssthresh = 1 << 20
            first = t._local_tsn
            await t._send(5, 53, b"lossy", max_retransmits=0, ordered=False)
            await t._send(1, 53, b"reliable")
            # the lossy chunk is given up (as a T3 expiry or a third strike does)
            t._maybe_abandon(t._sent_queue[0])
            t._update_advanced_peer_ack_point()
            sent_first = t._forward_tsn_chunk is not None
            t._forward_tsn_chunk = None
            # that FORWARD-TSN was lost: the peer's next SACK acks the reliable
            # chunk in a gap block, its cumulative TSN stays below the lossy one
            sack = _sctp.SackChunk()
            sack.cumulative_tsn, sack.advertised_rwnd, sack.gaps = (first - 1) % (1 << 32), 1 << 20, [(2, 2)]
            sends = []
            orig_send_chunk = t._send_chunk

            async def spy(chunk):
                sends.append(type(chunk).__name__)
                await orig_send_chunk(chunk)
            t._send_chunk = spy
            await t._receive_sack_chunk(sack)
            t._t3_cancel()
            return sent_first and "ForwardTsnChunk" in sends

        loop = asyncio.new_event_loop()
        try:
            out[name] = loop.run_until_complete(run())
        finally:
            loop.close()
    return out


def apply(addresses=None):
    """Pin aioice to `addresses` (default: STRAPTO_ICE_ADDRESSES or
    127.0.0.1) and install the fixed pop_messages, FORWARD-TSN receive and
    send logic and T3 expiry. Idempotent."""
    global _applied
    if addresses is None:
        addresses = [a for a in os.environ.get("STRAPTO_ICE_ADDRESSES", "127.0.0.1").split(",") if a]
    addresses = list(addresses)

    def get_host_addresses(use_ipv4, use_ipv6):
        out = []
        for a in addresses:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            if (fam == socket.AF_INET and use_ipv4) or (fam == socket.AF_INET6 and use_ipv6):
                out.append(a)
        return out

    aioice.ice.get_host_addresses = get_host_addresses
    _sctp.InboundStream.pop_messages = fixed_pop_messages
    _sctp.RTCSctpTransport._receive_forward_tsn_chunk = fixed_receive_forward_tsn_chunk
    _sctp.RTCSctpTransport._t3_expired = fixed_t3_expired
    _sctp.RTCSctpTransport._update_advanced_peer_ack_point = fixed_update_advanced_peer_ack_point
    _applied = True
    return addresses
