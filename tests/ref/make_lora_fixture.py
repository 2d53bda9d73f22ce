#!/usr/bin/env python3
"""make_lora_fixture.py - regenerate tests/llm_plugin/fixtures/lora_ref.safetensors.

The independent reference for LoRA training through the llm.llama plugin.
It reuses the tiny Hugging Face Llama of tests/llm/fixtures/tiny_llama (F32,
untied head, GQA 4/2 heads, rotate-half RoPE; made by make_llama_fixtures.py)
and adds random LoRA adapters (Hu et al. 2022, eq. 3) on q_proj and v_proj of
every layer (MotionLLM's default targets), rank 4, alpha 8:

    y = x W^T + (alpha / r) (x A^T) B^T,   A (r, in), B (out, r), both nonzero

Then, for a batch of 2 sequences of 6 ids with some targets ignored (-100),
it computes in float64 with PLAIN torch ops written from the architecture
definition (RMSNorm, rotate-half RoPE, GQA causal softmax attention, SwiGLU;
neither transformers nor peft is used) and torch.autograd:
  - logits (B, T, V) with the adapters,
  - the masked mean cross-entropy over the counted targets,
  - its gradient with respect to every A and B and to the input embeddings.

Written to lora_ref.safetensors (all F32 but ids/targets I32):
  ids (2, 6), targets (2, 6), logits (2, 6, V), loss (1), grad.inputs_embeds
  (2, 6, C), and per adapter "<base>.lora_A" / "<base>.lora_B" (values) and
  "grad.<base>.lora_A" / "grad.<base>.lora_B", base =
  "model.layers.N.self_attn.{q,v}_proj" (the plugin's parameter names).
The float64 computation uses the float32 values stored in the file.

Needs Debian's python3-torch and python3-numpy, only to regenerate:
  apt-get install -y python3-torch python3-numpy;  /usr/bin/python3 make_lora_fixture.py
"""
import json
import math
import os
import struct

import numpy as np
import torch

from make_llama_fixtures import write_safetensors  # same directory: one safetensors writer

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "llm", "fixtures", "tiny_llama")
OUT = os.path.join(HERE, "..", "llm_plugin", "fixtures", "lora_ref.safetensors")
RANK, ALPHA = 4, 8.0

NP_DTYPES = {"F32": np.float32, "I32": np.int32}


def read_safetensors(path):
    """Header length (u64 LE), JSON header, data buffer (format spec)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=NP_DTYPES[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out


def rmsnorm(x, w, eps):
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def rope_half(x, theta):
    """x (B, T, heads, d): pairs (j, j + d/2) rotated by t * theta^(-2j/d)."""
    T, d = x.shape[1], x.shape[-1]
    j = torch.arange(d // 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * theta ** (-2.0 * j / d)[None, :]
    c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)


def linear(x, W, name, lora):
    y = x @ W[name + ".weight"].T
    if name in lora:
        A, B = lora[name]
        y = y + (ALPHA / RANK) * ((x @ A.T) @ B.T)
    return y


def forward(cfg, W, lora, x):
    """x (B, T, C) embeddings of positions 0..T-1 -> logits (B, T, V)."""
    C, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = C // nh, cfg["rms_norm_eps"], cfg["rope_theta"]
    Bn, T = x.shape[0], x.shape[1]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(h, W, p + "self_attn.q_proj", lora).view(Bn, T, nh, hd)
        k = linear(h, W, p + "self_attn.k_proj", lora).view(Bn, T, nkv, hd)
        v = linear(h, W, p + "self_attn.v_proj", lora).view(Bn, T, nkv, hd)
        q, k = rope_half(q, theta), rope_half(k, theta)
        k = k.repeat_interleave(nh // nkv, dim=2)  # query head h uses kv head h // (nh / nkv)
        v = v.repeat_interleave(nh // nkv, dim=2)
        s = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd)
        s = s.masked_fill(mask[None, None], float("-inf")).softmax(-1)
        a = torch.einsum("bhts,bshd->bthd", s, v).reshape(Bn, T, nh * hd)
        x = x + linear(a, W, p + "self_attn.o_proj", lora)
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = linear(h, W, p + "mlp.gate_proj", lora)
        u = linear(h, W, p + "mlp.up_proj", lora)
        x = x + linear(g * torch.sigmoid(g) * u, W, p + "mlp.down_proj", lora)
    x = rmsnorm(x, W["model.norm.weight"], eps)
    return x @ W["lm_head.weight"].T


def masked_ce(logits, targets):
    """Mean over rows whose target != -100 of -log softmax(logits)[target]."""
    V = logits.shape[-1]
    lg, tg = logits.reshape(-1, V), targets.reshape(-1)
    keep = tg != -100
    logp = lg - torch.logsumexp(lg, dim=-1, keepdim=True)
    picked = logp[keep].gather(1, tg[keep][:, None].long())[:, 0]
    return -picked.mean()


def main():
    with open(os.path.join(MODEL, "config.json")) as f:
        cfg = json.load(f)
    W = {k: v.to(torch.float64) for k, v in read_safetensors(os.path.join(MODEL, "model.safetensors")).items()}
    C, V = cfg["hidden_size"], cfg["vocab_size"]
    gen = torch.Generator().manual_seed(4052)

    lora, out = {}, {}
    for l in range(cfg["num_hidden_layers"]):
        for n in "qv":
            base = f"model.layers.{l}.self_attn.{n}_proj"
            o, i = W[base + ".weight"].shape
            # float32 values, used in float64 by the reference
            A = (torch.randn(RANK, i, generator=gen, dtype=torch.float64) * 0.3).to(torch.float32)
            Bm = (torch.randn(o, RANK, generator=gen, dtype=torch.float64) * 0.3).to(torch.float32)
            out[base + ".lora_A"], out[base + ".lora_B"] = A, Bm
            lora[base] = (A.to(torch.float64).requires_grad_(), Bm.to(torch.float64).requires_grad_())

    ids = torch.randint(0, V, (2, 6), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, V, (2, 6), generator=gen, dtype=torch.int64)
    targets[0, :2] = -100  # prompt positions
    targets[1, :3] = -100
    targets[1, 4] = -100
    x = W["model.embed_tokens.weight"][ids].clone().requires_grad_()
    logits = forward(cfg, W, lora, x)
    loss = masked_ce(logits, targets)
    loss.backward()

    out["ids"] = ids.to(torch.int32)
    out["targets"] = targets.to(torch.int32)
    out["logits"] = logits.detach().to(torch.float32)
    out["loss"] = loss.detach().reshape(1).to(torch.float32)
    out["grad.inputs_embeds"] = x.grad.to(torch.float32)
    for base, (A, Bm) in lora.items():
        out["grad." + base + ".lora_A"] = A.grad.to(torch.float32)
        out["grad." + base + ".lora_B"] = Bm.grad.to(torch.float32)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, out)
    print(f"wrote {OUT}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
