#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_cli.py - behaviour, exit codes and messages of secure-chat-cli.

    /usr/bin/python3 tests/cli/test_cli.py PATH/TO/secure-chat-cli

Everything runs over real loopback sockets (servers on --port 0) with
temporary key directories that are removed at the end. Each check prints
"ok N - name" or "not ok N - name: reason"; the last line is
"N passed, M failed" and the exit status is non-zero if anything failed.
Every child process has a deadline and is killed when its scenario ends.
"""

import os
import re
import signal
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sc_testlib  # noqa: E402  (the harness shared with tests/interop)
from sc_testlib import Fail, in_order, newdir, ok, scenario, short  # noqa: E402

CLI = None          # path of secure-chat-cli        } set by main() from
TMP = None          # temporary root, removed at exit } sc_testlib.setup()
ENV = None          # environment for every child     }

FP_RE = r"SHA256:[A-Za-z0-9+/]{43}"


# ---------------------------------------------------------------- processes
class Proc(sc_testlib.Proc):
    """A child secure-chat-cli whose stdout and stderr lines are collected."""

    SHORT_LIMIT = 600
    WAIT_S = 10.0

    def __init__(self, args, name=None, stdin=True, prefix=()):
        """stdin: True for a pipe, False for /dev/null, or a file descriptor;
        prefix: a command that runs secure-chat-cli with its arguments."""
        super().__init__([*prefix, CLI] + list(args), name or args[0], stdin)


def run(args, timeout=15.0, stdin=b""):
    """Runs secure-chat-cli to completion: (rc, stdout lines, stderr lines)."""
    args = [str(a) for a in args]
    return sc_testlib.run([CLI] + args, timeout, stdin=stdin, label=" ".join(args))


class Server(Proc):
    def __init__(self, key_dir, *extra, port=0, name="serve", prefix=()):
        super().__init__(["serve", "--port", port, "--key-dir", key_dir, *extra], name=name,
                         prefix=prefix)
        line = self.wait_line(r"^listening ", timeout=20)
        self.port = int(line.rsplit(":", 1)[1])
        self.fp = self.wait_line(r"^fingerprint ").split()[1]
        self.legacy_fp = self.wait_line(r"^legacy-fingerprint ").split()[1]

    def stop(self, sig=signal.SIGTERM, timeout=10):
        self.signal(sig)
        return self.wait(timeout)


def connect(port, key_dir, nick=None, protocol=2, trust="accept-new", name=None, stdin=True):
    args = ["connect", "127.0.0.1", "--port", port, "--key-dir", key_dir, "--trust", trust]
    if nick is not None:
        args += ["--nick", nick]
    if protocol != 2:
        args += ["--protocol", protocol]
    return Proc(args, name=name or nick or "connect", stdin=stdin)


def fingerprints(key_dir):
    rc, out, err = run(["fingerprint", "--key-dir", key_dir])
    if rc != 0 or len(out) != 2:
        raise Fail(f"fingerprint --key-dir {key_dir}: rc={rc} out={out} err={err}")
    return out[0].split()[1], out[1].split()[1]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------- scenarios
@scenario
def help_output():
    home_keys = os.path.join(ENV["XDG_DATA_HOME"], "secure-chat")
    for argv in (["--help"], ["help"], ["-h"]):
        rc, out, err = run(argv)
        ok(f"{' '.join(argv)} exits 0 with the command list on stdout",
           rc == 0 and any("Usage" in l for l in out) and
           all(any(c in l for l in out) for c in ("serve", "connect", "fingerprint", "trust"))
           and not err, f"rc={rc} out={out} err={err}")
    want = {
        "serve": ["--port", "--bind", "--key-dir", "--no-legacy", "--allow-list", "--max-clients",
                  "--handshake-timeout", "--idle-timeout"],
        "connect": ["--port", "--protocol", "--nick", "--key-dir", "--trust"],
        "fingerprint": ["--key-dir"],
        "trust": ["--key-dir", "list", "forget", "verify", "allow"],
    }
    for cmd, words in want.items():
        rc, out, err = run([cmd, "--help"])
        text = "\n".join(out)
        missing = [w for w in words if w not in text]
        ok(f"{cmd} --help exits 0 and documents {', '.join(words)}",
           rc == 0 and "Usage" in text and not missing and not err,
           f"rc={rc} missing={missing} out={short(text)} err={err}")
    ok("--help creates no key directory", not os.path.exists(home_keys),
       f"{home_keys} exists: {os.listdir(home_keys) if os.path.isdir(home_keys) else ''}")


@scenario
def usage_errors():
    kd = os.path.join(TMP, "usage-keys")   # must never be created by a usage error
    cases = [
        ("unknown command", ["frobnicate"]),
        ("serve --port 70000", ["serve", "--port", "70000"]),
        ("serve --port -1", ["serve", "--port", "-1"]),
        ("serve --port abc", ["serve", "--port", "abc"]),
        ("serve --max-clients 0", ["serve", "--max-clients", "0"]),
        ("serve --handshake-timeout 0", ["serve", "--handshake-timeout", "0"]),
        ("serve --handshake-timeout abc", ["serve", "--handshake-timeout", "abc"]),
        ("serve --idle-timeout -1", ["serve", "--idle-timeout", "-1"]),
        ("serve --idle-timeout 0.05", ["serve", "--idle-timeout", "0.05"]),
        ("serve --idle-timeout nan", ["serve", "--idle-timeout", "nan"]),
        ("serve unknown option", ["serve", "--frobnicate"]),
        ("serve extra argument", ["serve", "extra"]),
        ("connect --port 0", ["connect", "127.0.0.1", "--port", "0"]),
        ("connect --port 65536", ["connect", "127.0.0.1", "--port", "65536"]),
        ("connect --port x", ["connect", "127.0.0.1", "--port", "x"]),
        ("connect --port without value", ["connect", "127.0.0.1", "--port"]),
        ("connect --protocol 3", ["connect", "127.0.0.1", "--protocol", "3"]),
        ("connect --protocol 0", ["connect", "127.0.0.1", "--protocol", "0"]),
        ("connect --trust maybe", ["connect", "127.0.0.1", "--trust", "maybe"]),
        ("connect without HOST", ["connect"]),
        ("connect extra argument", ["connect", "127.0.0.1", "extra"]),
        ("connect --nick longer than 64 bytes", ["connect", "127.0.0.1", "--nick", "n" * 65]),
        ("fingerprint extra argument", ["fingerprint", "extra"]),
        ("trust without command", ["trust"]),
        ("trust unknown command", ["trust", "frobnicate"]),
        ("trust list extra argument", ["trust", "list", "extra"]),
        ("trust forget without HOST:PORT", ["trust", "forget"]),
        ("trust verify two arguments", ["trust", "verify", "a:1", "b:2"]),
        ("trust allow not a fingerprint", ["trust", "allow", "not-a-fingerprint"]),
    ]
    for name, argv in cases:
        rc, out, err = run(argv[:1] + ["--key-dir", kd] + argv[1:])
        ok(f"usage error, {name}: exit 2, one line on stderr",
           rc == 2 and len(err) == 1 and err[0].startswith("secure-chat-cli: ") and not out,
           f"rc={rc} stdout={out} stderr={err}")
    rc, out, err = run([])
    ok("no command: exit 2 and usage on stderr", rc == 2 and err and not out,
       f"rc={rc} stdout={out} stderr={err}")
    ok("usage errors create no key directory", not os.path.exists(kd),
       f"{kd} was created")


@scenario
def fingerprint_cmd():
    kd = newdir("fp")
    rc1, out1, err1 = run(["fingerprint", "--key-dir", kd], timeout=30)
    ok("fingerprint exits 0 with identity and legacy-rsa lines",
       rc1 == 0 and len(out1) == 2 and re.fullmatch(rf"identity {FP_RE}", out1[0])
       and re.fullmatch(rf"legacy-rsa {FP_RE}", out1[1]),
       f"rc={rc1} out={out1} err={err1}")
    files = {n: read_bytes(os.path.join(kd, n)) for n in ("server_key.pem", "identity_ed25519.pem")}
    modes = {n: stat.S_IMODE(os.stat(os.path.join(kd, n)).st_mode)
             for n in files if files[n] is not None}
    ok("fingerprint creates both key files with mode 0600",
       all(files.values()) and all(m == 0o600 for m in modes.values()),
       f"files={ {n: (v is not None) for n, v in files.items()} } modes={ {n: oct(m) for n, m in modes.items()} }")
    rc2, out2, err2 = run(["fingerprint", "--key-dir", kd])
    ok("fingerprint is stable across runs", rc2 == 0 and out2 == out1, f"first={out1} second={out2}")
    ok("fingerprint leaves the key files unchanged",
       all(read_bytes(os.path.join(kd, n)) == v for n, v in files.items()), "a key file changed")
    kd2 = newdir("fp2")
    _, out3, _ = run(["fingerprint", "--key-dir", kd2], timeout=30)
    ok("another key directory has other fingerprints",
       len(out3) == 2 and out3[0] != out1[0] and out3[1] != out1[1], f"{out1} vs {out3}")


@scenario
def relay_v2():
    sd, ad, bd = newdir("srv"), newdir("alice"), newdir("bob")
    sfp, slegacy = fingerprints(sd)
    afp, _ = fingerprints(ad)
    bfp, _ = fingerprints(bd)
    srv = Server(sd)
    ok("serve prints the same fingerprints as the fingerprint command",
       srv.fp == sfp and srv.legacy_fp == slegacy,
       f"serve {srv.fp} {srv.legacy_fp}, fingerprint {sfp} {slegacy}")
    ok("serve prints fingerprint, legacy-fingerprint, listening 127.0.0.1:PORT first",
       srv.out[:3] == [f"fingerprint {sfp}", f"legacy-fingerprint {slegacy}",
                       f"listening 127.0.0.1:{srv.port}"], f"{srv.out[:3]}")
    alice = connect(srv.port, ad, "alice")
    line = alice.wait_line(r"^Connected to ", "err")
    ok("connect reports the server key, trust state new and a session code",
       re.fullmatch(rf"Connected to 127\.0\.0\.1:{srv.port} with the secure protocol; server key "
                    rf"{re.escape(sfp)} \(new\), session code \d{{3}} \d{{3}}", line), line)
    ready = srv.wait_line(r"^ready #1 ")
    ok("serve prints ready #1 v2 alice with alice's fingerprint",
       ready == f"ready #1 v2 alice {afp}", ready)
    ok("serve prints connected #1 with the peer address",
       re.fullmatch(r"connected #1 127\.0\.0\.1:\d+", srv.wait_line(r"^connected #1 ")),
       srv.out)
    bob = connect(srv.port, bd, "bob")
    bob.wait_line(r"^Connected to ", "err")
    ready = srv.wait_line(r"^ready #2 ")
    ok("serve prints ready #2 v2 bob with bob's fingerprint", ready == f"ready #2 v2 bob {bfp}", ready)
    alice.wait_line(r"^\* bob joined$")
    ok("alice sees '* bob joined'", True)

    # several lines written at once, both ways at the same time
    alice.send("a1\na2\na3\n")
    bob.send("b1\nb2\nb3\n")
    bob.wait_line(r"^alice: a3$")
    alice.wait_line(r"^bob: b3$")
    ok("bob receives alice's back-to-back lines in order",
       *in_order(bob.out, "alice: ", ["alice: a1", "alice: a2", "alice: a3"]))
    ok("alice receives bob's back-to-back lines in order",
       *in_order(alice.out, "bob: ", ["bob: b1", "bob: b2", "bob: b3"]))
    srv.wait_line(r"^message #2 bob: b3$")
    srv.wait_line(r"^message #1 alice: a3$")
    ok("serve prints message lines in order per client",
       in_order(srv.out, "message #1 ", [f"message #1 alice: a{i}" for i in (1, 2, 3)])[0] and
       in_order(srv.out, "message #2 ", [f"message #2 bob: b{i}" for i in (1, 2, 3)])[0],
       [l for l in srv.out if l.startswith("message")])

    alice.send("héllo ✓ 你好\n")
    ok("UTF-8 text is relayed intact",
       bob.wait_line(r"^alice: h") == "alice: héllo ✓ 你好", bob.out)
    alice.send("tab\there\x07bell\n")
    got = bob.wait_line(r"^alice: tab")
    ok("control characters are printed escaped on one line",
       got == "alice: tab\\there\\x07bell", got)
    srv.wait_line(r"^message #1 alice: tab")

    bob.close_stdin()
    rc = bob.wait()
    ok("bob exits 0 at end of input", rc == 0, bob.describe())
    alice.wait_line(r"^\* bob left$")
    ok("alice sees '* bob left'", True)
    bob_peer = srv.wait_line(r"^connected #2 ").split()[2]
    ok("serve prints disconnected #2 PEER: closed by peer, naming bob's address",
       srv.wait_line(r"^disconnected #2 ") == f"disconnected #2 {bob_peer}: closed by peer", srv.out)
    alice.close_stdin()
    ok("alice exits 0 at end of input", alice.wait() == 0, alice.describe())
    srv.wait_line(r"^disconnected #1 ")
    ok("messages are not echoed to their sender",
       not any(l.startswith("alice:") for l in alice.out) and
       not any(l.startswith("bob:") for l in bob.out), f"alice={alice.out} bob={bob.out}")
    ok("status goes to stderr, not stdout",
       not any(l.startswith("Connected") for l in alice.out + bob.out), alice.out + bob.out)
    known = (read_bytes(os.path.join(ad, "known_servers")) or b"").decode()
    ok("accept-new pinned the server key in known_servers",
       f"127.0.0.1:{srv.port} {sfp}" in known, repr(known))
    rc = srv.stop()
    ok("serve exits 0 on SIGTERM and prints stopped", rc == 0 and srv.out[-1] == "stopped",
       srv.describe())


@scenario
def relay_v1_v2():
    sd, cd, dd = newdir("srv"), newdir("carol"), newdir("dave")
    _, dave_rsa = fingerprints(dd)
    srv = Server(sd)
    carol = connect(srv.port, cd, "carol")
    carol.wait_line(r"^Connected to ", "err")
    srv.wait_line(r"^ready #1 v2 carol ")
    dave = connect(srv.port, dd, "dave", protocol=1)
    line = dave.wait_line(r"^Connected to ", "err")
    ok("a v1 client is told the session is LEGACY and not authenticated",
       "LEGACY" in line and "not authenticated" in line, line)
    peer = srv.wait_line(r"^connected #2 ").split()[2]
    ready = srv.wait_line(r"^ready #2 ")
    ok("serve prints ready #2 v1 with the address as name and the RSA fingerprint, "
       "marked legacy", ready == f"ready #2 v1 {peer} {dave_rsa} (legacy, not authenticated)",
       f"{ready!r}, expected peer {peer} fingerprint {dave_rsa}")
    dave.send("d1\nd2\nd3 ✓\n")
    carol.wait_line(r"d3")
    ok("v1 -> v2: carol receives dave's lines in order, named by address",
       *in_order(carol.out, f"{peer}: ", [f"{peer}: d1", f"{peer}: d2", f"{peer}: d3 ✓"]))
    carol.send("c1\nc2\nc3 ✓\n")
    dave.wait_line(r"c3")
    ok("v2 -> v1: dave prints the plaintext 'carol: text' in order",
       *in_order(dave.out, "carol: ", ["carol: c1", "carol: c2", "carol: c3 ✓"]))
    srv.wait_line(rf"^message #2 {re.escape(peer)}: d3")  # printed as the relay goes out
    ok("serve prints the v1 client's messages",
       in_order(srv.out, "message #2 ", [f"message #2 {peer}: d1", f"message #2 {peer}: d2",
                                          f"message #2 {peer}: d3 ✓"])[0],
       [l for l in srv.out if l.startswith("message")])
    dave.close_stdin()
    ok("the v1 client exits 0 at end of input", dave.wait() == 0, dave.describe())
    srv.wait_line(r"^disconnected #2 ")
    time.sleep(0.3)   # a leave event, if any, arrives now
    carol.close_stdin()
    ok("carol exits 0", carol.wait() == 0, carol.describe())
    joins = [l for l in carol.out if l == f"* {peer} joined"]
    leaves = [l for l in carol.out if l == f"* {peer} left"]
    ok("a v2 client sees join and leave of a v1 client consistently (both or neither)",
       len(joins) == len(leaves),
       f"carol saw {len(joins)} join and {len(leaves)} leave events for the v1 client: "
       f"{[l for l in carol.out if l.startswith('*')]}")
    srv.stop()


@scenario
def v1_quick_sender():
    """A v1 client whose input ends at once: handshake, messages and EOF arrive together."""
    sd, ad, vd = newdir("srv"), newdir("alice"), newdir("v1")
    srv = Server(sd)
    alice = connect(srv.port, ad, "alice")
    srv.wait_line(r"^ready #1 ")
    lost = []
    for i in range(1, 4):
        rc, out, err = run(["connect", "127.0.0.1", "--port", srv.port, "--key-dir", vd,
                            "--protocol", "1"], stdin=f"quick {i}a\nquick {i}b\n".encode())
        line = srv.wait_line(rf"^disconnected #{i + 1} ")
        try:
            alice.wait_line(rf": quick {i}b$", timeout=3)
        except Fail:
            lost.append(f"try {i}: client rc={rc}, server said {line!r}")
    ok("every message of a v1 client that ends its input at once is relayed (3 tries)",
       not lost, "; ".join(lost) + f"; server: {[l for l in srv.out if '#' in l]}")
    alice.close_stdin()
    alice.wait()
    srv.stop()


@scenario
def trust_policies():
    sd, kd = newdir("srv"), newdir("cli")
    srv = Server(sd)
    known = os.path.join(kd, "known_servers")
    hp = f"127.0.0.1:{srv.port}"

    ask = connect(srv.port, kd, "asker", trust="ask")
    ask.send("should not be sent\n")
    rc = ask.wait(15)
    err = "\n".join(ask.err)
    ok("--trust ask without a terminal refuses an unknown key with exit 4", rc == 4, ask.describe())
    ok("the refusal shows the fingerprint and how to accept it (--trust accept-new)",
       srv.fp in err and "--trust accept-new" in err, err)
    ok("the refusal pins nothing", not (read_bytes(known) or b"").strip(), repr(read_bytes(known)))

    strict = connect(srv.port, kd, "strict", trust="strict")
    strict.close_stdin()
    rc = strict.wait(15)
    err = "\n".join(strict.err)
    ok("--trust strict refuses an unknown key with exit 4", rc == 4, strict.describe())
    ok("the strict refusal names the fingerprint", srv.fp in err, err)
    ok("strict pins nothing", not (read_bytes(known) or b"").strip(), repr(read_bytes(known)))
    time.sleep(0.2)
    ok("refused clients never became ready on the server",
       not any(l.startswith("ready") for l in srv.out), srv.out)

    # --trust ask on a terminal: the question is asked, "n" refuses, "y" pins
    for answer, want_rc in (("n", 4), ("y", 0)):
        try:
            master, slave = os.openpty()
        except OSError as e:
            print(f"# skipped --trust ask on a terminal: no pty ({e})", flush=True)
            break
        try:
            tty = connect(srv.port, kd, "tty", trust="ask", stdin=slave)
            os.close(slave)
            prompt = tty.wait_line(r"^Session code: ", "err")
            ok(f"--trust ask on a terminal shows the fingerprint and session code ({answer})",
               any(srv.fp in l for l in tty.err) and re.fullmatch(r"Session code: \d{3} \d{3}", prompt),
               tty.err)
            os.write(master, answer.encode() + b"\n")
            if answer == "y":
                tty.wait_line(r"Connected to ", "err")
                os.write(master, b"\x04")     # end of input on the terminal
            rc = tty.wait(15)
            pinned = f"{hp} {srv.fp}" in (read_bytes(known) or b"").decode()
            ok(f"--trust ask on a terminal, answer {answer}: exit {want_rc}, "
               f"{'pinned' if answer == 'y' else 'nothing pinned'}",
               rc == want_rc and pinned == (answer == "y"), f"pinned={pinned} {tty.describe()}")
        finally:
            os.close(master)
    run(["trust", "forget", hp, "--key-dir", kd])

    first = connect(srv.port, kd, "first", trust="accept-new")
    first.close_stdin()
    ok("--trust accept-new connects and exits 0", first.wait(15) == 0, first.describe())
    ok("accept-new reports trust state new",
       any(f"server key {srv.fp} (new)" in l for l in first.err), first.err)
    again = connect(srv.port, kd, "again", trust="strict")
    again.close_stdin()
    ok("--trust strict accepts the pinned key, trust state pinned",
       again.wait(15) == 0 and any(f"server key {srv.fp} (pinned)" in l for l in again.err),
       again.describe())
    ask2 = connect(srv.port, kd, "ask2", trust="ask")
    ask2.close_stdin()
    ok("--trust ask accepts a pinned key without asking", ask2.wait(15) == 0, ask2.describe())

    rc, out, err = run(["trust", "list", "--key-dir", kd])
    ok("trust list shows the pinned key", rc == 0 and out == [f"server {hp} {srv.fp}"],
       f"rc={rc} out={out} err={err}")
    rc, out, err = run(["trust", "verify", hp, "--key-dir", kd])
    ok("trust verify marks it verified", rc == 0 and out == [f"verified {hp} {srv.fp}"],
       f"rc={rc} out={out} err={err}")
    rc, out, err = run(["trust", "list", "--key-dir", kd])
    ok("trust list shows the verified mark", rc == 0 and out == [f"server {hp} {srv.fp} verified"],
       f"rc={rc} out={out} err={err}")
    v = connect(srv.port, kd, "verified", trust="strict")
    v.close_stdin()
    ok("connect reports trust state verified",
       v.wait(15) == 0 and any(f"server key {srv.fp} (verified)" in l for l in v.err), v.describe())
    rc, out, err = run(["trust", "verify", "127.0.0.1:1", "--key-dir", kd])
    ok("trust verify of an unknown host fails with exit 1 and a clear message",
       rc == 1 and len(err) == 1 and "127.0.0.1:1" in err[0] and "pinned" in err[0],
       f"rc={rc} out={out} err={err}")

    rc, out, err = run(["trust", "forget", "127.0.0.1:1", "--key-dir", kd])
    ok("trust forget of an unknown host fails with exit 1 and a clear message",
       rc == 1 and not out and len(err) == 1 and "127.0.0.1:1" in err[0]
       and re.search(r"no key|not pinned|unknown", err[0], re.I),
       f"rc={rc} out={out} err={err}")
    rc, out, err = run(["trust", "forget", "no-port-here", "--key-dir", kd])
    ok("trust forget of a malformed HOST:PORT fails with a message",
       rc in (1, 2) and len(err) == 1 and "no-port-here" in err[0], f"rc={rc} out={out} err={err}")
    rc, out, err = run(["trust", "forget", hp, "--key-dir", kd])
    ok("trust forget removes the pin", rc == 0 and out == [f"forgot {hp}"],
       f"rc={rc} out={out} err={err}")
    rc, out, err = run(["trust", "list", "--key-dir", kd])
    ok("trust list is then empty and says so on stderr",
       rc == 0 and not out and any("No server keys" in l for l in err), f"rc={rc} out={out} err={err}")
    ok("forget also removes the verified mark",
       srv.fp not in (read_bytes(os.path.join(kd, "verified_keys")) or b"").decode(),
       repr(read_bytes(os.path.join(kd, "verified_keys"))))
    s2 = connect(srv.port, kd, "s2", trust="strict")
    s2.close_stdin()
    ok("after forget, strict refuses again with exit 4", s2.wait(15) == 4, s2.describe())

    cfp, _ = fingerprints(kd)
    rc, out, err = run(["trust", "allow", cfp, "friend", "--key-dir", kd])
    ok("trust allow FP NICK approves a client", rc == 0 and out == [f"allowed {cfp}"],
       f"rc={rc} out={out} err={err}")
    auth = (read_bytes(os.path.join(kd, "authorized_clients")) or b"").decode()
    ok("the approval is written to authorized_clients", cfp in auth and "friend" in auth, repr(auth))
    rc, out, err = run(["trust", "list", "--key-dir", kd])
    ok("trust list shows approved clients too (as its --help says)",
       rc == 0 and f"client {cfp} friend" in out, f"rc={rc} out={out} err={err}")
    srv.stop()


@scenario
def changed_key():
    sa, sb, kd = newdir("srvA"), newdir("srvB"), newdir("cli")
    a = Server(sa, name="serve A")
    c = connect(a.port, kd, "pin")
    c.close_stdin()
    ok("client pins server A with accept-new", c.wait(15) == 0, c.describe())
    ok("server A stops with exit 0", a.stop() == 0, a.describe())
    known_path = os.path.join(kd, "known_servers")
    before = read_bytes(known_path)
    ok("known_servers holds A's key", before and a.fp.encode() in before, repr(before))
    b = Server(sb, port=a.port, name="serve B")
    ok("server B has another key", b.fp != a.fp, f"{a.fp} {b.fp}")
    for policy in ("accept-new", "ask", "strict"):
        c = connect(b.port, kd, "victim", trust=policy)
        c.send("secret\n")
        rc = c.wait(15)
        err = "\n".join(c.err)
        ok(f"--trust {policy}: a changed server key exits 4", rc == 4, c.describe())
        ok(f"--trust {policy}: the message says the key changed and shows both keys",
           re.search(r"chang", err, re.I) and a.fp in err and b.fp in err, err)
        ok(f"--trust {policy}: known_servers is left byte-identical",
           read_bytes(known_path) == before, f"before={before!r} after={read_bytes(known_path)!r}")
    time.sleep(0.2)
    ok("no session reached server B", not any(l.startswith(("ready", "message")) for l in b.out),
       b.out)
    b.stop()


@scenario
def allow_list():
    sd, ed, vd = newdir("srv"), newdir("eve"), newdir("v1")
    efp, _ = fingerprints(ed)
    srv = Server(sd, "--allow-list")
    eve = connect(srv.port, ed, "eve")
    eve.send("let me in\n")
    rc = eve.wait(15)
    ok("a client not on the allow-list exits 5", rc == 5, eve.describe())
    ok("the rejection is explained on stderr",
       any(re.search(r"refused|reject|approv", l, re.I) for l in eve.err), eve.err)
    line = srv.wait_line(r"^disconnected #1 ")
    ok("serve prints a disconnected line naming the rejected fingerprint",
       "reject" in line and efp in line, line)
    ok("the rejected client never became ready", not any(l.startswith("ready") for l in srv.out),
       srv.out)

    v1 = connect(srv.port, vd, "oldie", protocol=1)
    line = srv.wait_line(r"^disconnected #2 ")
    ok("a v1 client not on the allow-list is dropped by the server", "reject" in line, line)
    rc = v1.wait(15)
    ok("the dropped v1 client exits with a failure", rc != 0, v1.describe())

    rc, out, err = run(["trust", "allow", efp, "eve", "--key-dir", sd])
    ok("trust allow FP on the server's key directory", rc == 0 and out == [f"allowed {efp}"],
       f"rc={rc} out={out} err={err}")
    # the running server
    eve = connect(srv.port, ed, "eve")
    eve.close_stdin()
    rc = eve.wait(15)
    ok("the running --allow-list server admits the client after trust allow",
       rc == 0 and any(l.startswith("ready #3 v2 eve") for l in srv.out),
       f"{eve.describe()}; server: {srv.out[-3:]}")
    ok("serve exits 0", srv.stop() == 0, srv.describe())
    # a restarted server
    srv = Server(sd, "--allow-list", port=srv.port)
    eve = connect(srv.port, ed, "eve")
    eve.send("hello\n")
    srv.wait_line(r"^ready #1 ")
    eve.close_stdin()
    rc = eve.wait(15)
    ok("a restarted --allow-list server admits the approved client",
       rc == 0 and srv.wait_line(r"^ready #1 ") == f"ready #1 v2 eve {efp}"
       and srv.wait_line(r"^message #1 ") == "message #1 eve: hello",
       f"{eve.describe()}; server: {srv.out}")
    srv.stop()


@scenario
def connection_refused():
    kd = newdir("cli")
    port = free_port()
    rc, out, err = run(["connect", "127.0.0.1", "--port", port, "--key-dir", kd,
                        "--trust", "accept-new"], stdin=b"hello\n")
    ok("connect with no server exits 3 with one message on stderr",
       rc == 3 and len(err) == 1 and str(port) in err[0] and not out,
       f"rc={rc} out={out} err={err}")


@scenario
def corrupt_keys():
    garbage = b"-----BEGIN PRIVATE KEY-----\nthis is not a key\n-----END PRIVATE KEY-----\n"
    # an existing key directory whose RSA key got damaged
    kd = newdir("corrupt")
    fingerprints(kd)
    path = os.path.join(kd, "server_key.pem")
    with open(path, "wb") as f:
        f.write(garbage)
    st = os.stat(path)
    for name, argv in (("serve", ["serve", "--port", "0", "--key-dir", kd]),
                       ("fingerprint", ["fingerprint", "--key-dir", kd]),
                       ("connect", ["connect", "127.0.0.1", "--port", "1", "--key-dir", kd])):
        rc, out, err = run(argv)
        ok(f"{name} with a corrupt server_key.pem exits 1 naming the file",
           rc == 1 and any("server_key.pem" in l for l in err) and
           not any(l.startswith("listening") for l in out), f"rc={rc} out={out} err={err}")
        st2 = os.stat(path)
        ok(f"{name} leaves the corrupt server_key.pem unchanged",
           read_bytes(path) == garbage and st2.st_mode == st.st_mode and st2.st_ino == st.st_ino,
           f"content now {read_bytes(path)!r}")

    # a key directory that holds only a damaged RSA key: no fresh key replaces it
    kd = newdir("corrupt-only")
    path = os.path.join(kd, "server_key.pem")
    with open(path, "wb") as f:
        f.write(b"\x00garbage\xff" * 10)
    os.chmod(path, 0o600)
    rc, out, err = run(["fingerprint", "--key-dir", kd])
    ok("fingerprint with only a garbage server_key.pem exits 1 naming it, file unchanged",
       rc == 1 and any("server_key.pem" in l for l in err) and read_bytes(path) == b"\x00garbage\xff" * 10,
       f"rc={rc} out={out} err={err}")

    # a damaged Ed25519 identity
    kd = newdir("corrupt-id")
    fingerprints(kd)
    path = os.path.join(kd, "identity_ed25519.pem")
    with open(path, "wb") as f:
        f.write(b"garbage\n")
    rc, out, err = run(["serve", "--port", "0", "--key-dir", kd])
    ok("serve with a corrupt identity_ed25519.pem exits 1 naming it, file unchanged",
       rc == 1 and any("identity_ed25519.pem" in l for l in err) and read_bytes(path) == b"garbage\n",
       f"rc={rc} out={out} err={err}")

    # a key file others may read
    kd = newdir("loose")
    fingerprints(kd)
    path = os.path.join(kd, "identity_ed25519.pem")
    before = read_bytes(path)
    os.chmod(path, 0o644)
    rc, out, err = run(["fingerprint", "--key-dir", kd])
    ok("a world-readable identity key is reported (exit 1, naming the file) and left as it is",
       rc == 1 and any("identity_ed25519.pem" in l for l in err) and read_bytes(path) == before
       and stat.S_IMODE(os.stat(path).st_mode) == 0o644, f"rc={rc} out={out} err={err}")

    # a damaged trust file
    kd = newdir("bad-trust")
    fingerprints(kd)
    path = os.path.join(kd, "known_servers")
    with open(path, "wb") as f:
        f.write(b"this line is not a pin\n")
    rc, out, err = run(["trust", "list", "--key-dir", kd])
    ok("trust list with a damaged known_servers exits 1 naming it, file unchanged",
       rc == 1 and any("known_servers" in l for l in err)
       and read_bytes(path) == b"this line is not a pin\n", f"rc={rc} out={out} err={err}")


@scenario
def signals():
    sd, ad, bd = newdir("srv"), newdir("a"), newdir("b")
    srv = Server(sd)
    a = connect(srv.port, ad, "anna")
    a.wait_line(r"^Connected", "err")
    srv.wait_line(r"^ready #1 ")
    rc = srv.stop(signal.SIGTERM)
    ok("SIGTERM: serve exits 0 and prints stopped last",
       rc == 0 and srv.out and srv.out[-1] == "stopped", srv.describe())
    ok("SIGTERM: serve reports the client's disconnection before stopped",
       any(re.match(r"disconnected #1 ", l) for l in srv.out[:-1]), srv.out)
    rc = a.wait(10)
    ok("SIGTERM: the connected v2 client learns the server closed the session (exit 3)",
       rc == 3 and any(re.search(r"closed", l) for l in a.err), a.describe())

    srv = Server(sd)
    b = connect(srv.port, bd, "bert", protocol=1)
    b.wait_line(r"^Connected", "err")
    srv.wait_line(r"^ready #1 ")
    rc = srv.stop(signal.SIGINT)
    ok("SIGINT: serve exits 0 and prints stopped last",
       rc == 0 and srv.out and srv.out[-1] == "stopped", srv.describe())
    rc = b.wait(10)
    ok("SIGINT: the connected v1 client sees the connection closed (exit 3)",
       rc == 3 and any(re.search(r"closed", l) for l in b.err), b.describe())

    srv = Server(sd)
    rc = srv.stop(signal.SIGINT)
    ok("SIGINT on an idle server: exit 0, stopped", rc == 0 and srv.out[-1] == "stopped",
       srv.describe())


@scenario
def no_legacy():
    sd, vd, nd = newdir("srv"), newdir("v1"), newdir("v2")
    srv = Server(sd, "--no-legacy")
    old = connect(srv.port, vd, "old", protocol=1)
    old.send("hello\n")        # stdin stays open: only the server can end this
    line = srv.wait_line(r"^disconnected #1 ")
    ok("serve --no-legacy drops a v1 client with a line mentioning legacy",
       re.search(r"legacy", line, re.I), line)
    rc = old.wait(15)
    ok("the refused v1 client fails (exit 3) with a message",
       rc == 3 and old.err and any("secure-chat-cli:" in l for l in old.err), old.describe())
    ok("the v1 client never became ready and its message was not accepted",
       not any(l.startswith(("ready", "message")) for l in srv.out), srv.out)
    new = connect(srv.port, nd, "new")
    new.send("hi\n")
    srv.wait_line(r"^message #2 new: hi$")
    new.close_stdin()
    ok("serve --no-legacy still serves v2 clients", new.wait(10) == 0, new.describe())
    srv.stop()


@scenario
def idle_timeout():
    sd, qd, td = newdir("srv"), newdir("quiet"), newdir("talk")
    srv = Server(sd, "--idle-timeout", "1.5")
    quiet = connect(srv.port, qd, "quiet")     # stdin stays open, says nothing
    peer = srv.wait_line(r"^connected #1 ").split()[2]
    srv.wait_line(r"^ready #1 ")
    talk = connect(srv.port, td, "talk")
    srv.wait_line(r"^ready #2 ")
    n = 0
    while quiet.p.poll() is None and n < 100:  # 30 s at most
        talk.send(f"still here {n}\n")
        n += 1
        time.sleep(0.3)
    rc = quiet.wait(15)
    ok("serve --idle-timeout 1.5 cuts a client that sends nothing, with one line saying so",
       srv.wait_line(r"^disconnected #1 ") == f"disconnected #1 {peer}: idle: nothing received for 1.5 s",
       srv.out)
    ok("the idle client exits 3 and says the server closed the connection",
       rc == 3 and quiet.err[-1] == "secure-chat-cli: Connection closed by server",
       quiet.describe())
    srv.wait_line(rf"^message #2 talk: still here {n - 1}$")
    ok("a client that keeps sending stays connected",
       talk.p.poll() is None and srv.count_lines("disconnected #2") == 0, talk.describe())
    talk.close_stdin()
    ok("and leaves normally", talk.wait(10) == 0, talk.describe())
    srv.stop()


@scenario
def open_file_limit():
    # With descriptors for only some of --max-clients, the rest are refused
    # at once (at EMFILE they would wait unanswered while accepting rests)
    sd, ad = newdir("srv"), newdir("alice")
    srv = Server(sd, "--handshake-timeout", "60", name="serve-fds",
                 prefix=["sh", "-c", 'ulimit -n 128 && exec "$0" "$@"'])
    port = srv.port
    warning = srv.wait_line(r"open-file limit", "err")
    m = re.search(r"room for (\d+) connections, not the 1024 of --max-clients", warning)
    ok("serve under ulimit -n 128 warns how many connections fit", m and 0 < int(m.group(1)) < 128,
       srv.describe())
    room = int(m.group(1)) if m else 0
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(room + 30)]
    line = srv.wait_line(r"^refused ", count=30, timeout=20)
    time.sleep(0.5)
    ok("the 30 connections beyond it are refused, one line each, naming the limit",
       srv.count_lines("refused ") == 30 and line.endswith(f"too many connections (limit {room})"),
       f"{srv.count_lines('refused ')} refused; {line}")
    ok("and stderr holds the warning alone", srv.err == [warning], short("\n".join(srv.err)))
    for sock in socks:
        sock.close()
    srv.wait_line(r"^disconnected ", count=room, timeout=20)
    alice = connect(port, ad, "alice")
    alice.send("still serving\n")
    srv.wait_line(r"^message #\d+ alice: still serving$")
    alice.close_stdin()
    ok("then a client connects and chats", alice.wait(10) == 0, alice.describe())
    srv.signal(signal.SIGTERM)
    ok("serve exits 0", srv.wait(10) == 0, srv.describe())


@scenario
def stalled_clients():
    sd = newdir("srv")
    srv = Server(sd)
    t0 = time.monotonic()
    # 1: connects, never reads nor sends; 2: reads the greeting, sends one byte of a v2 hello
    silent = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    srv.wait_line(r"^connected #1 ")
    partial = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    srv.wait_line(r"^connected #2 ")
    partial.settimeout(5)
    greeting = b""
    while b"\n\n" not in greeting:
        chunk = partial.recv(4096)
        if not chunk:
            break
        greeting += chunk
    partial.sendall(b"\x00")

    dirs = {n: newdir(n) for n in ("alice", "bob", "zed")}
    alice = connect(srv.port, dirs["alice"], "alice")
    srv.wait_line(r"^ready #3 ")
    bob = connect(srv.port, dirs["bob"], "bob")
    srv.wait_line(r"^ready #4 ")
    zed = connect(srv.port, dirs["zed"], "zed")
    srv.wait_line(r"^ready #5 ")
    bob.wait_line(r"^\* zed joined$")
    alice.wait_line(r"^\* zed joined$")
    os.kill(zed.p.pid, signal.SIGSTOP)      # zed stops reading its socket
    try:
        # flood the server in batches of ~0.5 MB, paced by bob, who reads, until zed
        # (whose kernel buffers fill first) is dropped: at least 24 MB, at most 96 MB
        size, batch, min_batches, max_batches = 48000, 10, 50, 200
        body = "x" * size
        t_flood = time.monotonic()
        batches = 0
        while batches < max_batches:
            b = batches
            alice.send("".join(f"F{b * batch + i:05d} {body}\n" for i in range(batch)))
            bob.wait_line(rf"^alice: F{b * batch + batch - 1:05d} ", timeout=20)
            batches += 1
            if batches >= min_batches and srv.count_lines("disconnected #5 "):
                break
        flood_s = time.monotonic() - t_flood
        seq = [l.split()[1] for l in bob.out if l.startswith("alice: F")]
        ok("a client that never reads does not stall the others "
           f"({batches * batch} messages of {size} bytes in {flood_s:.1f}s)",
           seq == [f"F{i:05d}" for i in range(batches * batch)],
           f"bob got {len(seq)} flood lines, out of order or missing")
        line = srv.wait_line(r"^disconnected #5 ", timeout=15)
        ok("the client that never reads is disconnected (send queue full)",
           re.search(r"queue|not reading", line, re.I), line)
        bob.wait_line(r"^\* zed left$")
    finally:
        os.kill(zed.p.pid, signal.SIGCONT)
    zed.wait(10)

    # keep chatting until the handshake timeout, each message within 2 s
    n, late = 0, []
    while time.monotonic() - t0 < 10.5 or n < 3:
        n += 1
        t = time.monotonic()
        alice.send(f"ping {n}\n")
        bob.wait_line(rf"^alice: ping {n}$", timeout=5)
        bob.send(f"pong {n}\n")
        alice.wait_line(rf"^bob: pong {n}$", timeout=5)
        if time.monotonic() - t > 2:
            late.append(n)
        time.sleep(0.5)
    ok(f"chat keeps flowing while two connections idle in the handshake ({n} round trips)",
       not late, f"slow round trips: {late}")
    l1 = srv.wait_line(r"^disconnected #1 ", timeout=max(1, 14 - (time.monotonic() - t0)))
    l2 = srv.wait_line(r"^disconnected #2 ", timeout=max(1, 14 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    ok("a silent connection is dropped after the 10 s handshake timeout",
       "timed out" in l1 and elapsed < 14, f"{l1} after {elapsed:.1f}s")
    ok("a connection stuck inside the handshake is dropped after the timeout",
       "timed out" in l2, l2)
    for s, name in ((silent, "silent"), (partial, "partial")):
        s.settimeout(3)
        try:
            data = s.recv(65536)
            while data:
                data = s.recv(65536)
            closed = True
        except socket.timeout:
            closed = False
        except OSError:
            closed = True   # a reset counts as closed
        ok(f"the {name} connection's socket is closed by the server", closed, "still open")
        s.close()
    alice.close_stdin()
    bob.close_stdin()
    ok("alice and bob exit 0", alice.wait() == 0 and bob.wait() == 0,
       f"{alice.describe()} {bob.describe()}")
    srv.stop()


@scenario
def input_faster_than_server():
    """A file piped into connect while the server is stopped: every line arrives."""
    sd, ad = newdir("srv"), newdir("alice")
    srv = Server(sd)
    n, body = 24000, "y" * 1000       # 24 MB: more than the kernel's and the client's buffers
    path = os.path.join(TMP, "flood.txt")
    with open(path, "w") as f:
        f.writelines(f"L{i:05d} {body}\n" for i in range(n))

    size = os.path.getsize(path)

    def flood(nick, key_dir):
        fd = os.open(path, os.O_RDONLY)
        try:
            return connect(srv.port, key_dir, nick, stdin=fd)
        finally:
            os.close(fd)

    def input_paused(proc):
        """Where connect stopped reading its input: the file offset of its
        stdin once it stays put for a second short of the end, else None."""
        last = None
        for _ in range(30):
            try:
                with open(f"/proc/{proc.p.pid}/fdinfo/0") as f:
                    pos = int(next(line for line in f if line.startswith("pos:")).split()[1])
            except (OSError, StopIteration, ValueError):
                return None
            if pos == last and pos < size:
                return pos
            last = pos
            time.sleep(1)
        return None

    alice = flood("alice", ad)
    alice.wait_line(r"^Connected to ", "err")
    os.kill(srv.p.pid, signal.SIGSTOP)
    try:
        pos = input_paused(alice)
        ok("connect stops reading its input while the server does not read",
           pos is not None, f"{alice.describe()}; input offset {pos} of {size}")
        ok("connect waits for a stopped server instead of giving up",
           alice.p.poll() is None, alice.describe())
    finally:
        os.kill(srv.p.pid, signal.SIGCONT)
    rc = alice.wait(120)
    ok("connect exits 0 once all of its input is sent", rc == 0, alice.describe())
    if rc == 0:
        srv.wait_line(rf"^message #1 alice: L{n - 1:05d} ", timeout=60)
    seq = [line.split()[3] for line in srv.out if line.startswith("message #1 alice: L")]
    ok(f"the server prints all {n} lines, in order",
       seq == [f"L{i:05d}" for i in range(n)], f"{len(seq)} lines")

    # Ctrl+C: the first closes once the queue is sent, a second one gives up on it
    bob = flood("bob", newdir("bob"))
    bob.wait_line(r"^Connected to ", "err")
    os.kill(srv.p.pid, signal.SIGSTOP)
    try:
        # (only once it has stopped reading is there surely something queued)
        if input_paused(bob) is None:
            raise Fail(f"bob did not stop reading its input; {bob.describe()}")
        bob.signal(signal.SIGINT)
        bob.wait_line(r"^secure-chat-cli: closing once \d+ queued bytes are sent; "
                      r"interrupt again to quit now$", "err")
        time.sleep(1)
        ok("after one interrupt, connect says what it still has to send and waits",
           bob.p.poll() is None, bob.describe())
        bob.signal(signal.SIGINT)
        rc = bob.wait(5)
        # exit 1 and a count while bytes still wait; 0 if the kernel took
        # the rest meanwhile (a stopped peer's kernel may free room)
        lost = [line for line in bob.err if re.fullmatch(
            r"secure-chat-cli: interrupted: \d+ bytes of messages were not sent", line)]
        ok("a second interrupt ends connect at once, saying how much was not sent (exit 1), "
           "if anything was", (rc, len(lost)) in ((1, 1), (0, 0)), bob.describe())
    finally:
        os.kill(srv.p.pid, signal.SIGCONT)
    srv.stop()


# ---------------------------------------------------------------- main
def main():
    global CLI, TMP, ENV
    rc = sc_testlib.setup("sc-test-cli-")
    if rc is not None:
        return rc
    CLI, TMP, ENV = sc_testlib.CLI, sc_testlib.TMP, sc_testlib.ENV
    return sc_testlib.run_scenarios()


if __name__ == "__main__":
    sys.exit(main())
