#!/usr/bin/env bash
# The board's half of flash.sh: install a release of the intercom firmware and keep it running.
#
#   install-on-board.sh deploy    [options]  over SSH (flash.sh user@host): everything, then the
#                                            health check, and a rollback if it fails
#   install-on-board.sh stage     [options]  onto a mounted SD card (flash.sh --root DIR): files
#                                            only; a first-boot unit finishes the install
#   install-on-board.sh firstboot [options]  at the board's first boot (intercom-firstboot.service)
#
# Options (flash.sh passes them; see ./flash.sh --help):
#   --extras LIST        pip extras of sip-intercom for this board (gpio,alsa)
#   --python PATH        the board's Python (default python3)
#   --no-apt             do not install missing Debian packages
#   --replace-config     replace an existing /etc/intercom/intercom.toml
#   --health-timeout S   deploy: how long to wait for the health check (default 60)
#   --keep N             releases to keep (default 3)
#   --destdir DIR        stage: write under DIR; paths inside the files stay as on the board
#   --prefix DIR         tests only: install under DIR on this machine, no apt, no user, no
#                        systemctl; the unit's ExecStart runs directly, with a pid file
#   --dry-run            print the steps, do nothing
#
# It runs from the directory flash.sh packed: this script, units/*.service, one
# sip_intercom-*.whl, optionally intercom.toml (a new config) and wheelhouse/ (offline wheels).
#
# On the board (under --prefix or --destdir when given):
#   /opt/intercom/releases/<version>-<hash>/  one venv per release (the hash covers the wheel and
#                                             the extras: the same wheel is the same release)
#   /opt/intercom/current -> releases/<id>    what the unit runs: a rollback is a flip + restart
#   /etc/intercom/intercom.toml               the config, 0600, owned by the service user
#   /etc/systemd/system/intercom.service
set -euo pipefail

PAYLOAD=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UNIT=intercom.service
FIRSTBOOT_UNIT=intercom-firstboot.service
SERVICE_USER=intercom
SERVICE_GROUPS=(gpio audio)

COMMAND=""
EXTRAS=""
PYTHON=python3
APT=1
REPLACE_CONFIG=0
HEALTH_TIMEOUT=60
KEEP=3
DESTDIR=""
PREFIX=""
DRY_RUN=0

step() {
    echo "==> ${LABEL:-board}: $*"
    [ "$DRY_RUN" -eq 0 ]
}
say() { echo "    $*"; }
die() {
    echo "error: $*" >&2
    exit 1
}

parse_args() {
    COMMAND=${1:-}
    case $COMMAND in
        deploy | stage | firstboot) shift ;;
        *) die "usage: install-on-board.sh deploy|stage|firstboot [options]" ;;
    esac
    while [ $# -gt 0 ]; do
        case $1 in
            --extras) EXTRAS=$2; shift ;;
            --python) PYTHON=$2; shift ;;
            --no-apt) APT=0 ;;
            --replace-config) REPLACE_CONFIG=1 ;;
            --health-timeout) HEALTH_TIMEOUT=$2; shift ;;
            --keep) KEEP=$2; shift ;;
            --destdir) DESTDIR=${2%/}; shift ;;
            --prefix) PREFIX=${2%/}; shift ;;
            --dry-run) DRY_RUN=1 ;;
            *) die "unknown option $1" ;;
        esac
        shift
    done
    # Paths as the board sees them (rendered into the units) ...
    OPT=$PREFIX/opt/intercom
    ETC=$PREFIX/etc/intercom
    UNIT_DIR=$PREFIX/etc/systemd/system
    CONFIG=$ETC/intercom.toml
    # ... and where this run writes them.
    D_OPT=$DESTDIR$OPT
    D_ETC=$DESTDIR$ETC
    D_UNIT_DIR=$DESTDIR$UNIT_DIR
    if [ -n "$PREFIX" ]; then
        SERVICE_USER=$(id -un)
        PIDFILE=$PREFIX/run/intercom.pid
        LOGFILE=$PREFIX/var/log/intercom.log
    fi
}

# Which extra needs which Debian packages (pyalsaaudio and RPi.GPIO compile on the board).
packages_for_extras() {
    local packages=(python3-venv)
    if [[ ,$EXTRAS, == *,alsa,* ]]; then
        packages+=(libasound2-dev alsa-utils)
    fi
    if [[ ,$EXTRAS, == *,alsa,* || ,$EXTRAS, == *,rpigpio,* ]]; then
        packages+=(gcc python3-dev)
    fi
    echo "${packages[*]}"
}

