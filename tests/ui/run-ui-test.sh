#!/bin/sh
# run-ui-test.sh: run a UI test program on its own X display (Xvfb), in its
# own D-Bus session with the accessibility (AT-SPI) bus running.
#
#   run-ui-test.sh PROGRAM [ARG...]
#
# PROGRAM runs with GDK_BACKEND=x11 and NO_AT_BRIDGE unset; the caller sets
# GSETTINGS_BACKEND and GSETTINGS_SCHEMA_DIR as it needs.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 PROGRAM [ARG...]" >&2
  exit 2
fi
for tool in xvfb-run dbus-run-session /usr/libexec/at-spi-bus-launcher; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$0: $tool is missing (packages xvfb, xauth, dbus, at-spi2-core)" >&2
    exit 77  # skipped
  fi
done

unset NO_AT_BRIDGE
export GDK_BACKEND=x11

# Start at a random display number: two xvfb-run -a starting at the same
# moment (other test runs on this machine) would both pick :99.
servernum=$(( 100 + $(od -An -N2 -tu2 /dev/urandom) % 800 ))

# -noreset: by default Xvfb resets whenever its last client disconnects,
# and a client connecting during the reset gets "cannot open display"
# (at-spi-bus-launcher and the readiness probe below connect and leave).
# shellcheck disable=SC2016 # the inner script expands its own variables
exec xvfb-run -a -n "$servernum" -s "-screen 0 1280x800x24 -noreset" dbus-run-session -- sh -c '
  # the display must answer before anything starts
  tries=0
  until xdpyinfo >/dev/null 2>&1 || xdotool getdisplaygeometry >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ $tries -ge 100 ]; then
      echo "run-ui-test.sh: display $DISPLAY does not answer" >&2
      exit 1
    fi
    sleep 0.1
  done
  /usr/libexec/at-spi-bus-launcher --launch-immediately &
  bus=$!
  "$@"
  status=$?
  kill "$bus" 2>/dev/null || true
  wait "$bus" 2>/dev/null || true
  exit $status
' run-ui-test "$@"
