#!/usr/bin/env bash
# A 4-validator network on loopback (lightstreams testnet + node --config, release build) under
# a steady transfer load, measuring what issue 8 targets:
#   block interval p50/p99        (milliseconds in extra_data between consecutive blocks; ≤ 250)
#   finality latency p50/p99      (block time → first seen final over RPC, polled every 5 ms; ≤ 500 p99)
#   transfers/s finalized         (ls-loadgen, timed until every transfer is in a final block; ≥ 5 000):
#                                 all sent to validator 0's RPC, which gossips them to the others;
#                                 --spread runs one generator per validator instead, each funded by
#                                 its own dev account and sending SENDERS/4 senders' transfers to
#                                 its validator's RPC (all transfers over the wall time from the
#                                 first start to the last finish; the generators' own signing
#                                 then competes with the nodes for the same cores)
# Anchors, for the record (not run here): Besu QBFT's minimum block period is 1 s, CometBFT
# commits after ~1 s, commonware's alto reports ~200 ms blocks and ~300 ms finality.
# Every process this script starts is stopped when it exits, even on failure.
# Usage: bench/network.sh [--senders 200] [--txs 50] [--spread]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SENDERS=200 TXS=50 SPREAD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --senders) SENDERS="$2"; shift 2 ;;
    --txs) TXS="$2"; shift 2 ;;
    --spread) SPREAD=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightstreams/target}"
cd "$root"
echo "building release binaries..." >&2
cargo build --release --locked -q --bin lightstreams --bin ls-loadgen
LOADGEN="$CARGO_TARGET_DIR/release/ls-loadgen"
VALIDATORS=4
# shellcheck source=lib/testnet.sh
LIGHTSTREAMS_BIN="$CARGO_TARGET_DIR/release/lightstreams" source "$root/bench/lib/testnet.sh"

# Finality watcher on validator 1 (the load goes to validator 0) while the load runs.
python3 - "${rpcs[1]}" "$tmp/seen.json" 60 <<'PY' &
import json, sys, time, urllib.request
url, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
def call(m, p):
    req = urllib.request.Request(url, json.dumps({"jsonrpc":"2.0","id":1,"method":m,"params":p}).encode(), {"content-type":"application/json"})
    return json.load(urllib.request.urlopen(req, timeout=5))["result"]
seen, last, start = {}, int(call("eth_blockNumber", []), 16), time.time()
while time.time() - start < limit and not __import__("os").path.exists(out + ".stop"):
    n = int(call("eth_blockNumber", []), 16)
    now = time.time() * 1000
    for b in range(last + 1, n + 1):
        seen[b] = now
    last = n
    time.sleep(0.005)
blocks = {}
for b, t in seen.items():
    h = call("eth_getBlockByNumber", [hex(b), False])
    extra = bytes.fromhex(h["extraData"][2:])
    blocks[b] = {"ms": int.from_bytes(extra, "big") if len(extra) == 8 else int(h["timestamp"], 16) * 1000, "seen": t, "txs": len(h["transactions"])}
json.dump(blocks, open(out, "w"))
PY
watcher=$!
node_pids+=($watcher)
# The first four accounts of the test mnemonic (funded in the testnet's genesis), one per generator.
funders=(ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
  59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
  5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
  7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6)
generators=1
[ "$SPREAD" = 1 ] && generators=$VALIDATORS
echo "==> load: $SENDERS senders x $TXS transfers, over $generators validator RPC(s)" >&2
load_pids=()
for i in $(seq 0 $(( generators - 1 ))); do
  "$LOADGEN" --rpc "${rpcs[$i]}" --funder "${funders[$i]}" --senders $(( SENDERS / generators )) --txs-per-sender "$TXS" \
    --json >"$tmp/load$i.json" &
  load_pids+=($!)
  node_pids+=($!)
done
failed=0
for p in "${load_pids[@]}"; do wait "$p" || failed=1; done
touch "$tmp/seen.json.stop"
wait "$watcher" || true
[ "$failed" = 0 ] || { echo "a load generator failed" >&2; exit 1; }
python3 - "$tmp/seen.json" "$tmp"/load*.json <<'PY'
import json, sys
blocks = {int(k): v for k, v in json.load(open(sys.argv[1])).items()}
loads = [json.loads(open(f).read().strip().splitlines()[-1]) for f in sys.argv[2:]]
start, end = min(l["start_ms"] for l in loads), max(l["end_ms"] for l in loads)
load = {"transfers": sum(l["transfers"] for l in loads)}
load["transfers_per_sec"] = load["transfers"] / ((end - start) / 1000)
nums = sorted(blocks)
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")
intervals = [blocks[b]["ms"] - blocks[b - 1]["ms"] for b in nums if b - 1 in blocks]
latency = [blocks[b]["seen"] - blocks[b]["ms"] for b in nums]
print(f"blocks observed          {len(nums)} (with transactions: {sum(1 for b in nums if blocks[b]['txs'])})")
print(f"block interval (ms)      p50 {pct(intervals, .5):.0f}  p99 {pct(intervals, .99):.0f}   target <= 250")
print(f"finality latency (ms)    p50 {pct(latency, .5):.0f}  p99 {pct(latency, .99):.0f}   target p99 <= 500")
print(f"transfers/s finalized    {load['transfers_per_sec']:.0f} ({load['transfers']} transfers)   target >= 5000")
full = [blocks[b]["txs"] for b in nums if blocks[b]["txs"]]
if full:
    print(f"transactions per block   max {max(full)}  mean {sum(full) / len(full):.0f} (the default 100 M gas block fits 4 761 transfers)")
for i, l in enumerate(loads):
    print(f"generator {i}              {l['transfers']} sent in {l['send_secs']:.2f} s, final after {l['persist_secs']:.2f} s")
PY
