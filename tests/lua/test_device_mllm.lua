--[[
tests/lua/test_device_mllm.lua - the main job's model pieces on a device:
llm.llama (stories260K + LoRA), encoder.motion_tcn and projector.mlp2x_gelu
built with vimo.plugin (and the video branch, encoder.video_cnn +
projector.linear, forward and backward), trained for a few AdamW steps with vimo.mllm's
Model:loss call sequence (motion -> encoder -> projector -> spliced between
text embeddings -> llm forward -> cross-entropy), once on the CPU and once
with every parameter moved to "hostdev" (tests/backend: the CPU kernels
behind pointers the host cannot dereference, loaded as the test-only plugin
backend.hostdev the way "cuda" loads backend.cuda) and the input moved with
vimo.to_device. The fake device runs the very same kernels, so the losses,
the trained weights and greedy generation must be bit-identical; mixing
devices must raise the documented error.
]]

local vimo = require "vimo"
local check = require "check"

local root = os.getenv("VIMO_SOURCE_DIR") or "."
local MODEL = root .. "/llm/llama/weights/stories260K.bin"
local TOK = root .. "/llm/llama/weights/tok512.bin"
local DEV = "hostdev"
local IGNORE = -100
local B, T, F = 2, 16, 263 -- motion (B, T, 263); T/4 = 4 tokens per clip
local STEPS = 5

local dev_id, why = vimo.device(DEV)
check.ok(dev_id, "vimo.device('hostdev') loads backend.hostdev: " .. tostring(why))
check.ok(dev_id > 0, "hostdev is not the CPU")
check.eq(vimo.device(DEV), dev_id, "asking again gives the same id")
local none, reason = vimo.device("nosuchdev")
check.ok(none == nil and reason:find("no backend plugin backend.nosuchdev", 1, true), "unknown device: " ..
         tostring(reason))

