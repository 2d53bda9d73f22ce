#!/usr/bin/env python3
"""make_llama_fixtures.py - regenerate tests/llm/fixtures/ (run from anywhere).

Writes two tiny random Hugging Face style models and their reference logits:

  tests/llm/fixtures/tiny_llama/  LlamaForCausalLM, F32, untied lm_head, GQA
                                  (4 query heads, 2 kv heads), SentencePiece-
                                  style tokenizer.json with byte fallback
  tests/llm/fixtures/tiny_qwen2/  Qwen2ForCausalLM, BF16 (model.norm.weight
                                  F16), tied embeddings, q/k/v biases,
                                  rope_theta 1e6, byte-level tokenizer.json
                                  (Qwen2 Split regex) + tokenizer_config.json
  tests/llm/fixtures/tok_gpt2.json  the byte-level vocabulary again, with the
                                  GPT-2 ByteLevel(use_regex) pre-tokenizer

Each model folder holds config.json, model.safetensors, tokenizer.json and
ref.safetensors with: tokens (I32, (T,)), logits (F32, (T, V)), greedy_prompt
and greedy_tokens (an argmax continuation); for tiny_llama also prefix (F32,
(N, C)) external embeddings, prefix_tokens and prefix_logits (logits of the
N + T' positions when the embeddings are fed first and then the tokens).

The reference forward pass is written here from the architecture definition
with plain torch ops in float64 (RMSNorm, rotate-half RoPE, GQA causal
attention, SwiGLU MLP; transformers is NOT used), on the exact weights stored
(BF16/F16 values widened). safetensors files are written by hand (8-byte
little-endian header length, JSON header padded with spaces, raw data), which
also gives the C reader an independent writer to read.

Needs Debian's python3-torch and python3-numpy, only to regenerate the
fixtures:  apt-get install -y python3-torch python3-numpy
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "llm", "fixtures")
SPM = "\u2581"  # "▁"

# ---------------------------------------------------------------------------
# tokenizers


def bytes_to_unicode():
    """GPT-2's map: printable Latin-1 bytes stand for themselves, the other 68
    bytes get U+0100.. in byte order."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, k = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + k)
            k += 1
    return out


def bytelevel_tokenizer(pre_tokenizer):
    """Ids 0..255: the byte-level character of byte b; then one id per merge
    (in rank order); then three special added tokens."""
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "c"), ("a", "t"), ("Ġc", "at"),
              ("e", "n"), ("t", "h"), ("Ġ", "s"), ("Ġs", "at"), ("Ġ", "Ġ"), ("'", "s"), ("1", "2")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    added = []
    for name in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]:
        added.append({"id": len(vocab), "content": name, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True})
        vocab[name] = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


QWEN2_SPLIT = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Split",
         "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    ],
}
GPT2_BYTELEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}


def spm_tokenizer():
    """Llama-style: <unk> <s> </s>, a few byte-fallback pieces, characters,
    then one id per merge in rank order (merges listed in rank order; their
    new pieces are appended to the vocab in that order)."""
    pieces = ["<unk>", "<s>", "</s>", "<0x0A>", "<0xC3>", "<0xA9>", "<0xE2>", "<0x82>", "<0xAC>",
              SPM, "H", "e", "l", "o", "w", "r", "d", "t", "h", "i", "!", "a", "n", "s"]
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = [("l", "l"), (SPM, "w"), ("e", "ll"), ("H", "ell"), ("Hell", "o"), (SPM, "Hello"), ("o", "r"),
              (SPM + "w", "or"), ("l", "d"), (SPM + "wor", "ld"), (SPM, "t"), ("h", "e"), (SPM + "t", "he"),
              ("t", "h"), ("h", "i"), (SPM, "hi")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, c in enumerate(["<unk>", "<s>", "</s>"])]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPM},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPM}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPM}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


# ---------------------------------------------------------------------------
# safetensors, written by hand

DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int32: "I32"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = raw_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------
# reference forward, float64, from the architecture definition


