#!/usr/bin/env bash
# The Pi check: voicecoach on an emulated Raspberry Pi, set up and used as the README says.
#
# Raspberry Pi OS 64-bit is Debian 12 (bookworm) on arm64 with CPython 3.11. This script, run as
# root on an x86-64 Debian or Ubuntu machine, makes (or reuses) an arm64 bookworm root with
# debootstrap, runs it through qemu-user-static and binfmt_misc, clones this checkout's HEAD into
# it, and as the user `pi` (who has sudo, as on a Pi) runs: ./install.sh, list, text sessions,
# doctor, recognize on clips spoken by espeak-ng, vosk's library, ./install.sh --dev and the fast
# tests. One PASS/FAIL line per step, then a summary; exit 0 only when every step passed.
#
#   sudo scripts/pi_check.sh                 a new root (tens of minutes), then every step
#   sudo scripts/pi_check.sh --quick         reuse the root as the last run left it
#   --root DIR                               the root (default /var/tmp/voicecoach-pi-root)
#   --commit REF                             check this commit or branch instead of HEAD
#   --mirror URL                             the Debian mirror (default: this machine's, if Debian)
#   --test-timeout SECONDS                   limit for the fast tests (default 5400)
#   --no-tests                               leave out ./install.sh --dev and the tests
#   --pytest-args "ARGS"                     only the tests (after the clone and ./install.sh --dev),
#                                            with ARGS after its -m "not slow and not speed",
#                                            to chase an arm64 failure: "-x -v tests/test_x.py"
#                                            (an -m there replaces that one)
#
# Emulation is far slower than a Pi and says nothing about its speed.
# Needs: root, x86-64, apt-get (to get debootstrap, qemu-user-static and binfmt-support when
# missing) and binfmt_misc (qemu-aarch64-static run by hand runs one program, but every program
# that one starts fails with "Exec format error", so apt, pip and the tests cannot run without it).
set -uo pipefail
# shellcheck disable=SC2317  # the steps are functions called through `step`
# All of it in one block, which bash reads whole before running: editing this file during a run
# (which takes long) then cannot change what the run does.
{

usage() { sed -n '4,26p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "pi_check: $*" >&2; exit 2; }

root_dir=/var/tmp/voicecoach-pi-root
quick=0
tests=1
readme_steps=1
pytest_args=""
test_timeout=5400
# The fast tests, less those that time work against the wall clock: emulation is many times
# slower than a Pi (pyproject.toml, markers).
test_marks='not slow and not speed'
mirror=""
ref=HEAD
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --root) [ $# -ge 2 ] || die "--root needs a folder"; root_dir=$2; shift ;;
    --root=*) root_dir=${1#--root=} ;;
    --commit) [ $# -ge 2 ] || die "--commit needs a commit or branch"; ref=$2; shift ;;
    --mirror) [ $# -ge 2 ] || die "--mirror needs a URL"; mirror=$2; shift ;;
    --test-timeout) [ $# -ge 2 ] || die "--test-timeout needs seconds"; test_timeout=$2; shift ;;
    --no-tests) tests=0 ;;
    --pytest-args) [ $# -ge 2 ] || die "--pytest-args needs the arguments in one word"; pytest_args=$2; readme_steps=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
  shift
done

checkout=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || die "run me as root (sudo $0): debootstrap, chroot and mount need it"
[ "$(uname -m)" = x86_64 ] || die "this runs on an x86-64 machine, not $(uname -m)"
case "$root_dir" in /*) ;; *) root_dir=$(pwd)/$root_dir ;; esac
root_dir=${root_dir%/}
[ "$(dirname "$root_dir")" != / ] || die "--root $root_dir is too close to /: it gets deleted and remade"
case "$root_dir/" in "$checkout"/*) die "keep the root outside the checkout ($checkout)" ;; esac
commit=$(git -C "$checkout" rev-parse --verify -q "$ref^{commit}") || die "no commit $ref in $checkout"
short=$(git -C "$checkout" rev-parse --short "$commit")
logs=$root_dir.logs
marker=$root_dir/etc/voicecoach-pi-check
binfmt=/proc/sys/fs/binfmt_misc
binfmt_entry=voicecoach-pi-check   # our own aarch64 entry, with the C flag (see ensure_binfmt)
started=$(date +%s)

# ---- the host's tools -------------------------------------------------------------------------
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v git >/dev/null || need+=(git)
if [ "${#need[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "please install ${need[*]} (no apt-get here to do it)"
  echo "Installing on this machine: ${need[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
    >/dev/null || die "could not install ${need[*]} with apt-get"
fi

# ---- binfmt_misc: the kernel hands arm64 programs to qemu ------------------------------------
# Our entry has flags F (qemu is opened now, so it need not exist inside the root) and C (a setuid
# program gets its owner's rights: without it `sudo` in the root says "effective uid is not 0").
# The distribution's qemu-aarch64 entry has no C; ours is newer, so the kernel tries it first.
added_binfmt=0
# qemu emulates the processor of a Raspberry Pi 4 (Cortex-A72), not its default `max`, whose
# extensions (SVE, SME) no Pi has and libraries would choose. qemu reads QEMU_CPU from the
# environment of every program it starts, so as_pi passes it on.
export QEMU_CPU=cortex-a72
ensure_binfmt() {
  if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null ||
      die "binfmt_misc is not available (mount -t binfmt_misc binfmt_misc $binfmt failed): an
arm64 root cannot run here. Load the module (modprobe binfmt_misc) or use a machine or container
that may register binary formats (a privileged container)."
  fi
  if [ ! -e "$binfmt/$binfmt_entry" ]; then
    echo ":$binfmt_entry:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:FC" \
      >"$binfmt/register" 2>/dev/null || die "could not register qemu-aarch64-static with binfmt_misc"
    added_binfmt=1
  fi
  [ "$(head -1 "$binfmt/$binfmt_entry")" = enabled ] || echo 1 >"$binfmt/$binfmt_entry"
}

# ---- mounts, always undone -------------------------------------------------------------------
mounted=()
mount_root() {
  mount -t proc proc "$root_dir/proc" && mounted+=("$root_dir/proc")
  mount -t sysfs sysfs "$root_dir/sys" && mounted+=("$root_dir/sys")
  # /dev with /dev/pts and /dev/shm under it; rslave so unmounting here never reaches the host's.
  mount --rbind /dev "$root_dir/dev" && mount --make-rslave "$root_dir/dev" && mounted+=("$root_dir/dev")
  [ "${#mounted[@]}" = 3 ] || die "could not mount /proc, /sys and /dev in $root_dir"
  # qemu-user shows arm64 programs this machine's /proc/cpuinfo, an x86-64 one, which no Pi has:
  # reading it, the cpuinfo library in onnxruntime crashes (`import onnxruntime`: SIGSEGV). The
  # root sees a Raspberry Pi 4's instead, one entry for each processor /sys lists here.
  pi_cpuinfo >"$logs/cpuinfo" && mount --bind "$logs/cpuinfo" "$root_dir/proc/cpuinfo" ||
    die "could not put a Raspberry Pi's /proc/cpuinfo in $root_dir"
}
pi_cpuinfo() {
  local d
  for d in /sys/devices/system/cpu/cpu[0-9]*; do
    # The features are those of qemu's cortex-a72 (QEMU_CPU), so the two agree.
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n' "${d##*cpu}"
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done
  printf 'Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
}
unmount_root() {
  local m
  for m in "${mounted[@]}"; do umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null; done
  mounted=()
}
cleanup() {
  unmount_root
  if [ "$added_binfmt" = 1 ] && [ -e "$binfmt/$binfmt_entry" ]; then echo -1 >"$binfmt/$binfmt_entry"; fi
}
trap cleanup EXIT
trap 'echo "pi_check: interrupted" >&2; exit 130' INT TERM

# A root may only be deleted when nothing is mounted inside it (or /dev would go with it).
remove_root() {
  if findmnt -rn -o TARGET | grep -q "^$root_dir/"; then
    die "something is still mounted under $root_dir (findmnt | grep $root_dir): unmount it first"
  fi
  rm -rf --one-file-system "$root_dir"
}

# ---- steps ------------------------------------------------------------------------------------
results=()
failed=0
step_no=0
# step NAME COMMAND...: run COMMAND (output to the step's log), print PASS or FAIL with seconds.
step() {
  local name=$1; shift
  step_no=$((step_no + 1))
  local log; log=$(printf '%s/%02d-%s.log' "$logs" "$step_no" "$name")
  local t0; t0=$(date +%s)
  "$@" >"$log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - t0 ))
  local line
  if [ "$rc" = 0 ]; then
    line=$(printf 'PASS  %-12s %5ss' "$name" "$secs")
  else
    failed=$((failed + 1))
    line=$(printf 'FAIL  %-12s %5ss  (exit %s; log %s)' "$name" "$secs" "$rc" "$log")
  fi
  echo "$line"
  [ "$rc" = 0 ] || tail -n 15 "$log" | sed 's/^/      | /'
  results+=("$line")
  return "$rc"
}

# as_pi COMMAND: run a shell command as `pi` in ~/voicecoach inside the root, with a login-like
# environment and no terminal (as a script or a service would).
as_pi() {
  chroot "$root_dir" /usr/sbin/runuser -u pi -- /usr/bin/env -i HOME=/home/pi USER=pi LOGNAME=pi \
    SHELL=/bin/bash LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin QEMU_CPU="$QEMU_CPU" \
    /bin/bash -c "cd ~/voicecoach && $1"
}

host_mirror() {
  # This machine's Debian mirror, if it has one; else debootstrap's own default.
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
  } | grep -m1 -E '/debian/?$' || true
}

bootstrap() {
  [ -n "$mirror" ] || mirror=$(host_mirror)
  # minbase plus what a Raspberry Pi OS Lite image has that the README's steps rely on.
  debootstrap --arch=arm64 --foreign --variant=minbase \
    --include=sudo,git,ca-certificates,python3 bookworm "$root_dir" ${mirror:+"$mirror"} || return
  # The second stage runs arm64 programs (dpkg, maintainer scripts) through binfmt.
  chroot "$root_dir" /debootstrap/debootstrap --second-stage || return
  local used; used=$(awk '/^deb /{print $2; exit}' "$root_dir/etc/apt/sources.list")
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$used" "$used" \
    >"$root_dir/etc/apt/sources.list"
  # Services must not start inside the root (pulseaudio, dbus): there is no init.
  printf '#!/bin/sh\nexit 101\n' >"$root_dir/usr/sbin/policy-rc.d"
  chmod 755 "$root_dir/usr/sbin/policy-rc.d"
  # The user of a Pi: `pi`, in the groups Raspberry Pi OS gives it, sudo without a password.
  chroot "$root_dir" useradd -m -s /bin/bash -G sudo,audio,video,plugdev pi || return
  echo 'pi ALL=(ALL) NOPASSWD: ALL' >"$root_dir/etc/sudoers.d/010_pi-nopasswd"
  chmod 440 "$root_dir/etc/sudoers.d/010_pi-nopasswd"
  date -u +'made %F %T UTC by scripts/pi_check.sh' >"$marker"
}

# The host's name and DNS, so apt, pip and sudo work; refreshed on every run.
network_files() {
  cp -L /etc/resolv.conf "$root_dir/etc/resolv.conf" &&
    printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost\n' "$(hostname)" >"$root_dir/etc/hosts" ||
    return
  # Certificate authorities added on this machine (as a network that inspects TLS needs) are
  # trusted in the root too, and pip, which otherwise trusts only its own bundle, uses the system's.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$root_dir/usr/local/share/ca-certificates" &&
      cp /usr/local/share/ca-certificates/*.crt "$root_dir/usr/local/share/ca-certificates/" &&
      chroot "$root_dir" update-ca-certificates >/dev/null 2>&1 &&
      printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root_dir/etc/pip.conf" || return
    echo "note: the root trusts this machine's own certificate authorities (/usr/local/share/ca-certificates)"
  fi
}

arch_is_arm64() {
  local m; m=$(chroot "$root_dir" uname -m) || return
  echo "uname -m in the root: $m"
  chroot "$root_dir" /bin/sh -c '. /etc/os-release; echo "$PRETTY_NAME"; python3 --version'
  [ "$m" = aarch64 ]
}

clone() {
  local dest=$root_dir/home/pi/voicecoach
  rm -rf --one-file-system "$dest"
  # --no-hardlinks: the clone is handed to pi, and hard links would hand over this checkout's objects.
  git clone -q --no-hardlinks "$checkout" "$dest" || return
  git -C "$dest" checkout -q --detach "$commit" || return
  chroot "$root_dir" chown -R pi:pi /home/pi/voicecoach || return
  echo "cloned $commit"
  as_pi 'git log -1 --format="%h %s"'
}

# Each check below runs as pi; the quoted commands are what a person would type. A check prints
# what it saw (into the step's log) and fails when the output is not what the README promises.
check_install() { as_pi './install.sh'; }
check_list() {
  local out; out=$(as_pi '.venv/bin/voicecoach list') || return
  echo "$out"
  grep -q '^hip-strength ' <<<"$out"
}
check_session() {
  local out; out=$(as_pi '.venv/bin/voicecoach run hip-strength --text --time-scale 0.01 < /dev/null' 2>&1)
  local rc=$?
  echo "$out"
  [ "$rc" = 0 ] && grep -q 'You finished 7 of 7 sets' <<<"$out"
}
check_commands() {
  local out
  out=$(as_pi "printf '3\\nstatus\\nskip\\nstop\\nyes\\n' | .venv/bin/voicecoach run hip-strength --text --time-scale 0.01" 2>&1)
  local rc=$?
  echo "$out"
  [ "$rc" = 0 ] && grep -q 'Thanks. 3 out of 10.' <<<"$out" && grep -q 'Skipping' <<<"$out" &&
    grep -q 'Do you want to end the session' <<<"$out" && grep -q 'You finished 0 of 7 sets' <<<"$out"
}
check_quickstart() {
  # The README's quick start with no sound card: it says so and runs in text mode.
  local out; out=$(as_pi '.venv/bin/voicecoach run hips-for-knees --time-scale 0.01 < /dev/null' 2>&1)
  local rc=$?
  echo "$out"
  [ "$rc" = 0 ] && grep -q 'Using text mode' <<<"$out" && grep -q 'You finished' <<<"$out"
}
check_doctor() {
  # The root has no sound card, so doctor fails the two devices (exit 1); any other FAIL is a fault.
  local out; out=$(as_pi '.venv/bin/voicecoach doctor' 2>&1)
  local rc=$?
  echo "$out"
  [ "$rc" -le 1 ] || return "$rc"
  ! grep -q Traceback <<<"$out" || return 1
  # An engine must load; "warn" is right when a better one (vosk, without a model here) cannot.
  grep -q -E '^(ok|warn) +speech engine +[a-z]+ loaded' <<<"$out" || { echo "no speech engine loaded"; return 1; }
  local other; other=$(grep '^FAIL' <<<"$out" | grep -v -E '^FAIL +(input|output) device')
  [ -z "$other" ] || { echo "unexpected failures: $other"; return 1; }
}
check_recognize() {
  # Clips spoken by espeak-ng inside the root; the default engine must hear each command, and
  # nothing in ordinary speech.
  local out
  out=$(as_pi 'set -e; mkdir -p ~/clips; cd ~/clips; rm -f ./*.wav
    for w in stop pause repeat "go back" "skip this"; do espeak-ng -v en-us -s 150 -w "${w// /_}.wav" "$w"; done
    espeak-ng -v en-us -s 150 -w weather.wav "the weather is nice today"
    ~/voicecoach/.venv/bin/voicecoach recognize --json ./*.wav' 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  local want got
  want=$'./go_back.wav back\n./pause.wav pause\n./repeat.wav repeat\n./skip_this.wav skip\n./stop.wav stop'
  got=$(grep '^{' <<<"$out" | python3 -c 'import json, sys
for line in sys.stdin: d = json.loads(line); print(d["file"], d["command"])' | sort)
  [ "$got" = "$want" ] || { printf 'expected:\n%s\ngot:\n%s\n' "$want" "$got"; return 1; }
}
check_vosk() {
  # Importing vosk loads libvosk.so, which on arm64 needs libatomic.so.1 from the system.
  as_pi '.venv/bin/python -c "import vosk; print(\"vosk loads:\", vosk.__file__)"'
}
check_install_dev() { as_pi './install.sh --dev'; }
check_tests() {
  # pytest_args is given to pi's shell as written, so quoting inside it works as on a command line.
  as_pi "timeout -k 60 $test_timeout .venv/bin/python -m pytest -m '$test_marks' -rfEs -p no:cacheprovider $pytest_args"
}

# ---- the run ----------------------------------------------------------------------------------
[ "$quick" = 0 ] || [ -f "$marker" ] ||
  die "--quick needs a root made by an earlier run; none at $root_dir (run without --quick)"
echo "Pi check of $short ($(git -C "$checkout" log -1 --format=%s "$commit"))"
[ "$ref" != HEAD ] || [ -z "$(git -C "$checkout" status --porcelain --untracked-files=no)" ] ||
  echo "note: uncommitted changes in $checkout are not checked (the root gets a clone of HEAD)"
ensure_binfmt
mkdir -p "$(dirname "$root_dir")"
rm -rf "$logs" && mkdir -p "$logs"

if [ "$quick" = 1 ]; then
  echo "Reusing the root at $root_dir ($(cat "$marker"))"
else
  [ ! -e "$root_dir" ] || [ -f "$marker" ] || [ -z "$(ls -A "$root_dir")" ] ||
    die "$root_dir exists and was not made by this script: choose another --root or remove it"
  remove_root
  step bootstrap bootstrap || { echo "pi_check: no root, nothing else to check"; exit 1; }
fi
network_files || die "could not write the network files into $root_dir"
mount_root
step arm64 arch_is_arm64 || exit 1
step clone clone || exit 1
[ "$tests" = 1 ] || [ "$readme_steps" = 1 ] || die "--pytest-args and --no-tests leave nothing to check"
if [ "$readme_steps" = 0 ]; then
  echo "Only the tests, with: pytest -m '$test_marks' $pytest_args"
elif step install check_install; then
  step list check_list
  step session check_session
  step commands check_commands
  step quickstart check_quickstart
  step doctor check_doctor
  step recognize check_recognize
  step vosk check_vosk
fi
if [ "$tests" = 1 ]; then
  step install-dev check_install_dev && step tests check_tests
fi

total=${#results[@]}
mins=$(( ($(date +%s) - started + 30) / 60 ))
echo
echo "Summary of the Pi check, $(date -u +'%F %H:%M UTC'), commit $short, $mins min:"
printf '  %s\n' "${results[@]}"
echo "$((total - failed)) of $total steps passed; logs in $logs"
[ "$failed" = 0 ]
exit
}
