"""Two strapto peers in one process: trickle ICE, channel options, and
freeing while callbacks are flowing."""
import gc
import threading
import time

import pytest

import strapto
from strapto import errors

TIMEOUT = 20


def pair(ctx, ice, **kw_b):
    a = ctx.peer(local_addresses=ice)
    b = ctx.peer(local_addresses=ice, **kw_b)
    a.on_candidate = lambda c, mid, i: c and b.add_remote_candidate(c, mid)
    b.on_candidate = lambda c, mid, i: c and a.add_remote_candidate(c, mid)
    return a, b


def connect(a, b):
    b.set_remote_description("offer", a.create_offer())
    a.set_remote_description("answer", b.create_answer())


def test_trickle_and_channel_options(ctx, ice):
    a, b = pair(ctx, ice)
    dc = a.create_data_channel("lossy", ordered=False, max_retransmits=0)
    neg_a = a.create_data_channel("neg", negotiated=True, id=7)
    neg_b = b.create_data_channel("neg", negotiated=True, id=7)
    connect(a, b)
    a.wait_connected(TIMEOUT)
    dc.wait_open(TIMEOUT)
    remote = b.accept(TIMEOUT)
    assert remote.label == "lossy" and remote.ordered is False and remote.max_retransmits == 0
    assert remote.negotiated is False and dc.id == remote.id
    neg_a.wait_open(TIMEOUT)
    neg_b.wait_open(TIMEOUT)
    assert neg_a.negotiated and neg_a.id == 7
    neg_a.send(b"via negotiated")
    assert neg_b.recv(TIMEOUT) == b"via negotiated"
    assert a.max_message_size > 0
    with pytest.raises(errors.TooBigError):
        neg_a.send(b"x" * (a.max_message_size + 1))
    # closing the channel: on_close, and the message iterator ends
    closed = threading.Event()
    remote.on_close = closed.set
    dc.close()
    assert closed.wait(TIMEOUT)
    assert list(remote.messages()) == []
    a.close()
    b.close()
    assert a.state == strapto.CLOSED


def test_send_before_open_raises_state_error(ctx, ice):
    a = ctx.peer(local_addresses=ice)
    dc = a.create_data_channel("x")
    with pytest.raises(errors.StateError) as ei:
        dc.send("too early")
    assert ei.value.code == errors.ESTATE
    with pytest.raises(errors.ParseError):
        a.set_remote_description("offer", "not sdp")
    a.close()
    with pytest.raises(errors.ClosedError):
        a.create_offer()


def test_free_inside_callback_and_under_traffic(ctx, ice):
    """Close a peer from inside its own channel's on_message while the
    other side floods it; no callback may run after close() returns."""
    for _ in range(3):
        a, b = pair(ctx, ice)
        after_close = []
        closed = threading.Event()

        def on_dc(dc):
            def on_message(m):
                if closed.is_set():
                    after_close.append(m)
                    return
                if m == "stop":
                    b.close()  # frees the peer from inside its callback
                    closed.set()
            dc.on_message = on_message
        b.on_datachannel = on_dc
        dc = a.create_data_channel("flood")
        connect(a, b)
        dc.wait_open(TIMEOUT)
        for i in range(200):
            dc.send("m%d" % i)
        dc.send("stop")
        try:
            for i in range(2000):
                dc.send("x%d" % i)
        except errors.StraptoError:
            pass  # the remote went away
        assert closed.wait(TIMEOUT)
        time.sleep(0.2)
        assert after_close == []
        # a Python callback object dropped by the user must not matter: the
        # C side only ever sees module-level trampolines
        a.on_state = lambda s: None
        gc.collect()
        a.close()


def test_context_close_frees_children(ice):
    ctx = strapto.Context(threads=1)
    a, b = pair(ctx, ice)
    dc = a.create_data_channel("c")
    connect(a, b)
    dc.wait_open(TIMEOUT)
    sub = ctx.bus.subscribe("")
    ctx.close()
    assert a.closed and b.closed and sub.closed and dc.state == strapto.DC_CLOSED
