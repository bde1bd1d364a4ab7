"""strapto-cli serve: the model process's lines, stderr and stdin, seen by a
WebSocket client of /events.

Model 1 writes a fixed set of stdout lines; each must become one
model_output event:
  {"type":"token","text":"typed"}  -> data is that object, verbatim
  {"text":"no type"}               -> wrapped: {"text": the line}
  [1,2,3] and {"type": 5}          -> wrapped (not an object / type not a string)
  "plain words" + CRLF             -> {"text":"plain words"}
  invalid UTF-8 bytes              -> repaired with U+FFFD
  an empty line                    -> {"text":""}
  70,000 bytes in one line         -> pieces of at most 64 KiB, nothing lost
  non-ASCII text                   -> unchanged
A stderr line shows in the server's log at info level, prefixed with the
model's name, its escape character replaced. With --input-format text, an
input {"text":"one\\ntwo"} reaches stdin as the line "one two", an input
without "text" as its JSON line, and with the default (json) format an input
is written as its data object on one line, numbers unchanged.
Model 2 prints "partial" without a newline and exits: the event comes before
the server_status exit event."""
import asyncio
import json
import os
import time

from test_serve_harness import run_checks, Server, WsClient, out_dir, PY

MODEL1 = r'''
import sys
echo = sys.argv[1]
out = sys.stdout.buffer
for line in (b'{"type":"token","text":"typed"}', b'{"text":"no type"}', b'[1,2,3]', b'plain words\r',
             b'bad \xff\xfe utf8', b'{"type": 5}', b'', b'A' * 70000, 'ünïcode ✓ 日本'.encode(), b'END'):
    out.write(line + b'\n')
out.flush()
sys.stderr.write('a stderr line \x1b[31m with an escape\n')
sys.stderr.flush()
for line in sys.stdin.buffer:
    with open(echo, 'ab') as f:
        f.write(line)
'''

MODEL2 = r'''
import sys, time
sys.stdout.write('partial')
sys.stdout.flush()
time.sleep(0.2)
sys.exit(3)
'''


def texts(events):
    return [e["data"] for e in events if e.get("type") == "model_output"]


async def model_lines(c, folder):
    path = os.path.join(folder, "model1.py")
    echo = os.path.join(folder, "echo_text.txt")
    for p in (echo,):
        if os.path.exists(p):
            os.unlink(p)
    with open(path, "w") as f:
        f.write(MODEL1)
    srv = Server("model-lines", args=["--input-format", "text"], model=[PY, path, echo])
    ws = WsClient(srv.base, "ws")
    try:
        await ws.connect()
        await ws.wait_for(lambda x: any(d.get("text") == "END" for d in texts(x.events) + sum(
            [texts(e["data"].get("events", [])) for e in x.events if e.get("type") == "replay"], [])), 10, "END")
        evs = []
        for e in ws.events:  # what came before we connected is in the replay
            evs += e["data"]["events"] if e.get("type") == "replay" else [e]
        got = texts(evs)
        c.check(got[0] == {"type": "token", "text": "typed"}, f"typed line passed through: {got[0]}")
        c.check(got[1] == {"text": '{"text":"no type"}'}, f"object without type wrapped: {got[1]}")
        c.check(got[2] == {"text": "[1,2,3]"}, f"array wrapped: {got[2]}")
        c.check(got[3] == {"text": "plain words"}, f"CRLF line: {got[3]}")
        c.check(got[4] == {"text": "bad \ufffd\ufffd utf8"}, f"invalid UTF-8 repaired: {got[4]}")
        c.check(got[5] == {"text": '{"type": 5}'}, f"non-string type wrapped: {got[5]}")
        c.check(got[6] == {"text": ""}, f"empty line: {got[6]}")
        pieces = []
        i = 7
        while i < len(got) and set(got[i].get("text", "")) == {"A"}:
            pieces.append(len(got[i]["text"]))
            i += 1
        c.check(sum(pieces) == 70000 and all(p <= 65536 for p in pieces) and len(pieces) == 2,
                f"a 70,000-byte line comes in pieces {pieces}")
        c.check(i < len(got) and got[i] == {"text": "ünïcode ✓ 日本"}, f"non-ASCII line: {got[i] if i < len(got) else None}")
        c.check(i + 1 < len(got) and got[i + 1] == {"text": "END"}, "nothing else in between")
        await asyncio.sleep(0.3)
        logtext = srv.log_text()
        c.check("info model: python3 model1.py: a stderr line ?[31m with an escape" in logtext,
                "stderr goes to the log, prefixed with the model's name, escape replaced")
        c.check("longer than 65536 bytes" in logtext, "the long line is reported in the log")
        await ws.send("consumer_input", {"text": "one\ntwo", "extra": 1})
        await ws.send("consumer_input", {"other": 9007199254740993})
        await ws.send("consumer_input", {"text": "ünï ✓"})
        deadline = time.monotonic() + 5
        lines = []
        while time.monotonic() < deadline:
            try:
                with open(echo, "rb") as f:
                    lines = f.read().split(b"\n")
            except OSError:
                pass
            if len(lines) >= 4:
                break
            await asyncio.sleep(0.05)
        c.check(lines[:3] == [b"one two", b'{"other":9007199254740993}', "ünï ✓".encode()],
                f"--input-format text: stdin got {lines[:3]}")
    finally:
        await ws.close()
        rc = srv.stop()
        c.check(rc == 0, f"server exit status {rc}")
        if c.failed:
            srv.print_log_tail(30)


