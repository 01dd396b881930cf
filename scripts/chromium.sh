#!/usr/bin/env bash
# Installs Debian's chromium (for the browser tests) when it is missing; prints its path.
# Playwright drives it through executable_path: Playwright's own browser download is not used.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ]; then
    echo "chromium is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
  echo "installing chromium from Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
command -v chromium
