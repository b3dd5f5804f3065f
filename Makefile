# The README's two commands are `make dev` and `make test`; the rest support them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
DEV_STAMP := $(VENV)/.dev-installed
# The SAM CLI pins a boto3 that checkov's pin excludes, so the build and deploy tools get a venv
# of their own.
BUILD_VENV := .venv-build
BUILD_STAMP := $(BUILD_VENV)/.installed
FUZZ_VENV := .venv-fuzz
FUZZ_STAMP := $(FUZZ_VENV)/.installed
ARCH ?= x86_64
ifeq ($(filter $(ARCH),x86_64 arm64),)
$(error ARCH must be x86_64 or arm64, not $(ARCH))
endif
INFRA_TEMPLATES := infra/ec2/template.yaml infra/eks/network.yaml
CARGO_DENY_VERSION := 0.20.2
# sam build runs cargo-lambda (and zig) from the build venv.
SAM := PATH="$(CURDIR)/$(BUILD_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam
# The saved `sam deploy --guided` answers with Architecture=$(ARCH), for sam build and sam deploy.
SAM_OVERRIDES = "$$(python3 scripts/deploy.py overrides $(ARCH))"
# make token: the first admin token of an org, signed with the deployed key set.
ORG ?=
PERMS ?= *
DAYS ?= 1
SUBJECT ?= admin

# pb-tests files that read only files or a local socket, never the emulator; one that needs moto
# fails at once in `make test-unit`, which does not start it.
OFFLINE_TESTS := codepipeline_standin docs infra_eks sdk_timeouts synth template_drift

.PHONY: help test sample-templates test-unit dev lint deny-tool advisories validate build sam-build deploy deploy-guided token bench fuzz redrive backfill-history clean

help:
	@echo "make dev       run the backend locally against the moto emulator (Ctrl-C to stop)"
	@echo "make test      run every test against a fresh moto server, then make sample-templates"
	@echo "make sample-templates  synthesize samples/pipelines/ and run cfn-lint and checkov on each template"
	@echo "make test-unit run the tests that need no emulator: unit tests, template and docs checks"
	@echo "make lint      cargo fmt --check, clippy -D warnings, cargo-deny (licenses, bans, sources), scripts/check-docs.sh"
	@echo "make advisories  cargo-deny's RustSec advisory check (needs GitHub: not from this project's machines)"
	@echo "make validate  cfn-lint (informational rules too), sam validate --lint and checkov on every template"
	@echo "make build     cargo lambda build --release for every function (ARCH=x86_64 | arm64)"
	@echo "make deploy    make build, sam build and sam deploy, all for one ARCH (docs/deploy.md)"
	@echo "make deploy-guided  the same with sam deploy --guided (first deployment)"
	@echo "make token ORG=acme  mint an admin token from the deployed key set (PERMS, SUBJECT, DAYS)"
	@echo "make fuzz      schemathesis against the local API (FUZZ_EXAMPLES, FUZZ_SEED)"
	@echo "make bench     benchmarks: ingest, Lambda init, lookup, audit, reports, API latency, compliance (figures for the README)"
	@echo "make redrive   re-drive the ingest dead-letter queue (STACK or QUEUE_URL+DLQ_URL; REASON, MAX, DRY_RUN=1, PROFILE)"
	@echo "make backfill-history  index executions stored before the history indexes (STACK or TABLE; DRY_RUN=1, PROFILE)"

