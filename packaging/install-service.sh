#!/usr/bin/env bash
# Install voicecoach as a boot-time systemd service on a Raspberry Pi (or any systemd Linux).
#
# Creates the unprivileged `voicecoach` user (in the `audio` group), installs this checkout
# into a virtual environment under /opt/voicecoach (or runs the checkout's own .venv with
# --use-checkout), writes /etc/voicecoach/config.toml if there is none, installs the unit,
# then enables and (re)starts it.  Safe to run again: each step checks before it changes
# anything, and an existing config file is never overwritten.
#
#   sudo packaging/install-service.sh [--dry-run] [--use-checkout] [--no-start]
#                                     [--prefix DIR] [--user NAME]
set -euo pipefail

DRY_RUN=0
USE_CHECKOUT=0
START=1
PREFIX=/opt/voicecoach
SERVICE_USER=voicecoach
PYTHON=${PYTHON:-python3}
CHECKOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UNIT_SOURCE="$CHECKOUT/packaging/voicecoach.service"
UNIT_TARGET=/etc/systemd/system/voicecoach.service
CONFIG_DIR=/etc/voicecoach
STATE_DIR=/var/lib/voicecoach

usage() {
    sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    cat <<'EOF'

options:
  --dry-run       print what would be done, change nothing (no root needed)
  --use-checkout  run this checkout's .venv/bin/voicecoach instead of a copy in --prefix
  --no-start      install and enable, but do not (re)start the service now
  --prefix DIR    where the virtual environment goes (default /opt/voicecoach)
  --user NAME     the account the service runs as (default voicecoach)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --use-checkout) USE_CHECKOUT=1 ;;
        --no-start) START=0 ;;
        --prefix) PREFIX=${2:?--prefix needs a folder}; shift ;;
        --user) SERVICE_USER=${2:?--user needs a name}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install-service: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "install-service: $*"; }
die() { echo "install-service: error: $*" >&2; exit 1; }

# Every change goes through run (commands) or write_file (files), so --dry-run shows exactly
# what a real run would do; read-only probes (id, test, cmp) always run to pick the steps.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

write_file() {  # write_file PATH MODE < content
    local target=$1 mode=$2 scratch
    scratch=$(mktemp)
    cat >"$scratch"
    if [ -f "$target" ] && cmp -s "$scratch" "$target"; then
        say "$target is up to date"
    elif [ "$DRY_RUN" = 1 ]; then
        echo "+ write $target (mode $mode):"
        sed 's/^/    | /' "$scratch"
    else
        install -D -m "$mode" "$scratch" "$target"
        say "wrote $target"
    fi
    rm -f "$scratch"
}

copy_source() {  # copy_source CHECKOUT TARGET: what a build needs, without .venv and .git
    rm -rf "$2"
    mkdir -p "$2"
    tar -C "$1" --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./models \
        --exclude='*.egg-info' -cf - . | tar -C "$2" -xf -
}

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "run it as root (sudo $0 $*), or add --dry-run to see what it would do"
fi
[ -f "$UNIT_SOURCE" ] || die "cannot find $UNIT_SOURCE; run the script from a voicecoach checkout"
if [ "$DRY_RUN" = 1 ]; then
    say "dry run: nothing will be changed"
fi

