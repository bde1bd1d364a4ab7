"""valgrind over the lib<->lib message test (acceptance 6): two dc_msgs
processes, each under memcheck, exchange 300 messages of up to 64 KiB;
memcheck must report no error and no definitely/indirectly lost block."""
import os
import re
import shutil
import sys

from harness import BUILD, OUT, Peer, check, connect, log

if os.environ.get("SANITIZE") == "1":
    log("skipped under SANITIZE=1 (ASan and valgrind do not mix); the plain build runs it")
    sys.exit(0)
check(shutil.which("valgrind") is not None, "valgrind is installed")
prog = os.path.join(BUILD, "test", "dc_msgs")
vg = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
      "--show-leak-kinds=definite,indirect", "--num-callers=30"]
args = ["--count", "300", "--max-size", "65536", "--seed", "3", "--local-address", "127.0.0.1"]
logs = {}
peers = []
for role in ("offer", "answer"):
    logs[role] = os.path.join(OUT, "valgrind_%s.log" % role)
    peers.append(Peer(["--log-file=" + logs[role], prog, "--" + role] + args, role, logs[role] + ".stderr", cmd=vg))
connect(peers[0], peers[1])
rb = peers[1].wait(300)
ra = peers[0].wait(60)
for role, path in logs.items():
    text = open(path).read()
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
    ind = re.search(r"indirectly lost: ([\d,]+) bytes", text)
    log(role, m.group(0) if m else "no summary", "|", lost.group(0) if lost else "no leak summary (none lost)")
    check(m is not None and m.group(1) == "0", "%s: memcheck reports no error" % role)
    check(lost is None or lost.group(1) == "0", "%s: nothing definitely lost" % role)
    check(ind is None or ind.group(1) == "0", "%s: nothing indirectly lost" % role)
check(ra == 0 and rb == 0, "both processes exit 0 under valgrind (%s, %s)" % (ra, rb))
log("all checks passed")
