#!/usr/bin/env bash
# Installs the Debian packages assoc-ledger needs, only those missing. Usage: system-deps.sh run|test
set -euo pipefail
# The CJK font statements are typeset in (embedded in every PDF) and the libraries WeasyPrint loads.
want=(fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libfontconfig1)
if [[ "${1:-run}" == "test" ]]; then
  # poppler-utils: pdftotext, pdffonts and pdftoppm check the statement PDFs.
  want+=(postgresql-15 chromium poppler-utils)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "Installing system packages: ${missing[*]}"
  bash "$(dirname "$0")/apt-install.sh" "${missing[@]}"
fi
# Statements need the font itself, not only the package: with CI=true its absence fails the run.
if ! fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei"; then
  echo "CJK font WenQuanYi Micro Hei not found after install (fonts-wqy-microhei)" >&2
  [[ "${CI:-}" == "true" ]] && exit 1
fi
if [[ "${1:-run}" == "test" ]]; then
  for tool in pdftotext pdffonts pdftoppm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$tool not found after install (poppler-utils)" >&2
      [[ "${CI:-}" == "true" ]] && exit 1
    fi
  done
fi
exit 0
