#!/usr/bin/env bash
# Put the intercom firmware on a board (a Raspberry Pi, or any Debian-like Linux board with
# systemd) and keep it running. See ./flash.sh --help and docs/install.md.
set -euo pipefail
if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 404)); then
    echo "flash.sh needs bash 4.4 or newer (this is $BASH_VERSION; macOS: brew install bash)" >&2
    exit 1
fi

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BOARD_SCRIPT=$SRC/firmware/runtime/systemd/install-on-board.sh
UNIT_TEMPLATES=$SRC/firmware/runtime/systemd
# What the wheel is built from (pyproject.toml: packages firmware*, hal*, board*; readme; license).
# Not setup.py, nor what it built: it compiles the media core for this machine's CPU, which may not
# be the board's, so the board's wheel is pure Python.
WHEEL_SOURCES=(pyproject.toml README.md LICENSE firmware hal board)
# Wheels built from the same sources are byte-identical, so a second flash reuses the release.
export SOURCE_DATE_EPOCH=315532800

usage() {
    cat <<'EOF'
Usage: ./flash.sh [options] [user@]host      install over SSH and wait for the health check
       ./flash.sh --root DIR [options]       stage onto a mounted SD card's root filesystem

Over SSH: validate the config here, build a wheel of this checkout, copy it to the board, install
missing Debian packages, create the user "intercom", install the wheel as a new release in its own
venv (/opt/intercom/releases/<version>-<hash>, reused when the wheel is the same), install the
config as /etc/intercom/intercom.toml (mode 0600; an existing one is kept), install and enable
intercom.service, point /opt/intercom/current at the release, restart, and wait for the health
check (GET /api/status answers with the new version and, with sip.register = true, the
registration is REGISTERED). If the check fails, the previous release (and config) is restored
and restarted, and flash.sh says why and exits 1. The last 3 releases are kept.

The board user must be root or have passwordless sudo (Raspberry Pi OS's first user has).
SSH uses key authentication (an agent, ~/.ssh/config, or -i KEY).

With --root DIR nothing is contacted: the wheel, the config and the units are written under DIR
and a first-boot unit (intercom-firstboot.service) finishes the install on the board: it creates
the venv from the staged wheel (it needs the network, or --wheelhouse), enables and starts
intercom.service and disables itself.

Running flash.sh twice changes nothing the second time but the restart.

Options:
  --config FILE        firmware config to install (validated here first). Needed the first
                       time; on later runs the board's config is kept unless --replace-config
  --board NAME         board profile: rpi-zero-2w, rpi-3, rpi-4, rpi-5, generic-linux, sim.
                       Default: the config's `board`; when both are given they must agree. It
                       picks the pip extras (gpio, rpigpio, alsa) and the Debian packages
  --replace-config     replace the board's config with --config (the old one is kept as
                       intercom.toml.previous, and put back if the health check fails)
  --wheel FILE         install this sip_intercom-*.whl instead of building one
  --wheelhouse DIR     install the dependencies only from the wheels in DIR (copied along):
                       for boards without internet access, and for the tests
  --no-apt             do not install missing Debian packages (they must be there already)
  --python PATH        the board's Python, 3.11 or newer (default: python3)
  --health-timeout S   seconds to wait for the health check (default: 60)
  --keep N             releases to keep on the board, the current one included (default: 3)
  --port PORT          SSH port (default: 22)
  -i, --identity KEY   SSH private key
  --ssh-option OPT     an ssh -o option, e.g. --ssh-option ProxyJump=gateway (repeatable)
  --root DIR           stage onto the root filesystem mounted at DIR instead of using SSH
  --dry-run            validate the config and print every step; change nothing, connect
                       to nothing
  --prefix DIR         FOR TESTS ONLY: install under DIR on the board (DIR/opt/intercom,
                       DIR/etc/intercom, DIR/etc/systemd/system) without apt, user or
                       systemctl; the unit's ExecStart is started directly (pid file in DIR/run)
  -h, --help           show this help

Examples:
  ./flash.sh --config door.toml pi@door.local
  ./flash.sh --config door.toml --board rpi-4 --port 2222 -i ~/.ssh/door pi@192.168.1.50
  sudo ./flash.sh --root /media/$USER/rootfs --config door.toml
EOF
}

