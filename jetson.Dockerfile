# syntax=docker/dockerfile:1
# jetson.Dockerfile — SKELETON from the foundation issue; the appliance issue fills it in.
# It is not built in CI (no Docker engine, no Jetson). Plan, grounded in NVIDIA's and onnxruntime's docs:
#   stage 1 (ort-build): FROM nvcr.io/nvidia/l4t-jetpack:r36.x (JetPack 6), build onnxruntime from
#     source with --use_tensorrt --use_cuda --build_nodejs against the image's CUDA/cuDNN/TensorRT.
#   stage 2 (app-build): npm ci with ONNXRUNTIME_NODE_INSTALL=skip, rebuild better-sqlite3 and
#     gstreamer-superficial for arm64, replace node_modules/onnxruntime-node's binding with stage 1's.
#   stage 3 (runtime): l4t base + GStreamer + NVIDIA's nvv4l2decoder/nvvidconv plugins, non-root user,
#     volumes /var/lib/vigil and /etc/vigil, HEALTHCHECK via vigilctl status.
ARG L4T_TAG=r36.2.0
FROM nvcr.io/nvidia/l4t-jetpack:${L4T_TAG} AS runtime
RUN echo "jetson.Dockerfile is a skeleton: see the appliance issue" && exit 1
