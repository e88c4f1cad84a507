#!/usr/bin/env bash
# Content store: our dev node's gateway against Helia's UnixFS (npm @helia/unixfs over a
# blockstore-fs FsBlockstore, no libp2p: the storage and importer path), on the same file, the
# same disk and Kubo's `ipfs add` settings (CIDv0, 256 KiB chunks, balanced 174 links), one at a
# time so they do not share the 2 cores. For each size it prints:
#   add, public        `lightstreams file add --public` (client -> HTTP -> node) vs Helia's
#                      addByteStream from a read stream; both must give the same root CID
#   add, encrypted     `lightstreams file add` (AES-256-GCM on the way in); ours only
#   read back          curl of /ipfs/<cid> vs Helia's cat, whole file; and `file cat` of the
#                      encrypted file (decrypted on the client, blocks fetched one by one)
#   first byte         of a 1 MiB range at random offsets (median of RANGES): curl's
#                      time_starttransfer with a Range header vs Helia cat({offset, length})
#                      in-process; and `file cat --range` of the encrypted file, spawned by
#                      python, which includes the process start
#   peak RSS           VmHWM of our node (a fresh node per size) after the adds and after the
#                      reads; Helia's add and cat processes (ru_maxrss)
# Durability differs: our node syncs every block to disk before it answers (batched fdatasync
# of its pack files, docs/decisions.md); Helia's blockstore-fs writes without syncing. Our
# node's RSS after reads includes its read cache (--block-cache, 64 MiB by default).
# Throughputs are MB/s (10^6 bytes). Ours is wall time of the client process; Helia's is timed
# inside its process (no node start-up), which favours Helia slightly.
# Usage: bench/content.sh            (SIZES="100 1024" MiB by default)
#        SIZE_MB=100 bench/content.sh | SIZES="100" RANGES=10 bench/content.sh
#        LIGHTSTREAMS_BIN=path/to/lightstreams bench/content.sh   (skips the cargo build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SIZES="${SIZE_MB:-${SIZES:-100 1024}}"
RANGES="${RANGES:-10}"
RANGE_LEN=$((1 << 20))
for mb in $SIZES; do
  [[ "$mb" =~ ^[0-9]+$ && "$mb" -ge 2 ]] || { echo "sizes are whole MiB, at least 2: $mb" >&2; exit 2; }
done
[[ "$RANGES" =~ ^[0-9]+$ && "$RANGES" -ge 1 && "$RANGES" -le 1000 ]] || { echo "RANGES is 1..1000" >&2; exit 2; }

# shellcheck source=lib/binary.sh
source "$root/bench/lib/binary.sh"
peer="$root/bench/content"
if [ ! -d "$peer/node_modules" ]; then
  echo "installing the Helia peer (npm ci)..." >&2
  npm ci --prefix "$peer" --no-audit --no-fund --silent >/dev/null
fi
TIME_V=""
if [ -x /usr/bin/time ] && /usr/bin/time -v true 2>/dev/null; then TIME_V=/usr/bin/time; fi

