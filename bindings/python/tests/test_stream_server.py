import json
import sys
import urllib.request

import strapto

MODEL = "import sys\nprint('ready', flush=True)\nfor line in sys.stdin:\n    print('echo ' + line.strip(), flush=True)\n"


def test_stream_server_model_output_and_http(ctx):
    sub = ctx.bus.subscribe("model_output")
    with ctx.stream_server(listen="127.0.0.1:0", model_argv=[sys.executable, "-u", "-c", MODEL],
                           input_format=strapto.INPUT_TEXT) as srv:
        port = srv.port
        assert port > 0
        ev = sub.get(timeout=10)
        assert ev.type == "model_output" and "ready" in ev.payload
        ctx.bus.publish("consumer_input", {"text": "ping"})
        ev = sub.get(timeout=10)
        assert "echo ping" in ev.payload
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=10) as r:
            assert r.status == 200
        status = srv.status()
        assert isinstance(status, dict)
        with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=10) as r:
            assert json.loads(r.read()).keys() == status.keys()
    assert srv.closed
    sub.close()
