#!/usr/bin/python3
# test_window.py: drive the real Secure Chat window as a person would,
# through the accessibility tree (AT-SPI), under Xvfb.
#
# Run it through run-ui-test.sh (Xvfb, a D-Bus session and the AT-SPI bus),
# with Debian's /usr/bin/python3 (pyatspi, gi):
#
#   test_window.py APP_BIN CLI_BIN SCHEMA_DIR ARTIFACT_DIR DE_PO
#
# Run 1 (English): start the server and the client from the window, answer
# the trust dialog, chat with the window's own server and with a second
# client (secure-chat-cli), take a screenshot, check the desktop
# notifications (fake_notifications.py stands in for the notification
# server), open and close Keyboard Shortcuts, disconnect, stop the
# server, close the window.
# Run 2 (German): with LANGUAGE=de and a catalogue compiled from po/de.po
# at test time, the start button must carry the German msgstr.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import pyatspi

APP_BIN, CLI_BIN, SCHEMA_DIR, ARTIFACT_DIR, DE_PO = sys.argv[1:6]

passed = 0
failed = 0
number = 0
last_report = time.monotonic()


def report(ok, description, detail=None):
    global passed, failed, number, last_report
    number += 1
    took = time.monotonic() - last_report
    last_report = time.monotonic()
    if took >= 1.0:
        print(f"# the next check took {took:.1f}s", flush=True)
    if ok:
        passed += 1
        print(f"ok {number} - {description}", flush=True)
    else:
        failed += 1
        print(f"not ok {number} - {description}", flush=True)
        if detail:
            for line in str(detail).splitlines():
                print(f"#   {line}", flush=True)


class Timeout(Exception):
    pass


def wait_for(what, fn, timeout=20.0, interval=0.1):
    """Poll fn until it returns something true; return that, or raise."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # the tree changes under our feet
            last_error = e
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout:.0f}s waiting for {what}"
                          + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval)


def check(description, fn, timeout=20.0, detail=None):
    """Report a check that passes once fn returns something true."""
    try:
        value = wait_for(description, fn, timeout)
        report(True, description)
        return value
    except Timeout as e:
        report(False, description, f"{e}\n{detail() if detail else ''}".rstrip())
        return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the accessibility tree ----

def find_application(pid):
    desktop = pyatspi.Registry.getDesktop(0)
    for app in desktop:
        try:
            if app is not None and app.get_process_id() == pid and app.childCount > 0:
                return app
        except Exception:
            continue
    return None


def walk(root):
    """Every accessible below root, depth first (fresh, no cached lists)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        yield node
        try:
            children = [node.getChildAtIndex(i) for i in range(node.childCount)]
        except Exception:
            continue
        stack.extend(reversed(children))


def find(root, role, name=None, prefix=None, pred=None):
    for node in walk(root):
        try:
            if node.getRole() != role:
                continue
            if name is not None and node.name != name:
                continue
            if prefix is not None and not node.name.startswith(prefix):
                continue
            if pred is not None and not pred(node):
                continue
            return node
        except Exception:
            continue
    return None


def has_state(node, state):
    return node.getState().contains(state)


def sensitive(node):
    """node, if it exists and is sensitive; else None (for check())."""
    return node if node is not None and has_state(node, pyatspi.STATE_SENSITIVE) else None


def set_port(win, label, port, description=None, timeout=5):
    """Sets the spin button labelled label to port through its value
    interface and checks that it took: the check's value, None if it
    failed, False if there is no such button."""
    spin = win.widget(pyatspi.ROLE_SPIN_BUTTON, prefix=label)
    if spin is None:
        report(False, f"the “{label}” spin button exists")
        return False
    spin.queryValue().currentValue = float(port)
    return check(description or f"“{label}” is set to {port}",
                 lambda: int(win.widget(pyatspi.ROLE_SPIN_BUTTON, prefix=label)
                             .queryValue().currentValue) == port, timeout=timeout)


def text_of(node):
    # (GtkText in GTK 4.8 answers "" to getText(0, -1))
    text = node.queryText()
    return text.getText(0, text.characterCount)


def shows_label(button, text):
    """Whether button shows a label reading text."""
    return any(c is not None and c.getRole() == pyatspi.ROLE_LABEL and c.name == text
               for c in (button.getChildAtIndex(i) for i in range(button.childCount)))


def labelled_button(root, name):
    """A push button called `name` that shows that text (not an icon button
    with that tooltip, like the per-client Disconnect buttons)."""
    return find(root, pyatspi.ROLE_PUSH_BUTTON, name=name, pred=lambda b: shows_label(b, name))


def click(node):
    node.queryAction().doAction(0)


