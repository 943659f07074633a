#!/usr/bin/env bash
# provision.sh — one command for a technician on a freshly flashed device: identity, config,
# certificates, the models (fetched and checksum-verified), the TensorRT engine cache built ahead of
# time, the vigild unit, then `vigilctl doctor`, a test alert acknowledged by the hub, and one
# PASS/FAIL summary.
#
#   sudo /opt/vigil/scripts/provision.sh --device-id cam-017 --site depot-3 \
#     --hub mqtts://hub.example.net:8883 --ca ca.pem --cert device.pem --key device.key
#   sudo /opt/vigil/scripts/provision.sh --bundle /media/usb/cam-017.tar     # what first boot runs
#
# A bundle is a tar holding provision.env (lines device_id=…, site=…, hub=…; read as data, never
# sourced) and any of ca.pem, device.pem, device.key, models.list (and model files it names). Flags
# given beside it win over its values.
#
# A models list (--models FILE, or models.list in a bundle; --model 'LINE' adds one line) has one
# file per line: its path under the models dir, its sha256, and where to get it — an http(s) URL or
# a path relative to the list (so a bundle can carry the files):
#   yolox-nano/model.onnx  ac8f…64 hex…  https://models.example.net/yolox-nano/model.onnx
#   yolox-nano/labels.txt  9c2e…       yolox-nano/labels.txt
# A file already there with the right sha256 is left alone; a download that does not match is never
# installed. Each model folder the list fills is added to the config's models[] once (entries already
# there are kept), with the manifest NAME/manifest.json from the list or the app's models/NAME.json.
#
# Re-running is safe: every file is compared before it is written, and a run that finds everything
# in place says "nothing changed". An existing vigil.yaml is edited, not replaced: only device.id,
# device.site, mqtt.url and (when given) mqtt.ca/cert/key are set, so streams, rules, models and
# comments survive re-provisioning. A config that is not valid YAML is refused unless --force (the
# old file is kept as vigil.yaml.bak).
#
# With --root DIR the config still names the device's paths (/etc/vigil/ca.pem, /var/lib/vigil): it
# is read on the device. `vigilctl doctor --root DIR` checks the certificates, disk and models under DIR.
#
# Models the list installs are added to the config's models[] (see below), so the daemon loads them.
# Live management is set up unless --read-only-config: a unit drop-in with ReadWritePaths=/etc/vigil,
# /etc/vigil root:vigil 1775 (sticky) and vigil.yaml owned by vigil.
#
# Exit codes: 0 PASS, 1 FAIL (doctor or a step failed), 2 usage.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The installed tree (/opt/vigil) or a checkout: the unit, the yaml module and vigilctl come from it.
APP_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
UNIT_SRC="$APP_DIR/systemd/vigild.service"
NODE=${NODE:-node}

usage() {
  cat <<'EOF'
usage: provision.sh --device-id ID --site SITE --hub URL [--ca F --cert F --key F | --bundle FILE.tar]
                    [--models FILE] [--model 'PATH SHA256 SOURCE']... [--socket PATH]
                    [--root DIR] [--dry-run] [--force] [--no-systemctl] [--no-doctor]
                    [--no-prepare-models] [--no-test-alert] [--test-alert-timeout S] [--read-only-config]
                    [--console-admin NAME [--console-admin-password-file F]]
  --root DIR       install under DIR instead of / (a temporary root in tests, a rootfs)
  --dry-run        print every change, change nothing
  --force          replace a vigil.yaml that cannot be parsed (kept as vigil.yaml.bak)
  --no-systemctl   do not run systemctl (tests, chroots)
  --no-doctor      do not run vigilctl doctor
  --read-only-config  keep /etc/vigil out of the daemon's reach: no live streams/rules/config set
                   (default: a unit drop-in, a sticky root:vigil /etc/vigil and a vigil-owned
                   vigil.yaml let the daemon rewrite its config, never the certificates)
  --models FILE    models to fetch and verify into /var/lib/vigil/models (see the header)
  --model LINE     one more line of that list: 'PATH SHA256 SOURCE' (repeatable)
  --no-prepare-models  do not load the configured models ahead of time (TensorRT engine cache)
  --no-test-alert  do not send a test alert
  --socket PATH    vigild's control socket for the test alert (default $VIGIL_SOCKET or
                   /run/vigil/vigild.sock; with --root the test alert runs only when this is given)
  --test-alert-timeout S  seconds to wait for the broker's PUBACK and the hub's ack (default 30)
  --console-admin NAME  make the web console's first admin account (docs/console.md) unless it
                   exists; the password from --console-admin-password-file or the first line of
                   stdin, never a default (the console itself is turned on by console.enabled)
  --console-admin-password-file F  read that password from F
