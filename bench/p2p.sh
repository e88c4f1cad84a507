#!/usr/bin/env bash
# Peer-to-peer content, on loopback (not run in CI). Prints:
#   fetch              SIZE_MB of random bytes uploaded to our node A, read whole through the
#                      gateway of node B (connected to A: B fetches over Bitswap), vs two Helia
#                      nodes in one process (tests/compat/helia/pair.mjs: add on one, cat on the
#                      other); ROUNDS rounds (a fresh B each), each side's MB/s per round and the
#                      ratio of the medians (target: ours >= 2x Helia)
#   first byte         of a 1 MiB range at the middle of the file through a fresh node C
#                      connected to A (curl's time_starttransfer: one fetch of the root, the
#                      intermediate node and the first leaf)
#   origin load        READERS fresh nodes, each connected to A (and the first reader), read the
#                      file one after another; the bytes A's TCP sockets sent meanwhile (the
#                      kernel's tcpi_bytes_sent, from `ss -tinp`, summed over A's connections)
#                      divided by the file size = copies served. The topology is kept as it
#                      was (every reader knows the origin and one earlier reader; others are
#                      found through the provider records readers publish for fetched roots).
#                      A reader asks every holder whether it has a block and takes it from the
#                      first that says HAVE; a holder that sent the block to other peers lately
#                      answers up to 100 ms later (docs/p2p.md, "Sparing the origin"), so the
#                      readers serve each other and A about one copy.
# Chunking differs: ours is Kubo's (CIDv0, 256 KiB leaves), Helia's its default (CIDv1, raw
# leaves). Helia is timed in-process (no node start-up), which favours it slightly.
# Our nodes keep every block in a file under their datadir, as a node does; Helia here keeps
# them in memory (its default MemoryBlockstore). BENCH_TMPDIR=/dev/shm puts our datadirs on
# tmpfs, which takes most of the disk's per-file cost out of our side too.
# Usage: bench/p2p.sh                       (SIZE_MB=100, READERS=5, ROUNDS=3)
#        LIGHTSTREAMS_BIN=path/to/lightstreams bench/p2p.sh   (skips the release build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SIZE_MB="${SIZE_MB:-100}"
READERS="${READERS:-5}"
ROUNDS="${ROUNDS:-3}"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 && "$ROUNDS" -le 10 ]] || { echo "ROUNDS is 1..10" >&2; exit 2; }
[[ "$SIZE_MB" =~ ^[0-9]+$ && "$SIZE_MB" -ge 2 ]] || { echo "SIZE_MB is whole MiB, at least 2" >&2; exit 2; }
[[ "$READERS" =~ ^[0-9]+$ && "$READERS" -ge 1 && "$READERS" -le 20 ]] || { echo "READERS is 1..20" >&2; exit 2; }
# shellcheck source=lib/binary.sh
source "$root/bench/lib/binary.sh"
helia="$root/tests/compat/helia"
if [ ! -d "$helia/node_modules" ]; then
  echo "installing Helia (npm ci)..." >&2
  npm ci --prefix "$helia" --no-audit --no-fund --silent >/dev/null
fi

pids=()
tmp=$(mktemp -d -p "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}")
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
die() { echo "p2p bench: $*" >&2; exit 1; }

# start NAME [extra args]: a dev node on free ports; sets <NAME>_PID, <NAME>_GW, <NAME>_P2P.
start() {
  local name=$1; shift
  : >"$tmp/$name.log"
  "$LS" node --dev --quiet --datadir "$tmp/$name" --rpc-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 \
    --p2p-addr /ip4/127.0.0.1/tcp/0 --log warn "$@" >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    if grep -q '^Listening on ' "$tmp/$name.log"; then
      printf -v "${name}_PID" '%s' "$pid"
      printf -v "${name}_GW" 'http://%s' "$(sed -n 's/^Gateway listening on //p' "$tmp/$name.log")"
      printf -v "${name}_P2P" '%s' "$(sed -n 's/^P2P listening on //p' "$tmp/$name.log" | head -n 1)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.log" >&2; die "node $name exited"; }
    sleep 0.1
  done
  die "node $name did not start within 30 s"
}
# wait_peer GW PEER_ID: until the node at GW lists PEER_ID (bounded).
wait_peer() {
  for _ in $(seq 1 150); do
    curl -sf -X POST "$1/api/v0/swarm/peers" | grep -q "$2" && return 0
    sleep 0.1
  done
  die "$1 never connected to $2"
}
peer_id() { echo "${1##*/p2p/}"; }
# Bytes sent by every established TCP socket of process $1 (connections stay up during the run).
sent() {
  ss -tinpH state established | python3 -c '
import re, sys
pid, total, mine = sys.argv[1], 0, False
for line in sys.stdin:
    if "users:" in line:
        mine = f"pid={pid}," in line
    m = re.search(r"bytes_sent:(\d+)", line)
    if m and mine:
        total += int(m.group(1))
print(total)' "$1"
}

