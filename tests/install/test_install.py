#!/usr/bin/python3
# test_install.py: install Secure Chat as the Flatpak manifest builds it
# (prefix /app, the manifest's own meson options) into a staging
# directory, then run the installed programs from there.
#
#   test_install.py SOURCE_DIR MANIFEST
#
# Must run inside tests/ui/run-ui-test.sh (an X display and the
# accessibility bus) for the window checks.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

APP_ID = "io.github.securechat.SecureChat"
results = []


def ok(cond, description, detail=""):
    results.append(bool(cond))
    n = len(results)
    print(f"{'ok' if cond else 'not ok'} {n} - {description}", flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-30:]:
            print(f"#   {line}", flush=True)
    return cond


def run(cmd, timeout=600, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def check_manifest(manifest, work):
    # flatpak-builder keeps a state folder in its working directory
    r = run(["flatpak-builder", "--show-manifest", os.path.abspath(manifest)], cwd=work)
    if not ok(r.returncode == 0, "flatpak-builder --show-manifest reads the manifest", r.stderr):
        return None
    m = json.loads(r.stdout)
    ok(m.get("id") == APP_ID, "the manifest's app ID", m.get("id"))
    ok(m.get("runtime") == "org.gnome.Platform" and m.get("sdk") == "org.gnome.Sdk",
       "GNOME runtime and SDK", (m.get("runtime"), m.get("sdk")))
    ok(m.get("command") == "secure-chat", "the command is secure-chat", m.get("command"))
    allowed = {"--share=network", "--share=ipc", "--socket=wayland",
               "--socket=fallback-x11", "--device=dri"}
    ok(set(m.get("finish-args", [])) == allowed,
       "finish-args are exactly what the app uses", m.get("finish-args"))
    modules = m.get("modules", [])
    ok(len(modules) == 1 and modules[0].get("buildsystem") == "meson",
       "one module, built with meson", modules)
    if not modules:
        return None
    mod = modules[0]
    sources = mod.get("sources", [])
    ok(len(sources) == 1 and sources[0].get("type") == "dir" and sources[0].get("path") == "..",
       "the module builds the repository directory", sources)
    opts = mod.get("config-opts", [])
    ok("-Dtests=false" in opts, "tests are off in the Flatpak build", opts)
    cleanup = m.get("cleanup", [])
    ok("/include" in cleanup and "*.a" in cleanup, "headers and static libraries are cleaned up",
       cleanup)
    return opts


def build_and_install(src, opts, work):
    build = os.path.join(work, "build")
    dest = os.path.join(work, "dest")
    # the same options the manifest gives flatpak-builder, and its prefix
    setup = ["meson", "setup", build, src, "--prefix=/app"] + opts
    r = run(setup)
    if not ok(r.returncode == 0, "meson setup with the manifest's options: " + " ".join(opts),
              r.stdout + r.stderr):
        return None
    r = run(["meson", "compile", "-C", build], timeout=1200)
    if not ok(r.returncode == 0, "the Flatpak configuration builds", r.stdout[-3000:] + r.stderr):
        return None
    r = run(["meson", "install", "-C", build, "--destdir", dest])
    if not ok(r.returncode == 0, "meson install into a staging directory", r.stdout + r.stderr):
        return None
    # meson leaves compiling the schemas to the packager when DESTDIR is
    # set (flatpak-builder installs without DESTDIR, so it runs there):
    # do what the package manager would
    schemas = os.path.join(dest, "app", "share", "glib-2.0", "schemas")
    r = run(["glib-compile-schemas", "--strict", schemas])
    ok(r.returncode == 0, "the installed schema compiles", r.stderr)
    return os.path.join(dest, "app")


def check_files(app):
    expected = [
        "bin/secure-chat",
        "bin/secure-chat-cli",
        f"share/applications/{APP_ID}.desktop",
        f"share/metainfo/{APP_ID}.metainfo.xml",
        f"share/icons/hicolor/scalable/apps/{APP_ID}.svg",
        f"share/icons/hicolor/symbolic/apps/{APP_ID}-symbolic.svg",
        f"share/glib-2.0/schemas/{APP_ID}.gschema.xml",
        "share/glib-2.0/schemas/gschemas.compiled",
        "share/locale/de/LC_MESSAGES/secure-chat.mo",
    ]
    for rel in expected:
        ok(os.path.isfile(os.path.join(app, rel)), f"installed: /app/{rel}")
    leftovers = []
    for root, dirs, files in os.walk(app):
        for f in files:
            if f.endswith((".a", ".h", ".pc")):
                leftovers.append(os.path.join(root, f))
    ok(not leftovers, "no headers, static libraries or pkg-config files installed", leftovers)


def check_cli(app, work):
    home = os.path.join(work, "home")
    cwd = os.path.join(work, "cwd")
    os.makedirs(home)
    os.makedirs(cwd)
    env = dict(os.environ, HOME=home, XDG_DATA_HOME=os.path.join(home, "data"),
               XDG_DATA_DIRS=os.path.join(app, "share") + ":/usr/share")
    cli = os.path.join(app, "bin", "secure-chat-cli")
    r = run([cli, "fingerprint"], env=env, cwd=cwd, timeout=120)
    ok(r.returncode == 0 and r.stdout.startswith("identity SHA256:"),
       "the installed secure-chat-cli runs", r.stdout + r.stderr)
    key_dir = os.path.join(home, "data", "secure-chat")
    ok(os.path.isfile(os.path.join(key_dir, "server_key.pem")),
       "keys go to the user data directory", os.listdir(home))
    ok(os.listdir(cwd) == [], "nothing is written in the working directory", os.listdir(cwd))
    written_beside = [f for f in os.listdir(os.path.join(app, "bin"))
                      if f not in ("secure-chat", "secure-chat-cli")]
    ok(not written_beside, "nothing is written next to the binaries", written_beside)


def find_button(app_node, name):
    import pyatspi
    stack = [app_node]
    while stack:
        node = stack.pop()
        try:
            if node.getRole() == pyatspi.ROLE_PUSH_BUTTON and node.name == name:
                return node
            stack.extend(node[i] for i in range(node.childCount))
        except Exception:
            continue
    return None


def check_window(app, work):
    import pyatspi
    home = os.path.join(work, "home-app")
    os.makedirs(home)
    env = dict(os.environ, HOME=home, XDG_DATA_HOME=os.path.join(home, "data"),
               XDG_DATA_DIRS=os.path.join(app, "share") + ":/usr/share",
               LANGUAGE="de", LC_ALL="C.UTF-8", GSETTINGS_BACKEND="memory")
    env.pop("GSETTINGS_SCHEMA_DIR", None)
    env.pop("SECURE_CHAT_LOCALEDIR", None)
    env.pop("NO_AT_BRIDGE", None)
    log = open(os.path.join(work, "app.log"), "w")
    proc = subprocess.Popen([os.path.join(app, "bin", "secure-chat")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        button = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and button is None:
            desktop = pyatspi.Registry.getDesktop(0)
            for i in range(desktop.childCount):
                node = desktop[i]
                try:
                    if node is not None and node.get_process_id() == proc.pid:
                        button = find_button(node, "Server starten")
                except Exception:
                    pass
            time.sleep(0.2)
        with open(os.path.join(work, "app.log")) as f:
            output = f.read()
        ok(proc.poll() is None, "the installed app starts (schema and resources found)", output)
        ok(button is not None,
           "the installed app shows its German translation (button “Server starten”)", output)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main():
    src, manifest = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="sc-install-")
    try:
        opts = check_manifest(manifest, work)
        if opts is not None:
            app = build_and_install(src, opts, work)
            if app is not None:
                check_files(app)
                check_cli(app, work)
                check_window(app, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
