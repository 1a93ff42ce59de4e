#!/bin/sh
# Installs what building and testing Secure Chat needs on Debian 12.
# Runs apt-get directly as root, through sudo otherwise.
set -eu

packages="
  gcc meson ninja-build pkg-config gettext
  libglib2.0-dev libglib2.0-bin libjson-glib-dev libssl-dev
  libgtk-4-dev libgtk-4-bin libadwaita-1-dev
  desktop-file-utils appstream
  valgrind
  python3 python3-cryptography
  xvfb xauth dbus dbus-x11 at-spi2-core python3-gi python3-pyatspi gir1.2-atspi-2.0
  gir1.2-gtk-4.0 xdotool imagemagick x11-utils
  flatpak-builder iproute2 gnuplot-nox
  clang-14 libclang-rt-14-dev
"

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
else
  as_root="sudo"
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
  echo "Installing:$missing"
  $as_root apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -q --no-install-recommends $missing
fi
