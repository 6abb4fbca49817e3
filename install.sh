#!/usr/bin/env bash
# Install voicecoach and everything it needs into ./.venv, Linux packages included.
#   ./install.sh          the coach
#   ./install.sh --dev    the coach plus what the tests need
# Python packages come from the locks in locks/ (exact versions, checked hashes), so every
# install gets what the tests passed with; scripts/lock.sh refreshes them.
# Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")"

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64|Linux-aarch64) ;;
  *) echo "install.sh: the locks cover Linux on x86-64 and aarch64 only, not $(uname -s) $(uname -m)" >&2
     exit 1 ;;
esac

# The Linux packages, with what each is for, are listed in packaging/debian-packages.txt.
packages=()
while read -r package when _; do
  case "$package" in ''|'#'*) continue ;; esac
  if [ "$when" = run ] || [ "$dev" = 1 ]; then packages+=("$package"); fi
done < packaging/debian-packages.txt

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "install.sh: please install these packages with your system's package manager: ${missing[*]}" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "Installing Linux packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "install.sh: voicecoach needs Python 3.11 or newer; $("$python" --version 2>&1) found" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
lock=locks/runtime.txt
[ "$dev" = 1 ] && lock=locks/dev.txt
.venv/bin/python -m pip install -q --require-hashes -r "$lock"
# The locks hold the build backend too, so the project installs without fetching anything.
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
echo "voicecoach is installed: .venv/bin/voicecoach --help"
