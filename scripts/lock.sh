#!/usr/bin/env bash
# Refresh the locks in locks/ from pyproject.toml: run it after changing a dependency.
#
#   scripts/lock.sh            re-resolve, keeping every pin that still fits
#   scripts/lock.sh --upgrade  re-resolve to the newest versions that fit
#
# locks/dev.txt is the one resolution: the runtime dependencies, the test and
# vosk-test extras and the build backend, for CPython 3.11+ on every platform (x86-64
# and aarch64 Linux included), each pinned with the hashes of all its files.
# locks/runtime.txt (./install.sh) is its subset, resolved with dev.txt as constraints so that it pins the same versions.
# uv resolves the locks; installing from them needs only pip (install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
tools=build/lock-tools
if ! "$tools/bin/uv" --version 2>/dev/null | grep -qx "uv $UV_VERSION"; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi

upgrade=()
case "${1:-}" in
    "") ;;
    --upgrade) upgrade=(--upgrade) ;;
    *) echo "lock.sh: unknown option $1 (try --upgrade)" >&2; exit 2 ;;
esac

# The build backend is locked too, so the project itself installs without fetching it.
build_requires=build/build-system-requires.txt
python3 -c 'import sys, tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
    >"$build_requires"

compile() {  # compile OUTPUT [uv pip compile arguments...]
    local out=$1
    shift
    "$tools/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --annotation-style line --custom-compile-command scripts/lock.sh \
        --output-file "$out" "$@"
}
compile locks/dev.txt "${upgrade[@]}" pyproject.toml "$build_requires" \
    --extra test --extra vosk-test
compile locks/runtime.txt pyproject.toml "$build_requires" --constraint locks/dev.txt
echo "lock.sh: wrote locks/dev.txt and locks/runtime.txt"
