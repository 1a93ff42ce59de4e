#!/usr/bin/python3
# fake_notifications.py: a stand-in notification server for the UI test.
#
#   fake_notifications.py [--markup] [--sync-path PATH] [--name NAME]...
#
# Owns org.freedesktop.Notifications on the session bus (the one
# dbus-run-session gives the test) and implements the freedesktop
# notification interface (Notify, GetCapabilities, GetServerInformation,
# CloseNotification); with --markup its capabilities include "body-markup",
# as most servers' do.  With --name org.gtk.Notifications it also answers
# GLib's own notification interface (AddNotification, RemoveNotification);
# the test only uses that to check which of the two GLib picks.
#
# With --sync-path, each answer to GetCapabilities is followed by a call to
# org.gtk.Actions.DescribeAll on PATH of the caller (a GApplication's
# object path), and its answer by {"method": "GetCapabilities", "synced":
# true}.  GDBus hands the caller's main loop our answer before that call
# (one sender's messages arrive in order, and both are dispatched as idle
# sources of the same priority in the caller's main context), so once the
# record is out the caller has handled the capabilities.
#
# Prints one JSON object a line on stdout: {"ready": [names]} once every
# name is owned, then one for each call, e.g.
#   {"interface": "org.freedesktop.Notifications", "method": "Notify",
#    "sender": ":1.5", "app_name": "...", "summary": "...", "body": "...", ...}
# It ends on SIGTERM, or when the session bus goes away.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import signal
import sys
import threading

from gi.repository import Gio, GLib

FDO = "org.freedesktop.Notifications"
GTK = "org.gtk.Notifications"

INTROSPECTION = {
    FDO: ("/org/freedesktop/Notifications", """
<node>
  <interface name="org.freedesktop.Notifications">
    <method name="Notify">
      <arg type="s" name="app_name" direction="in"/>
      <arg type="u" name="replaces_id" direction="in"/>
      <arg type="s" name="app_icon" direction="in"/>
      <arg type="s" name="summary" direction="in"/>
      <arg type="s" name="body" direction="in"/>
      <arg type="as" name="actions" direction="in"/>
      <arg type="a{sv}" name="hints" direction="in"/>
      <arg type="i" name="expire_timeout" direction="in"/>
      <arg type="u" name="id" direction="out"/>
    </method>
    <method name="GetCapabilities">
      <arg type="as" name="capabilities" direction="out"/>
    </method>
    <method name="GetServerInformation">
      <arg type="s" name="name" direction="out"/>
      <arg type="s" name="vendor" direction="out"/>
      <arg type="s" name="version" direction="out"/>
      <arg type="s" name="spec_version" direction="out"/>
    </method>
    <method name="CloseNotification">
      <arg type="u" name="id" direction="in"/>
    </method>
    <signal name="NotificationClosed">
      <arg type="u" name="id"/>
      <arg type="u" name="reason"/>
    </signal>
    <signal name="ActionInvoked">
      <arg type="u" name="id"/>
      <arg type="s" name="action_key"/>
    </signal>
  </interface>
</node>"""),
    GTK: ("/org/gtk/Notifications", """
<node>
  <interface name="org.gtk.Notifications">
    <method name="AddNotification">
      <arg type="s" name="app_id" direction="in"/>
      <arg type="s" name="id" direction="in"/>
      <arg type="a{sv}" name="notification" direction="in"/>
    </method>
    <method name="RemoveNotification">
      <arg type="s" name="app_id" direction="in"/>
      <arg type="s" name="id" direction="in"/>
    </method>
  </interface>
</node>"""),
}

out_lock = threading.Lock()


def emit(record):
    with out_lock:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def plain(value):
    """A GVariant's value as something json can write."""
    if isinstance(value, GLib.Variant):
        value = value.unpack()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


