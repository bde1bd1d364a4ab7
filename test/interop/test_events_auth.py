#!/usr/bin/python3
"""Event hub security and bounds (strapto-cli events):
  e) bearer token: no token and a wrong token (header or ?token=) are
     refused with 401 and a JSON error body; the right token is accepted
     both as "Authorization: Bearer T" and as ?token=T; past --max-clients
     the upgrade is refused with 503 (JSON body) and a place freed is
     usable again; a request body announced larger than the bound is refused
     with 413 before it is sent, a chunked one growing past it too; a plain
     GET on the WebSocket path gets 400 with a JSON body; an oversized
     request header block is refused; the connected clients keep receiving
     broadcasts through all of it.
  f) TLS: with a certificate made here by openssl, wss:// works (replay,
     broadcast, a command, a 3000-event burst complete and in order), and
     plain ws:// on that port does not.
"""
import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_events_hub import ADDR, Hub, check, finish, log, recv_type  # noqa: E402

import websockets  # noqa: E402

TOKEN = "s3cret-token"


def http(hub, request, read_timeout=5, send_body=None):
    """Send a raw HTTP request; return (status, headers-text, body bytes)."""
    s = socket.create_connection((ADDR, hub.port), timeout=read_timeout)
    s.sendall(request.encode() if isinstance(request, str) else request)
    if send_body:
        try:
            send_body(s)
        except OSError:
            pass
    buf = b""
    t_end = time.monotonic() + read_timeout
    try:
        while b"\r\n\r\n" not in buf and time.monotonic() < t_end:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while length is not None and len(body) < length and time.monotonic() < t_end:
            d = s.recv(65536)
            if not d:
                break
            body += d
    except (socket.timeout, ConnectionResetError):
        head, body = buf, b""
    s.close()
    first = head.split(b"\r\n")[0].decode(errors="replace")
    status = int(first.split()[1]) if len(first.split()) > 1 and first.split()[1].isdigit() else 0
    return status, head.decode(errors="replace"), body


def json_error(body):
    try:
        e = json.loads(body)["error"]
        return e["code"] if isinstance(e.get("message"), str) else None
    except (ValueError, KeyError, TypeError):
        return None


async def refused_status(url, **kw):
    try:
        async with websockets.connect(url, open_timeout=5, **kw):
            return 101
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


