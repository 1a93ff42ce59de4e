#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""sc_peer.py - an independent Python peer for the Secure Chat wire protocol.

Written from /work/shared/PROTOCOL.md alone, to be used as an interoperability
peer against the C implementation. Run it with /usr/bin/python3 (needs the
`cryptography` package, hazmat layer only).

    sc_peer.py client --host H --port P --protocol 1|2 --nick NAME [...]
    sc_peer.py server --port P [--bind ADDR] [--key-dir DIR] [--once] [...]
    sc_peer.py kat VECTOR_DIR          # replay kat-v1.json / kat-v2.json
    sc_peer.py selftest                # server + clients against each other

Where the spec is ambiguous, this peer chooses:
 1. Greeting: a v2 client reads up to the first "\\n\\n" (max 8 KiB), then one
    more byte that must be "\\n"; the PEM must parse as an RSA public key.
    A v1 client leaves that byte in its buffer (skipped as whitespace).
 2. v1 has no nickname: the server calls a v1 client "ip:port" in MSG lines,
    relays and events, and logs nick=- in HANDSHAKE. A v2 client with an
    empty nickname is named the same way.
 3. Welcome "clients" counts every authenticated client (v1 and v2), the new
    one included. Join/leave Events go to the *other* v2 clients only, for
    v1 and v2 joiners alike (a v1 joiner's fingerprint is its RSA one).
    Chats are relayed to every other client, never echoed to the sender.
 4. The 1 KiB handshake limit covers ClientHello, ServerHello and ClientAuth;
    Welcome/Reject are read with the record limit. KeyUpdate is not allowed
    before Welcome/ClientAuth. ClientHello must have L = 66 and version 2,
    ServerHello L = 161; anything else closes the connection.
 5. A bad ClientAuth signature or length closes without Reject (protocol
    error); an invalid nickname (>64 bytes, bad UTF-8, control characters)
    or a fingerprint missing from the allow-list gets a Reject.
 6. Close is not answered with Close. The receiver of Close closes; the
    sender shuts down its write side and drains what still arrives (1 s).
    The server sends Close to every v2 client when it stops (SIGTERM, --once).
 7. Record sequence numbers: the sender sends KeyUpdate when seq reaches
    rekey_limit - 1 (default 2^24), so no record ever uses seq >= limit; the
    receiver refuses seq >= 2^24 (the protocol maximum, not its own setting).
 8. Relayed Chat JSON: {"from", "fingerprint", "text", "time"} in that order,
    json.dumps default spacing, UTF-8 not \\u-escaped (ensure_ascii=False).
    A relay whose plaintext would exceed 65536 bytes is dropped and logged.
 9. Client timeout: after --timeout seconds the client closes properly and
    exits 0 as asked, but prints "TIMEOUT got=k expected=n" on stderr. A
    server Close before --expect is met also ends with exit 0; a connection
    lost without Close is exit 2.
10. Control characters in printed nick/text are escaped as \\xNN so that every
    event is exactly one stdout line.
11. --once ends the server after the first connection that ends for any reason
    (handshake failures included).
"""

import argparse
import base64
import collections
import hashlib
import hmac
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as chmac
from cryptography.hazmat.primitives import padding as sympad
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# ---------------------------------------------------------------- constants
DEFAULT_PORT = 5555
GREETING_PREFIX = b"SERVER_PUB\n"
GREETING_MAX = 8192
V1_FRAME_MAX = 128 * 1024
V2_HANDSHAKE_MAX = 1024
MAX_MESSAGE = 65536
V2_RECORD_MAX = 1 + MAX_MESSAGE + 16
SEQ_LIMIT = 1 << 24
HANDSHAKE_TIMEOUT = 10.0
SEND_QUEUE_MAX = 1 << 20
MAX_CONNECTIONS = 1024
NICK_MAX = 64
V2_VERSION = 0x02
CH_LEN, SH_LEN = 66, 161
SERVER_SIG_CONTEXT = b"SecureChat/2 server\0"
CLIENT_SIG_CONTEXT = b"SecureChat/2 client\0"

CLIENT_HELLO, SERVER_HELLO = 0x01, 0x02
CLIENT_AUTH, WELCOME, REJECT = 0x10, 0x11, 0x12
CHAT, EVENT, KEY_UPDATE, CLOSE = 0x20, 0x21, 0x30, 0x40

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
PSS_SIGN = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)


class ProtocolError(Exception):
    """Anything that must close the connection."""


class ConnectionLost(ProtocolError):
    pass


class Timeout(ProtocolError):
    pass


class Rejected(Exception):
    pass


# ---------------------------------------------------------------- helpers
_out_lock = threading.Lock()


def out(line):
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log(msg):
    with _out_lock:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


def show(s):
    """Escape control characters so one event stays one line."""
    return "".join(c if c == "\t" or unicodedata.category(c) != "Cc"
                   else "\\x%02x" % ord(c) for c in s)


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(value, what):
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise ProtocolError(f"{what} is not valid base64") from None


def fingerprint(key_bytes):
    digest = hashlib.sha256(key_bytes).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def rsa_fingerprint(pub):
    return fingerprint(pub.public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo))


def raw_public(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)


def hkdf_extract(salt, ikm):
    h = chmac.HMAC(salt, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def hkdf_expand(prk, info, length):
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def session_code(prk):
    n = struct.unpack(">I", hkdf_expand(prk, b"sc2 code", 4))[0] % 1000000
    digits = "%06d" % n
    return digits[:3] + " " + digits[3:]


def jdump(obj):
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "replace")


def jload(data, what):
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError(f"{what} is not valid UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what} is not a JSON object")
    return obj


def jstr(obj, field, what):
    value = obj.get(field)
    if not isinstance(value, str):
        raise ProtocolError(f"{what} has no string field {field!r}")
    return value


class QueueRandom:
    """Injectable randomness: hands out pre-recorded chunks in order."""

    def __init__(self, chunks):
        self.chunks = list(chunks)

    def __call__(self, n):
        chunk = self.chunks.pop(0)
        assert len(chunk) == n, f"random chunk of {len(chunk)} bytes, wanted {n}"
        return chunk


# ---------------------------------------------------------------- key files
def _write_new_file(path, data):
    """Atomically create path (mode 0600); never overwrite an existing file."""
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails with FileExistsError instead of replacing
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def load_or_create_key(path, kind):
    """kind is "rsa" (RSA-2048) or "ed25519"; PKCS#8 PEM, reused if present."""
    want = rsa.RSAPrivateKey if kind == "rsa" else ed25519.Ed25519PrivateKey
    if not os.path.exists(path):
        key = (rsa.generate_private_key(65537, 2048) if kind == "rsa"
               else ed25519.Ed25519PrivateKey.generate())
        _write_new_file(path, key.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    with open(path, "rb") as f:  # errors propagate: a corrupt key is reported
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, want):
        raise ValueError(f"{path}: not a {kind} private key")
    return key


# ---------------------------------------------------------------- greeting
def make_greeting(rsa_pub):
    pem = rsa_pub.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return GREETING_PREFIX + pem + b"\n\n"


def parse_greeting_head(head):
    """head = greeting bytes before the first "\\n\\n"; returns the RSA key."""
    if not head.startswith(GREETING_PREFIX):
        raise ProtocolError("greeting does not start with SERVER_PUB")
    try:
        pub = serialization.load_pem_public_key(head[len(GREETING_PREFIX):] + b"\n")
    except ValueError:
        raise ProtocolError("greeting PEM is not a public key") from None
    if not isinstance(pub, rsa.RSAPublicKey):
        raise ProtocolError("greeting key is not RSA")
    return pub


# ---------------------------------------------------------------- buffered socket
class Frame(collections.namedtuple("Frame", "raw type body")):
    pass


class Conn:
    """Buffered reader over a socket; never drops bytes; honours a deadline."""

    def __init__(self, sock, chunk=65536):
        self.sock, self.chunk = sock, chunk
        self.buf = bytearray()
        self.deadline = None

    def _fill(self):
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            if left <= 0 or not poller.poll(left * 1000):
                raise Timeout("timed out")
        try:
            data = self.sock.recv(self.chunk)
        except OSError as e:
            raise ConnectionLost(f"connection lost: {e}") from None
        if not data:
            raise ConnectionLost("connection closed by peer")
        self.buf += data

    def peek(self, n):
        while len(self.buf) < n:
            self._fill()
        return bytes(self.buf[:n])

    def read_exact(self, n):
        data = self.peek(n)
        del self.buf[:n]
        return data

    def read_until(self, delim, limit):
        """Bytes before delim (delim consumed); error once more than limit
        (+2 bytes of surrounding whitespace slack) is buffered without it."""
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                if i > limit + 2:
                    raise ProtocolError(f"frame of {i} bytes exceeds limit {limit}")
                data = bytes(self.buf[:i])
                del self.buf[:i + len(delim)]
                return data
            if len(self.buf) > limit + 2:
                raise ProtocolError(f"frame exceeds limit {limit} bytes")
            start = max(0, len(self.buf) - len(delim) + 1)
            self._fill()

    def read_greeting(self):
        """v2 reading of G: returns (G, rsa_pub) with all three newlines."""
        head = self.read_until(b"\n\n", GREETING_MAX)
        if self.read_exact(1) != b"\n":
            raise ProtocolError("greeting does not end with three newlines")
        return head + b"\n\n\n", parse_greeting_head(head)

    def read_frame(self, limit):
        """v2 frame; the length is checked before the body is read."""
        header = self.read_exact(4)
        length = struct.unpack(">I", header)[0]
        if length < 1 or length > limit:
            raise ProtocolError(f"frame length {length} outside 1..{limit}")
        rest = self.read_exact(length)
        return Frame(header + rest, rest[0], rest[1:])

    def read_v1_frame(self):
        """Next non-empty v1 frame, leading/trailing whitespace stripped."""
        while True:
            data = self.read_until(b"\n\n", V1_FRAME_MAX).strip(b" \t\r\n")
            if data:
                return data


# ---------------------------------------------------------------- v1 (seed)
def v1_handshake_frame(server_pub, client_priv, key, iv):
    blob = key + iv
    pem = client_priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return json.dumps({"enc_session": b64(server_pub.encrypt(blob, OAEP)),
                       "client_pub": b64(pem),
                       "client_sig": b64(client_priv.sign(blob, PSS_SIGN, hashes.SHA256()))}
                      ).encode("ascii") + b"\n\n"


def v1_accept_handshake(frame, server_priv):
    """Server side: returns (key, iv, client_rsa_pub) or raises ProtocolError."""
    obj = jload(frame, "v1 handshake")
    enc = unb64(obj.get("enc_session"), "enc_session")
    pem = unb64(obj.get("client_pub"), "client_pub")
    sig = unb64(obj.get("client_sig"), "client_sig")
    try:
        blob = server_priv.decrypt(enc, OAEP)
    except ValueError:
        raise ProtocolError("enc_session does not decrypt") from None
    if len(blob) != 48:
        raise ProtocolError(f"session blob is {len(blob)} bytes, not 48")
    try:
        client_pub = serialization.load_pem_public_key(pem)
    except ValueError:
        raise ProtocolError("client_pub is not a PEM public key") from None
    if not isinstance(client_pub, rsa.RSAPublicKey):
        raise ProtocolError("client_pub is not an RSA key")
    try:
        client_pub.verify(sig, blob, PSS_VERIFY, hashes.SHA256())
    except InvalidSignature:
        raise ProtocolError("client_sig does not verify") from None
    return blob[:32], blob[32:], client_pub


def v1_seal(key, iv, plaintext):
    padder = sympad.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    cipher = enc.update(padded) + enc.finalize()
    mac = hmac.new(key, cipher, hashlib.sha256).digest()
    return json.dumps({"cipher": b64(cipher), "hmac": b64(mac)}).encode("ascii") + b"\n\n"


def v1_open(key, iv, frame):
    """frame without its terminator; HMAC first (constant time), then strict PKCS#7."""
    obj = jload(frame, "v1 message")
    cipher = unb64(obj.get("cipher"), "cipher")
    mac = unb64(obj.get("hmac"), "hmac")
    if not hmac.compare_digest(hmac.new(key, cipher, hashlib.sha256).digest(), mac):
        raise ProtocolError("v1 message HMAC mismatch")
    if not cipher or len(cipher) % 16:
        raise ProtocolError("v1 ciphertext length is not a multiple of 16")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(cipher) + dec.finalize()
    unpadder = sympad.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise ProtocolError("v1 message has bad PKCS#7 padding") from None
    return plain.decode("utf-8", "replace")


# ---------------------------------------------------------------- v2 handshake
def frame_bytes(ftype, body):
    return struct.pack(">IB", 1 + len(body), ftype) + body


def client_hello(rng=os.urandom):
    """Draws client_random[32] then the X25519 private key[32] from rng."""
    client_random = rng(32)
    eph = x25519.X25519PrivateKey.from_private_bytes(rng(32))
    return frame_bytes(CLIENT_HELLO, bytes([V2_VERSION]) + client_random + raw_public(eph)), eph


def parse_client_hello(ch):
    if len(ch) != 4 + CH_LEN or ch[4] != CLIENT_HELLO:
        raise ProtocolError("malformed ClientHello")
    if ch[5] != V2_VERSION:
        raise ProtocolError(f"unsupported version {ch[5]}")
    return ch[6:38], ch[38:70]  # client_random, client_eph


def server_hello(greeting, ch, server_id, rng=os.urandom):
    """Draws server_random[32] then the X25519 private key[32] from rng."""
    server_random = rng(32)
    eph = x25519.X25519PrivateKey.from_private_bytes(rng(32))
    unsigned = frame_bytes(SERVER_HELLO, server_random + raw_public(eph) + raw_public(server_id)
                           + bytes(64))[:-64]
    digest = hashlib.sha256(greeting + ch + unsigned).digest()
    return unsigned + server_id.sign(SERVER_SIG_CONTEXT + digest), eph


def verify_server_hello(greeting, ch, sh):
    """Client side: returns (server_eph, server_id) after checking sig."""
    if len(sh) != 4 + SH_LEN or sh[4] != SERVER_HELLO:
        raise ProtocolError("malformed ServerHello")
    server_eph, server_id = sh[37:69], sh[69:101]
    digest = hashlib.sha256(greeting + ch + sh[:-64]).digest()
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(server_id).verify(
            sh[-64:], SERVER_SIG_CONTEXT + digest)
    except InvalidSignature:
        raise ProtocolError("ServerHello signature does not verify") from None
    return server_eph, server_id


class KeySchedule:
    def __init__(self, own_eph, peer_eph, greeting, ch, sh):
        try:
            self.ss = own_eph.exchange(x25519.X25519PublicKey.from_public_bytes(peer_eph))
        except ValueError:
            raise ProtocolError("X25519 exchange failed (low-order point)") from None
        if self.ss == bytes(32):
            raise ProtocolError("all-zero X25519 shared secret")
        self.th = hashlib.sha256(greeting + ch + sh).digest()
        self.prk = hkdf_extract(self.th, self.ss)
        self.c2s = hkdf_expand(self.prk, b"sc2 c2s", 32)
        self.s2c = hkdf_expand(self.prk, b"sc2 s2c", 32)
        self.code = session_code(self.prk)


def client_auth_plaintext(client_id, th, nick):
    return raw_public(client_id) + client_id.sign(CLIENT_SIG_CONTEXT + th) + nick.encode("utf-8")


def nick_problem(raw):
    if len(raw) > NICK_MAX:
        return "nickname longer than 64 bytes"
    try:
        nick = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "nickname is not valid UTF-8"
    if any(unicodedata.category(c) == "Cc" for c in nick):
        return "nickname contains control characters"
    return None


def parse_client_auth(pt, th):
    """Returns (client_id_raw, nick_bytes); the nick is validated by the caller."""
    if len(pt) < 96:
        raise ProtocolError("ClientAuth too short")
    client_id, sig = pt[:32], pt[32:96]
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(client_id).verify(sig, CLIENT_SIG_CONTEXT + th)
    except InvalidSignature:
        raise ProtocolError("ClientAuth signature does not verify") from None
    return client_id, pt[96:]


# ---------------------------------------------------------------- v2 records
class RecordState:
    """One direction: traffic secret, key, iv and sequence number."""

    def __init__(self, secret):
        self.set_secret(secret)

    def set_secret(self, secret):
        self.secret = secret
        self.key = hkdf_expand(secret, b"sc2 key", 32)
        self.iv = hkdf_expand(secret, b"sc2 iv", 12)
        self.seq = 0

    def update(self):
        self.set_secret(hkdf_expand(self.secret, b"sc2 next", 32))

    def _nonce(self):
        return bytes(a ^ b for a, b in zip(self.iv, bytes(4) + struct.pack(">Q", self.seq)))

    def seal(self, rtype, plaintext):
        aad = struct.pack(">IB", 1 + len(plaintext) + 16, rtype)
        frame = aad + AESGCM(self.key).encrypt(self._nonce(), plaintext, aad)
        self.seq += 1
        return frame

    def open(self, frame):
        if len(frame) < 4 + 1 + 16:
            raise ProtocolError("record shorter than its tag")
        if self.seq >= SEQ_LIMIT:
            raise ProtocolError("peer did not update its key before 2^24 records")
        try:
            plain = AESGCM(self.key).decrypt(self._nonce(), frame[5:], frame[:5])
        except InvalidTag:
            raise ProtocolError("record authentication failed") from None
        self.seq += 1
        return plain


class V2Channel:
    """Record layer over a Conn; `write` sends bytes (sendall or an Outbox)."""

    def __init__(self, conn, tx_secret, rx_secret, write, rekey_limit=SEQ_LIMIT):
        self.conn, self.write = conn, write
        self.tx, self.rx = RecordState(tx_secret), RecordState(rx_secret)
        self.rekey_limit = max(2, min(rekey_limit, SEQ_LIMIT))
        self.lock = threading.Lock()

    def send(self, rtype, plaintext):
        with self.lock:
            if rtype != KEY_UPDATE and self.tx.seq >= self.rekey_limit - 1:
                self.write(self.tx.seal(KEY_UPDATE, b""))
                self.tx.update()
            return self.write(self.tx.seal(rtype, plaintext))

    def recv(self, allowed, limit=V2_RECORD_MAX):
        """Next (type, plaintext) whose type is in allowed; KeyUpdate handled here."""
        while True:
            f = self.conn.read_frame(limit)
            if f.type not in allowed:
                raise ProtocolError(f"unexpected frame type 0x{f.type:02x}")
            plain = self.rx.open(f.raw)
            if f.type in (KEY_UPDATE, CLOSE) and plain:
                raise ProtocolError("KeyUpdate/Close with a non-empty plaintext")
            if f.type == KEY_UPDATE:
                self.rx.update()
                continue
            return f.type, plain


def chat_c2s(text):
    return jdump({"text": text})


def chat_s2c(sender, fp, text, ms):
    return jdump({"from": sender, "fingerprint": fp, "text": text, "time": ms})


def event_json(kind, sender, fp):
    return jdump({"event": kind, "from": sender, "fingerprint": fp})


def welcome_json(name, clients):
    return jdump({"server": name, "clients": clients})


# ---------------------------------------------------------------- client
class ClientSession:
    """Connected client (after handshake). receive() -> (kind, a, b)."""

    def __init__(self, proto, sock, conn, server_fp, code, chan=None, v1keys=None):
        self.proto, self.sock, self.conn = proto, sock, conn
        self.server_fp, self.code = server_fp, code
        self.chan, self.v1keys = chan, v1keys
        self.peer_closed = False

    def send_text(self, text):
        if self.proto == 1:
            self.sock.sendall(v1_seal(*self.v1keys, text.encode("utf-8", "replace")))
        else:
            self.chan.send(CHAT, chat_c2s(text))

    def receive(self):
        if self.proto == 1:
            return "msg", None, v1_open(*self.v1keys, self.conn.read_v1_frame())
        rtype, plain = self.chan.recv({CHAT, EVENT, KEY_UPDATE, CLOSE})
        if rtype == CLOSE:
            return "close", None, None
        obj = jload(plain, "Chat" if rtype == CHAT else "Event")
        if rtype == CHAT:
            return "msg", jstr(obj, "from", "Chat"), jstr(obj, "text", "Chat")
        return "event", jstr(obj, "event", "Event"), jstr(obj, "from", "Event")

    def close(self):
        try:
            if self.proto == 2 and not self.peer_closed:
                self.chan.send(CLOSE, b"")
            self.sock.shutdown(socket.SHUT_WR)
            self.conn.deadline = time.monotonic() + 1.0
            while True:  # drain until the server closes too
                self.conn.buf.clear()
                self.conn._fill()
        except (ProtocolError, OSError):
            pass
        finally:
            self.sock.close()


def client_handshake_v1(sock, conn, client_rsa, expect_fp=None, rng=os.urandom):
    head = conn.read_until(b"\n\n", GREETING_MAX)  # the third "\n" stays buffered
    server_pub = parse_greeting_head(head)
    server_fp = rsa_fingerprint(server_pub)
    if expect_fp and server_fp != expect_fp:
        raise ProtocolError(f"server key {server_fp} is not the expected {expect_fp}")
    key, iv = rng(32), rng(16)
    sock.sendall(v1_handshake_frame(server_pub, client_rsa, key, iv))
    return ClientSession(1, sock, conn, server_fp, "-", v1keys=(key, iv))


def client_handshake_v2(sock, conn, client_id, nick, expect_fp=None, rekey_limit=SEQ_LIMIT,
                        rng=os.urandom):
    greeting, _ = conn.read_greeting()
    ch, eph = client_hello(rng)
    sock.sendall(ch)
    sh = conn.read_frame(V2_HANDSHAKE_MAX)
    if sh.type != SERVER_HELLO:
        raise ProtocolError(f"expected ServerHello, got type 0x{sh.type:02x}")
    server_eph, server_id = verify_server_hello(greeting, ch, sh.raw)
    server_fp = fingerprint(server_id)
    if expect_fp and server_fp != expect_fp:
        raise ProtocolError(f"server key {server_fp} is not the expected {expect_fp}")
    ks = KeySchedule(eph, server_eph, greeting, ch, sh.raw)
    chan = V2Channel(conn, ks.c2s, ks.s2c, sock.sendall, rekey_limit)
    chan.send(CLIENT_AUTH, client_auth_plaintext(client_id, ks.th, nick))
    rtype, plain = chan.recv({WELCOME, REJECT})
    if rtype == REJECT:
        raise Rejected(plain.decode("utf-8", "replace"))
    jload(plain, "Welcome")
    log(f"info: welcome {plain.decode('utf-8', 'replace')}")
    return ClientSession(2, sock, conn, server_fp, ks.code, chan=chan)


def run_client(args):
    key_dir = args.key_dir or tempfile.mkdtemp(prefix="sc_peer_client_")
    os.makedirs(key_dir, exist_ok=True)
    if nick_problem(args.nick.encode("utf-8", "replace")):
        log(f"ERROR bad nickname: {nick_problem(args.nick.encode('utf-8', 'replace'))}")
        return 2
    start = time.monotonic()
    deadline = start + args.timeout
    try:
        sock = socket.create_connection((args.host, args.port), timeout=min(args.timeout, 10))
        sock.settimeout(None)
    except OSError as e:
        log(f"ERROR cannot connect to {args.host}:{args.port}: {e}")
        return 2
    conn = Conn(sock)
    conn.deadline = min(deadline, start + HANDSHAKE_TIMEOUT)
    try:
        if args.protocol == 1:
            session = client_handshake_v1(sock, conn, load_or_create_key(
                os.path.join(key_dir, "rsa.pem"), "rsa"), args.expect_fingerprint)
        else:
            session = client_handshake_v2(sock, conn, load_or_create_key(
                os.path.join(key_dir, "ed25519.pem"), "ed25519"), args.nick,
                args.expect_fingerprint, args.rekey_limit)
    except Rejected as r:
        out(f"REJECTED {show(str(r))}")
        sock.close()
        return 3
    except ConnectionLost as e:
        hint = "; the server may speak only the legacy protocol (v1)" if args.protocol == 2 else ""
        log(f"ERROR handshake failed: {e}{hint}")
        sock.close()
        return 2
    except (ProtocolError, OSError, ValueError) as e:
        log(f"ERROR handshake failed: {e}")
        sock.close()
        return 2
    out(f"CONNECTED protocol={args.protocol} fingerprint={session.server_fp} code={session.code}")
    conn.deadline = deadline
    got = 0
    try:
        for text in args.send or []:
            session.send_text(text)
        while got < args.expect:
            kind, a, b = session.receive()
            if kind == "close":
                log(f"info: server closed the session after {got}/{args.expect} messages")
                session.peer_closed = True
                break
            if kind == "event":
                out(f"EVENT {show(a)} {show(b)}")
            elif a is None:
                out(f"MSG {show(b)}")
                got += 1
            else:
                out(f"MSG {show(a)}: {show(b)}")
                got += 1
    except Timeout:
        log(f"TIMEOUT got={got} expected={args.expect}")
    except ProtocolError as e:
        log(f"ERROR {e}")
        sock.close()
        return 2
    except OSError as e:
        log(f"ERROR connection lost: {e}")
        sock.close()
        return 2
    session.close()
    return 0


# ---------------------------------------------------------------- server
class Outbox:
    """Bounded send queue with its own writer thread: the server never blocks."""

    def __init__(self, sock, limit=SEND_QUEUE_MAX):
        self.sock, self.limit = sock, limit
        self.queue, self.size = collections.deque(), 0
        self.closed = self.overflow = False
        self.cv = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, data):
        with self.cv:
            if self.closed:
                return False
            if self.size + len(data) > self.limit:
                self.closed = self.overflow = True
                self.cv.notify_all()
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader, which cleans up
                except OSError:
                    pass
                return False
            self.queue.append(data)
            self.size += len(data)
            self.cv.notify_all()
            return True

    def _run(self):
        while True:
            with self.cv:
                while not self.queue and not self.closed:
                    self.cv.wait()
                if not self.queue or self.overflow:
                    return
                data = self.queue.popleft()
            try:
                self.sock.sendall(data)
            except OSError:
                with self.cv:
                    self.closed = True
                    self.queue.clear()
                    self.size = 0
                    self.cv.notify_all()
                return
            with self.cv:
                self.size -= len(data)
                self.cv.notify_all()

    def close(self, flush_timeout=1.0):
        end = time.monotonic() + flush_timeout
        with self.cv:
            self.closed = True
            self.cv.notify_all()
            while self.size and not self.overflow and time.monotonic() < end:
                self.cv.wait(max(0.0, end - time.monotonic()))