$(DEV_STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(BUILD_STAMP): requirements-build.txt
	python3 -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-build.txt
	touch $@

$(FUZZ_STAMP): requirements-fuzz.txt
	python3 -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-fuzz.txt
	touch $@

test: $(DEV_STAMP)
	cargo build --workspace --bins
	scripts/with-moto.sh cargo test --workspace
	$(MAKE) --no-print-directory sample-templates

# Every sample pipeline synthesized, then linted as a deployed template would be: cfn-lint with
# informational rules, and checkov (whose skips are named, with reasons, in each resource's Metadata).
SAMPLE_TEMPLATES := target/sample-templates
sample-templates: $(DEV_STAMP)
	rm -rf $(SAMPLE_TEMPLATES)
	cargo run --quiet -p pb-tests --bin synth_samples -- $(SAMPLE_TEMPLATES)
	$(VENV)/bin/cfn-lint -c I -- $(SAMPLE_TEMPLATES)/*.json
	$(VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -d $(SAMPLE_TEMPLATES)

test-unit:
	cargo test --workspace --lib --bins $(addprefix --test ,$(OFFLINE_TESTS))

dev: $(DEV_STAMP)
	cargo build --quiet -p pb-api -p pb-tests --bins
	scripts/with-moto.sh --port $${MOTO_PORT:-4566} cargo run --quiet -p pb-tests --bin dev -- events

fuzz: $(DEV_STAMP) $(FUZZ_STAMP)
	cargo build --quiet -p pb-api -p pb-tests --bins
	scripts/with-moto.sh cargo run --quiet -p pb-tests --bin fuzz -- $(FUZZ_VENV)/bin/schemathesis

lint: deny-tool
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo deny --locked check --hide-inclusion-graph licenses bans sources
	scripts/check-docs.sh

# Built from crates.io at the pinned version when missing or different (a few minutes, once).
deny-tool:
	@cargo deny --version 2>/dev/null | grep -qx "cargo-deny $(CARGO_DENY_VERSION)" \
		|| cargo install --locked cargo-deny@$(CARGO_DENY_VERSION)

advisories: deny-tool
	cargo deny --locked check --hide-inclusion-graph advisories

# -c I: informational findings (I3011, a stateful resource without explicit deletion policies)
# fail too.
validate: $(DEV_STAMP) $(BUILD_STAMP)
	$(VENV)/bin/cfn-lint -c I -- template.yaml $(INFRA_TEMPLATES)
	AWS_EC2_METADATA_DISABLED=true $(SAM) validate --lint --region us-east-1 --template-file template.yaml
	$(VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation $(addprefix -f ,template.yaml $(INFRA_TEMPLATES))

# The aarch64 standard library cannot be installed on these machines, so local builds target
# x86_64 by default; make deploy hands the template the same ARCH. Where the aarch64 target is
# installed (rustup target add aarch64-unknown-linux-gnu), ARCH=arm64 builds for Graviton.
build: $(BUILD_STAMP)
	@echo "building for $(ARCH) (template default is arm64; pass ARCH=arm64 where aarch64 std is installed)"
	PATH="$(CURDIR)/$(BUILD_VENV)/bin:$$PATH" cargo lambda build --release $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) --bin ingest --bin api --bin plugin-lookup --bin audit --bin notify

# sam build runs cargo lambda for each function (BuildMethod rust-cargolambda, in the source tree),
# which finds make build's binaries for the same target up to date and copies them to .aws-sam.
sam-build: build
	$(SAM) build --parameter-overrides $(SAM_OVERRIDES)
	python3 scripts/deploy.py check-build $(ARCH)

deploy: sam-build
	$(SAM) deploy --parameter-overrides $(SAM_OVERRIDES)

deploy-guided: sam-build
	$(SAM) deploy --guided --parameter-overrides $(SAM_OVERRIDES)

token: $(BUILD_STAMP)
	@test -n "$(ORG)" || { echo "usage: make token ORG=<org id> [PERMS='*'] [SUBJECT=admin] [DAYS=1]" >&2; exit 2; }
	@vars=$$($(BUILD_VENV)/bin/python scripts/deploy.py token-env) && env $$vars \
		cargo run --quiet -p pb-api --bin api -- mint-token --org "$(ORG)" --perms '$(PERMS)' \
		--subject "$(SUBJECT)" --days $(DAYS)

# The bench profile writes to target/release; the bench runs the api and plugin-lookup binaries it
# finds beside itself, so they are built in the same profile right before.
bench: $(DEV_STAMP)
	cargo build --profile bench -p pb-api -p pb-plugin-lookup -p pb-tests --bins
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench_audit
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench_reports
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench_api
	PB_MOTO_SERVER=bench scripts/with-moto.sh cargo run --quiet --profile bench -p pb-tests --bin bench_batches
	cargo run --quiet --profile bench -p pb-tests --bin bench_compliance
	cargo run --quiet --profile bench -p pb-tests --bin bench_synth

# The dead-letter re-drive (docs/operations.md, "Runbook: re-drive the dead-letter queue"). The queues come from the stack's outputs
# (STACK, default pipeline-builder) or from QUEUE_URL and DLQ_URL.
redrive:
	cargo run --quiet -p pb-ingest --bin redrive -- \
	  $(if $(QUEUE_URL),--queue-url '$(QUEUE_URL)' --dlq-url '$(DLQ_URL)',--stack '$(or $(STACK),pipeline-builder)') \
	  $(if $(REASON),--reason '$(REASON)') $(if $(MAX),--max '$(MAX)') \
	  $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run) $(if $(PROFILE),--profile '$(PROFILE)')

# The execution history backfill (docs/operations.md, "Backfilling the execution history index").
# The table comes from TABLE, or from the outputs of STACK (default pipeline-builder).
backfill-history:
	cargo run --quiet -p pb-ingest --bin backfill-history -- \
	  $(if $(TABLE),--table '$(TABLE)',--stack '$(or $(STACK),pipeline-builder)') \
	  $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run) $(if $(PROFILE),--profile '$(PROFILE)')

clean:
	cargo clean
	rm -rf $(VENV) $(FUZZ_VENV) $(BUILD_VENV) .moto .aws-sam
