#!/usr/bin/env bash
# Records real wpa_supplicant control-interface output (BSS, SCAN_RESULTS, STATUS replies
# and event streams) into tests/fixtures/wpa/, for the Wi-Fi backend's parser tests. Run by
# hand, as root, when the fixtures should be renewed; not part of `make test`. Boots one
# hwsim VM (tests/hwsim/README.md) and takes about two minutes.
#
# Usage: tests/hwsim/record-wpa-output.sh [DIR]     (default: tests/fixtures/wpa)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$(realpath -m "${1:-tests/fixtures/wpa}")
tests/hwsim/setup.sh target/hwsim
# cargo builds the binary before the VM boots (9p may show the guest a stale file otherwise)
# and hands the flag to tests/wifi.rs's main, which boots the VM and copies the files.
cargo test --test wifi -- --record-wpa-fixtures "$dest"