class Server:
    def __init__(self, names, loop, markup, sync_path=None):
        self.names = names
        self.sync_path = sync_path
        self.capabilities = ["body", "body-markup", "actions"] if markup else ["body", "actions"]
        self.loop = loop
        self.owned = set()
        self.next_id = 1
        self.registrations = []

    def on_call(self, conn, sender, path, interface, method, params, invocation):
        args = params.unpack()
        record = {"interface": interface, "method": method, "sender": sender}
        reply = None
        if interface == FDO and method == "Notify":
            app_name, replaces_id, app_icon, summary, body, actions, hints, timeout = args
            nid = replaces_id or self.next_id
            if not replaces_id:
                self.next_id += 1
            record.update(app_name=app_name, replaces_id=replaces_id, app_icon=app_icon,
                          summary=summary, body=body, actions=list(actions),
                          hints=plain(hints), expire_timeout=timeout, id=nid)
            reply = GLib.Variant("(u)", (nid,))
        elif interface == FDO and method == "GetCapabilities":
            reply = GLib.Variant("(as)", (self.capabilities,))
        elif interface == FDO and method == "GetServerInformation":
            reply = GLib.Variant("(ssss)", ("fake-notifications", "Secure Chat tests", "1.0", "1.2"))
        elif interface == FDO and method == "CloseNotification":
            record["id"] = args[0]
            conn.emit_signal(None, path, FDO, "NotificationClosed", GLib.Variant("(uu)", (args[0], 3)))
        elif interface == GTK and method == "AddNotification":
            app_id, nid, notification = args
            notification = plain(notification)
            record.update(app_id=app_id, id=nid, notification=notification,
                          title=notification.get("title"), body=notification.get("body"))
        elif interface == GTK and method == "RemoveNotification":
            record.update(app_id=args[0], id=args[1])
        else:
            invocation.return_dbus_error("org.freedesktop.DBus.Error.UnknownMethod",
                                         f"no method {interface}.{method}")
            return
        emit(record)
        invocation.return_value(reply)
        if self.sync_path is not None and interface == FDO and method == "GetCapabilities":
            conn.call(sender, self.sync_path, "org.gtk.Actions", "DescribeAll", None,
                      None, Gio.DBusCallFlags.NONE, -1, None, self.on_synced)

    def on_synced(self, conn, result):
        try:
            conn.call_finish(result)
            emit({"interface": FDO, "method": "GetCapabilities", "synced": True})
        except GLib.Error as e:
            emit({"error": f"DescribeAll after GetCapabilities: {e.message}"})

    def on_bus_acquired(self, conn, name):
        path, xml = INTROSPECTION[name]
        info = Gio.DBusNodeInfo.new_for_xml(xml).interfaces[0]
        self.registrations.append(conn.register_object(path, info, self.on_call, None, None))

    def on_name_acquired(self, conn, name):
        self.owned.add(name)
        if self.owned == set(self.names):
            emit({"ready": sorted(self.owned)})

    def on_name_lost(self, conn, name):
        emit({"error": f"could not own {name} (or lost it)"})
        self.loop.quit()


def main():
    names = []
    markup = False
    sync_path = None
    argv = sys.argv[1:]
    while argv:
        if argv[0] == "--markup":
            markup = True
            argv = argv[1:]
        elif argv[0] == "--sync-path" and len(argv) > 1:
            sync_path = argv[1]
            argv = argv[2:]
        elif argv[0] == "--name" and len(argv) > 1:
            names.append(argv[1])
            argv = argv[2:]
        else:
            print(f"usage: {sys.argv[0]} [--markup] [--sync-path PATH] [--name {FDO}|{GTK}]...",
                  file=sys.stderr)
            return 2
    names = names or [FDO]
    if any(n not in INTROSPECTION for n in names):
        print(f"{sys.argv[0]}: can only be {FDO} or {GTK}", file=sys.stderr)
        return 2

    loop = GLib.MainLoop()
    server = Server(names, loop, markup, sync_path)
    for name in names:
        Gio.bus_own_name(Gio.BusType.SESSION, name, Gio.BusNameOwnerFlags.DO_NOT_QUEUE,
                         server.on_bus_acquired, server.on_name_acquired, server.on_name_lost)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
