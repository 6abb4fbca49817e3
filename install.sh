#!/usr/bin/env bash
# Install voicecoach and everything it needs into ./.venv, Linux packages included.
#   ./install.sh          the coach
#   ./install.sh --dev    the coach plus what the tests need (the Whisper extra included)
#   ./install.sh --whisper   the coach plus the optional Whisper engine (about 400 MB)
# Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")"

dev=0
whisper=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --whisper) whisper=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

# Speech out (espeak-ng), sound devices (PortAudio), and for the tests a private
# PulseAudio server that gives real audio devices on a machine without a sound card.
packages=(espeak-ng libespeak-ng1 libportaudio2 python3-venv)
if [ "$dev" = 1 ]; then
  packages+=(pulseaudio pulseaudio-utils libasound2-plugins sox)
fi

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
.venv/bin/python -m pip install -q --upgrade pip
if [ "$dev" = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[test,vosk-test,whisper]'
elif [ "$whisper" = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[whisper]'
else
  .venv/bin/python -m pip install -q -e .
fi
echo "voicecoach is installed: .venv/bin/voicecoach --help"
