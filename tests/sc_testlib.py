# SPDX-License-Identifier: GPL-3.0-or-later
"""sc_testlib.py - the harness shared by tests/cli/test_cli.py and
tests/interop/test_interop.py.

Each script puts this directory on sys.path (from its own __file__) and
imports what it needs. The harness gives:
 - TAP-like reporting: ok() prints "ok N - name" or "not ok N - name: reason",
   run_scenarios() ends with "N passed, M failed";
 - Proc, a child process whose stdout and stderr lines are collected by two
   threads, with wait_line(), count_lines(), send(), wait() and kill();
 - run(), to run a command to completion with a deadline;
 - setup(), which reads the one argument (PATH/TO/secure-chat-cli), makes a
   temporary root (removed at exit) with a private HOME, and starts a watchdog;
 - @scenario and run_scenarios(), which runs every scenario (or those named in
   SC_TEST_ONLY=a,b) and kills whatever a scenario left running.
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

CLI = None          # path of secure-chat-cli, set by setup()
TMP = None          # temporary root, removed at exit, set by setup()
ENV = None          # environment for every child, set by setup()
PROCS = []          # every child started, killed at the end of each scenario
WATCHDOG_S = 240    # the whole run, whatever happens (meson allows 300)


class Fail(Exception):
    """A scenario cannot go on."""


# ---------------------------------------------------------------- reporting
class Report:
    def __init__(self):
        self.n = self.passed = self.failed = 0
        self.lock = threading.Lock()

    def ok(self, name, cond, reason=""):
        with self.lock:
            self.n += 1
            if cond:
                self.passed += 1
                print(f"ok {self.n} - {name}", flush=True)
            else:
                self.failed += 1
                lines = str(reason).splitlines() or ["(no reason given)"]
                print(f"not ok {self.n} - {name}: {lines[0]}", flush=True)
                for line in lines[1:40]:
                    print(f"#   {line}", flush=True)
        return bool(cond)


R = Report()


def ok(name, cond, reason=""):
    return R.ok(name, cond, reason)


def short(text, limit=600):
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def in_order(lines, prefix, expected):
    """The lines starting with prefix are exactly expected, in that order."""
    got = [line for line in lines if line.startswith(prefix)]
    return got == expected, f"expected {expected}, got {got}"


def newdir(name):
    return tempfile.mkdtemp(prefix=name + "-", dir=TMP)


# ---------------------------------------------------------------- processes
class Proc:
    """A child process whose stdout and stderr lines are collected."""

    SHORT_LIMIT = 600   # characters of each stream shown by describe()
    WAIT_S = 10.0       # default deadline of wait()

    def __init__(self, argv, name, stdin=True):
        """stdin: True for a pipe, False for /dev/null, or a file descriptor."""
        self.name = name
        self.argv = [str(a) for a in argv]
        if stdin is True:
            stdin = subprocess.PIPE
        elif stdin is False:
            stdin = subprocess.DEVNULL
        self.p = subprocess.Popen(self.argv, env=ENV, stdin=stdin,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        PROCS.append(self)
        self.cv = threading.Condition()
        self.lines = {"out": [], "err": []}
        self.eof = {"out": False, "err": False}
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stdout, "out"), daemon=True),
                        threading.Thread(target=self._pump, args=(self.p.stderr, "err"), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, f, which):
        try:
            for raw in iter(f.readline, b""):
                with self.cv:
                    self.lines[which].append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self.cv.notify_all()
        finally:
            with self.cv:
                self.eof[which] = True
                self.cv.notify_all()

    @property
    def out(self):
        with self.cv:
            return list(self.lines["out"])

    @property
    def err(self):
        with self.cv:
            return list(self.lines["err"])

    def describe(self):
        return (f"{self.name} (rc={self.p.poll()}) "
                f"stdout={short(chr(10).join(self.out), self.SHORT_LIMIT)!r} "
                f"stderr={short(chr(10).join(self.err), self.SHORT_LIMIT)!r}")

    def wait_line(self, pattern, stream="out", timeout=10.0, count=1):
        """The count-th line matching pattern (re.search), or Fail at the deadline."""
        regex = re.compile(pattern)
        end = time.monotonic() + timeout
        found, scanned = [], 0
        with self.cv:
            while True:
                lines = self.lines[stream]
                while scanned < len(lines):
                    if regex.search(lines[scanned]):
                        found.append(lines[scanned])
                    scanned += 1
                if len(found) >= count:
                    return found[count - 1]
                left = end - time.monotonic()
                if self.eof[stream] or left <= 0:
                    why = "output ended" if self.eof[stream] else f"nothing within {timeout:g}s"
                    raise Fail(f"{self.name}: no {stream} line matching {pattern!r} "
                               f"(#{count}, {why}); {self.describe()}")
                self.cv.wait(min(left, 1.0))

    def count_lines(self, prefix, stream="out"):
        with self.cv:
            return sum(1 for line in self.lines[stream] if line.startswith(prefix))

    def send(self, text):
        try:
            self.p.stdin.write(text.encode("utf-8"))
            self.p.stdin.flush()
        except OSError as e:    # BrokenPipeError included
            raise Fail(f"{self.name}: cannot write to stdin: {e}; {self.describe()}") from None

    def close_stdin(self):
        try:
            if self.p.stdin:
                self.p.stdin.close()
        except OSError:
            pass

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def wait(self, timeout=None):
        """Exit code, or Fail (after killing it) at the deadline (default WAIT_S)."""
        if timeout is None:
            timeout = self.WAIT_S
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fail(f"{self.name} did not exit within {timeout:g}s; {self.describe()}") from None
        for t in self.threads:
            t.join(5)
        return rc

    def kill(self):
        if self.p.poll() is None:
            try:
                self.p.kill()
            except OSError:
                pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.close_stdin()


def kill_all():
    while PROCS:
        PROCS.pop().kill()


def run(argv, timeout=30.0, stdin=None, label=None):
    """Runs argv to completion: (rc, stdout lines, stderr lines).

    stdin: bytes to write to its input, or None for /dev/null. label: how the
    command is named if it misses its deadline (default: the whole argv)."""
    argv = [str(a) for a in argv]
    if stdin is None:
        feed = {"stdin": subprocess.DEVNULL}
    else:
        feed = {"input": stdin}
    try:
        cp = subprocess.run(argv, env=ENV, capture_output=True, timeout=timeout, **feed)
    except subprocess.TimeoutExpired:
        raise Fail(f"{' '.join(argv) if label is None else label} "
                   f"did not exit within {timeout:g}s") from None
    return (cp.returncode, cp.stdout.decode("utf-8", "replace").splitlines(),
            cp.stderr.decode("utf-8", "replace").splitlines())


# ---------------------------------------------------------------- main
SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def cleanup():
    kill_all()
    if TMP and os.path.isdir(TMP):
        shutil.rmtree(TMP, ignore_errors=True)


def watchdog():
    time.sleep(WATCHDOG_S)
    print(f"not ok - watchdog: the run took more than {WATCHDOG_S}s, giving up", flush=True)
    print(f"{R.passed} passed, {R.failed + 1} failed", flush=True)
    cleanup()
    os._exit(1)


def setup(tmp_prefix, **env):
    """Reads PATH/TO/secure-chat-cli from the command line, makes the temporary
    root and the children's environment (env: more variables) and starts the
    watchdog. None when ready, else the exit status for a usage error."""
    global CLI, TMP, ENV
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} PATH/TO/secure-chat-cli", file=sys.stderr)
        return 2
    CLI = os.path.abspath(sys.argv[1])
    if not os.access(CLI, os.X_OK):
        print(f"{CLI} is not an executable", file=sys.stderr)
        return 2
    TMP = tempfile.mkdtemp(prefix=tmp_prefix)
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ENV = dict(os.environ)
    # nothing may touch the real home; messages in a known locale
    ENV.update(HOME=os.path.join(TMP, "home"), XDG_DATA_HOME=os.path.join(TMP, "home", "data"),
               LC_ALL="C.UTF-8", LANG="C.UTF-8", **env)
    ENV.pop("LANGUAGE", None)
    os.makedirs(ENV["XDG_DATA_HOME"])
    threading.Thread(target=watchdog, daemon=True).start()
    return None


def run_scenarios():
    """Runs the @scenario functions in order; the exit status of the run."""
    only = set(os.environ.get("SC_TEST_ONLY", "").split(",")) - {""}
    start = time.monotonic()
    for fn in SCENARIOS:
        if only and fn.__name__ not in only:
            continue
        t = time.monotonic()
        print(f"# {fn.__name__}", flush=True)
        try:
            fn()
        except Fail as e:
            ok(f"{fn.__name__}: scenario completes", False, str(e))
        except Exception:
            ok(f"{fn.__name__}: scenario completes", False, traceback.format_exc())
        finally:
            kill_all()
        print(f"# {fn.__name__}: {time.monotonic() - t:.1f}s", flush=True)
    print(f"# total {time.monotonic() - start:.1f}s", flush=True)
    print(f"{R.passed} passed, {R.failed} failed", flush=True)
    return 1 if R.failed else 0
