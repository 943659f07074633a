#!/usr/bin/env bash
# prepare-rootfs.sh — installs Vigil into an extracted L4T root filesystem before flashing, so a
# device comes off the bench ready and provisions itself at first boot (vigil-firstboot.service).
#
#   cd Linux_for_Tegra && sudo ./apply_binaries.sh
#   sudo /path/to/vigil/scripts/prepare-rootfs.sh --rootfs rootfs --bundle cam-017.tar
#   sudo ./tools/kernel_flash/l4t_initrd_flash.sh ... (NVIDIA's flashing, unchanged)
#
# The app must already be built for arm64 (dist/ and node_modules/ with aarch64 native addons, e.g.
# copied out of jetson.Dockerfile's build stage); a host x86-64 node_modules is reported, not copied
# silently. Units are enabled with symlinks, as `systemctl enable` would make them: there is no
# systemd to ask inside an unbooted rootfs.
#
# Exit codes: 0 done (WARN lines are things to fix in the rootfs before flashing), 1 error, 2 usage.
set -euo pipefail

APP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOTFS="" BUNDLE=""

usage() { echo "usage: prepare-rootfs.sh --rootfs DIR [--app DIR] [--bundle FILE.tar]"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rootfs) ROOTFS=${2-}; shift 2 ;;
    --app) APP_DIR=${2-}; shift 2 ;;
    --bundle) BUNDLE=${2-}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "prepare-rootfs: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n $ROOTFS ]] || { usage >&2; exit 2; }
[[ -d $ROOTFS/etc ]] || { echo "prepare-rootfs: $ROOTFS has no etc/: not a root filesystem" >&2; exit 2; }
[[ -z $BUNDLE || -f $BUNDLE ]] || { echo "prepare-rootfs: bundle not found: $BUNDLE" >&2; exit 2; }
for need in dist/daemon/launcher.cjs dist/cli/main.js node_modules package.json models scripts/provision.sh \
  systemd/vigild.service systemd/vigil-firstboot.service; do
  [[ -e $APP_DIR/$need ]] || { echo "prepare-rootfs: $APP_DIR/$need missing: build the app first (npm run build)" >&2; exit 1; }
done
ROOTFS=$(cd "$ROOTFS" && pwd)

WARNINGS=0
warn() { WARNINGS=$((WARNINGS + 1)); echo "WARN  $*"; }
ok() { echo "OK    $*"; }

# ELF e_machine (bytes 18-19, little-endian): 183 is AArch64. An addon built on the x86-64 host
# would make vigild fail at its first require on the Jetson, long after flashing.
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
# Only what Node loads: each addon's build/Release output, and onnxruntime-node's linux/arm64 binding
# (its package also carries darwin, win32 and x64 builds that never load on a Jetson).
mapfile -t addons < <(find "$APP_DIR/node_modules" -path '*/build/Release/*.node' -not -path '*/obj.target/*' \
  -not -name 'test_extension.node' -type f 2>/dev/null | sort)
foreign=""
for a in "${addons[@]}"; do
  [[ $(elf_machine "$a") == 183 ]] || foreign+=" ${a#"$APP_DIR"/}"
done
ORT_BINDING="$APP_DIR/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node"
if [[ ! -f $ORT_BINDING ]]; then
  warn "no onnxruntime-node binding for linux/arm64 (${ORT_BINDING#"$APP_DIR"/}): copy jetson.Dockerfile's TensorRT build there"
elif [[ $(elf_machine "$ORT_BINDING") != 183 ]]; then
  foreign+=" ${ORT_BINDING#"$APP_DIR"/}"
fi
if [[ -n $foreign ]]; then
  warn "native addons not built for aarch64:$foreign (build the app for arm64, e.g. in jetson.Dockerfile's app stage)"
else
  ok "native addons are aarch64"
fi

# The unit runs /usr/bin/node; L4T's Ubuntu has no Node 20 until one is installed into the rootfs.
if [[ -x $ROOTFS/usr/bin/node || -L $ROOTFS/usr/bin/node ]]; then ok "usr/bin/node present"
else warn "usr/bin/node missing: install Node 20 into the rootfs (NodeSource arm64 .deb) before flashing"; fi

# Replaced as a whole, so files of an older version never linger next to the new ones.
OPT="$ROOTFS/opt/vigil"
rm -rf "$OPT"
install -d -m 0755 "$OPT" "$OPT/scripts" "$OPT/systemd"
cp -a "$APP_DIR/dist" "$APP_DIR/node_modules" "$APP_DIR/models" "$APP_DIR/package.json" "$OPT/"
[[ ! -f $APP_DIR/README.md ]] || cp "$APP_DIR/README.md" "$OPT/"
install -m 0755 "$APP_DIR/scripts/provision.sh" "$OPT/scripts/provision.sh"
install -m 0644 "$APP_DIR/systemd/vigild.service" "$APP_DIR/systemd/vigil-firstboot.service" "$OPT/systemd/"
ok "app copied to /opt/vigil"

install -d -m 0755 "$ROOTFS/etc/systemd/system/multi-user.target.wants"
for unit in vigild.service vigil-firstboot.service; do
  install -m 0644 "$APP_DIR/systemd/$unit" "$ROOTFS/etc/systemd/system/$unit"
  # Absolute target, as on the booted device: the link is read there, not here.
  ln -sfn "/etc/systemd/system/$unit" "$ROOTFS/etc/systemd/system/multi-user.target.wants/$unit"
done
ok "vigild.service and vigil-firstboot.service installed and enabled"

# A technician's USB stick labelled VIGIL-BUNDLE; nofail, so a device without one boots normally.
FSTAB_LINE='LABEL=VIGIL-BUNDLE /media/vigil-bundle auto ro,nofail,x-systemd.device-timeout=10s 0 0'
touch "$ROOTFS/etc/fstab"
if grep -qF "$FSTAB_LINE" "$ROOTFS/etc/fstab"; then ok "fstab: USB bundle mount present"
else echo "$FSTAB_LINE" >> "$ROOTFS/etc/fstab"; ok "fstab: USB bundle mount added (/media/vigil-bundle)"; fi

if [[ -n $BUNDLE ]]; then
  install -d -m 0755 "$ROOTFS/etc/vigil"
  # It holds the device key until first boot installs it and removes this copy.
  install -m 0600 "$BUNDLE" "$ROOTFS/etc/vigil/bundle.tar"
  ok "bundle written to /etc/vigil/bundle.tar (provisions at first boot)"
else
  echo "NOTE  no --bundle: the device provisions from a USB stick labelled VIGIL-BUNDLE, or by hand"
fi

echo
if [[ $WARNINGS -gt 0 ]]; then echo "prepare-rootfs: done with $WARNINGS WARN (fix before flashing)"
else echo "prepare-rootfs: done"; fi
