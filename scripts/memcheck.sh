#!/usr/bin/env bash
# Memory checks of the cgo bindings (oqs/) and the liboqs backend (app/kem/).
#
#   scripts/memcheck.sh            # both checks below
#   scripts/memcheck.sh asan       # AddressSanitizer + LeakSanitizer only
#   scripts/memcheck.sh valgrind   # valgrind memcheck only
#
# asan: builds liboqs with -fsanitize=address (scripts/build-liboqs.sh with
#   LIBOQS_CMAKE_FLAGS) into a scratch prefix, then runs
#   `go test -asan -tags liboqs` against it, so that our C glue, liboqs's C
#   code and the Go side are all checked for out-of-bounds accesses,
#   use-after-free and double free; at exit LeakSanitizer reports C memory
#   that nothing (C or Go) points to any more. mlkem-native's assembly is not
#   instrumented, but every buffer it is given is.
# valgrind: builds the oqs test binary with -tags 'liboqs valgrind' (the Go
#   runtime then tells valgrind about its own stacks and heap) against the
#   regular liboqs and runs it under valgrind memcheck: invalid reads and
#   writes, use of uninitialised memory, bad frees. Valgrind's leak checker
#   cannot handle the Go runtime's annotations (it aborts), so leaks are left
#   to LeakSanitizer. Two tests are skipped here, and left to the asan run:
#   TestAccumulated (30,000 key pairs), far too slow under valgrind, and
#   TestSecretKeysAreFreed, which waits for many garbage collections, each
#   slow under valgrind, and is about leaks, which valgrind does not check.
#
# Any report makes the script exit non-zero.
#
# Environment:
#   LIBOQS_REPO       where to clone liboqs from for the asan build (default:
#                     the upstream URL; a local git mirror works too)
#   LIBOQS_VERSION, LIBOQS_COMMIT
#                     passed on to build-liboqs.sh (defaults: its pinned ones)
#   MEMCHECK_PREFIX   where to install the asan liboqs; kept and reused if set
#                     (default: a temporary folder, removed at the end)
#   MEMCHECK_PACKAGES packages for the asan run (default: ./oqs/ ./app/kem/)
#   GO                the go command (default: go)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
export CGO_ENABLED=1
export LIBOQS_REPO=${LIBOQS_REPO:-https://github.com/open-quantum-safe/liboqs.git}
MEMCHECK_PACKAGES=${MEMCHECK_PACKAGES:-./oqs/ ./app/kem/}
mode=${1:-all}

say() { echo "memcheck: $*"; }
die() { echo "memcheck: error: $*" >&2; exit 1; }

case "$mode" in
  all | asan | valgrind) ;;
  *) die "unknown mode '$mode' (want asan, valgrind or nothing for both)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/kemtcp-memcheck.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=()

run_asan() {
  local cc=${CC:-gcc}
  command -v "$cc" >/dev/null || cc=cc
  echo 'int main(void){return 0;}' >"$work/probe.c"
  "$cc" -fsanitize=address "$work/probe.c" -o "$work/probe" 2>/dev/null \
    || die "$cc cannot build with -fsanitize=address (Debian/Ubuntu: apt-get install gcc, which brings libasan)"

  local prefix=${MEMCHECK_PREFIX:-$work/liboqs-asan}
  say "building liboqs with AddressSanitizer into $prefix (from $LIBOQS_REPO)"
  LIBOQS_PREFIX="$prefix" LIBOQS_BUILD="$work/liboqs-build" \
    LIBOQS_CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-fsanitize=address" \
    scripts/build-liboqs.sh
  # A liboqs that was not instrumented would make the run pass for nothing.
  # (grep without -q reads all of nm's output: no SIGPIPE under pipefail)
  nm "$prefix/lib/liboqs.a" 2>/dev/null | grep __asan_report >/dev/null \
    || die "$prefix/lib/liboqs.a is not instrumented with AddressSanitizer"

  # PKG_CONFIG_LIBDIR (not _PATH) so that no other liboqs can be found.
  local log=$work/asan.log
  say "go test -asan -tags liboqs $MEMCHECK_PACKAGES (liboqs from $(PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" pkg-config --variable=prefix liboqs))"
  local rc=0
  # shellcheck disable=SC2086 # MEMCHECK_PACKAGES is a list
  PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH= \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1} \
    "$GO" test -asan -tags liboqs -count=1 $MEMCHECK_PACKAGES 2>&1 | tee "$log" || rc=$?
  if [ "$rc" -ne 0 ] || grep -Eq '(ERROR|WARNING): (Address|Leak)Sanitizer' "$log"; then
    failed+=(asan)
    say "FAIL: AddressSanitizer run (exit status $rc; reports, if any, are above)"
  else
    say "ok: AddressSanitizer and LeakSanitizer found nothing"
  fi
}

run_valgrind() {
  if ! command -v valgrind >/dev/null; then
    if [ "$mode" = valgrind ]; then
      die "valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)"
    fi
    say "!!!!!!!! SKIPPED: valgrind is not installed (apt-get install valgrind); the asan run still ran !!!!!!!!"
    return
  fi
  pkg-config --atleast-version=0.15.0 liboqs 2>/dev/null \
    || die "pkg-config finds no liboqs >= 0.15.0 for the valgrind run (run 'make liboqs', and set PKG_CONFIG_PATH)"
  local bin=$work/oqs-valgrind.test log=$work/valgrind.log
  say "building the oqs test binary with -tags 'liboqs valgrind' (liboqs from $(pkg-config --variable=prefix liboqs))"
  "$GO" test -c -tags 'liboqs valgrind' -o "$bin" ./oqs/
  local skip='^(TestAccumulated|TestSecretKeysAreFreed)$'
  say "valgrind memcheck on the oqs tests (skipping $skip)"
  local rc=0
  # asyncpreemptoff: the signals of asynchronous preemption land on Go stacks
  # in ways valgrind reports as invalid accesses in the runtime.
  (cd oqs && GODEBUG=asyncpreemptoff=1 valgrind --tool=memcheck --error-exitcode=99 --leak-check=no \
    --track-origins=yes -q "$bin" -test.count=1 -test.skip "$skip") >"$log" 2>&1 || rc=$?
  # valgrind 3.19 cannot read some DWARF 5 forms; those warnings are noise.
  grep -Ev 'DW_FORM|debug info' "$log" || true
  if [ "$rc" -ne 0 ] || grep -Eq '^==[0-9]+== (Invalid|Conditional|Use of uninitialised|Syscall param|Mismatched|.*impossible)' "$log"; then
    failed+=(valgrind)
    say "FAIL: valgrind memcheck (exit status $rc; reports, if any, are above)"
  else
    say "ok: valgrind memcheck found nothing"
  fi
}

case "$mode" in
  asan) run_asan ;;
  valgrind) run_valgrind ;;
  all) run_asan; run_valgrind ;;
esac

if [ "${#failed[@]}" -ne 0 ]; then
  say "FAILED: ${failed[*]}"
  exit 1
fi
say "PASS ($mode)"
