# Shared shell helpers for compat suites: start the node under test on a free loopback port.
# Usage: source common/node.sh; start_node; ... ; (cleanup is automatic on exit)
# Sets RPC_URL and WS_URL (and GATEWAY_URL and NODE_P2P_ADDR, the libp2p address with its
# /p2p/<peer id>, for lightstreams). TARGET=anvil starts anvil
# (npm @foundry-rs/anvil) instead, with ANVIL_FLAGS (default `--block-time 0.25`, like our
# node; set it empty for anvil's automine, which hardhat's chai matchers expect). NODE_FLAGS
# are added to our node's (e.g. `--automine`). TARGET=network starts a 4-validator network
# (`lightstreams testnet --run`, in a process group of its own) and points the URLs at
# validator 0.

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_PID=""
NODE_LOG="$(mktemp -t lightstreams-compat-XXXXXX.log)"
NET_DIR=""

cleanup_node() {
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill "$NODE_PID" 2>/dev/null || true
    # testnet --run stops its nodes itself on SIGTERM; give them time to flush.
    for _ in $(seq 1 150); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NODE_PID" 2>/dev/null || true
  fi
  # A network runs in its own process group: nothing of it may outlive the suite.
  if [ -n "$NET_DIR" ]; then
    kill -9 -- "-$NODE_PID" 2>/dev/null || true
    rm -rf "$NET_DIR"
  fi
  rm -f "$NODE_LOG"
}
trap cleanup_node EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The first of $1 consecutive free loopback ports.
free_ports() { "$COMPAT_DIR/../../scripts/free-ports" "$1"; }

start_node() {
  local port; port=$(free_port)
  case "${TARGET:-lightstreams}" in
    anvil)
      npm ci --prefix "$COMPAT_DIR/common" --no-audit --no-fund --silent >/dev/null
      "$COMPAT_DIR/common/node_modules/.bin/anvil" --port "$port" --chain-id 1337 ${ANVIL_FLAGS---block-time 0.25} --silent >"$NODE_LOG" 2>&1 &
      ;;
    lightstreams)
      if [ -z "${LIGHTSTREAMS_BIN:-}" ] || [ ! -x "$LIGHTSTREAMS_BIN" ]; then
        echo "LIGHTSTREAMS_BIN must point at the lightstreams binary" >&2; exit 2
      fi
      local gport; gport=$(free_port)
      local pport; pport=$(free_port)
      export GATEWAY_URL="http://127.0.0.1:$gport"
      "$LIGHTSTREAMS_BIN" node --dev --quiet --rpc-addr "127.0.0.1:$port" --gateway-addr "127.0.0.1:$gport" \
        --p2p-addr "/ip4/127.0.0.1/tcp/$pport" --block-time 250ms ${NODE_FLAGS:-} >"$NODE_LOG" 2>&1 &
      ;;
    network)
      if [ -z "${LIGHTSTREAMS_BIN:-}" ] || [ ! -x "$LIGHTSTREAMS_BIN" ]; then
        echo "LIGHTSTREAMS_BIN must point at the lightstreams binary" >&2; exit 2
      fi
      NET_DIR=$(mktemp -d -t lightstreams-net-XXXXXX)
      port=$(free_ports 4)
      local gport; gport=$(free_ports 4)
      export GATEWAY_URL="http://127.0.0.1:$gport"
      setsid "$LIGHTSTREAMS_BIN" testnet --validators 4 --dir "$NET_DIR/net" --run --rpc-port "$port" \
        --gateway-port "$gport" --p2p-port "$(free_ports 4)" --consensus-port "$(free_ports 4)" >"$NODE_LOG" 2>&1 &
      ;;
    *) echo "unknown TARGET ${TARGET}" >&2; exit 2 ;;
  esac
  NODE_PID=$!
  export RPC_URL="http://127.0.0.1:$port" WS_URL="ws://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    # The RPC answers before the node has printed its P2P and gateway addresses: wait for the
    # gateway line too (it comes after the P2P ones), except on anvil.
    if curl -sf -m 1 -H 'content-type: application/json' \
        -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$RPC_URL" >/dev/null 2>&1 \
        && { [ "${TARGET:-lightstreams}" = anvil ] || grep -q '^\(node0 | \)\?Gateway listening on ' "$NODE_LOG"; }; then
      NODE_P2P_ADDR=$(sed -n 's/^\(node0 | \)\?P2P listening on //p' "$NODE_LOG" | head -n 1)
      export NODE_P2P_ADDR
      return 0
    fi
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
      echo "node under test exited early:" >&2; cat "$NODE_LOG" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "node under test did not answer within 15 s:" >&2; cat "$NODE_LOG" >&2; exit 1
}