class Window:
    """The application's accessible tree, looked up afresh on each call."""

    def __init__(self, pid):
        self.pid = pid

    @property
    def app(self):
        return find_application(self.pid)

    @property
    def frame(self):
        app = self.app
        if app is None:
            return None
        return find(app, pyatspi.ROLE_FRAME)

    def widget(self, role, name=None, prefix=None, pred=None):
        frame = self.frame
        return find(frame, role, name, prefix, pred) if frame is not None else None

    def log(self, name):
        view = self.widget(pyatspi.ROLE_TEXT, name)
        return text_of(view) if view is not None else ""

    def dialog_button(self, label):
        """A push button showing label in one of the app's other windows
        (dialogs)."""
        app = self.app
        if app is None:
            return None
        for i in range(app.childCount):
            top = app.getChildAtIndex(i)
            if top is None or top.getRole() == pyatspi.ROLE_FRAME:
                continue
            # The accessible names of AdwMessageDialog's buttons carry the
            # mnemonic ("_Trust and Connect Trust and Connect" on
            # libadwaita 1.2), so go by the label they show.  The dialog
            # keeps two rows of buttons (side by side, stacked) for the
            # same responses; either one answers.
            button = find(top, pyatspi.ROLE_PUSH_BUTTON, pred=lambda b: shows_label(b, label))
            if button is not None:
                return button
        return None

    def dialog_text(self):
        """The text of the labels in the app's other windows."""
        app = self.app
        texts = []
        for i in range(app.childCount if app is not None else 0):
            top = app.getChildAtIndex(i)
            if top is None or top.getRole() == pyatspi.ROLE_FRAME:
                continue
            texts += [n.name for n in walk(top) if n.getRole() == pyatspi.ROLE_LABEL]
        return "\n".join(texts)

    def ask_past_last_window(self):
        """Ask the app for the window one past its last one, as a screen
        reader can while a dialog closes.  GTK 4.8 answers with the last
        window in its own list, visible or not, and a hidden window has no
        accessible object path: a critical, which ends the app here (and
        in a normal session leaves the call without a reply)."""
        app = self.app
        if app is not None:
            try:
                app.getChildAtIndex(app.childCount)
            except Exception:
                pass

    def toplevel_names(self):
        app = self.app
        if app is None:
            return []
        return [f"{c.getRoleName()}:{c.name}" for c in
                (app.getChildAtIndex(i) for i in range(app.childCount)) if c is not None]


# ---- processes ----

class Reader(threading.Thread):
    """Collects a pipe's lines, so a process never blocks on a full pipe;
    copies them to a file too, if given one."""

    copy_lock = threading.Lock()  # readers may share a file

    def __init__(self, stream, copy_to=None):
        super().__init__(daemon=True)
        self.stream = stream
        self.copy_to = copy_to
        self.lines = []
        self.lock = threading.Lock()
        self.start()

    def run(self):
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self.lock:
                self.lines.append(line)
            if self.copy_to is not None:
                with Reader.copy_lock:
                    self.copy_to.write(line)
                    self.copy_to.flush()

    def text(self):
        with self.lock:
            return "".join(self.lines)


def app_env(extra):
    env = dict(os.environ)
    env.pop("NO_AT_BRIDGE", None)
    env.pop("LANGUAGE", None)
    env.pop("LC_MESSAGES", None)
    env.update({
        "GDK_BACKEND": "x11",
        "GSETTINGS_BACKEND": "memory",
        "GSETTINGS_SCHEMA_DIR": SCHEMA_DIR,
        "LC_ALL": "C.UTF-8",
        # any GTK or GLib critical (a template error, a bad cast) ends the app
        "G_DEBUG": "fatal-criticals",
    })
    env.update(extra)
    return env


def start_app(key_dir, log_path, extra_env=None, preexec=None):
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen([APP_BIN, "--key-dir", key_dir],
                            env=app_env(extra_env or {}), preexec_fn=preexec,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log
    return proc


def stop(proc, grace=5.0):
    """End a process we started, by its pid; return its exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if getattr(proc, "log_file", None) is not None:
        proc.log_file.close()
    return proc.returncode


def read_file(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# Harmless on Xvfb without a window manager or a desktop session
XVFB_NOISE = (
    "Screen coordinates not supported",
    # no WM: the window never becomes active, so messages raise
    # notifications, and there is no notification service
    "unable to send notifications through org.freedesktop.Notifications",
    # no WM sends focus changes on window close
    "did not receive a focus-out event",
)


def unexpected_warnings(log):
    return [line for line in log.splitlines()
            if re.search(r"CRITICAL|WARNING \*\*|ERROR \*\*", line)
            and not any(noise in line for noise in XVFB_NOISE)]


def screenshot(path):
    result = subprocess.run(["import", "-window", "root", path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return result.returncode == 0 and os.path.getsize(path) > 0, result.stdout.decode()


def xdotool(*args):
    return subprocess.run(["xdotool", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=10, check=True).stdout.decode()


# ---- notifications ----

FAKE_NOTIFICATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "fake_notifications.py")
APP_PATH = "/io/github/securechat/SecureChat"  # the app's GApplication object path


def start_notification_server(log_path, markup=False):
    """fake_notifications.py on the test's session bus, owning
    org.freedesktop.Notifications (and not org.gtk.Notifications, which
    GLib would prefer), with "body-markup" among its capabilities if
    markup, and recording when the app has handled its answer to
    GetCapabilities; returns the process and a Reader of its records."""
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, FAKE_NOTIFICATIONS, "--sync-path", APP_PATH]
                            + (["--markup"] if markup else []),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    return proc, Reader(proc.stdout, log)  # the caller closes reader.copy_to


def records(reader):
    """The JSON records the fake server printed so far."""
    out = []
    for line in reader.text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a warning, not a record
    return out


def notifications(reader):
    """(title, body) of each notification the fake server received, from
    the freedesktop interface (summary, body) or GLib's own (title, body)."""
    return [(r.get("summary", r.get("title")), r.get("body")) for r in records(reader)
            if r.get("method") in ("Notify", "AddNotification")]


def x_window_of(pid):
    ids = xdotool("search", "--onlyvisible", "--pid", str(pid)).split()
    return ids[-1] if ids else None


def click_with_mouse(window_id, node):
    """A real pointer click in the middle of node (window coordinates)."""
    ext = node.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
    x, y = ext.x + ext.width // 2, ext.y + ext.height // 2
    xdotool("mousemove", "--window", window_id, str(x), str(y), "click", "1")


# ---- po files ----

def po_unquote(s):
    s = s.strip()
    assert s.startswith('"') and s.endswith('"'), s
    s = s[1:-1]
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
                  .get(m.group(1), "\\" + m.group(1)), s)


