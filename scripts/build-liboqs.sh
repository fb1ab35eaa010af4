#!/usr/bin/env bash
# Builds and installs a pinned, verified liboqs for kemtcp (behind `make liboqs`).
#
#   scripts/build-liboqs.sh            # defaults below
#   LIBOQS_PREFIX=/usr/local scripts/build-liboqs.sh
#
# Environment (the Makefile passes its own values):
#   LIBOQS_REPO     git URL or local git directory to clone from
#   LIBOQS_VERSION  tag to build
#   LIBOQS_COMMIT   commit the tag must resolve to; anything else is refused
#   LIBOQS_PREFIX   install prefix (lib/liboqs.a, lib/pkgconfig/liboqs.pc, include/oqs)
#   LIBOQS_BUILD    scratch folder for the clone and the CMake build
#   LIBOQS_CMAKE_FLAGS  extra CMake flags, whitespace-separated, added after
#                   ours (so they win); e.g. an AddressSanitizer build:
#                   "-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-fsanitize=address"
#                   (no spaces inside one flag). They are part of the stamp,
#                   so changing them rebuilds.
#
# The build is small and static: only ML-KEM-512/768/1024, no OpenSSL, with
# OQS_DIST_BUILD so that one binary runs on any x86-64/arm64 CPU and picks
# AVX2 code at run time. A second run with the same version and commit does
# nothing.
set -euo pipefail

LIBOQS_REPO=${LIBOQS_REPO:-https://github.com/open-quantum-safe/liboqs.git}
LIBOQS_VERSION=${LIBOQS_VERSION:-0.16.0}
LIBOQS_COMMIT=${LIBOQS_COMMIT:-5a1a854b0dc9f2141bdc771c555ee60c37950183}
root=$(cd "$(dirname "$0")/.." && pwd)
LIBOQS_PREFIX=${LIBOQS_PREFIX:-$root/.liboqs}
LIBOQS_BUILD=${LIBOQS_BUILD:-$root/.liboqs-build}
LIBOQS_CMAKE_FLAGS=${LIBOQS_CMAKE_FLAGS:-}
read -r -a extra_cmake_flags <<<"$LIBOQS_CMAKE_FLAGS"

say() { echo "build-liboqs: $*"; }
die() { echo "build-liboqs: error: $*" >&2; exit 1; }

stamp="$LIBOQS_PREFIX/share/kemtcp/liboqs.stamp"
want="$LIBOQS_VERSION $LIBOQS_COMMIT${LIBOQS_CMAKE_FLAGS:+ $LIBOQS_CMAKE_FLAGS}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$LIBOQS_PREFIX/lib/pkgconfig/liboqs.pc" ]; then
  say "liboqs $LIBOQS_VERSION ($LIBOQS_COMMIT) is already installed in $LIBOQS_PREFIX; nothing to do"
  exit 0
fi

for tool in git cmake ninja; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed (Debian/Ubuntu: apt-get install git cmake ninja-build)"
done
command -v cc >/dev/null || command -v gcc >/dev/null || die "no C compiler found (Debian/Ubuntu: apt-get install gcc)"

src="$LIBOQS_BUILD/src"
clone_url=$LIBOQS_REPO
# A local git directory (e.g. a mirror) is cloned through file:// so that --depth applies.
[ -d "$LIBOQS_REPO" ] && clone_url="file://$(cd "$LIBOQS_REPO" && pwd)"
say "cloning $LIBOQS_REPO at tag $LIBOQS_VERSION into $src"
rm -rf "$src"
mkdir -p "$LIBOQS_BUILD"
git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$LIBOQS_VERSION" "$clone_url" "$src" \
  || die "could not clone tag $LIBOQS_VERSION of $LIBOQS_REPO"

got=$(git -C "$src" rev-parse HEAD)
if [ "$got" != "$LIBOQS_COMMIT" ]; then
  echo "build-liboqs: error: tag $LIBOQS_VERSION of $LIBOQS_REPO does not resolve to the pinned commit" >&2
  echo "  expected: $LIBOQS_COMMIT" >&2
  echo "  got:      $got" >&2
  echo "  refusing to build; if the new commit is intended, update LIBOQS_COMMIT in the Makefile" >&2
  exit 1
fi
say "tag $LIBOQS_VERSION verified: commit $got"

say "configuring (static, ML-KEM only, no OpenSSL, OQS_DIST_BUILD)${LIBOQS_CMAKE_FLAGS:+ with extra flags: $LIBOQS_CMAKE_FLAGS}"
cmake -S "$src" -B "$LIBOQS_BUILD/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$LIBOQS_PREFIX" \
  -DCMAKE_INSTALL_LIBDIR=lib \
  -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DOQS_BUILD_ONLY_LIB=ON \
  -DOQS_DIST_BUILD=ON \
  -DOQS_USE_OPENSSL=OFF \
  -DOQS_MINIMAL_BUILD="KEM_ml_kem_512;KEM_ml_kem_768;KEM_ml_kem_1024" \
  ${extra_cmake_flags[@]+"${extra_cmake_flags[@]}"} \
  >"$LIBOQS_BUILD/cmake.log" 2>&1 || { tail -n 40 "$LIBOQS_BUILD/cmake.log" >&2; die "cmake configure failed (full log: $LIBOQS_BUILD/cmake.log)"; }

say "building (Ninja's progress below; about 1.5 minutes on 2 cores)"
cmake --build "$LIBOQS_BUILD/build" 2>&1 | tee "$LIBOQS_BUILD/build.log" \
  || { tail -n 40 "$LIBOQS_BUILD/build.log" >&2; die "build failed (full log: $LIBOQS_BUILD/build.log)"; }

say "installing into $LIBOQS_PREFIX"
cmake --install "$LIBOQS_BUILD/build" >"$LIBOQS_BUILD/install.log" 2>&1 \
  || { tail -n 40 "$LIBOQS_BUILD/install.log" >&2; die "install failed (is $LIBOQS_PREFIX writable?)"; }

[ -f "$LIBOQS_PREFIX/lib/pkgconfig/liboqs.pc" ] || die "liboqs.pc was not installed under $LIBOQS_PREFIX/lib/pkgconfig"
mkdir -p "$(dirname "$stamp")"
echo "$want" >"$stamp"
rm -rf "$LIBOQS_BUILD"
say "done: liboqs $LIBOQS_VERSION in $LIBOQS_PREFIX"
say "the Go build finds it with: PKG_CONFIG_PATH=$LIBOQS_PREFIX/lib/pkgconfig (the Makefile sets this)"
