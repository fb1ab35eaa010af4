#!/usr/bin/env bash
# Runs every test of kemtcp (behind `make test`): about 5 minutes on a
# 2-core machine with liboqs, 3 without.
#
# Steps, each announced with a ">>" line:
#   1. go vet, both modules (the library and the benchmark's, app/bench);
#   2. every test under the race detector, both modules, with liboqs when
#      pkg-config finds it (one line per package as it finishes, and a line
#      every 30 s naming the packages still running);
#   3. the packages whose memory and allocation tests the race detector
#      skews, again without it;
#   4. with liboqs: the cgo packages under GOEXPERIMENT=cgocheck2, and the
#      oqs tests under AddressSanitizer and LeakSanitizer against the
#      instrumented liboqs that `make liboqs` builds beside the real one.
# What cannot run here (no liboqs, no outside program) is skipped with one
# loud line that says SKIPPED.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export CGO_ENABLED=${CGO_ENABLED:-1}

step() { echo ">> $*"; }
skipped() { echo "!!!!!!!! SKIPPED: $* !!!!!!!!"; }
progress() { "$GO" run ./app/internal/testprogress; }

tags=""
if pkg-config --atleast-version=0.15.0 liboqs 2>/dev/null; then
  tags=liboqs
  prefix=$(pkg-config --variable=prefix liboqs)
  step "liboqs $(pkg-config --modversion liboqs) found in $prefix: testing all three backends"
else
  skipped "liboqs tests: pkg-config finds no liboqs >= 0.15.0 (run 'make liboqs'); testing the circl and go backends only"
fi

step "go vet ./... (and the benchmark's module, app/bench)${tags:+ with -tags $tags}"
"$GO" vet -tags "$tags" ./...
"$GO" -C app/bench vet -tags "$tags" ./...

step "go test -race ./... (and app/bench)${tags:+ with -tags $tags}: one line per package as it finishes"
status=0
"$GO" test -race -json -tags "$tags" ./... | progress || status=1
"$GO" -C app/bench test -race -json -tags "$tags" ./... | progress || status=1
[ "$status" = 0 ] || { echo ">> FAIL: see the output of the failing tests above"; exit 1; }

# Packages whose tests skip under -race (memory and allocation accounting).
norace=$(grep -rl --include='*_test.go' -e 'raceEnabled' app oqs | xargs -r -n1 dirname | sort -u | sed 's|^|./|')
if [ -n "$norace" ]; then
  step "go test without -race: $(echo $norace) (the tests the race detector skews)"
  # shellcheck disable=SC2086 # a list of packages
  "$GO" test -json -count=1 -tags "$tags" $norace | progress
fi

if [ -n "$tags" ]; then
  step "GOEXPERIMENT=cgocheck2 go test -tags liboqs ./oqs/ ./app/kem/"
  GOEXPERIMENT=cgocheck2 "$GO" test -json -tags liboqs -count=1 ./oqs/ ./app/kem/ | progress
  asan="$prefix/share/kemtcp/liboqs-asan"
  if PKG_CONFIG_LIBDIR="$asan/lib/pkgconfig" pkg-config --exists liboqs 2>/dev/null; then
    step "go test -asan -tags liboqs ./oqs/ against $asan (AddressSanitizer, LeakSanitizer)"
    MEMCHECK_PREFIX="$asan" MEMCHECK_PACKAGES=./oqs/ scripts/memcheck.sh asan
  else
    skipped "AddressSanitizer run of ./oqs/: no instrumented liboqs in $asan (make liboqs builds it unless LIBOQS_ASAN=0)"
  fi
fi
step "all tests passed"
