# Sourced by bench scripts: builds the release binary (lib/binary.sh), writes a local network of
# VALIDATORS validators (`lightstreams testnet`) on loopback ports from a random base, starts each
# as its own process and waits until all of them finalize blocks. Stops every node (and removes
# the temporary directory) when the script exits, even on failure. Sets LS, tmp, node_pids,
# rpcs (every node's RPC URL), rpc and gateway (node 0's).
# shellcheck source=binary.sh
source "$(dirname "${BASH_SOURCE[0]}")/binary.sh"

tmp=$(mktemp -d)
node_pids=()
cleanup() {
  for pid in "${node_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

base=$(( 20000 + RANDOM % 20000 ))
"$LS" testnet --validators "$VALIDATORS" --dir "$tmp/net" --rpc-port "$base" --gateway-port $(( base + 100 )) \
  --p2p-port $(( base + 200 )) --consensus-port $(( base + 300 )) >/dev/null
rpcs=()
for i in $(seq 0 $(( VALIDATORS - 1 ))); do
  "$LS" node --config "$tmp/net/node$i/config.toml" --quiet --log warn ${DEV_NODE_FLAGS:-} >"$tmp/node$i.out" 2>&1 &
  node_pids+=($!)
  rpcs+=("http://127.0.0.1:$(( base + i ))")
done
rpc="${rpcs[0]}"
gateway="http://127.0.0.1:$(( base + 100 ))"
height() {
  curl -sf -m 2 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$1" \
    | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["result"], 16))' 2>/dev/null || echo 0
}
for _ in $(seq 1 300); do
  ready=1
  for r in "${rpcs[@]}"; do [ "$(height "$r")" -ge 2 ] || { ready=0; break; }; done
  [ "$ready" = 1 ] && break
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "the network did not start finalizing" >&2; tail -n 20 "$tmp"/node*.out >&2; exit 1; }
