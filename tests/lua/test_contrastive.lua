--[[
tests/lua/test_contrastive.lua - stage 0 of the main job (vimo.contrastive):
the symmetric InfoNCE and the bag-of-words caption encoder, each against the
definition computed here in plain Lua arithmetic (CLIP, Radford et al. 2021,
sec. 2.3: cross-entropy over rows and over columns of cos / temp, averaged),
and a few steps of training that must pull matching pairs together.
]]

local vimo = require "vimo"
local check = require "check"
local contrastive = require "vimo.contrastive"

local tok = vimo.tokenizer(assert(vimo.args.tok, "tok=tok512.bin"))
local T = vimo.tensor

-- Reference: mean over i of -log softmax_j(l[i][j])[i], for rows and columns.
local function ce_diag(l, by_col)
  local n, s = #l, 0.0
  for i = 1, n do
    local mx, z = -math.huge, 0.0
    for j = 1, n do mx = math.max(mx, by_col and l[j][i] or l[i][j]) end
    for j = 1, n do z = z + math.exp((by_col and l[j][i] or l[i][j]) - mx) end
    s = s + (mx + math.log(z) - l[i][i])
  end
  return s / n
end

local dim, temp = 4, 0.5
local head = contrastive.new{modalities = {"motion"}, enc_dims = {motion = 3}, tokenizer = tok, dim = dim,
                             temp = temp, rng = vimo.rng(5)}
local ctx = vimo.ctx()

-- info_nce on rows already of length sqrt(dim) = 2: cos = a.b / 4.
local a = {{2, 0, 0, 0}, {0, 2, 0, 0}, {1, 1, 1, 1}}
local b = {{0, 2, 0, 0}, {2, 0, 0, 0}, {1, 1, 1, 1}}
local logits = {}
for i = 1, 3 do
  logits[i] = {}
  for j = 1, 3 do
    local d = 0
    for k = 1, dim do d = d + a[i][k] * b[j][k] end
    logits[i][j] = d / dim / temp
  end
end
local want = 0.5 * (ce_diag(logits) + ce_diag(logits, true))
local l, hits = head:info_nce(ctx, T(a), T(b))
check.near(l:item(), want, 1e-5, "symmetric InfoNCE")
-- best column per row: 2, 1, 3 (a3.b3 = 4 > a3.b1 = a3.b2 = 2): one hit.
check.eq(hits, 1, "top-1 matches")

-- encode_text = unit-length (linear(mean of token embeddings)): set the table
-- and an identity projection, and compare with the mean worked out here.
local V = tok:vocab_size()
local emb = {}
for v = 1, V do emb[v] = {v % 3, (v % 5) - 2, 1, v % 2} end
head.embed:copy(emb)
head.text.weight:copy({{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}})
head.text.bias:copy({0, 0, 0, 0})
local caps = {"a person walks.", "someone waves the left hand happily."}
local got = head:encode_text(ctx, caps):totable()
for i, text in ipairs(caps) do
  local ids, m = tok:encode(" " .. text), {0, 0, 0, 0}
  for _, id in ipairs(ids) do
    for k = 1, dim do m[k] = m[k] + emb[id + 1][k] / #ids end
  end
  local norm = 0
  for k = 1, dim do norm = norm + m[k] * m[k] end
  local s = math.sqrt(dim / norm)
  for k = 1, dim do check.near(got[i][k], m[k] * s, 1e-4, ("caption %d dim %d"):format(i, k)) end
end

-- Training: 4 "clips" (fixed features) and their captions; AdamW on the heads
-- and the text embedding must lower the loss and match every pair.
local head2 = contrastive.new{modalities = {"motion"}, enc_dims = {motion = 3}, tokenizer = tok, dim = 8,
                              temp = 0.1, rng = vimo.rng(9)}
