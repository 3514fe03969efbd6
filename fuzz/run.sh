#!/usr/bin/env bash
# A bounded fuzz run of every target (or of those named), starting from the
# committed corpus and seeds: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs cargo-fuzz (cargo install cargo-fuzz) and, preferably, a nightly
# toolchain (without one it uses stable with RUSTC_BOOTSTRAP=1); without
# cargo-fuzz it says why it skips and exits 0. New inputs go to a
# temporary directory, not to the committed corpus; a crash fails the run
# and leaves its input in fuzz/artifacts/<target>/.
#
# FUZZ_SANITIZER (default none) picks cargo fuzz's sanitizer: without
# AddressSanitizer the targets run 7 to 10 times faster, and swim-core's own
# `unsafe` is two unchecked UTF-8 conversions (FUZZ_SANITIZER=address for a
# run with it).
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-25}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(datagram stream sequence sealed)
fi
sanitizer=${FUZZ_SANITIZER:-none}

# cargo-fuzz wants nightly; with the sanitizer off, a stable toolchain
# told to allow nightly flags builds the targets too.
if cargo +nightly --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi
if ! "${fuzz[@]}" --version >/dev/null 2>&1; then
  echo "fuzz: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "${fuzz[@]}" build -s "$sanitizer" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  dirs=("$work/$t")
  for d in "corpus/$t" "seeds/$t"; do
    if [ -d "$d" ]; then dirs+=("$d"); fi
  done
  log="$work/$t.log"
  if ! "${fuzz[@]}" run -s "$sanitizer" "$t" "${dirs[@]}" -- \
    -max_total_time="$secs" -timeout=10 -dict=swim.dict -print_final_stats=1 \
    >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t failed: its input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  echo "fuzz: $t: ${secs}s, ${stats:-no final line}"
done
