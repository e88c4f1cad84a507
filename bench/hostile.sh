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
# shellcheck source=lib/dev-node.sh
source "$root/bench/lib/dev-node.sh"
echo "node $node_pid: rpc $rpc, gateway $gateway; hostile mix for ${DURATION}s" >&2
RPC="$rpc" GATEWAY="$gateway" NODE_PID="$node_pid" DURATION="$DURATION" python3 "$root/bench/hostile.py"