async def test_auth(hub):
    log("(e) bearer token")
    base = hub.url
    check(await refused_status(base) == 401, "no token: 401")
    check(await refused_status(base, extra_headers={"Authorization": "Bearer wrong"}) == 401,
          "wrong token in the header: 401")
    check(await refused_status(base + "?token=wrong") == 401, "wrong ?token=: 401")
    check(await refused_status(base, extra_headers={"Authorization": "Basic " + TOKEN}) == 401,
          "token with another scheme: 401")
    st, head, body = http(hub, f"GET {hub.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(st == 401 and json_error(body) == "unauthorized" and "www-authenticate: bearer" in head.lower(),
          f"401 carries a JSON error body and WWW-Authenticate ({st}, {body[:80]})")

    good = await websockets.connect(base, extra_headers={"Authorization": f"Bearer {TOKEN}"})
    m = await recv_type(good, "replay")
    check(m["type"] == "replay", "right token in the Authorization header: accepted")
    good2 = await websockets.connect(base + f"?token={TOKEN}")
    await recv_type(good2, "replay")
    check(True, "right ?token=: accepted")

    st, _, body = http(hub, f"GET {hub.path}?token={TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(st == 400 and json_error(body), f"plain GET on the WebSocket path: 400 with a JSON error ({st})")

    log("(e) max clients (3)")
    third = await websockets.connect(base + f"?token={TOKEN}")
    await recv_type(third, "replay")
    check(await refused_status(base + f"?token={TOKEN}") == 503, "a 4th client: 503")
    st, _, body = http(hub, f"GET {hub.path}?token={TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                            "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n")
    check(st == 503 and json_error(body) == "too_many_clients", f"503 has a JSON error body ({body[:80]})")
    await third.close()
    await asyncio.sleep(0.3)
    fourth = await websockets.connect(base + f"?token={TOKEN}")
    await recv_type(fourth, "replay")
    check(True, "after one left, a new client is accepted")

    log("(e) request bodies over the bound (64 KiB)")
    t0 = time.monotonic()
    st, _, body = http(hub, f"POST {hub.path}?token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {10 * 1024 * 1024}\r\n\r\n")
    dt = time.monotonic() - t0
    check(st == 413 and json_error(body) == "body_too_large" and dt < 2,
          f"Content-Length 10 MiB: 413 with a JSON error, before the body ({st}, {dt:.2f}s)")

    def chunks(s):
        piece = b"x" * 16384
        for _ in range(16):  # 256 KiB in 16 KiB chunks
            s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
    st, _, body = http(hub, f"POST {hub.path}?token={TOKEN} HTTP/1.1\r\nHost: x\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n", send_body=chunks)
    check(st == 413 and json_error(body) == "body_too_large", f"chunked body past the bound: 413 ({st})")
    st, _, _ = http(hub, f"GET {hub.path} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 200000}\r\n\r\n")
    check(st in (400, 413, 431, 0), f"a 200 KB header block is refused ({st})")

    hub.publish("still_here", {"ok": 1})
    for ws, name in ((good, "header client"), (good2, "?token client"), (fourth, "new client")):
        m = await recv_type(ws, "still_here")
        check(m["data"] == {"ok": 1}, f"{name} still receives broadcasts")
    for ws in (good, good2, fourth):
        await ws.close()


async def test_tls(tmp):
    log("(f) TLS")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=30)
    if not check(r.returncode == 0, f"openssl made a certificate ({r.stderr.decode()[-200:]})"):
        return
    hub = Hub("events_tls", "--tls-cert", cert, "--tls-key", key)
    try:
        check(hub.url.startswith("wss://"), f"the hub reports a wss:// URL ({hub.url})")
        hub.publish("before", {"n": 1})
        ctx = ssl.create_default_context(cafile=cert)
        async with websockets.connect(hub.url, ssl=ctx) as ws:
            m = await recv_type(ws, "replay")
            check([e["type"] for e in m["data"]["events"]] == ["before"], "wss: replay received")
            hub.publish("live", {"n": 2})
            m = await recv_type(ws, "live")
            check(m["data"] == {"n": 2}, "wss: broadcast received")
            await ws.send(json.dumps({"type": "get_system_info"}))
            m = await recv_type(ws, "system_info")
            check(m["data"].get("clients") == 1, "wss: command answered")
            # a burst over TLS (partial TLS writes, back-pressure): all of it, in order
            n = 3000
            hub.feed("".join(json.dumps({"type": "tls_burst", "data": {"i": i, "pad": "z" * 200}}) + "\n"
                             for i in range(n)))
            got = []
            while len(got) < n:
                m = await recv_type(ws, "tls_burst")
                got.append(m["data"]["i"])
            check(got == list(range(n)), f"wss: a burst of {n} events arrives complete and in order")
        try:
            async with websockets.connect(f"ws://{ADDR}:{hub.port}{hub.path}", open_timeout=3):
                plain = True
        except Exception:  # noqa: BLE001 (any failure is the expected outcome)
            plain = False
        check(not plain, "plain ws:// on the TLS port fails")
        check(hub.alive(), "TLS hub still running")
    finally:
        rc = hub.stop()
    check(rc == 0, f"TLS hub exits 0 ({rc})")


async def main(tmp):
    hub = Hub("events_auth", "--token", TOKEN, "--max-clients", "3")
    try:
        t0 = time.monotonic()
        await test_auth(hub)
        log(f"(e) took {time.monotonic() - t0:.1f}s")
        check(hub.alive(), "hub still running")
    finally:
        rc = hub.stop()
    check(rc == 0, f"hub exits 0 ({rc})")
    t0 = time.monotonic()
    await test_tls(tmp)
    log(f"(f) took {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    from test_events_hub import failures
    with tempfile.TemporaryDirectory() as tmp:
        try:
            asyncio.run(asyncio.wait_for(main(tmp), 200))
        except Exception as e:  # noqa: BLE001
            log("FAIL: exception", repr(e))
            failures.append(repr(e))
    finish("test_events_auth")
