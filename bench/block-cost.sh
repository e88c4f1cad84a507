#!/usr/bin/env bash
# Block build (propose), verify and finalize time with 10 000, 100 000 and 1 000 000 funded
# accounts in the state, same block (TXS transfers to random accounts). The cost must follow the
# block's changes, not the state: the script prints each step's time per size and its ratio to
# the 10k figure. What still grows is the B-tree: at 10k accounts a table is a few hundred 4 KiB
# pages that every block's changes share, at 1M each changed account dirties a leaf page of its
# own (docs/decisions.md, "State root").
# Usage: bench/block-cost.sh [TXS]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightstreams/target}"
txs="${1:-2000}"
cargo build -q --release -p ls-chain --example build_verify
bin="$CARGO_TARGET_DIR/release/examples/build_verify"
runs=()
for accounts in 10000 100000 1000000; do
  run=$("$bin" --accounts "$accounts" --txs "$txs")
  echo "$accounts accounts: $run"
  runs+=("$run")
done
python3 - "${runs[@]}" <<'PY'
import json, sys
runs = [json.loads(a) for a in sys.argv[1:]]
base = runs[0]
for k in ("propose_ms", "verify_ms", "finalize_ms"):
    cells = "  ".join(f"{r['accounts']:>7} {r[k]:7.1f} ({r[k] / base[k]:.2f}x)" for r in runs)
    print(f"{k:12} {cells}")
PY
