# Quarry build entry points. Every target runs on the project's own Node 22 (node_modules/.bin/node).
SHELL := /bin/bash
ROOT := $(CURDIR)
export PATH := $(ROOT)/node_modules/.bin:$(ROOT)/.cache/bin:$(PATH)
export ONNXRUNTIME_NODE_INSTALL := skip
export ONNXRUNTIME_NODE_INSTALL_CUDA := skip
TSX := node --import tsx

.PHONY: help deps tools models generate check-generated typecheck lint test test-unit test-env-up test-env-down up operator clean

help:
	@echo "make up             run Quarry locally (embedded adapters)"
	@echo "make operator       run the operator against \$$KUBECONFIG"
	@echo "make test           typecheck, lint and run every test suite on real services"
	@echo "make test-env-up    start etcd + kube-apiserver, NATS JetStream and MinIO; writes .cache/test-env.sh"
	@echo "make test-env-down  stop exactly the processes test-env-up started"
	@echo "make models         install the pretrained ONNX models into models/"
	@echo "make generate       regenerate crds/, TS types and validators from the schema source"
	@echo "make bench-<name>   run bench/<name>.ts and write bench/results/<name>.json"

# `npm install` rather than `npm ci`: the registry serves LanceDB's native package for linux-x64 only, so the lock
# file cannot list the other platforms' optional packages, and `npm ci` refuses a lock without them.
node_modules/.package-lock.json: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

tools:
	bash hack/tools/build-tools.sh

models: deps
	bash hack/models/install.sh

generate: deps
	$(TSX) hack/generate.ts

check-generated: generate
	@git diff --exit-code -- crds charts/quarry-crds engine/src/resources/generated || \
	  (echo "generated files drifted: run 'make generate' and commit" >&2; exit 1)

typecheck: deps
	tsc --noEmit -p tsconfig.json

lint: deps
	eslint .

# Tests that need no running service (pure logic, schema validation, generators).
test-unit: deps
	node --import tsx --test "test/unit/**/*.test.ts" test/resources/examples.test.ts test/resources/invalid-manifests.test.ts test/resources/validate.test.ts test/resources/generate.test.ts

test: deps tools models typecheck lint
	$(TSX) test/run.ts

test-env-up: deps tools
	$(TSX) hack/test-env.ts up

test-env-down: deps
	$(TSX) hack/test-env.ts down

up: deps models
	$(TSX) engine/src/main.ts

operator: deps
	$(TSX) operator/src/main.ts

bench-%: deps models
	$(TSX) bench/$*.ts

clean:
	rm -rf .cache/test-env* .quarry
