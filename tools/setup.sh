#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine for eed-webgpu and installs the npm dependencies.
# Idempotent: every step checks first and does nothing when it is already done.
#   - a Vulkan driver that Dawn accepts (software lavapipe when there is no GPU driver);
#   - the Fashion-MNIST dataset package (the default dataset);
#   - Debian's chromium, which the browser test drives headless;
#   - npm ci (which also compiles the TypeScript through the `prepare` script).
# Ends by printing the WebGPU adapter in use (`eed doctor`).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
have_apt() { command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_update_once() { if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi; }

# Dawn needs Vulkan with dynamic array indexing; Mesa >= 24's lavapipe has it, Debian 12's Mesa 22 does not.
mesa_major() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/' || true; }

if have_apt; then
  . /etc/os-release
  major="$(mesa_major)"
  if [ -z "$major" ] || [ "$major" -lt 24 ]; then
    if [ "${ID:-}" = "debian" ] && [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
      if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "setup: adding the bookworm-backports source (Mesa >= 24 for a Vulkan adapter Dawn accepts)"
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
          | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
      fi
      apt_update_once
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1
    else
      apt_update_once
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1
    fi
  fi
  if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist || \
      echo "setup: dataset-fashion-mnist is not available; pass --data to the CLI"
  fi
  # Headless Chromium for the browser test (test/web/browser.test.ts): the distribution's package,
  # never a downloaded browser. Ubuntu's chromium is a snap stub, so only Debian must succeed.
  if [ ! -x /usr/bin/chromium ]; then
    apt_update_once
    if [ "${ID:-}" = "debian" ]; then
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
    else
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium || \
        echo "setup: chromium is not available; the browser test will be skipped"
    fi
  fi
else
  echo "setup: no apt-get here; install a Vulkan driver (Mesa >= 24 lavapipe or a GPU driver) yourself"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund   # also compiles (the `prepare` script)
else
  npm run build --silent        # sources may be newer than dist/
fi

node bin/eed.js doctor --short
