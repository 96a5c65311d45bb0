#!/usr/bin/env bash
# `make models`: a cached Python venv with the exporter's few dependencies (onnx, numpy, tokenizers, onnxruntime for int8
# quantisation; no torch),
# then hack/models/install.py installs every model into models/ with models/manifest.json. Idempotent.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=$ROOT/.cache/models-venv/py
REQ="onnx==1.23.2 numpy==2.4.6 tokenizers==0.23.3 onnxruntime==1.30.0"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.req" 2>/dev/null)" != "$REQ" ]; then
  echo "[models] preparing the exporter venv ($REQ)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $REQ
  echo "$REQ" > "$VENV/.req"
fi
exec "$VENV/bin/python" "$ROOT/hack/models/install.py" "$@"
