#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite needs, only when something is missing.
set -euo pipefail

packages=(postgresql redis-server redis-tools softhsm2 poppler-utils qpdf chromium fonts-noto-cjk fonts-wqy-zenhei openssl pngcheck npm)
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
have redis-server || missing+=(redis-server redis-tools)
{ have softhsm2-util && [ -e /usr/lib/softhsm/libsofthsm2.so ]; } || missing+=(softhsm2)
have pdfsig || missing+=(poppler-utils)
have qpdf || missing+=(qpdf)
have chromium || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing+=(fonts-noto-cjk)
fc-list 2>/dev/null | grep -qi "wenquanyi zen hei" || missing+=(fonts-wqy-zenhei)  # TrueType CJK: embeddable subsets
have openssl || missing+=(openssl)
have pngcheck || missing+=(pngcheck)
have npm || missing+=(npm)  # test-only: ofd.js for the browser check of sealed OFDs

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "system packages missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root, or install them: sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
