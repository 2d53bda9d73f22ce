--[[
vimo/contrastive.lua - stage 0 of the main job: modality-text contrastive
pretraining of the encoders, so that they start the MLLM stages with
features that already tell actions and styles apart.

  local contrastive = require "vimo.contrastive"
  local head = contrastive.new{modalities = {"motion"}, enc_dims = {motion = 128},
                               tokenizer = tok, dim = 128, temp = 0.07, rng = r}
  local loss, n, acc = head:loss(ctx, model_tokens, captions)

Why: MotionLLM's encoders come pretrained (the T2M-GPT VQ-VAE for motion,
LanguageBind's video encoder, itself trained contrastively against text);
ours start from scratch, and the only signal the MLLM stages give them comes
back through a frozen 260K-parameter LLM, too weak to learn actions and
styles in the time we have (docs/experiments.md). This stage gives them the
signal LanguageBind and TMR (Petrovich et al., ICCV 2023) use: CLIP's
symmetric InfoNCE (Radford et al. 2021, sec. 2.3) between a clip's pooled
encoder tokens and one of its captions, against the other clips of the batch.

Shapes: encoder tokens (B, N, E) -> mean over N -> linear (E -> dim) ->
unit length; caption -> tokens of the LLM's tokenizer -> mean of a learned
token embedding (vocab, dim) (a bag of words: the captions are short
template phrases) -> linear -> unit length; logits = cos / temp, (B, B);
loss = (CE(rows) + CE(columns)) / 2 with the diagonal as targets.
With two modalities the losses of both against the same caption are summed.
The heads and the text embedding are dropped after the stage.
False negatives: two takes of one label (same content and style) have
captions from the same phrase tables, so treating each other as negatives
pushes apart exactly the clips that should look alike. As TMR (sec. 3.3)
filters negatives whose captions are near-identical, Head:loss given
`groups` (a label key per clip) removes same-group pairs from the softmax
(logit - 1e4 off the diagonal), both ways.

Attribute views: a caption names action and style together, and matching
it within a batch is mostly telling takes apart (the sibling take of the
same label is the nearest clip), which leaves style entangled with content.
With `extra` views, each clip is also contrasted with one of its QA answers
("What is the style of this motion? elderly"), the clips sharing that answer
filtered from the negatives: the pooled embedding must then separate the
answers of each category, style included, across contents. One shared head
for captions, styles and actions makes them compete for one embedding
(style 1-NN fell from 80 to 66 %); a view with its own head (the model's
attribute head of that category) only asks the encoder to make the
attribute linearly readable, and the head's output is the token the LLM
reads for it.
]]

local vimo = require "vimo"
local nn = require "vimo.nn"

local M = {}

local Head = {}
Head.__index = Head