def rmsnorm(x, w, eps):
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def rope_half(x, theta):
    """x: (T, heads, d). Pairs (j, j + d/2) rotated by pos * theta^(-2j/d)."""
    T, _, d = x.shape
    j = torch.arange(d // 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * theta ** (-2.0 * j / d)[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)


def forward(cfg, W, inputs):
    """inputs: (T, C) embeddings of positions 0..T-1. Returns (T, V) logits."""
    C, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = C // nh, cfg["rms_norm_eps"], cfg["rope_theta"]
    T = inputs.shape[0]
    x = inputs
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        proj = {}
        for n in "qkv":
            y = h @ W[p + f"self_attn.{n}_proj.weight"].T
            if p + f"self_attn.{n}_proj.bias" in W:
                y = y + W[p + f"self_attn.{n}_proj.bias"]
            proj[n] = y.view(T, -1, hd)
        q, k, v = rope_half(proj["q"], theta), rope_half(proj["k"], theta), proj["v"]
        k = k.repeat_interleave(nh // nkv, dim=1)  # query head h uses kv head h // (nh / nkv)
        v = v.repeat_interleave(nh // nkv, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
        s = s.masked_fill(mask[None], float("-inf")).softmax(-1)
        a = torch.einsum("hts,shd->thd", s, v).reshape(T, nh * hd)
        x = x + a @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (g * torch.sigmoid(g) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


def greedy_continue(cfg, W, prompt, n):
    """n argmax tokens after prompt (full recomputation each step). Refuses
    near ties, where float32 and float64 could pick differently."""
    seq = list(prompt)
    for _ in range(n):
        logits = forward(cfg, W, W["model.embed_tokens.weight"][torch.tensor(seq)])[-1]
        top = torch.topk(logits, 2).values
        assert top[0] - top[1] > 1e-3, "near tie in the greedy reference; change the seed"
        seq.append(int(logits.argmax()))
    return seq[len(prompt):]


def make_weights(cfg, gen, bias, tied):
    C, H, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = C // nh

    def rnd(*shape, scale=0.3):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    W = {"model.embed_tokens.weight": rnd(V, C, scale=1.0)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = 1.0 + rnd(C, scale=0.1)
        W[p + "self_attn.q_proj.weight"] = rnd(nh * hd, C)
        W[p + "self_attn.k_proj.weight"] = rnd(nkv * hd, C)
        W[p + "self_attn.v_proj.weight"] = rnd(nkv * hd, C)
        if bias:
            W[p + "self_attn.q_proj.bias"] = rnd(nh * hd, scale=0.2)
            W[p + "self_attn.k_proj.bias"] = rnd(nkv * hd, scale=0.2)
            W[p + "self_attn.v_proj.bias"] = rnd(nkv * hd, scale=0.2)
        W[p + "self_attn.o_proj.weight"] = rnd(C, nh * hd)
        W[p + "post_attention_layernorm.weight"] = 1.0 + rnd(C, scale=0.1)
        W[p + "mlp.gate_proj.weight"] = rnd(H, C)
        W[p + "mlp.up_proj.weight"] = rnd(H, C)
        W[p + "mlp.down_proj.weight"] = rnd(C, H)
    W["model.norm.weight"] = 1.0 + rnd(C, scale=0.1)
    if not tied:
        W["lm_head.weight"] = rnd(V, C)
    return W


def store(W, dtype_of):
    """Rounds every weight to its storage dtype; returns (stored tensors, the
    float64 values the reference must use)."""
    stored, exact = {}, {}
    for name, w in W.items():
        t = w.to(dtype_of(name))
        stored[name] = t
        exact[name] = t.to(torch.float64)
    return stored, exact


def write_model(folder, cfg, tok, W_stored, extra_json=None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    for name, obj in (extra_json or {}).items():
        with open(os.path.join(folder, name), "w") as f:
            json.dump(obj, f, indent=1)
    write_safetensors(os.path.join(folder, "model.safetensors"), W_stored)


def main():
    gen = torch.Generator().manual_seed(20240521)

    # ---- tiny Llama: F32, untied, GQA, SPM tokenizer
    tok = spm_tokenizer()
    V = len(tok["model"]["vocab"])
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
           "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "vocab_size": V, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "tie_word_embeddings": False, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
           "torch_dtype": "float32"}
    stored, W = store(make_weights(cfg, gen, bias=False, tied=False), lambda n: torch.float32)
    folder = os.path.join(OUT, "tiny_llama")
    write_model(folder, cfg, tok, stored)
    tokens = torch.randint(0, V, (7,), generator=gen)
    logits = forward(cfg, W, W["model.embed_tokens.weight"][tokens])
    prefix = torch.randn(3, cfg["hidden_size"], generator=gen, dtype=torch.float64).to(torch.float32)
    ptoks = torch.randint(0, V, (4,), generator=gen)
    plog = forward(cfg, W, torch.cat([prefix.to(torch.float64), W["model.embed_tokens.weight"][ptoks]]))
    # greedy continuation of <s> "Hello world" (ids 1 29 33, see test_tokenizer.c)
    greedy = greedy_continue(cfg, W, [1, 29, 33], 12)
    write_safetensors(os.path.join(folder, "ref.safetensors"), {
        "tokens": tokens.to(torch.int32), "logits": logits.to(torch.float32), "prefix": prefix,
        "prefix_tokens": ptoks.to(torch.int32), "prefix_logits": plog.to(torch.float32),
        "greedy_prompt": torch.tensor([1, 29, 33], dtype=torch.int32),
        "greedy_tokens": torch.tensor(greedy, dtype=torch.int32)})

    # ---- tiny Qwen2: BF16 (+ one F16 tensor), tied, q/k/v biases, byte-level tokenizer
    tok = bytelevel_tokenizer(QWEN2_SPLIT)
    V = len(tok["model"]["vocab"])
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32,
           "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "vocab_size": V, "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
           "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": V - 3, "eos_token_id": V - 3,
           "use_sliding_window": False, "torch_dtype": "bfloat16"}
    stored, W = store(make_weights(cfg, gen, bias=True, tied=True),
                      lambda n: torch.float16 if n == "model.norm.weight" else torch.bfloat16)
    folder = os.path.join(OUT, "tiny_qwen2")
    write_model(folder, cfg, tok, stored,
                {"tokenizer_config.json": {"bos_token": None, "eos_token": "<|endoftext|>"}})
    tokens = torch.randint(0, V, (7,), generator=gen)
    logits = forward(cfg, W, W["model.embed_tokens.weight"][tokens])
    # greedy continuation of "the cat" (ids 116 257 262, see test_tokenizer.c)
    greedy = greedy_continue(cfg, W, [116, 257, 262], 8)
    write_safetensors(os.path.join(folder, "ref.safetensors"),
                      {"tokens": tokens.to(torch.int32), "logits": logits.to(torch.float32),
                       "greedy_prompt": torch.tensor([116, 257, 262], dtype=torch.int32),
                       "greedy_tokens": torch.tensor(greedy, dtype=torch.int32)})

    with open(os.path.join(OUT, "tok_gpt2.json"), "w", encoding="utf-8") as f:
        json.dump(bytelevel_tokenizer(GPT2_BYTELEVEL), f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
