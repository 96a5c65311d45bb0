#!/usr/bin/env bash
# Builds the real test services (kube-apiserver, kubectl, etcd, helm, minio) and actionlint from the Go module proxy into
# .cache/bin/<name>-<version>, then links .cache/bin/<name>. Cached by version: a present binary is not rebuilt.
# Named targets also build the test cluster's node (make cluster-tools): kubelet, kube-scheduler,
# kube-controller-manager and kube-proxy from the same Kubernetes module, CoreDNS and crictl.
# kube-apiserver and etcd cannot be `go install`ed (their go.mod files carry replace directives), so each is built
# from a small wrapper module generated here, as envtest's asset builders do (see operator-anchors §E.3–E.4).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/hack/tools/versions.env"
CACHE=${QUARRY_CACHE:-$ROOT/.cache}
BIN=$CACHE/bin
WORK=$CACHE/build
mkdir -p "$BIN" "$WORK"
export GOFLAGS=-mod=mod CGO_ENABLED=0
log() { printf '[build-tools] %s\n' "$*" >&2; }

link() { ln -sf "$1-$2" "$BIN/$1"; }

# $1 binary name, $2 its main package, $3 the wrapper module's folder suffix and $4 the packages its tools.go imports
# (the control plane's and the node's binaries use separate wrapper modules, so adding the node's never touches the
# control plane's cached module).
build_k8s() {
  local name=$1 pkg=$2 out="$BIN/$1-v$K8S_VERSION"
  if [ -x "$out" ]; then link "$1" "v$K8S_VERSION"; return; fi
  local dir="$WORK/k8s$3-v$K8S_VERSION" imports=$4
  if [ ! -f "$dir/.ready" ]; then
    log "preparing kubernetes v$K8S_VERSION wrapper module k8s$3"
    rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
    go mod init local.quarry/k8s-bin >/dev/null 2>&1
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#replace \1 => \1 v0.'"${K8S_VERSION#1.}"'#p' "$gomod" >> go.mod
    go get "k8s.io/kubernetes@v$K8S_VERSION" >/dev/null
    { printf 'package tools\n\nimport (\n'; for i in $imports; do printf '\t_ "%s"\n' "$i"; done; printf ')\n'; } > tools.go
    go mod tidy >/dev/null 2>&1 || true
    touch .ready
  fi
  cd "$dir"
  local minor ldf="-s -w"
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  log "building $name v$K8S_VERSION (several minutes on a cold cache)"
  go build -trimpath -ldflags "$ldf" -o "$out.tmp" "$pkg"
  mv "$out.tmp" "$out"; link "$name" "v$K8S_VERSION"
}

build_etcd() {
  local out="$BIN/etcd-v$ETCD_VERSION"
  if [ -x "$out" ]; then link etcd "v$ETCD_VERSION"; return; fi
  local dir="$WORK/etcd-v$ETCD_VERSION"
  rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
  go mod init local.quarry/etcd-bin >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null
  log "building etcd v$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3
  mv "$out.tmp" "$out"; link etcd "v$ETCD_VERSION"
}

build_helm() {
  local out="$BIN/helm-v$HELM_VERSION"
  if [ -x "$out" ]; then link helm "v$HELM_VERSION"; return; fi
  local minor; minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  log "building helm v$HELM_VERSION"
  GOBIN="$WORK/helm-gobin" go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  mv "$WORK/helm-gobin/helm" "$out"; link helm "v$HELM_VERSION"
}

build_minio() {
  local out="$BIN/minio-$MINIO_VERSION"
  if [ -x "$out" ]; then link minio "$MINIO_VERSION"; return; fi
  log "building minio $MINIO_VERSION (test fixture only; never bundled)"
  GOBIN="$WORK/minio-gobin" go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
  mv "$WORK/minio-gobin/minio" "$out"; link minio "$MINIO_VERSION"
}

