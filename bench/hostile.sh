#!/usr/bin/env bash
# Runs a release dev node under a hostile mix for a while (bench/hostile.py: heavy eth_calls at
# the gas cap, 1 000-call batches, maximal filters, stalled uploads, a transfer load) and reports
# eth_blockNumber latency seen by a separate client, blocks sealed, and the node's peak RSS.
# Targets (issue 11): the node stays up, blocks keep coming, p99 < 50 ms, RSS < 1 GiB.
# Usage: bench/hostile.sh [--duration 60]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=60
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightstreams/target}"
echo "building the release binary..." >&2
cargo build --release --locked -q --bin lightstreams
LS="$CARGO_TARGET_DIR/release/lightstreams"

tmp=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$LS" node --dev --quiet --datadir "$tmp/data" --rpc-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 \
  --block-time 250ms --log warn >"$tmp/out" 2>&1 &
node_pid=$!
for _ in $(seq 1 200); do
  grep -q '^Listening on ' "$tmp/out" && break
  sleep 0.1
done
rpc="http://$(sed -n 's/^Listening on //p' "$tmp/out")"
gateway="http://$(sed -n 's/^Gateway listening on //p' "$tmp/out")"
[ "$rpc" != "http://" ] || { echo "the node did not start" >&2; cat "$tmp/out" >&2; exit 1; }
echo "node $node_pid: rpc $rpc, gateway $gateway; hostile mix for ${DURATION}s" >&2
RPC="$rpc" GATEWAY="$gateway" NODE_PID="$node_pid" DURATION="$DURATION" python3 "$root/bench/hostile.py"