CONFIG=""
BOARD=""
REPLACE_CONFIG=0
WHEEL=""
WHEELHOUSE=""
APT=1
BOARD_PYTHON=python3
HEALTH_TIMEOUT=60
KEEP=3
SSH_PORT=22
SSH_IDENTITY=""
SSH_OPTIONS=()
ROOT=""
DRY_RUN=0
PREFIX=""
TARGET=""
EXTRAS=""
WORK=""

step() {
    echo "==> $*"
    [ "$DRY_RUN" -eq 0 ]
}
say() { echo "    $*"; }
die() {
    echo "flash.sh: error: $*" >&2
    exit 1
}

parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            -h | --help) usage; exit 0 ;;
            --config) CONFIG=$(value "$@"); shift ;;
            --board) BOARD=$(value "$@"); shift ;;
            --replace-config) REPLACE_CONFIG=1 ;;
            --wheel) WHEEL=$(value "$@"); shift ;;
            --wheelhouse) WHEELHOUSE=$(value "$@"); shift ;;
            --no-apt) APT=0 ;;
            --python) BOARD_PYTHON=$(value "$@"); shift ;;
            --health-timeout) HEALTH_TIMEOUT=$(value "$@"); shift ;;
            --keep) KEEP=$(value "$@"); shift ;;
            --port) SSH_PORT=$(value "$@"); shift ;;
            -i | --identity) SSH_IDENTITY=$(value "$@"); shift ;;
            --ssh-option) SSH_OPTIONS+=(-o "$(value "$@")"); shift ;;
            --root) ROOT=$(value "$@"); shift ;;
            --dry-run) DRY_RUN=1 ;;
            --prefix) PREFIX=$(value "$@"); shift ;;
            -*) die "unknown option $1 (see --help)" ;;
            *)
                [ -z "$TARGET" ] || die "one board at a time (got $TARGET and $1)"
                TARGET=$1
                ;;
        esac
        shift
    done
    if [ -n "$ROOT" ]; then
        [ -z "$TARGET" ] || die "--root DIR or [user@]host, not both"
        [ -z "$PREFIX" ] || die "--prefix is for SSH installs (tests), not with --root"
        [ -d "$ROOT" ] || die "--root $ROOT: no such directory (mount the SD card's root filesystem)"
        ROOT=$(cd "$ROOT" && pwd)
        [ -d "$ROOT/etc" ] || die "--root $ROOT: no etc/ in it: is that a root filesystem?"
    else
        [ -n "$TARGET" ] || die "give the board as [user@]host, or --root DIR (see --help)"
    fi
    [ -n "$CONFIG" ] || [ -n "$BOARD" ] || die "give --config FILE (or at least --board NAME)"
    [ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "--config $CONFIG: no such file"
    [ -z "$WHEEL" ] || [[ $(basename "$WHEEL") == sip_intercom-*.whl && -f $WHEEL ]] ||
        die "--wheel $WHEEL: not an existing sip_intercom-*.whl"
    [ -z "$WHEELHOUSE" ] || [ -d "$WHEELHOUSE" ] || die "--wheelhouse $WHEELHOUSE: no such directory"
    [[ $HEALTH_TIMEOUT =~ ^[0-9]+$ ]] || die "--health-timeout: a number of seconds"
    [[ $KEEP =~ ^[0-9]+$ && $KEEP -ge 2 ]] || die "--keep: 2 or more (a rollback needs one)"
    [[ $SSH_PORT =~ ^[0-9]+$ ]] || die "--port: a number"
    # These end up in unit files and command lines: no spaces or quoting, please.
    [[ $BOARD_PYTHON =~ ^[A-Za-z0-9._/-]+$ ]] || die "--python: a plain path or command name"
    [[ -z $PREFIX || $PREFIX =~ ^/[A-Za-z0-9._/-]+$ ]] || die "--prefix: an absolute plain path"
}

