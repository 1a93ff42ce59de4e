#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_interop.py - the C implementation against the independent Python peer.

    /usr/bin/python3 tests/interop/test_interop.py PATH/TO/secure-chat-cli

sc_peer.py (next to this file, written from PROTOCOL.md alone) plays the
other side over loopback:
 (a) C `serve` with sc_peer clients (v2 and v1), relaying to and from C
     `connect` clients (v2 and v1), and Python <-> Python through the C server;
 (b) sc_peer `server` with C `connect` clients (v2 and v1) and a Python client;
 (c) a C client against an sc_peer server whose allow-list lacks it (exit 5);
 (d) sc_peer's known-answer self-check over tests/core/kat-*.json.
Each check prints "ok N - name" or "not ok N - name: reason"; the last line
is "N passed, M failed" and the exit status is non-zero if anything failed.
"""

import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "sc_peer.py")
VECTORS = os.path.join(HERE, "..", "core")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import sc_peer  # noqa: E402  (fingerprints of the Python side's keys)
import sc_testlib  # noqa: E402  (the harness shared with tests/cli)
from sc_testlib import Fail, in_order, newdir, ok, run, scenario  # noqa: E402

CLI = None          # path of secure-chat-cli        } set by main() from
TMP = None          # temporary root, removed at exit } sc_testlib.setup()
PY = "/usr/bin/python3"


# ---------------------------------------------------------------- processes
class Proc(sc_testlib.Proc):
    """A child process whose stdout and stderr lines are collected."""

    SHORT_LIMIT = 800
    WAIT_S = 15.0


# --- the C side
class CServer(Proc):
    def __init__(self, key_dir, *extra):
        super().__init__([CLI, "serve", "--port", "0", "--key-dir", key_dir, *extra], "C serve")
        self.port = int(self.wait_line(r"^listening ", timeout=20).rsplit(":", 1)[1])
        self.fp = self.wait_line(r"^fingerprint ").split()[1]
        self.legacy_fp = self.wait_line(r"^legacy-fingerprint ").split()[1]

    def stop(self):
        self.signal(signal.SIGTERM)
        return self.wait(10)


def c_connect(port, key_dir, nick, protocol=2, trust="accept-new"):
    argv = [CLI, "connect", "127.0.0.1", "--port", port, "--key-dir", key_dir,
            "--nick", nick, "--trust", trust, "--protocol", protocol]
    return Proc(argv, f"C connect v{protocol} {nick}")


def c_fingerprints(key_dir):
    rc, out, err = run([CLI, "fingerprint", "--key-dir", key_dir])
    if rc != 0 or len(out) != 2:
        raise Fail(f"fingerprint --key-dir {key_dir}: rc={rc} out={out} err={err}")
    return out[0].split()[1], out[1].split()[1]


# --- the Python side
def py_client(port, key_dir, nick, protocol=2, send=(), expect=0, timeout=15, extra=()):
    argv = [PY, PEER, "client", "--host", "127.0.0.1", "--port", port, "--protocol", protocol,
            "--key-dir", key_dir, "--expect", expect, "--timeout", timeout, *extra]
    if nick:
        argv += ["--nick", nick]
    for text in send:
        argv += ["--send", text]
    return Proc(argv, f"sc_peer client v{protocol} {nick or '(no nick)'}", stdin=False)


def py_fingerprints(key_dir):
    """(v2, v1) fingerprints of an sc_peer key directory; creates the keys first."""
    os.makedirs(key_dir, exist_ok=True)
    ed = sc_peer.load_or_create_key(os.path.join(key_dir, "ed25519.pem"), "ed25519")
    rsa = sc_peer.load_or_create_key(os.path.join(key_dir, "rsa.pem"), "rsa")
    return sc_peer.fingerprint(sc_peer.raw_public(ed)), sc_peer.rsa_fingerprint(rsa.public_key())


class PyServer(Proc):
    def __init__(self, key_dir, *extra):
        self.fp, self.legacy_fp = py_fingerprints(key_dir)
        super().__init__([PY, PEER, "server", "--port", "0", "--key-dir", key_dir, *extra],
                         "sc_peer server", stdin=False)
        self.port = int(self.wait_line(r"^LISTENING ", timeout=20).split()[1])

    def stop(self):
        self.signal(signal.SIGTERM)
        return self.wait(10)


# ---------------------------------------------------------------- scenarios
@scenario
def c_server_python_clients():
    srv = CServer(newdir("c-srv"))
    ccd, cvd = newdir("cc"), newdir("cv")
    cc_fp, _ = c_fingerprints(ccd)
    _, cv_rsa = c_fingerprints(cvd)
    n = 0

    # two C clients stay connected throughout: one v2, one v1
    cc = c_connect(srv.port, ccd, "cc")
    n += 1
    ok("C server: C v2 client ready", srv.wait_line(rf"^ready #{n} ") == f"ready #{n} v2 cc {cc_fp}",
       srv.out)
    cv = c_connect(srv.port, cvd, "cv", protocol=1)
    n += 1
    cv_name = srv.wait_line(rf"^connected #{n} ").split()[2]
    srv.wait_line(rf"^ready #{n} ")

    # --- a Python v2 client talks with both C clients
    pd = newdir("py2")
    p_fp, _ = py_fingerprints(pd)
    py = py_client(srv.port, pd, "pyalice", send=["py2 one", "py2 two ✓"], expect=2)
    n += 1
    line = py.wait_line(r"^CONNECTED ")
    ok("sc_peer v2 client connects to the C server and sees its fingerprint",
       line.startswith(f"CONNECTED protocol=2 fingerprint={srv.fp} code="), line)
    ready = srv.wait_line(rf"^ready #{n} ")
    ok("C server prints ready with the Python v2 client's nick and fingerprint",
       ready == f"ready #{n} v2 pyalice {p_fp}", f"{ready!r}, expected fingerprint {p_fp}")
    cc.wait_line(r"^pyalice: py2 two")
    cv.wait_line(r"^pyalice: py2 two")
    ok("Python v2 -> C v2 client: messages in order",
       *in_order(cc.out, "pyalice: ", ["pyalice: py2 one", "pyalice: py2 two ✓"]))
    ok("Python v2 -> C v1 client: plaintext 'nick: text' in order",
       *in_order(cv.out, "pyalice: ", ["pyalice: py2 one", "pyalice: py2 two ✓"]))
    srv.wait_line(rf"^message #{n} pyalice: py2 two")  # printed as the relay goes out
    ok("C server prints the Python client's message lines",
       in_order(srv.out, f"message #{n} ", [f"message #{n} pyalice: py2 one",
                                            f"message #{n} pyalice: py2 two ✓"])[0],
       [l for l in srv.out if l.startswith("message")])
    ok("C v2 client sees '* pyalice joined'", "* pyalice joined" in cc.out, cc.out)
    cc.send("from cc ✓\n")
    py.wait_line(r"^MSG cc: ")
    cv.send("from cv\n")
    rc = py.wait(20)
    msgs = [l for l in py.out if l.startswith("MSG ")]
    ok("C v2 client -> Python v2 client", "MSG cc: from cc ✓" in msgs, py.describe())
    ok("C v1 client -> Python v2 client (named by address)", f"MSG {cv_name}: from cv" in msgs,
       py.describe())
    ok("sc_peer v2 client exits 0 without timeout",
       rc == 0 and not any("TIMEOUT" in l or "ERROR" in l for l in py.err), py.describe())
    py_peer = srv.wait_line(rf"^connected #{n} ").split()[2]
    ok("C server: the Python v2 client closed properly",
       srv.wait_line(rf"^disconnected #{n} ") == f"disconnected #{n} {py_peer}: closed by peer",
       srv.out)
    cc.wait_line(r"^\* pyalice left$")

    # --- a Python v1 client talks with both C clients
    pd = newdir("py1")
    _, p_rsa = py_fingerprints(pd)
    py = py_client(srv.port, pd, None, protocol=1, send=["py1 one", "py1 two ✓"], expect=2)
    n += 1
    line = py.wait_line(r"^CONNECTED ")
    ok("sc_peer v1 client connects to the C server and sees its RSA fingerprint",
       line.startswith(f"CONNECTED protocol=1 fingerprint={srv.legacy_fp} "), line)
    p_name = srv.wait_line(rf"^connected #{n} ").split()[2]
    ready = srv.wait_line(rf"^ready #{n} ")
    ok("C server prints ready v1 with the Python client's RSA fingerprint",
       ready == f"ready #{n} v1 {p_name} {p_rsa} (legacy, not authenticated)",
       f"{ready!r}, expected {p_rsa}")
    cc.wait_line(rf"^{re.escape(p_name)}: py1 two")
    cv.wait_line(rf"^{re.escape(p_name)}: py1 two")
    ok("Python v1 -> C v2 client: messages in order",
       *in_order(cc.out, f"{p_name}: ", [f"{p_name}: py1 one", f"{p_name}: py1 two ✓"]))
    ok("Python v1 -> C v1 client: messages in order",
       *in_order(cv.out, f"{p_name}: ", [f"{p_name}: py1 one", f"{p_name}: py1 two ✓"]))
    cc.send("cc to v1\n")
    py.wait_line(r"^MSG cc: ")
    cv.send("cv to v1\n")
    rc = py.wait(20)
    msgs = [l for l in py.out if l.startswith("MSG ")]
    ok("C v2 client -> Python v1 client", "MSG cc: cc to v1" in msgs, py.describe())
    ok("C v1 client -> Python v1 client", f"MSG {cv_name}: cv to v1" in msgs, py.describe())
    ok("sc_peer v1 client exits 0 without timeout",
       rc == 0 and not any("TIMEOUT" in l or "ERROR" in l for l in py.err), py.describe())
    srv.wait_line(rf"^disconnected #{n} ")

    # --- Python <-> Python through the C server, every protocol pair
    for recv_proto, send_proto in ((2, 2), (2, 1), (1, 2), (1, 1)):
        rd, sd = newdir(f"r{recv_proto}"), newdir(f"s{send_proto}")
        recv_nick = f"recv{recv_proto}{send_proto}" if recv_proto == 2 else None
        send_nick = f"send{recv_proto}{send_proto}" if send_proto == 2 else None
        r = py_client(srv.port, rd, recv_nick, protocol=recv_proto, expect=2, timeout=8)
        n += 1
        r.wait_line(r"^CONNECTED ")
        srv.wait_line(rf"^ready #{n} ")
        s = py_client(srv.port, sd, send_nick, protocol=send_proto,
                      send=[f"hi {recv_proto}{send_proto}", "second ✓"])
        n += 1
        s_name = srv.wait_line(rf"^connected #{n} ").split()[2] if send_proto == 1 else send_nick
        rc_s = s.wait(20)
        sender_end = srv.wait_line(rf"^disconnected #{n} ")
        rc_r = r.wait(20)
        msgs = [l for l in r.out if l.startswith("MSG ")]
        ok(f"Python v{send_proto} (sends, then ends at once) -> C server -> Python v{recv_proto}",
           rc_s == 0 and rc_r == 0 and
           msgs == [f"MSG {s_name}: hi {recv_proto}{send_proto}", f"MSG {s_name}: second ✓"],
           f"receiver got {msgs}; C server: {sender_end!r}, "
           f"{[l for l in srv.out if l.startswith(('ready #%d ' % n, 'message #%d ' % n))]}\n"
           f"{s.describe()}\n{r.describe()}")
        srv.wait_line(rf"^disconnected #{n - 1} ")

    cc.close_stdin()
    cv.close_stdin()
    ok("C clients exit 0", cc.wait() == 0 and cv.wait() == 0, f"{cc.describe()}\n{cv.describe()}")
    ok("C server exits 0 on SIGTERM", srv.stop() == 0 and srv.out[-1] == "stopped", srv.describe())


@scenario
def python_server_c_clients():
    srv = PyServer(newdir("py-srv"))
    info = srv.wait_line(r"^info: server v2 fingerprint ", "err")
    ok("sc_peer server logs the fingerprints computed here",
       srv.fp in info and srv.legacy_fp in info, info)
    ccd, cvd = newdir("cc"), newdir("cv")
    cc_fp, _ = c_fingerprints(ccd)
    _, cv_rsa = c_fingerprints(cvd)

    cc = c_connect(srv.port, ccd, "cc")
    line = cc.wait_line(r"^Connected to ", "err")
    m = re.search(r"server key (\S+) \((\w+)\), session code (\d{3} \d{3})", line)
    ok("C v2 client: 'Connected ...' shows the Python server's fingerprint",
       m and m.group(1) == srv.fp and m.group(2) == "new", f"{line!r}, expected {srv.fp}")
    hs = srv.wait_line(r"^HANDSHAKE protocol=2 ")
    ok("Python server sees the C v2 client's nick and fingerprint",
       hs == f"HANDSHAKE protocol=2 nick=cc fingerprint={cc_fp}", f"{hs!r}, expected {cc_fp}")
    code = srv.wait_line(r"session code ", "err").rsplit("session code ", 1)[1]
    ok("both sides show the same session code", m and m.group(3) == code,
       f"C {m.group(3) if m else None!r}, Python {code!r}")

    cv = c_connect(srv.port, cvd, "cv", protocol=1)
    line = cv.wait_line(r"^Connected to ", "err")
    ok("C v1 client connects to the Python server (LEGACY)", "LEGACY" in line, line)
    hs = srv.wait_line(r"^HANDSHAKE protocol=1 ")
    ok("Python server sees the C v1 client's RSA fingerprint",
       hs == f"HANDSHAKE protocol=1 nick=- fingerprint={cv_rsa}", f"{hs!r}, expected {cv_rsa}")
    ev = cc.wait_line(r"^\* .* joined$")
    cv_name = ev[2:-len(" joined")]
    ok("C v2 client prints the Python server's join event for the v1 client",
       re.fullmatch(r"127\.0\.0\.1:\d+", cv_name), ev)

    # C v2 <-> C v1 through the Python server
    cc.send("cc1\ncc2 ✓\n")
    cv.wait_line(r"^cc: cc2")
    ok("C v2 -> Python server -> C v1, in order", *in_order(cv.out, "cc: ", ["cc: cc1", "cc: cc2 ✓"]))
    cv.send("cv1\ncv2 ✓\n")
    cc.wait_line(rf"^{re.escape(cv_name)}: cv2")
    ok("C v1 -> Python server -> C v2, in order",
       *in_order(cc.out, f"{cv_name}: ", [f"{cv_name}: cv1", f"{cv_name}: cv2 ✓"]))
    # the server may relay before it prints its own line: wait for it
    srv.wait_line(rf"^MSG {re.escape(cv_name)}: cv2")
    ok("Python server logged the C clients' messages",
       all(f"MSG {w}" in srv.out for w in ("cc: cc1", "cc: cc2 ✓", f"{cv_name}: cv1",
                                          f"{cv_name}: cv2 ✓")), srv.out)

    # a Python client with both C clients
    for proto in (2, 1):
        pd = newdir(f"py{proto}")
        nick = "pyb" if proto == 2 else None
        py = py_client(srv.port, pd, nick, protocol=proto, send=[f"py{proto} a", f"py{proto} b ✓"],
                       expect=2)
        py.wait_line(r"^CONNECTED ")
        hs = srv.wait_line(rf"^HANDSHAKE protocol={proto} ", count=2)
        name = nick or None
        if name is None:
            # the Python server names v1 clients by address; the relay shows it
            line = cc.wait_line(rf"^127\.0\.0\.1:\d+: py{proto} a$")
            name = line.split(": ", 1)[0]
        cc.wait_line(rf"^{re.escape(name)}: py{proto} b")
        cv.wait_line(rf"^{re.escape(name)}: py{proto} b")
        ok(f"Python v{proto} client -> Python server -> C v2 client",
           *in_order(cc.out, f"{name}: ", [f"{name}: py{proto} a", f"{name}: py{proto} b ✓"]))
        ok(f"Python v{proto} client -> Python server -> C v1 client",
           *in_order(cv.out, f"{name}: ", [f"{name}: py{proto} a", f"{name}: py{proto} b ✓"]))
        cc.send(f"cc to py{proto}\n")
        py.wait_line(r"^MSG cc: ")
        cv.send(f"cv to py{proto}\n")
        rc = py.wait(20)
        msgs = [l for l in py.out if l.startswith("MSG ")]
        ok(f"C v2 and C v1 clients -> Python server -> Python v{proto} client",
           rc == 0 and f"MSG cc: cc to py{proto}" in msgs and f"MSG {cv_name}: cv to py{proto}" in msgs
           and not any("TIMEOUT" in l for l in py.err), py.describe())
        if proto == 2:
            cc.wait_line(rf"^\* {name} left$")

    cc.close_stdin()
    cv.close_stdin()
    ok("C v2 client exits 0 at end of input", cc.wait() == 0, cc.describe())
    ok("C v1 client exits 0 at end of input", cv.wait() == 0, cv.describe())

    # pinned now: strict accepts it; then the server stops with a Close
    cs = c_connect(srv.port, ccd, "cc", trust="strict")
    line = cs.wait_line(r"^Connected to ", "err")
    ok("C client with --trust strict accepts the pinned Python server key",
       f"server key {srv.fp} (pinned)" in line, line)
    srv.wait_line(r"^HANDSHAKE protocol=2 nick=cc ", count=2)
    time.sleep(0.2)
    ok("sc_peer server exits 0 on SIGTERM", srv.stop() == 0, srv.describe())
    rc = cs.wait(10)
    ok("C client sees the Python server close the session (exit 3, 'closed')",
       rc == 3 and any("closed" in l for l in cs.err), cs.describe())


@scenario
def python_server_allow_list():
    sd, cd = newdir("py-srv"), newdir("c")
    c_fp, _ = c_fingerprints(cd)
    other_fp, _ = py_fingerprints(newdir("other"))
    allow = os.path.join(TMP, "allow-others")
    with open(allow, "w") as f:
        f.write(f"{other_fp} somebody\n")
    srv = PyServer(sd, "--allow", allow)
    c = c_connect(srv.port, cd, "intruder")
    c.send("hello\n")
    rc = c.wait(15)
    ok("C v2 client not on the Python server's allow-list exits 5", rc == 5, c.describe())
    ok("the C client shows the server's reason",
       any("allow-list" in l for l in c.err), c.err)
    ok("Python server saw the C client's fingerprint and relayed nothing",
       srv.wait_line(r"^HANDSHAKE ") == f"HANDSHAKE protocol=2 nick=intruder fingerprint={c_fp}"
       and not any(l.startswith("MSG") for l in srv.out), srv.out)
    srv.stop()

    allow = os.path.join(TMP, "allow-c")
    with open(allow, "w") as f:
        f.write(f"{c_fp} friend\n")
    srv = PyServer(sd, "--allow", allow)
    c = c_connect(srv.port, cd, "friend")
    c.send("hello\n")
    srv.wait_line(r"^MSG friend: hello$")
    c.close_stdin()
    ok("C v2 client on the Python server's allow-list is admitted", c.wait(15) == 0, c.describe())
    srv.stop()


@scenario
def known_answers():
    rc, out, err = run([PY, PEER, "kat", VECTORS], timeout=60)
    last = out[-1] if out else ""
    ok("sc_peer kat tests/core passes", rc == 0 and last.startswith("OK:"),
       f"rc={rc} last={last!r} failures={[l for l in out if 'FAIL' in l or 'not ok' in l][:10]} "
       f"stderr={err[-5:]}")


# ---------------------------------------------------------------- main
def main():
    global CLI, TMP
    rc = sc_testlib.setup("sc-test-interop-", PYTHONIOENCODING="utf-8")
    if rc is not None:
        return rc
    CLI, TMP = sc_testlib.CLI, sc_testlib.TMP
    return sc_testlib.run_scenarios()


if __name__ == "__main__":
    sys.exit(main())