# 1. Python and the system libraries the coach loads at run time.
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    die "$PYTHON is missing or older than 3.11; install python3 (3.11+) and python3-venv"
fi
if command -v dpkg-query >/dev/null; then
    absent=()
    for package in python3-venv espeak-ng libespeak-ng1 libportaudio2; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || absent+=("$package")
    done
    if [ ${#absent[@]} -gt 0 ]; then
        say "warning: missing packages: ${absent[*]} (sudo apt install ${absent[*]})"
    fi
fi

# 2. The service account: no login, no password, allowed to use sound devices.
if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "user $SERVICE_USER exists"
    if ! id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx audio; then
        run usermod -a -G audio "$SERVICE_USER"
    fi
else
    run useradd --system --user-group --groups audio --home-dir "$STATE_DIR" \
        --no-create-home --shell /usr/sbin/nologin --comment "voicecoach service" \
        "$SERVICE_USER"
fi
run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$STATE_DIR" "$STATE_DIR/models"

# 3. The application.
if [ "$USE_CHECKOUT" = 1 ]; then
    EXEC="$CHECKOUT/.venv/bin/voicecoach"
    [ -x "$EXEC" ] || [ "$DRY_RUN" = 1 ] \
        || die "$EXEC not found; create it first: $CHECKOUT/install.sh"
    case "$CHECKOUT" in
        /home/*) say "note: $SERVICE_USER must be able to read $CHECKOUT (home folders are often private)" ;;
    esac
else
    EXEC="$PREFIX/venv/bin/voicecoach"
    if [ ! -x "$PREFIX/venv/bin/python" ]; then
        run "$PYTHON" -m venv "$PREFIX/venv"
    fi
    # The locked versions (what the tests passed with), then the coach itself from a copy
    # of the checkout, so that building it leaves no root-owned files in the checkout.
    # Reinstalling every time keeps the service on the code you just pulled.
    run "$PREFIX/venv/bin/python" -m pip install --quiet --require-hashes -r "$CHECKOUT/locks/runtime.txt"
    run copy_source "$CHECKOUT" "$PREFIX/src"
    run "$PREFIX/venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation --upgrade "$PREFIX/src"
fi

# 4. Sound devices: the service runs without a desktop session, where "default" may not
# exist, so the config names the first USB microphone and the first speaker that is not HDMI.
MICROPHONE='""'
SPEAKER='""'
LISTER=""
for candidate in "$EXEC" "$CHECKOUT/.venv/bin/voicecoach"; do
    if [ -x "$candidate" ]; then LISTER=$candidate; break; fi
done
if [ -z "$LISTER" ]; then
    say "cannot list sound devices: voicecoach is not installed yet"
elif devices=$("$LISTER" devices --json 2>/dev/null) && [ -n "$devices" ]; then
    say "sound devices:"
    "$LISTER" devices 2>&1 | sed 's/^/    /'
    { read -r MICROPHONE; read -r SPEAKER; } \
        < <(printf '%s\n' "$devices" | "$PYTHON" "$CHECKOUT/packaging/pick_devices.py")
else
    say "no sound devices found (\`arecord -l\` and \`aplay -l\` show what the system sees)"
fi
shown() { if [ "$1" = '""' ]; then echo "none found"; else echo "$1"; fi; }
say "microphone: $(shown "$MICROPHONE"); speaker: $(shown "$SPEAKER")"

# 5. Settings: written once, then yours to edit.
if [ -f "$CONFIG_DIR/config.toml" ]; then
    say "keeping $CONFIG_DIR/config.toml (its [audio] input_device and output_device name the devices)"
else
    write_file "$CONFIG_DIR/config.toml" 0644 <<EOF
# voicecoach settings for the service; \`voicecoach config --docs\` explains every one.
# After editing: sudo systemctl restart voicecoach

[audio]
# Name substring or index from \`voicecoach devices\`; empty means the system default,
# which a service started at boot may not have.
input_device = $MICROPHONE
output_device = $SPEAKER

[speech]
engine = "auto"
speaker = "pyttsx3"

[data]
# History and models (models go in $STATE_DIR/models).
folder = "$STATE_DIR"
EOF
fi

# 6. The unit, pointed at this install and account.
sed -e "s|^ExecStart=.*|ExecStart=$EXEC serve|" \
    -e "s|^User=.*|User=$SERVICE_USER|" \
    -e "s|^Group=.*|Group=$SERVICE_USER|" \
    "$UNIT_SOURCE" | write_file "$UNIT_TARGET" 0644

# 7. Enable at boot and (re)start so the running service uses what was just installed.
run systemctl daemon-reload
run systemctl enable voicecoach.service
if [ "$START" = 1 ]; then
    run systemctl restart voicecoach.service
fi

if [ "$MICROPHONE" = '""' ] || [ "$SPEAKER" = '""' ]; then
    cat <<EOF

install-service: name the sound devices the service should use. List them with
  sudo -u $SERVICE_USER $EXEC devices
then, under [audio] in $CONFIG_DIR/config.toml, set input_device (the microphone) and
output_device (the speaker) to a name from that list, and: sudo systemctl restart voicecoach
EOF
fi

cat <<EOF

install-service: $([ "$DRY_RUN" = 1 ] && echo "dry run complete" || echo "done").
  status:  systemctl status voicecoach
  logs:    journalctl -u voicecoach -f
  check:   sudo -u $SERVICE_USER VOICECOACH_CONFIG=$CONFIG_DIR/config.toml $EXEC doctor
  model:   sudo -u $SERVICE_USER VOICECOACH_CONFIG=$CONFIG_DIR/config.toml $EXEC models download
EOF
if [ "$DRY_RUN" = 1 ]; then
    echo
    say "that was a dry run: nothing was changed. Run it as root without --dry-run to install."
fi
