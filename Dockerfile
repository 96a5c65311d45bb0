# syntax=docker/dockerfile:1.7
# Quarry: one image for the operator, the engine and the extraction workers (the command picks the component).
#
#   make image                                                    # ghcr.io/quarry-dev/quarry:<appVersion>, models baked in
#   docker build -t quarry:dev .                                  # the same (BAKE_MODELS=true is the default)
#   docker build -t quarry:dev --build-arg BAKE_MODELS=false .    # no models: mount them at /models at run time
#
# Entry points (the Helm chart sets them per Deployment):
#   node operator/src/main.ts    node engine/src/main.ts    node engine/src/worker.ts
# Node 22 runs the TypeScript sources itself (type stripping, on by default since 22.18: the project's tsconfig has
# erasableSyntaxOnly, so every file is plain JavaScript once its types are removed, with the same lines and columns).
# No loader, no transpile cache, no source maps: ~50 MB less resident memory per process than the tsx loader.
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- deps: production dependencies only -------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# onnxruntime-node would otherwise try to download CUDA providers at install time, node-llama-cpp to build llama.cpp.
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
# The base image's Node must strip types by itself (22.18 and later): fail the build here rather than at run time.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev \
 && node -e "if (!process.features.typescript) { console.error('Node ' + process.version + ' cannot run TypeScript: use Node 22.18 or later'); process.exit(1) }"

# ---- models: optionally install the pretrained ONNX models at build time ----------------------------------------------
FROM ${NODE_IMAGE} AS models
# Baked in by default: the chart's default install (models.volume=none) uses what the image contains.
ARG BAKE_MODELS=true
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
WORKDIR /app
COPY . .
# The model installer (make models) exports ONNX graphs with Python (numpy, onnx) and checks the converted Whisper on
# espeak-ng speech: bring Python and espeak-ng only when baking.
RUN --mount=type=cache,target=/root/.npm \
    mkdir -p /out/models \
 && if [ "$BAKE_MODELS" = "true" ]; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-pip make ca-certificates espeak-ng \
      && npm ci --no-audit --no-fund \
      && bash hack/models/install.sh \
      && cp -a models/. /out/models/; \
    fi

# ---- runtime ------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# MALLOC_ARENA_MAX: glibc gives each thread that allocates its own arena (up to 8 per core); LanceDB's and
# onnxruntime's native threads then leave freed memory scattered over many arenas and RSS creeps up for hours.
# Measured with the embedded store under single-row upserts and searches: +19 MB per 500 writes with 2 arenas,
# +63 MB with glibc's default.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    QUARRY_MODELS_DIR=/models \
    QUARRY_HOST=0.0.0.0 \
    QUARRY_PORT=8080
# A fixed non-root UID/GID (the chart's securityContext runs as 10001:10001); no login shell, no home writes.
RUN groupadd --system --gid 10001 quarry \
 && useradd --system --uid 10001 --gid quarry --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin quarry
# ffmpeg decodes audio and video for the audio and video extractors (engine/src/media/ffmpeg.ts).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Sources owned by root and read-only for the runtime user; .dockerignore keeps tests, charts and local state out.
COPY --chown=root:root . .
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=models --chown=quarry:quarry /out/models /models
USER 10001:10001
EXPOSE 8080 8081
CMD ["node", "engine/src/main.ts"]
