# shellcheck shell=bash
# Sourced by scripts/test.sh (or by hand: `source scripts/services/chromium.sh`):
# makes the dashboard's browser tests (internal/app/browser_test.go) runnable.
# Installs Debian's chromium (and a CJK font) when missing, the pinned npm packages of
# test/browser (playwright-core, axe-core, openai, uplot), and exports
# SPARK_TEST_CHROMIUM. Chromium is started by each test run itself, headless,
# with a fresh profile, so there is nothing to stop on exit.

spark_chromium_setup() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local bin=""
  for b in /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -x "$b" ]; then bin="$b"; break; fi
  done
  if [ -z "$bin" ]; then
    echo "== chromium.sh: installing chromium (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    bin=/usr/bin/chromium
  fi
  # A CJK font, so 简体中文 pages render (and their screenshots show) text.
  if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null
  fi
  if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  (cd "$root/test/browser" && npm ci --no-audit --no-fund --loglevel=error)
  export SPARK_TEST_CHROMIUM="$bin"
  echo "== chromium.sh: SPARK_TEST_CHROMIUM=$SPARK_TEST_CHROMIUM ($("$bin" --version 2>/dev/null || echo 'version unknown'))"
}

spark_chromium_setup
