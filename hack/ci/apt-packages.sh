#!/usr/bin/env bash
# Debian packages the tests need: nats-server (JetStream), qpdf (encrypted PDFs for extractor tests),
# lua5.4 and lua5.1 (the Argo CD health checks run on a real Lua interpreter), fonts-dejavu-core (OCR test images),
# postgresql (sql_lookup's tests start their own server with initdb/pg_ctl on a free port), ffmpeg (media decoding),
# espeak-ng (speech for the Whisper parity check and the audio tests) and chromium (the published pages' browser tests).
# wordnet-base: noun glosses pad bench-relevance's scifact_20k set past the ANN index threshold (bench/lib/distractors.ts).
# For the single-node cluster of `make test-cluster-up` (test/harness/pods): containerd, runc, the CNI plugins and umoci
# (packs the locally built root filesystems into OCI images without a registry or a Docker daemon).
set -euo pipefail
PKGS=(nats-server qpdf lua5.4 lua5.1 fonts-dejavu-core postgresql ffmpeg espeak-ng chromium wordnet-base
  containerd runc containernetworking-plugins umoci)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian package may start a system nats-server on :4222; tests start their own on free ports, so stop it.
if command -v systemctl >/dev/null 2>&1; then systemctl stop nats-server >/dev/null 2>&1 || true; fi
# Likewise a system PostgreSQL cluster on :5432.
if command -v pg_ctlcluster >/dev/null 2>&1; then for c in /etc/postgresql/*/main; do [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop >/dev/null 2>&1 || true; done; fi
# containerd's package may start a system containerd; the cluster runs its own with its own sockets, so stop that one.
if command -v systemctl >/dev/null 2>&1; then systemctl stop containerd >/dev/null 2>&1 || true; fi
