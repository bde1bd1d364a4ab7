"""Helpers for interop tests: run strapto-cli peers, cross-connect their
JSON-lines signaling, and check results. Used by test_*.py in this folder."""
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
CLI = os.environ.get("STRAPTO_CLI", os.path.join(BUILD, "strapto-cli"))
OUT = os.path.join(ROOT, "test", "out")
ADDR = os.environ.get("STRAPTO_ICE_ADDRESSES", "127.0.0.1").split(",")[0]
SIGNAL_TYPES = ("offer", "answer", "candidate", "end-of-candidates")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class Peer:
    """A strapto-cli peer process. Signaling lines it prints go to `on_signal`;
    other JSON lines (summary) are kept in `.other`."""

    def __init__(self, args, name, stderr_path=None, env=None, cmd=None):
        self.name = name
        self.other = []
        self.on_signal = None
        self.pending = []
        self.lock = threading.Lock()
        self.err = open(stderr_path, "wb") if stderr_path else None
        cmd = (cmd or [CLI, "peer"]) + args
        log(name, "start:", " ".join(cmd))
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err if self.err else None, env=env)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                log(self.name, "non-JSON stdout:", line[:200])
                continue
            if msg.get("type") in SIGNAL_TYPES:
                with self.lock:
                    target = self.on_signal
                    if not target:  # not connected yet: keep it for connect()
                        self.pending.append(msg)
                if target:
                    target(msg)
            else:
                with self.lock:
                    self.other.append(msg)

    def send(self, msg):
        try:
            self.p.stdin.write((json.dumps(msg) + "\n").encode())
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(self.name, "timed out; killing")
            self.p.kill()
            rc = self.p.wait()
        self.t.join(5)
        return rc

    def summary(self):
        with self.lock:
            for m in self.other:
                if m.get("type") == "summary":
                    return m
        return None

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()


def set_signal_target(peer, fn):
    """Route peer's signaling lines to fn, first those printed before now."""
    while True:
        with peer.lock:
            held, peer.pending = peer.pending, []
            if not held:
                peer.on_signal = fn
                return
        for m in held:
            fn(m)


def connect(a, b):
    """Cross-connect the signaling of two Peer objects."""
    set_signal_target(a, b.send)
    set_signal_target(b, a.send)


def check(cond, what):
    if not cond:
        log("FAIL:", what)
        sys.exit(1)
    log("ok:", what)
