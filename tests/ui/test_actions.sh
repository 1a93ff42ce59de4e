#!/bin/sh
# test_actions.sh APP: the application's actions are reachable from outside
# through `gapplication action`, as they are from menus and shortcuts.
# Runs inside run-ui-test.sh (a display and a session bus).
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
app="$1"
id=io.github.securechat.SecureChat
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
passed=0
failed=0
check () {
  if eval "$2"; then
    passed=$((passed + 1)); echo "ok $((passed + failed)) - $1"
  else
    failed=$((failed + 1)); echo "not ok $((passed + failed)) - $1"
  fi
}

# a free port, written where the keyfile settings backend reads it
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/config/glib-2.0/settings"
printf '[io/github/securechat/SecureChat]\nserver-port=%s\n' "$port" > "$work/config/glib-2.0/settings/keyfile"
export XDG_CONFIG_HOME="$work/config" GSETTINGS_BACKEND=keyfile

listening () {
  /usr/bin/python3 -c "import socket,sys; s = socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))"
}
wait_for () {
  tries=0
  while ! eval "$1"; do
    tries=$((tries + 1)); [ $tries -ge 100 ] && return 1; sleep 0.2
  done
}

"$app" --key-dir "$work/keys" > "$work/app.log" 2>&1 &
pid=$!
# the action is enabled once the keys are made
wait_for "gapplication action $id start-server 2>/dev/null && listening"
check "gapplication action start-server starts the server on port $port" listening
gapplication action $id stop-server
check "gapplication action stop-server stops it" "wait_for '! listening'"
gapplication action $id quit
check "gapplication action quit ends the application" "wait_for '! kill -0 $pid 2>/dev/null'"
wait "$pid"; rc=$?
check "and it exits with status 0" "[ $rc -eq 0 ]"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
