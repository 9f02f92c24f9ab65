#!/usr/bin/env bash
# Installs the Debian packages assoc-ledger needs, only those missing. Usage: system-deps.sh run|test
set -euo pipefail
want=(fonts-wqy-microhei)
if [[ "${1:-run}" == "test" ]]; then
  want+=(postgresql-15 chromium)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "Installing system packages: ${missing[*]}"
  bash "$(dirname "$0")/apt-install.sh" "${missing[@]}"
fi