class Peer:
    def __init__(self, proto, name, fp, sock, outbox, chan=None, v1keys=None):
        self.proto, self.name, self.fp = proto, name, fp
        self.sock, self.outbox, self.chan, self.v1keys = sock, outbox, chan, v1keys

    def deliver_chat(self, sender, text, ms):
        if self.proto == 1:
            self.outbox.put(v1_seal(*self.v1keys, f"{sender.name}: {text}".encode("utf-8")))
            return
        plain = chat_s2c(sender.name, sender.fp, text, ms)
        if len(plain) > MAX_MESSAGE:
            log(f"relay to {self.name} dropped: {len(plain)} bytes exceed the record limit")
        else:
            self.chan.send(CHAT, plain)

    def deliver_event(self, kind, other):
        if self.proto == 2:
            self.chan.send(EVENT, event_json(kind, other.name, other.fp))


class Server:
    def __init__(self, rsa_key, id_key, allow=None, rekey_limit=SEQ_LIMIT, once=False,
                 name="sc_peer", rng=os.urandom):
        self.rsa_key, self.id_key, self.allow = rsa_key, id_key, allow
        self.rekey_limit, self.once, self.name, self.rng = rekey_limit, once, name, rng
        self.greeting = make_greeting(rsa_key.public_key())
        self.peers, self.lock = [], threading.Lock()
        self.connections = 0
        self.done = threading.Event()

    # -- registry
    def join(self, peer, welcome=None):
        with self.lock:
            if welcome is not None:
                peer.chan.send(WELCOME, welcome_json(self.name, len(self.peers) + 1))
            others = list(self.peers)
            self.peers.append(peer)
        for other in others:
            other.deliver_event("join", peer)

    def leave(self, peer):
        with self.lock:
            if peer not in self.peers:
                return
            self.peers.remove(peer)
            others = list(self.peers)
        for other in others:
            other.deliver_event("leave", peer)

    def relay(self, sender, text):
        out(f"MSG {show(sender.name)}: {show(text)}")
        ms = int(time.time() * 1000)
        with self.lock:
            others = [p for p in self.peers if p is not sender]
        for other in others:
            other.deliver_chat(sender, text, ms)

    # -- per connection
    def handle(self, sock, addr):
        where = f"{addr[0]}:{addr[1]}"
        conn, peer, how = Conn(sock), None, "disconnected"
        conn.deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        try:
            sock.sendall(self.greeting)
            if conn.peek(1) == b"\x00":
                peer = self.handshake_v2(sock, conn, where)
            else:
                peer = self.handshake_v1(sock, conn, where)
            if peer is None:
                how = "rejected"
                return
            conn.deadline = None
            how = self.serve_peer(peer, conn)
        except ConnectionLost as e:
            how = f"lost ({e})"
        except (ProtocolError, OSError) as e:
            how = f"error: {e}"
        finally:
            if peer is not None:
                self.leave(peer)
                peer.outbox.close()
            if peer is not None and peer.outbox.overflow:
                how = "send queue overflow"
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
            log(f"peer {where}: {how}")
            with self.lock:
                self.connections -= 1
            if self.once:
                self.done.set()

    def handshake_v1(self, sock, conn, where):
        key, iv, client_pub = v1_accept_handshake(conn.read_v1_frame(), self.rsa_key)
        fp = rsa_fingerprint(client_pub)
        if self.allow is not None and fp not in self.allow:
            out(f"HANDSHAKE protocol=1 nick=- fingerprint={fp}")
            log(f"peer {where}: v1 client {fp} not on the allow-list (v1 has no Reject)")
            return None
        peer = Peer(1, where, fp, sock, Outbox(sock), v1keys=(key, iv))
        self.join(peer)  # registered before the line, so a harness can rely on it
        out(f"HANDSHAKE protocol=1 nick=- fingerprint={fp}")
        return peer

    def handshake_v2(self, sock, conn, where):
        ch = conn.read_frame(V2_HANDSHAKE_MAX)
        if ch.type != CLIENT_HELLO:
            raise ProtocolError(f"expected ClientHello, got type 0x{ch.type:02x}")
        _, client_eph = parse_client_hello(ch.raw)
        sh, eph = server_hello(self.greeting, ch.raw, self.id_key, self.rng)
        sock.sendall(sh)
        ks = KeySchedule(eph, client_eph, self.greeting, ch.raw, sh)
        outbox = Outbox(sock)
        chan = V2Channel(conn, ks.s2c, ks.c2s, outbox.put, self.rekey_limit)
        try:
            _, plain = chan.recv({CLIENT_AUTH}, V2_HANDSHAKE_MAX)
            client_id, raw_nick = parse_client_auth(plain, ks.th)
        except BaseException:
            outbox.close(0)
            raise
        fp = fingerprint(client_id)
        problem = nick_problem(raw_nick)
        nick = raw_nick.decode("utf-8", "replace")
        out(f"HANDSHAKE protocol=2 nick={show(nick) or '-'} fingerprint={fp}")
        log(f"peer {where}: session code {ks.code}")
        if problem is None and self.allow is not None and fp not in self.allow:
            problem = "client key is not on the allow-list"
        if problem:
            chan.send(REJECT, problem.encode("utf-8"))
            outbox.close()
            log(f"peer {where}: rejected: {problem}")
            return None
        peer = Peer(2, nick or where, fp, sock, outbox, chan=chan)
        self.join(peer, welcome=True)
        return peer

    def serve_peer(self, peer, conn):
        while True:
            if peer.proto == 1:
                try:
                    frame = conn.read_v1_frame()
                except ConnectionLost:
                    return "disconnected"  # v1 has no Close: EOF is the normal end
                self.relay(peer, v1_open(*peer.v1keys, frame))
                continue
            rtype, plain = peer.chan.recv({CHAT, KEY_UPDATE, CLOSE})
            if rtype == CLOSE:
                return "closed"
            self.relay(peer, jstr(jload(plain, "Chat"), "text", "Chat"))

    def stop(self):
        with self.lock:
            peers = list(self.peers)
        for peer in peers:
            if peer.proto == 2:
                peer.chan.send(CLOSE, b"")
            peer.outbox.close(0.5)
            try:
                peer.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def serve(self, port, bind):
        lsock = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((bind, port))
        lsock.listen(128)
        lsock.settimeout(0.2)
        out(f"LISTENING {lsock.getsockname()[1]}")
        while not self.done.is_set():
            try:
                sock, addr = lsock.accept()
            except socket.timeout:
                continue
            sock.settimeout(None)
            with self.lock:
                if self.connections >= MAX_CONNECTIONS:
                    sock.close()
                    log(f"peer {addr[0]}:{addr[1]}: refused, too many connections")
                    continue
                self.connections += 1
            threading.Thread(target=self.handle, args=(sock, addr), daemon=True).start()
        lsock.close()