async def json_input(c, folder):
    path = os.path.join(folder, "model1.py")
    echo = os.path.join(folder, "echo_json.txt")
    if os.path.exists(echo):
        os.unlink(echo)
    srv = Server("model-json", model=[PY, path, echo])
    ws = WsClient(srv.base, "ws-json")
    try:
        await ws.connect()
        data = {"text": "multi\nline ✓", "n": 3, "big": 9007199254740993, "f": 1.5, "nested": {"a": [1, None]}}
        await ws.send("consumer_input", data)
        deadline = time.monotonic() + 5
        lines = []
        while time.monotonic() < deadline and len(lines) < 2:
            try:
                with open(echo, "rb") as f:
                    lines = f.read().split(b"\n")
            except OSError:
                pass
            await asyncio.sleep(0.05)
        one = json.loads(lines[0]) if lines else None
        c.check(len(lines) == 2 and lines[1] == b"" and one == data and type(one["n"]) is int,
                f"--input-format json: one line holding the data object ({lines[:1]})")
    finally:
        await ws.close()
        rc = srv.stop()
        c.check(rc == 0, f"server exit status {rc}")


async def partial(c, folder):
    path = os.path.join(folder, "model2.py")
    with open(path, "w") as f:
        f.write(MODEL2)
    srv = Server("model-partial", model=[PY, path])
    ws = WsClient(srv.base, "ws-partial")
    try:
        await ws.connect()
        await ws.wait_for(lambda x: any(e.get("type") == "server_status" and e["data"].get("model") == "exited"
                                        for e in x.events) or any(
            any(r.get("type") == "server_status" and r["data"].get("model") == "exited"
                for r in e["data"].get("events", [])) for e in x.events if e.get("type") == "replay"), 10, "exit")
        evs = []
        for e in ws.events:
            evs += e["data"]["events"] if e.get("type") == "replay" else [e]
        kinds = [(e["type"], e["data"].get("text") or e["data"].get("model")) for e in evs
                 if e["type"] in ("model_output", "server_status")]
        c.check(kinds[-2:] == [("model_output", "partial"), ("server_status", "exited")],
                f"a last line without a newline comes before the exit: {kinds}")
        ex = [e["data"] for e in evs if e["type"] == "server_status" and e["data"].get("model") == "exited"]
        c.check(ex and ex[-1].get("status") == 3, f"exit status reported: {ex}")
    finally:
        await ws.close()
        rc = srv.stop()
        c.check(rc == 0, f"server exit status {rc}")


async def run(c):
    folder = out_dir("serve_model")
    await model_lines(c, folder)
    await json_input(c, folder)
    await partial(c, folder)


def main():
    run_checks("model", run, 90)


if __name__ == "__main__":
    main()
