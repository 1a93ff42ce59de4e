#!/usr/bin/python3
# test_faults.py: the window's plain-language errors, driven through the
# accessibility tree under Xvfb (run it through run-ui-test.sh, with the
# arguments of test_window.py, whose helpers it uses):
#
#   test_faults.py APP_BIN CLI_BIN SCHEMA_DIR ARTIFACT_DIR DE_PO
#
#  1. Start server on a port another socket holds: "Cannot Start the
#     Server", saying the port is in use (not only the errno text).
#  2. Connect to a port where nothing listens: "Cannot Connect", saying
#     the connection was refused and what to check.
#  3. Connect to a server whose key differs from the one pinned for its
#     host:port: "The Server's Key Changed" with both fingerprints; the pin
#     (known_servers) is left exactly as it was.
#  4. A key file readable by others: "Cannot Read Your Keys" naming the
#     file, which is left as it was.
#  5. German: the port-in-use dialog shows po/de.po's translation.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_window as tw  # noqa: E402  (same arguments: APP_BIN CLI_BIN ...)
from test_window import check, report  # noqa: E402


def snapshot(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return (f.read(), st.st_ino, stat.S_IMODE(st.st_mode), st.st_mtime_ns)


def dialog_with(win, heading):
    """The text of the app's dialogs once one shows heading."""
    return win.dialog_text() if heading in win.dialog_text() else None


def close_dialog(win, what):
    button = check(f"{what}: the dialog has a “Close” button", lambda: win.dialog_button("Close"),
                   timeout=15, detail=lambda: f"toplevels: {win.toplevel_names()}")
    if button is not None:
        tw.click(button)
        check(f"{what}: “Close” closes the dialog",
              lambda: win.dialog_button("Close") is None, timeout=5,
              detail=lambda: f"toplevels: {win.toplevel_names()}")


def start_and_wait(key_dir, log_path, extra_env=None):
    app = tw.start_app(key_dir, log_path, extra_env)
    win = tw.Window(app.pid)
    ready = check("the window appears and “Start server” becomes available",
                  lambda: tw.sensitive(tw.labelled_button(win.frame, "Start server")),
                  timeout=60, detail=lambda: tw.read_file(log_path)[-3000:])
    return app, win, ready


def run_faults(tmp):
    app_keys = os.path.join(tmp, "keys-app")
    other_keys = os.path.join(tmp, "keys-other")
    server_keys = os.path.join(tmp, "keys-server")
    app_log = os.path.join(tw.ARTIFACT_DIR, "ui-faults-app.log")
    env = tw.app_env({})
    app = server = None
    holder = socket.socket()
    try:
        # a server of its own, and a key pinned for its address that is not its key
        os.makedirs(app_keys, 0o700)
        out = subprocess.run([tw.CLI_BIN, "fingerprint", "--key-dir", other_keys], env=env,
                             capture_output=True, text=True, timeout=60).stdout.split()
        other_fp = out[1] if len(out) >= 2 else "?"
        server = subprocess.Popen([tw.CLI_BIN, "serve", "--port", "0", "--key-dir", server_keys],
                                  env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        server_out = tw.Reader(server.stdout)
        listening = tw.wait_for("the CLI server to listen",
                                lambda: re.search(r"^listening 127\.0\.0\.1:(\d+)$", server_out.text(), re.M),
                                timeout=30)
        server_port = int(listening.group(1))
        server_fp = re.search(r"^fingerprint (\S+)$", server_out.text(), re.M).group(1)
        known = os.path.join(app_keys, "known_servers")
        with open(known, "w") as f:
            f.write(f"127.0.0.1:{server_port} {other_fp}\n")
        os.chmod(known, 0o600)
        pin_before = snapshot(known)

        app, win, ready = start_and_wait(app_keys, app_log)
        if ready is None:
            return

        # 1. the port is taken
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        busy_port = holder.getsockname()[1]
        if not tw.set_port(win, "Server port", busy_port, timeout=15):
            return
        tw.click(tw.labelled_button(win.frame, "Start server"))
        text = check("port in use: a “Cannot Start the Server” dialog appears",
                     lambda: dialog_with(win, "Cannot Start the Server"),
                     detail=lambda: f"toplevels: {win.toplevel_names()}\n{win.dialog_text()}")
        if text:
            print("#   " + text.replace("\n", " | "), flush=True)
            report(f"Port {busy_port} is already in use" in text and "choose another port" in text,
                   "port in use: it says the port is in use and what to do", text)
            report("Address already in use" not in text and "Error binding" not in text,
                   "port in use: no raw errno text", text)
        close_dialog(win, "port in use")
        report(tw.labelled_button(win.frame, "Start server") is not None
               and tw.labelled_button(win.frame, "Stop server") is None,
               "port in use: the server did not start (the button still reads “Start server”)")

        # 2. nothing listens
        refused_port = tw.free_port()
        if not tw.set_port(win, "Client port", refused_port, timeout=15):
            return
        tw.click(tw.labelled_button(win.frame, "Connect"))
        text = check("connection refused: a “Cannot Connect” dialog appears",
                     lambda: dialog_with(win, "Cannot Connect"),
                     detail=lambda: f"toplevels: {win.toplevel_names()}\n{win.dialog_text()}")
        if text:
            print("#   " + text.replace("\n", " | "), flush=True)
            report(f"Cannot connect to 127.0.0.1:{refused_port}" in text
                   and "the connection was refused" in text and "no server is listening" in text,
                   "connection refused: it names the address, says the connection was refused "
                   "and what to check", text)
        close_dialog(win, "connection refused")
        check("connection refused: the client button reads “Connect” again",
              lambda: tw.labelled_button(win.frame, "Connect"), timeout=15)

        # 3. the server's key is not the pinned one
        if not tw.set_port(win, "Client port", server_port, timeout=15):
            return
        tw.click(tw.labelled_button(win.frame, "Connect"))
        text = check("key changed: “The Server's Key Changed” dialog appears",
                     lambda: dialog_with(win, "The Server’s Key Changed")
                     or dialog_with(win, "The Server's Key Changed"),
                     detail=lambda: f"toplevels: {win.toplevel_names()}\n{win.dialog_text()}")
        if text:
            print("#   " + text.replace("\n", " | "), flush=True)
            report(server_fp in text and other_fp in text and f"127.0.0.1:{server_port}" in text,
                   "key changed: it names the server and shows both the new and the pinned key", text)
        report(win.dialog_button("Trust and Connect") is None,
               "key changed: no way to trust the new key from this dialog")
        close_dialog(win, "key changed")
        report(snapshot(known) == pin_before,
               "key changed: known_servers is untouched (content, inode, mode, mtime)",
               f"now: {open(known).read()!r}")
        report("ready #" not in server_out.text(),
               "key changed: the client never finished the handshake with that server",
               server_out.text())

        shot = os.path.join(tw.ARTIFACT_DIR, "ui-faults.png")
        ok, out = tw.screenshot(shot)
        report(ok, f"screenshot saved as {shot}", out)
    finally:
        holder.close()
        tw.stop(app)
        tw.stop(server)
        bad = tw.unexpected_warnings(tw.read_file(app_log))
        report(not bad, "the app printed no warnings or criticals (faults run)", "\n".join(bad))


def run_bad_key(tmp):
    key_dir = os.path.join(tmp, "keys-loose")
    app_log = os.path.join(tw.ARTIFACT_DIR, "ui-faults-keys.log")
    app = None
    try:
        subprocess.run([tw.CLI_BIN, "fingerprint", "--key-dir", key_dir], env=tw.app_env({}),
                       capture_output=True, timeout=60, check=True)
        path = os.path.join(key_dir, "identity_ed25519.pem")
        os.chmod(path, 0o644)
        before = snapshot(path)
        app = tw.start_app(key_dir, app_log)
        win = tw.Window(app.pid)
        text = check("a key file readable by others: “Cannot Read Your Keys” appears",
                     lambda: dialog_with(win, "Cannot Read Your Keys"), timeout=60,
                     detail=lambda: f"toplevels: {win.toplevel_names()}\n{tw.read_file(app_log)[-2000:]}")
        if text:
            print("#   " + text.replace("\n", " | "), flush=True)
            report(path in text and "0644" in text, "it names the file and its permissions", text)
        report(snapshot(path) == before, "the key file is left exactly as it was")
    finally:
        tw.stop(app)


def run_german(tmp):
    msgid = "Port %u is already in use, probably by another server. Stop that program, or choose another port."
    expected = tw.po_translation(tw.DE_PO, msgid)
    heading = tw.po_translation(tw.DE_PO, "Cannot Start the Server")
    start = tw.po_translation(tw.DE_PO, "Start server")
    port_label = tw.po_translation(tw.DE_PO, "Server port")
    if not (expected and heading and start and port_label):
        report(False, "po/de.po translates the port-in-use message, its heading and “Start server”")
        return
    locale_dir = os.path.join(tmp, "locale")
    os.makedirs(os.path.join(locale_dir, "de", "LC_MESSAGES"))
    subprocess.run(["msgfmt", "-o", os.path.join(locale_dir, "de", "LC_MESSAGES", "secure-chat.mo"),
                    tw.DE_PO], check=True)
    app_log = os.path.join(tw.ARTIFACT_DIR, "ui-faults-de.log")
    app = None
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        app = tw.start_app(os.path.join(tmp, "keys-de"), app_log,
                           {"LANGUAGE": "de", "SECURE_CHAT_LOCALEDIR": locale_dir})
        win = tw.Window(app.pid)
        button = check(f"German: “{start}” becomes available",
                       lambda: tw.sensitive(tw.labelled_button(win.frame, start)), timeout=60)
        if button is None or not tw.set_port(win, port_label, port, timeout=15):
            return
        tw.click(button)
        want = expected.replace("%u", str(port))
        text = check("German: the port-in-use dialog shows po/de.po's heading and message",
                     lambda: (lambda t: t if heading in t and want in t else None)(win.dialog_text()),
                     detail=lambda: win.dialog_text())
        if text:
            print("#   " + text.replace("\n", " | "), flush=True)
    finally:
        holder.close()
        tw.stop(app)


def main():
    os.makedirs(tw.ARTIFACT_DIR, exist_ok=True)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="sc-ui-faults-")
    try:
        for name, run in (("faults", run_faults), ("bad key", run_bad_key), ("German", run_german)):
            t = time.monotonic()
            try:
                run(tmp)
            except Exception:
                report(False, f"the {name} run ended with an exception", traceback.format_exc())
            print(f"# {name} run took {time.monotonic() - t:.1f}s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# total {time.monotonic() - started:.1f}s")
    print(f"{tw.passed} passed, {tw.failed} failed", flush=True)
    return 0 if tw.failed == 0 and tw.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
