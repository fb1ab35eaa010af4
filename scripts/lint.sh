#!/usr/bin/env bash
# Lints kemtcp (behind `make lint`): gofmt, go vet (with the liboqs tag too
# when liboqs is installed), and the Dockerfile with dockerfile-utils (npm).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DOCKERFILE_UTILS=${DOCKERFILE_UTILS:-dockerfile-utils@0.16.3}
status=0

echo ">> gofmt -l"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.liboqs*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; status=1
fi

echo ">> go vet ./... (both modules: the library and app/bench)"
"$GO" vet ./... || status=1
"$GO" -C app/bench vet ./... || status=1
if pkg-config --atleast-version=0.15.0 liboqs 2>/dev/null; then
  echo ">> go vet -tags liboqs ./..."
  "$GO" vet -tags liboqs ./... || status=1
  "$GO" -C app/bench vet -tags liboqs ./... || status=1
else
  echo ">> skipping go vet -tags liboqs: liboqs not installed (make liboqs)"
fi

echo ">> dockerfile-utils lint Dockerfile"
if ! command -v npm >/dev/null; then
  echo "lint: npm is needed for the Dockerfile check (Debian: apt-get install npm)" >&2
  status=1
elif ! npm exec --yes --package="$DOCKERFILE_UTILS" -- dockerfile-utils lint Dockerfile; then
  status=1
fi

[ "$status" = 0 ] && echo ">> lint: all clean"
exit "$status"