class _Terminate(BaseException):
    pass


def run_server(args):
    key_dir = args.key_dir or tempfile.mkdtemp(prefix="sc_peer_server_")
    os.makedirs(key_dir, exist_ok=True)
    rsa_key = load_or_create_key(os.path.join(key_dir, "rsa.pem"), "rsa")
    id_key = load_or_create_key(os.path.join(key_dir, "ed25519.pem"), "ed25519")
    allow = None
    if args.allow:
        with open(args.allow, encoding="utf-8") as f:
            allow = {line.split()[0] for line in f if line.strip() and not line.startswith("#")}
    server = Server(rsa_key, id_key, allow, args.rekey_limit, args.once)
    log(f"info: server v2 fingerprint {fingerprint(raw_public(id_key))}, "
        f"v1 fingerprint {rsa_fingerprint(rsa_key.public_key())}")

    def on_signal(signum, frame):
        raise _Terminate()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve(args.port, args.bind)
    except _Terminate:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server.stop()
    sys.stdout.flush()
    os._exit(0)


# ---------------------------------------------------------------- known-answer tests
class Checker:
    def __init__(self):
        self.failed = self.passed = 0

    def eq(self, name, got, want):
        if got == want:
            self.passed += 1
            out(f"PASS {name}")
        else:
            self.failed += 1
            g = got.hex() if isinstance(got, bytes) else got
            w = want.hex() if isinstance(want, bytes) else want
            out(f"FAIL {name}\n  got      {g}\n  expected {w}")

    def raises(self, name, fn):
        try:
            fn()
        except ProtocolError as e:
            self.eq(f"{name} (rejected: {e})", True, True)
        else:
            self.eq(name + " was accepted", False, True)


