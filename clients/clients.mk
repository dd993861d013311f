# Clients (C++, Go, Python), grpcurl/grpc_health_probe checks and the API contract checks.
# Included by the top-level Makefile, which defines TOOLS, PATH and the `build` target.
#
#   make clients            regenerate the committed Go and Python code from proto/
#   make contract-check     buf lint + buf breaking (see clients/contract/check.sh)
#   make contract-baseline  move the stored breaking-change baseline to the current proto/
#   make clients-test       the shared scenario in Python, Go and C++ against a real netpilotd
#                           in network namespaces (clients/testbed.sh), as root

CLIENTS_VENV := $(TOOLS)/venv
CLIENTS_CPP_BUILD := $(CURDIR)/target/clients/cpp
CLIENTS_TESTBED := $(CURDIR)/clients/testbed.sh

.PHONY: clients clients-deps clients-check contract-check contract-baseline clients-test \
	clients-test-python clients-test-go clients-test-cpp clients-test-tools

# Stages of `make test` (Makefile), run even when an earlier one failed.
TEST_STAGES += contract-check clients-check clients-test-python clients-test-go \
	clients-test-cpp clients-test-tools

clients-deps:
	@clients/deps.sh $(TOOLS)

clients: clients-deps
	clients/generate.sh $(TOOLS)

## Fails when the committed generated code is not what `make clients` would write.
clients-check: clients-deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	clients/generate.sh $(TOOLS) "$$tmp" && \
	diff -r -x __pycache__ "$$tmp/python/src/netpilot/v1" clients/python/src/netpilot/v1 && \
	diff -r "$$tmp/go/netpilotv1" clients/go/netpilotv1 || \
	{ echo "clients: generated code is stale: run \`make clients\` and commit the result" >&2; exit 1; }
	@echo "clients: generated Go and Python code is up to date"

contract-check: clients-deps
	@clients/contract/check.sh $(TOOLS)

contract-baseline:
	rm -rf clients/contract/baseline && mkdir -p clients/contract/baseline
	cp -r proto/netpilot clients/contract/baseline/

clients-test: clients-test-python clients-test-go clients-test-cpp clients-test-tools

clients-test-python: build clients-deps
	$(CLIENTS_VENV)/bin/pip install -q --disable-pip-version-check --no-deps \
		--no-build-isolation ./clients/python
	cd clients/python && $(CLIENTS_TESTBED) $(CLIENTS_VENV)/bin/python -m pytest -q -p no:cacheprovider

clients-test-go: build clients-deps
	cd clients/go && out=$$(gofmt -l .) && [ -z "$$out" ] || { echo "gofmt: not formatted: $$out" >&2; exit 1; }
	cd clients/go && go vet ./...
	cd clients/go && $(CLIENTS_TESTBED) go test -count=1 -v -timeout 5m ./...

clients-test-cpp: build clients-deps
	cmake -S clients/cpp -B $(CLIENTS_CPP_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(CLIENTS_CPP_BUILD)
	clients/cpp/test-install.sh $(CLIENTS_CPP_BUILD)
	$(CLIENTS_TESTBED) $(CLIENTS_CPP_BUILD)/netpilot_tests

## grpcurl and grpc_health_probe, the README's commands, over the Unix socket and TCP.
clients-test-tools: build clients-deps
	$(CLIENTS_TESTBED) clients/tools-test.sh
