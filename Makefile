# The README's two commands are `make dev` and `make test`; the rest support them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
DEV_STAMP := $(VENV)/.dev-installed
BUILD_STAMP := $(VENV)/.build-installed
FUZZ_VENV := .venv-fuzz
FUZZ_STAMP := $(FUZZ_VENV)/.installed
ARCH ?= x86_64
INFRA_TEMPLATES := infra/ec2/template.yaml infra/eks/network.yaml
# pb-tests files that read only files or a local socket, never the emulator; one that needs moto
# fails at once in `make test-unit`, which does not start it.
OFFLINE_TESTS := docs infra_eks sdk_timeouts template_drift

.PHONY: help test test-unit dev lint validate build bench fuzz redrive clean

help:
	@echo "make dev       run the backend locally against the moto emulator (Ctrl-C to stop)"
	@echo "make test      run every test against a fresh moto server"
	@echo "make test-unit run the tests that need no emulator: unit tests, template and docs checks"
	@echo "make lint      cargo fmt --check and clippy -D warnings"
	@echo "make validate  cfn-lint and checkov on every CloudFormation template"
	@echo "make build     cargo lambda build --release for every function"
	@echo "make fuzz      schemathesis against the local API (FUZZ_EXAMPLES, FUZZ_SEED)"
	@echo "make bench     benchmarks: ingest, Lambda init, lookup, audit, reports, compliance (figures for the README)"
	@echo "make redrive   re-drive the ingest dead-letter queue (STACK or QUEUE_URL+DLQ_URL; REASON, MAX, DRY_RUN=1, PROFILE)"

$(DEV_STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(BUILD_STAMP): requirements-build.txt $(DEV_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-build.txt
	touch $@

$(FUZZ_STAMP): requirements-fuzz.txt
	python3 -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-fuzz.txt
	touch $@

test: $(DEV_STAMP)
	cargo build --workspace --bins
	scripts/with-moto.sh cargo test --workspace

test-unit:
	cargo test --workspace --lib --bins $(addprefix --test ,$(OFFLINE_TESTS))

dev: $(DEV_STAMP)
	cargo build --quiet -p pb-api -p pb-tests --bins
	scripts/with-moto.sh --port $${MOTO_PORT:-4566} cargo run --quiet -p pb-tests --bin dev -- events

fuzz: $(DEV_STAMP) $(FUZZ_STAMP)
	cargo build --quiet -p pb-api -p pb-tests --bins
	scripts/with-moto.sh cargo run --quiet -p pb-tests --bin fuzz -- $(FUZZ_VENV)/bin/schemathesis

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

validate: $(DEV_STAMP)
	$(VENV)/bin/cfn-lint template.yaml $(INFRA_TEMPLATES)
	$(VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation $(addprefix -f ,template.yaml $(INFRA_TEMPLATES))

# The aarch64 standard library cannot be installed on these machines, so local builds target
# x86_64; deployments built elsewhere keep the template's arm64 default.
build: $(BUILD_STAMP)
	@echo "building for $(ARCH) (template default is arm64; pass ARCH=arm64 where aarch64 std is installed)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) --bin ingest --bin api --bin plugin-lookup --bin audit

# The bench profile writes to target/release; the bench runs the api and plugin-lookup binaries it
# finds beside itself, so they are built in the same profile right before.
bench: $(DEV_STAMP)
	cargo build --profile bench -p pb-api -p pb-plugin-lookup -p pb-tests --bins
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench_audit
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench_reports
	cargo run --quiet --profile bench -p pb-tests --bin bench_compliance

# The dead-letter re-drive (docs/operations.md, "Runbook: re-drive the dead-letter queue"). The queues come from the stack's outputs
# (STACK, default pipeline-builder) or from QUEUE_URL and DLQ_URL.
redrive:
	cargo run --quiet -p pb-ingest --bin redrive -- \
	  $(if $(QUEUE_URL),--queue-url '$(QUEUE_URL)' --dlq-url '$(DLQ_URL)',--stack '$(or $(STACK),pipeline-builder)') \
	  $(if $(REASON),--reason '$(REASON)') $(if $(MAX),--max '$(MAX)') \
	  $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run) $(if $(PROFILE),--profile '$(PROFILE)')

clean:
	cargo clean
	rm -rf $(VENV) $(FUZZ_VENV) .moto
