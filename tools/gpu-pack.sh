#!/usr/bin/env bash
# Packs what tools/gpu-chain.sh needs on a Linux x86-64 GPU machine that has a driver but neither
# Node.js nor a package registry (a borrowed cloud GPU): the node binary, the built library (dist/),
# webgpu's dawn.node, the Vulkan loader and the Fashion-MNIST files. xz keeps the whole under the
# 64 MiB such a transfer allowed here (about 59 MB: node 24, the training images 23, dawn.node 5).
#   bash tools/gpu-pack.sh [DIR]      (default .gpu-pack; add it to .git/info/exclude)
# Then, on the GPU machine, in a copy of this repository with DIR beside the sources:
#   bash tools/gpu-chain.sh --pack DIR
set -euo pipefail
cd "$(dirname "$0")/.."
PACK="${1:-.gpu-pack}"
FMNIST="${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}"
[ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || { echo "gpu-pack: run npm ci first (no node_modules/webgpu)" >&2; exit 1; }
npm run build --silent   # dist/ from these sources, never an older build
rm -rf "$PACK" && mkdir -p "$PACK/webgpu" "$PACK/fmnist" "$PACK/gl"
xz -T0 -6 -c "$(command -v node)" > "$PACK/node.xz"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$PACK/webgpu/"
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$PACK/dawn.node.xz"
tar cJf "$PACK/dist.tar.xz" dist
# The training images as xz (23 MB against gzip's 26); the small files as they are.
zcat "$FMNIST/train-images-idx3-ubyte.gz" | xz -T0 -9 > "$PACK/fmnist/train-images-idx3-ubyte.xz"
cp "$FMNIST"/train-labels-idx1-ubyte.gz "$FMNIST"/t10k-images-idx3-ubyte.gz "$FMNIST"/t10k-labels-idx1-ubyte.gz "$PACK/fmnist/"
# The Vulkan loader (the GPU image may lack libvulkan.so.1; the driver brings its own ICD).
if command -v apt-get >/dev/null; then
  (cd "$PACK/gl" && apt-get download libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2 >/dev/null 2>&1) ||
    echo "gpu-pack: could not download the Vulkan loader packages; the GPU machine must have libvulkan1" >&2
fi
du -sb "$PACK" | awk '{ printf "gpu-pack: %s, %.1f MB\n", $2, $1 / 1e6 }'
