#!/usr/bin/env bash
# Sets up Vigil on a fresh Debian 12 machine with Node 20: system packages, npm dependencies, build.
# Safe to run again: apt and npm ci converge on the same state.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # GStreamer runtime: decode (libav), RTSP (good), H.265/openh264 (bad), x264 for test clips (ugly)
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
  # headers gstreamer-superficial and the isolated streams' host (daemon/video/child/) compile against
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config
  # the broker the tests run, and the hub runs in small deployments
  mosquitto
  # the RTSP test server (GstRtspServer through Python's GObject bindings)
  python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0
  # systemd-analyze, which checks the unit file in the tests
  systemd
  # native addon toolchain (and the slow-fsync test's LD_PRELOAD shim)
  build-essential python3
  # the storage-fault tests make ext4 images on loop devices (mkfs.ext4, losetup, mount)
  e2fsprogs util-linux mount
  # the console's browser tests drive Debian's Chromium through playwright-core
  chromium
  # the pair tests put each device in a network namespace of its own (ip netns, veth pairs)
  iproute2
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node's install script fetches CUDA libraries from the internet; CPU builds need none.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build
echo "vigil: set up. Try: npx vigild --demo"
