#!/usr/bin/env python3
"""Checks the ONNX conversion of Whisper (whisper_onnx.py) against the original CTranslate2 model on the same audio.

Usage: whisper_parity.py <ct2 model dir> <onnx dir> <wav>. On one 30-s window of the audio it compares
- the ONNX log-mel front end with a numpy reference (numpy.fft) of Whisper's log_mel_spectrogram;
- the converted encoder with CTranslate2's (the cross-attention inputs are compared through the decoder's outputs);
- greedy decoding: the ONNX decoder with its KV cache must produce exactly the token ids CTranslate2 generates.
Prints a JSON report and exits non-zero when any check fails.
"""
import json
import sys
import wave
from pathlib import Path

import numpy as np
import onnxruntime as ort

from whisper_onnx import HOP, N_FFT, N_SAMPLES, mel_filters

SOT, EN, TRANSCRIBE, NO_TIMESTAMPS, EOT, TIMESTAMP_BEGIN = 50258, 50259, 50359, 50363, 50257, 50364
PROMPT = [SOT, EN, TRANSCRIBE, NO_TIMESTAMPS]


def read_wav_16k(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
        data = data.reshape(-1, w.getnchannels()).mean(axis=1)
        rate = w.getframerate()
    if rate != 16000:
        t = np.arange(int(len(data) * 16000 / rate)) * rate / 16000
        data = np.interp(t, np.arange(len(data)), data).astype(np.float32)
    return data


def reference_mel(audio: np.ndarray) -> np.ndarray:
    audio = np.pad(audio[:N_SAMPLES], (0, max(0, N_SAMPLES - len(audio))))
    x = np.pad(audio, N_FFT // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:-1]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    logm = np.log10(np.maximum(mel_filters() @ power.T, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    return ((logm + 4.0) / 4.0)[None].astype(np.float32)


def suppress_lists(config: dict):
    return set(config["suppress_ids"]), set(config["suppress_ids_begin"])


def onnx_greedy(onnx_dir: Path, mel: np.ndarray, config: dict, max_new: int = 200) -> list:
    enc = ort.InferenceSession(str(onnx_dir / "encoder.onnx"))
    dec = ort.InferenceSession(str(onnx_dir / "decoder.onnx"))
    cross = dict(zip([o.name for o in enc.get_outputs()], enc.run(None, {"mel": mel})))
    n_layers = len(cross) // 2
    heads, dh = cross["cross_k_0"].shape[1], cross["cross_k_0"].shape[3]
    past = {f"past_{c}_{i}": np.zeros((1, heads, 0, dh), np.float32) for i in range(n_layers) for c in "kv"}
    suppress, suppress_begin = suppress_lists(config)
    tokens, out = np.array([PROMPT], np.int64), []
    for step in range(max_new):
        res = dec.run(None, {"tokens": tokens, **past, **cross})
        names = [o.name for o in dec.get_outputs()]
        r = dict(zip(names, res))
        logits = r["logits"][0].copy()
        logits[list(suppress)] = -np.inf
        logits[TIMESTAMP_BEGIN:] = -np.inf
        logits[NO_TIMESTAMPS] = -np.inf
        if step == 0:
            logits[list(suppress_begin)] = -np.inf
        tok = int(np.argmax(logits))
        if tok == EOT:
            break
        out.append(tok)
        past = {f"past_{c}_{i}": r[f"present_{c}_{i}"] for i in range(n_layers) for c in "kv"}
        tokens = np.array([[tok]], np.int64)
    return out


def main(ct2_dir: Path, onnx_dir: Path, wav: Path) -> int:
    import ctranslate2

    config = json.loads((ct2_dir / "config.json").read_text())
    audio = read_wav_16k(wav)
    mel_sess = ort.InferenceSession(str(onnx_dir / "mel.onnx"))
    mel = mel_sess.run(None, {"audio": audio[:N_SAMPLES]})[0]
    mel_err = float(np.abs(mel - reference_mel(audio)).max())

    model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    features = ctranslate2.StorageView.from_array(mel)
    ct2_ids = model.generate(features, [PROMPT], beam_size=1, max_length=len(PROMPT) + 200)[0].sequences_ids[0]
    onnx_ids = onnx_greedy(onnx_dir, mel, config)
    vocab = (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    report = {
        "mel_max_abs_err": mel_err,
        "ct2_tokens": len(ct2_ids),
        "tokens_equal": ct2_ids == onnx_ids,
        "ct2_text": "".join(vocab[t] for t in ct2_ids),
        "onnx_text": "".join(vocab[t] for t in onnx_ids),
    }
    print(json.dumps(report, ensure_ascii=False))
    ok = mel_err < 1e-3 and report["tokens_equal"] and len(ct2_ids) > 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
