# syntax=docker/dockerfile:1
# jetson.Dockerfile — Vigil for NVIDIA Jetson (AGX Orin, JetPack 6 / L4T r36), with onnxruntime's
# TensorRT and CUDA providers built from source against the image's JetPack.
#
# Build ON the Jetson (or an arm64 builder with the L4T base; emulated builds of onnxruntime take
# many hours), from the repository root:
#
#   docker build -f jetson.Dockerfile -t vigil:jetson .
#   docker build -f jetson.Dockerfile --build-arg L4T_TAG=r36.4.0 --build-arg ORT_VERSION=1.30.0 -t vigil:jetson .
#
# Run with NVIDIA's container runtime (GPU, NVDEC and VIC nodes come from the host through it):
#
#   docker run -d --name vigild --runtime nvidia --restart unless-stopped --network host \
#     -v /etc/vigil:/etc/vigil:ro -v vigil-state:/var/lib/vigil vigil:jetson
#   docker exec vigild vigilctl status
#   docker exec vigild vigilctl doctor
#
# Nothing here has been built (no Docker engine, no Jetson where it was written); every step follows
# how NVIDIA's L4T images and onnxruntime's build.sh are documented to work, and
# test/provision/dockerfile.test.ts lints what can be checked without building.
#
# Pins, changed together:
#   L4T_TAG      JetPack 6 base (r36.x: CUDA 12.x, cuDNN 9, TensorRT 10) — must match the device's L4T
#                major release, since the container uses the host's GPU driver.
#   ORT_VERSION  must equal onnxruntime-node's version in package-lock.json: the npm package's
#                JavaScript and the native binding built here are one release.
#   NODE_VERSION Node 20 (better-sqlite3 12.x; 13.x needs Node 22).
ARG L4T_TAG=r36.4.0
ARG ORT_VERSION=1.30.0
ARG NODE_VERSION=20.18.1

