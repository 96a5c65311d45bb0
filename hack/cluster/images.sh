#!/usr/bin/env bash
# Builds the test cluster's OCI images without a registry or a Docker daemon: each image is a root filesystem
# assembled here from this machine's own files (binaries plus the shared libraries ldd names), packed as an OCI
# image layout by umoci (Debian) and saved as <name>.tar under $QUARRY_CLUSTER_IMAGES (default .cache/cluster-images),
# which the cluster imports into containerd's k8s.io namespace as quarry.local/<name>:<tag>.
#   pause   the sandbox image: pause.c from the Kubernetes module of hack/tools/versions.env, compiled statically
#   nats    Debian's nats-server        minio   the Go-built minio of .cache/bin
#   quarry  Node 22 (node_modules/node), the app's sources (as the Dockerfile copies them) and its production
#           node_modules; no models (the pod suite mounts models/ through a PersistentVolume), no ffmpeg.
# Each image is rebuilt only when its inputs change (a key file beside the tar).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/hack/tools/versions.env"
CACHE=${QUARRY_CACHE:-$ROOT/.cache}
OUT=${QUARRY_CLUSTER_IMAGES:-$CACHE/cluster-images}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/quarry-images.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
T0=$(date +%s)
log() { printf '[cluster-images %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
for t in umoci cc; do command -v $t >/dev/null || { log "$t is missing: install it (hack/ci/apt-packages.sh)"; exit 1; }; done

# Copies the shared libraries every ELF file under $1 needs (as resolved on this machine) into the same paths under
# $2 (default $1); libraries that resolve inside $1 itself (a native module's own) stay where they are.
add_libs() {
  local rootfs=$1 dest=${2:-$1} f lib
  find "$rootfs" -type f \( -perm -u+x -o -name '*.so*' -o -name '*.node' \) -print0 |
    while IFS= read -r -d '' f; do
      head -c4 "$f" | grep -q 'ELF' || continue
      ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true
    done | sort -u | while read -r lib; do
      case $lib in "$rootfs"/*) continue ;; esac
      [ -e "$dest$lib" ] || { mkdir -p "$dest$(dirname "$lib")"; cp -L "$lib" "$dest$lib"; }
    done
}

# A minimal /etc: the non-root user the chart runs as (10001:10001, as in the Dockerfile) and nsswitch.
add_etc() {
  mkdir -p "$1/etc" "$1/tmp" && chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nquarry:x:10001:10001:quarry:/nonexistent:/usr/sbin/nologin\n' > "$1/etc/passwd"
  printf 'root:x:0:\nquarry:x:10001:\n' > "$1/etc/group"
  printf 'hosts: files dns\n' > "$1/etc/nsswitch.conf"
}

# pack NAME TAG KEY CONFIG-ARGS... with the layers in $WORK/NAME/layer-*/ (one OCI layer each, in name order).
pack() {
  local name=$1 tag=$2 key=$3; shift 3
  local layout="$WORK/$name/oci" layer
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  for layer in "$WORK/$name"/layer-*; do umoci insert --image "$layout:$tag" "$layer" / >/dev/null; done
  umoci config --image "$layout:$tag" --author quarry-test "$@"
  umoci gc --layout "$layout"
  tar -cf "$OUT/$name.tar.tmp" -C "$layout" .
  mv "$OUT/$name.tar.tmp" "$OUT/$name.tar"
  printf '%s\n' "$key" > "$OUT/$name.key"
  log "$name:$tag packed ($(du -h "$OUT/$name.tar" | cut -f1))"
}

fresh() { [ -f "$OUT/$1.tar" ] && [ "$(cat "$OUT/$1.key" 2>/dev/null)" = "$2" ]; }

build_pause() {
  local src key
  src=$(go env GOMODCACHE)/k8s.io/kubernetes@v$K8S_VERSION/build/pause/linux/pause.c
  [ -f "$src" ] || (cd "$CACHE/build/k8s-node-v$K8S_VERSION" 2>/dev/null && go mod download "k8s.io/kubernetes@v$K8S_VERSION")
  key="pause $K8S_VERSION $(sha256sum "$src" | cut -c1-64)"
  fresh pause "$key" && return
  mkdir -p "$WORK/pause/layer-1"
  cc -Os -static -DVERSION=3.10-quarry -o "$WORK/pause/layer-1/pause" "$src"
  pack pause 3.10 "$key" --config.entrypoint /pause
}

build_nats() {
  local bin key
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  key="nats $(sha256sum "$bin" | cut -c1-64)"
  fresh nats "$key" && return
  mkdir -p "$WORK/nats/layer-1/usr/bin"
  cp "$bin" "$WORK/nats/layer-1/usr/bin/nats-server"
  add_etc "$WORK/nats/layer-1"; add_libs "$WORK/nats/layer-1"
  pack nats test "$key" --config.entrypoint /usr/bin/nats-server --config.user 10001:10001
}

build_minio() {
  local bin="$CACHE/bin/minio-$MINIO_VERSION" key
  [ -x "$bin" ] || { log "$bin is missing: run 'make tools'"; exit 1; }
  key="minio $MINIO_VERSION"
  fresh minio "$key" && return
  mkdir -p "$WORK/minio/layer-1/usr/bin"
  cp "$bin" "$WORK/minio/layer-1/usr/bin/minio"
  add_etc "$WORK/minio/layer-1"
  pack minio test "$key" --config.entrypoint /usr/bin/minio --config.user 10001:10001
}

# The app's files as the Dockerfile's `COPY . .` takes them: tracked files less what .dockerignore keeps out.
app_files() {
  git -C "$ROOT" ls-files | grep -v -E '^(\.git|\.github|\.ci|\.cache|\.quarry|node_modules|models|dist|bench/results|charts|examples|test)(/|$)' |
    grep -v -E '(\.log|\.pem|\.key|(^|/)\.env(\..*)?)$'
}

build_quarry() {
  local node key L
  node=$(readlink -f "$ROOT/node_modules/.bin/node")
  key="quarry $(sha256sum "$node" | cut -c1-64) $(cat "$ROOT/package-lock.json" "$0" | sha256sum | cut -c1-64) $(app_files | (cd "$ROOT" && git hash-object --stdin-paths) | sha256sum | cut -c1-64)"
  fresh quarry "$key" && return
  L=$WORK/quarry
  # layer 1: Node and the libraries of every native module; layer 2: production node_modules; layer 3: the app.
  mkdir -p "$L/layer-1/usr/local/bin" "$L/layer-2/app" "$L/layer-3/app"
  cp "$node" "$L/layer-1/usr/local/bin/node"
  add_etc "$L/layer-1"; add_libs "$L/layer-1"
  # The production dependencies, pruned offline from a copy of this checkout's node_modules (same lock file).
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$L/layer-2/app/"
  log "quarry: copying node_modules and pruning it to the production dependencies"
  cp -a "$ROOT/node_modules" "$L/layer-2/app/node_modules"
  (cd "$L/layer-2/app" && ONNXRUNTIME_NODE_INSTALL=skip NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    PATH="$(dirname "$node"):$PATH" npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts >/dev/null)
  rm -f "$L/layer-2/app/package.json" "$L/layer-2/app/package-lock.json"
  app_files | tar -C "$ROOT" -cf - -T - | tar -C "$L/layer-3/app" -xf -
  # The system libraries of the native modules (onnxruntime, LanceDB, sharp, …) go into layer 1 beside Node's own.
  log "quarry: the native modules' system libraries"
  add_libs "$L/layer-2" "$L/layer-1"
  log "quarry: packing $(du -sh "$L" | cut -f1)"
  chmod -R a+rX "$L"/layer-*
  # As the Dockerfile: no entrypoint, CMD node engine/src/main.ts (the chart sets each component's command).
  pack quarry test "$key" --config.cmd node --config.cmd engine/src/main.ts \
    --config.workingdir /app --config.user 10001:10001 \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.env NODE_ENV=production --config.env QUARRY_MODELS_DIR=/models \
    --config.env QUARRY_HOST=0.0.0.0 --config.env QUARRY_PORT=8080 --config.env MALLOC_ARENA_MAX=2
}

targets=${*:-pause nats minio quarry}
for t in $targets; do "build_$t"; done
log "images ready in $OUT"
