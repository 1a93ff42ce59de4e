#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_security.py - no key or plaintext reaches a log at default verbosity.

    /usr/bin/python3 tests/security/test_security.py PATH/TO/secure-chat-cli

Runs `secure-chat-cli serve` and several clients over loopback with default
verbosity (G_MESSAGES_DEBUG unset): CLI clients speaking v2 and v1, and two
Python clients (from tests/interop/sc_peer.py) whose session secrets this
script knows because it made them. Every line on every stdout and stderr is
kept. Then it looks in those logs for every secret it can obtain: the PEM
body lines and base64/hex DER of every private key file, the raw Ed25519
seeds, the RSA private numbers, the v2 ephemeral key, shared secret, prk,
traffic secrets, keys and IVs of the Python v2 session, and the v1 session
key, IV and their 48-byte blob; none may appear, in any usual encoding.
Each chat text may appear only where the log is for it: the server's
"message #N nick: text" line and a receiving client's "nick: text" line.
"""

import base64
import os
import re
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
import sc_testlib  # noqa: E402
import sc_peer  # noqa: E402
from sc_testlib import Fail, ok, scenario, short  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402


def cli(*args, name, stdin=True):
    return sc_testlib.Proc([sc_testlib.CLI] + [str(a) for a in args], name, stdin)


def encodings(data):
    """The usual ways a program would print these bytes."""
    out = {data.hex(), data.hex().upper(), base64.b64encode(data).decode(),
           base64.b64encode(data).decode().rstrip("="),
           base64.urlsafe_b64encode(data).decode().rstrip("=")}
    # a prefix is enough to give a key away: 12 bytes of it, hex and base64
    if len(data) >= 12:
        out |= {data[:12].hex(), data[:12].hex().upper(), base64.b64encode(data[:12]).decode()}
    return out


def key_file_secrets(key_dir):
    """(label, text) for everything secret in a key directory."""
    found = []
    for name in ("server_key.pem", "identity_ed25519.pem"):
        path = os.path.join(key_dir, name)
        with open(path, "rb") as f:
            pem = f.read()
        body = [l for l in pem.decode().splitlines() if l and not l.startswith("-----")]
        for i, line in enumerate(body):
            found.append((f"{path} PEM line {i}", line))
        found.append((f"{path} PEM body", "".join(body)))
        key = serialization.load_pem_private_key(pem, None)
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        for enc in encodings(der):
            found.append((f"{path} DER", enc))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
            for enc in encodings(seed):
                found.append((f"{path} Ed25519 seed", enc))
        elif isinstance(key, rsa.RSAPrivateKey):
            n = key.private_numbers()
            for label, value in (("d", n.d), ("p", n.p), ("q", n.q), ("dmp1", n.dmp1),
                                 ("dmq1", n.dmq1), ("iqmp", n.iqmp)):
                raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
                for enc in encodings(raw) | {str(value)[:40]}:
                    found.append((f"{path} RSA {label}", enc))
    return found


def find_leaks(secrets, logs):
    leaks = []
    for label, value in secrets:
        is_hex = re.fullmatch(r"[0-9a-fA-F]+", value) is not None
        for who, stream, i, line in logs:
            if value in line or (is_hex and value.lower() in line.lower()):
                leaks.append(f"{label} in {who} {stream} line {i}: {short(line, 200)}")
    return leaks


# ---------------------------------------------------------------- Python clients
def py_v2_client(port, nick, text, secrets):
    """A v2 client whose every session secret we know; sends text, closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = sc_peer.Conn(sock)
    conn.deadline = time.monotonic() + 15
    greeting, _ = conn.read_greeting()
    ch, eph = sc_peer.client_hello()
    sock.sendall(ch)
    sh = conn.read_frame(sc_peer.V2_HANDSHAKE_MAX)
    server_eph, _server_id = sc_peer.verify_server_hello(greeting, ch, sh.raw)
    ks = sc_peer.KeySchedule(eph, server_eph, greeting, ch, sh.raw)
    chan = sc_peer.V2Channel(conn, ks.c2s, ks.s2c, sock.sendall)
    client_id = ed25519.Ed25519PrivateKey.generate()
    chan.send(sc_peer.CLIENT_AUTH, sc_peer.client_auth_plaintext(client_id, ks.th, nick))
    rtype, _ = chan.recv({sc_peer.WELCOME, sc_peer.REJECT})
    if rtype != sc_peer.WELCOME:
        raise Fail(f"{nick}: not welcomed")
    raw = serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    for label, value in (("v2 ephemeral private", eph.private_bytes(*raw)),
                         ("v2 client identity seed", client_id.private_bytes(*raw)),
                         ("v2 shared secret", ks.ss), ("v2 prk", ks.prk),
                         ("v2 c2s secret", ks.c2s), ("v2 s2c secret", ks.s2c),
                         ("v2 c2s key", chan.tx.key), ("v2 c2s iv", chan.tx.iv),
                         ("v2 s2c key", chan.rx.key), ("v2 s2c iv", chan.rx.iv)):
        for enc in encodings(value):
            secrets.append((label, enc))
    chan.send(sc_peer.CHAT, sc_peer.chat_c2s(text))
    return sc_peer.ClientSession(2, sock, conn, None, ks.code, chan=chan)


