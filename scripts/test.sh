#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what it needs,
# then vets, tests (with the race detector), and runs short fuzz sessions.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# The suite installs what it needs, so tests that depend on it (the JS SDK
# interop test) must fail rather than skip when it is missing.
export CI="${CI:-true}"

# JavaScript SDK tests (openai, @anthropic-ai/sdk) need node + npm packages.
if [ -f test/js/package.json ]; then
  if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  (cd test/js && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -race -count=1 -timeout 20m ./...

echo "== fuzz (short)"
fuzz() { # package target
  go test -run='^$' -fuzz="^$2\$" -fuzztime="${FUZZTIME:-10s}" -fuzzminimizetime=5s "$1"
}
while read -r pkg target; do
  [ -n "$pkg" ] && fuzz "$pkg" "$target"
done < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' internal | while read -r f; do
  for t in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$f" | sed 's/^func //'); do
    echo "./$(dirname "$f") $t"
  done
done)

echo "== all tests passed"
