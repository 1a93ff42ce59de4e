#!/bin/sh
# Installs what building and testing Secure Chat needs on Debian 12.
# Runs apt-get directly as root, through sudo otherwise.
set -eu

packages="
  gcc meson ninja-build pkg-config gettext
  libglib2.0-dev libjson-glib-dev libssl-dev
  valgrind
  python3 python3-cryptography
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