local feats = T{{{1, 0, 0}}, {{0, 1, 0}}, {{0, 0, 1}}, {{1, 1, -1}}} -- (B = 4, N = 1, E = 3)
local texts = {"a person walks forward.", "someone runs fast.", "a man bows.", "a woman jumps high."}
local opt = vimo.adamw{}
local tensors = {}
for i, p in ipairs(head2.params) do tensors[i] = p.tensor end
opt:add_group{params = tensors, lr = 0.05}
local first, last, acc, _
for step = 1, 60 do
  ctx:reset()
  opt:zero_grad()
  local loss
  loss, _, acc = head2:loss(ctx, {motion = feats}, texts)
  ctx:backward(loss)
  opt:step(1.0)
  if step == 1 then first = loss:item() end
  last = loss:item()
end
check.ok(first > 1.0, "starts near log 4 = 1.39: " .. first)
check.ok(last < 0.1 * first, ("loss falls: %g -> %g"):format(first, last))
check.eq(acc, 1.0, "every clip matches its caption")

-- An extra view with its own head: loss = caption InfoNCE through the
-- caption head + the view's InfoNCE through its head, both on the mean of
-- the clip tokens, with the view's keys as groups.
local nn = require "vimo.nn"
local vhead = nn.linear{inp = 3, out = 8, rng = vimo.rng(4), name = "view"}
local vtexts, keys = {"style elderly", "style happy", "style elderly", "style proud"}, {"e", "h", "e", "p"}
ctx:reset()
local with = head2:loss(ctx, {motion = feats}, texts, nil, {{texts = vtexts, keys = keys, heads = {motion = vhead}}})
local shared = head2:loss(ctx, {motion = feats}, texts, nil, {{texts = vtexts, keys = keys}})
local pooled = vimo.mean(ctx, feats, 1)
local cap = head2:info_nce(ctx, head2:normed(ctx, head2.heads.motion.forward(ctx, pooled)), head2:encode_text(ctx, texts))
local view = head2:info_nce(ctx, head2:normed(ctx, vhead.forward(ctx, pooled)), head2:encode_text(ctx, vtexts), keys)
check.near(with:item(), cap:item() + view:item(), 1e-5, "a view with its own head goes through it")
check.ok(math.abs(with:item() - shared:item()) > 1e-3, "and not through the caption head")
ctx:backward(with)
local gn = 0.0
for _, row in ipairs(vhead.weight:grad() or {}) do for _, v in ipairs(row) do gn = gn + v * v end end
check.ok(gn > 0, "the view's head gets a gradient")
-- A view with its own clip embedding z (the model's statistics token):
-- loss = caption InfoNCE on the pooled tokens + InfoNCE of z, as given.
ctx:reset()
local zsrc = vimo.randn(vimo.rng(6), {4, 5}, 1.0):requires_grad(true)
local zhead = nn.linear{inp = 5, out = 8, rng = vimo.rng(7), name = "stats"}
local z = head2:normed(ctx, zhead.forward(ctx, zsrc))
local with_z = head2:loss(ctx, {motion = feats}, texts, nil, {{texts = vtexts, keys = keys, z = {motion = z}}})
local zview = head2:info_nce(ctx, z, head2:encode_text(ctx, vtexts), keys)
cap = head2:info_nce(ctx, head2:normed(ctx, head2.heads.motion.forward(ctx, vimo.mean(ctx, feats, 1))),
                     head2:encode_text(ctx, texts))
check.near(with_z:item(), cap:item() + zview:item(), 1e-5, "a view with z contrasts z, not the pooled tokens")
ctx:backward(with_z)
gn = 0.0
for _, row in ipairs(zhead.weight:grad() or {}) do for _, v in ipairs(row) do gn = gn + v * v end end
check.ok(gn > 0, "the head that made z gets a gradient")
ctx:close()
-- False-negative mask: -1e4 exactly where two different rows share a group.
local m = contrastive.false_negative_mask({"a", "b", "a"}):totable()
for i = 1, 3 do
  for j = 1, 3 do
    local expect = (i ~= j and ((i == 1 and j == 3) or (i == 3 and j == 1))) and -1e4 or 0
    check.eq(m[i][j], expect, ("mask %d,%d"):format(i, j))
  end
end
check.ok(contrastive.false_negative_mask({"a", "b"}) == nil, "no shared group: no mask")

check.done("test_contrastive")
