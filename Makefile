# The verbs a user types. `make demo` and `make test` are the two the README
# promises work on a fresh machine.

CARGO ?= cargo
FIXTURES := tests/fixtures/events.jsonl
DEMO_OUT := target/demo

.PHONY: all build test lint demo route schema lambda clean

all: build

build:
	$(CARGO) build --workspace

## Run every check and test (what CI runs).
test: lint
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The relay over the bundled sample events: what each became, and a summary per category.
demo:
	@mkdir -p $(DEMO_OUT)
	$(CARGO) run -q -p trailrelay -- route $(FIXTURES) > $(DEMO_OUT)/entries.jsonl
	$(CARGO) run -q -p trailrelay -- explain $(FIXTURES)
	@echo
	@echo "PutEvents entries, as the enricher would send them: $(DEMO_OUT)/entries.jsonl ($$(wc -l < $(DEMO_OUT)/entries.jsonl) lines)"

## Refresh the checked-in JSON Schema of the enrichment (a test keeps it equal).
schema:
	$(CARGO) run -q -p trailrelay -- schema > docs/enrichment.schema.json

## Build the enricher for Lambda (needs cargo-lambda: pip install cargo-lambda).
lambda:
	cargo lambda build --release --arm64 -p trailrelay-enricher

clean:
	$(CARGO) clean
	rm -rf $(DEMO_OUT)
