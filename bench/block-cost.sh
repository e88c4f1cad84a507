#!/usr/bin/env bash
# Block build (propose), verify and finalize time with 10 000 and 1 000 000 funded accounts in
# the state, same block (TXS transfers to random accounts). The cost must follow the block's
# changes, not the state: the script prints the 1M / 10k ratio of each step.
# Usage: bench/block-cost.sh [TXS]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightstreams/target}"
txs="${1:-2000}"
cargo build -q --release -p ls-chain --example build_verify
bin="$CARGO_TARGET_DIR/release/examples/build_verify"
small=$("$bin" --accounts 10000 --txs "$txs")
large=$("$bin" --accounts 1000000 --txs "$txs")
echo "10k accounts: $small"
echo "1M accounts:  $large"
python3 - "$small" "$large" <<'PY'
import json, sys
s, l = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("propose_ms", "verify_ms", "finalize_ms"):
    print(f"{k:12} 10k {s[k]:8.1f}  1M {l[k]:8.1f}  ratio {l[k] / s[k]:.2f}x")
PY