head -c "$((SIZE_MB << 20))" /dev/urandom > "$tmp/file.bin"
size=$(stat -c %s "$tmp/file.bin")
start A
cid=$(curl -sf -X POST --data-binary @"$tmp/file.bin" "$A_GW/ipfs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Hash"])')

# fetch: ROUNDS rounds, ours then Helia in each (a fresh reader B each round), medians compared.
# Our first timed read after the machine sat idle for a while was the slow one, on disk and on
# tmpfs alike (1.7-1.9x Helia against 2.5-3.2x right after another run): one round alone is a
# coin toss.
mbs() { python3 -c "print(f'{$size / 1e6 / float($1):.1f}')"; }
ours_all=(); theirs_all=()
for r in $(seq 1 "$ROUNDS"); do
  # Round 1 is A and B, which stay for the figures below; later rounds use a fresh pair each,
  # stopped after it (an origin that has handed blocks out holds its HAVEs back a little).
  if [ "$r" -eq 1 ]; then
    origin=A; reader=B
  else
    origin="P$r"; reader="Q$r"
    start "$origin"
    o_gw="${origin}_GW"
    [ "$(curl -sf -X POST --data-binary @"$tmp/file.bin" "${!o_gw}/ipfs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Hash"])')" = "$cid" ] \
      || die "$origin's upload gave another CID"
  fi
  o_p2p="${origin}_P2P"
  start "$reader" --bootstrap "${!o_p2p}"
  r_gw="${reader}_GW"
  wait_peer "${!r_gw}" "$(peer_id "${!o_p2p}")"
  # Compared as it arrives, through a pipe: Helia's side does not write its copy to disk either.
  rm -f "$tmp/pipe"; mkfifo "$tmp/pipe"
  cmp -s "$tmp/file.bin" "$tmp/pipe" & cmp_pid=$!
  pids+=("$cmp_pid") # stopped on exit too, should curl fail before it opens the pipe
  ours=$(curl -sf -o "$tmp/pipe" -w '%{time_total}' "${!r_gw}/ipfs/$cid") || die "$reader's read failed"
  wait "$cmp_pid" || die "$reader's copy differs"
  if [ "$r" -gt 1 ]; then
    for n in "$origin" "$reader"; do v="${n}_PID"; kill "${!v}"; done
  fi
  theirs=$(node "$helia/pair.mjs" "$SIZE_MB" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
  printf '  round %s: ours %s MB/s   helia %s MB/s\n' "$r" "$(mbs "$ours")" "$(mbs "$theirs")"
  ours_all+=("$ours"); theirs_all+=("$theirs")
done
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ours=$(median "${ours_all[@]}"); theirs=$(median "${theirs_all[@]}")
printf 'fetch %s MiB       ours %s MB/s   helia %s MB/s   ours/helia %s   (medians of %s rounds)\n' "$SIZE_MB" "$(mbs "$ours")" \
  "$(mbs "$theirs")" "$(python3 -c "print(f'{float($theirs) / float($ours):.2f}x')")" "$ROUNDS"

# first byte of a 1 MiB range in the middle, through a fresh node
start C --bootstrap "$A_P2P"
wait_peer "$C_GW" "$(peer_id "$A_P2P")"
mid=$((size / 2))
fb=$(curl -sf -o /dev/null -w '%{time_starttransfer}' -H "Range: bytes=$mid-$((mid + (1 << 20) - 1))" "$C_GW/ipfs/$cid")
printf 'first byte, 1 MiB range at %s: %s ms\n' "$mid" "$(python3 -c "print(f'{float($fb) * 1000:.1f}')")"

# origin load: READERS fresh readers, one after another
before=$(sent "$A_PID")
first=""
for i in $(seq 1 "$READERS"); do
  if [ -z "$first" ]; then start "R$i" --bootstrap "$A_P2P"; else start "R$i" --bootstrap "$A_P2P" --bootstrap "$first"; fi
  gw_var="R${i}_GW"; p2p_var="R${i}_P2P"
  wait_peer "${!gw_var}" "$(peer_id "$A_P2P")"
  [ -n "$first" ] || first="${!p2p_var}"
  curl -sf -o "$tmp/r.bin" "${!gw_var}/ipfs/$cid"
  cmp -s "$tmp/file.bin" "$tmp/r.bin" || die "reader $i's copy differs"
done
after=$(sent "$A_PID")
printf 'origin load, %s readers: A sent %s MB = %s copies of the file (target: about 1)\n' "$READERS" \
  "$(python3 -c "print(f'{($after - $before) / 1e6:.1f}')")" "$(python3 -c "print(f'{($after - $before) / $size:.2f}')")"
