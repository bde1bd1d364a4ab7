import asyncio
import logging
import threading

import pytest

from strapto import errors


def test_publish_subscribe_callback(ctx):
    got = []
    done = threading.Event()

    def cb(ev):
        got.append(ev)
        if len(got) == 2:
            done.set()
    with ctx.bus.subscribe("model_", cb) as sub:
        s1 = ctx.bus.publish("model_output", {"text": "hi"}, source="py")
        ctx.bus.publish("other", {"x": 1})
        s3 = ctx.bus.publish("model_done", json_text="[1,2]")
        assert done.wait(5)
    assert sub.closed
    assert [e.seq for e in got] == [s1, s3]
    assert got[0].type == "model_output" and got[0].source == "py" and got[0].data == {"text": "hi"}
    assert got[1].data == [1, 2] and got[1].source == ""
    assert abs(got[0].timestamp - __import__("time").time()) < 60
    assert ctx.bus.last_seq == s3


def test_iterate_and_replay(ctx):
    sub = ctx.bus.subscribe("")
    for i in range(5):
        ctx.bus.publish("n", {"i": i})
    evs = [sub.get(timeout=5) for _ in range(5)]
    assert [e.data["i"] for e in evs] == list(range(5))
    sub.close()
    assert sub.get(timeout=1) is None
    replay = ctx.bus.replay("n")
    assert [e.data["i"] for e in replay] == list(range(5))
    assert ctx.bus.replay("zzz") == []


def test_async_events(ctx):
    async def main():
        async with ctx.bus.events("chat") as sub:
            async def producer():
                for i in range(3):
                    ctx.bus.publish("chat", {"i": i})
                    await asyncio.sleep(0.01)
            t = asyncio.ensure_future(producer())
            out = []
            async for ev in sub:
                out.append(ev.data["i"])
                if len(out) == 3:
                    break
            await t
            with pytest.raises(asyncio.TimeoutError):
                await sub.aget(timeout=0.1)
            return out
    assert asyncio.run(main()) == [0, 1, 2]


def test_publish_errors(ctx):
    with pytest.raises(errors.ParseError) as ei:
        ctx.bus.publish("t", json_text="{nope")
    assert ei.value.code == errors.EPARSE
    with pytest.raises(errors.InvalidArgumentError):
        ctx.bus.publish("")
    with pytest.raises(errors.TooBigError):
        ctx.bus.publish("x" * 200)


def test_callback_exception_is_logged_and_unsubscribe_inside(ctx, caplog):
    caplog.set_level(logging.ERROR, logger="strapto")
    calls = []
    done = threading.Event()
    holder = {}

    def cb(ev):
        calls.append(ev.seq)
        if len(calls) == 1:
            raise RuntimeError("boom")
        holder["sub"].close()  # unsubscribe from inside its own callback
        done.set()
    holder["sub"] = ctx.bus.subscribe("e", cb)
    for _ in range(5):
        ctx.bus.publish("e")
    assert done.wait(5)
    ctx.bus.publish("e")
    import time
    time.sleep(0.2)
    assert len(calls) == 2
    assert any("boom" in (r.exc_text or "") or (r.exc_info and "boom" in str(r.exc_info[1]))
               for r in caplog.records)
