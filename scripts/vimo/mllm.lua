--[[
vimo/mllm.lua - the multimodal LLM of MotionLLM / ViMoNet, composed from
plugins: per modality an encoder and a projector into the LLM's embedding
space, and a decoder-only LLM that reads them (MotionLLM sec. 3.1).

  local mllm = require "vimo.mllm"
  local model = mllm.new(opt, {"motion", "video"}, seed)
  local loss, ntok = model:loss(ctx, examples, rng, true)   -- training
  local text = model:answer(ctx, clip, question)             -- greedy decode

The prompt is MotionLLM's Vicuna template with the projected tokens spliced
into the embedded sequence (no special tokens):
  [BOS] "USER:" <motion tokens> <video tokens> " <question> ASSISTANT:" " <answer>" [EOS]
and the loss covers the answer tokens and EOS only (ignore_index elsewhere).
An example is {clip = clip, question = text, answer = text}; the clip holds
`motion` (T, 263) and/or `video` (F, 3, S, S) tensors (vimo.data).

Stages: "align" trains encoders + projectors with the LLM frozen;
"instruct" adds LoRA adapters to the LLM (rank, alpha, targets q,v as
MotionLLM) and trains them with the projectors (and, since our encoders
start from scratch rather than pretrained, the encoders at a lower rate).
Not here: the data, the loop (vimo.trainer), the metrics (vimo.eval).
]]

local vimo = require "vimo"
local nn = require "vimo.nn"
local augment = require "vimo.augment"

local M = {}

M.IGNORE = -100

local function repo_file(rel)
  return (vimo.source_dir and (vimo.source_dir .. "/") or "") .. rel
end

M.options = {
  {name = "llm", default = "llm.llama", help = "LLM plugin id"},
  {name = "llm_model", default = "", help = "LLM weights ('' = the shipped llama2.c stories260K)"},
  {name = "llm_tokenizer", default = "", help = "tokenizer ('' = the shipped tok512.bin)"},
  {name = "motion_encoder", default = "encoder.motion_tcn", help = "motion encoder plugin id"},
  {name = "video_encoder", default = "encoder.video_cnn", help = "video encoder plugin id"},
  {name = "projector", default = "projector.mlp2x_gelu", help = "projector plugin id (both modalities)"},
  {name = "enc_dim", default = 128, help = "encoder token width"},
  {name = "motion_frames", default = 128, help = "motion window in frames (20 fps): crops and pads"},
  {name = "motion_pad", default = "edge", help = "how a clip shorter than motion_frames fills its window: edge "
     .. "(its last frame held) or loop (the clip played again from its start; vimo.window)",
   validator = function(v) return v == "edge" or v == "loop", "must be edge or loop" end},
  {name = "lora_rank", default = 16, help = "LoRA rank (MotionLLM: 64 on a 7B model)"},
  {name = "lora_alpha", default = 16.0, help = "LoRA alpha (scale alpha / rank)"},
  {name = "lora_dropout", default = 0.05, help = "dropout on the LoRA input"},
  {name = "lora_targets", default = "q,k,v,o,gate,up,down",
   help = "projections that get adapters (MotionLLM: q,v on a 7B model; a 260K-parameter LLM needs all)"},
  {name = "proj_norm", default = -1.0, help = "projector out_norm: RMS of each modality token (-1: the RMS of "
     .. "the LLM's token embeddings, 0: off)"},
  {name = "device", default = "cpu", help = "where the model trains: cpu, or a backend such as cuda "
     .. "(docs/cuda.md; built with -DVIMO_CUDA=ON)"},
  {name = "pooled_token", default = true, help = "append the mean of each modality's encoder tokens as one "
     .. "more token (the global embedding stage 0 trains; a CLS-like summary the LLM reads in one place)"},
  {name = "attribute_tokens", default = "style,action", help = "QA categories (comma-separated, e.g. style,action) that "
     .. "get one more token per modality: a linear head on the mean encoder token, trained in stage 0 against "
     .. "that category's answers (contrast_qa), frozen or trained with its encoder afterwards"},
  {name = "stats_token", default = "action", help = "motion: one more token, a linear map of the window's per-feature "
     .. "mean and mean square over time (statistics pooling, as x-vectors pool frames), trained in stage 0 "
     .. "against the captions ('caption') or one QA category's answers (e.g. 'action'); '' = off"},
  {name = "stats_frames", default = "window", help = "stats_token: the frames the moments pool over: the whole "
     .. "window (a short clip's padding included) or only the clip's own frames in it ('clip')",
   validator = function(v) return v == "window" or v == "clip", "must be window or clip" end},
  {name = "proj_wd", default = 0.01, help = "AdamW weight decay of encoders and projectors"},
  {name = "varlen", default = true, help = "stages 1-2: the LLM computes each sequence's real positions only, "
     .. "and its output head only at the answer tokens (forward_varlen; LoRA dropout then draws other masks); "
     .. "false: padded batches, as every run before the sixteenth session"},
  {name = "max_answer", default = 24, help = "longest generated answer in tokens"},
  {name = "answer_end", default = "auto", help = "token that ends an answer: eos, bos, or auto (bos for "
     .. "llama2.c tokenizers, whose models end a text with BOS and never saw EOS; else eos)",
   validator = function(v) return v == "auto" or v == "eos" or v == "bos", "must be auto, eos or bos" end},
}

