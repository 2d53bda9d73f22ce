#!/usr/bin/env python3
"""make_clip_fixture.py - regenerate tests/video_vit/fixtures/tiny_clip/.

Writes a TINY random CLIP-shaped vision model in the Hugging Face layout and
reference outputs for a fixed input, for encoder.video_vit's tests:

  config.json        CLIPModel style: {"model_type": "clip", "vision_config":
                     {image_size 32, patch_size 8, hidden_size 32, 2 layers,
                     4 heads, intermediate_size 64, quick_gelu, eps 1e-5}}
  model.safetensors  every vision_model.* tensor of CLIPVisionModel (F32,
                     except layer 1's mlp.fc1.weight in F16 and the class
                     embedding in BF16, to exercise widening), plus tensors a
                     real CLIP checkpoint also holds and the loader must skip:
                     vision_model.embeddings.position_ids (I64 buffer),
                     visual_projection.weight, logit_scale, a text_model tensor
  ref.safetensors    pixel_values   (2, 3, 32, 32)  the input (F32)
                     last_hidden    (2, 17, 32)     HF last_hidden_state
                                                    (= hidden_states[2], no
                                                    post_layernorm)
                     last_post_ln   (2, 17, 32)     post_layernorm applied to
                                                    every token of last_hidden
                     penultimate    (2, 17, 32)     hidden_states[-2] (LLaVA's
                                                    select_layer -2)
                     embeddings     (2, 17, 32)     hidden_states[0] (after
                                                    pre_layrnorm)
                     pooled         (2, 32)         HF pooler_output =
                                                    post_layernorm(last[:, 0])
                     penultimate_mean (2, 32)       mean of penultimate's patch
                                                    tokens (CLS dropped)

The reference forward pass is written here from the architecture definition
(Radford et al. 2021, CLIP; Dosovitskiy et al. 2021, ViT eq. 1-4; the layer
order of transformers' CLIPVisionTransformer: embeddings -> pre_layrnorm ->
pre-LN encoder layers -> post_layernorm on the CLS token) with plain torch
ops in float64 on the exact stored weights (F16/BF16 values widened). The
transformers library is NOT used. safetensors files are written by hand
(8-byte little-endian header length, JSON header padded with spaces to a
multiple of 8, raw little-endian data), independently of vimo's writer.

Needs Debian's python3-torch (run it with /usr/bin/python3 if another Python
comes first on PATH), only to regenerate the fixture:
    apt-get install -y python3-torch python3-numpy
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "video_vit", "fixtures", "tiny_clip")

IMAGE, PATCH, WIDTH, LAYERS, HEADS, MLP, EPS = 32, 8, 32, 2, 4, 64, 1e-5
GRID = IMAGE // PATCH
NPOS = GRID * GRID + 1

# ---------------------------------------------------------------------------
# safetensors, written by hand

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: same bits as int16
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # x86-64: little-endian


def write_safetensors(path, tensors):
    """tensors: list of (name, torch tensor), written in that order."""
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
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
# the model


def make_weights(g):
    """Random weights with CLIP's names and shapes; scales keep activations O(1)."""
    def rnd(*shape, std=0.2):
        return torch.randn(*shape, generator=g) * std

    v = "vision_model."
    w = [(v + "embeddings.class_embedding", rnd(WIDTH, std=1.0).to(torch.bfloat16)),
         (v + "embeddings.patch_embedding.weight", rnd(WIDTH, 3, PATCH, PATCH, std=0.1)),
         (v + "embeddings.position_embedding.weight", rnd(NPOS, WIDTH, std=0.5)),
         (v + "pre_layrnorm.weight", 1.0 + rnd(WIDTH, std=0.1)),
         (v + "pre_layrnorm.bias", rnd(WIDTH, std=0.1))]
    for i in range(LAYERS):
        p = v + f"encoder.layers.{i}."
        for proj in ("q", "k", "v", "out"):
            w.append((p + f"self_attn.{proj}_proj.weight", rnd(WIDTH, WIDTH)))
            w.append((p + f"self_attn.{proj}_proj.bias", rnd(WIDTH, std=0.1)))
        w += [(p + "layer_norm1.weight", 1.0 + rnd(WIDTH, std=0.1)),
              (p + "layer_norm1.bias", rnd(WIDTH, std=0.1)),
              (p + "mlp.fc1.weight", rnd(MLP, WIDTH)),
              (p + "mlp.fc1.bias", rnd(MLP, std=0.1)),
              (p + "mlp.fc2.weight", rnd(WIDTH, MLP, std=0.15)),
              (p + "mlp.fc2.bias", rnd(WIDTH, std=0.1)),
              (p + "layer_norm2.weight", 1.0 + rnd(WIDTH, std=0.1)),
              (p + "layer_norm2.bias", rnd(WIDTH, std=0.1))]
    w += [(v + "post_layernorm.weight", 1.0 + rnd(WIDTH, std=0.1)),
          (v + "post_layernorm.bias", rnd(WIDTH, std=0.1))]
    w = [(n, t.to(torch.float16) if n == v + "encoder.layers.1.mlp.fc1.weight" else t) for n, t in w]
    # What a real CLIPModel checkpoint holds besides the vision tower.
    extra = [(v + "embeddings.position_ids", torch.arange(NPOS, dtype=torch.int64).reshape(1, NPOS)),
             ("visual_projection.weight", rnd(16, WIDTH)),
             ("logit_scale", torch.tensor(2.6592)),
             ("text_model.embeddings.token_embedding.weight", rnd(8, 16))]
    return w, extra


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased, as nn.LayerNorm
    return (x - mu) / torch.sqrt(var + EPS) * w + b


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def linear(x, W, P, name):
    return x @ W[P + name + ".weight"].T + W[P + name + ".bias"]