# -- the steps ---------------------------------------------------------------------------------

check_board() {
    local what="root, systemd"
    [ -z "$PREFIX" ] || what="prefix $PREFIX"
    step "check: $what, $PYTHON is 3.11 or newer, a config is there" || return 0
    if [ -z "$PREFIX" ] && [ "$(id -u)" -ne 0 ]; then
        die "needs root (flash.sh uses sudo -n for a user that is not root)"
    fi
    command -v "$PYTHON" >/dev/null || die "no $PYTHON on this board (apt-get install python3)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$PYTHON is $("$PYTHON" -V 2>&1); the firmware needs 3.11 or newer (Raspberry Pi OS bookworm)"
    if [ -z "$PREFIX" ] && [ ! -d /run/systemd/system ]; then
        die "systemd is not running on this board"
    fi
    if [ ! -f "$PAYLOAD/intercom.toml" ] && [ ! -f "$D_ETC/intercom.toml" ]; then
        die "no config on the board yet: give flash.sh --config FILE"
    fi
}

install_packages() {
    [ -z "$PREFIX" ] || return 0
    local wanted missing="" package
    wanted=$(packages_for_extras)
    if [ "$APT" -eq 0 ]; then
        step "skip the Debian packages (--no-apt): $wanted must be installed" || return 0
        "$PYTHON" -c 'import ensurepip' 2>/dev/null || die "no venv support: install python3-venv"
        return 0
    fi
    step "install the Debian packages that are missing of: $wanted" || return 0
    command -v dpkg-query >/dev/null || { say "not a Debian system: skipped"; return 0; }
    for package in $wanted; do
        if [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" != installed ]; then
            missing="$missing $package"
        fi
    done
    if [ -z "$missing" ]; then
        say "all installed"
        return 0
    fi
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # At a first boot apt is often busy with its own daily jobs: wait for its lock.
    local apt=(apt-get -q -o DPkg::Lock::Timeout=300)
    "${apt[@]}" update
    # shellcheck disable=SC2086 # a list of package names
    "${apt[@]}" install -y --no-install-recommends $missing
}

create_user() {
    [ -z "$PREFIX" ] || return 0
    step "create the system user $SERVICE_USER (groups ${SERVICE_GROUPS[*]})" || return 0
    local group
    for group in "${SERVICE_GROUPS[@]}"; do
        getent group "$group" >/dev/null || groupadd --system "$group"
    done
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/intercom --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
        say "created"
    fi
    for group in "${SERVICE_GROUPS[@]}"; do
        id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx "$group" || usermod -aG "$group" "$SERVICE_USER"
    done
}

# The release's id: <version>-<12 hex digits of sha256 over the wheel and the extras>.
find_wheel() {
    local wheels=("$PAYLOAD"/sip_intercom-*.whl)
    [[ ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] || die "expected one sip_intercom-*.whl in $PAYLOAD"
    WHEEL=${wheels[0]}
    local name version digest
    name=$(basename "$WHEEL")
    version=${name#sip_intercom-}
    version=${version%%-*}
    digest=$({ sha256sum <"$WHEEL"; echo "$EXTRAS"; } | sha256sum | cut -c1-12)
    RELEASE=$version-$digest
}

install_release() {
    step "install the firmware as a release in $OPT/releases (reused if the same)" || return 0
    find_wheel
    local release=$D_OPT/releases/$RELEASE
    if [ -f "$release/release.txt" ]; then
        say "release $RELEASE is installed already: reused"
        return 0
    fi
    rm -rf "$release" # a half-installed attempt: start over
    mkdir -p "$release"
    cp "$WHEEL" "$release/"
    say "creating $release/venv"
    "$PYTHON" -m venv "$release/venv"
    local pip=("$release/venv/bin/python" -m pip install --no-input --disable-pip-version-check -q)
    if [ -d "$PAYLOAD/wheelhouse" ]; then
        pip+=(--no-index --find-links "$PAYLOAD/wheelhouse")
    else
        pip+=(--cache-dir "$DESTDIR$PREFIX/var/cache/intercom/pip")
    fi
    local spec
    spec=$release/$(basename "$WHEEL")${EXTRAS:+[$EXTRAS]}
    say "installing $(basename "$WHEEL")${EXTRAS:+ with $EXTRAS}"
    "${pip[@]}" "$spec"
    "$release/venv/bin/intercom" --version >/dev/null
    {
        echo "wheel: $(basename "$WHEEL")"
        echo "extras: ${EXTRAS:-none}"
        echo "installed: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$release/release.txt"
    say "installed release $RELEASE"
}

# Owner of the config: the service user (stage: the user does not exist yet; firstboot fixes it).
own_config() {
    [ "$COMMAND" != stage ] || return 0
    chown "$SERVICE_USER:" "$1"
    chmod 0600 "$1"
}

install_config() {
    step "install the config $CONFIG (kept if present, unless --replace-config)" || return 0
    local new=$PAYLOAD/intercom.toml target=$D_ETC/intercom.toml
    mkdir -p "$D_ETC"
    chmod 0755 "$D_ETC"
    CONFIG_REPLACED=0
    if [ ! -f "$new" ]; then
        [ -f "$target" ] || die "no config at $CONFIG: give flash.sh --config FILE"
        say "kept (no new config given)"
    elif [ ! -f "$target" ]; then
        install -m 0600 "$new" "$target.new" && mv -f "$target.new" "$target"
        say "installed"
    elif cmp -s "$new" "$target"; then
        say "unchanged"
    elif [ "$REPLACE_CONFIG" -eq 1 ]; then
        install -m 0600 "$target" "$target.previous"
        install -m 0600 "$new" "$target.new" && mv -f "$target.new" "$target"
        CONFIG_REPLACED=1
        say "replaced (the old one is $CONFIG.previous)"
    else
        say "kept: the board's config differs from the given one (--replace-config replaces it)"
    fi
    own_config "$target"
}

render_unit() { # template -> stdout
    sed -e "s|@OPT@|$OPT|g" -e "s|@ETC@|$ETC|g" -e "s|@ARGS@|$(firstboot_args)|g" \
        "$PAYLOAD/units/$1"
}

firstboot_args() {
    local args="--python $PYTHON --keep $KEEP"
    [ -z "$EXTRAS" ] || args="$args --extras $EXTRAS"
    [ "$APT" -eq 1 ] || args="$args --no-apt"
    echo "$args"
}

install_unit_file() { # unit -> sets UNIT_CHANGED
    local target=$D_UNIT_DIR/$1
    mkdir -p "$D_UNIT_DIR"
    if render_unit "$1" | cmp -s - "$target"; then
        say "$1 unchanged"
        return 0
    fi
    render_unit "$1" >"$target.new"
    chmod 0644 "$target.new"
    mv -f "$target.new" "$target"
    UNIT_CHANGED=1
    say "$1 written"
}

install_unit() {
    step "install and enable the systemd unit $UNIT_DIR/$UNIT" || return 0
    UNIT_CHANGED=0
    install_unit_file "$UNIT"
    [ -z "$PREFIX" ] || return 0
    [ "$UNIT_CHANGED" -eq 0 ] || systemctl daemon-reload
    systemctl is-enabled --quiet "$UNIT" 2>/dev/null || systemctl enable --quiet "$UNIT"
}

switch_release() {
    step "make the new release current (the old one stays for a rollback)" || return 0
    OLD_RELEASE=$(current_release)
    if [ "$OLD_RELEASE" = "$RELEASE" ]; then
        say "$RELEASE is current already"
    else
        point_current_to "$RELEASE"
        say "current: $RELEASE${OLD_RELEASE:+ (was $OLD_RELEASE)}"
    fi
}

current_release() {
    local target
    target=$(readlink "$D_OPT/current" 2>/dev/null) || return 0
    basename "$target"
}

point_current_to() { # atomic: a new symlink renamed over the old one
    ln -sfn "releases/$1" "$D_OPT/current.new"
    mv -Tf "$D_OPT/current.new" "$D_OPT/current"
    touch "$D_OPT/releases/$1" # activation time: what pruning keeps
}

# Stop before changing anything, so that the stop step (relay-off) runs with the release, config
# and unit that ran.
stop_service() {
    step "stop the firmware (its stop step forces the relay off)" || return 0
    if [ -n "$PREFIX" ]; then
        stop_direct
    elif [ -f "$UNIT_DIR/$UNIT" ]; then
        systemctl stop "$UNIT"
    fi
}

start_service() {
    step "start the firmware" || return 0
    if [ -n "$PREFIX" ]; then
        start_direct
    else
        # Type=notify: returns once the firmware is up (READY=1), or fails.
        systemctl start "$UNIT" || say "systemctl start failed"
    fi
}

health_check() {
    step "wait for the health check: /api/status answers (and registered, if register = true)" ||
        return 0
    local verdict
    if verdict=$(run_health_check "$HEALTH_TIMEOUT"); then
        say "$verdict"
        return 0
    fi
    say "$verdict"
    show_logs
    FAILURE=$verdict
    return 1
}

rollback() {
    step "if the health check failed: roll back to the previous release and config" || return 0
    local release_back=0
    [ -z "$OLD_RELEASE" ] || [ "$OLD_RELEASE" = "$RELEASE" ] || release_back=1
    if [ "$release_back" -eq 0 ] && [ "$CONFIG_REPLACED" -eq 0 ]; then
        say "nothing to roll back to: the previous release and config are the ones that failed"
        return 0
    fi
    stop_service
    if [ "$CONFIG_REPLACED" -eq 1 ]; then
        mv -f "$D_ETC/intercom.toml.previous" "$D_ETC/intercom.toml"
        own_config "$D_ETC/intercom.toml"
        say "restored the previous config"
    fi
    if [ "$release_back" -eq 1 ]; then
        point_current_to "$OLD_RELEASE"
        say "current: $OLD_RELEASE again ($RELEASE stays installed, unused)"
    fi
    start_service
    local verdict
    if verdict=$(run_health_check "$HEALTH_TIMEOUT"); then
        say "the previous version is back: $verdict"
    else
        say "the previous version is not healthy either: $verdict"
    fi
}

prune_releases() {
    step "remove old releases (keep $KEEP, the current one included)" || return 0
    local current kept=1 release
    current=$(current_release)
    # Newest activation first. The names are ours: no spaces, no globbing characters.
    # shellcheck disable=SC2045
    for release in $(ls -1t "$D_OPT/releases" 2>/dev/null); do
        [ "$release" != "$current" ] || continue
        if [ -f "$D_OPT/releases/$release/release.txt" ] && [ "$kept" -lt "$KEEP" ]; then
            kept=$((kept + 1))
            continue
        fi
        rm -rf "${D_OPT:?}/releases/$release"
        say "removed $release"
    done
}

# -- stage (an SD card's root filesystem) and firstboot ----------------------------------------

stage_files() {
    step "stage the wheel and this installer in $OPT/incoming" || return 0
    local incoming=$D_OPT/incoming
    rm -rf "$incoming"
    mkdir -p "$incoming/units"
    cp "$PAYLOAD"/sip_intercom-*.whl "$PAYLOAD/install-on-board.sh" "$incoming/"
    cp "$PAYLOAD"/units/*.service "$incoming/units/"
    [ ! -d "$PAYLOAD/wheelhouse" ] || cp -r "$PAYLOAD/wheelhouse" "$incoming/"
    chmod -R go-w "$D_OPT"
}

stage_units() {
    step "install $UNIT and $FIRSTBOOT_UNIT; enable the first-boot unit" || return 0
    install_unit_file "$UNIT"
    install_unit_file "$FIRSTBOOT_UNIT"
    local wants=$D_UNIT_DIR/multi-user.target.wants
    mkdir -p "$wants"
    ln -sfn "$UNIT_DIR/$FIRSTBOOT_UNIT" "$wants/$FIRSTBOOT_UNIT"
}

firstboot_owners() {
    step "hand the staged config to $SERVICE_USER, everything else to root" || return 0
    own_config "$CONFIG"
    [ -n "$PREFIX" ] || chown -R root: "$OPT" "$UNIT_DIR/$UNIT" "$UNIT_DIR/$FIRSTBOOT_UNIT"
}

firstboot_start() {
    step "start $UNIT" || return 0
    if [ -n "$PREFIX" ]; then
        start_direct
    else
        systemctl start --no-block "$UNIT" # not waiting: this unit is part of the boot transaction
    fi
}

firstboot_finish() {
    step "disable $FIRSTBOOT_UNIT and remove the staged files" || return 0
    if [ -n "$PREFIX" ]; then
        rm -f "$UNIT_DIR/multi-user.target.wants/$FIRSTBOOT_UNIT"
    else
        systemctl disable --quiet "$FIRSTBOOT_UNIT"
    fi
    rm -rf "$OPT/incoming" # this script included: bash has it open, so it runs to the end
}

# -- running without systemd (--prefix, tests only) --------------------------------------------

unit_command() { # the unit's Exec line, e.g. ExecStart (nothing before the unit is installed)
    [ ! -f "$UNIT_DIR/$UNIT" ] || sed -n "s/^$1=//p" "$UNIT_DIR/$UNIT"
}

start_direct() {
    mkdir -p "$(dirname "$PIDFILE")" "$(dirname "$LOGFILE")" "$PREFIX/var/lib/intercom"
    local command
    command=$(unit_command ExecStart)
    # shellcheck disable=SC2086 # the unit's command line: words without quotes
    (cd "$PREFIX/var/lib/intercom" &&
        LG_WD=$PWD exec setsid $command >>"$LOGFILE" 2>&1 </dev/null) &
    echo $! >"$PIDFILE"
    say "started pid $(cat "$PIDFILE"): $command"
}

stop_direct() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 0
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$OPT/"; then
        kill -TERM "$pid"
        local waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        say "stopped pid $pid"
    fi
    rm -f "$PIDFILE"
    local command
    command=$(unit_command ExecStopPost)
    # shellcheck disable=SC2086
    [ -z "$command" ] || [ ! -x "${command%% *}" ] || $command >>"$LOGFILE" 2>&1 ||
        say "the stop step failed (see $LOGFILE)"
}

show_logs() {
    echo "    --- the firmware's last log lines ---"
    if [ -n "$PREFIX" ]; then
        tail -n 20 "$LOGFILE" 2>/dev/null | sed 's/^/    /'
    else
        journalctl -u "$UNIT" -n 20 --no-pager -o cat 2>/dev/null | sed 's/^/    /'
    fi
    echo "    ---"
}

# Poll /api/status (from the config's api.listen, with its token) until the firmware answers with
# the installed version and, when sip.register is true, is REGISTERED. Prints one line: why.
run_health_check() {
    "$OPT/current/venv/bin/python" - "$CONFIG" "$1" "${PIDFILE:-}" <<'PY'
import json, os, sys, time, urllib.error, urllib.request
from firmware import __version__
from firmware.runtime import config

path, timeout_s, pidfile = sys.argv[1], float(sys.argv[2]), sys.argv[3]
cfg = config.load(path)
host, port = config.parse_host_port(cfg["api"]["listen"])
host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
url = f"http://[{host}]:{port}/api/status" if ":" in host else f"http://{host}:{port}/api/status"
request = urllib.request.Request(url)
if cfg["api"]["token"]:
    request.add_header("Authorization", "Bearer " + cfg["api"]["token"])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
want_registered = cfg["sip"]["register"]


def running():
    try:
        with open(pidfile) as file:
            os.kill(int(file.read()), 0)
        return True
    except (OSError, ValueError):
        return False


deadline = time.monotonic() + timeout_s
problem = "nothing checked"
while True:
    if pidfile and not running():
        problem = "the firmware exited"
        break
    try:
        with opener.open(request, timeout=3) as answer:
            status = json.load(answer)
    except urllib.error.HTTPError as exc:
        problem = f"{url} answered {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:
        problem = f"no answer from {url} ({getattr(exc, 'reason', exc)})"
    else:
        registration = status.get("registration") or {}
        state = registration.get("state")
        if status.get("version") != __version__:
            problem = f"{url} reports version {status.get('version')}, not {__version__}"
        elif want_registered and state != "REGISTERED":
            why = " ".join(str(registration.get(k)) for k in ("status", "reason") if registration.get(k))
            problem = f"not registered: registration {state}" + (f" ({why})" if why else "")
        elif pidfile and not running():  # someone else answered on that port
            problem = f"the firmware exited; another program answers on {url}"
            break
        else:
            print(f"healthy: intercom {__version__} answers, registration {state}")
            sys.exit(0)
    if time.monotonic() >= deadline:
        break
    time.sleep(0.5)
print(f"health check failed after {timeout_s:g} s: {problem}")
sys.exit(1)
PY
}

# -- the commands ------------------------------------------------------------------------------

deploy() {
    FAILURE=""
    check_board
    install_packages
    create_user
    install_release
    stop_service
    install_config
    install_unit
    switch_release
    start_service
    if ! health_check; then
        rollback
        die "$FAILURE"
    fi
    [ "$DRY_RUN" -eq 0 ] || rollback # (printed only: it runs when the health check fails)
    prune_releases
    [ "$DRY_RUN" -eq 1 ] || echo "done: release $RELEASE is running"
}

stage() {
    [ -n "$DESTDIR" ] || die "stage needs --destdir DIR"
    LABEL="card"
    stage_files
    install_config
    stage_units
}

firstboot() {
    check_board
    install_packages
    create_user
    install_release
    firstboot_owners
    install_unit
    switch_release
    firstboot_start
    prune_releases
    firstboot_finish
}

# Run, unless sourced (the tests call single steps with stand-ins for apt-get, useradd...).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    parse_args "$@"
    "$COMMAND"
fi
