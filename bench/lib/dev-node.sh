# Sourced by bench scripts: builds the release binary (lib/binary.sh) and starts one dev node
# on loopback ports, stopping it (and removing its temporary directory) when the script exits,
# even on failure. Sets LS (the binary), tmp, node_pid, rpc and gateway. DEV_NODE_FLAGS are
# added to the node's flags.
# shellcheck source=binary.sh
source "$(dirname "${BASH_SOURCE[0]}")/binary.sh"

tmp=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$LS" node --dev --quiet --datadir "$tmp/data" --rpc-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 --p2p-addr /ip4/127.0.0.1/tcp/0 \
  --block-time 250ms --log warn ${DEV_NODE_FLAGS:-} >"$tmp/out" 2>&1 &
node_pid=$!
for _ in $(seq 1 200); do
  grep -q '^Listening on ' "$tmp/out" && break
  sleep 0.1
done
rpc="http://$(sed -n 's/^Listening on //p' "$tmp/out")"
gateway="http://$(sed -n 's/^Gateway listening on //p' "$tmp/out")"
[ "$rpc" != "http://" ] || { echo "the node did not start" >&2; cat "$tmp/out" >&2; exit 1; }
