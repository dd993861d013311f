#!/usr/bin/env bash
# Fuzzes the DHCP client with what a server controls (IP/UDP checks, reply parsing, lease
# checks, the state machine): fuzz/fuzz_targets/dhcp_reply.rs -> netpilot::net::dhcp::fuzz_one.
# Usage: scripts/fuzz-dhcp.sh [SECONDS]   (default 30; `make test` runs it)
#
# With cargo-fuzz (installed from crates.io when missing) libFuzzer runs the target,
# coverage-guided, from the recorded seeds in fuzz/corpus/dhcp_reply. No sanitizer: the
# code under test is safe Rust, and without ASan the target builds on stable Rust (cargo
# fuzz needs nightly only for -Zsanitizer). If cargo-fuzz cannot be installed or built, the
# same target runs as a stable #[test] over the seeds plus random mutations for as long.
# A crash fails the script; libFuzzer leaves the input in fuzz/artifacts/dhcp_reply/.
set -euo pipefail
secs=${1:-30}
cd "$(dirname "$0")/.."
say() { printf 'fuzz-dhcp: %s\n' "$*"; }

fallback() {
  say "$1; running the same target as a stable test over the seeds and random mutations for ${secs}s"
  NETPILOT_FUZZ_SECS=$secs cargo test --lib net::dhcp::tests::fuzz_target -- --nocapture
}

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet || { fallback "cargo-fuzz could not be installed"; exit; }
fi
cd fuzz
# RUSTC_BOOTSTRAP is not set: on stable, cargo fuzz builds without -Z flags when no
# sanitizer is asked for.
if ! cargo fuzz build --sanitizer none --dev dhcp_reply; then
  cd ..
  fallback "cargo fuzz could not build the target"
  exit
fi
say "libFuzzer for ${secs}s"
cargo fuzz run --sanitizer none --dev dhcp_reply corpus/dhcp_reply -- \
  -max_total_time="$secs" -max_len=1600 -rss_limit_mb=2048 -print_final_stats=1