# ---------------------------------------------------------------------------------------------
# Node 20 from nodejs.org's arm64 tarball, checked against its published SHA256SUMS; Ubuntu 22.04
# (the r36 base) ships Node 12.
FROM nvcr.io/nvidia/l4t-jetpack:${L4T_TAG} AS node
ARG NODE_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl xz-utils \
 && rm -rf /var/lib/apt/lists/*
RUN set -eux; \
    cd /tmp; \
    curl -fsSLO "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-arm64.tar.xz"; \
    curl -fsSLO "https://nodejs.org/dist/v${NODE_VERSION}/SHASUMS256.txt"; \
    grep " node-v${NODE_VERSION}-linux-arm64.tar.xz\$" SHASUMS256.txt | sha256sum -c -; \
    tar -xJf "node-v${NODE_VERSION}-linux-arm64.tar.xz" -C /usr/local --strip-components=1 --no-same-owner; \
    rm -f node-v*.tar.xz SHASUMS256.txt; \
    node --version

# ---------------------------------------------------------------------------------------------
# Stage 1: onnxruntime with the TensorRT and CUDA execution providers and its Node binding. The npm
# package's Linux arm64 binary is CPU only.
FROM node AS ort-build
ARG ORT_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends git build-essential python3 python3-pip python3-dev \
 && rm -rf /var/lib/apt/lists/*
# onnxruntime needs a newer CMake than Ubuntu 22.04's 3.22.
RUN python3 -m pip install --no-cache-dir "cmake>=3.28,<4"
RUN git clone --depth 1 --branch "v${ORT_VERSION}" --recursive https://github.com/microsoft/onnxruntime /src/onnxruntime
WORKDIR /src/onnxruntime
# JetPack puts cuDNN and TensorRT in the multiarch library directory, not under /usr/local.
# CMAKE_CUDA_ARCHITECTURES=87 is the Orin's GPU (sm_87): one architecture keeps the build hours
# shorter, and a build without it has no kernel image for the device. --build_shared_lib: the Node
# binding links libonnxruntime.so and loads the provider libraries beside it.
RUN ./build.sh --config Release --update --build \
      --use_tensorrt --use_cuda \
      --cuda_home /usr/local/cuda \
      --cudnn_home /usr/lib/aarch64-linux-gnu \
      --tensorrt_home /usr/lib/aarch64-linux-gnu \
      --build_shared_lib --build_nodejs \
      --parallel --skip_tests --allow_running_as_root \
      --cmake_extra_defines CMAKE_CUDA_ARCHITECTURES=87 onnxruntime_BUILD_UNIT_TESTS=OFF
# One directory with everything onnxruntime-node loads: the binding, libonnxruntime, and the
# provider libraries that daemon/inference/session.ts (missingProviderLibrary) looks for beside it.
RUN set -eux; \
    out=/out/napi-v6/linux/arm64; mkdir -p "$out"; \
    cp -a js/node/bin/napi-v6/linux/arm64/. "$out/"; \
    cp -a build/Linux/Release/libonnxruntime_providers_shared.so \
          build/Linux/Release/libonnxruntime_providers_cuda.so \
          build/Linux/Release/libonnxruntime_providers_tensorrt.so "$out/"; \
    ls -l "$out"

# ---------------------------------------------------------------------------------------------
# Stage 2: the app. npm ci compiles better-sqlite3, gstreamer-superficial and unix-dgram for arm64
# against this image's headers (and npm run build the isolated streams' host, daemon/video/child/); onnxruntime-node's install script is told to fetch nothing (its
# download is x86-64 CUDA), and its binding is replaced by stage 1's.
FROM node AS app-build
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 pkg-config \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vigil
COPY package.json package-lock.json .npmrc ./
# npm ci's postinstall applies these to dependencies (patch-package) and rebuilds what they touch.
COPY scripts/patches ./scripts/patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY daemon ./daemon
COPY cli ./cli
COPY scripts ./scripts
COPY test ./test
COPY models ./models
COPY systemd ./systemd
COPY README.md ./
RUN npm run build && npm prune --omit=dev
RUN rm -rf node_modules/onnxruntime-node/bin/napi-v6/linux/arm64
COPY --from=ort-build /out/napi-v6/linux/arm64 node_modules/onnxruntime-node/bin/napi-v6/linux/arm64

# ---------------------------------------------------------------------------------------------
# Stage 3: runtime. The L4T JetPack base carries CUDA, cuDNN and TensorRT, and NVIDIA's GStreamer
# elements (nvv4l2decoder, nvvidconv); NVIDIA's container runtime maps the host's GPU driver and the
# NVDEC/VIC device nodes in. Debian-style GStreamer packages supply parsing, RTSP and the software
# fallback decoders.
FROM node AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
      gstreamer1.0-plugins-bad gstreamer1.0-libav \
 && rm -rf /var/lib/apt/lists/*
# The same user as vigild.service; "video" owns the GPU and V4L2 nodes on L4T.
RUN groupadd --system vigil \
 && useradd --system --gid vigil --groups video --home-dir /var/lib/vigil --no-create-home --shell /usr/sbin/nologin vigil \
 && install -d -o vigil -g vigil -m 0750 /var/lib/vigil /var/cache/vigil /run/vigil \
 && install -d -m 0755 /etc/vigil
COPY --from=app-build /opt/vigil /opt/vigil
RUN ln -s /opt/vigil/dist/cli/main.js /usr/local/bin/vigilctl \
 && ln -s /opt/vigil/dist/daemon/launcher.cjs /usr/local/bin/vigild
ENV NODE_ENV=production \
    VIGIL_STATE_DIR=/var/lib/vigil \
    VIGIL_SOCKET=/run/vigil/vigild.sock \
    XDG_CACHE_HOME=/var/cache/vigil
# Config and certificates come from the host (read-only); events, models and the TensorRT engine
# cache must outlive the container.
VOLUME ["/var/lib/vigil", "/etc/vigil"]
USER vigil
# Healthy while the daemon answers on its control socket; the start period covers a first TensorRT
# engine build, which takes minutes on an Orin.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
  CMD ["vigilctl", "status", "--socket", "/run/vigil/vigild.sock"]
ENTRYPOINT ["vigild"]
CMD ["--config", "/etc/vigil/vigil.yaml"]
