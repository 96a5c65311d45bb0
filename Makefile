# Quarry build entry points. Every target runs on the project's own Node 22 (node_modules/.bin/node).
SHELL := /bin/bash
ROOT := $(CURDIR)
export PATH := $(ROOT)/node_modules/.bin:$(ROOT)/.cache/bin:$(PATH)
export ONNXRUNTIME_NODE_INSTALL := skip
export ONNXRUNTIME_NODE_INSTALL_CUDA := skip
# node-llama-cpp uses its prebuilt binary from the npm registry: its postinstall must never download or build llama.cpp.
export NODE_LLAMA_CPP_SKIP_DOWNLOAD := true
# Fewer glibc malloc arenas: native threads (LanceDB, onnxruntime) otherwise grow RSS by fragmentation (Dockerfile).
export MALLOC_ARENA_MAX ?= 2
TSX := node --import tsx

.PHONY: help deps tools models generate check-generated typecheck lint test test-unit test-env-up test-env-down up operator image clean \
  cluster-tools test-cluster-images test-cluster-up test-cluster-down test-pods

# The image `make image` builds; the release workflow (.github/workflows/release.yaml) pushes the same name on a tag.
IMAGE ?= ghcr.io/quarry-dev/quarry
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' charts/quarry/Chart.yaml)

help:
	@echo "make up             run Quarry locally (embedded adapters)"
	@echo "make operator       run the operator against \$$KUBECONFIG"
	@echo "make test           typecheck, lint and run every test suite on real services"
	@echo "make test-env-up    start etcd + kube-apiserver, NATS JetStream and MinIO; writes .cache/test-env.sh"
	@echo "make test-env-down  stop exactly the processes test-env-up started"
	@echo "make test-cluster-up    start a single-node cluster that runs pods (kubelet, containerd); writes .cache/test-cluster.sh"
	@echo "make test-cluster-down  stop it and remove its pods, network and mounts"
	@echo "make test-pods      the pod suite (test/pods): both charts installed with helm on that cluster"
	@echo "make models         install the pretrained ONNX models and the local GGUF LLM into models/"
	@echo "make generate       regenerate crds/, TS types and validators from the schema source"
	@echo "make bench-<name>   run bench/<name>.ts and write bench/results/<name>.json"
	@echo "make image          build the OCI image \$$(IMAGE):\$$(IMAGE_TAG) with the models baked in (needs Docker + BuildKit)"

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

# Then the pod suite on the single-node cluster (root; README "A cluster that runs pods").
test: deps tools cluster-tools models typecheck lint test-cluster-images
	$(TSX) test/run.ts
	$(TSX) test/pods/run.ts

test-env-up: deps tools
	$(TSX) hack/test-env.ts up

test-env-down: deps
	$(TSX) hack/test-env.ts down

# The single-node cluster (README "A cluster that runs pods"): root only; node binaries, images, then the processes.
CLUSTER_TOOLS := etcd kube-apiserver kubectl helm minio kube-controller-manager kube-scheduler kubelet kube-proxy coredns crictl
cluster-tools:
	bash hack/tools/build-tools.sh $(CLUSTER_TOOLS)

test-cluster-images: deps cluster-tools
	bash hack/cluster/images.sh

test-cluster-up: deps test-cluster-images
	$(TSX) hack/test-cluster.ts up

test-cluster-down: deps
	$(TSX) hack/test-cluster.ts down

test-pods: deps test-cluster-images models
	$(TSX) test/pods/run.ts

up: deps models
	node engine/src/main.ts

operator: deps
	node operator/src/main.ts

# Benches run the code as `make up` and the image run it: on Node's own type stripping, not through tsx (whose
# transpiled output wraps every named closure in a helper call, which the engine's per-request figures then include).
bench-%: deps models
	node bench/$*.ts

# The OCI image with the pretrained models baked in (BAKE_MODELS=true, the Dockerfile default). Needs a Docker
# daemon with BuildKit (the buildx plugin; the Dockerfile uses RUN --mount caches) and network access to the npm
# registry and PyPI during the build (the model installer runs in the image's models stage).
image:
	@command -v docker >/dev/null || { echo "make image: no docker CLI; install Docker (daemon + buildx plugin)" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker daemon reachable (DOCKER_HOST or /var/run/docker.sock); start one with BuildKit" >&2; exit 1; }
	@docker buildx version >/dev/null 2>&1 || { echo "make image: the docker buildx plugin (BuildKit) is missing; the Dockerfile's RUN --mount caches need it" >&2; exit 1; }
	docker buildx build --load --build-arg BAKE_MODELS=true -t $(IMAGE):$(IMAGE_TAG) .

clean:
	rm -rf .cache/test-env* .quarry
