# The two entry points a newcomer needs are in README.md: `make test` here.
SHELL := /bin/bash
export PULUMI_SKIP_UPDATE_CHECK := 1
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true

.PHONY: test pulumi standin policy lint bench serve token chromium screenshots

# The pinned Pulumi CLI, built once into bin/ (tools/go.mod). Built before any
# test binary starts, so no test waits on a 3–9 minute build inside go test's timeout.
pulumi:
	scripts/build-pulumi.sh

# The stand-in AWS provider plugins (standin/README.md): test doubles that
# create nothing in AWS, built into bin/standin and used only by callers that
# put that directory first on the CLI's PATH (the engine tests do).
standin:
	go build -o bin/standin/ ./standin/cmd/pulumi-resource-aws ./standin/cmd/pulumi-resource-awsx

# Debian's chromium, for the console's browser tests (.ci/run installs it;
# without it those tests skip outside CI and fail in CI).
chromium:
	scripts/install-chromium.sh

# The console's screenshots, each page at a desktop and a tablet width, kept
# in .work/screenshots (the browser test writes them to a temporary directory
# otherwise).
SCREENSHOTS ?= $(CURDIR)/.work/screenshots
screenshots: pulumi chromium
	set -o pipefail; CATS_SCREENSHOTS=$(SCREENSHOTS) go test -count=1 -run TestConsoleInABrowser -v ./automation/cmd/cats | grep -E 'screenshot|^(ok|FAIL|---)'

# The policy pack binary: what the pull request workflow runs, and what the
# automation server runs on every preview and up (it does not start without).
policy:
	go build -o bin/cats-policy ./policy

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Everything CI runs: formatting, vet, every test, and a bounded fuzz of the
# server's request decoding and validation. automation/cmd/cats deploys about
# a hundred stacks through the real CLI (the fleet's rollout of 50 among them):
# on a busy 2-core machine that takes more than go test's default 10 minutes,
# so the limit is 30. The fuzz's bound is a count of inputs, not
# a duration: in Go 1.26 a duration can end the run with a spurious "context
# deadline exceeded" (go.dev/issue/75804, fixed in Go 1.27).
test: pulumi standin policy lint
	go test -count=1 -timeout 30m ./...
	go test -run '^$$' -fuzz FuzzCreateMunicipality -fuzztime 100000x ./automation/server

# Speed and memory figures (never asserted in tests).
bench:
	go test -run '^$$' -bench . -benchmem ./...

# The automation server on embedded defaults: SQLite jobs, a file state backend
# and passphrase secrets, all in its data directory ($CATS_DATA, else
# .work/cats-data: the default of cats serve and cats token alike).
# CATS_PASSPHRASE protects the stacks' secrets. The server runs the bin/pulumi
# that `make pulumi` builds (or $PULUMI; see `cats serve --help`) and the
# policy pack in bin/cats-policy. CLOUD=standin deploys to the stand-in cloud
# (bin/standin: nothing is created in AWS); the default, aws, to AWS.
ADDR ?= 127.0.0.1:8080
CLOUD ?= aws
serve: pulumi policy $(if $(filter standin,$(CLOUD)),standin)
	@test -n "$$CATS_PASSPHRASE" || { echo "set CATS_PASSPHRASE (it protects the stacks' secrets)"; exit 1; }
	go run ./automation/cmd/cats serve --addr $(ADDR) --cloud $(CLOUD)

# An API token of the server's data directory, shown once:
# make token (the platform team's) or make token SCOPE=131016 (one municipality's).
SCOPE ?= platform
token:
	go run ./automation/cmd/cats token create --scope $(SCOPE)
