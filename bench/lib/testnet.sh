# Sourced by bench scripts: builds the release binary (lib/binary.sh), writes a local network of
# VALIDATORS validators (`lightstreams testnet`) on free loopback ports, starts each as its own
# process and waits until every one has finalized 3 blocks. Stops every process in node_pids
# (the nodes, and whatever the script adds) and removes the temporary directory when the script
# exits, even on failure. Sets LS, tmp, node_pids, rpcs (every node's RPC URL), rpc and gateway
# (node 0's). DEV_NODE_FLAGS are added to every node's flags.
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

# The first of VALIDATORS consecutive free loopback ports.
free_base() { "$(dirname "${BASH_SOURCE[0]}")/../../scripts/free-ports" "$VALIDATORS"; }
rpc_base=$(free_base) gateway_base=$(free_base)
"$LS" testnet --validators "$VALIDATORS" --dir "$tmp/net" --rpc-port "$rpc_base" --gateway-port "$gateway_base" \
  --p2p-port "$(free_base)" --consensus-port "$(free_base)" >/dev/null
rpcs=()
for i in $(seq 0 $(( VALIDATORS - 1 ))); do
  "$LS" node --config "$tmp/net/node$i/config.toml" --quiet --log warn ${DEV_NODE_FLAGS:-} >"$tmp/node$i.out" 2>&1 &
  node_pids+=($!)
  rpcs+=("http://127.0.0.1:$(( rpc_base + i ))")
done
rpc="${rpcs[0]}"
gateway="http://127.0.0.1:$gateway_base"
height() {
  curl -sf -m 2 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' "$1" \
    | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["result"], 16))' 2>/dev/null || echo 0
}
for _ in $(seq 1 300); do
  ready=1
  for r in "${rpcs[@]}"; do [ "$(height "$r")" -ge 3 ] || { ready=0; break; }; done
  [ "$ready" = 1 ] && break
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "the network did not start finalizing" >&2; tail -n 20 "$tmp"/node*.out >&2; exit 1; }
