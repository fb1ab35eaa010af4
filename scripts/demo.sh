#!/usr/bin/env bash
# The kemtcp demo (behind `make demo`): for each protocol and each backend
# compiled into bin/, starts a kem-server, sends a few lines through a
# kem-client, and shows both sides' output. It cleans up after itself, also
# on Ctrl+C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
server=$BIN/kem-server
client=$BIN/kem-client
[ -x "$server" ] && [ -x "$client" ] || { echo "demo: build first: make build" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM

# wait_line FILE PREFIX: waits (up to 10s) for a line starting with PREFIX.
wait_line() {
  for _ in $(seq 100); do
    grep -m1 "^$2" "$1" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: the server did not print '$2':" >&2; cat "$1" >&2; return 1
}

backends=()
for b in liboqs circl go; do
  if "$server" -backend "$b" -h >/dev/null 2>&1; then backends+=("$b"); fi
done
echo "== kemtcp demo: backends compiled in: ${backends[*]}"
[ "${backends[0]}" = liboqs ] || echo "   (liboqs is not compiled in: run 'make liboqs' then 'make demo' to include it)"

messages=$'Hello from client using ML-KEM!\nPost-quantum greetings.\nexit'
for proto in session legacy; do
  for backend in "${backends[@]}"; do
    echo
    echo "== protocol $proto, backend $backend, ML-KEM-768"
    out="$work/server-$proto-$backend.log"
    "$server" -addr 127.0.0.1:0 -proto "$proto" -backend "$backend" -once >"$out" 2>&1 &
    server_pid=$!
    addr=$(wait_line "$out" "Server listening on " | sed 's/^Server listening on //')
    args=(-addr "$addr" -proto "$proto" -backend "$backend")
    if [ "$proto" = session ]; then
      # Pin the key the server printed: the client refuses any other.
      fp=$(grep -o 'SHA256:[A-Za-z0-9+/]*' "$out" | head -n1)
      args+=(-pin "$fp")
      echo "\$ kem-client ${args[*]}"
    else
      echo "\$ kem-client ${args[*]}"
    fi
    printf '%s\n' "$messages" | sed 's/^/  > /'
    printf '%s\n' "$messages" | "$client" "${args[@]}" 2>&1 | sed 's/^/  client | /'
    wait "$server_pid"
    server_pid=""
    sed 's/^/  server | /' "$out"
  done
done
echo
echo "== demo done"