def encoder_layer(h, W, P):
    n, t, d = h.shape
    hd = d // HEADS
    x = layer_norm(h, W[P + "layer_norm1.weight"], W[P + "layer_norm1.bias"])
    q = linear(x, W, P, "self_attn.q_proj").reshape(n, t, HEADS, hd).transpose(1, 2)
    k = linear(x, W, P, "self_attn.k_proj").reshape(n, t, HEADS, hd).transpose(1, 2)
    v = linear(x, W, P, "self_attn.v_proj").reshape(n, t, HEADS, hd).transpose(1, 2)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v  # no mask: bidirectional
    h = h + linear(a.transpose(1, 2).reshape(n, t, d), W, P, "self_attn.out_proj")
    x = layer_norm(h, W[P + "layer_norm2.weight"], W[P + "layer_norm2.bias"])
    return h + linear(quick_gelu(linear(x, W, P, "mlp.fc1")), W, P, "mlp.fc2")


def forward(px, W):
    """px (N, 3, S, S) -> hidden_states list (L + 1 entries) and pooled."""
    v = "vision_model."
    n = px.shape[0]
    # Patch embedding: conv with kernel = stride = patch and no bias, written
    # as an explicit patch extraction + matrix product.
    patches = px.reshape(n, 3, GRID, PATCH, GRID, PATCH).permute(0, 2, 4, 1, 3, 5).reshape(n, GRID * GRID, -1)
    pe = patches @ W[v + "embeddings.patch_embedding.weight"].reshape(WIDTH, -1).T  # (n, P, D), row-major grid
    conv = torch.nn.functional.conv2d(px, W[v + "embeddings.patch_embedding.weight"], stride=PATCH)
    assert torch.allclose(pe, conv.flatten(2).transpose(1, 2), atol=1e-12)  # the same thing, by torch's conv
    cls = W[v + "embeddings.class_embedding"].reshape(1, 1, WIDTH).expand(n, 1, WIDTH)
    h = torch.cat([cls, pe], dim=1) + W[v + "embeddings.position_embedding.weight"]
    h = layer_norm(h, W[v + "pre_layrnorm.weight"], W[v + "pre_layrnorm.bias"])
    hidden = [h]
    for i in range(LAYERS):
        h = encoder_layer(h, W, v + f"encoder.layers.{i}.")
        hidden.append(h)
    post = lambda x: layer_norm(x, W[v + "post_layernorm.weight"], W[v + "post_layernorm.bias"])
    return hidden, post


def main():
    g = torch.Generator().manual_seed(20240531)
    weights, extra = make_weights(g)
    px = torch.randn(2, 3, IMAGE, IMAGE, generator=g)
    W = {n: t.to(torch.float64) for n, t in weights}  # the stored values, widened exactly
    hidden, post = forward(px.to(torch.float64), W)
    last, pen = hidden[-1], hidden[-2]
    ref = [("pixel_values", px),
           ("last_hidden", last), ("last_post_ln", post(last)), ("penultimate", pen),
           ("embeddings", hidden[0]), ("pooled", post(last[:, 0, :])),
           ("penultimate_mean", pen[:, 1:, :].mean(dim=1))]
    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "model.safetensors"), weights + extra)
    write_safetensors(os.path.join(OUT, "ref.safetensors"), [(n, t.to(torch.float32)) for n, t in ref])
    config = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 16,
              "text_config": {"hidden_size": 16, "vocab_size": 8},
              "vision_config": {"model_type": "clip_vision_model", "image_size": IMAGE, "patch_size": PATCH,
                                "hidden_size": WIDTH, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                                "intermediate_size": MLP, "hidden_act": "quick_gelu", "layer_norm_eps": EPS,
                                "num_channels": 3}}
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print("pooled[0, :4]", post(last[:, 0, :])[0, :4].tolist())
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