EOF
}

die_usage() { printf 'provision: %s\n' "$1" >&2; usage >&2; exit 2; }

DEVICE_ID="" SITE="" HUB="" CA="" CERT="" KEY="" BUNDLE="" ROOT="/"
DRY_RUN=0 FORCE=0 NO_SYSTEMCTL=0 NO_DOCTOR=0 NO_PREPARE=0 NO_TEST_ALERT=0 READ_ONLY_CONFIG=0
MODELS_FILE="" SOCKET="" ALERT_TIMEOUT=30
CONSOLE_ADMIN="" CONSOLE_ADMIN_PASSWORD_FILE=""
MODEL_LINES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device-id) DEVICE_ID=${2-}; shift 2 ;;
    --site) SITE=${2-}; shift 2 ;;
    --hub) HUB=${2-}; shift 2 ;;
    --ca) CA=${2-}; shift 2 ;;
    --cert) CERT=${2-}; shift 2 ;;
    --key) KEY=${2-}; shift 2 ;;
    --bundle) BUNDLE=${2-}; shift 2 ;;
    --root) ROOT=${2-}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --force) FORCE=1; shift ;;
    --no-systemctl) NO_SYSTEMCTL=1; shift ;;
    --no-doctor) NO_DOCTOR=1; shift ;;
    --models) MODELS_FILE=${2-}; shift 2 ;;
    --model) MODEL_LINES+=("${2-}"); shift 2 ;;
    --no-prepare-models) NO_PREPARE=1; shift ;;
    --no-test-alert) NO_TEST_ALERT=1; shift ;;
    --read-only-config) READ_ONLY_CONFIG=1; shift ;;
    --socket) SOCKET=${2-}; shift 2 ;;
    --test-alert-timeout) ALERT_TIMEOUT=${2-}; shift 2 ;;
    --console-admin) CONSOLE_ADMIN=${2-}; shift 2 ;;
    --console-admin-password-file) CONSOLE_ADMIN_PASSWORD_FILE=${2-}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [[ -n $BUNDLE ]]; then
  [[ -f $BUNDLE ]] || die_usage "bundle not found: $BUNDLE"
  mkdir "$WORK/bundle"
  # No owners or modes from the archive: the key's mode is decided below, not by whoever packed it.
  tar -xf "$BUNDLE" -C "$WORK/bundle" --no-same-owner --no-same-permissions
  if [[ -f $WORK/bundle/provision.env ]]; then
    while IFS='=' read -r k v || [[ -n $k ]]; do
      case "$k" in
        device_id) [[ -n $DEVICE_ID ]] || DEVICE_ID=$v ;;
        site) [[ -n $SITE ]] || SITE=$v ;;
        hub) [[ -n $HUB ]] || HUB=$v ;;
        ''|\#*) ;;
        *) printf 'provision: ignoring unknown key "%s" in provision.env\n' "$k" >&2 ;;
      esac
    done < "$WORK/bundle/provision.env"
  fi
  if [[ -f $WORK/bundle/models.list && -z $MODELS_FILE ]]; then MODELS_FILE=$WORK/bundle/models.list; fi
  for pair in ca:ca.pem cert:device.pem key:device.key; do
    f="$WORK/bundle/${pair#*:}"
    [[ -f $f ]] || continue
    case "${pair%%:*}" in
      ca) [[ -n $CA ]] || CA=$f ;;
      cert) [[ -n $CERT ]] || CERT=$f ;;
      key) [[ -n $KEY ]] || KEY=$f ;;
    esac
  done
fi

