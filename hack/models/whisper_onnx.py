#!/usr/bin/env python3
"""Converts a Whisper model in CTranslate2 format (model.bin, as faster-whisper ships it) to three ONNX graphs, with
numpy and onnx only (no torch):

- mel.onnx      audio [N] float32 at 16 kHz (N <= 480000, zero-padded to 30 s inside) -> log-mel [1, 80, 3000],
                Whisper's front end (reflect-padded STFT, n_fft 400, hop 160, Hann window, Slaney mel filters,
                log10, clamp to max - 8, (x + 4) / 4) as a strided convolution with a Fourier basis;
- encoder.onnx  mel [B, 80, 3000] -> the cross-attention keys and values of every decoder layer
                (cross_k_i, cross_v_i: [B, heads, 1500, head_dim]), computed once per 30-s window;
- decoder.onnx  tokens [B, T] int64, past_k_i/past_v_i [B, heads, P, head_dim] (P = 0 at the start), cross_k_i,
                cross_v_i -> logits of the last position [B, vocab] and present_k_i/present_v_i (the KV cache).

The CTranslate2 binary layout (version 6): u32 version, string spec name, u32 revision, u32 count, then per variable
a string name, u8 rank, u32 dims, u8 dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16), u32 byte count and the raw data;
then u32 alias count and (alias, target) string pairs. Strings are u16 length (with the NUL) + bytes + NUL.
"""
import re
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
SAMPLE_RATE, N_FFT, HOP, N_SAMPLES, N_FRAMES = 16000, 400, 160, 480000, 3000
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path: Path) -> dict:
    buf = path.read_bytes()
    off = 0

    def num(fmt):
        nonlocal off
        (v,) = struct.unpack_from(fmt, buf, off)
        off += struct.calcsize(fmt)
        return v

    def string():
        nonlocal off
        n = num("<H")
        s = buf[off : off + n - 1].decode()
        off += n
        return s

    version = num("<I")
    if version != 6:
        raise SystemExit(f"{path}: CTranslate2 binary version {version}, this converter reads version 6")
    spec = string()
    if spec != "WhisperSpec":
        raise SystemExit(f"{path}: spec {spec}, expected WhisperSpec")
    num("<I")
    out = {}
    for _ in range(num("<I")):
        name = string()
        shape = [num("<I") for _ in range(num("<B"))]
        dt = DTYPES[num("<B")]
        nbytes = num("<I")
        out[name] = np.frombuffer(buf, dt, nbytes // np.dtype(dt).itemsize, off).reshape(shape)
        off += nbytes
    for _ in range(num("<I")):
        alias, target = string(), string()
        out[alias] = out[target]
    return out


def mel_filters(n_mels: int = 80) -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) (Slaney scale and area normalisation), as Whisper uses."""
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp

    def hz_to_mel(f):
        return f / f_sp if f < min_log_hz else min_log_mel + np.log(f / min_log_hz) / logstep

    mels = np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), n_mels + 2)
    hz = np.where(mels < min_log_mel, f_sp * mels, min_log_hz * np.exp(logstep * (mels - min_log_mel)))
    fft = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    fdiff = np.diff(hz)
    ramps = hz[:, None] - fft[None, :]
    w = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]))
    return (w * (2.0 / (hz[2:] - hz[:-2]))[:, None]).astype(np.float32)


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, p="c"):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def op(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(op), **attrs))
        return outs[0] if n_out == 1 else outs

    def linear(self, x, w, b=None):
        y = self.op("MatMul", [x, self.const(np.ascontiguousarray(w.astype(np.float32).T), "w")])
        return self.op("Add", [y, self.const(b.astype(np.float32), "b")]) if b is not None else y

    def layer_norm(self, x, v, p):
        return self.op("LayerNormalization", [x, self.const(v[p + "/gamma"].astype(np.float32)), self.const(v[p + "/beta"].astype(np.float32))], axis=-1, epsilon=1e-5)

    def gelu(self, x):
        e = self.op("Erf", [self.op("Mul", [x, self.const(np.float32(1 / np.sqrt(2)))])])
        return self.op("Mul", [self.op("Mul", [x, self.const(np.float32(0.5))]), self.op("Add", [e, self.const(np.float32(1.0))])])

    def heads(self, x, h):
        """[B, T, D] -> [B, H, T, D/H]"""
        return self.op("Transpose", [self.op("Reshape", [x, self.const(np.array([0, 0, h, -1], np.int64))])], perm=[0, 2, 1, 3])

    def merge(self, x):
        """[B, H, T, Dh] -> [B, T, H*Dh]"""
        return self.op("Reshape", [self.op("Transpose", [x], perm=[0, 2, 1, 3]), self.const(np.array([0, 0, -1], np.int64))])

    def attend(self, q, k, v, dh, mask=None):
        s = self.op("MatMul", [q, self.op("Transpose", [k], perm=[0, 1, 3, 2])])
        s = self.op("Mul", [s, self.const(np.float32(1 / np.sqrt(dh)))])
        if mask is not None:
            s = self.op("Add", [s, mask])
        return self.op("MatMul", [self.op("Softmax", [s], axis=-1), v])

    def ffn(self, x, v, p):
        h = self.layer_norm(x, v, p + "/layer_norm")
        h = self.gelu(self.linear(h, v[p + "/linear_0/weight"], v[p + "/linear_0/bias"]))
        return self.op("Add", [x, self.linear(h, v[p + "/linear_1/weight"], v[p + "/linear_1/bias"])])

    def model(self, name, inputs, outputs):
        g = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="quarry-whisper-ct2-onnx")
        m.ir_version = 9
        onnx.checker.check_model(m)
        return m


def build_mel() -> onnx.ModelProto:
    g = Graph()
    n = np.arange(N_FFT)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)  # periodic Hann (torch.hann_window)
    k = np.arange(N_FFT // 2 + 1)
    ang = 2 * np.pi * np.outer(k, n) / N_FFT
    basis = np.concatenate([np.cos(ang) * window, -np.sin(ang) * window])[:, None, :].astype(np.float32)  # [402, 1, 400]
    audio = g.op("Pad", ["audio", g.op("Concat", [g.const(np.array([0], np.int64)), g.op("Sub", [g.const(np.array([N_SAMPLES], np.int64)), g.op("Shape", ["audio"])])], axis=0)])
    audio = g.op("Slice", [audio, g.const(np.array([0], np.int64)), g.const(np.array([N_SAMPLES], np.int64))])
    x = g.op("Reshape", [audio, g.const(np.array([1, 1, N_SAMPLES], np.int64))])
    x = g.op("Pad", [x, g.const(np.array([0, 0, N_FFT // 2, 0, 0, N_FFT // 2], np.int64))], mode="reflect")
    spec = g.op("Conv", [x, g.const(basis, "fourier")], strides=[HOP])  # [1, 402, 3001]
    spec = g.op("Slice", [spec, g.const(np.array([0], np.int64)), g.const(np.array([N_FRAMES], np.int64)), g.const(np.array([2], np.int64))])
    re, im = g.op("Split", [spec, g.const(np.array([201, 201], np.int64))], n_out=2, axis=1)
    power = g.op("Add", [g.op("Mul", [re, re]), g.op("Mul", [im, im])])  # [1, 201, 3000]
    mel = g.op("MatMul", [g.const(mel_filters(), "mel_filters"), power])  # [1, 80, 3000]
    logm = g.op("Div", [g.op("Log", [g.op("Max", [mel, g.const(np.float32(1e-10))])]), g.const(np.float32(np.log(10)))])
    logm = g.op("Max", [logm, g.op("Sub", [g.op("ReduceMax", [logm], keepdims=0), g.const(np.float32(8.0))])])
    out = g.op("Div", [g.op("Add", [logm, g.const(np.float32(4.0))]), g.const(np.float32(4.0))])
    g.nodes.append(helper.make_node("Identity", [out], ["mel"]))
    return g.model("whisper_mel", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["samples"])], [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, 80, N_FRAMES])])


def dims(v):
    heads = int(v["encoder/num_heads"])
    d = v["encoder/conv1/weight"].shape[0]
    enc_layers = len({k.split("/")[1] for k in v if re.match(r"encoder/layer_\d+/", k)})
    dec_layers = len({k.split("/")[1] for k in v if re.match(r"decoder/layer_\d+/", k)})
    return heads, d, enc_layers, dec_layers


def build_encoder(v) -> onnx.ModelProto:
    g = Graph()
    heads, d, n_enc, n_dec = dims(v)
    dh = d // heads
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    x = g.gelu(g.op("Conv", ["mel", g.const(f32(v["encoder/conv1/weight"])), g.const(f32(v["encoder/conv1/bias"]))], pads=[1, 1]))
    x = g.gelu(g.op("Conv", [x, g.const(f32(v["encoder/conv2/weight"])), g.const(f32(v["encoder/conv2/bias"]))], pads=[1, 1], strides=[2]))
    x = g.op("Add", [g.op("Transpose", [x], perm=[0, 2, 1]), g.const(f32(v["encoder/position_encodings/encodings"]))])
    for i in range(n_enc):
        p = f"encoder/layer_{i}/self_attention"
        h = g.layer_norm(x, v, p + "/layer_norm")
        q, k, vv = g.op("Split", [g.linear(h, v[p + "/linear_0/weight"], v[p + "/linear_0/bias"]), g.const(np.array([d, d, d], np.int64))], n_out=3, axis=-1)
        a = g.merge(g.attend(g.heads(q, heads), g.heads(k, heads), g.heads(vv, heads), dh))
        x = g.op("Add", [x, g.linear(a, v[p + "/linear_1/weight"], v[p + "/linear_1/bias"])])
        x = g.ffn(x, v, f"encoder/layer_{i}/ffn")
    x = g.layer_norm(x, v, "encoder/layer_norm")
    outputs = []
    for i in range(n_dec):
        p = f"decoder/layer_{i}/attention/linear_1"
        k, vv = g.op("Split", [g.linear(x, v[p + "/weight"], v[p + "/bias"]), g.const(np.array([d, d], np.int64))], n_out=2, axis=-1)
        for nm, t in ((f"cross_k_{i}", k), (f"cross_v_{i}", vv)):
            g.nodes.append(helper.make_node("Identity", [g.heads(t, heads)], [nm]))
            outputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, ["batch", heads, 1500, dh]))
    return g.model("whisper_encoder", [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", 80, N_FRAMES])], outputs)


def build_decoder(v) -> onnx.ModelProto:
    g = Graph()
    heads, d, _, n_dec = dims(v)
    dh = d // heads
    i64 = lambda *a: g.const(np.array(a, np.int64))  # noqa: E731
    past_len = g.op("Gather", [g.op("Shape", ["past_k_0"]), i64(2)], axis=0)  # [1]
    t_len = g.op("Gather", [g.op("Shape", ["tokens"]), i64(1)], axis=0)
    total = g.op("Add", [past_len, t_len])
    emb = g.const(v["decoder/embeddings/weight"].astype(np.float32), "embeddings")
    x = g.op("Gather", [emb, "tokens"], axis=0)
    pos = g.op("Slice", [g.const(v["decoder/position_encodings/encodings"].astype(np.float32), "positions"), past_len, total, i64(0)])
    x = g.op("Add", [x, pos])
    # causal mask [T, P+T]: position P+i sees keys 0..P+i
    rows = g.op("Unsqueeze", [g.op("Add", [g.op("Range", [g.const(np.int64(0)), g.op("Squeeze", [t_len]), g.const(np.int64(1))]), g.op("Squeeze", [past_len])]), i64(1)])
    cols = g.op("Unsqueeze", [g.op("Range", [g.const(np.int64(0)), g.op("Squeeze", [total]), g.const(np.int64(1))]), i64(0)])
    mask = g.op("Where", [g.op("Greater", [cols, rows]), g.const(np.float32(-1e9)), g.const(np.float32(0))])
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "tokens"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", v["decoder/embeddings/weight"].shape[0]])]
    for i in range(n_dec):
        for nm, length in ((f"past_k_{i}", "past"), (f"past_v_{i}", "past"), (f"cross_k_{i}", 1500), (f"cross_v_{i}", 1500)):
            inputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, ["batch", heads, length, dh]))
        p = f"decoder/layer_{i}/self_attention"
        h = g.layer_norm(x, v, p + "/layer_norm")
        q, k, vv = g.op("Split", [g.linear(h, v[p + "/linear_0/weight"], v[p + "/linear_0/bias"]), g.const(np.array([d, d, d], np.int64))], n_out=3, axis=-1)
        k_all = g.op("Concat", [f"past_k_{i}", g.heads(k, heads)], axis=2)
        v_all = g.op("Concat", [f"past_v_{i}", g.heads(vv, heads)], axis=2)
        g.nodes.append(helper.make_node("Identity", [k_all], [f"present_k_{i}"]))
        g.nodes.append(helper.make_node("Identity", [v_all], [f"present_v_{i}"]))
        outputs += [helper.make_tensor_value_info(f"present_{c}_{i}", TensorProto.FLOAT, ["batch", heads, "total", dh]) for c in "kv"]
        a = g.merge(g.attend(g.heads(q, heads), k_all, v_all, dh, mask))
        x = g.op("Add", [x, g.linear(a, v[p + "/linear_1/weight"], v[p + "/linear_1/bias"])])
        p = f"decoder/layer_{i}/attention"
        h = g.layer_norm(x, v, p + "/layer_norm")
        q = g.heads(g.linear(h, v[p + "/linear_0/weight"], v[p + "/linear_0/bias"]), heads)
        a = g.merge(g.attend(q, f"cross_k_{i}", f"cross_v_{i}", dh))
        x = g.op("Add", [x, g.linear(a, v[p + "/linear_2/weight"], v[p + "/linear_2/bias"])])
        x = g.ffn(x, v, f"decoder/layer_{i}/ffn")
    last = g.op("Gather", [x, g.op("Sub", [g.op("Squeeze", [t_len]), g.const(np.int64(1))])], axis=1)  # [B, D]
    last = g.layer_norm(last, v, "decoder/layer_norm")
    logits = g.op("MatMul", [last, g.op("Transpose", [emb], perm=[1, 0])])
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    return g.model("whisper_decoder", inputs, outputs)


def convert(model_bin: Path, out: Path) -> None:
    v = read_ct2(model_bin)
    if int(v.get("decoder/activation", 3)) != 3 or int(v.get("decoder/pre_norm", 1)) != 1:
        raise SystemExit("unexpected Whisper variant (activation must be GELU, pre-norm)")
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(build_mel(), str(out / "mel.onnx"))
    onnx.save(build_encoder(v), str(out / "encoder.onnx"))
    onnx.save(build_decoder(v), str(out / "decoder.onnx"))


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
