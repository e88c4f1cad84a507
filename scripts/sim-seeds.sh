#!/usr/bin/env bash
# Runs the deterministic multi-validator scenarios (crates/consensus/tests/simulation.rs) over
# many seeds: a validator crashed and restarted, an equivocating one, a lying proposer, lossy
# links, a split without quorum, a full node following. (The rest use one seed each.)
# A failure prints its seed; rerun one with LS_SIM_FIRST_SEED=<seed> LS_SIM_SEEDS=1.
# Usage: scripts/sim-seeds.sh [SEEDS]   (default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightstreams/target}"
seeds="${1:-1000}"
chunk=50
for ((first = 0; first < seeds; first += chunk)); do
  n=$(( seeds - first < chunk ? seeds - first : chunk ))
  echo "==> seeds $first..$((first + n - 1))"
  LS_SIM_FIRST_SEED=$first LS_SIM_SEEDS=$n cargo nextest run --cargo-quiet --status-level fail --locked -p ls-consensus --test simulation \
    -E 'test(outvoted) | test(lossy) | test(split) | test(equivocating) | test(crashed) | test(full_node_follows)'
done
echo "all $seeds seeds passed"
