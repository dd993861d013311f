# netpilot — the two commands: `make run` and `make test`. Both install what is missing.
SHELL := /bin/bash
TOOLS := $(CURDIR)/target/tools
export PATH := $(TOOLS)/bin:$(PATH)
export GRPCURL := $(TOOLS)/bin/grpcurl
# The hwsim VM's kernel and initramfs (tests/hwsim/README.md); tests/common/hwsim.rs reads it.
export HWSIM_CACHE ?= $(CURDIR)/target/hwsim

.PHONY: deps build run test test-rust test-fuzz lint hwsim bench clean

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
	@tests/hwsim/setup.sh $(HWSIM_CACHE)

## Every test, as stages (TEST_STAGES, make targets): formatting and lints; unit and policy
## tests, the integration tests that run netpilotd in network namespaces they create and the
## Wi-Fi tests on mac80211_hwsim radios in a QEMU guest (needs root, as in CI); 30 s of
## fuzzing the DHCP client (scripts/fuzz-dhcp.sh) and 10 s each for the API requests, the
## config file and session policy files (scripts/fuzz.sh); the clients' stages
## (clients/clients.mk).
## Every stage runs even when an earlier one failed; scripts/test-stages.sh then prints each
## stage's result, time and counts, and `tests: N passed, M failed` over all runners, and
## fails when any stage did. One stage alone: `make test-rust`, `make clients-test-go`, ...
TEST_STAGES := lint test-rust test-fuzz

test:
	@MAKE="$(MAKE)" scripts/test-stages.sh $(TEST_STAGES)

test-rust: deps hwsim
	cargo test --no-fail-fast

test-fuzz: deps
	scripts/fuzz-dhcp.sh 30
	scripts/fuzz.sh 10 api_request config_file session_policy

## netpilotd against ConnMan in the same run, medians and ratios: wired on the veth testbed
## (bench/carrier.sh, ../shared/bench/connman_baseline.sh; 100 cycles and two 60 s idle
## windows on each side, about 25 minutes), Wi-Fi on mac80211_hwsim (bench/wifi.sh,
## ../shared/bench/wifi/connman-wifi-baseline.sh; about 12 minutes), then sessions and the
## API (bench/sessions.sh: fan-out to 1/100/1000 sessions, ListServices with 10/500 links
## from ghz against ConnMan's GetServices, start-up with 2/200 links; about 8 minutes).
## Needs root. `make bench BENCH_FLAGS=--no-connman` measures netpilotd alone. The
## baselines come from ../shared beside the checkout, or from $NETPILOT_SHARED.
bench: deps
	cargo build --release --bins
	cargo test --release --test wifi --no-run
	cargo build --release --example session_bench
	bench/carrier.sh $(BENCH_FLAGS)
	bench/wifi.sh $(BENCH_FLAGS)
	TOOLS=$(TOOLS) bench/sessions.sh $(BENCH_FLAGS)

clean:
	cargo clean
include clients/clients.mk