-- Every parameter handle of a plugin instance, as inst:params() lends them.
local function tensors_of(inst, filter)
  local out = {}
  for _, p in ipairs(inst:params()) do
    if not filter or p.name:find(filter, 1, true) then out[#out + 1] = p.tensor end
  end
  return out
end

-- What a script does to put a model on a device: move each parameter in place.
local function move_model(m, device)
  for _, inst in ipairs{m.llm, m.enc, m.proj} do
    for _, p in ipairs(inst:params()) do p.tensor:move(device) end
  end
end

local function build(device)
  local m = {}
  m.llm = vimo.plugin("llm.llama", {model = MODEL, tokenizer = TOK})
  m.llm:freeze()
  m.tok = m.llm:tokenizer()
  m.enc = vimo.plugin("encoder.motion_tcn", {out_dim = 16, width = 32, depth = 1, seed = 21})
  m.proj = vimo.plugin("projector.mlp2x_gelu", {in_dim = 16, out_dim = m.llm:dim(), out_norm = 1.0,
                                                dropout = 0.1, seed = 22})
  if device then move_model(m, device) end
  -- After the move, as stage 2 of the main job does: adapters follow the base.
  m.llm:lora_add{rank = 4, alpha = 8, dropout = 0.05, targets = "q,k,v,o,gate,up,down", seed = 23}
  m.params = {}
  for _, t in ipairs(tensors_of(m.enc)) do m.params[#m.params + 1] = t end
  for _, t in ipairs(tensors_of(m.proj)) do m.params[#m.params + 1] = t end
  for _, t in ipairs(tensors_of(m.llm, "lora_")) do m.params[#m.params + 1] = t end
  m.prefix = m.tok:encode("USER:", {bos = true})
  m.mid = m.tok:encode(" Describe the motion. ASSISTANT:")
  local ans = m.tok:encode(" a person walks forward.")
  m.rest = table.move(m.mid, 1, #m.mid, 1, {})
  table.move(ans, 1, #ans, #m.rest + 1, m.rest)
  m.rest[#m.rest + 1] = m.tok:bos()
  for _, inst in ipairs{m.llm, m.enc, m.proj} do inst:train(true) end
  return m
end

-- vimo.mllm Model:loss for one modality, the same motion for every example.
local function loss(m, ctx, x, rng)
  local tok = m.enc:encode(ctx, x, B, rng)
  local blk = m.proj:project(ctx, tok, rng)
  local n_mod, P, L = blk:shape()[2], #m.prefix, #m.rest
  local Tt = P + n_mod + L
  local pre_ids, rest_ids, targets = {}, {}, {}
  for i = 1, B do
    pre_ids[i], rest_ids[i] = m.prefix, m.rest
    local off = (i - 1) * Tt
    for t = 1, Tt do targets[off + t] = IGNORE end
    for j = #m.mid + 1, L do targets[off + P + n_mod + j - 1] = m.rest[j] end
  end
  local xcat = vimo.concat(ctx, {m.llm:embed(ctx, pre_ids), blk, m.llm:embed(ctx, rest_ids)}, 1)
  local logits = m.llm:forward(ctx, xcat, nil, rng)
  return vimo.cross_entropy(ctx, logits, targets, IGNORE)
end

local function run(device)
  local m = build(device)
  local opt = vimo.adamw()
  opt:add_group{params = m.params, lr = 3e-3, wd = 0.01}
  local motion = vimo.randn(vimo.rng(5), {B, T, F}) -- a host tensor, as the data loader gives
  local rng = vimo.rng(7)                           -- dropout masks: drawn on the host either way
  local ctx = vimo.ctx()
  local losses, norms = {}, {}
  for s = 1, STEPS do
    ctx:reset()
    opt:zero_grad()
    local x = device and vimo.to_device(ctx, motion, device) or motion
    local l = loss(m, ctx, x, rng)
    check.eq(l:device(), device or "cpu", "the loss lives on the parameters' device")
    ctx:backward(l)
    norms[s] = vimo.clip_grad_norm(m.params, 1.0)
    opt:step()
    losses[s] = l:item()
  end
  ctx:reset()
  -- Greedy generation after training: the CPU engine reads host copies of
  -- device weights (and folds the adapters) without moving the model.
  ctx:grad(false)
  for _, inst in ipairs{m.llm, m.enc, m.proj} do inst:train(false) end
  local x = device and vimo.to_device(ctx, motion, device) or motion
  local blk = m.proj:project(ctx, m.enc:encode(ctx, x, B, nil), nil)
  local pre = vimo.concat(ctx, {m.llm:embed(ctx, {m.prefix}), vimo.slice(ctx, blk, 0, 0, 1)}, 1)
  local sh = pre:shape()
  local ids = m.llm:generate{prompt = m.mid, prefix = vimo.reshape(ctx, pre, {sh[2], sh[3]}), temperature = 0,
                             max_new_tokens = 8, stop_at_eos = false}
  ctx:reset()
  ctx:grad(true)
  return m, losses, norms, ids, motion, ctx
end

local mc, lc, nc, idc = run(nil)
local md, ld, nd, idd, motion, ctxd = run(DEV)

for s = 1, STEPS do
  check.ok(lc[s] == lc[s] and lc[s] > 0, "a finite CPU loss at step " .. s)
  -- Same kernels on the same host memory: bit for bit.
  check.eq(ld[s], lc[s], ("step %d: hostdev loss %.9g vs cpu %.9g"):format(s, ld[s], lc[s]))
  check.eq(nd[s], nc[s], ("step %d: gradient norm before clipping"):format(s))
end
check.ok(lc[STEPS] < lc[1], ("training lowers the loss: %g -> %g"):format(lc[1], lc[STEPS]))
check.list_eq(idd, idc, "greedy tokens from device weights equal the CPU's")

-- The parameters stayed on the device, adapters included.
for _, t in ipairs(md.params) do check.eq(t:device(), DEV, "trained parameter on hostdev") end
for _, t in ipairs(tensors_of(md.llm, "model.")) do check.eq(t:device(), DEV, "frozen base on hostdev") end

-- Mixing devices: a host input to a device model names both devices.
check.raises("on cpu", function() return md.enc:encode(ctxd, motion, B, nil) end)
check.raises("move them to one device with vimo_to_device", function() return md.enc:encode(ctxd, motion, B, nil) end)
ctxd:reset()
-- A device tensor has no host pointer: reading its values goes through a copy.
local w0 = tensors_of(md.proj)[1]
check.ok(#w0:totable() > 0, "totable copies device values back")

-- Back to the CPU: the trained weights equal the CPU run's, bit for bit.
move_model(md, "cpu")
local cpu_insts, dev_insts = {mc.enc, mc.proj, mc.llm}, {md.enc, md.proj, md.llm}
for k, inst in ipairs(dev_insts) do
  local want = cpu_insts[k]:params()
  for i, p in ipairs(inst:params()) do
    check.eq(p.tensor:device(), "cpu", "moved back")
    check.eq(p.name, want[i].name, "same parameter order")
    if p.name:find("lora_", 1, true) or inst ~= md.llm then
      check.all_near(p.tensor:totable(), want[i].tensor:totable(), 0, p.name)
    end
  end
end

-- The VQ path: nearest-code search and EMA codebook stay on the host; a
-- device forward copies z over and the codes back, with the CPU's result.
local vq = {}
for k, dev in ipairs{"cpu", DEV} do
  local e = vimo.plugin("encoder.motion_tcn", {out_dim = 16, width = 32, depth = 1, quantizer = true, codes = 8,
                                              seed = 31})
  e:train(true)
  for _, t in ipairs(tensors_of(e)) do t:move(dev) end
  local c = vimo.ctx()
  local x = vimo.to_device(c, motion, dev)
  local y = e:encode(c, x, B, nil)
  check.eq(y:device(), dev, "VQ tokens on the input's device")
  vq[k] = y:totable()
  c:close()
  e:close()
end
check.all_near(vq[2], vq[1], 0, "VQ tokens: hostdev equals cpu")

-- The video branch (encoder.video_cnn -> projector.linear): forward and
-- backward on hostdev equal the CPU's, gradients read back with t:grad().
local vout, vgrad = {}, {}
local frames = vimo.randn(vimo.rng(8), {B * 2, 3, 16, 16})
for k, dev in ipairs{"cpu", DEV} do
  local e = vimo.plugin("encoder.video_cnn", {channels = 4, stages = 2, out_dim = 8, seed = 41})
  local p = vimo.plugin("projector.linear", {in_dim = 8, out_dim = 8, seed = 42})
  for _, inst in ipairs{e, p} do
    for _, q in ipairs(inst:params()) do q.tensor:move(dev) end
  end
  local c = vimo.ctx()
  local y = p:project(c, e:encode(c, vimo.to_device(c, frames, dev), B, nil), nil)
  c:backward(vimo.sum(c, vimo.gelu(c, y)))
  vout[k] = y:totable()
  vgrad[k] = {}
  for _, inst in ipairs{e, p} do
    for _, q in ipairs(inst:params()) do
      local g = q.tensor:grad()
      check.ok(g, q.name .. " has a gradient on " .. dev)
      vgrad[k][#vgrad[k] + 1] = g
    end
  end
  c:close()
  e:close()
  p:close()
end
check.all_near(vout[2], vout[1], 0, "video tokens: hostdev equals cpu")
check.all_near(vgrad[2], vgrad[1], 0, "video gradients: hostdev equals cpu")

ctxd:close()
for _, m in ipairs{mc, md} do
  m.llm:close()
  m.enc:close()
  m.proj:close()
end
check.done("test_device_mllm")
