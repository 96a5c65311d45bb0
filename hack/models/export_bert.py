#!/usr/bin/env python3
"""Exports a BERT encoder (safetensors weights + config.json) to ONNX, and writes a parity reference.

Why by hand: the registries reach PyPI but not PyTorch's CPU wheel index, and PyPI's torch wheel pulls several GB of
CUDA libraries. A BERT encoder is a short, well-defined graph, so it is built here directly with the `onnx` helper
API from the published weights, with no torch. The graph follows transformers' BertModel exactly (absolute
positions, post-LayerNorm, erf GELU). A numpy forward pass of the same architecture, tokenised by the Rust
`tokenizers` package, gives the reference embeddings that the port's parity test compares against.

Usage: export_bert.py MODEL_DIR OUT_DIR [--head classifier] [--pooling mean|cls] [--sentences FILE]
Writes OUT_DIR/model.onnx and, with --sentences, OUT_DIR/reference.json.
"""
import argparse
import json
import math
import struct
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def load_safetensors(path: Path) -> dict:
    """Reads a .safetensors file (8-byte header length, JSON header, raw little-endian tensors)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "BF16": None}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        buf = raw[base + start : base + end]
        if meta["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=dtypes[meta["dtype"]])
        out[name] = arr.reshape(meta["shape"]).astype(np.float32) if meta["dtype"] != "I64" else arr.reshape(meta["shape"])
    # Checkpoints of task models prefix the encoder with "bert."; the classifier head keeps its own names.
    return {(k[5:] if k.startswith("bert.") else k): v for k, v in out.items()}


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, p="c"):
        nm = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(self, op, inputs, p=None, **attrs):
        out = self.name(p or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def build_onnx(w: dict, cfg: dict, head: str | None) -> onnx.ModelProto:
    g = Graph()
    H, heads, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    dh, eps = H // heads, cfg.get("layer_norm_eps", 1e-12)

    def linear(x, prefix):
        return g.op("Add", [g.op("MatMul", [x, g.const(w[f"{prefix}.weight"].T.copy())]), g.const(w[f"{prefix}.bias"])])

    def layernorm(x, prefix):
        return g.op("LayerNormalization", [x, g.const(w[f"{prefix}.weight"]), g.const(w[f"{prefix}.bias"])], axis=-1, epsilon=eps)

    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
    seq = g.op("Gather", [g.op("Shape", [ids]), g.const(np.array(1, dtype=np.int64))])
    positions = g.op("Range", [g.const(np.array(0, dtype=np.int64)), seq, g.const(np.array(1, dtype=np.int64))])
    emb = g.op("Add", [g.op("Gather", [g.const(w["embeddings.word_embeddings.weight"]), ids]),
                       g.op("Gather", [g.const(w["embeddings.position_embeddings.weight"]), positions])])
    emb = g.op("Add", [emb, g.op("Gather", [g.const(w["embeddings.token_type_embeddings.weight"]), types])])
    x = layernorm(emb, "embeddings.LayerNorm")

    # Additive attention bias: 0 for real tokens, a large negative number for padding; shape [B, 1, 1, S].
    m = g.op("Cast", [g.op("Unsqueeze", [mask, g.const(np.array([1, 2], dtype=np.int64))])], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const(np.array(1.0, dtype=np.float32)), m]), g.const(np.array(-1e9, dtype=np.float32))])
    split_shape = g.const(np.array([0, 0, heads, dh], dtype=np.int64))
    merge_shape = g.const(np.array([0, 0, H], dtype=np.int64))
    scale = g.const(np.array(1.0 / math.sqrt(dh), dtype=np.float32))

    for i in range(L):
        p = f"encoder.layer.{i}"
        def heads_of(t):
            return g.op("Transpose", [g.op("Reshape", [t, split_shape])], perm=[0, 2, 1, 3])
        q = heads_of(linear(x, f"{p}.attention.self.query"))
        k = heads_of(linear(x, f"{p}.attention.self.key"))
        v = heads_of(linear(x, f"{p}.attention.self.value"))
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale]), bias])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        x = layernorm(g.op("Add", [linear(ctx, f"{p}.attention.output.dense"), x]), f"{p}.attention.output.LayerNorm")
        inter = linear(x, f"{p}.intermediate.dense")
        gelu = g.op("Mul", [g.op("Mul", [inter, g.const(np.array(0.5, dtype=np.float32))]),
                            g.op("Add", [g.const(np.array(1.0, dtype=np.float32)),
                                         g.op("Erf", [g.op("Div", [inter, g.const(np.array(math.sqrt(2.0), dtype=np.float32))])])])])
        x = layernorm(g.op("Add", [linear(gelu, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", H])]
    if head == "classifier":
        cls = g.op("Gather", [x, g.const(np.array(0, dtype=np.int64))], axis=1)
        pooled = g.op("Tanh", [linear(cls, "pooler.dense")])
        g.nodes.append(helper.make_node("Identity", [linear(pooled, "classifier")], ["logits"]))
        outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", w["classifier.weight"].shape[0]]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in (ids, mask, types)]
    graph = helper.make_graph(g.nodes, "bert", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="quarry-export-bert")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def numpy_forward(w: dict, cfg: dict, ids, mask, types, head: str | None):
    """The same architecture in plain numpy, used only to produce the parity reference."""
    H, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    dh, eps = H // heads, cfg.get("layer_norm_eps", 1e-12)
    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[f"{p}.weight"] + w[f"{p}.bias"]
    def lin(x, p):
        return x @ w[f"{p}.weight"].T + w[f"{p}.bias"]
    B, S = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][np.arange(S)] + w["embeddings.token_type_embeddings.weight"][types]
    x = ln(x, "embeddings.LayerNorm")
    bias = (1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        sh = lambda t: t.reshape(B, S, heads, dh).transpose(0, 2, 1, 3)
        q, k, v = (sh(lin(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
        x = ln(lin(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        inter = lin(x, f"{p}.intermediate.dense")
        from math import erf
        gelu = 0.5 * inter * (1.0 + np.vectorize(erf)(inter / math.sqrt(2.0)))
        x = ln(lin(gelu, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
    if head == "classifier":
        return lin(np.tanh(lin(x[:, 0], "pooler.dense")), "classifier")
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--head", choices=["classifier"], default=None)
    ap.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    ap.add_argument("--sentences", default=None, help="JSON list of strings (or [query, passage] pairs) for reference.json")
    ap.add_argument("--max-length", type=int, default=256)
    a = ap.parse_args()
    src, out = Path(a.model_dir), Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((src / "config.json").read_text())
    weights_file = src / "model.safetensors"
    w = load_safetensors(weights_file)
    model = build_onnx(w, cfg, a.head)
    onnx.save(model, str(out / "model.onnx"))
    if a.sentences:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(str(src / "tokenizer.json"))
        tok.enable_truncation(a.max_length)
        items = json.loads(Path(a.sentences).read_text())
        refs = []
        for item in items:
            enc = tok.encode(*item) if isinstance(item, list) else tok.encode(item)
            ids = np.array([enc.ids], dtype=np.int64)
            mask = np.array([enc.attention_mask], dtype=np.int64)
            types = np.array([enc.type_ids], dtype=np.int64)
            y = numpy_forward(w, cfg, ids, mask, types, a.head)
            if a.head == "classifier":
                refs.append({"input": item, "score": float(y[0][0])})
            else:
                v = y[0][0] if a.pooling == "cls" else (y[0] * mask[0][:, None]).sum(0) / mask[0].sum()
                v = v / np.linalg.norm(v)
                refs.append({"input": item, "embedding": [float(t) for t in v]})
        (out / "reference.json").write_text(json.dumps({"computed_by": "numpy forward pass + tokenizers (Python)", "items": refs}))
    print(f"exported {out / 'model.onnx'}")


if __name__ == "__main__":
    main()
