#!/usr/bin/env bash
# Hunts flaky tests (behind `make flaky`): every package of both modules
# runs -count=50, then -race -count=20, with liboqs when pkg-config finds
# it. A test that fails once in those runs is flaky: fix the code (or the
# test's wrong assumption), never the count. Takes about an hour on 2
# cores; FLAKY_PACKAGES narrows it (default ./...).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
pkgs=${FLAKY_PACKAGES:-./...}
tags=""
pkg-config --atleast-version=0.15.0 liboqs 2>/dev/null && tags=liboqs
progress() { "$GO" run ./app/internal/testprogress; }
status=0
echo ">> go test -count=50 $pkgs${tags:+ -tags $tags} (and app/bench)"
# shellcheck disable=SC2086 # a list of packages
"$GO" test -json -count=50 -timeout 60m -tags "$tags" $pkgs | progress || status=1
"$GO" -C app/bench test -json -count=50 -timeout 60m -tags "$tags" ./... | progress || status=1
echo ">> go test -race -count=20 $pkgs${tags:+ -tags $tags} (and app/bench)"
# shellcheck disable=SC2086
"$GO" test -race -json -count=20 -timeout 60m -tags "$tags" $pkgs | progress || status=1
"$GO" -C app/bench test -race -json -count=20 -timeout 60m -tags "$tags" ./... | progress || status=1
[ "$status" = 0 ] && echo ">> no flaky test found" || echo ">> FAIL: a test failed at least once: it is flaky"
exit "$status"
