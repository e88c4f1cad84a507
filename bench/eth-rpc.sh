#!/usr/bin/env bash
# Runs our dev node and anvil side by side on loopback and drives both with the same load:
#   reads  - wrk POSTing JSON-RPC (eth_blockNumber, eth_getBalance, eth_call) for a fixed time
#   writes - ls-loadgen: sustained value transfers, timed until every one is persisted
# and prints each figure for both and the ratio ours/anvil.
#
# Same settings for both: chain id 1337, 250 ms blocks, the same block gas limit (default 1 G:
# at 100 M a 250 ms block holds at most 4 761 transfers, which caps any node at ~19 000/s and
# measures the configuration rather than the node).
# Usage: bench/eth-rpc.sh [--duration 10] [--senders 400] [--txs 100] [--gas-limit 1000000000]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=10 SENDERS=400 TXS=100 CONNS=32 GAS_LIMIT=1000000000
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --senders) SENDERS="$2"; shift 2 ;;
    --txs) TXS="$2"; shift 2 ;;
    --gas-limit) GAS_LIMIT="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightstreams/target}"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
echo "building release binaries..." >&2
cargo build --release --locked -q --bin lightstreams --bin ls-loadgen
LS="$CARGO_TARGET_DIR/release/lightstreams"
LOADGEN="$CARGO_TARGET_DIR/release/ls-loadgen"
npm ci --prefix "$root/tests/compat/common" --no-audit --no-fund --silent >/dev/null
ANVIL="$root/tests/compat/common/node_modules/.bin/anvil"

pids=()
tmp=$(mktemp -d)
cleanup() { stop_all; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_rpc() {
  for _ in $(seq 1 200); do
    curl -sf -m 1 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" >/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2; exit 1
}
# These set URL instead of printing it: a pid recorded inside $(...) would be lost with the
# subshell, and the node would outlive the script.
start_ours() {
  local p; p=$(port)
  "$LS" node --dev --quiet --datadir "$tmp/ours-$1" --rpc-addr "127.0.0.1:$p" --gateway-addr 127.0.0.1:0 --p2p-addr /ip4/127.0.0.1/tcp/0 --block-time 250ms --gas-limit "$GAS_LIMIT" --log warn >/dev/null 2>&1 &
  pids+=($!); URL="http://127.0.0.1:$p"
}
start_anvil() {
  local p; p=$(port)
  "$ANVIL" --port "$p" --chain-id 1337 --block-time 0.25 --gas-limit "$GAS_LIMIT" --silent >/dev/null 2>&1 &
  pids+=($!); URL="http://127.0.0.1:$p"
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }

cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
LUA
reads() { # url body -> req/s
  BODY="$2" wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$tmp/post.lua" "$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
}
ratio() { python3 -c "a=float('$1' or 0); b=float('$2' or 0); print(f'{a/b:.2f}x' if b else 'n/a')"; }

start_ours reads; ours=$URL; start_anvil; anvil=$URL; wait_rpc "$ours"; wait_rpc "$anvil"
DEV0=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
printf "%-28s %14s %14s %8s\n" "workload" "lightstreams" "anvil" "ratio"
for name in eth_blockNumber eth_getBalance eth_call; do
  case $name in
    eth_blockNumber) body='{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' ;;
    eth_getBalance) body='{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["'$DEV0'","latest"]}' ;;
    eth_call) body='{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"'$DEV0'","data":"0x"},"latest"]}' ;;
  esac
  a=$(reads "$ours" "$body"); b=$(reads "$anvil" "$body")
  printf "%-28s %14s %14s %8s\n" "$name (req/s)" "$a" "$b" "$(ratio "$a" "$b")"
done
stop_all

# Writes: a fresh node of each kind, one at a time so they do not share the 2 cores.
start_ours writes; ours=$URL; wait_rpc "$ours"
a=$("$LOADGEN" --rpc "$ours" --senders "$SENDERS" --txs-per-sender "$TXS" --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["transfers_per_sec"]))')
stop_all
start_anvil; anvil=$URL; wait_rpc "$anvil"
b=$("$LOADGEN" --rpc "$anvil" --senders "$SENDERS" --txs-per-sender "$TXS" --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["transfers_per_sec"]))')
printf "%-28s %14s %14s %8s\n" "persisted transfers/s" "$a" "$b" "$(ratio "$a" "$b")"
echo "($((SENDERS * TXS)) transfers from $SENDERS senders, 250 ms blocks, gas limit $GAS_LIMIT; ours persisted to redb with fsync per block; anvil in memory)"
