#!/usr/bin/env bash
# Runs every fuzz target of kemtcp for a while (behind `make fuzz`).
#
#   scripts/fuzz.sh [FUZZTIME]      # default 10s per target, e.g. 5m
#
# Targets are found with `go test -list`, so new ones are picked up without
# editing this script. With liboqs installed, the oqs targets run too.
# New crashers land in the package's testdata/fuzz/<Target>/ as regression
# inputs; the script fails if any target fails.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
fuzztime=${1:-10s}
tags=""
if pkg-config --atleast-version=0.15.0 liboqs 2>/dev/null; then
  tags=liboqs
else
  echo "!!! liboqs not installed: the oqs fuzz targets are skipped (make liboqs) !!!"
fi

failed=()
count=0
for pkg in $("$GO" list -tags "$tags" ./...); do
  for target in $("$GO" test -tags "$tags" -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    count=$((count + 1))
    echo ">> $pkg $target for $fuzztime"
    if ! "$GO" test -tags "$tags" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg"; then
      failed+=("$pkg $target")
    fi
  done
done
echo ">> $count fuzz targets run for $fuzztime each"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