# The same rules as daemon/config/schema.ts, checked here so a typo fails before anything is written.
ID_RE='^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
[[ $DEVICE_ID =~ $ID_RE ]] || die_usage "--device-id: expected 1-64 letters, digits, '.', '_' or '-' (got '$DEVICE_ID')"
[[ $SITE =~ $ID_RE ]] || die_usage "--site: expected 1-64 letters, digits, '.', '_' or '-' (got '$SITE')"
[[ $HUB =~ ^(mqtts?|wss?)://[^[:space:]]+$ ]] || die_usage "--hub: expected an mqtt://, mqtts://, ws:// or wss:// URL (got '$HUB')"
if [[ -n $CERT || -n $KEY ]] && [[ -z $CERT || -z $KEY ]]; then die_usage "--cert and --key: give both or neither"; fi
for f in "$CA" "$CERT" "$KEY"; do
  [[ -z $f || -r $f ]] || die_usage "cannot read $f"
done
[[ -d $ROOT ]] || die_usage "--root: no such directory: $ROOT"
[[ -z $CONSOLE_ADMIN || $CONSOLE_ADMIN =~ ^[A-Za-z0-9][A-Za-z0-9_.@-]{0,31}$ ]] || die_usage "--console-admin: expected 1-32 letters, digits, '.', '_', '@' or '-' (got '$CONSOLE_ADMIN')"
[[ -z $CONSOLE_ADMIN_PASSWORD_FILE || -r $CONSOLE_ADMIN_PASSWORD_FILE ]] || die_usage "--console-admin-password-file: cannot read $CONSOLE_ADMIN_PASSWORD_FILE"
[[ $ALERT_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die_usage "--test-alert-timeout: expected a whole number of seconds (got '$ALERT_TIMEOUT')"

# The models list, checked whole before anything is written: "PATH SHA256 SOURCE" per line.
MODELS_BASE=""
: > "$WORK/models.list"
if [[ -n $MODELS_FILE ]]; then
  [[ -r $MODELS_FILE ]] || die_usage "--models: cannot read $MODELS_FILE"
  MODELS_BASE=$(cd "$(dirname "$MODELS_FILE")" && pwd)
  cat "$MODELS_FILE" >> "$WORK/models.list"
  echo >> "$WORK/models.list"
fi
for l in "${MODEL_LINES[@]}"; do printf '%s\n' "$l" >> "$WORK/models.list"; done
MODEL_COUNT=0
lineno=0
while read -r m_path m_sha m_src m_extra || [[ -n ${m_path-} ]]; do
  lineno=$((lineno + 1))
  [[ -n ${m_path-} && ${m_path:0:1} != "#" ]] || continue
  where="models line $lineno ('$m_path')"
  [[ -n ${m_src-} && -z ${m_extra-} ]] || die_usage "$where: expected 'PATH SHA256 SOURCE'"
  [[ $m_path =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$ && ! $m_path =~ (^|/)\.\.(/|$) ]] \
    || die_usage "$where: the path must be relative, inside the models dir, made of letters, digits, '.', '_', '-'"
  [[ $m_sha =~ ^[0-9a-f]{64}$ ]] || die_usage "$where: sha256 must be 64 lowercase hex digits"
  MODEL_COUNT=$((MODEL_COUNT + 1))
done < "$WORK/models.list"
[[ -f $UNIT_SRC ]] || { printf 'provision: %s missing: is this an installed Vigil tree?\n' "$UNIT_SRC" >&2; exit 1; }

ROOT=${ROOT%/}     # "/" becomes "", so "$ROOT/etc" is /etc on a device and <dir>/etc in a test
CHANGES=0
FAILED=0
CONFIG_CHANGED=0 UNIT_CHANGED=0 STARTED=0

say() { printf '  %s\n' "$*"; }
# Every change goes through here, so a dry run prints exactly what a real run would do.
change() {
  CHANGES=$((CHANGES + 1))
  if [[ $DRY_RUN -eq 1 ]]; then say "would $1"; else say "$1"; fi
}
act() { if [[ $DRY_RUN -eq 0 ]]; then "$@"; fi; }

# Ownership needs the real user database: in a temporary root or an unprivileged run, files keep
# the caller's owner and a note says so; the first boot on the device runs this again as root on /.
CHOWN=0
if [[ -z $ROOT && $(id -u) -eq 0 ]]; then CHOWN=1; fi

echo "provision: $DEVICE_ID at $SITE, hub $HUB${ROOT:+, root $ROOT}${BUNDLE:+, bundle $BUNDLE}"

if [[ $CHOWN -eq 1 ]]; then
  if getent group vigil >/dev/null && getent passwd vigil >/dev/null; then
    say "user vigil: present"
  else
    change "create system user and group vigil"
    act useradd --system --user-group --home-dir /var/lib/vigil --no-create-home --shell /usr/sbin/nologin vigil
  fi
else
  say "user vigil: not created (root is ${ROOT:-/}, uid $(id -u)); files keep the caller's owner"
fi

# ensure_dir PATH MODE OWNER:GROUP
ensure_dir() {
  local target="$ROOT$1" mode=$2 owner=$3
  if [[ -d $target ]]; then
    local now; now=$(stat -c '%a' "$target")
    if [[ $now != "${mode#0}" ]]; then change "chmod $mode $1 (was $now)"; act chmod "$mode" "$target"; fi
    if [[ $CHOWN -eq 1 && $(stat -c '%U:%G' "$target") != "$owner" ]]; then change "chown $owner $1"; act chown "$owner" "$target"; fi
  else
    if [[ $CHOWN -eq 1 ]]; then change "create $1 ($mode $owner)"; else change "create $1 ($mode)"; fi
    if [[ $CHOWN -eq 1 ]]; then act install -d -m "$mode" -o "${owner%%:*}" -g "${owner#*:}" "$target"
    else act install -d -m "$mode" "$target"; fi
  fi
}

# ensure_file SRC DEST MODE OWNER:GROUP SECRET — writes only when content, mode or owner differ.
# Returns 0 when it changed (or would change) something.
ensure_file() {
  local src=$1 dest=$2 mode=$3 owner=$4 secret=$5 target="$ROOT$2"
  if [[ -f $target ]] && cmp -s "$src" "$target"; then
    local changed=1
    if [[ $(stat -c '%a' "$target") != "${mode#0}" ]]; then change "chmod $mode $dest"; act chmod "$mode" "$target"; changed=0; fi
    if [[ $CHOWN -eq 1 && $(stat -c '%U:%G' "$target") != "$owner" ]]; then change "chown $owner $dest"; act chown "$owner" "$target"; changed=0; fi
    return $changed
  fi
  if [[ -f $target ]]; then
    change "update $dest ($mode)"
    # The key is never printed; everything else shows what changes.
    if [[ $secret -eq 0 ]]; then diff -u --label "$dest (now)" --label "$dest (new)" "$target" "$src" | sed 's/^/      /' || true; fi
  else
    change "write $dest ($mode)"
  fi
  if [[ $CHOWN -eq 1 ]]; then act install -m "$mode" -o "${owner%%:*}" -g "${owner#*:}" "$src" "$target"
  else act install -m "$mode" "$src" "$target"; fi
  return 0
}

# Live management (vigilctl streams/rules/config set) rewrites vigil.yaml, by a rename in its folder.
# So the daemon's group may write /etc/vigil, whose sticky bit keeps it from removing or replacing
# any file it does not own: the certificates and the key stay root's; vigil.yaml is the daemon's.
# systemd's ProtectSystem=strict still hides the folder until the drop-in below opens it.
if [[ $READ_ONLY_CONFIG -eq 1 ]]; then
  ensure_dir /etc/vigil 0755 root:root
  CONFIG_OWNER=root:vigil
else
  ensure_dir /etc/vigil 1775 root:vigil
  CONFIG_OWNER=vigil:vigil
fi
ensure_dir /var/lib/vigil 0750 vigil:vigil
ensure_dir /etc/systemd/system 0755 root:root

# The web console's first admin, when asked: vigilctl writes console-users.json (0600, given to the
# state directory's owner) and never prints the password. An existing account is left as it is.
if [[ -n $CONSOLE_ADMIN ]]; then
  console_users=("$NODE" "$APP_DIR/dist/cli/main.js" console users --state-dir "$ROOT/var/lib/vigil" --json)
  if [[ -f $ROOT/var/lib/vigil/console-users.json ]] && "${console_users[@]}" | grep -q "\"name\":\"$CONSOLE_ADMIN\""; then
    say "console admin $CONSOLE_ADMIN: present"
  else
    change "create console admin $CONSOLE_ADMIN"
    if [[ $DRY_RUN -eq 0 ]]; then
      if [[ -n $CONSOLE_ADMIN_PASSWORD_FILE ]]; then pw_source=$CONSOLE_ADMIN_PASSWORD_FILE; else pw_source=/dev/stdin; fi
      "$NODE" "$APP_DIR/dist/cli/main.js" console adduser "$CONSOLE_ADMIN" --role admin --password-stdin --state-dir "$ROOT/var/lib/vigil" \
        < "$pw_source" | sed 's/^/  /' || { echo "provision: cannot create console admin $CONSOLE_ADMIN" >&2; exit 1; }
    fi
  fi
fi

# Certificates first: the config names them, so a config never points at a file not yet there.
TLS_CA="" TLS_CERT="" TLS_KEY=""
if [[ -n $CA ]] && ensure_file "$CA" /etc/vigil/ca.pem 0640 root:vigil 0; then CONFIG_CHANGED=1; fi
if [[ -n $CERT ]] && ensure_file "$CERT" /etc/vigil/device.pem 0640 root:vigil 0; then CONFIG_CHANGED=1; fi
if [[ -n $KEY ]] && ensure_file "$KEY" /etc/vigil/device.key 0640 root:vigil 1; then CONFIG_CHANGED=1; fi
[[ -z $CA ]] || TLS_CA=/etc/vigil/ca.pem
[[ -z $CERT ]] || TLS_CERT=/etc/vigil/device.pem
[[ -z $KEY ]] || TLS_KEY=/etc/vigil/device.key

# Models: before the daemon is (re)started, so that it starts with them.
MODELS_DIR=/var/lib/vigil/models
MODELS_SUMMARY="none listed (the config's models[] must name files already in $MODELS_DIR)"
MODELS_FAILED=0 MODELS_FETCHED=0 MODELS_OK=0
FAILED_MODELS=()
redact_url() { printf '%s' "$1" | sed -E 's#^([a-z]+://)[^/@]*@#\1***@#'; }
# fetch SOURCE OUT: an http(s) URL through node's fetch (node is there: the daemon needs it), or a copy.
fetch() {
  case "$1" in
    http://*|https://*)
      URL=$1 OUT=$2 TIMEOUT_S=${VIGIL_FETCH_TIMEOUT_S:-600} "$NODE" --input-type=module -e '
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
const e = process.env;
// fetch() refuses URLs with credentials: they travel as Basic authorization instead.
const url = new URL(e.URL);
const headers = {};
if (url.username || url.password) {
  headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
  url.username = ""; url.password = "";
}
const res = await fetch(url, { headers, signal: AbortSignal.timeout(Number(e.TIMEOUT_S) * 1000) });
if (!res.ok || res.body === null) { console.error(`HTTP ${res.status} ${res.statusText}`); process.exit(1); }
await pipeline(Readable.fromWeb(res.body), createWriteStream(e.OUT));
' 2>&1 | sed -E 's#[a-z]+://[^/@ ]*@#***@#g' | head -3
      return "${PIPESTATUS[0]}" ;;
    *://*) echo "unsupported scheme (http, https or a file path)"; return 1 ;;
    /*) cp "$1" "$2" ;;
    *) cp "$MODELS_BASE/$1" "$2" ;;
  esac
}
if [[ $MODEL_COUNT -gt 0 ]]; then
  ensure_dir "$MODELS_DIR" 0750 vigil:vigil
  n=0
  while read -r m_path m_sha m_src _ || [[ -n ${m_path-} ]]; do
    [[ -n ${m_path-} && ${m_path:0:1} != "#" ]] || continue
    n=$((n + 1))
    target="$ROOT$MODELS_DIR/$m_path"
    if [[ -f $target ]] && [[ $(sha256sum < "$target" | cut -d' ' -f1) == "$m_sha" ]]; then
      MODELS_OK=$((MODELS_OK + 1))
      say "model $m_path: present, sha256 verified"
      if [[ $(stat -c '%a' "$target") != 640 ]]; then change "chmod 0640 $MODELS_DIR/$m_path"; act chmod 0640 "$target"; fi
      if [[ $CHOWN -eq 1 && $(stat -c '%U:%G' "$target") != vigil:vigil ]]; then change "chown vigil:vigil $MODELS_DIR/$m_path"; act chown vigil:vigil "$target"; fi
      continue
    fi
    shown=$(redact_url "$m_src")
    verb=fetch
    [[ ! -f $target ]] || verb="replace (sha256 differs)"
    change "$verb $MODELS_DIR/$m_path from $shown (0640, sha256 ${m_sha:0:12}…)"
    [[ $DRY_RUN -eq 0 ]] || continue
    dl="$WORK/model-$n"
    if ! err=$(fetch "$m_src" "$dl" 2>&1); then
      say "FAIL model $m_path: cannot get $shown: ${err:-failed}"
      MODELS_FAILED=$((MODELS_FAILED + 1)) FAILED_MODELS+=("${m_path%%/*}")
      continue
    fi
    got=$(sha256sum < "$dl" | cut -d' ' -f1)
    if [[ $got != "$m_sha" ]]; then
      say "FAIL model $m_path: sha256 mismatch: expected $m_sha, got $got (from $shown); not installed"
      MODELS_FAILED=$((MODELS_FAILED + 1)) FAILED_MODELS+=("${m_path%%/*}")
      continue
    fi
    # Into place by rename, so the daemon never sees half a model.
    parent=$(dirname "$target")
    if [[ ! -d $parent ]]; then
      if [[ $CHOWN -eq 1 ]]; then install -d -m 0750 -o vigil -g vigil "$parent"; else install -d -m 0750 "$parent"; fi
    fi
    if [[ $CHOWN -eq 1 ]]; then install -m 0640 -o vigil -g vigil "$dl" "$target.part"; else install -m 0640 "$dl" "$target.part"; fi
    mv -f "$target.part" "$target"
    MODELS_FETCHED=$((MODELS_FETCHED + 1))
  done < "$WORK/models.list"
  if [[ $MODELS_FAILED -gt 0 ]]; then
    FAILED=1
    MODELS_SUMMARY="FAIL: $MODELS_FAILED of $MODEL_COUNT files not installed (see the FAIL lines above)"
  elif [[ $DRY_RUN -eq 1 ]]; then
    MODELS_SUMMARY="$MODEL_COUNT files listed, $MODELS_OK already verified"
  else
    MODELS_SUMMARY="$MODEL_COUNT files verified (sha256), $MODELS_FETCHED fetched"
  fi
  [[ $MODELS_FETCHED -eq 0 ]] || CONFIG_CHANGED=1
fi

# Which models the daemon loads is the config's models[]: each model whose files the list installed
# (the first folder of their paths names it) is added there, once, with its manifest: one the list
# installed (NAME/manifest.json) or the app's own (models/NAME.json). Entries already there are kept
# as they are, so an operator's choice of manifest survives re-provisioning.
MODELS_ADD=""
declare -A seen_model=()
while read -r m_path _ || [[ -n ${m_path-} ]]; do
  [[ -n ${m_path-} && ${m_path:0:1} != "#" ]] || continue
  name=${m_path%%/*}
  [[ $name != "$m_path" && -z ${seen_model[$name]-} ]] || continue
  seen_model[$name]=1
  if [[ " ${FAILED_MODELS[*]} " == *" $name "* ]]; then continue; fi
  if grep -Eq "^[[:space:]]*$name/manifest\.json[[:space:]]" "$WORK/models.list"; then manifest="$MODELS_DIR/$name/manifest.json"
  elif [[ -f $APP_DIR/models/$name.json ]]; then manifest="$APP_DIR/models/$name.json"
  else say "model $name: no manifest ($name/manifest.json in the list, or $APP_DIR/models/$name.json); not added to the config's models[]"; continue
  fi
  MODELS_ADD+="$name=$manifest"$'\n'
done < "$WORK/models.list"

# The config is edited with the app's own yaml library (the one the daemon parses it with), so that
# comments and every key we do not own survive. Values travel in the environment, never in the code.
CONFIG="$ROOT/etc/vigil/vigil.yaml"
existing=""
[[ ! -f $CONFIG ]] || existing=$CONFIG
render_rc=0
MODELS_ADD=$MODELS_ADD MODELS_DIR=$MODELS_DIR APP_DIR=$APP_DIR EXISTING=$existing DEVICE_ID=$DEVICE_ID SITE=$SITE HUB=$HUB TLS_CA=$TLS_CA TLS_CERT=$TLS_CERT TLS_KEY=$TLS_KEY FORCE=$FORCE \
  "$NODE" --input-type=module -e '
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const e = process.env;
const YAML = createRequire(`${e.APP_DIR}/package.json`)("yaml");
let doc = null;
if (e.EXISTING) {
  doc = YAML.parseDocument(readFileSync(e.EXISTING, "utf8"));
  if (doc.errors.length > 0 || (doc.contents !== null && !YAML.isMap(doc.contents))) {
    console.error(`provision: ${e.EXISTING} is not a YAML mapping: ${doc.errors[0]?.message ?? "wrong shape"}`);
    if (e.FORCE !== "1") process.exit(3);
    doc = null;
  } else if (doc.contents === null) doc = null;
}
if (doc === null) {
  doc = new YAML.Document({ device: {}, storage: { dir: "/var/lib/vigil" }, mqtt: {}, models_dir: "/var/lib/vigil/models",
    models: [], streams: [], rules: [] });
  doc.commentBefore = " Written by scripts/provision.sh. Re-provisioning sets device.id, device.site, mqtt.url and\n" +
    " mqtt.ca/cert/key only; streams, rules and models are yours to edit (see README \"Configuration\").";
}
doc.setIn(["device", "id"], e.DEVICE_ID);
doc.setIn(["device", "site"], e.SITE);
doc.setIn(["mqtt", "url"], e.HUB);
for (const [k, v] of [["ca", e.TLS_CA], ["cert", e.TLS_CERT], ["key", e.TLS_KEY]]) if (v) doc.setIn(["mqtt", k], v);
const adds = e.MODELS_ADD.split("\n").filter((l) => l !== "").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
if (adds.length > 0) {
  // The manifests name their files relative to the models dir the list installed into.
  const dir = doc.get("models_dir");
  if (dir === undefined) doc.set("models_dir", e.MODELS_DIR);
  else if (dir !== e.MODELS_DIR) console.error(`provision: note: models_dir is ${dir}, the listed files went to ${e.MODELS_DIR}`);
  let seq = doc.get("models", true);
  if (!YAML.isSeq(seq)) { doc.set("models", doc.createNode([])); seq = doc.get("models", true); }
  if (seq.items.length === 0) seq.flow = false;
  const has = (name) => seq.items.some((it) => YAML.isMap(it) && it.get("name") === name);
  for (const [name, manifest] of adds) if (!has(name)) seq.add(doc.createNode({ name, manifest }));
}
process.stdout.write(String(doc));
' > "$WORK/vigil.yaml" || render_rc=$?
if [[ $render_rc -eq 3 ]]; then
  echo "provision: FAIL — refusing to replace $CONFIG without --force"
  exit 1
elif [[ $render_rc -ne 0 ]]; then
  echo "provision: FAIL — could not render the config (node and $APP_DIR/node_modules/yaml needed)"
  exit 1
fi
if [[ -n $existing && $FORCE -eq 1 ]] && ! cmp -s "$existing" "$WORK/vigil.yaml" && [[ ! -f $CONFIG.bak ]]; then
  change "keep the old config as /etc/vigil/vigil.yaml.bak"
  act cp -p "$CONFIG" "$CONFIG.bak"
fi
if ensure_file "$WORK/vigil.yaml" /etc/vigil/vigil.yaml 0640 "$CONFIG_OWNER" 0; then CONFIG_CHANGED=1; fi

if ensure_file "$UNIT_SRC" /etc/systemd/system/vigild.service 0644 root:root 0; then UNIT_CHANGED=1; fi
DROPIN=/etc/systemd/system/vigild.service.d/live-config.conf
if [[ $READ_ONLY_CONFIG -eq 1 ]]; then
  if [[ -f $ROOT$DROPIN ]]; then change "remove $DROPIN (--read-only-config)"; act rm -f "$ROOT$DROPIN"; UNIT_CHANGED=1; fi
else
  cat > "$WORK/live-config.conf" <<'DROPIN_EOF'
# Written by scripts/provision.sh: lets vigild rewrite /etc/vigil/vigil.yaml for live management
# (vigilctl streams/rules/config set). /etc/vigil is root:vigil 1775, so the certificates and the
# key there stay root's. Re-provision with --read-only-config to remove this.
[Service]
ReadWritePaths=/etc/vigil
# The mode provisioning gives the folder; without this systemd warns that it differs from the unit's.
ConfigurationDirectoryMode=1775
DROPIN_EOF
  ensure_dir /etc/systemd/system/vigild.service.d 0755 root:root
  if ensure_file "$WORK/live-config.conf" "$DROPIN" 0644 root:root 0; then UNIT_CHANGED=1; fi
fi

# The TensorRT engine cache, built now rather than at the first start on site (minutes per model on
# an Orin): the daemon's own loader, with the config's providers, writing under the state dir.
PREPARE="skipped (--no-prepare-models)"
if [[ $NO_PREPARE -eq 0 && $DRY_RUN -eq 1 ]]; then
  PREPARE="not run in a dry run"
elif [[ $NO_PREPARE -eq 0 && $MODELS_FAILED -gt 0 ]]; then
  PREPARE="not run: models are missing"
elif [[ $NO_PREPARE -eq 0 ]]; then
  echo "vigild --prepare-models:"
  prep_args=(--config "$CONFIG" --prepare-models)
  # In a temporary root the config's device paths do not exist here: point the loader into the root.
  [[ -z $ROOT ]] || prep_args+=(--state-dir "$ROOT/var/lib/vigil" --models-dir "$ROOT$MODELS_DIR")
  if prep_out=$("$NODE" "$APP_DIR/dist/daemon/launcher.cjs" "${prep_args[@]}" 2>"$WORK/prepare.err"); then
    PREPARE="$(printf '%s\n' "$prep_out" | tail -1 | sed 's/^prepare-models: //')"
  else
    PREPARE="FAIL: $(printf '%s\n' "$prep_out" | tail -1 | sed 's/^prepare-models: //')"
    FAILED=1
  fi
  printf '%s\n' "$prep_out" | sed 's/^/  /'
  # The engines were built as root; the daemon runs as vigil and must be able to replace them.
  if [[ $CHOWN -eq 1 && -d /var/lib/vigil/tensorrt ]]; then chown -R vigil:vigil /var/lib/vigil/tensorrt; fi
fi

if [[ $NO_SYSTEMCTL -eq 1 ]]; then
  say "systemctl: skipped (--no-systemctl)"
elif [[ -n $ROOT ]]; then
  say "systemctl: skipped (root is $ROOT, not this system)"
elif [[ ! -d /run/systemd/system ]]; then
  say "systemctl: skipped (systemd is not running here); enable vigild yourself"
else
  if [[ $UNIT_CHANGED -eq 1 ]]; then change "systemctl daemon-reload"; act systemctl daemon-reload; fi
  if ! systemctl is-enabled --quiet vigild || ! systemctl is-active --quiet vigild; then
    change "systemctl enable --now vigild"
    act systemctl enable --now vigild || FAILED=1
    STARTED=1
  elif [[ $CONFIG_CHANGED -eq 1 || $UNIT_CHANGED -eq 1 ]]; then
    change "systemctl restart vigild (config or unit changed)"
    act systemctl restart vigild || FAILED=1
    STARTED=1
  else
    say "vigild: enabled and running"
  fi
fi

DOCTOR="skipped (--no-doctor)"
if [[ $NO_DOCTOR -eq 0 && $DRY_RUN -eq 1 ]]; then
  DOCTOR="not run in a dry run"
elif [[ $NO_DOCTOR -eq 0 ]]; then
  echo "vigilctl doctor:"
  doctor_args=(doctor --config "$CONFIG")
  # In a root being prepared, the certificates, state and models are under it.
  [[ -z $ROOT ]] || doctor_args+=(--root "$ROOT")
  if "$NODE" "$APP_DIR/dist/cli/main.js" "${doctor_args[@]}" | sed 's/^/  /'; then
    DOCTOR="healthy"
  else
    DOCTOR="UNHEALTHY (see the FAIL lines above)"
    FAILED=1
  fi
fi

# A test alert through the running daemon: PUBACK proves the broker has it, the hub's ack that a hub
# application consumes the device's alerts. A missing ack is a WARN: the device is fine, the hub is not.
ALERT="skipped (--no-test-alert)"
ALERT_SOCKET=${SOCKET:-${VIGIL_SOCKET:-/run/vigil/vigild.sock}}
if [[ $NO_TEST_ALERT -eq 1 ]]; then :
elif [[ $DRY_RUN -eq 1 ]]; then ALERT="not run in a dry run"
elif [[ -n $ROOT && -z $SOCKET ]]; then ALERT="skipped (root is $ROOT: no daemon of this system to ask; --socket to use one)"
else
  echo "vigilctl test-alert:"
  # Started or restarted a moment ago: give it time to load its models and open its socket.
  if [[ $STARTED -eq 1 ]]; then
    waited=0
    until "$NODE" "$APP_DIR/dist/cli/main.js" status --socket "$ALERT_SOCKET" --json >/dev/null 2>&1 || [[ $waited -ge 60 ]]; do
      sleep 1; waited=$((waited + 1))
    done
  fi
  alert_out=$("$NODE" "$APP_DIR/dist/cli/main.js" test-alert --socket "$ALERT_SOCKET" --timeout "$ALERT_TIMEOUT" 2>&1) || true
  printf '%s\n' "$alert_out" | sed 's/^/  /'
  case "$(printf '%s\n' "$alert_out" | sed -n 's/^test-alert: //p' | tail -1)" in
    PASS) ALERT="PASS: the broker and the hub acknowledged it" ;;
    WARN) ALERT="WARN: the broker acknowledged it, the hub did not within ${ALERT_TIMEOUT} s (is the hub application consuming?)" ;;
    FAIL) ALERT="FAIL: the alert did not reach the broker"; FAILED=1 ;;
    *) ALERT="FAIL: vigild did not answer on $ALERT_SOCKET"; FAILED=1 ;;
  esac
fi

if [[ $DRY_RUN -eq 1 ]]; then verdict="DRY RUN"; elif [[ $FAILED -eq 1 ]]; then verdict="FAIL"; else verdict="PASS"; fi
if [[ $CHANGES -eq 0 ]]; then changes="nothing changed (already provisioned)"
elif [[ $DRY_RUN -eq 1 ]]; then changes="$CHANGES changes would be made; nothing was written"
else changes="$CHANGES changes made"; fi
echo
echo "provision: $verdict"
say "device   $SITE/$DEVICE_ID → $HUB"
say "changes  $changes"
say "models   $MODELS_SUMMARY"
say "engines  $PREPARE"
say "doctor   $DOCTOR"
say "alert    $ALERT"
[[ $FAILED -eq 0 ]]
