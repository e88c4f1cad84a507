#!/usr/bin/env bash
# Paid access on a release dev node (a committee of one): how long from a purchase being final to
# the buyer's first plaintext byte, and how long a reader with access waits for a range.
#   1. the creator adds and lists a file (`file add --from --price`);
#   2. each of the other nine dev accounts buys it (`file buy`, returns once the block with the
#      purchase is sealed, which on a dev node is final) and at once reads its first byte
#      (`file cat --range 0-0 --from`: key request, release, unwrap, ranged fetch, decrypt);
#   3. READS more first-byte reads, the buyers taking turns (each stays within a member's
#      per-account burst);
#   4. key-release requests per second the node sustains (ls-release-load: RELEASE_READERS
#      accounts granted access, RELEASE_REQUESTS signed requests over 8 connections).
# Buyers keep no key file: every read asks the committee (the creator's key file is elsewhere).
# Prints p50/p99/max in ms for 2 and 3. Times include starting the `lightstreams` client process.
# With --validators N (4: t = 3), the same runs on a local network of N validator processes
# (`lightstreams testnet`), the buyers being --buyers fresh keystore accounts (`account new
# --lightkdf`, funded by a dev account), so purchases are many and each buyer reads once at
# once; the key comes from t members.
# Usage: bench/access.sh [--reads 100] [--size-mb 8] [--release-requests 4000] [--validators 4 [--buyers 100]]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
READS=100 SIZE_MB=8 RELEASE_REQUESTS=4000 VALIDATORS=0 BUYERS=100
while [ $# -gt 0 ]; do
  case "$1" in
    --reads) READS="$2"; shift 2 ;;
    --size-mb) SIZE_MB="$2"; shift 2 ;;
    --release-requests) RELEASE_REQUESTS="$2"; shift 2 ;;
    --validators) VALIDATORS="$2"; shift 2 ;;
    --buyers) BUYERS="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
# Every request comes from loopback: the per-address limit would measure itself.
DEV_NODE_FLAGS="--release-peer-rate 0"
if [ "$VALIDATORS" -gt 0 ]; then
  # shellcheck source=lib/testnet.sh
  source "$root/bench/lib/testnet.sh"
else
  # shellcheck source=lib/dev-node.sh
  source "$root/bench/lib/dev-node.sh"
fi
export LIGHTSTREAMS_NODE="$gateway" LIGHTSTREAMS_RPC="$rpc" LIGHTSTREAMS_KEYS="$tmp/creator-keys"

head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$tmp/song.flac"
accounts=(0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
  0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC 0x90F79bf6EB2c4f870365E785982E1f101E93b906
  0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc
  0x976EA74026E726554dB657fA54763abd0C3a0aa9 0x14dC79964da2C08b23698B3D3cc7Ca32193d9955
  0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f 0xa0Ee7A142d267C1f36714E4a8F75612F20a79720)
"$LS" file add --json --from "${accounts[0]}" --price 0.01 "$tmp/song.flac" >"$tmp/added.json"
cid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Hash"])' "$tmp/added.json")
file_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["FileId"])' "$tmp/added.json")
echo "file $cid (${SIZE_MB} MiB) listed; buying and reading..." >&2
# From here on no key file is at hand: every read gets the key from the committee.
export LIGHTSTREAMS_KEYS="$tmp/buyer-keys"

# Microseconds from bash itself (EPOCHREALTIME): no helper process inside the timed interval.
ms() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
stats() { python3 -c '
import sys
v = sorted(int(x) / 1000 for x in sys.argv[1:])
p = lambda q: v[min(len(v) - 1, int(len(v) * q))]
print(f"p50 {p(0.5):7.1f}  p99 {p(0.99):7.1f}  max {v[-1]:7.1f}  (n={len(v)})")' "$@"; }
if [ "$VALIDATORS" -gt 0 ]; then
  # Fresh keystore accounts (light scrypt: unlocking is not what is measured), funded at once.
  printf 'bench\n' >"$tmp/pw"
  export LIGHTSTREAMS_KEYSTORE="$tmp/keystore"
  buyers=()
  for _ in $(seq 1 "$BUYERS"); do
    buyers+=("$("$LS" account new --lightkdf --password-file "$tmp/pw" 2>/dev/null | sed -n 's/^Public address of the key: *//p')")
  done
  python3 - "$rpc" "${accounts[0]}" "${buyers[@]}" <<'PY'
import json, sys, time, urllib.request
rpc, funder, buyers = sys.argv[1], sys.argv[2], sys.argv[3:]
def call(method, params):
    req = urllib.request.Request(rpc, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(), {"content-type": "application/json"})
    r = json.load(urllib.request.urlopen(req, timeout=10))
    if "error" in r: raise SystemExit(f"{method}: {r['error']}")
    return r["result"]
hashes = [call("eth_sendTransaction", [{"from": funder, "to": b, "value": hex(10**18)}]) for b in buyers]
deadline = time.time() + 60
for h in hashes:
    while call("eth_getTransactionReceipt", [h]) is None:
        if time.time() > deadline: raise SystemExit("funding was not final within 60 s")
        time.sleep(0.05)
PY
  echo "$BUYERS buyers funded; buying and reading on $VALIDATORS validators..." >&2
  buy_to_byte=()
  for buyer in "${buyers[@]}"; do
    "$LS" file buy "$cid" --from "$buyer" --password-file "$tmp/pw" >/dev/null
    t0=$(ms)
    "$LS" file cat "$cid" --range 0-0 --from "$buyer" --password-file "$tmp/pw" >/dev/null
    buy_to_byte+=($(( $(ms) - t0 )))
  done
  echo "purchase final -> first plaintext byte (ms): $(stats "${buy_to_byte[@]}")"
  echo "(release build, $VALIDATORS validator processes on loopback, key from the committee's threshold; each time includes starting the client process and unlocking a light-kdf key)"
  exit 0
fi
buy_to_byte=()
for buyer in "${accounts[@]:1}"; do
  "$LS" file buy "$cid" --from "$buyer" >/dev/null
  t0=$(ms)
  "$LS" file cat "$cid" --range 0-0 --from "$buyer" >/dev/null
  buy_to_byte+=($(( $(ms) - t0 )))
done
reads=()
for i in $(seq 1 "$READS"); do
  t0=$(ms)
  "$LS" file cat "$cid" --range 0-0 --from "${accounts[$(( 1 + i % 9 ))]}" >/dev/null
  reads+=($(( $(ms) - t0 )))
done
echo "purchase final -> first plaintext byte (ms): $(stats "${buy_to_byte[@]}")"
echo "first plaintext byte, reader with access (ms): $(stats "${reads[@]}")"
echo "(release build, one dev node = committee of one, loopback; each time includes starting the client process)"
(cd "$root" && cargo build --release --locked -q -p ls-loadgen --bin ls-release-load)
RELEASE_LOAD="$CARGO_TARGET_DIR/release/ls-release-load"
readers=$(( (RELEASE_REQUESTS + 19) / 20 ))
echo "key-release throughput: $("$RELEASE_LOAD" --rpc "$rpc" --file-id "$file_id" --readers "$readers" --requests "$RELEASE_REQUESTS")"
