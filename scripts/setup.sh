#!/usr/bin/env bash
# Set up flipchart-ocr on this machine: Tesseract with German data, a virtualenv, the package.
#   scripts/setup.sh          what running the tool needs
#   scripts/setup.sh --dev    also what the tests, benchmarks and sample generator need
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

# wngerman, wbritish, wamerican: the word lists (--lang deu, eng) doubtful words may be steered towards
system_packages=(tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng wngerman wbritish wamerican)
if [ "$dev" = 1 ]; then
  # handwriting fonts for the sample generator; Chromium for the review app's browser tests
  # and, with poppler-utils' pdftotext, for checking the printed HTML protocol
  system_packages+=(fonts-dejavu-core fonts-dkg-handwriting fonts-bwht fonts-humor-sans fonts-breip
                    fonts-femkeklaver fonts-rufscript fonts-sjfonts chromium chromium-driver
                    poppler-utils)
fi

missing=()
for package in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: ask an administrator to run: apt-get install ${missing[*]}" >&2
    echo "setup: or see README.md, 'Without root', for a Tesseract of your own" >&2
    command -v tesseract >/dev/null || exit 1
  fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extra=""
[ "$dev" = 1 ] && extra="[dev]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
tesseract --list-langs 2>/dev/null | grep -qx deu || {
  echo "setup: Tesseract has no German data (deu); install tesseract-ocr-deu" >&2
  exit 1
}
echo "setup: ready ($(tesseract --version 2>&1 | head -1))" >&2