# A plain `go install` of a module without replace directives: $1 binary name, $2 package, $3 version.
build_gotool() {
  local out="$BIN/$1-$3"
  if [ -x "$out" ]; then link "$1" "$3"; return; fi
  log "building $1 $3"
  GOBIN="$WORK/$1-gobin" go install -trimpath -ldflags "-s -w" "$2@$3"
  mv "$WORK/$1-gobin/$1" "$out"; link "$1" "$3"
}

# CoreDNS with only the plugins the test cluster's Corefile uses (test/harness/pods/configs.ts): the stock build
# compiles every cloud provider's SDK, many minutes for nothing. A wrapper main, as CoreDNS documents for custom builds.
build_coredns() {
  local out="$BIN/coredns-v$COREDNS_VERSION"
  if [ -x "$out" ]; then link coredns "v$COREDNS_VERSION"; return; fi
  local dir="$WORK/coredns-v$COREDNS_VERSION" p
  rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
  go mod init local.quarry/coredns-bin >/dev/null 2>&1
  go get "github.com/coredns/coredns@v$COREDNS_VERSION" >/dev/null
  { printf 'package main\n\nimport (\n\t"github.com/coredns/coredns/coremain"\n'
    for p in bind errors health kubernetes template; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
    printf ')\n\nfunc main() { coremain.Run() }\n'; } > main.go
  go mod tidy >/dev/null 2>&1
  log "building coredns v$COREDNS_VERSION (bind errors health kubernetes template)"
  go build -trimpath -ldflags "-s -w" -o "$out.tmp" .
  mv "$out.tmp" "$out"; link coredns "v$COREDNS_VERSION"
}

# actionlint checks .github/workflows in make test (test/charts/release-workflow.test.ts); a plain `go install`.
build_actionlint() {
  local out="$BIN/actionlint-v$ACTIONLINT_VERSION"
  if [ -x "$out" ]; then link actionlint "v$ACTIONLINT_VERSION"; return; fi
  log "building actionlint v$ACTIONLINT_VERSION"
  GOBIN="$WORK/actionlint-gobin" go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
  mv "$WORK/actionlint-gobin/actionlint" "$out"; link actionlint "v$ACTIONLINT_VERSION"
}

K8S_CP_IMPORTS="k8s.io/kubernetes/cmd/kube-apiserver/app k8s.io/kubectl/pkg/cmd"
K8S_NODE_IMPORTS="k8s.io/kubernetes/cmd/kubelet/app k8s.io/kubernetes/cmd/kube-scheduler/app k8s.io/kubernetes/cmd/kube-controller-manager/app k8s.io/kubernetes/cmd/kube-proxy/app"
targets=${*:-etcd kube-apiserver kubectl helm minio actionlint}
for t in $targets; do
  case $t in
    etcd) build_etcd ;;
    kube-apiserver) build_k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "" "$K8S_CP_IMPORTS" ;;
    kubectl) build_k8s kubectl k8s.io/kubernetes/cmd/kubectl "" "$K8S_CP_IMPORTS" ;;
    # The node's binaries for `make test-cluster-up` (hack/cluster); not built by `make tools` unless asked.
    kubelet) build_k8s kubelet k8s.io/kubernetes/cmd/kubelet -node "$K8S_NODE_IMPORTS" ;;
    kube-scheduler) build_k8s kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler -node "$K8S_NODE_IMPORTS" ;;
    kube-controller-manager) build_k8s kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager -node "$K8S_NODE_IMPORTS" ;;
    kube-proxy) build_k8s kube-proxy k8s.io/kubernetes/cmd/kube-proxy -node "$K8S_NODE_IMPORTS" ;;
    coredns) build_coredns ;;
    crictl) build_gotool crictl sigs.k8s.io/cri-tools/cmd/crictl "v$CRI_TOOLS_VERSION" ;;
    helm) build_helm ;;
    minio) build_minio ;;
    actionlint) build_actionlint ;;
    *) log "unknown tool $t"; exit 2 ;;
  esac
done
log "tools ready in $BIN"