def py_v1_client(port, text, secrets):
    """A v1 client with a session key and IV we know; sends text, closes."""
    drawn = []

    def rng(n):
        drawn.append(os.urandom(n))
        return drawn[-1]

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = sc_peer.Conn(sock)
    conn.deadline = time.monotonic() + 15
    client_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    session = sc_peer.client_handshake_v1(sock, conn, client_rsa, rng=rng)
    key, iv = drawn
    for label, value in (("v1 key", key), ("v1 iv", iv), ("v1 key||iv", key + iv)):
        for enc in encodings(value):
            secrets.append((label, enc))
    session.send_text(text)
    return session


# ---------------------------------------------------------------- the scenario
@scenario
def no_secrets_in_logs():
    tmp = sc_testlib.TMP
    sdir, adir, cdir = (os.path.join(tmp, d) for d in ("server", "alice", "carol"))
    texts = {"alice": "plain-alice-Q7v3xK", "carol": "plain-carol-Z8m2pL",
             "pyv2": "plain-pyv2-R4n9wT", "pyv1": "plain-pyv1-H5b6yC"}
    secrets = []

    server = cli("serve", "--port", 0, "--key-dir", sdir, name="serve")
    port = int(server.wait_line(r"^listening ", timeout=20).rsplit(":", 1)[1])
    alice = cli("connect", "127.0.0.1", "--port", port, "--key-dir", adir, "--nick", "alice",
                "--trust", "accept-new", name="alice")
    server.wait_line(r"^ready #\d+ v2 alice ")
    carol = cli("connect", "127.0.0.1", "--port", port, "--key-dir", cdir, "--protocol", 1,
                "--trust", "accept-new", name="carol")
    server.wait_line(r"^ready #\d+ v1 ")
    alice.wait_line(r"^Connected to ", stream="err")
    carol.wait_line(r"^Connected to ", stream="err")

    pyv2 = py_v2_client(port, "pyv2", texts["pyv2"], secrets)
    server.wait_line(r"^message #\d+ pyv2: " + texts["pyv2"])
    pyv1 = py_v1_client(port, texts["pyv1"], secrets)
    server.wait_line(r"^message #\d+ \S+: " + texts["pyv1"])
    alice.send(texts["alice"] + "\n")
    server.wait_line(r"^message #\d+ alice: " + texts["alice"])
    carol.send(texts["carol"] + "\n")
    server.wait_line(r"^message #\d+ \S+: " + texts["carol"])
    alice.wait_line(texts["carol"])
    carol.wait_line(texts["alice"])
    pyv2.close()
    pyv1.close()
    alice.close_stdin()
    carol.close_stdin()
    ok("alice (v2 CLI) exits 0", alice.wait() == 0, alice.describe())
    ok("carol (v1 CLI) exits 0", carol.wait() == 0, carol.describe())
    server.signal(signal.SIGTERM)
    ok("the server exits 0", server.wait() == 0, server.describe())

    for d in (sdir, adir, cdir):
        secrets += key_file_secrets(d)
    logs = []
    for p in (server, alice, carol):
        for stream in ("out", "err"):
            for i, line in enumerate(p.out if stream == "out" else p.err):
                logs.append((p.name, stream, i, line))
    ok("the logs are not empty", len(logs) > 10, len(logs))

    # 1. no secret, in any encoding
    for label, value in secrets:
        if len(value) < 16:
            raise Fail(f"secret {label} is too short to search for: {value!r}")
    # the control: the search does find a secret planted in a line
    hexes = [v for _, v in secrets if re.fullmatch(r"[0-9a-f]+", v)]
    planted = [("planted", "out", 0, f"debug: key {secrets[0][1]} and {hexes[-1].upper()}")]
    ok("the search finds planted secrets", len(find_leaks(secrets, planted)) >= 2,
       find_leaks(secrets, planted))
    leaks = find_leaks(secrets, logs)
    ok(f"none of {len(secrets)} secret strings appears in {len(logs)} log lines",
       not leaks, "\n".join(leaks[:20]))

    # 2. each chat text only where the log is for it
    allowed = {
        ("serve", "out"): r"message #\d+ \S+: {t}",
        ("alice", "out"): r"\S+: {t}",
        ("carol", "out"): r"\S+: {t}",
    }
    for sender, text in texts.items():
        misplaced, server_lines = [], 0
        for who, stream, i, line in logs:
            if text not in line:
                continue
            pattern = allowed.get((who, stream))
            if pattern is None or not re.fullmatch(pattern.format(t=re.escape(text)), line):
                misplaced.append(f"{who} {stream} line {i}: {short(line, 200)}")
            if who == "serve":
                server_lines += 1
        ok(f"{sender}'s text is logged once by the server and nowhere but message lines",
           not misplaced and server_lines == 1,
           f"server lines={server_lines}; misplaced: {misplaced}")
    # and receivers print what they received (the control that the search works)
    ok("alice printed carol's and the Python clients' messages",
       all(any(t in l for l in alice.out) for t in (texts["carol"], texts["pyv2"], texts["pyv1"])),
       alice.describe())
    ok("no stderr line carries a chat text",
       not any(t in l for p in (server, alice, carol) for l in p.err for t in texts.values()),
       "")


def main():
    rc = sc_testlib.setup("sc-security-")
    if rc is not None:
        return rc
    sc_testlib.ENV.pop("G_MESSAGES_DEBUG", None)
    return sc_testlib.run_scenarios()


if __name__ == "__main__":
    sys.exit(main())
