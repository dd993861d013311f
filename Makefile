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

## netpilotd against ConnMan (../shared/bench/connman_baseline.sh) on the same testbed, in
## the same run: medians and ratios; then the session and API figures (bench/sessions.sh:
## fan-out to 1/100/1000 sessions, ListServices with 10/500 links from ghz against ConnMan's
## GetServices, start-up with 2/200 links). Needs root; takes about 10 minutes.
bench: deps
	cargo build --release --bins
	bench/carrier.sh
	cargo build --release --example session_bench
	TOOLS=$(TOOLS) bench/sessions.sh

clean:
	cargo clean
include clients/clients.mk
