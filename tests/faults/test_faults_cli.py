#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_faults_cli.py - secure-chat-cli when the other side dies or the key
directory cannot be trusted to hold what we write.

    /usr/bin/python3 tests/faults/test_faults_cli.py PATH/TO/secure-chat-cli

 - server killed with SIGKILL: a connected client says "connection lost"
   (never "closed") and exits 3; a server stopped properly is "closed by
   server"; a client killed with SIGKILL is "connection lost" on the server;
 - key directory read-only (a tmpfs remounted read-only: root ignores mode
   bits), full (a 16 KiB tmpfs filled up), or holding a corrupt, truncated
   or 0644 key file: exit 1 with an error naming the file, and no existing
   file modified or replaced (content, inode, mode and mtime compared), no
   stray temporary file left.

Mounting needs root (CI runs as root); without it, or where mount(2) is not
permitted and a loop device is not either, those scenarios report
"# SKIP" with the reason rather than passing silently.
"""

import os
import re
import shutil
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import sc_testlib  # noqa: E402
from sc_testlib import Fail, newdir, ok, scenario  # noqa: E402

FP_RE = r"SHA256:[A-Za-z0-9+/]{43}"
KEY_FILES = ("server_key.pem", "identity_ed25519.pem")
MOUNTS = []         # mount points to unmount at the end


class Proc(sc_testlib.Proc):
    def __init__(self, args, name=None, stdin=True):
        super().__init__([sc_testlib.CLI] + [str(a) for a in args], name or str(args[0]), stdin)


def run(args, timeout=20.0):
    args = [str(a) for a in args]
    return sc_testlib.run([sc_testlib.CLI] + args, timeout, stdin=b"", label=" ".join(args))


class Server(Proc):
    def __init__(self, key_dir, name="serve"):
        super().__init__(["serve", "--port", 0, "--key-dir", key_dir], name=name)
        line = self.wait_line(r"^listening ", timeout=20)
        self.port = int(line.rsplit(":", 1)[1])
        self.fp = self.wait_line(r"^fingerprint ").split()[1]


def connect(port, key_dir, nick, protocol=2):
    return Proc(["connect", "127.0.0.1", "--port", port, "--key-dir", key_dir,
                 "--trust", "accept-new", "--nick", nick, "--protocol", protocol], name=nick)


def make_keys(key_dir):
    rc, out, err = run(["fingerprint", "--key-dir", key_dir], timeout=30)
    if rc != 0 or len(out) != 2:
        raise Fail(f"fingerprint --key-dir {key_dir}: rc={rc} out={out} err={err}")
    return out[0].split()[1]


def snapshot(directory):
    """name -> (content, inode, mode, mtime_ns) of every entry."""
    result = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        st = os.lstat(path)
        content = None
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                content = f.read()
        result[name] = (content, st.st_ino, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return result


def diff(before, after):
    lines = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            b, a = before.get(name), after.get(name)
            what = ("created" if b is None else "removed" if a is None else
                    "content" if b[0] != a[0] else "inode" if b[1] != a[1] else
                    "mode" if b[2] != a[2] else "mtime")
            lines.append(f"{name}: {what} changed")
    return "; ".join(lines) or "unchanged"


def skip(name, reason):
    sc_testlib.R.n += 1
    sc_testlib.R.passed += 1
    print(f"ok {sc_testlib.R.n} - {name} # SKIP {reason}", flush=True)


# ---------------------------------------------------------------- mounts
def mount_small(path, size_kib=16):
    """A small file system of its own at path: a tmpfs, or else an ext2 loop
    file. Returns None, or why it cannot be done."""
    if os.geteuid() != 0:
        return "not root: cannot mount a file system of our own"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode == 0:
        MOUNTS.append(path)
        return None
    why = f"mount -t tmpfs: {r.stderr.strip()}"
    image = path.rstrip("/") + ".img"
    try:
        with open(image, "wb") as f:
            f.truncate(256 * 1024)
        subprocess.run(["mkfs.ext2", "-q", "-F", image], check=True, capture_output=True)
        r = subprocess.run(["mount", "-o", "loop", image, path], capture_output=True, text=True)
        if r.returncode == 0:
            MOUNTS.append(path)
            os.chmod(path, 0o700)
            shutil.rmtree(os.path.join(path, "lost+found"), ignore_errors=True)
            return None
        why += f"; mount -o loop: {r.stderr.strip()}"
    except (OSError, subprocess.CalledProcessError) as e:
        why += f"; loop file: {e}"
    return why


def remount(path, mode):
    subprocess.run(["mount", "-o", f"remount,{mode}", path], check=True, capture_output=True)


def unmount_all():
    while MOUNTS:
        path = MOUNTS.pop()
        subprocess.run(["umount", "-l", path], capture_output=True)


def fill(path):
    """Writes a filler file until the file system at path is full."""
    with open(os.path.join(path, "filler"), "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            if e.errno != 28:  # ENOSPC
                raise
        # the last bytes the last page may still take
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


# ---------------------------------------------------------------- peers dying
@scenario
def server_killed():
    for protocol in (2, 1):
        sd, cd = newdir(f"srv-v{protocol}"), newdir(f"cli-v{protocol}")
        srv = Server(sd)
        c = connect(srv.port, cd, f"kim{protocol}", protocol)
        c.wait_line(r"^Connected", "err", timeout=20)
        srv.wait_line(r"^ready #1 ")
        c.send("before the kill\n")
        srv.wait_line(r"^message #1 .*before the kill")
        srv.p.send_signal(signal.SIGKILL)
        srv.wait(10)
        rc = c.wait(10)
        last = c.err[-1] if c.err else ""
        if protocol == 2:
            ok("v2: a server killed with SIGKILL: the client exits 3 (connection lost)",
               rc == 3, c.describe())
            ok("v2: … and says “Connection lost”, not “closed”",
               "Connection lost" in last and "closed" not in last.lower(), f"last line: {last!r}")
        else:
            # the seed protocol has no Close record: a server that dies
            # between two frames looks exactly like one that hung up
            ok("v1: a server killed with SIGKILL: the client exits 3", rc == 3, c.describe())
            ok("v1: … and names the end (the seed protocol cannot tell a kill from a close)",
               re.search(r"Connection (lost|closed by server)", last) is not None, f"last line: {last!r}")

    # the contrast: a server stopped properly
    sd, cd = newdir("srv-term"), newdir("cli-term")
    srv = Server(sd)
    c = connect(srv.port, cd, "tess")
    c.wait_line(r"^Connected", "err", timeout=20)
    srv.wait_line(r"^ready #1 ")
    srv.p.send_signal(signal.SIGTERM)
    srv_rc = srv.wait(10)
    rc = c.wait(10)
    ok("a server stopped with SIGTERM exits 0; its client exits 3 saying “closed by server”",
       srv_rc == 0 and rc == 3 and c.err and "closed by server" in c.err[-1], c.describe())
    ok("… and the server logs “server stopped” for it",
       any(re.match(r"disconnected #1 .*server stopped$", l) for l in srv.out), srv.describe())


@scenario
def client_killed():
    sd = newdir("srv-ck")
    srv = Server(sd)
    for n, protocol in enumerate((2, 1), start=1):
        c = connect(srv.port, newdir(f"ck-{protocol}"), f"kid{protocol}", protocol)
        c.wait_line(r"^Connected", "err", timeout=20)
        srv.wait_line(rf"^ready #{n} ")
        c.p.send_signal(signal.SIGKILL)
        c.wait(10)
        line = srv.wait_line(rf"^disconnected #{n} ", timeout=10)
        if protocol == 2:
            ok("v2: a client killed with SIGKILL is “connection lost” on the server",
               line.endswith(" connection lost"), line)
        else:
            ok("v1: a client killed with SIGKILL between frames is reported (“disconnected”: "
               "the seed protocol has no Close)",
               re.search(r" (disconnected|connection lost)$", line) is not None, line)
    ok("the server is still listening after both", srv.p.poll() is None, srv.describe())


# ---------------------------------------------------------------- key directories
COMMANDS = (
    ("serve", lambda kd: ["serve", "--port", 0, "--key-dir", kd]),
    ("connect", lambda kd: ["connect", "127.0.0.1", "--port", 1, "--key-dir", kd]),
    ("fingerprint", lambda kd: ["fingerprint", "--key-dir", kd]),
)


def expect_key_error(label, kd, argv, names, before, want=None):
    """The command exits 1, an error line names one of names (paths), the
    directory is exactly as before."""
    rc, out, err = run(argv)
    line = next((l for l in err if l.startswith("secure-chat-cli:")), "")
    ok(f"{label}: exit 1 with an error naming the file",
       rc == 1 and any(n in line for n in names) and (want is None or re.search(want, line))
       and not any(l.startswith("listening") for l in out),
       f"rc={rc} out={out} err={err}")
    after = snapshot(kd)
    ok(f"{label}: the key directory is untouched", after == before, diff(before, after))
    return line


@scenario
def damaged_key_files():
    good = newdir("good")
    make_keys(good)
    pems = {name: open(os.path.join(good, name), "rb").read() for name in KEY_FILES}
    kinds = (
        ("corrupt", lambda data: b"-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n"
                                 b"-----END PRIVATE KEY-----\n", 0o600, r"[Cc]annot|not|[Ii]nvalid"),
        ("truncated", lambda data: data[:len(data) // 2], 0o600, None),
        ("0644", lambda data: data, 0o644, r"0644|readable|permission"),
    )
    for kind, mangle, mode, want in kinds:
        for bad in KEY_FILES:
            kd = newdir(f"{kind}-{bad}")
            for name in KEY_FILES:
                path = os.path.join(kd, name)
                with open(path, "wb") as f:
                    f.write(mangle(pems[name]) if name == bad else pems[name])
                os.chmod(path, mode if name == bad else 0o600)
            # an old mtime, so a rewrite within the same tick would show
            os.utime(os.path.join(kd, bad), ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
            before = snapshot(kd)
            for cmd, argv in COMMANDS:
                line = expect_key_error(f"{kind} {bad}, {cmd}", kd, argv(kd),
                                        [os.path.join(kd, bad)], before, want)
                if cmd == "fingerprint":
                    print(f"#   {kind} {bad}: {line}", flush=True)


@scenario
def read_only_key_dir():
    mnt = newdir("ro")
    why = mount_small(mnt, 64)
    if why:
        skip("read-only key directory", why)
        return
    # no keys yet: nothing can be created
    empty = os.path.join(mnt, "empty")
    os.mkdir(empty, 0o700)
    with_keys = os.path.join(mnt, "keys")
    os.mkdir(with_keys, 0o700)
    fp = make_keys(with_keys)
    with open(os.path.join(with_keys, "known_servers"), "w") as f:
        f.write("example.org:5555 SHA256:" + "A" * 43 + "\n")
    remount(mnt, "ro")
    before = snapshot(empty)
    for cmd, argv in COMMANDS:
        line = expect_key_error(f"read-only, no keys, {cmd}", empty, argv(empty),
                                [os.path.join(empty, n) for n in KEY_FILES], before,
                                r"[Rr]ead-only")
        if cmd == "fingerprint":
            print(f"#   read-only, no keys: {line}", flush=True)
    # a key directory that does not exist and cannot be made
    missing = os.path.join(mnt, "missing")
    rc, out, err = run(["fingerprint", "--key-dir", missing])
    ok("read-only, key directory missing: exit 1 naming it",
       rc == 1 and err and missing in err[-1] and not os.path.exists(missing), f"rc={rc} err={err}")

    # keys present: reading them works; pinning a new server key cannot
    before = snapshot(with_keys)
    rc, out, err = run(["fingerprint", "--key-dir", with_keys])
    ok("read-only, keys present: fingerprint still works (exit 0, same fingerprint)",
       rc == 0 and out and out[0] == f"identity {fp}", f"rc={rc} out={out} err={err}")
    srv = Server(newdir("ro-srv"))
    c = connect(srv.port, with_keys, "rosa")
    rc = c.wait(20)
    last = c.err[-1] if c.err else ""
    ok("read-only: connect --trust accept-new cannot pin the key: exit 4 naming known_servers",
       rc == 4 and os.path.join(with_keys, "known_servers") in last, c.describe())
    print(f"#   read-only, pinning: {last}", flush=True)
    after = snapshot(with_keys)
    ok("read-only: the key directory is untouched", after == before, diff(before, after))


@scenario
def full_key_dir():
    mnt = newdir("full")
    why = mount_small(mnt, 16)
    if why:
        skip("full key directory", why)
        return
    # keys and one pin made while there was room, then the disk fills up
    with_keys = os.path.join(mnt, "keys")
    os.mkdir(with_keys, 0o700)
    fp = make_keys(with_keys)
    with open(os.path.join(with_keys, "known_servers"), "w") as f:
        f.write("example.org:5555 SHA256:" + "A" * 43 + "\n")
    empty = os.path.join(mnt, "empty")
    os.mkdir(empty, 0o700)
    fill(mnt)
    st = os.statvfs(mnt)
    print(f"#   file system at {mnt}: {st.f_bavail} blocks of {st.f_bsize} bytes free", flush=True)

    before = snapshot(empty)
    for cmd, argv in COMMANDS:
        line = expect_key_error(f"full, no keys, {cmd}", empty, argv(empty),
                                [os.path.join(empty, n) for n in KEY_FILES], before,
                                r"[Nn]o space")
        if cmd == "fingerprint":
            print(f"#   full, no keys: {line}", flush=True)

    before = snapshot(with_keys)
    rc, out, err = run(["fingerprint", "--key-dir", with_keys])
    ok("full, keys present: fingerprint still works (exit 0, same fingerprint)",
       rc == 0 and out and out[0] == f"identity {fp}", f"rc={rc} out={out} err={err}")
    srv = Server(newdir("full-srv"))
    c = connect(srv.port, with_keys, "fynn")
    rc = c.wait(20)
    last = c.err[-1] if c.err else ""
    ok("full: connect --trust accept-new cannot pin the key: exit 4 naming known_servers",
       rc == 4 and os.path.join(with_keys, "known_servers") in last and "space" in last,
       c.describe())
    print(f"#   full, pinning: {last}", flush=True)
    after = snapshot(with_keys)
    ok("full: known_servers and the keys are untouched, no temporary file left",
       after == before, diff(before, after))


def main():
    rc = sc_testlib.setup("sc-faults-")
    if rc is not None:
        return rc
    try:
        return sc_testlib.run_scenarios()
    finally:
        unmount_all()


if __name__ == "__main__":
    sys.exit(main())