pids=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
die() { echo "content bench: $*" >&2; exit 1; }
# A python one-liner evaluator for the arithmetic bash has not got.
calc() { python3 -c "import statistics as st; print($1)"; }
ratio() { python3 -c "a=float('$1' or 0); b=float('$2' or 0); print(f'{a/b:.2f}x' if a and b else 'n/a')"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; } # KiB
mib() { python3 -c "print(f'{int($1)/1024:.0f} MiB')"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
rate() { python3 -c "import json,sys; j=json.load(sys.stdin); print(round(j['bytes'] / 1e6 / (j['ms'] / 1000), 1))"; } # Helia's JSON -> MB/s

# Starts a fresh node; sets node_pid and gw (the gateway URL) once the gateway answers.
start_node() {
  local rpc g
  rpc=$(port); g=$(port)
  "$LS" node --dev --quiet --datadir "$tmp/ours-$1" --rpc-addr "127.0.0.1:$rpc" --gateway-addr "127.0.0.1:$g" --p2p-addr /ip4/127.0.0.1/tcp/0 --log warn >"$tmp/node-$1.log" 2>&1 &
  node_pid=$!; pids+=("$node_pid")
  gw="http://127.0.0.1:$g"
  for _ in $(seq 1 300); do
    kill -0 "$node_pid" 2>/dev/null || { cat "$tmp/node-$1.log" >&2; die "the node exited at start-up"; }
    curl -s -o /dev/null -m 1 "$gw/" && return 0
    sleep 0.1
  done
  die "no gateway at $gw after 30 s"
}
stop_node() { kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; }
# Runs a command, leaving its stdout in $tmp/out, wall seconds in $secs and, when /usr/bin/time
# is there, its peak RSS in KiB in $rss (else empty).
timed() {
  local t0 t1
  rss=""
  t0=$EPOCHREALTIME
  if [ -n "$TIME_V" ]; then
    "$TIME_V" -v -o "$tmp/time" "$@" >"$tmp/out"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")
  else
    "$@" >"$tmp/out"
  fi
  t1=$EPOCHREALTIME
  secs=$(calc "$t1 - $t0")
}

# First byte of `file cat --range` (spawned here, so process start counts), for each offset;
# checks every range against the original file. Prints the median and the max in ms.
ttfb_file_cat() { # gw keys id file len offsets...
  python3 - "$LS" "$@" <<'PY'
import statistics, subprocess, sys, time
ls, gw, keys, fid, path, length, *offsets = sys.argv[1:]
length = int(length)
firsts = []
with open(path, "rb") as f:
    for off in map(int, offsets):
        t0 = time.perf_counter()
        p = subprocess.Popen([ls, "file", "cat", "--node", gw, "--keys", keys, fid, "--range", f"{off}-{off + length - 1}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = p.stdout.read(1)
        firsts.append((time.perf_counter() - t0) * 1000)
        got = first + p.stdout.read()
        err = p.stderr.read()
        if p.wait(timeout=120) != 0:
            sys.exit(f"file cat --range failed: {err.decode(errors='replace')}")
        f.seek(off)
        if got != f.read(length):
            sys.exit(f"file cat --range {off}-{off + length - 1}: {len(got)} bytes, not the file's")
print(f"{statistics.median(firsts):.1f} {max(firsts):.1f}")
PY
}
ttfb_curl() { # url len offsets... -> median max (ms)
  local url=$1 len=$2; shift 2
  local t=() off
  for off in "$@"; do
    t+=("$(curl -s -o /dev/null -m 60 -w '%{time_starttransfer}' -H "Range: bytes=$off-$((off + len - 1))" "$url")")
  done
  python3 -c "import statistics,sys; v=[float(x)*1000 for x in sys.argv[1:]]; print(f'{statistics.median(v):.1f} {max(v):.1f}')" "${t[@]}"
}

row() { printf "| %s | %s | %s | %s |\n" "$1" "$2" "$3" "$4"; }
summary=()
for mb in $SIZES; do
  bytes=$((mb << 20))
  data="$tmp/data-$mb.bin"
  echo "size $mb MiB: generating a random file..." >&2
  head -c "$bytes" /dev/urandom >"$data"
  # Write the new file out now: our store's syncfs would otherwise pay for it during our add.
  sync
  offsets=$(python3 -c "import random; print(' '.join(str(random.randrange(0, $bytes - $RANGE_LEN + 1)) for _ in range($RANGES)))")

  echo "size $mb MiB: our adds..." >&2
  start_node "$mb"
  timed "$LS" file add --public --json --node "$gw" "$data"
  ours_cid=$(json '["Hash"]' <"$tmp/out"); ours_add=$(calc "round($bytes / 1e6 / $secs, 1)")
  timed "$LS" file add --json --node "$gw" --keys "$tmp/keys" "$data"
  enc_id=$(json '["Hash"]' <"$tmp/out"); enc_add=$(calc "round($bytes / 1e6 / $secs, 1)"); client_rss=$rss
  node_rss_add=$(hwm "$node_pid")

  echo "size $mb MiB: Helia add..." >&2
  timed node "$peer/helia-add.mjs" "$data" "$tmp/helia-$mb"
  helia_cid=$(json '["cid"]' <"$tmp/out")
  helia_add=$(rate <"$tmp/out")
  helia_add_rss=${rss:-$(json '["maxRssKiB"]' <"$tmp/out")}
  echo "size $mb MiB: root CID ours $ours_cid, Helia $helia_cid" >&2
  [ "$ours_cid" = "$helia_cid" ] || die "ROOT CIDs DIFFER for the same $mb MiB file: ours $ours_cid, Helia $helia_cid"

  echo "size $mb MiB: reads..." >&2
  read -r got tt < <(curl -s -o /dev/null -m 600 -w '%{size_download} %{time_total}\n' "$gw/ipfs/$ours_cid")
  [ "$got" = "$bytes" ] || die "GET /ipfs/$ours_cid gave $got bytes, not $bytes"
  ours_read=$(calc "round($bytes / 1e6 / $tt, 1)")
  t0=$EPOCHREALTIME
  "$LS" file cat --node "$gw" --keys "$tmp/keys" "$enc_id" | cmp -s - "$data" || die "file cat of the encrypted file does not give the file back"
  enc_read=$(calc "round($bytes / 1e6 / ($EPOCHREALTIME - $t0), 1)")
  read -r ours_ttfb ours_ttfb_max < <(ttfb_curl "$gw/ipfs/$ours_cid" "$RANGE_LEN" $offsets)
  read -r enc_ttfb enc_ttfb_max < <(ttfb_file_cat "$gw" "$tmp/keys" "$enc_id" "$data" "$RANGE_LEN" $offsets)
  node_rss_read=$(hwm "$node_pid")
  stop_node

  timed node "$peer/helia-cat.mjs" "$tmp/helia-$mb" "$helia_cid"
  [ "$(json '["bytes"]' <"$tmp/out")" = "$bytes" ] || die "Helia cat gave back $(json '["bytes"]' <"$tmp/out") bytes"
  helia_read=$(rate <"$tmp/out")
  helia_cat_rss=${rss:-$(json '["maxRssKiB"]' <"$tmp/out")}
  timed node "$peer/helia-cat.mjs" "$tmp/helia-$mb" "$helia_cid" --ranges "$RANGE_LEN" $offsets
  read -r helia_ttfb helia_ttfb_max < <(python3 -c "
import json, statistics; r = json.load(open('$tmp/out'))['ranges']
assert all(x['bytes'] == $RANGE_LEN for x in r), r
v = [x['firstByteMs'] for x in r]; print(f'{statistics.median(v):.1f} {max(v):.1f}')")

  echo
  echo "### $mb MiB random file, root $ours_cid"
  echo
  row "workload" "ours" "helia" "ratio ours/helia"
  row "---" "---:" "---:" "---:"
  row "add, public (MB/s)" "$ours_add" "$helia_add" "$(ratio "$ours_add" "$helia_add")"
  row "add, encrypted (MB/s)" "$enc_add" "-" "-"
  row "read back whole file (MB/s)" "$ours_read" "$helia_read" "$(ratio "$ours_read" "$helia_read")"
  row "read back encrypted, \`file cat\` (MB/s)" "$enc_read" "-" "-"
  row "first byte of 1 MiB range, public: curl vs in-process (ms, median / max of $RANGES; lower is better)" "$ours_ttfb / $ours_ttfb_max" "$helia_ttfb / $helia_ttfb_max" "$(ratio "$ours_ttfb" "$helia_ttfb")"
  row "first byte of 1 MiB range, encrypted: \`file cat --range\` incl. process start (ms, median / max)" "$enc_ttfb / $enc_ttfb_max" "-" "-"
  row "peak RSS: our node after the adds vs Helia add process" "$(mib "$node_rss_add")" "$(mib "$helia_add_rss")" "$(ratio "$node_rss_add" "$helia_add_rss")"
  row "peak RSS: our node after the reads vs Helia cat process" "$(mib "$node_rss_read")" "$(mib "$helia_cat_rss")" "$(ratio "$node_rss_read" "$helia_cat_rss")"
  [ -n "$client_rss" ] && row "peak RSS: our \`file add\` client (encrypted)" "$(mib "$client_rss")" "-" "-"
  summary+=("$mb|$(ratio "$ours_add" "$helia_add")|$enc_add|$ours_ttfb_max|$enc_ttfb_max|$(mib "$node_rss_read")|$(mib "$helia_add_rss")")
  rm -rf "$data" "$tmp/ours-$mb" "$tmp/helia-$mb"
done

echo
echo "### Targets (from the issue) against what was measured"
echo
row "size" "add vs peer (target >= 3x)" "encrypted add MB/s (target >= 750)" "first byte max ms, public / encrypted (target < 20)"
row "---" "---:" "---:" "---:"
for s in "${summary[@]}"; do
  IFS='|' read -r mb r enc t1 t2 _ _ <<<"$s"
  row "$mb MiB" "$r" "$enc" "$t1 / $t2"
done
echo
echo "Memory constant in file size (target): our node's peak RSS by size, with Helia's add process beside it:"
for s in "${summary[@]}"; do
  IFS='|' read -r mb _ _ _ _ ours_m helia_m <<<"$s"
  echo "- $mb MiB: ours $ours_m, Helia $helia_m"
done
echo
echo "(2 cores, one process at a time, blocks on the same disk; the file is in the page cache for both adds. \`file cat --range\` times include starting the client process.)"
