# The verbs a user types. `make demo` and `make test` are the two the README
# promises work on a fresh machine.

CARGO ?= cargo
PYTHON ?= python3
FIXTURES := tests/fixtures/events.jsonl
DEMO_OUT := target/demo

# Python tools, each set in a virtualenv of its own (their pins clash),
# installed from the pinned files in tools/ when missing or changed.
VENV := .venv
VENV_SAM := .venv-sam
VENV_CHECKOV := .venv-checkov
# The IAM policy evaluator the flow tests judge the templates with
# (@cloud-copilot/iam-simulate, AGPL-3.0: test-only, never packaged with the
# functions), pinned by tests/iam/package-lock.json.
IAM_SIMULATOR := tests/iam/node_modules/.installed
TOOLS := $(VENV)/.installed $(VENV_SAM)/.installed $(VENV_CHECKOV)/.installed $(IAM_SIMULATOR)
# cargo-lambda finds zig on PATH; under SAM the first python3 is SAM's, which
# lacks the ziglang package, so the zig binary itself goes on PATH.
TOOLS_PATH := $(CURDIR)/$(VENV)/zigbin:$(CURDIR)/$(VENV)/bin:$(PATH)
# Offline checks need a region and some credentials, never real ones.
OFFLINE_AWS := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline
TEMPLATES := template.yaml member-roles.yaml member-account.yaml consumer-account.yaml security-subscription.yaml organization-guardrails.yaml

.PHONY: all build build-functions check test lint validate e2e soak demo explain bench schema tools sam-build lambda deploy clean

all: build

build:
	$(CARGO) build --workspace

## Every check and test (what CI runs).
test: lint validate
	$(CARGO) test --workspace --all-targets
	$(MAKE) e2e

## The contributor's loop (under a minute warm): formatting, lints, and every
## Rust test with small property and fault sizes. `make test` runs the full
## sizes, the template checks and the end-to-end suite.
check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	PROPTEST_CASES=64 TRAILRELAY_FAULT_SCALE=0.1 $(CARGO) test --workspace --all-targets -q

## End to end on this machine: moto for AWS, cargo lambda watch for Lambda (tests/e2e).
# Each function is built alone, as `cargo lambda watch -p <function>` builds
# it (with only that package's features), so that no function is compiled
# in the middle of a test whose clock is running.
FUNCTIONS := trailrelay-enricher trailrelay-account-sync trailrelay-path-check trailrelay-reconciler
build-functions:
	@echo "building the functions (the first build takes a few minutes)..."
	for p in $(FUNCTIONS); do $(CARGO) build -q -p $$p || exit 1; done

e2e: $(VENV)/.installed build-functions
	$(CARGO) build -q -p trailrelay
	$(VENV)/bin/pytest -q tests/e2e

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The template checks: the relay's own, cfn-lint, sam validate, checkov, and the policy tests.
validate: $(TOOLS)
	$(CARGO) run -q -p trailrelay -- check-template template.yaml
	$(VENV)/bin/cfn-lint $(TEMPLATES)
	$(OFFLINE_AWS) $(VENV_SAM)/bin/sam validate --lint -t template.yaml
	$(VENV_CHECKOV)/bin/checkov $(addprefix -f ,$(TEMPLATES)) --framework cloudformation --skip-download --compact --quiet
	$(VENV)/bin/pytest -q tests/templates

## The fault matrix ten times bigger, and 20,000 property-test cases.
soak:
	TRAILRELAY_FAULT_SCALE=10 $(CARGO) test --release -p trailrelay-enricher --test faults -- --nocapture
	PROPTEST_CASES=20000 $(CARGO) test --release -p trailrelay-enricher --test properties

## The whole relay on this machine: moto, the enricher under cargo lambda watch, the
## templates' topology, the bundled sample events sent from member accounts.
demo: $(VENV)/.installed build-functions
	$(VENV)/bin/python local/demo.py

## The same sample events through the CLI only, offline: what each became, and a summary.
explain:
	@mkdir -p $(DEMO_OUT)
	$(CARGO) run -q -p trailrelay -- route $(FIXTURES) > $(DEMO_OUT)/entries.jsonl
	$(CARGO) run -q -p trailrelay -- explain $(FIXTURES)
	@echo
	@echo "PutEvents entries, as the enricher would send them: $(DEMO_OUT)/entries.jsonl ($$(wc -l < $(DEMO_OUT)/entries.jsonl) lines)"

## Benchmarks (figures in docs/performance.md): criterion times, callgrind
## instruction counts against the floor, throughput against the Python
## reference, then issue 19's goals table (benches/goals.py: route's CPU
## against its floor and the reference, cold start, peak RSS on a 6 MB batch,
## the arm64 bootstrap's size) from one build, written to target/bench/goals.md.
bench: lambda
	$(CARGO) bench -p trailrelay-shared --bench per_event
	benches/callgrind.sh
	benches/throughput.sh
	$(CARGO) build -q --release -p trailrelay -p trailrelay-enricher
	$(CARGO) build -q --release -p trailrelay-shared --example route_floor
	$(PYTHON) benches/lambda_stand_in.py target/release/trailrelay-enricher
	@mkdir -p target/bench
	$(PYTHON) benches/goals.py | tee target/bench/goals.md

## Refresh the checked-in JSON Schema of the enrichment (a test keeps it equal).
schema:
	$(CARGO) run -q -p trailrelay -- schema > docs/enrichment.schema.json

tools: $(TOOLS)

$(VENV)/.installed: tools/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r $<
	mkdir -p $(VENV)/zigbin
	ln -sf "$$($(VENV)/bin/python -c 'import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')" $(VENV)/zigbin/zig
	touch $@

$(VENV_SAM)/.installed: tools/requirements-sam.txt
	$(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/pip install -q --disable-pip-version-check -r $<
	touch $@

$(VENV_CHECKOV)/.installed: tools/requirements-checkov.txt
	$(PYTHON) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/pip install -q --disable-pip-version-check -r $<
	touch $@

$(IAM_SIMULATOR): tests/iam/package.json tests/iam/package-lock.json
	command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q nodejs npm; }
	cd tests/iam && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## sam build: the enricher for arm64 through cargo-lambda, into .aws-sam/.
sam-build: $(TOOLS)
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(TOOLS_PATH)" $(OFFLINE_AWS) $(VENV_SAM)/bin/sam build --beta-features -t template.yaml

## Just the Lambda binary (target/lambda/trailrelay-enricher/bootstrap).
lambda: $(VENV)/.installed
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(TOOLS_PATH)" cargo lambda build --release --arm64 -p trailrelay-enricher

## Deploy the security account stack with your own AWS credentials (see docs/deploy.md).
deploy: sam-build
	SAM_CLI_TELEMETRY=0 $(VENV_SAM)/bin/sam deploy --guided

clean:
	$(CARGO) clean
	rm -rf $(DEMO_OUT) .aws-sam