def _stream(data, chunk):
    """A Conn that reads `data` from a socketpair in `chunk`-byte recv()s."""
    a, b = socket.socketpair()

    def feed():
        a.sendall(data)
        a.close()
    threading.Thread(target=feed, daemon=True).start()
    return Conn(b, chunk)


def kat_v1(vec, check):
    server_priv = serialization.load_pem_private_key(vec["server_rsa_private_pem"].encode(), None)
    client_priv = serialization.load_pem_private_key(vec["client_rsa_private_pem"].encode(), None)
    greeting = vec["greeting"].encode()
    key, iv = bytes.fromhex(vec["key_hex"]), bytes.fromhex(vec["iv_hex"])
    check.eq("v1 greeting from server key", make_greeting(server_priv.public_key()), greeting)
    check.eq("v1 server fingerprint", rsa_fingerprint(server_priv.public_key()),
             vec["fingerprint_server_rsa"])
    hs = vec["handshake_frame"].encode()
    frames = [m["frame"].encode() for m in vec["messages"]]
    conn = _stream(greeting + hs + b"".join(frames), 7)  # split reads, coalesced frames
    head = conn.read_until(b"\n\n", GREETING_MAX)
    check.eq("v1 greeting key parses", rsa_fingerprint(parse_greeting_head(head)),
             vec["fingerprint_server_rsa"])
    hs_read = conn.read_v1_frame()
    check.eq("v1 handshake frame buffered intact", hs_read + b"\n\n", hs)
    k, i, client_pub = v1_accept_handshake(hs_read, server_priv)
    check.eq("v1 enc_session decrypts to key||iv (signature verified)", k + i, key + iv)
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    check.eq("v1 client_pub is the client key", client_pub.public_bytes(*der),
             client_priv.public_key().public_bytes(*der))
    for n, m in enumerate(vec["messages"]):
        frame = v1_seal(key, iv, m["plaintext"].encode("utf-8"))
        check.eq(f"v1 message {n} frame", frame, m["frame"].encode())
        check.eq(f"v1 message {n} buffered frame decrypts", v1_open(key, iv, conn.read_v1_frame()),
                 m["plaintext"])
    ours = v1_handshake_frame(server_priv.public_key(), client_priv, key, iv)
    check.eq("v1 own handshake round trip", v1_accept_handshake(ours[:-2], server_priv)[:2],
             (key, iv))
    bad = json.loads(frames[0])
    bad["hmac"] = b64(bytes(32))
    check.raises("v1 tampered HMAC", lambda: v1_open(key, iv, json.dumps(bad).encode()))
    check.raises("v1 oversize frame", lambda: _stream(b"{" + b"x" * (V1_FRAME_MAX + 8), 65536)
                 .read_v1_frame())