value() { # the value of option $1, which must be there
    [ $# -ge 2 ] || die "$1 needs a value"
    printf '%s\n' "$2"
}

cleanup() {
    [ -z "$WORK" ] || rm -rf "$WORK"
}

# -- local steps -------------------------------------------------------------------------------

find_local_python() {
    local candidate
    for candidate in "$SRC/.venv/bin/python" python3; do
        if PYTHONPATH=$SRC "$candidate" -c 'import firmware.runtime.app' 2>/dev/null; then
            LOCAL_PYTHON=$candidate
            return 0
        fi
    done
    die "no Python with the firmware's dependencies here: run 'make emulate' once (it creates .venv)"
}

# Validate the config, check --board against it and work out the board's pip extras.
# Read-only, so a dry run does it too: it shows what the board steps would install.
check_config() {
    if [ -n "$CONFIG" ]; then
        echo "==> validate the config $CONFIG (intercom check-config, the board profile)"
    else
        echo "==> look up the board profile $BOARD"
    fi
    find_local_python
    [ -z "$CONFIG" ] || PYTHONPATH=$SRC "$LOCAL_PYTHON" -m firmware check-config "$CONFIG" |
        sed 's/^/    /'
    local answer
    answer=$(PYTHONPATH=$SRC "$LOCAL_PYTHON" - "$CONFIG" "$BOARD" <<'PY'
import sys
from firmware.runtime import config
from firmware.runtime.app import board_profile
from hal import HalError, load_profile

path, board = sys.argv[1:]
try:
    if path:
        cfg = config.load(path)
        if board and board != cfg.board:
            sys.exit(f"flash.sh: error: --board {board}, but {path} has board = {cfg.board!r}")
        board, profile = cfg.board, board_profile(cfg)
    else:
        profile = load_profile(board)
except (config.ConfigError, HalError) as exc:
    sys.exit(f"flash.sh: error: {exc}")
extras = {"gpiozero": ["gpio"], "rpigpio": ["rpigpio"]}.get(profile.gpio, [])
extras += ["alsa"] if profile.audio.backend == "alsa" else []
print(board, ",".join(extras))
PY
    ) || exit 1
    BOARD=${answer%% *}
    EXTRAS=${answer#* }
    say "board $BOARD, pip extras: ${EXTRAS:-none}"
}

build_wheel() {
    if [ -n "$WHEEL" ]; then
        step "use the wheel $WHEEL" || return 0
        return 0
    fi
    step "build the wheel of $SRC (pip wheel --no-deps)" || return 0
    mkdir -p "$WORK/src" "$WORK/wheel"
    tar -C "$SRC" --exclude=__pycache__ --exclude='*.pyc' --exclude='*.so' --exclude='*.c' \
        -cf - "${WHEEL_SOURCES[@]}" | tar -C "$WORK/src" -xf -
    "$LOCAL_PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps \
        --wheel-dir "$WORK/wheel" "$WORK/src" >&2
    WHEEL=$(echo "$WORK"/wheel/sip_intercom-*.whl)
    say "$(basename "$WHEEL")"
}

# The payload: what goes to the board (or the SD card) in one piece.
pack_payload() {
    step "pack the installer, unit templates, wheel${CONFIG:+, config}${WHEELHOUSE:+ and wheelhouse}" ||
        return 0
    PAYLOAD=$WORK/payload
    mkdir -p "$PAYLOAD/units"
    cp "$BOARD_SCRIPT" "$WHEEL" "$PAYLOAD/"
    cp "$UNIT_TEMPLATES"/*.service "$PAYLOAD/units/"
    [ -z "$CONFIG" ] || install -m 0600 "$CONFIG" "$PAYLOAD/intercom.toml"
    if [ -n "$WHEELHOUSE" ]; then
        mkdir "$PAYLOAD/wheelhouse"
        cp "$WHEELHOUSE"/*.whl "$PAYLOAD/wheelhouse/"
    fi
}

board_options() { # the options for install-on-board.sh
    BOARD_OPTIONS=(--python "$BOARD_PYTHON" --health-timeout "$HEALTH_TIMEOUT" --keep "$KEEP")
    [ -z "$EXTRAS" ] || BOARD_OPTIONS+=(--extras "$EXTRAS")
    [ "$APT" -eq 1 ] || BOARD_OPTIONS+=(--no-apt)
    [ "$REPLACE_CONFIG" -eq 0 ] || BOARD_OPTIONS+=(--replace-config)
    [ -z "$PREFIX" ] || BOARD_OPTIONS+=(--prefix "$PREFIX")
    [ "$DRY_RUN" -eq 0 ] || BOARD_OPTIONS+=(--dry-run)
}

# One SSH connection: unpack the payload in a temporary directory on the board, run the board's
# installer there as root (sudo -n for another user), remove the directory, pass the exit code.
deploy_over_ssh() {
    local ssh=(ssh -p "$SSH_PORT" "${SSH_OPTIONS[@]}")
    [ -z "$SSH_IDENTITY" ] || ssh+=(-i "$SSH_IDENTITY" -o IdentitiesOnly=yes)
    # After the user's options: for ssh the first value given wins.
    ssh+=(-o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=15
        -o ServerAliveInterval=15)
    board_options
    if ! step "copy the payload to $TARGET and run the installer there (port $SSH_PORT)"; then
        bash "$BOARD_SCRIPT" deploy "${BOARD_OPTIONS[@]}"
        return 0
    fi
    write_run_script >"$PAYLOAD/run.sh"
    # shellcheck disable=SC2016 # expanded on the board
    local remote='d=$(mktemp -d /tmp/intercom-flash.XXXXXX) || exit 1
tar --no-same-owner -xf - -C "$d" && bash "$d/run.sh"
rc=$?; rm -rf "$d"; exit $rc'
    tar -C "$PAYLOAD" -cf - . | "${ssh[@]}" "$TARGET" "$remote"
}

# run.sh, on the board: the installer as root, through sudo -n for another user (not with
# --prefix: a test installs as whoever it logs in as).
write_run_script() {
    local command
    command="bash install-on-board.sh deploy$(printf ' %q' "${BOARD_OPTIONS[@]}")"
    # shellcheck disable=SC2016 # expanded on the board
    echo 'cd "$(dirname "$0")" || exit 1'
    if [ -z "$PREFIX" ]; then
        # shellcheck disable=SC2016
        echo 'if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null ||
        { echo "error: $(id -un) is not root and has no passwordless sudo on $(hostname)" >&2; exit 1; }
    exec sudo -n '"$command"'
fi'
    fi
    echo "exec $command"
}

stage_root() {
    board_options
    step "stage onto $ROOT (the board's first boot finishes the install)" ||
        { bash "$BOARD_SCRIPT" stage --destdir "$ROOT" "${BOARD_OPTIONS[@]}"; return 0; }
    bash "$PAYLOAD/install-on-board.sh" stage --destdir "$ROOT" "${BOARD_OPTIONS[@]}"
}

main() {
    parse_args "$@"
    trap cleanup EXIT
    [ "$DRY_RUN" -eq 1 ] || WORK=$(mktemp -d "${TMPDIR:-/tmp}/intercom-flash.XXXXXX")
    check_config
    build_wheel
    pack_payload
    if [ -n "$ROOT" ]; then
        stage_root
        [ "$DRY_RUN" -eq 1 ] || echo "staged: put the card in the board; its first boot" \
            "finishes the install (journalctl -u intercom-firstboot)"
    else
        deploy_over_ssh
    fi
    [ "$DRY_RUN" -eq 0 ] || echo "dry run: nothing was done"
}

main "$@"
