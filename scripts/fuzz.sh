#!/usr/bin/env bash
# Fuzzes every parser of outside input with cargo fuzz (fuzz/fuzz_targets/*), the same way
# as scripts/fuzz-dhcp.sh: libFuzzer, coverage-guided, from the seeds in fuzz/corpus/TARGET,
# no sanitizer (stable Rust). Without cargo-fuzz the same targets run as a stable #[test]
# over the seeds plus random mutations for as long.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   default 10 s each (`make test`); by hand: scripts/fuzz.sh 600 api_request
# Targets: dhcp_reply (a DHCP server's packet), api_request (API requests through
# validation and the model conversions), config_file, session_policy.
# A crash fails the script; libFuzzer leaves the input in fuzz/artifacts/TARGET/.
set -euo pipefail
secs=${1:-10}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(dhcp_reply api_request config_file session_policy)
cd "$(dirname "$0")/.."
say() { printf 'fuzz: %s\n' "$*"; }

fallback() {
  say "$1; running the targets as stable tests over the seeds and random mutations (${secs}s each)"
  NETPILOT_FUZZ_SECS=$secs cargo test --lib net::dhcp::tests::fuzz_target -- --nocapture
  NETPILOT_FUZZ_SECS=$secs cargo test --lib api::fuzz::tests::fuzz_targets -- --nocapture
}

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet || { fallback "cargo-fuzz could not be installed"; exit; }
fi
cd fuzz
# One build for every target; RUSTC_BOOTSTRAP is not set: on stable, cargo fuzz builds
# without -Z flags when no sanitizer is asked for.
if ! cargo fuzz build --sanitizer none --dev; then
  cd ..
  fallback "cargo fuzz could not build the targets"
  exit
fi
for t in "${targets[@]}"; do
  [ -d "corpus/$t" ] || { say "unknown target $t (no fuzz/corpus/$t)"; exit 2; }
  # libFuzzer adds what it finds to the corpus directory; run on a copy so that the
  # committed seeds stay as they are.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "corpus/$t/." "$work/"
  say "$t: libFuzzer for ${secs}s"
  cargo fuzz run --sanitizer none --dev "$t" "$work" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
  rm -rf "$work"
  trap - EXIT
done
