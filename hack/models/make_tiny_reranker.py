#!/usr/bin/env python3
"""Writes test/fixtures/models/tiny_reranker: a 2-layer, 8-wide BERT cross-encoder with random weights (seeded), exported
by export_bert.py --head classifier exactly as a real MS MARCO cross-encoder would be, with its numpy reference scores.
It tests the reranker plumbing (pair encoding with token types, truncation, batching, the classifier graph) against
an independent reference; it says nothing about relevance. Adds its entry to test/fixtures/models/manifest.json.
Run with the models venv: .cache/models-venv/py/bin/python hack/models/make_tiny_reranker.py
"""
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parents[1] / "test" / "fixtures" / "models"
OUT = FIXTURES / "tiny_reranker"
WORDS = "what is the capital of france paris a city in europe dogs bark cats sleep quarterly revenue grew percent how do plants make energy photosynthesis light".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s"]
MAX_TOKENS = 24
PAIRS = [
    ["what is the capital of france", "paris is the capital of france"],
    ["what is the capital of france", "dogs bark"],
    ["how do plants make energy", "photosynthesis light energy plants"],
    ["how do plants make energy", "quarterly revenue grew"],
    ["cats", "cats sleep"],
    # longer than MAX_TOKENS: the passage is truncated, the query kept
    ["capital of france", " ".join(["paris is a city in europe"] * 6)],
]


def save_safetensors(path: Path, tensors: dict) -> None:
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    rng = np.random.default_rng(20261123)
    H, L, I, V = 8, 2, 16, len(VOCAB)
    cfg = {"hidden_size": H, "num_attention_heads": 2, "num_hidden_layers": L, "intermediate_size": I, "vocab_size": V,
           "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "architectures": ["BertForSequenceClassification"]}
    r = lambda *s: rng.normal(0, 0.5, s).astype(np.float32)
    w = {"bert.embeddings.word_embeddings.weight": r(V, H), "bert.embeddings.position_embeddings.weight": r(64, H),
         "bert.embeddings.token_type_embeddings.weight": r(2, H),
         "bert.embeddings.LayerNorm.weight": 1 + r(H) * 0.1, "bert.embeddings.LayerNorm.bias": r(H) * 0.1}
    for i in range(L):
        p = f"bert.encoder.layer.{i}"
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            w[f"{p}.{n}.weight"], w[f"{p}.{n}.bias"] = r(H, H), r(H) * 0.1
        w[f"{p}.intermediate.dense.weight"], w[f"{p}.intermediate.dense.bias"] = r(I, H), r(I) * 0.1
        w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"] = r(H, I), r(H) * 0.1
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[f"{p}.{n}.weight"], w[f"{p}.{n}.bias"] = 1 + r(H) * 0.1, r(H) * 0.1
    w["bert.pooler.dense.weight"], w["bert.pooler.dense.bias"] = r(H, H), r(H) * 0.1
    w["classifier.weight"], w["classifier.bias"] = r(1, H), r(1) * 0.1

    special = {"[CLS]": 2, "[SEP]": 3}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True} for i, t in enumerate(VOCAB[:5])],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(VOCAB)}},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]} for t, i in special.items()},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        save_safetensors(src / "model.safetensors", w)
        (src / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
        (src / "tokenizer.json").write_text(json.dumps(tokenizer, indent=1) + "\n")
        (src / "pairs.json").write_text(json.dumps(PAIRS))
        subprocess.run([sys.executable, str(HERE / "export_bert.py"), str(src), str(OUT), "--head", "classifier", "--sentences", str(src / "pairs.json"), "--max-length", str(MAX_TOKENS)], check=True)
        for f in ("config.json", "tokenizer.json"):
            (OUT / f).write_bytes((src / f).read_bytes())
    (OUT / "tokenizer_config.json").write_text(json.dumps({"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "do_lower_case": True, "model_max_length": MAX_TOKENS}, indent=1) + "\n")
    files = {f"tiny_reranker/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(OUT.iterdir())}
    path = FIXTURES / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {"version": 1, "models": {}}
    manifest["models"]["tiny_reranker"] = {
        "name": "tiny_reranker", "kind": "reranker", "dir": "tiny_reranker",
        "source": {"registry": "none", "package": "test fixture (hack/models/make_tiny_reranker.py)", "version": "1"},
        "files": files, "max_tokens": MAX_TOKENS, "reference": "tiny_reranker/reference.json",
        "licence": "Apache-2.0 (this project)", "description": "synthetic 2-layer BERT cross-encoder with seeded random weights: plumbing and parity only",
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
