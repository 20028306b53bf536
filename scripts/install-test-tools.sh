#!/usr/bin/env bash
# Installs the other Debian packages the tests and the demo use. Idempotent.
#   chromium: the status page is tested in a real headless browser (playwright-core drives /usr/bin/chromium).
#   fortunes: the text `npm run demo` embeds.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/games/fortunes/fortunes ] || missing+=(fortunes)
if [ ${#missing[@]} -eq 0 ]; then
  echo "chromium and fortunes are already installed."
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-tools.sh: needs root to install ${missing[*]}." >&2
  echo "  Run it as: sudo bash scripts/install-test-tools.sh" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
