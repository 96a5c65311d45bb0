#!/usr/bin/env python3
"""Writes test/fixtures/models/tiny_clip: a CLIP-shaped image-text model small enough to commit, for testing the
port's image preprocessing and two-tower plumbing (not a model's quality; no real weights are involved).

- vision_model.onnx: pixel_values float32 [B,3,224,224] -> image_embeds [B,3] = the per-channel mean of the
  preprocessed pixels, so a test can check resize / centre-crop / rescale / normalise exactly.
- text_model.onnx: input_ids int64 [B,S], attention_mask int64 [B,S] -> text_embeds [B,3] = the masked sum of rows
  of a table (row i = [1, i, i % 3]), so a test can check tokenisation, padding and masking.
- tokenizer.json (WordLevel, whitespace, <|startoftext|> $A <|endoftext|>), tokenizer_config.json,
  preprocessor_config.json (CLIPImageProcessor fields with OpenAI CLIP's mean/std), manifest.json.
Run with the models venv: .cache/models-venv/py/bin/python hack/models/make_tiny_clip.py
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "models" / "tiny_clip"
VOCAB = ["<unk>", "<|startoftext|>", "<|endoftext|>", "a", "photo", "of", "dog", "car", "flower"]


def save(graph, name):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="quarry-tiny-clip")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(OUT / name))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    vision = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values"], ["image_embeds"], axes=[2, 3], keepdims=0)],
        "tiny_clip_vision",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", 3])],
    )
    save(vision, "vision_model.onnx")

    table = np.array([[1.0, i, i % 3] for i in range(len(VOCAB))], dtype=np.float32)
    text = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["rows"]),
            helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["maskf", "last"], ["mask3"]),
            helper.make_node("Mul", ["rows", "mask3"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "axis1"], ["text_embeds"], keepdims=0),
        ],
        "tiny_clip_text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", 3])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "last"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    save(text, "text_model.onnx")

    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for i, t in enumerate(VOCAB[:3])
        ],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "model": {"type": "WordLevel", "vocab": {t: i for i, t in enumerate(VOCAB)}, "unk_token": "<unk>"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<|startoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<|startoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]} for i, t in enumerate(VOCAB[1:3], start=1)},
        },
        "decoder": None,
    }
    (OUT / "tokenizer.json").write_text(json.dumps(tokenizer, indent=1) + "\n")
    (OUT / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>", "model_max_length": 77}, indent=1) + "\n")
    (OUT / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224},
    }, indent=1) + "\n")
    files = {f"tiny_clip/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(OUT.iterdir()) if p.name != "manifest.json"}
    manifest = {"version": 1, "models": {"tiny_clip": {
        "name": "tiny_clip", "kind": "image-text-embedding", "dir": "tiny_clip",
        "source": {"registry": "none", "package": "test fixture (hack/models/make_tiny_clip.py)", "version": "1"},
        "files": files, "dimensions": 3, "max_tokens": 77, "normalize": True, "distance": "cosine",
        "licence": "Apache-2.0 (this project)", "description": "synthetic CLIP-shaped fixture: per-channel pixel means / masked token-row sums",
    }}}
    (OUT.parent / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
