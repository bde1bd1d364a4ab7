"""libstrapto <-> libstrapto in two processes (acceptance 1 and 4):
10,000 messages of random sizes (1 B .. 256 KiB) on a reliable ordered
channel arrive complete, byte-exact and in order; then a 50 MB file crosses
with an ICE restart in the middle and arrives byte-exact."""
import filecmp
import hashlib
import os
import sys
import time

from harness import BUILD, OUT, Peer, check, connect, log

os.makedirs(OUT, exist_ok=True)
ADDR = ["--local-address", "127.0.0.1"]


def messages():
    prog = [os.path.join(BUILD, "test", "dc_msgs")]
    args = ["--count", "10000", "--max-size", str(256 * 1024), "--seed", "7"] + ADDR
    t0 = time.time()
    a = Peer(["--offer"] + args, "sender", os.path.join(OUT, "lib_lib_sender.log"), cmd=prog)
    b = Peer(["--answer"] + args, "receiver", os.path.join(OUT, "lib_lib_receiver.log"), cmd=prog)
    connect(a, b)
    rb = b.wait(240)
    ra = a.wait(30)
    result = [m for m in b.other if m.get("type") == "result"]
    log("10,000 messages took %.1f s" % (time.time() - t0))
    check(rb == 0 and ra == 0, "both dc_msgs processes exit 0 (sender %s, receiver %s)" % (ra, rb))
    check(result and result[0]["received"] == 10000 and result[0]["errors"] == 0,
          "receiver checked 10,000 messages, none wrong: %s" % result)


def restart_transfer():
    src = os.path.join(OUT, "restart_in.bin")
    dst = os.path.join(OUT, "restart_out.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(50 * 1000 * 1000))
    alog = os.path.join(OUT, "restart_offerer.log")
    blog = os.path.join(OUT, "restart_answerer.log")
    t0 = time.time()
    a = Peer(["--offer", "--send", src, "--restart-ice-after", str(25 * 1000 * 1000), "--log-level", "info"] + ADDR,
             "offerer", alog)
    b = Peer(["--answer", "--recv", dst, "--log-level", "info"] + ADDR, "answerer", blog)
    connect(a, b)
    ra = a.wait(120)
    rb = b.wait(30)
    log("50 MB with an ICE restart took %.1f s" % (time.time() - t0))
    check(ra == 0 and rb == 0, "both peers exit 0 (offerer %s, answerer %s)" % (ra, rb))
    alog_text = open(alog).read()
    blog_text = open(blog).read()
    check("restarting ICE" in alog_text and "ICE restart" in alog_text, "the offerer restarted ICE")
    check("ICE restart" in blog_text, "the answerer took the restart (new credentials)")
    check("ICE restart complete" in alog_text and "ICE restart complete" in blog_text,
          "both sides selected a pair under the new credentials")
    check(os.path.getsize(dst) == os.path.getsize(src), "50 MB arrived (%d bytes)" % os.path.getsize(dst))
    check(filecmp.cmp(src, dst, shallow=False), "the file is byte-exact")
    os.unlink(src)
    os.unlink(dst)


messages()
restart_transfer()
log("all checks passed")
