import asyncio
import json

import pytest

import strapto

websockets = pytest.importorskip("websockets")


def test_hub_broadcasts_bus_events_and_passes_commands(ctx):
    ctx.bus.publish("system_info", {"before": True})

    async def main():
        async with ctx.event_hub(listen="127.0.0.1:0", handle_commands=True) as hub:
            assert hub.port > 0
            async with websockets.connect("ws://127.0.0.1:%d/events" % hub.port) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert first["type"] == "replay"
                assert [e["type"] for e in first["data"]["events"]] == ["system_info"]
                for _ in range(100):
                    if hub.clients == 1:
                        break
                    await asyncio.sleep(0.05)
                assert hub.clients == 1
                ctx.bus.publish("model_output", {"text": "hi"})
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert msg["type"] == "model_output" and msg["data"] == {"text": "hi"} and msg["timestamp"]
                await ws.send(json.dumps({"type": "custom_cmd", "data": {"n": 1}}))
                cmd = await asyncio.wait_for(hub.__aiter__().__anext__(), 10)
                assert cmd.type == "custom_cmd" and cmd.data == {"n": 1} and cmd.client_id > 0
        assert hub.closed
    asyncio.run(main())


def test_hub_bad_address(ctx):
    with pytest.raises(strapto.StraptoError) as ei:
        ctx.event_hub(listen="not an address")
    assert ei.value.code in (strapto.errors.EINVAL, strapto.errors.EIO)
