# The two entry points a newcomer needs are in README.md: `make test` here.
SHELL := /bin/bash
export PULUMI_SKIP_UPDATE_CHECK := 1
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true

.PHONY: test pulumi lint bench

# The pinned Pulumi CLI, built once into bin/ (tools/go.mod). Built before any
# test binary starts, so no test waits on a 3–9 minute build inside go test's timeout.
pulumi:
	scripts/build-pulumi.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

# Everything CI runs: formatting, vet, and every test.
test: pulumi lint
	go test -count=1 ./...

# Speed and memory figures (never asserted in tests).
bench:
	go test -run '^$$' -bench . -benchmem ./...
