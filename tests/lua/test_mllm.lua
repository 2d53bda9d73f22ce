--[[
tests/lua/test_mllm.lua - the multimodal model's parameter groups and the
cache of frozen video-encoder tokens (vimo.mllm): a frozen encoder trains in
no group, and cached tokens are exactly what the encoder computes for the clip;
with pooled_token the last token is the mean of the others; attribute
tokens are unit-RMS linear heads of that mean, computed here in plain Lua,
and train with their encoder or not at all; so does the statistics token, a
head on the window's per-feature mean and mean square.
]]

local vimo = require "vimo"
local check = require "check"
local mllm = require "vimo.mllm"

local opt = {}
for _, o in ipairs(mllm.options) do opt[o.name] = o.default end
opt.enc_dim = 16
opt.attribute_tokens = "" -- the pooled token alone first; attribute tokens below
opt.stats_token = "" -- likewise without the statistics token (default action)
local model = mllm.new(opt, {"motion", "video"}, 3)

local function names(list)
  local set = {}
  for _, p in ipairs(list) do set[p.name] = true end
  return set
end
local function has_prefix(set, prefix)
  for n in pairs(set) do if n:sub(1, #prefix) == prefix then return true end end
  return false
end

-- Groups: align trains both encoders; frozen_encoders = {video} keeps the video encoder out.
local _, all = model:groups("align", 1e-3, 1.0, {})
local set = names(all)
check.ok(has_prefix(set, "motion_encoder.") and has_prefix(set, "video_encoder."), "align trains both encoders")
check.ok(has_prefix(set, "motion_projector.") and has_prefix(set, "video_projector."), "and both projectors")
_, all = model:groups("align", 1e-3, 1.0, {video = true})
set = names(all)
check.ok(has_prefix(set, "motion_encoder.") and not has_prefix(set, "video_encoder."),
         "a frozen video encoder is in no group")
check.ok(model.frozen.video and not model.frozen.motion, "model.frozen names the frozen encoder")
_, all = model:groups("instruct", 1e-3, 0.0, {})
check.ok(not has_prefix(names(all), "motion_encoder."), "enc_lr_scale = 0 freezes the encoders in stage 2")

-- Cache: tokens of a frozen video encoder equal a fresh forward, bit for bit.
model:groups("align", 1e-3, 1.0, {video = true})
local r = vimo.rng(11)
local clip = {id = "clip-a", video = vimo.randn(r, {8, 3, 64, 64}), motion = vimo.randn(r, {40, 263})}
local other = {id = "clip-b", video = vimo.randn(r, {8, 3, 64, 64}), motion = vimo.randn(r, {40, 263})}
local ctx = vimo.ctx()
ctx:grad(false)
local direct = model.enc.video:encode(ctx, clip.video, 1, nil):totable()[1]
local tok = model:encoder_tokens(ctx, {clip, other}, r, true)
local cached = tok.video:totable()
check.eq(#cached, 2, "one row per clip")
check.ok(opt.pooled_token, "pooled_token is the default")
check.eq(#cached[1], #direct + 1, "tokens per clip: the encoder's and the pooled one")
for j = 1, #direct[1] do
  local s = 0.0
  for i = 1, #direct do s = s + direct[i][j] end
  local want, got = s / #direct, cached[1][#direct + 1][j]
  if math.abs(got - want) > 1e-5 * (1 + math.abs(want)) then
    check.ok(false, ("pooled token %d: %g, mean of the tokens %g"):format(j, got, want))
  end
end
for i = 1, #direct do
  for j = 1, #direct[i] do
    if cached[1][i][j] ~= direct[i][j] then check.ok(false, ("cached token %d.%d differs"):format(i, j)) end
  end
end
check.ok(model.video_cache["clip-a"] ~= nil and model.video_cache["clip-b"] ~= nil, "both clips cached")
local first = model.video_cache["clip-a"]
model:encoder_tokens(ctx, {clip}, r, true)
check.ok(rawequal(model.video_cache["clip-a"], first), "a second epoch reuses the cached tensor")
check.eq(tok.motion:shape()[2], opt.motion_frames // 4 + 1, "motion tokens: the 128-frame window / 4, + pooled")
ctx:close()
model:close()

-- W x + b of an nn.linear head, scaled to unit RMS (nn.unit_rms), in plain Lua.
local function unit_rms_linear(head, x)
  local W, b = head.weight:totable(), head.bias:totable()
  local z, ss = {}, 0.0
  for o = 1, #W do
    local v = b[o]
    for j = 1, #x do v = v + W[o][j] * x[j] end
    z[o], ss = v, ss + v * v
  end
  local rms = math.sqrt(ss / #z + 1e-6)
  for o = 1, #z do z[o] = z[o] / rms end
  return z
end

-- Attribute tokens: after the pooled token, one per category, each
-- z = W mean + b scaled to unit RMS (reference in plain Lua arithmetic).
opt.attribute_tokens = "style,action"
model = mllm.new(opt, {"motion"}, 5)
ctx = vimo.ctx()
ctx:grad(false)
local raw = model:encoder_tokens(ctx, {clip}, nil, false, true).motion:totable()[1]
local full = model:encoder_tokens(ctx, {clip}, nil, false).motion:totable()[1]
check.eq(#raw, opt.motion_frames // 4, "raw = true: the encoder's tokens only")
check.eq(#full, #raw + 3, "then the pooled token and two attribute tokens")
local mean = {}
for j = 1, #raw[1] do
  local s = 0.0
  for i = 1, #raw do s = s + raw[i][j] end
  mean[j] = s / #raw
end
for k, cat in ipairs{"style", "action"} do
  local z = unit_rms_linear(model:attribute_head("motion", cat), mean)
  local worst = 0.0
  for o = 1, #z do worst = math.max(worst, math.abs(full[#raw + 1 + k][o] - z[o])) end
  check.ok(worst < 1e-4, ("attribute token %s = rms-normalised W mean + b (max error %g)"):format(cat, worst))
end
check.ok(model:attribute_head("motion", "speed") == nil, "no head for a category not asked for")
local function attr_in(list)
  return has_prefix(names(list), "motion_attr.style.") and has_prefix(names(list), "motion_attr.action.")
end
_, all = model:groups("align", 1e-3, 1.0, {})
check.ok(attr_in(all), "a trained encoder trains its attribute heads")
_, all = model:groups("align", 1e-3, 1.0, {motion = true})
check.ok(not attr_in(all), "a frozen encoder freezes them")
check.ok(not model:attribute_head("motion", "style").weight:requires_grad(), "frozen heads need no gradient")
model:groups("align", 1e-3, 1.0, {})
check.ok(model:attribute_head("motion", "style").weight:requires_grad(), "unfrozen again with their encoder")
check.ok(attr_in(model:all_params()), "checkpoints (all_params) carry the heads")
ctx:close()
model:close()

-- Statistics token (stats_token): moments (B, 2F) = per-feature mean and
-- mean square over the window, then z = W moments + b at unit RMS after
-- the attribute token; trained and frozen with the attribute heads.
opt.attribute_tokens, opt.stats_token = "style", "action"
model = mllm.new(opt, {"motion"}, 7)
local long = {id = "clip-c", motion = vimo.randn(r, {160, 263}), video = vimo.randn(r, {8, 3, 64, 64})}
ctx = vimo.ctx()
ctx:grad(false)
-- Two clips, so rows cannot mix: `long` (centred 128-frame window) and the
-- 40-frame `clip` (its window is padded with its last frame, vimo.window).
local raw_tok, moments = model:encoder_tokens(ctx, {long, clip}, nil, false, true)
local mom = moments.motion:totable()
check.eq(#mom, 2, "one row of moments per clip")
check.eq(#mom[1], 2 * 263, "mean and mean square of every feature")
local L = opt.motion_frames
local function window_moments(c, pad)
  local frames = c.motion:totable()
  local T = #frames
  local start = T > L and (T - L) // 2 or 0 -- evaluation windows are centred
  local m = {}
  for d = 1, 263 do
    local s1, s2 = 0.0, 0.0
    for t = 1, L do
      local row = pad == "loop" and (start + t - 1) % T + 1 or math.min(start + t, T)
      local v = frames[row][d]
      s1, s2 = s1 + v, s2 + v * v
    end
    m[d], m[263 + d] = s1 / L, s2 / L
  end
  return m
end
local wants = {window_moments(long), window_moments(clip)}
local full_rows = model:encoder_tokens(ctx, {long, clip}, nil, false).motion:totable()
local nraw = raw_tok.motion:shape()[2]
for i, want in ipairs(wants) do
  local worst = 0.0
  for k = 1, #want do worst = math.max(worst, math.abs(mom[i][k] - want[k])) end
  check.ok(worst < 1e-4, ("clip %d: moments of its window (max error %g)"):format(i, worst))
  full = full_rows[i]
  check.eq(#full, nraw + 3, "the pooled, style and statistics tokens follow the encoder's")
  local z = unit_rms_linear(model.stats_head, want)
  worst = 0.0
  for o = 1, #z do worst = math.max(worst, math.abs(full[#full][o] - z[o])) end
  check.ok(worst < 1e-3, ("clip %d: statistics token = rms-normalised W moments + b (max error %g)"):format(i, worst))
end
-- motion_pad=loop: the 40-frame clip's window plays it again from its start
-- (frames 1..40, 1..40, 1..40, 1..8), for a trained and a frozen (cached) encoder.
model.opt.motion_pad = "loop"
local loop_want = window_moments(clip, "loop")
for _, frozen in ipairs({{}, {motion = true}}) do
  model.frozen = frozen
  local _, m = model:encoder_tokens(ctx, {long, clip}, nil, false, true)
  local got, worst = m.motion:totable()[2], 0.0
  for k = 1, #loop_want do worst = math.max(worst, math.abs(got[k] - loop_want[k])) end
  check.ok(worst < 1e-4, ("motion_pad=loop, %s encoder: moments of the looped window (max error %g)")
           :format(frozen.motion and "frozen" or "trained", worst))
end
model.frozen, model.opt.motion_pad = {}, "edge"
-- stats_frames=clip: the moments pool over the clip's own frames only: the
-- 40-frame clip's over its 40 (not the 88 padded ones), the long clip's over
-- its whole centred window as before.
local function own_moments(c)
  local frames, m = c.motion:totable(), {}
  for d = 1, 263 do
    local s1, s2 = 0.0, 0.0
    for t = 1, #frames do s1, s2 = s1 + frames[t][d], s2 + frames[t][d] ^ 2 end
    m[d], m[263 + d] = s1 / #frames, s2 / #frames
  end
  return m
end
model.opt.stats_frames = "clip"
local own_want = {window_moments(long), own_moments(clip)}
for _, frozen in ipairs({{}, {motion = true}}) do
  model.frozen, model.motion_cache = frozen, {}
  local _, m = model:encoder_tokens(ctx, {long, clip}, nil, false, true)
  for i, want in ipairs(own_want) do
    local got, worst = m.motion:totable()[i], 0.0
    for k = 1, #want do worst = math.max(worst, math.abs(got[k] - want[k])) end
    check.ok(worst < 1e-4, ("stats_frames=clip, %s encoder, clip %d: moments of its own frames (max error %g)")
             :format(frozen.motion and "frozen" or "trained", i, worst))
  end
end
model.frozen, model.motion_cache, model.opt.stats_frames = {}, {}, "window"
local function stats_in(list) return has_prefix(names(list), "motion_stats.") end
_, all = model:groups("align", 1e-3, 1.0, {})
check.ok(stats_in(all), "a trained encoder trains the statistics head")
_, all = model:groups("align", 1e-3, 1.0, {motion = true})
check.ok(not stats_in(all) and not model.stats_head.weight:requires_grad(), "a frozen one freezes it")
check.ok(stats_in(model:all_params()), "checkpoints carry it")
ctx:close()
model:close()

-- Cache of a frozen motion encoder: the windows a clip always gives in a
-- mode (a clip no longer than the window; any clip at evaluation) are
-- encoded once; the tokens and moments equal a fresh forward bit for bit,
-- mixed in a batch with windows encoded afresh.
model = mllm.new(opt, {"motion"}, 7)
model:groups("align", 1e-3, 1.0, {motion = true})
local short = {id = "clip-d", motion = vimo.randn(r, {128, 263})}
local batch = {long, clip, short}
local function same(a, b, what)
  local ta, tb = a:totable(), b:totable()
  local function walk(x, y)
    if type(x) ~= "table" then return x == y end
    if type(y) ~= "table" or #x ~= #y then return false end
    for i = 1, #x do if not walk(x[i], y[i]) then return false end end
    return true
  end
  check.ok(walk(ta, tb), what)
end
local function fresh(train, seed) -- the encoder run on the batch, no cache
  local frozen = model.frozen
  model.frozen = {}
  local t, m = model:encoder_tokens(ctx, batch, vimo.rng(seed), train, true)
  model.frozen = frozen
  return t.motion, m.motion
end
ctx = vimo.ctx()
ctx:grad(false)
for pass = 1, 2 do
  for _, train in ipairs({true, false}) do
    local want_t, want_m = fresh(train, 40 + pass)
    local got_t, got_m = model:encoder_tokens(ctx, batch, vimo.rng(40 + pass), train, true)
    local mode = ("pass %d, %s"):format(pass, train and "training" or "evaluation")
    same(got_t.motion, want_t, mode .. ": cached motion tokens equal a fresh forward")
    same(got_m.motion, want_m, mode .. ": and the window moments")
  end
end
local keys = {}
for k in pairs(model.motion_cache) do keys[#keys + 1] = k end
table.sort(keys)
check.eq(table.concat(keys, " "), "clip-a@0 clip-c@16 clip-d@0",
         "cached: the short clips' one window and the long clip's centred one, not its random ones")
local entry = model.motion_cache["clip-a@0"]
model:encoder_tokens(ctx, {clip}, vimo.rng(1), true, true)
check.ok(rawequal(model.motion_cache["clip-a@0"], entry), "a later epoch reuses the cached window")
ctx:close()
model:close()
-- Joint: the statistics token is motion's alone; video-only has none.
model = mllm.new(opt, {"motion", "video"}, 7)
ctx = vimo.ctx()
ctx:grad(false)
local raw2 = model:encoder_tokens(ctx, {long}, nil, false, true)
local full2 = model:encoder_tokens(ctx, {long}, nil, false)
check.eq(full2.motion:shape()[2], raw2.motion:shape()[2] + 3, "joint: motion gets pooled, style and statistics")
check.eq(full2.video:shape()[2], raw2.video:shape()[2] + 2, "joint: video gets pooled and style only")
ctx:close()
model:close()
model = mllm.new(opt, {"video"}, 7)
check.ok(model.stats_head == nil, "video-only: no statistics head")
model:close()
opt.stats_token = ""
model = mllm.new(opt, {"motion"}, 7)
check.ok(model.stats_head == nil, "stats_token = '': no statistics head")
model:close()

-- Packed sequences (llm forward_varlen) give the padded batch's loss, bit
-- for bit, and its gradients up to summation order, with adapters in place
-- (examples of different lengths, so two rows carry padding).
model = mllm.new(opt, {"motion"}, 7)
model:add_lora(9)
for _, p in ipairs(model.llm:params()) do -- B = 0 at init would hide the adapters
  if p.name:find("lora_B", 1, true) then p.tensor:copy(vimo.randn(vimo.rng(4), p.tensor:shape()):totable()) end
end
model:train(false)
check.ok(model.varlen, "varlen is on by default for llm.llama on the CPU")
local exs = {{clip = clip, question = "what does the person do?", answer = "walk"},
             {clip = long, question = "is the person happy or sad or neither of the two?", answer = "neither"},
             {clip = clip, question = "describe the motion.", answer = "a person walks forward slowly and stops"}}
local _, params = model:groups("instruct", 1e-3, 1.0, {motion = true})
local function loss_and_grads(varlen)
  model.varlen = varlen
  for _, p in ipairs(params) do p.tensor:zero_grad() end
  local c = vimo.ctx()
  local l = model:loss(c, exs, nil, false)
  c:backward(l)
  local g = {}
  for i, p in ipairs(params) do g[i] = p.tensor:grad() or false end
  local v = l:item()
  c:close()
  return v, g
end
local l_pad, g_pad = loss_and_grads(false)
local l_var, g_var = loss_and_grads(true)
check.ok(l_var == l_pad, ("varlen loss %.9g = padded %.9g"):format(l_var, l_pad))
-- max |got - want| / max |want| over a nested table of numbers
local function rel_diff(got, want)
  local md, mx = 0, 0
  local function walk(a, b)
    if type(b) == "table" then
      for i = 1, #b do walk(a[i], b[i]) end
    else
      local d = math.abs(a - b)
      if not (d <= md) then md = d end -- NaN fails
      mx = math.max(mx, math.abs(b))
    end
  end
  walk(got, want)
  return mx > 0 and md / mx or md
end
local compared = 0
for i = 1, #params do
  if g_pad[i] then
    local rd = rel_diff(g_var[i], g_pad[i])
    check.ok(rd < 1e-5, ("gradient of %s: relative difference %.3g"):format(params[i].name, rd))
    compared = compared + 1
  end
end
check.ok(compared > 10, "projector and adapter gradients compared (" .. compared .. ")")

-- answer_logprob: the summed log-probability of the answer's tokens and the
-- end token, against a log-softmax in plain Lua of the padded forward's
-- logits (llm:forward, not the packed path Model:loss takes).
local function ref_logprob(c, q, a)
  local x = vimo.ctx()
  x:grad(false)
  local mid, ans = model.tok:encode(" " .. q .. " ASSISTANT:"), model.tok:encode(" " .. a)
  local rest = table.move(mid, 1, #mid, 1, {})
  table.move(ans, 1, #ans, #rest + 1, rest)
  local targets = table.move(rest, 1, #rest, 1, {})
  targets[#targets + 1] = model.answer_end
  local parts = {model.llm:embed(x, {model.prefix})}
  for _, b in ipairs(model:modality_tokens(x, {c}, nil, false)) do parts[#parts + 1] = b end
  local n_pre = 0
  for _, p in ipairs(parts) do n_pre = n_pre + p:shape()[2] end
  parts[#parts + 1] = model.llm:embed(x, {rest})
  local logits = model.llm:forward(x, vimo.concat(x, parts, 1), nil, nil):totable()[1] -- (T, V)
  x:close()
  local lp = 0.0
  for j = #mid + 1, #targets do -- the token at rest[j] (or the end) is predicted at position n_pre + j - 1
    local row = logits[n_pre + j - 1]
    local mx = -math.huge
    for _, v in ipairs(row) do mx = math.max(mx, v) end
    local se = 0.0
    for _, v in ipairs(row) do se = se + math.exp(v - mx) end
    lp = lp + row[targets[j] + 1] - mx - math.log(se)
  end
  return lp
end
model.varlen = true
local cx = vimo.ctx()
for _, qa in ipairs({{"what does the person do?", "walk"}, {"which hand waves?", "the left hand"}}) do
  local got, want = model:answer_logprob(cx, clip, qa[1], qa[2]), ref_logprob(clip, qa[1], qa[2])
  check.ok(got < 0 and math.abs(got - want) <= 1e-4 * math.abs(want),
           ("answer_logprob(%q) = %.6f, log-softmax of the logits %.6f"):format(qa[2], got, want))
end

-- answer_mirror: the plain view's answer when the mirrored view's (with
-- left and right swapped back) agrees, else the one whose log-probability
-- summed over both views is higher; a model that reads video refuses.
local augment = require "vimo.augment"
local std1 = {}
for d = 1, 263 do std1[d] = 1.5 end
local mu, std = vimo.tensor(vimo.randn(vimo.rng(5), {263}):totable()), vimo.tensor(std1)
local mc = augment.mirror_clip(clip, mu, std)
for _, q in ipairs({"which hand waves?", "Which way does the person turn, left or right?"}) do
  local a0 = model:answer(cx, clip, q, 6)
  local a1 = augment.mirror_text(model:answer(cx, mc, augment.mirror_text(q), 6))
  local got = model:answer_mirror(cx, clip, q, 6, mu, std)
  local want = a0
  if a1 ~= a0 and a1 ~= "" then
    local function both(a) return ref_logprob(clip, q, a) + ref_logprob(mc, augment.mirror_text(q), augment.mirror_text(a)) end
    if both(a1) > both(a0) then want = a1 end
  end
  check.eq(got, want, ("answer_mirror(%q): plain %q, mirrored %q"):format(q, a0, a1))
end
-- Views that disagree: greedy decoding stubbed to say "the left hand" in
-- both, so the mirrored view's answer reads "the right hand" once swapped back.
local said = setmetatable({answer = function() return "the left hand" end}, {__index = model})
local q = "which hand waves?"
local function both(a) return ref_logprob(clip, q, a) + ref_logprob(mc, augment.mirror_text(q), augment.mirror_text(a)) end
local lp_left, lp_right = both("the left hand"), both("the right hand")
check.ok(lp_left ~= lp_right, "the two answers' summed log-probabilities differ")
check.eq(said:answer_mirror(cx, clip, q, 6, mu, std), lp_right > lp_left and "the right hand" or "the left hand",
         ("answer_mirror keeps the likelier over both views (left %.4f, right %.4f)"):format(lp_left, lp_right))
cx:close()
model:close()
local jm = mllm.new(opt, {"motion", "video"}, 7)
local okm, errm = pcall(jm.answer_mirror, jm, vimo.ctx(), clip, "which hand waves?", 4, mu, std)
check.ok(not okm and tostring(errm):find("motion%-only"), "answer_mirror refuses a model that reads video: " .. tostring(errm))
jm:close()
check.done("test_mllm")
