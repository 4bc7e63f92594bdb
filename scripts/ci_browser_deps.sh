#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/test_browser.py) if it is missing.
# Idempotent: a quick no-op when /usr/bin/chromium is already there. Needs root (CI runs as root).
# Playwright drives this binary via executable_path; it never downloads a browser of its own.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium
/usr/bin/chromium --version