--- o = {modalities =, enc_dims = {m = E}, tokenizer =, dim =, temp =, rng =,
--       device = "cpu" (or the model's device)}
function M.new(o)
  local self = setmetatable({modalities = o.modalities, tok = o.tokenizer, dim = o.dim, temp = o.temp,
                             heads = {}, params = {}}, Head)
  local V = o.tokenizer:vocab_size()
  self.embed = vimo.randn(o.rng, {V, o.dim}, 0.02):requires_grad(true)
  self.params[1] = {name = "contrast.text_embed", tensor = self.embed}
  self.text = nn.linear{inp = o.dim, out = o.dim, rng = o.rng, name = "contrast.text_proj"}
  for _, p in ipairs(self.text.params) do self.params[#self.params + 1] = p end
  for _, m in ipairs(o.modalities) do
    local h = nn.linear{inp = o.enc_dims[m], out = o.dim, rng = o.rng, name = "contrast." .. m .. "_proj"}
    self.heads[m] = h
    for _, p in ipairs(h.params) do self.params[#self.params + 1] = p end
  end
  self.device = o.device or "cpu"
  if self.device ~= "cpu" then
    for _, p in ipairs(self.params) do p.tensor:move(self.device) end
  end
  return self
end

-- A host tensor made for a step, on the head's device.
function Head:on_device(ctx, x)
  return self.device == "cpu" and x or vimo.to_device(ctx, x, self.device)
end

-- (B, dim) rows scaled to length sqrt(dim).
function Head:normed(ctx, x)
  return nn.unit_rms(ctx, x, self.device)
end

--- Text embeddings (B, dim) of the captions: mean of the token embeddings.
function Head:encode_text(ctx, captions)
  local ids, L = {}, 1
  for i, text in ipairs(captions) do
    ids[i] = self.tok:encode(" " .. text)
    L = math.max(L, #ids[i])
  end
  -- Padded ids and averaging weights w (B, 1, L): 1 / length on real tokens.
  local padded, w = {}, {}
  for i, row in ipairs(ids) do
    local p, wr = {}, {}
    for j = 1, L do
      p[j] = row[j] or 0
      wr[j] = row[j] and 1.0 / #row or 0.0
    end
    padded[i], w[i] = p, {wr}
  end
  local e = vimo.embedding(ctx, self.embed, padded)                 -- (B, L, dim)
  local mean = vimo.bmm(ctx, self:on_device(ctx, vimo.tensor(w)), vimo.transpose(ctx, e, 1, 2)) -- (B, 1, dim)
  local B = #captions
  return self:normed(ctx, self.text.forward(ctx, vimo.reshape(ctx, mean, {B, self.dim})))
end

-- (B, B) additive mask: -1e4 where i ~= j share a group, else 0; nil if
-- no pair does.
local function false_negative_mask(groups)
  if not groups then return nil end
  local rows, any = {}, false
  for i, gi in ipairs(groups) do
    local r = {}
    for j, gj in ipairs(groups) do
      local same = i ~= j and gi == gj
      r[j] = same and -1e4 or 0.0
      any = any or same
    end
    rows[i] = r
  end
  return any and vimo.tensor(rows) or nil
end
M.false_negative_mask = false_negative_mask

-- Symmetric InfoNCE of a (B, dim) against b (B, dim), both of length sqrt(dim);
-- returns the loss and the number of rows whose best match is their own.
-- groups (optional): a label key per row; same-group pairs are not negatives.
function Head:info_nce(ctx, a, b, groups)
  local B = a:shape()[1]
  local logits = vimo.scale(ctx, vimo.matmul(ctx, a, b), 1.0 / (self.dim * self.temp)) -- cos / temp
  local mask = false_negative_mask(groups)
  if mask then logits = vimo.add(ctx, logits, self:on_device(ctx, mask)) end
  local diag = {}
  for i = 1, B do diag[i] = i - 1 end
  local l_rows = vimo.cross_entropy(ctx, logits, diag)
  local l_cols = vimo.cross_entropy(ctx, vimo.transpose(ctx, logits, 0, 1), diag)
  local hits, rows = 0, logits:totable()
  for i, r in ipairs(rows) do
    local best = 1
    for j = 2, #r do if r[j] > r[best] then best = j end end
    if best == i then hits = hits + 1 end
  end
  return vimo.scale(ctx, vimo.add(ctx, l_rows, l_cols), 0.5), hits
end

--- Loss over the modalities: tokens = {m = (B, N, E)} from the encoders,
-- captions = B strings, groups = nil or B label keys (see info_nce).
-- extra (optional): more text views of the same clips, each
-- {texts = B strings, keys = B keys, heads = nil or {m = linear (E -> dim)}},
-- e.g. one QA answer per clip keyed by the answer, so clips with the same
-- answer are not negatives; each adds its own InfoNCE against the pooled
-- clip embedding, through the view's own head where it has one (the
-- model's attribute heads, vimo.mllm) or else the caption head; a view
-- with z = {m = (B, dim) of length sqrt(dim)} contrasts that clip
-- embedding instead (the model's statistics token).
-- Returns the loss, B, and the top-1 match rate of the captions.
function Head:loss(ctx, tokens, captions, groups, extra)
  local t = self:encode_text(ctx, captions)
  local others = {}
  for k, v in ipairs(extra or {}) do others[k] = self:encode_text(ctx, v.texts) end
  local total, hits, n = nil, 0, 0
  local function add(l) total = total and vimo.add(ctx, total, l) or l end
  for _, m in ipairs(self.modalities) do
    local pooled = vimo.mean(ctx, tokens[m], 1)            -- (B, E)
    local z = self:normed(ctx, self.heads[m].forward(ctx, pooled))
    local l, h = self:info_nce(ctx, z, t, groups)
    add(l)
    for k, v in ipairs(extra or {}) do
      local head = v.heads and v.heads[m]
      local zv = (v.z and v.z[m]) or (head and self:normed(ctx, head.forward(ctx, pooled))) or z
      add((self:info_nce(ctx, zv, others[k], v.keys)))
    end
    hits, n = hits + h, n + #captions
  end
  return total, #captions, hits / n
end

return M
