"""A strapto Peer (Python binding) against aiortc, both directions."""
import asyncio

import pytest

import strapto
from conftest import pin_aiortc

aiortc = pytest.importorskip("aiortc")
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402

TIMEOUT = 20


def test_strapto_offers_aiortc_echoes(ctx, ice):
    pin_aiortc()

    async def main():
        remote = RTCPeerConnection()

        @remote.on("datachannel")
        def on_dc(ch):
            @ch.on("message")
            def on_message(m):
                ch.send(m)

        async with ctx.peer(local_addresses=ice) as pc:
            states = []
            pc.on_state = states.append
            dc = pc.create_data_channel("chat", protocol="p1")
            pc.create_offer()
            offer = await pc.gathered(TIMEOUT)
            assert "a=candidate" in offer
            await remote.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await remote.setLocalDescription(await remote.createAnswer())
            pc.set_remote_description("answer", remote.localDescription.sdp)
            await pc.connected(TIMEOUT)
            await dc.opened(TIMEOUT)
            assert dc.label == "chat" and dc.protocol == "p1" and dc.ordered and dc.ready_state == "open"
            msgs = ["hello", b"\x00\x01binary\xff", "", "x" * 60000, "üñí"]
            for m in msgs:
                dc.send(m)
            got = [await dc.arecv(TIMEOUT) for _ in msgs]
            assert got == msgs
            assert strapto.CONNECTED in states
        assert pc.closed and dc.state == strapto.DC_CLOSED
        with pytest.raises(strapto.errors.ClosedError):
            dc.send("after close")
        await remote.close()
    asyncio.run(main())


def test_aiortc_offers_strapto_answers(ctx, ice):
    pin_aiortc()

    async def main():
        remote = RTCPeerConnection()
        ch = remote.createDataChannel("from-aiortc")
        replies = asyncio.Queue()
        opened = asyncio.Event()
        ch.on("open", opened.set)
        ch.on("message", replies.put_nowait)
        await remote.setLocalDescription(await remote.createOffer())

        pc = strapto.Peer(ctx, local_addresses=ice)
        pc.set_remote_description("offer", remote.localDescription.sdp)
        pc.create_answer()
        answer = await pc.gathered(TIMEOUT)
        await remote.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        dc = await pc.aaccept(TIMEOUT)
        assert dc.label == "from-aiortc"
        await dc.opened(TIMEOUT)

        # echo with a plain callback running on the library's loop thread
        dc.on_message = lambda m: dc.send(m.upper() if isinstance(m, str) else m)
        await asyncio.wait_for(opened.wait(), TIMEOUT)
        for m in ("one", "two", b"\x01\x02"):
            ch.send(m)
        got = [await asyncio.wait_for(replies.get(), TIMEOUT) for _ in range(3)]
        assert got == ["ONE", "TWO", b"\x01\x02"]

        # the remote closes the channel: the async iterator ends
        dc.on_message = None
        ch.close()
        async for _ in dc:
            pass
        assert dc.state == strapto.DC_CLOSED
        await pc.aclose()
        await remote.close()
    asyncio.run(main())