local Model = {}
Model.__index = Model

local CAPTION_PROMPTS = {
  "Describe the motion.",
  "What is happening in this clip?",
  "Explain what the person does.",
}
M.CAPTION_PROMPT = CAPTION_PROMPTS[1]
M.CAPTION_PROMPTS = CAPTION_PROMPTS

--- A trained run folder's model: rebuilt from DIR/config.json (plugins and
-- options), LoRA adapters added when DIR/model.ckpt has them, parameters
-- restored. Returns the model, the run's options and the open checkpoint
-- (the caller closes it; it also holds data.motion_mean / motion_std), or
-- nil and a message naming the file.
function M.load_run(dir)
  local f, err = io.open(dir .. "/config.json", "rb")
  if not f then return nil, dir .. " is not a run folder (no config.json): " .. err end
  local ok, opt = pcall(vimo.json_decode, f:read("a"))
  f:close()
  if not ok or type(opt) ~= "table" then return nil, dir .. "/config.json: " .. tostring(opt) end
  local ck, cerr = vimo.load_checkpoint(dir .. "/model.ckpt")
  if not ck then return nil, cerr end
  local mods = {}
  for m in tostring(opt.modalities):gmatch("[^,%s]+") do mods[#mods + 1] = m end
  local model = M.new(opt, mods, opt.seed)
  for _, t in ipairs(ck:tensors()) do
    if t.name:find("lora_", 1, true) then
      model:add_lora(opt.seed + 77)
      break
    end
  end
  local rok, rerr = pcall(ck.restore, ck, {params = model:all_params()})
  if not rok then
    ck:close()
    model:close()
    return nil, dir .. "/model.ckpt: " .. tostring(rerr)
  end
  return model, opt, ck
end

--- Builds the model for the given modalities ({"motion"}, {"video"} or both).
function M.new(opt, modalities, seed)
  -- The caches live on the model, so views of it (experiment.lua's
  -- restricted) fill the same ones.
  local self = setmetatable({opt = opt, modalities = modalities, enc = {}, proj = {}, attr = {}, video_cache = {},
                             motion_cache = {}}, Model)
  local model = opt.llm_model ~= "" and opt.llm_model or repo_file("llm/llama/weights/stories260K.bin")
  local tokp = opt.llm_tokenizer ~= "" and opt.llm_tokenizer or repo_file("llm/llama/weights/tok512.bin")
  self.llm = vimo.plugin(opt.llm, {model = model, tokenizer = tokp})
  self.llm:freeze()
  self.tok = assert(self.llm:tokenizer(), "mllm: the LLM has no tokenizer")
  self.dim = self.llm:dim()
  local pnorm = opt.proj_norm or 0
  if pnorm < 0 then pnorm = self:embedding_rms() end
  for k, m in ipairs(modalities) do
    local id = m == "motion" and opt.motion_encoder or opt.video_encoder
    local eopts = {out_dim = opt.enc_dim, seed = seed + 10 * k}
    self.enc[m] = vimo.plugin(id, eopts)
    if self.enc[m]:modality() ~= m then
      error(("mllm: %s encodes %s, not %s"):format(id, self.enc[m]:modality(), m), 2)
    end
    local popts = {in_dim = self.enc[m]:out_dim(), out_dim = self.dim, seed = seed + 10 * k + 1}
    if pnorm > 0 then popts.out_norm = pnorm end
    self.proj[m] = vimo.plugin(opt.projector, popts)
    self.attr[m] = self:attribute_heads(m, seed + 10 * k + 2)
  end
  if self.enc.motion and (opt.stats_token or "") ~= "" then
    local F = self.enc.motion:options().in_dim or 263
    self.stats_head = nn.linear{inp = 2 * F, out = self.enc.motion:out_dim(), rng = vimo.rng(seed + 7),
                                name = "motion_stats"}
  end
  self.device = opt.device or "cpu"
  if self.device ~= "cpu" then self:move_to(self.device) end
  self.prefix = self.tok:encode("USER:", {bos = true})
  local want_end = opt.answer_end or "auto"
  if want_end == "auto" then want_end = self.tok:kind() == "llama2c" and "bos" or "eos" end
  self.answer_end = want_end == "bos" and self.tok:bos() or self.tok:eos()
  self.lora = false
  self.varlen = opt.varlen ~= false and self.llm:has_varlen()
  return self
end

-- The attribute heads of modality m: a list of {cat =, head = nn.linear
-- (E -> E)}, one per category of opt.attribute_tokens.
function Model:attribute_heads(m, seed)
  local E, rng, out = self.enc[m]:out_dim(), vimo.rng(seed), {}
  for cat in tostring(self.opt.attribute_tokens or ""):gmatch("[^,%s]+") do
    out[#out + 1] = {cat = cat, head = nn.linear{inp = E, out = E, rng = rng, name = m .. "_attr." .. cat}}
  end
  return out
end

--- The attribute head of modality m for QA category cat, or nil.
function Model:attribute_head(m, cat)
  for _, a in ipairs(self.attr[m] or {}) do
    if a.cat == cat then return a.head end
  end
  return nil
end

-- Parameters of modality m's attribute heads (and the motion statistics
-- head, trained and frozen with them), as a module.
function Model:attribute_module(m)
  local params = {}
  for _, a in ipairs(self.attr[m] or {}) do
    for _, p in ipairs(a.head.params) do params[#params + 1] = p end
  end
  if m == "motion" and self.stats_head then
    for _, p in ipairs(self.stats_head.params) do params[#params + 1] = p end
  end
  return {params = params, train = function() end}
end

--- Moves every parameter of the LLM, encoders, projectors, attribute and statistics heads to device
-- (in place; LoRA adapters added later follow their base weights). Call
-- before the optimiser's groups are made. Raises an error naming the
-- device when it can not be used (no backend plugin, no GPU).
function Model:move_to(device)
  local ok, why = vimo.device(device)
  if not ok then error(("mllm: device '%s': %s"):format(device, tostring(why)), 0) end
  local insts = {self.llm}
  for _, m in ipairs(self.modalities) do insts[#insts + 1] = self.enc[m]; insts[#insts + 1] = self.proj[m] end
  for _, inst in ipairs(insts) do
    for _, p in ipairs(inst:params()) do p.tensor:move(device) end
  end
  for _, m in ipairs(self.modalities) do
    for _, p in ipairs(self:attribute_module(m).params) do p.tensor:move(device) end
  end
end

-- x (a host tensor made for a batch) on the model's device.
function Model:on_device(ctx, x)
  if self.device == "cpu" then return x end
  return vimo.to_device(ctx, x, self.device)
end

--- Mean RMS of the LLM's token embedding rows: the scale text tokens enter
-- the decoder with, which projected modality tokens are normalised to.
function Model:embedding_rms()
  for _, p in ipairs(self.llm:params()) do
    if p.name == "model.embed_tokens.weight" then
      local rows, sum = p.tensor:totable(), 0.0
      for _, row in ipairs(rows) do
        local s = 0.0
        for _, v in ipairs(row) do s = s + v * v end
        sum = sum + math.sqrt(s / #row)
      end
      return sum / #rows
    end
  end
  return 1.0
end

--- Adds the LoRA adapters (once; seeded, so a resume rebuilds them identically).
function Model:add_lora(seed)
  if self.lora then return end
  local o = self.opt
  self.llm:lora_add{rank = o.lora_rank, alpha = o.lora_alpha, dropout = o.lora_dropout,
                    targets = o.lora_targets, seed = seed}
  self.lora = true
end

local function lora_params(inst, prefix)
  local out = {}
  for _, p in ipairs(inst:params()) do
    if p.name:find("lora_", 1, true) then out[#out + 1] = {name = prefix .. "." .. p.name, tensor = p.tensor} end
  end
  return out
end

--- Parameter groups of a stage: {{params =, lr =}, ...} and the flat list.
-- Encoders train at lr (align) or lr * enc_lr_scale (instruct; 0 = frozen);
-- the modalities in frozen_encoders (a set) stay frozen in both stages, as
-- MotionLLM keeps its pretrained encoders (train them in stage 0 first).
function Model:groups(stage, lr, enc_lr_scale, frozen_encoders)
  local enc, proj = {}, {}
  local escale = stage == "align" and 1.0 or enc_lr_scale
  self.frozen = {}
  for _, m in ipairs(self.modalities) do
    self.proj[m]:unfreeze()
    proj[#proj + 1] = nn.plugin_module(self.proj[m], m .. "_projector")
    local attr = self:attribute_module(m)
    local train_enc = escale > 0 and not (frozen_encoders or {})[m]
    for _, p in ipairs(attr.params) do p.tensor:requires_grad(train_enc) end
    if train_enc then
      self.enc[m]:unfreeze()
      enc[#enc + 1] = nn.plugin_module(self.enc[m], m .. "_encoder")
      if #attr.params > 0 then enc[#enc + 1] = attr end
    else
      self.enc[m]:freeze()
      self.frozen[m] = true
    end
  end
  local wd = self.opt.proj_wd or 0
  local groups = {{params = nn.params_of(table.unpack(proj)), lr = lr, wd = wd}}
  if #enc > 0 then groups[#groups + 1] = {params = nn.params_of(table.unpack(enc)), lr = lr * escale, wd = wd} end
  if stage == "instruct" then
    groups[#groups + 1] = {params = lora_params(self.llm, "llm"), lr = lr}
  end
  local all = {}
  for _, g in ipairs(groups) do
    for _, p in ipairs(g.params) do all[#all + 1] = p end
  end
  return groups, all
end

function Model:train(on)
  self.llm:train(on)
  for _, m in ipairs(self.modalities) do
    self.enc[m]:train(on)
    self.proj[m]:train(on)
  end
end

-- Start frame of the motion window: random when training, centred otherwise.
local function window_start(T, L, rng, train)
  if T <= L then return 0 end
  if train then return rng:below(T - L + 1) end
  return (T - L) // 2
end

-- Video tokens (N, E) of a clip from a frozen encoder, computed once: the
-- frames are fixed (no augmentation), so every later epoch reuses them
-- (the encoder's forward and backward were most of a video step).
function Model:cached_video(clip)
  local t = self.video_cache[clip.id]
  if not t then
    local c = vimo.ctx()
    c:grad(false)
    local y = self.enc.video:encode(c, self:on_device(c, clip.video), 1, nil)
    local sh = y:shape()
    t = vimo.reshape(c, y, {sh[2], sh[3]}):clone()
    c:close()
    self.video_cache[clip.id] = t
  end
  return t
end

-- (B, N, E) tokens of modality m -> (B, N + 1 + A (+ 1), E): their mean
-- over N (pooled_token), the A attribute heads of the mean and, for motion
-- with stats_token, the statistics head of the window's moments (B, 2F;
-- encode_modality makes them only then);
-- each head's output scaled to unit RMS as stage 0 trained it, appended.
function Model:with_summary(ctx, m, tok, moments)
  if not self.opt.pooled_token and #self.attr[m] == 0 and not moments then return tok end
  local sh = tok:shape()
  local pooled = vimo.mean(ctx, tok, 1) -- (B, E)
  local parts = {tok}
  local function add(z) parts[#parts + 1] = vimo.reshape(ctx, z, {sh[1], 1, sh[3]}) end
  if self.opt.pooled_token then add(pooled) end
  for _, a in ipairs(self.attr[m]) do add(nn.unit_rms(ctx, a.head.forward(ctx, pooled), self.device)) end
  if moments then add(self:stats_embedding(ctx, moments)) end
  return vimo.concat(ctx, parts, 1)
end

--- Per-feature first and second moments over time of motion windows
-- x (B, L, F): (B, 2F) = [mean_t x, mean_t x^2] (normalised feature units).
-- Second-order statistics pooling (Snyder et al., "X-vectors", ICASSP 2018,
-- pool mean and spread); the mean square rather than the standard deviation,
-- as the ops have no square root and a linear map of either probes alike.
-- A clip shorter than L fills its window by motion_pad (vimo.window): with
-- "edge" its last frame is held, which weights the moments toward the final
-- pose; with "loop" they are close to the clip's own.
-- lens (B integers, optional): the clip's own frames at the start of each
-- window; with stats_frames = "clip", row i pools over its first lens[i]
-- frames only, so padding does not weigh in (x-vectors pool over the
-- utterance's frames, not its padding).
function Model:moments(ctx, x, lens)
  if not (lens and self.opt.stats_frames == "clip") then
    return vimo.concat(ctx, {vimo.mean(ctx, x, 1), vimo.mean(ctx, vimo.mul(ctx, x, x), 1)}, 1)
  end
  local sh = x:shape()
  local L, F, rows = sh[2], sh[3], {}
  for i = 1, sh[1] do
    local n = math.max(1, math.min(lens[i], L))
    local xi = vimo.slice(ctx, vimo.reshape(ctx, vimo.slice(ctx, x, 0, i - 1, i), {L, F}), 0, 0, n) -- (n, F)
    rows[i] = vimo.concat(ctx, {vimo.mean(ctx, xi, 0), vimo.mean(ctx, vimo.mul(ctx, xi, xi), 0)}, 0)
  end
  return vimo.stack(ctx, rows)
end

-- Frames of a clip of T frames inside the L-frame window from start.
local function own_frames(T, start, L) return math.min(L, T - start) end

--- The statistics token (B, E) of moments (B, 2F): linear, unit RMS.
function Model:stats_embedding(ctx, moments)
  return nn.unit_rms(ctx, self.stats_head.forward(ctx, moments), self.device)
end

-- Tokens (N, E) and window moments (2F, or nil) of motion windows from a
-- frozen encoder, computed once per clip and start frame where that window
-- is the only one the clip can give in this mode: a clip no longer than the
-- window (start 0, padded) or any clip at evaluation (centred). Random
-- training windows of longer clips are encoded every time. A frozen
-- encoder is a fixed feature extractor: it runs without an rng (no dropout,
-- for an encoder that has any, e.g. motion_transformer), as for cached video,
-- on every window. It is per-window, so a window's tokens do not depend on
-- the rest of its batch.
function Model:cached_motion(ctx, clips, starts, train)
  local L, cache = self.opt.motion_frames, self.motion_cache
  local keys, todo = {}, {}
  for i, c in ipairs(clips) do
    local fixed = c.motion:shape()[1] <= L or not train
    keys[i] = fixed and (c.id .. "@" .. starts[i]) or false
    if not (keys[i] and cache[keys[i]]) then todo[#todo + 1] = i end
  end
  local fresh = {}
  if #todo > 0 then
    local c = vimo.ctx()
    c:grad(false)
    local wins, lens = {}, {}
    for j, i in ipairs(todo) do
      wins[j] = vimo.window(c, clips[i].motion, starts[i], L, self.opt.motion_pad)
      lens[j] = own_frames(clips[i].motion:shape()[1], starts[i], L)
    end
    local x = self:on_device(c, vimo.stack(c, wins))
    local y = self.enc.motion:encode(c, x, #todo, nil)
    local mom = self.stats_head and self:moments(c, x, lens) or nil
    local sh = y:shape()
    for j, i in ipairs(todo) do
      local e = {tokens = vimo.reshape(c, vimo.slice(c, y, 0, j - 1, j), {sh[2], sh[3]}):clone(),
                 moments = mom and vimo.reshape(c, vimo.slice(c, mom, 0, j - 1, j), {mom:shape()[2]}):clone()}
      if keys[i] then cache[keys[i]] = e end
      fresh[i] = e
    end
    c:close()
  end
  local tok, mom = {}, {}
  for i = 1, #clips do
    local e = fresh[i] or cache[keys[i]]
    tok[i], mom[i] = e.tokens, e.moments
  end
  return vimo.stack(ctx, tok), self.stats_head and vimo.stack(ctx, mom) or nil
end

-- Encoder tokens (B, N, E) of one modality, and for motion with
-- stats_token the window moments (B, 2F) (Model:moments).
function Model:encode_modality(ctx, m, clips, rng, train)
  local B = #clips
  if m == "video" and self.frozen and self.frozen.video then
    local v = {}
    for i, c in ipairs(clips) do v[i] = self:cached_video(c) end
    return vimo.stack(ctx, v)
  end
  if m == "motion" and self.frozen and self.frozen.motion and not (train and self.augment) then
    local starts, L = {}, self.opt.motion_frames
    for i, c in ipairs(clips) do starts[i] = window_start(c.motion:shape()[1], L, rng, train) end
    return self:cached_motion(ctx, clips, starts, train)
  end
  local x, lens
  if m == "motion" then
    local L, wins = self.opt.motion_frames, {}
    lens = {}
    for i, c in ipairs(clips) do
      if train and self.augment then -- stage 0 only (vimo.augment)
        wins[i], lens[i] = self.augment:window(ctx, c.motion, L, rng)
      else
        local T = c.motion:shape()[1]
        local start = window_start(T, L, rng, train)
        wins[i], lens[i] = vimo.window(ctx, c.motion, start, L, self.opt.motion_pad), own_frames(T, start, L)
      end
    end
    x = vimo.stack(ctx, wins)
  else
    local v = {}
    for i, c in ipairs(clips) do v[i] = c.video end
    x = vimo.cat_rows(ctx, v) -- (B F, 3, S, S): tensors stop at 4 dims
  end
  x = self:on_device(ctx, x)
  local moments = m == "motion" and self.stats_head and self:moments(ctx, x, lens) or nil
  return self.enc[m]:encode(ctx, x, B, rng), moments
end

--- Encoder tokens of the clips per modality: {motion = (B, N, E), ...}
-- (plus 1 with pooled_token, one per attribute token, one with stats_token).
-- raw = true: the encoders' tokens alone (what stage 0 pools). Second
-- result: the window moments per modality that has a statistics head.
function Model:encoder_tokens(ctx, clips, rng, train, raw)
  local out, moments = {}, {}
  for _, m in ipairs(self.modalities) do
    out[m], moments[m] = self:encode_modality(ctx, m, clips, rng, train)
    if not raw then out[m] = self:with_summary(ctx, m, out[m], moments[m]) end
  end
  return out, moments
end

--- Projected modality tokens of the clips, in modality order: list of (B, N, D).
function Model:modality_tokens(ctx, clips, rng, train)
  local tokens, blocks = self:encoder_tokens(ctx, clips, rng, train), {}
  for _, m in ipairs(self.modalities) do
    blocks[#blocks + 1] = self.proj[m]:project(ctx, tokens[m], rng)
  end
  return blocks
end

--- Mean cross-entropy over the answer tokens of the examples, and the
-- number of tokens in the batch (for tokens/s).
function Model:loss(ctx, examples, rng, train)
  local B = #examples
  local clips, rests, mids = {}, {}, {}
  local L = 0
  for i, ex in ipairs(examples) do
    clips[i] = ex.clip
    local mid = self.tok:encode(" " .. ex.question .. " ASSISTANT:")
    local ans = self.tok:encode(" " .. ex.answer)
    local r = table.move(mid, 1, #mid, 1, {})
    table.move(ans, 1, #ans, #r + 1, r)
    r[#r + 1] = self.answer_end
    rests[i], mids[i] = r, #mid
    if #r > L then L = #r end
  end
  local blocks = self:modality_tokens(ctx, clips, rng, train)
  local n_mod = 0
  for _, b in ipairs(blocks) do n_mod = n_mod + b:shape()[2] end
  local P = #self.prefix
  local pre_ids, rest_ids, targets = {}, {}, {}
  local T = P + n_mod + L
  -- Packed (varlen): each row's real length, and the answer positions as
  -- 0-based flat rows with their tokens; padded: a target per position.
  local lens, rows, tg, ntok = {}, {}, {}, 0
  for i = 1, B do
    pre_ids[i] = self.prefix
    local row, r = {}, rests[i]
    for j = 1, L do row[j] = r[j] or 0 end
    rest_ids[i] = row
    -- Position t predicts token t+1: only answer tokens and EOS count.
    local off = (i - 1) * T
    if self.varlen then
      lens[i] = P + n_mod + #r - 1 -- the last token is a target only, never an input
      ntok = ntok + lens[i]
      for j = mids[i] + 1, #r do rows[#rows + 1], tg[#tg + 1] = off + P + n_mod + j - 2, r[j] end
    else
      for t = 1, T do targets[off + t] = M.IGNORE end
      for j = mids[i] + 1, #r do targets[off + P + n_mod + j - 1] = r[j] end
    end
  end
  local parts = {self.llm:embed(ctx, pre_ids)}
  for _, b in ipairs(blocks) do parts[#parts + 1] = b end
  parts[#parts + 1] = self.llm:embed(ctx, rest_ids)
  local x = vimo.concat(ctx, parts, 1)
  if self.varlen then
    -- Only real positions, and the head only at the targets: the padding
    -- after a row's last answer token can change nothing before it (causal).
    local logits = self.llm:forward_varlen(ctx, x, lens, rows, rng)
    return vimo.cross_entropy(ctx, logits, tg, M.IGNORE), ntok
  end
  local logits = self.llm:forward(ctx, x, nil, rng)
  return vimo.cross_entropy(ctx, logits, targets, M.IGNORE), B * T
end

--- Greedy answer to a question about one clip (no autograd).
function Model:answer(ctx, clip, question, max_new)
  local prev = ctx:grad(false)
  local blocks = self:modality_tokens(ctx, {clip}, nil, false)
  local parts = {self.llm:embed(ctx, {self.prefix})}
  for _, b in ipairs(blocks) do parts[#parts + 1] = b end
  local pre = vimo.concat(ctx, parts, 1)
  local sh = pre:shape()
  local prefix = vimo.reshape(ctx, pre, {sh[2], sh[3]})
  if self.device ~= "cpu" then prefix = vimo.to_device(ctx, prefix, "cpu") end -- the KV-cache engine is host code
  local ids = self.llm:generate{prompt = self.tok:encode(" " .. question .. " ASSISTANT:"), prefix = prefix,
                                temperature = 0, max_new_tokens = max_new or self.opt.max_answer,
                                stop_at_eos = true}
  ctx:grad(prev)
  local text = self.tok:decode(ids, {skip_special = true})
  return (text:gsub("^%s+", ""):gsub("%s+$", ""))
end

--- Why a model reading these modalities cannot use a mirrored clip (what:
-- the option or function asking), or nil: the rendered videos are not
-- mirrored, so only a motion-only model can.
function M.mirror_refusal(modalities, what)
  for _, m in ipairs(modalities) do
    if m ~= "motion" then return ("%s needs a motion-only model; this one reads %s"):format(what, m) end
  end
end

--- Log-probability (natural log, summed over its tokens and the end token)
-- of answer to question about clip: the teacher-forced loss of Model:loss
-- times its number of targets (no autograd, no dropout).
function Model:answer_logprob(ctx, clip, question, answer)
  local prev = ctx:grad(false)
  local ce = self:loss(ctx, {{clip = clip, question = question, answer = answer}}, nil, false)
  local n = #self.tok:encode(" " .. answer) + 1
  local lp = -ce:item() * n
  ctx:grad(prev)
  return lp
end

--- Greedy answer with left/right mirror test-time augmentation (flip
-- averaging, as image and skeleton action recognition test with the
-- horizontally flipped input too): the clip's motion is also mirrored
-- (vimo.augment.mirror_clip; mean, std: its normalisation) and asked the
-- question with left and right swapped. When the two answers (the mirrored
-- one swapped back) differ, the one with the higher summed log-probability
-- over both views wins (a product of the two views' likelihoods; the plain
-- one on a tie). Motion-only models: the rendered video is not mirrored, so
-- a model that reads video raises an error.
function Model:answer_mirror(ctx, clip, question, max_new, mean, std)
  local bad = M.mirror_refusal(self.modalities, "answer_mirror")
  if bad then error("mllm: " .. bad, 2) end
  local a0 = self:answer(ctx, clip, question, max_new)
  local mc, mq = augment.mirror_clip(clip, mean, std), augment.mirror_text(question)
  local a1 = augment.mirror_text(self:answer(ctx, mc, mq, max_new))
  if a1 == a0 then return a0 end
  local function score(a)
    if a == "" then return -math.huge end
    return self:answer_logprob(ctx, clip, question, a) + self:answer_logprob(ctx, mc, mq, augment.mirror_text(a))
  end
  return score(a1) > score(a0) and a1 or a0
end

--- Every trained parameter (for checkpoints and describe): encoders,
-- projectors, attribute and statistics heads and, after add_lora, the adapters.
function Model:all_params()
  local mods = {}
  for _, m in ipairs(self.modalities) do
    mods[#mods + 1] = nn.plugin_module(self.enc[m], m .. "_encoder")
    mods[#mods + 1] = nn.plugin_module(self.proj[m], m .. "_projector")
    mods[#mods + 1] = self:attribute_module(m)
  end
  local all = nn.params_of(table.unpack(mods))
  if self.lora then
    for _, p in ipairs(lora_params(self.llm, "llm")) do all[#all + 1] = p end
  end
  return all
end

function Model:close()
  for _, m in ipairs(self.modalities) do
    self.enc[m]:close()
    self.proj[m]:close()
  end
  self.llm:close()
end

return M
