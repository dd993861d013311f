# netpilot — the two commands: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
TOOLS := $(CURDIR)/target/tools
export PATH := $(TOOLS)/bin:$(PATH)
export GRPCURL := $(TOOLS)/bin/grpcurl

.PHONY: deps build run test lint hwsim bench clean

deps:
	@scripts/deps.sh $(TOOLS)

build: deps
	cargo build --bins

## Starts netpilotd on this machine with deploy/dev.toml: observes links, changes nothing,
## socket and state under /tmp/netpilot-dev, plain TCP on 127.0.0.1:50051 for grpcurl.
run: build
	./target/debug/netpilotd --config deploy/dev.toml

lint: deps
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

## Real 802.11 radios for tests/wifi.rs: QEMU, Debian's generic kernel (unpacked under
## target/hwsim, not installed), the busybox initramfs (tests/hwsim/README.md). Only the
## tests need it, so `make run` stays light.
hwsim:
	@tests/hwsim/setup.sh $(CURDIR)/target/hwsim

## Every test: formatting, lints, unit and policy tests, the integration tests that run
## netpilotd in network namespaces they create, the Wi-Fi tests on mac80211_hwsim radios in a
## QEMU guest (needs root, as in CI), and 30 s of fuzzing the DHCP client
## (scripts/fuzz-dhcp.sh).
test: lint hwsim
	cargo test --no-fail-fast
	scripts/fuzz-dhcp.sh 30

## netpilotd against ConnMan in the same run, medians and ratios: wired on the veth testbed
## (bench/carrier.sh, ../shared/bench/connman_baseline.sh; about 6 minutes), Wi-Fi on
## mac80211_hwsim (bench/wifi.sh, ../shared/bench/wifi/connman-wifi-baseline.sh; about 12
## minutes). Needs root. `make bench BENCH_FLAGS=--no-connman` measures netpilotd alone.
## The baselines come from ../shared beside the checkout, or from $NETPILOT_SHARED.
bench: deps
	cargo build --release --bins
	cargo test --release --test wifi --no-run
	bench/carrier.sh $(BENCH_FLAGS)
	bench/wifi.sh $(BENCH_FLAGS)

clean:
	cargo clean
include clients/clients.mk