def kat_v2(vec, check, v1_server_pub=None):
    h = lambda k: bytes.fromhex(vec[k])  # noqa: E731
    greeting, sh_want = h("greeting_hex"), h("server_hello_hex")
    if v1_server_pub is not None:
        check.eq("v2 greeting equals v1 server key greeting", make_greeting(v1_server_pub), greeting)
    conn = _stream(greeting + sh_want, 1)
    g, _ = conn.read_greeting()
    check.eq("v2 greeting read with all three newlines", g, greeting)
    check.eq("v2 ServerHello follows greeting intact", conn.read_frame(V2_HANDSHAKE_MAX).raw, sh_want)
    check.raises("v2 greeting without third newline",
                 lambda: _stream(greeting[:-1] + b"\x00", 5).read_greeting())

    client_id = ed25519.Ed25519PrivateKey.from_private_bytes(h("client_id_private_hex"))
    server_id = ed25519.Ed25519PrivateKey.from_private_bytes(h("server_id_private_hex"))
    check.eq("v2 client id public", raw_public(client_id), h("client_id_public_hex"))
    check.eq("v2 server id public", raw_public(server_id), h("server_id_public_hex"))
    check.eq("v2 client fingerprint", fingerprint(raw_public(client_id)), vec["client_fingerprint"])
    check.eq("v2 server fingerprint", fingerprint(raw_public(server_id)), vec["server_fingerprint"])

    ch, c_eph = client_hello(QueueRandom([h("client_random_hex"), h("client_eph_private_hex")]))
    check.eq("v2 ClientHello", ch, h("client_hello_hex"))
    check.eq("v2 client eph public", raw_public(c_eph), h("client_eph_public_hex"))
    s_random, s_eph_pub = parse_client_hello(ch)
    check.eq("v2 ClientHello parses", (s_random, s_eph_pub),
             (h("client_random_hex"), h("client_eph_public_hex")))
    sh, s_eph = server_hello(greeting, ch, server_id,
                             QueueRandom([h("server_random_hex"), h("server_eph_private_hex")]))
    check.eq("v2 ServerHello (incl. signature)", sh, sh_want)
    check.eq("v2 server eph public", raw_public(s_eph), h("server_eph_public_hex"))
    check.eq("v2 ServerHello verifies", verify_server_hello(greeting, ch, sh),
             (h("server_eph_public_hex"), h("server_id_public_hex")))
    check.raises("v2 ServerHello with another greeting",
                 lambda: verify_server_hello(greeting[:-1] + b" ", ch, sh))

    cks = KeySchedule(c_eph, h("server_eph_public_hex"), greeting, ch, sh)
    sks = KeySchedule(s_eph, h("client_eph_public_hex"), greeting, ch, sh)
    for name, attr in (("shared secret", "ss"), ("transcript hash", "th"), ("PRK", "prk"),
                       ("c2s traffic secret", "c2s"), ("s2c traffic secret", "s2c")):
        key = {"ss": "shared_secret_hex", "th": "transcript_hash_hex", "prk": "prk_hex",
               "c2s": "c2s_secret_hex", "s2c": "s2c_secret_hex"}[attr]
        check.eq(f"v2 {name} (client)", getattr(cks, attr), h(key))
        check.eq(f"v2 {name} (server)", getattr(sks, attr), h(key))
    check.eq("v2 session code", cks.code, vec["session_code"])

    tx = {"c2s": RecordState(cks.c2s), "s2c": RecordState(sks.s2c)}
    rx = {"c2s": RecordState(sks.c2s), "s2c": RecordState(cks.s2c)}
    for n, r in enumerate(vec["records"]):
        d, t, want_pt = r["direction"], r["type"], bytes.fromhex(r["plaintext_hex"])
        label = f"v2 record {n} ({d} type 0x{t:02x} seq {r['seq']})"
        check.eq(label + " key/iv/seq", (tx[d].key, tx[d].iv, tx[d].seq),
                 (bytes.fromhex(r["key_hex"]), bytes.fromhex(r["iv_hex"]), r["seq"]))
        if t == CLIENT_AUTH:
            pt = client_auth_plaintext(client_id, cks.th, vec["nickname"])
        elif t in (KEY_UPDATE, CLOSE):
            pt = b""
        else:
            obj = json.loads(want_pt)
            pt = {WELCOME: lambda: welcome_json(obj.get("server"), obj.get("clients")),
                  CHAT: lambda: (chat_c2s(obj["text"]) if d == "c2s" else
                                 chat_s2c(obj["from"], obj["fingerprint"], obj["text"], obj["time"])),
                  EVENT: lambda: event_json(obj["event"], obj["from"], obj["fingerprint"])}[t]()
        check.eq(label + " plaintext", pt, want_pt)
        frame = tx[d].seal(t, pt)
        check.eq(label + " frame", frame, bytes.fromhex(r["frame_hex"]))
        if n == 0:
            check.raises("v2 record reflected to its sender", lambda: RecordState(cks.s2c).open(frame))
        got = rx[d].open(bytes.fromhex(r["frame_hex"]))
        check.eq(label + " decrypts", got, want_pt)
        if n == 0:
            check.raises("v2 replayed record", lambda: rx[d].open(frame))
        if t == CLIENT_AUTH:
            cid, nick = parse_client_auth(got, sks.th)
            check.eq("v2 ClientAuth verifies (server side)", (cid, nick),
                     (h("client_id_public_hex"), vec["nickname"].encode()))
        if t == KEY_UPDATE:
            tx[d].update()
            rx[d].update()