def po_translation(path, msgid, msgctxt=None):
    """The msgstr msgfmt would compile for msgid: None if the entry is
    missing, untranslated, fuzzy or obsolete."""
    entries = []
    entry = {"flags": set()}
    field = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if "msgid" in entry:
                    entries.append(entry)
                entry, field = {"flags": set()}, None
                continue
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#~"):
                entry["obsolete"] = True
            elif line.startswith("#"):
                continue
            else:
                m = re.match(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$', line)
                if m:
                    if m.group(1) == "msgid" and "msgid" in entry:
                        entries.append(entry)  # no blank line in between
                        entry = {"flags": set()}
                    field = m.group(1)
                    entry[field] = po_unquote(m.group(2))
                elif line.startswith('"') and field is not None:
                    entry[field] += po_unquote(line)
    if "msgid" in entry:
        entries.append(entry)
    for e in entries:
        if e.get("msgid") == msgid and e.get("msgctxt") == msgctxt:
            if e.get("obsolete") or "fuzzy" in e["flags"] or not e.get("msgstr"):
                return None
            return e["msgstr"]
    return None


# ---- run 1: the whole conversation, in English ----

def run_english(tmp):
    port = free_port()
    nick = "alice"
    message = "Hello from the window 42"
    typed = "typed on the keyboard 7"
    cli_nick = "bob"
    cli_message = "Greetings from the command line 99"
    # markup, which a notification server that reads bodies as markup must
    # get escaped, as g_markup_escape_text() writes it
    away_message = "While you were in <b>Preferences</b> & away 31"
    away_body = "While you were in &lt;b&gt;Preferences&lt;/b&gt; &amp; away 31"
    back_message = "Back in the main window 64"
    plain_message = "Plain <i>text</i> & more 12"
    key_dir = os.path.join(tmp, "keys-app")
    cli_key_dir = os.path.join(tmp, "keys-cli")
    app_log = os.path.join(ARTIFACT_DIR, "ui-app-en.log")
    app = cli = cli_log = None
    cli_out = cli_err = None
    notifier = notes = None
    try:
        app = start_app(key_dir, app_log)
        win = Window(app.pid)

        def app_log_tail():
            return "app output:\n" + read_file(app_log)[-3000:]

        frame = check("the window appears on the accessibility bus",
                      lambda: win.frame, timeout=60, detail=app_log_tail)
        if frame is None:
            return
        report(frame.name == "Secure Chat", "the window is called “Secure Chat”", f"name: {frame.name!r}")

        start = check("“Start server” becomes available once the keys are loaded",
                      lambda: sensitive(labelled_button(win.frame, "Start server")),
                      timeout=60, detail=app_log_tail)
        if start is None:
            return

        # A notification server that takes its name after the app started
        # (as when a session's daemon restarts), one that reads bodies as
        # markup: the app must still find that out before it sends one.
        # GLib picks its notification backend at the first notification,
        # by what owns the names on the session bus then.
        notifier, notes = start_notification_server(os.path.join(ARTIFACT_DIR, "ui-notifications.log"),
                                                    markup=True)
        check("a fake notification server owns org.freedesktop.Notifications on the session bus",
              lambda: any(r.get("ready") == ["org.freedesktop.Notifications"] for r in records(notes)),
              timeout=15, detail=lambda: f"fake server output:\n{notes.text()}")

        # the ports: spin buttons, set through their value interface
        for label in ("Server port", "Client port"):
            if not set_port(win, label, port):
                return

        click(labelled_button(win.frame, "Start server"))
        listening = f"Listening on 127.0.0.1:{port}"
        check(f"the Server log says “{listening}”",
              lambda: listening in win.log("Server log"),
              detail=lambda: f"Server log:\n{win.log('Server log')}\n{app_log_tail()}")
        report("Clients idle for" not in win.log("Server log"),
               "with the idle timeout at 0 (never), the Server log says nothing of idle clients",
               f"Server log:\n{win.log('Server log')}")
        check("the server button now reads “Stop server”",
              lambda: labelled_button(win.frame, "Stop server"))
        # (GTK leaves hidden widgets out of the accessible tree)
        check("the server's settings are hidden while it runs (the log takes their room)",
              lambda: win.widget(pyatspi.ROLE_TEXT, "Listen address") is None, timeout=5)

        # the client: nickname, connect, trust the new server key
        nick_row = win.widget(pyatspi.ROLE_TEXT, "Nickname")
        report(nick_row is not None and nick_row.queryEditableText().setTextContents(nick),
               f"the nickname is set to “{nick}”")
        click(labelled_button(win.frame, "Connect"))
        trust = check("a dialog asks to trust the server, with “Trust and Connect”",
                      lambda: win.dialog_button("Trust and Connect"),
                      detail=lambda: f"toplevels: {win.toplevel_names()}\n{app_log_tail()}")
        if trust is None:
            return
        # what a careful person does before trusting: compare the
        # fingerprint in the dialog with the one the server shows
        body = win.dialog_text()
        m = re.search(r"Fingerprint: (SHA256:\S+)", body)
        report(m is not None and f"first connection to 127.0.0.1:{port}" in body
               and win.widget(pyatspi.ROLE_LABEL, m.group(1)) is not None,
               "the dialog names the server and shows the fingerprint the Server column shows",
               f"dialog text:\n{body}")
        click(trust)
        check(f"the Conversation says “Connected to 127.0.0.1:{port}”",
              lambda: f"Connected to 127.0.0.1:{port}" in win.log("Conversation"),
              detail=lambda: f"Conversation:\n{win.log('Conversation')}")
        check("the client's settings are hidden while connected",
              lambda: win.widget(pyatspi.ROLE_TEXT, "Nickname") is None, timeout=5)
        joined = check(f"the Server log shows “{nick} joined” over v2",
                       lambda: re.search(rf"#(\d+) {nick} joined \(v2, SHA256:", win.log("Server log")),
                       detail=lambda: f"Server log:\n{win.log('Server log')}")
        own_id = joined.group(1) if joined else "?"
        check("the trust dialog is gone",
              lambda: win.dialog_button("Trust and Connect") is None, timeout=5,
              detail=lambda: f"toplevels: {win.toplevel_names()}")
        win.ask_past_last_window()
        time.sleep(0.5)
        report(app.poll() is None, "asking for a window past the last one leaves the app running",
               app_log_tail())

        # a message, set through the entry's editable text and sent with Send
        entry = check("the Message entry becomes sensitive",
                      lambda: sensitive(win.widget(pyatspi.ROLE_TEXT, "Message")))
        if entry is None:
            return
        entry.queryEditableText().setTextContents(message)
        send = check("“Send” becomes sensitive once there is text",
                     lambda: sensitive(labelled_button(win.frame, "Send")), timeout=5)
        if send is None:
            return
        click(send)
        check("the Server log shows the decrypted message with the nickname",
              lambda: re.search(rf"#\d+ {nick}: {re.escape(message)}$", win.log("Server log"), re.M),
              detail=lambda: f"Server log:\n{win.log('Server log')}")
        check("the Conversation shows “You: …”",
              lambda: f"You: {message}" in win.log("Conversation"),
              detail=lambda: f"Conversation:\n{win.log('Conversation')}")
        check("“Send” is insensitive again once the entry was cleared",
              lambda: not has_state(labelled_button(win.frame, "Send"), pyatspi.STATE_SENSITIVE),
              timeout=5)

        # a second client: secure-chat-cli, kept open until its line arrives
        cli = subprocess.Popen([CLI_BIN, "connect", "127.0.0.1", "--port", str(port),
                                "--key-dir", cli_key_dir, "--nick", cli_nick,
                                "--trust", "accept-new"],
                               env=app_env({}), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cli_log = open(os.path.join(ARTIFACT_DIR, "ui-cli.log"), "w", encoding="utf-8")
        cli_out = Reader(cli.stdout, cli_log)
        cli_err = Reader(cli.stderr, cli_log)

        def cli_detail():
            return (f"cli stdout:\n{cli_out.text()}\ncli stderr:\n{cli_err.text()}\n"
                    f"Conversation:\n{win.log('Conversation')}")

        check(f"the Conversation shows “— {cli_nick} joined”",
              lambda: f"— {cli_nick} joined" in win.log("Conversation"),
              detail=cli_detail)
        cli.stdin.write((cli_message + "\n").encode())
        cli.stdin.flush()
        check("the Conversation shows the CLI's message with its nickname",
              lambda: re.search(rf"{cli_nick}: {re.escape(cli_message)}$", win.log("Conversation"), re.M),
              detail=cli_detail)
        check("the Server log shows the CLI's message too",
              lambda: re.search(rf"#\d+ {cli_nick}: {re.escape(cli_message)}$", win.log("Server log"), re.M),
              detail=lambda: f"Server log:\n{win.log('Server log')}")

        # a reply typed on the keyboard and sent with Return
        try:
            wid = x_window_of(app.pid)
            click_with_mouse(wid, win.widget(pyatspi.ROLE_TEXT, "Message"))
            check("a click puts the keyboard focus into the Message entry",
                  lambda: has_state(win.widget(pyatspi.ROLE_TEXT, "Message"), pyatspi.STATE_FOCUSED),
                  timeout=5)
            xdotool("type", "--delay", "20", typed)
            xdotool("key", "Return")
        except (subprocess.SubprocessError, AttributeError) as e:
            report(False, "typing into the Message entry with xdotool", repr(e))
        check("the typed reply reaches the CLI client",
              lambda: f"{nick}: {typed}" in cli_out.text(), detail=cli_detail)
        check("the Conversation shows the typed reply as “You: …”",
              lambda: f"You: {typed}" in win.log("Conversation"),
              detail=lambda: f"Conversation:\n{win.log('Conversation')}")

        time.sleep(0.3)  # let the log views draw the last lines
        shot = os.path.join(ARTIFACT_DIR, "ui-window.png")
        ok, out = screenshot(shot)
        report(ok, f"screenshot of the chat saved as {shot}", out)
        rows, shown = clients_list_extents(win)
        report(len(rows) == 2 and shown is not None
               and all(shown[1] <= r[1] and r[1] + r[3] <= shown[1] + shown[3] for r in rows),
               "the Server column lists both clients, each row whole (no scrolling for two)",
               f"rows (x, y, w, h): {rows}; the list's visible part: {shown}")

        # Notifications: a message that arrives while another of the app's
        # windows has the focus raises one, titled with the sender's
        # nickname; one that arrives while the main window is active does
        # not.  Xvfb runs no window manager: since the trust dialog closed,
        # the X focus has been on the root window, and nothing gives it back
        # to the main window.  A click into the window, then what a
        # click-to-focus window manager does on that click (XSetInputFocus:
        # xdotool windowfocus), make the main window active.
        def toplevel(name):
            app_node = win.app
            for i in range(app_node.childCount if app_node is not None else 0):
                top = app_node.getChildAtIndex(i)
                if top is not None and top.name == name:
                    return top
            return None

        def active(name):
            top = toplevel(name)
            return top is not None and has_state(top, pyatspi.STATE_ACTIVE)

        def states():
            return (f"toplevels: {win.toplevel_names()}; active: "
                    f"{[n for n in ('Secure Chat', 'Preferences') if active(n)]}")

        def focus_main_window():
            try:
                wid = x_window_of(app.pid)
                click_with_mouse(wid, win.widget(pyatspi.ROLE_TEXT, "Message"))
                xdotool("windowfocus", "--sync", wid)
            except (subprocess.SubprocessError, AttributeError) as e:
                report(False, "focusing the main window with a click and xdotool windowfocus", repr(e))

        def notes_detail():
            return (f"notifications received: {notifications(notes) if notes else None}\n"
                    f"fake server output:\n{notes.text() if notes else ''}\n{states()}\n"
                    f"{app_log_tail()}")

        def cli_says(text):
            cli.stdin.write((text + "\n").encode())
            cli.stdin.flush()
            return check(f"the Conversation shows “{cli_nick}: {text}”",
                         lambda: re.search(rf"{cli_nick}: {re.escape(text)}$", win.log("Conversation"), re.M),
                         detail=cli_detail)

        focus_main_window()
        check("a click and the window manager's focus make the main window active (AT-SPI “active”)",
              lambda: active("Secure Chat"), timeout=10, detail=states)
        xdotool("key", "ctrl+comma")
        check("Ctrl+comma opens Preferences, and it is the active window",
              lambda: active("Preferences"), timeout=10, detail=states)
        check("the main window is no longer active",
              lambda: toplevel("Secure Chat") is not None and not active("Secure Chat"),
              timeout=5, detail=states)
        # the idle timeout, on the Preferences' Server page: for the
        # server's next start
        prefs = toplevel("Preferences")
        page = find(prefs, pyatspi.ROLE_TOGGLE_BUTTON, name="Server") if prefs else None
        if page is not None:
            click(page)
        idle = check("Preferences has an “Idle timeout in minutes” spin button on its Server page",
                     lambda: find(toplevel("Preferences"), pyatspi.ROLE_SPIN_BUTTON,
                                  prefix="Idle timeout in minutes"),
                     timeout=10, detail=lambda: "Preferences: " + ", ".join(
                         f"{n.getRoleName()} {n.name!r}" for n in walk(toplevel("Preferences"))
                         if n.name))
        if idle is not None:
            idle.queryValue().currentValue = 5.0
            check("it is set to 5",
                  lambda: int(find(toplevel("Preferences"), pyatspi.ROLE_SPIN_BUTTON,
                                   prefix="Idle timeout in minutes").queryValue().currentValue) == 5,
                  timeout=5)
        cli_says(away_message)
        note = check("the notification server receives a notification for the message that arrived "
                     "while Preferences had the focus",
                     lambda: [n for n in notifications(notes) if n[1] in (away_message, away_body)],
                     timeout=10, detail=notes_detail)
        report(note is not None and note[-1] == (cli_nick, away_body),
               f"its title is the sender's nickname “{cli_nick}” and its body the message, "
               "escaped for a server that reads bodies as markup",
               detail=f"notification (title, body): {note[-1] if note else None}")

        # the session's notification server is replaced by one that shows
        # bodies as plain text: once the app has asked it, text goes as typed
        stop(notifier)
        notes.copy_to.close()
        notifier, notes = start_notification_server(
            os.path.join(ARTIFACT_DIR, "ui-notifications-plain.log"))
        check("a notification server without “body-markup” takes its place, and the app asks "
              "it for its capabilities and handles the answer",
              lambda: any(r.get("method") == "GetCapabilities" and r.get("synced")
                          for r in records(notes)),
              timeout=15, detail=notes_detail)
        cli_says(plain_message)
        note = check("the new server receives a notification for the next message",
                     lambda: [n for n in notifications(notes) if n[0] == cli_nick],
                     timeout=10, detail=notes_detail)
        report(note is not None and note[-1] == (cli_nick, plain_message),
               "its body is the message as typed, not escaped, for a server that shows plain text",
               detail=f"notification (title, body): {note[-1] if note else None}")

        xdotool("key", "Escape")
        check("Escape closes Preferences",
              lambda: toplevel("Preferences") is None and toplevel("Secure Chat") is not None,
              timeout=10, detail=states)
        focus_main_window()
        check("the main window is active again",
              lambda: active("Secure Chat"), timeout=10, detail=states)
        seen = len(notifications(notes))
        if cli_says(back_message):
            # the app sends Notify as it queues the line, and the log view
            # shows queued lines 100 ms later; a Notify reaches the fake
            # server within milliseconds, so a second is plenty
            time.sleep(1.0)
        report(not [n for n in notifications(notes) if n[1] == back_message]
               and len(notifications(notes)) == seen,
               "a message arriving while the main window is active raises no notification",
               notes_detail())

        # Ctrl+? shows the keyboard shortcuts, with the app's accelerators:
        # each shortcut shows its keys as labels, then its title
        def shortcut_labels():
            top = toplevel("Keyboard Shortcuts")
            return [n.name for n in walk(top) if n.getRole() == pyatspi.ROLE_LABEL] if top else []

        xdotool("key", "ctrl+question")
        check("Ctrl+? opens “Keyboard Shortcuts”, which shows Ctrl+Q for Quit and Ctrl+? for itself",
              lambda: "\n".join(["Ctrl", "+", "Q", "Quit"]) in "\n".join(shortcut_labels())
              and "\n".join(["Ctrl", "+", "?", "Show Shortcuts"]) in "\n".join(shortcut_labels()),
              timeout=10, detail=lambda: f"{states()}\nlabels: {shortcut_labels()}")
        xdotool("key", "Escape")
        check("Escape closes it", lambda: toplevel("Keyboard Shortcuts") is None,
              timeout=10, detail=states)
        win.ask_past_last_window()
        time.sleep(0.5)
        report(app.poll() is None, "asking for a window past the last one after that leaves "
               "the app running", app_log_tail())

        # the CLI leaves at the end of its input
        cli.stdin.close()
        try:
            code = cli.wait(20)
        except subprocess.TimeoutExpired:
            code = None
        report(code == 0, "secure-chat-cli ends its session and exits with 0",
               f"exit status {code}\n{cli_detail()}")
        check(f"the Conversation shows “— {cli_nick} left”",
              lambda: f"— {cli_nick} left" in win.log("Conversation"),
              detail=cli_detail)

        # disconnect, then stop the server
        click(labelled_button(win.frame, "Disconnect"))
        check("after “Disconnect” the client button reads “Connect” again",
              lambda: labelled_button(win.frame, "Connect"))
        check("the client's settings show again, with the nickname",
              lambda: (lambda n: n is not None and text_of(n) == nick)(
                  win.widget(pyatspi.ROLE_TEXT, "Nickname")), timeout=5)
        check(f"the Server log shows the window's client (#{own_id}) disconnecting",
              lambda: re.search(rf"#{own_id} disconnected", win.log("Server log")),
              detail=lambda: f"Server log:\n{win.log('Server log')}")
        check("the Message entry is insensitive again",
              lambda: not has_state(win.widget(pyatspi.ROLE_TEXT, "Message"), pyatspi.STATE_SENSITIVE),
              timeout=5)
        click(labelled_button(win.frame, "Stop server"))
        check("the Server log says “Server stopped”",
              lambda: re.search(r"^\d\d:\d\d:\d\d Server stopped$", win.log("Server log"), re.M),
              detail=lambda: f"Server log:\n{win.log('Server log')}")
        check("the server button reads “Start server” again",
              lambda: labelled_button(win.frame, "Start server"))
        check("the server's settings show again",
              lambda: win.widget(pyatspi.ROLE_TEXT, "Listen address"), timeout=5)

        def refused():
            with socket.socket() as s:
                s.settimeout(2)
                return s.connect_ex(("127.0.0.1", port)) != 0
        check(f"nothing listens on port {port} any more", refused, timeout=5)

        # started again, the server takes the idle timeout set in
        # Preferences: the log line reads it back from the running server
        click(labelled_button(win.frame, "Start server"))
        check("started again, the Server log says clients idle for 5 minutes are disconnected",
              lambda: "Clients idle for 5 minutes are disconnected" in win.log("Server log"),
              detail=lambda: f"Server log:\n{win.log('Server log')}")
        click(labelled_button(win.frame, "Stop server"))
        check("stopped again, the server button reads “Start server”",
              lambda: labelled_button(win.frame, "Start server"))

        # close the window with its close button: the app quits cleanly
        close = win.widget(pyatspi.ROLE_PUSH_BUTTON, "Close")
        if close is not None:
            click(close)
        try:
            code = app.wait(15)
        except subprocess.TimeoutExpired:
            code = None
        report(code == 0, "closing the window quits the app with status 0",
               f"exit status {code}\n{app_log_tail()}")
    finally:
        stop(cli)
        stop(app)
        stop(notifier)
        for reader in (cli_out, cli_err, notes):
            if reader is not None:
                reader.join(5)
        if cli_log is not None:
            cli_log.close()
        if notes is not None:
            notes.copy_to.close()
        bad = unexpected_warnings(read_file(app_log))
        report(not bad, "the app printed no warnings or criticals (English run)", "\n".join(bad))


# ---- run 2: German ----

def run_german(tmp):
    expected = po_translation(DE_PO, "Start server")
    if expected is None:
        report(False, "po/de.po translates “Start server”",
               f"{DE_PO} has no usable msgstr for “Start server” (missing, empty or fuzzy)")
        return
    locale_dir = os.path.join(tmp, "locale")
    os.makedirs(os.path.join(locale_dir, "de", "LC_MESSAGES"))
    result = subprocess.run(["msgfmt", "--check-format", "-o",
                             os.path.join(locale_dir, "de", "LC_MESSAGES", "secure-chat.mo"), DE_PO],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    report(result.returncode == 0, "po/de.po compiles with msgfmt --check-format",
           result.stdout.decode())
    if result.returncode != 0:
        return

    key_dir = os.path.join(tmp, "keys-de")
    app_log = os.path.join(ARTIFACT_DIR, "ui-app-de.log")
    app = None
    try:
        # No de_DE locale is generated on a bare Debian: with C.UTF-8
        # (LC_ALL, from app_env) gettext honours LANGUAGE; with plain "C"
        # it would ignore it.
        app = start_app(key_dir, app_log, {"LANGUAGE": "de",
                                           "SECURE_CHAT_LOCALEDIR": locale_dir})
        win = Window(app.pid)
        button = check(f"German: the start button's accessible name is “{expected}”",
                       lambda: labelled_button(win.frame, expected), timeout=60,
                       detail=lambda: "buttons: " + ", ".join(
                           repr(b.name) for b in walk(win.frame)
                           if b.getRole() == pyatspi.ROLE_PUSH_BUTTON))
        report(labelled_button(win.frame, "Start server") is None,
               "German: no button is called “Start server” any more")
        if button is not None:
            ok, out = screenshot(os.path.join(ARTIFACT_DIR, "ui-window-de.png"))
            report(ok, "screenshot of the German window saved", out)
    finally:
        stop(app)
        bad = unexpected_warnings(read_file(app_log))
        report(not bad, "the app printed no warnings or criticals (German run)", "\n".join(bad))


def server_log_detail(win, app_log):
    return f"Server log:\n{win.log('Server log')[-3000:]}\napp output:\n{read_file(app_log)[-2000:]}"


def clients_list_extents(win):
    """The extents of each row of the Server column's clients list, and of
    the part of the list its scroller shows (None if not found)."""
    rows, shown = [], None
    lst = win.widget(pyatspi.ROLE_LIST, "Connected clients")
    if lst is None:
        return rows, shown
    for row in lst:
        ext = row.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
        rows.append((ext.x, ext.y, ext.width, ext.height))
    pane = lst.parent
    while pane is not None and pane.getRole() != pyatspi.ROLE_SCROLL_PANE:
        pane = pane.parent
    if pane is not None:
        ext = pane.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
        shown = (ext.x, ext.y, ext.width, ext.height)
    return rows, shown


def start_server_on(win, app_log, port, what):
    """Waits for “Start server”, sets the server port and starts the server,
    each check named “what: …”; False if a step failed."""
    start = check(f"{what}: “Start server” becomes available",
                  lambda: sensitive(labelled_button(win.frame, "Start server")),
                  timeout=60, detail=lambda: read_file(app_log)[-3000:])
    if start is None or not set_port(win, "Server port", port, f"{what}: the server port is set to {port}"):
        return False
    click(start)
    return True


def run_limits(tmp):
    """Under an open-file limit with room for fewer connections than
    max-clients (1024), the Server log says so and shows each refusal."""
    fds = 160
    port = free_port()
    key_dir = os.path.join(tmp, "keys-limits")
    app_log = os.path.join(ARTIFACT_DIR, "ui-app-limits.log")
    app = None
    socks = []

    def server_log():
        return server_log_detail(win, app_log)

    try:
        app = start_app(key_dir, app_log,
                        preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (fds, fds)))
        win = Window(app.pid)
        if not start_server_on(win, app_log, port, f"ulimit -n {fds}"):
            return
        found = check(f"ulimit -n {fds}: the Server log says how many connections fit",
                      lambda: re.search(r"leaves room for (\d+) connections, not 1024",
                                        win.log("Server log")), detail=server_log)
        if found is None:
            return
        room = int(found.group(1))
        report(0 < room < fds, f"ulimit -n {fds}: the room named, {room}, is below the limit")
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(room + 3)]
        refusal = f"refused: too many connections (limit {room})"
        check(f"ulimit -n {fds}: the 3 connections beyond {room} get one “refused” line each",
              lambda: win.log("Server log").count(refusal) == 3, detail=server_log)
        report(f"#{room} connected" in win.log("Server log"),
               f"ulimit -n {fds}: the {room} that fit are connected", server_log())
    finally:
        for sock in socks:
            sock.close()
        stop(app)
        bad = unexpected_warnings(read_file(app_log))
        report(not bad, "the app printed no warnings or criticals (open-file limit run)", "\n".join(bad))


def run_many_clients(tmp):
    """Eight clients ready on the window's server: the list of them scrolls
    instead of growing the window past the screen, and the Server log keeps
    room on it (the server's settings make way while it runs)."""
    n = 8
    port = free_port()
    key_dir = os.path.join(tmp, "keys-many")
    app_log = os.path.join(ARTIFACT_DIR, "ui-app-many.log")
    app = None
    clients = []

    def server_log():
        return server_log_detail(win, app_log)

    try:
        app = start_app(key_dir, app_log)
        win = Window(app.pid)
        if not start_server_on(win, app_log, port, f"{n} clients"):
            return
        if check(f"{n} clients: the server listens", lambda: f"Listening on 127.0.0.1:{port}"
                 in win.log("Server log"), detail=server_log) is None:
            return
        for i in range(n):
            clients.append(subprocess.Popen(
                [CLI_BIN, "connect", "127.0.0.1", "--port", str(port),
                 "--key-dir", os.path.join(tmp, f"keys-many-{i}"), "--nick", f"many{i}",
                 "--trust", "accept-new"],
                env=app_env({}), stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        check(f"{n} clients: the Server log shows all {n} joined",
              lambda: len(re.findall(r" many\d joined ", win.log("Server log"))) == n,
              timeout=60, detail=server_log)
        time.sleep(0.5)  # a frame or two for the layout
        ok, out = screenshot(os.path.join(ARTIFACT_DIR, "ui-many-clients.png"))
        report(ok, f"{n} clients: screenshot saved", out)
        try:
            geometry = xdotool("getwindowgeometry", x_window_of(app.pid))
            height = int(re.search(r"Geometry: \d+x(\d+)", geometry).group(1))
        except (subprocess.SubprocessError, AttributeError, TypeError) as e:
            geometry, height = repr(e), None
        report(height is not None and height <= 800,
               f"{n} clients: the window is still at most the screen's 800 px tall", geometry)
        view = win.widget(pyatspi.ROLE_TEXT, "Server log")
        ext = view.queryComponent().getExtents(pyatspi.WINDOW_COORDS) if view is not None else None
        report(ext is not None and ext.height >= 200 and height is not None
               and ext.y + ext.height <= height,
               f"{n} clients: the Server log is at least 200 px tall and inside the window",
               f"log extents: {(ext.x, ext.y, ext.width, ext.height) if ext else None}; "
               f"window height {height}")
    finally:
        for c in clients:
            c.stdin.close()
            stop(c)
        stop(app)
        bad = unexpected_warnings(read_file(app_log))
        report(not bad, "the app printed no warnings or criticals (many clients run)", "\n".join(bad))


def main():
    os.makedirs(ARTIFACT_DIR, exist_ok=True)
    for tool in ("xdotool", "import", "msgfmt"):
        if shutil.which(tool) is None:
            print(f"Bail out! {tool} is not installed")
            return 1
    print("# UI test: app", APP_BIN, flush=True)
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="sc-ui-test-")
    try:
        for name, run in (("English", run_english), ("German", run_german),
                          ("Open-file limit", run_limits), ("Many clients", run_many_clients)):
            t = time.monotonic()
            try:
                run(tmp)
            except Exception:
                report(False, f"{name} run ended with an exception", traceback.format_exc())
            print(f"# {name} run took {time.monotonic() - t:.1f}s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# total {time.monotonic() - started:.1f}s")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
