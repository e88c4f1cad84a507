# Sourced by bench scripts: sets LS to the lightstreams binary under test, $LIGHTSTREAMS_BIN if
# given (built elsewhere: no build here), else a release build in CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lightstreams/target}"
if [ -n "${LIGHTSTREAMS_BIN:-}" ]; then
  LS="$LIGHTSTREAMS_BIN"
else
  echo "building the release binary..." >&2
  (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && cargo build --release --locked -q --bin lightstreams)
  LS="$CARGO_TARGET_DIR/release/lightstreams"
fi