def run_kat(args):
    check = Checker()
    with open(os.path.join(args.vector_dir, "kat-v1.json"), encoding="utf-8") as f:
        v1 = json.load(f)
    with open(os.path.join(args.vector_dir, "kat-v2.json"), encoding="utf-8") as f:
        v2 = json.load(f)
    for vec, fn in ((v1, kat_v1), (v2, kat_v2)):
        try:
            if fn is kat_v2:
                spk = serialization.load_pem_private_key(v1["server_rsa_private_pem"].encode(), None)
                fn(vec, check, spk.public_key())
            else:
                fn(vec, check)
        except Exception as e:  # a crash is a failure, not a pass
            check.eq(f"{fn.__name__} raised {type(e).__name__}: {e}", False, True)
    out(f"{'OK' if not check.failed else 'FAILED'}: {check.passed} passed, {check.failed} failed")
    return 1 if check.failed else 0


# ---------------------------------------------------------------- self-test
class Proc:
    """A child sc_peer with stdout lines collected by a thread."""

    def __init__(self, *argv):
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines, self.cv = [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait_line(self, prefix, timeout=15, count=1):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                found = [line for line in self.lines if line.startswith(prefix)]
                if len(found) >= count:
                    return found[count - 1]
                if time.monotonic() >= end:
                    raise AssertionError(f"no line starting {prefix!r}; got {self.lines}")
                self.cv.wait(end - time.monotonic())

    def finish(self, timeout=20):
        rc = self.p.wait(timeout)
        time.sleep(0.05)
        return rc


def run_selftest(args):
    tmp = tempfile.mkdtemp(prefix="sc_peer_selftest_")
    check = Checker()
    srv = Proc("server", "--port", "0", "--key-dir", os.path.join(tmp, "srv"), "--rekey-limit", "3")
    port = srv.wait_line("LISTENING").split()[1]
    sfp = fingerprint(raw_public(load_or_create_key(os.path.join(tmp, "srv", "ed25519.pem"),
                                                    "ed25519")))

    def client(proto, nick, *extra):
        return Proc("client", "--host", "127.0.0.1", "--port", port, "--protocol", str(proto),
                    "--nick", nick, "--key-dir", os.path.join(tmp, nick), "--timeout", "15", *extra)
    handshakes = 0
    try:
        for pa, pb in ((2, 2), (1, 1), (2, 1), (1, 2)):
            a = client(pa, f"alice{pa}{pb}", "--expect", "2")
            out(f"  [v{pa} receiver] {a.wait_line('CONNECTED')}")
            handshakes += 1
            srv.wait_line("HANDSHAKE", count=handshakes)  # receiver registered before the sender
            handshakes += 1
            b = client(pb, f"bob{pa}{pb}", "--send", f"hello {pa}{pb}", "--send", "second ✓",
                       "--rekey-limit", "2")
            out(f"  [v{pb} sender]   {b.wait_line('CONNECTED')}")
            check.eq(f"v{pb} sender exit code", b.finish(), 0)
            check.eq(f"v{pa} receiver exit code", a.finish(), 0)
            for line in a.lines[1:]:
                out(f"  [v{pa} receiver] {line}")
            msgs = [line for line in a.lines if line.startswith("MSG ")]
            sender = f"bob{pa}{pb}" if pb == 2 else "127.0.0.1:"
            check.eq(f"v{pb} -> server -> v{pa} relay",
                     len(msgs) == 2 and msgs[0].startswith(f"MSG {sender}")
                     and msgs[0].endswith(f": hello {pa}{pb}") and msgs[1].endswith(": second ✓"),
                     True)
            if pa == 2:
                check.eq("v2 receiver saw join event", any(
                    line.startswith("EVENT join ") for line in a.lines), True)
        c = client(2, "mallory", "--expect-fingerprint", "SHA256:wrong")
        check.eq("v2 client refuses unexpected server key", c.finish(), 2)
        d = client(2, "carol", "--expect-fingerprint", sfp)
        check.eq("v2 client accepts expected server key", d.finish(), 0)
        bad = client(2, "bad\u0007nick")
        check.eq("client refuses control characters in nickname", bad.finish(), 2)
    except AssertionError as e:
        check.eq(f"self-test step: {e}", False, True)
    srv.p.send_signal(signal.SIGTERM)
    check.eq("server exits 0 on SIGTERM", srv.finish(), 0)
    for line in srv.lines:
        out(f"  [server] {line}")
    check.eq("server logged handshakes and messages",
             sum(line.startswith("HANDSHAKE") for line in srv.lines) == 9
             and sum(line.startswith("MSG ") for line in srv.lines) == 8, True)

    allow = os.path.join(tmp, "allow")
    with open(allow, "w") as f:
        f.write(sfp + " nobody\n")
    srv2 = Proc("server", "--port", "0", "--key-dir", os.path.join(tmp, "srv"),
                "--allow", allow, "--once")
    port = srv2.wait_line("LISTENING").split()[1]
    e = client(2, "eve")
    check.eq("client not on allow-list exits 3", e.finish(), 3)
    out(f"  [eve] {e.wait_line('REJECTED')}")
    check.eq("--once server exits 0 after first client", srv2.finish(), 0)
    shutil.rmtree(tmp, ignore_errors=True)
    out(f"{'OK' if not check.failed else 'FAILED'}: {check.passed} passed, {check.failed} failed")
    return 1 if check.failed else 0


# ---------------------------------------------------------------- CLI
def main(argv=None):
    ap = argparse.ArgumentParser(description="Secure Chat interoperability peer (v1 + v2)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("client")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=DEFAULT_PORT)
    c.add_argument("--protocol", type=int, choices=(1, 2), default=2)
    c.add_argument("--nick", default="")
    c.add_argument("--key-dir")
    c.add_argument("--expect-fingerprint")
    c.add_argument("--send", action="append")
    c.add_argument("--expect", type=int, default=0)
    c.add_argument("--timeout", type=float, default=10.0)
    c.add_argument("--rekey-limit", type=int, default=SEQ_LIMIT,
                   help="send KeyUpdate when seq reaches this - 1 (v2; >= 2)")
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument("--bind", default="127.0.0.1")
    s.add_argument("--key-dir")
    s.add_argument("--once", action="store_true")
    s.add_argument("--allow", help="allow-list file: one fingerprint per line (+ optional nick)")
    s.add_argument("--rekey-limit", type=int, default=SEQ_LIMIT)
    k = sub.add_parser("kat")
    k.add_argument("vector_dir")
    sub.add_parser("selftest")
    args = ap.parse_args(argv)
    return {"client": run_client, "server": run_server, "kat": run_kat,
            "selftest": run_selftest}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
