#!/usr/bin/env bash
# Runs every test of kemtcp (behind `make test`).
#
# The pure-Go tests always run, under the race detector. When pkg-config finds
# liboqs (LIBOQS_PREFIX/lib/pkgconfig, set by the Makefile, or a system-wide
# install), everything runs again with the liboqs backend compiled in, and the
# cgo packages also run with GOEXPERIMENT=cgocheck2. Without liboqs, one loud
# line says the liboqs tests were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export CGO_ENABLED=${CGO_ENABLED:-1}

if pkg-config --atleast-version=0.15.0 liboqs 2>/dev/null; then
  echo ">> liboqs $(pkg-config --modversion liboqs) found in $(pkg-config --variable=prefix liboqs): testing all three backends"
  echo ">> go vet -tags liboqs ./... (and the benchmark's module, app/bench)"
  "$GO" vet -tags liboqs ./...
  "$GO" -C app/bench vet -tags liboqs ./...
  echo ">> go test -race -tags liboqs ./... (and app/bench)"
  "$GO" test -race -tags liboqs ./...
  "$GO" -C app/bench test -race -tags liboqs ./...
  echo ">> GOEXPERIMENT=cgocheck2 go test -tags liboqs ./oqs/ ./app/kem/"
  GOEXPERIMENT=cgocheck2 "$GO" test -tags liboqs -count=1 ./oqs/ ./app/kem/
else
  echo "!!!!!!!! SKIPPED: liboqs tests: pkg-config finds no liboqs >= 0.15.0 (run 'make liboqs'); testing the circl and go backends only !!!!!!!!"
  echo ">> go vet ./... (and the benchmark's module, app/bench)"
  "$GO" vet ./...
  "$GO" -C app/bench vet ./...
  echo ">> go test -race ./... (and app/bench)"
  "$GO" test -race ./...
  "$GO" -C app/bench test -race ./...
fi
