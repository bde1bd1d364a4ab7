"""ICE through a TURN relay: coturn (Debian's turnserver) on 127.0.0.1, two
strapto-cli peers with --turn and --relay-only; every candidate they signal
is a relay candidate, and a 5 MB file crosses byte-exact through the relay
(coturn's allocation counters show the traffic)."""
import filecmp
import os
import shutil
import subprocess
import time

from harness import OUT, Peer, check, log, set_signal_target

check(shutil.which("turnserver") is not None, "coturn's turnserver is installed")
port = 34780
tlog = os.path.join(OUT, "turnserver.log")
turn = subprocess.Popen(
    ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port=%d" % port,
     "--min-port=49000", "--max-port=49100", "--lt-cred-mech", "--user=strapto:secret", "--realm=strapto.test",
     "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers", "--fingerprint", "--log-file=stdout",
     "--simple-log", "--verbose"],
    stdout=open(tlog, "wb"), stderr=subprocess.STDOUT)
try:
    time.sleep(0.5)
    check(turn.poll() is None, "turnserver is running")
    src = os.path.join(OUT, "turn_in.bin")
    dst = os.path.join(OUT, "turn_out.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(5 * 1000 * 1000))
    common = ["--turn", "turn:strapto:secret@127.0.0.1:%d" % port, "--relay-only", "--local-address", "127.0.0.1",
              "--log-level", "info"]
    a = Peer(["--offer", "--send", src] + common, "offerer", os.path.join(OUT, "turn_offerer.log"))
    b = Peer(["--answer", "--recv", dst] + common, "answerer", os.path.join(OUT, "turn_answerer.log"))
    seen = []

    def tap(dst_peer):
        def fwd(msg):
            if msg.get("type") == "candidate":
                seen.append(msg["candidate"])
            if msg.get("type") in ("offer", "answer"):
                seen.extend(l[2:] for l in msg["sdp"].split("\r\n") if l.startswith("a=candidate:"))
            dst_peer.send(msg)
        return fwd

    set_signal_target(a, tap(b))
    set_signal_target(b, tap(a))
    ra = a.wait(60)
    rb = b.wait(20)
    check(ra == 0 and rb == 0, "both peers exit 0 (%s, %s)" % (ra, rb))
    check(len(seen) > 0, "candidates were signaled (%d)" % len(seen))
    check(all(" typ relay" in c for c in seen), "every signaled candidate is a relay candidate")
    check(filecmp.cmp(src, dst, shallow=False), "5 MB arrived byte-exact through the relay")
finally:
    turn.terminate()
    turn.wait(5)
text = open(tlog, errors="replace").read()
check("ALLOCATE" in text or "allocation" in text.lower(), "coturn logged allocations")
log("all checks passed")
