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
# The Whisper parity check runs the original CTranslate2 model: its own small venv (no torch).
CT2=$ROOT/.cache/models-venv/ct2
CT2_REQ="ctranslate2==4.8.5 numpy==2.4.6 onnxruntime==1.30.0 onnx==1.23.2"
if [ ! -x "$CT2/bin/python" ] || [ "$(cat "$CT2/.req" 2>/dev/null)" != "$CT2_REQ" ]; then
  echo "[models] preparing the CTranslate2 venv ($CT2_REQ)"
  rm -rf "$CT2"
  python3 -m venv "$CT2"
  "$CT2/bin/pip" install --quiet --disable-pip-version-check $CT2_REQ
  echo "$CT2_REQ" > "$CT2/.req"
fi
export QUARRY_CT2_PYTHON=$CT2/bin/python
exec "$VENV/bin/python" "$ROOT/hack/models/install.py" "$@"
