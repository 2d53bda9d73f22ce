--[[
tests/lua/test_augment.lua - vimo.augment, the stage-0 tempo and size changes
of a HumanML3D window, against values worked out by hand: a synthetic clip
whose raw features are linear in time (positions, rotations) or constant
(velocities), so the stretched clip's features have a closed form. Then the
left/right mirror of that clip against a mirror worked out from the joint
names, its text swap, the mirrored clip and the per-clip draw.
]]

local vimo = require "vimo"
local augment = require "vimo.augment"
local check = require "check"

local D = augment.DIM

-- which group a 0-based dim is in (docs/motion.md, "Assemble")
local function is_tempo(d) return d <= 2 or (d >= 193 and d <= 258) end
local function is_length(d) return (d >= 1 and d <= 66) or (d >= 193 and d <= 258) end

-- factors: tempo on yaw, XZ and joint velocities; size on every length
local a = augment.factors(2.0, 1.5)
for d = 0, D - 1 do
  local want = (is_tempo(d) and 2.0 or 1.0) * (is_length(d) and 1.5 or 1.0)
  check.near(a[d + 1], want, 0, "factor of dim " .. d)
end

-- interpolation: output frame i at source time i * r, clamped to the span
local lo, hi, f = augment.interp(5, 6, 1.5)
local want_interp = {{0, 1, 0.0}, {1, 2, 0.5}, {3, 4, 0.0}, {4, 5, 0.5}, {5, 5, 0.0}}
for i, w in ipairs(want_interp) do
  check.eq(lo[i], w[1], "interp " .. i .. ": lower frame")
  check.eq(hi[i], w[2], "interp " .. i .. ": upper frame")
  check.near(f[i], w[3], 1e-12, "interp " .. i .. ": weight of the upper frame")
end

-- A synthetic clip, raw f_d(t) = c_d + k_d * t (velocities: v_d, constant),
-- stored normalised with mean m_d and std s_d.
local T, mean, std, raw = 40, {}, {}, {}
for d = 0, D - 1 do
  mean[d + 1], std[d + 1] = 0.1 * (d % 7) - 0.3, 0.5 + 0.01 * (d % 11)
end
local function c_of(d) return 0.02 * (d % 13) - 0.1 end
local function k_of(d) return 0.003 * ((d % 5) - 2) end
local function f_raw(d, t) return is_tempo(d) and c_of(d) or c_of(d) + k_of(d) * t end
for t = 0, T - 1 do
  local row = {}
  for d = 0, D - 1 do row[d + 1] = (f_raw(d, t) - mean[d + 1]) / std[d + 1] end
  raw[t + 1] = row
end
local x = vimo.tensor(raw)
local aug = augment.new{mean = vimo.tensor(mean), std = vimo.tensor(std)}
local ctx = vimo.ctx()

-- The closed form at output frame i: source time start + r i.
local function max_diff(y, n, r, s, start)
  local worst = 0
  for i = 0, n - 1 do
    for d = 0, D - 1 do
      local t = start + r * i
      local want = is_tempo(d) and c_of(d) * r or c_of(d) + k_of(d) * t
      if is_length(d) then want = want * s end
      local got = y[i + 1][d + 1] * std[d + 1] + mean[d + 1]
      worst = math.max(worst, math.abs(got - want))
    end
  end
  return worst
end

-- Inside a long clip every output frame is read: r = 1.1, L = 16 from frame
-- 3 ends at source time 19.5, between frames 19 and 20.
local long = aug:apply(ctx, x, 16, 1.1, 0.9, 3):totable()
check.ok(max_diff(long, 16, 1.1, 0.9, 3) < 1e-5, "long clip: all 16 frames follow the closed form")
check.ok(long[16][5] ~= long[15][5], "long clip: the last frame is read, not padding")
check.eq(augment.span(16, 1.1), 18, "span: frames 3..20 for times up to 16.5")
check.eq(augment.span(16, 1.0), 16, "span at r = 1: L frames")

-- r = 1.5, s = 1.2 from frame 22, L = 16: source times 22 + 1.5 i up to 39,
-- so frames i = 0..11 (22 + 16.5 = 38.5), then frame 11 repeated (the
-- padding of vimo.window).
local r, s, start, L = 1.5, 1.2, 22, 16
local yt, own = aug:apply(ctx, x, L, r, s, start)
local y = yt:totable()
check.eq(#y, L, "L output frames")
check.eq(own, 12, "12 of them are the clip's own (the rest is padding)")
check.eq(select(2, aug:apply(ctx, x, 16, 1.1, 0.9, 3)), 16, "inside a long clip all 16 are")
local worst = max_diff(y, 12, r, s, start)
check.ok(worst < 1e-5, ("stretched features equal the closed form (max diff %.2g)"):format(worst))
for i = 12, L - 1 do
  local same = true
  for d = 1, D do same = same and y[i + 1][d] == y[12][d] end
  check.ok(same, "frame " .. i .. " past the clip repeats the last one")
end

-- pad = "loop": past the clip the 12 stretched frames play again from the first.
local looped = augment.new{mean = vimo.tensor(mean), std = vimo.tensor(std), pad = "loop"}
local yl = looped:apply(ctx, x, L, r, s, start):totable()
check.all_near({table.unpack(yl, 1, 12)}, {table.unpack(y, 1, 12)}, 0, "loop: the same 12 stretched frames")
for i = 12, L - 1 do
  check.all_near(yl[i + 1], y[i - 12 + 1], 0, "loop: frame " .. i .. " past the clip is frame " .. (i - 12))
end

-- r = 1, s = 1 is vimo.window itself
local id = aug:apply(ctx, x, 8, 1.0, 1.0, 5):totable()
local ref = vimo.window(ctx, x, 5, 8):totable()
local diff = 0
for i = 1, 8 do for d = 1, D do diff = math.max(diff, math.abs(id[i][d] - ref[i][d])) end end
check.ok(diff < 1e-6, ("no change: the plain window (max diff %.2g)"):format(diff))

-- random windows: shape, and with tempo and size off, a plain window at some start
local rng = vimo.rng(7)
local plain = augment.new{mean = vimo.tensor(mean), std = vimo.tensor(std)}
local w = plain:window(ctx, x, 8, rng):totable()
local first = w[1][1] * std[1] + mean[1]
check.near(first, c_of(0), 1e-5, "tempo off: dim 0 unchanged")
local t0 = (w[1][5] * std[5] + mean[5] - c_of(4)) / k_of(4)
check.ok(math.abs(t0 - math.floor(t0 + 0.5)) < 1e-3 and t0 >= 0 and t0 <= T - 8,
         ("tempo off: the window starts at a whole frame that fits (%.4f)"):format(t0))
local on = augment.new{mean = vimo.tensor(mean), std = vimo.tensor(std), tempo = 0.25, scale = 0.1}
local rates, sizes = {}, {}
for k = 1, 20 do
  local v = on:window(ctx, x, 8, rng):totable()
  check.eq(#v, 8, "window " .. k .. ": L frames")
  rates[k] = (v[1][1] * std[1] + mean[1]) / c_of(0) -- dim 0 (yaw velocity): c r
  sizes[k] = (v[1][8] * std[8] + mean[8]) / c_of(7) -- dim 7 (a ric position, k = 0): c s
  check.ok(rates[k] >= 1 / 1.25 - 1e-4 and rates[k] <= 1.25 + 1e-4, ("window %d: tempo %.3f in range"):format(k, rates[k]))
  check.ok(sizes[k] >= 0.9 - 1e-4 and sizes[k] <= 1.1 + 1e-4, ("window %d: size %.3f in range"):format(k, sizes[k]))
end
table.sort(rates)
table.sort(sizes)
check.ok(rates[1] < 0.97 and rates[20] > 1.03, ("tempo varies: %.3f .. %.3f"):format(rates[1], rates[20]))
check.ok(sizes[1] < 0.98 and sizes[20] > 1.02, ("size varies: %.3f .. %.3f"):format(sizes[1], sizes[20]))

-- Mirroring. The expected raw mirror from the joint names (l_* <-> r_*) and
-- the reflection S = diag(-1, 1, 1): x components negate, each local
-- rotation R becomes S R S (cont6d holds R's columns 0 and 1).
local NAMES = {"pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle", "spine3",
               "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder", "r_shoulder", "l_elbow",
               "r_elbow", "l_wrist", "r_wrist"}
local function twin(j) -- 0-based
  local n = NAMES[j + 1]
  local want = n:match("^l_") and "r_" .. n:sub(3) or n:match("^r_") and "l_" .. n:sub(3) or n
  for k, v in ipairs(NAMES) do if v == want then return k - 1 end end
end
local function mirror_raw(src) -- src, result: 0-based dims
  local g, S = {}, {-1, 1, 1}
  g[0], g[1], g[2], g[3] = -src[0], -src[1], src[2], src[3]
  local function vec(base, j, j0)
    local b, tb = base + 3 * (j - j0), base + 3 * (twin(j) - j0)
    g[b], g[b + 1], g[b + 2] = -src[tb], src[tb + 1], src[tb + 2]
  end
  for j = 1, 21 do vec(4, j, 1) end
  for j = 0, 21 do vec(193, j, 0) end
  for j = 1, 21 do
    local b, tb = 67 + 6 * (j - 1), 67 + 6 * (twin(j) - 1)
    for k = 0, 1 do for i = 0, 2 do g[b + 3 * k + i] = S[i + 1] * S[k + 1] * src[tb + 3 * k + i] end end
  end
  g[259], g[260], g[261], g[262] = src[261], src[262], src[259], src[260]
  return g
end
local mt, mstd = vimo.tensor(mean), vimo.tensor(std)
local xm = vimo.media.hml3d_mirror(x, mt, mstd):totable()
local worst_m = 0
for t = 0, T - 1 do
  local row = {}
  for d = 0, D - 1 do row[d] = f_raw(d, t) end
  local g = mirror_raw(row)
  for d = 0, D - 1 do worst_m = math.max(worst_m, math.abs(xm[t + 1][d + 1] - (g[d] - mean[d + 1]) / std[d + 1])) end
end
check.ok(worst_m < 1e-4, ("mirror of normalised features = the mirror worked out from the joint names (max %.2g)")
         :format(worst_m))
local back = vimo.media.hml3d_mirror(vimo.media.hml3d_mirror(x, mt, mstd), mt, mstd):totable()
check.all_near(back, x:totable(), 1e-5, "mirror twice is the identity")
check.raises("x must be", function() vimo.media.hml3d_mirror(vimo.tensor({{1, 2}})) end)
check.raises("both mean and std", function() vimo.media.hml3d_mirror(x, mt) end)

check.eq(augment.mirror_text("a person waves the left hand, then moves leftward."),
         "a person waves the right hand, then moves rightward.", "text: left/right and leftward/rightward swap")
check.eq(augment.mirror_text("Is it the left hand, the right hand or both hands?"),
         "Is it the right hand, the left hand or both hands?", "text: both swap in one sentence")
check.eq(augment.mirror_text("an upright, bright walk"), "an upright, bright walk", "text: only whole words")
check.eq(augment.mirror_text("wave-left-hand/normal"), "wave-right-hand/normal", "text: a label key")

local clip = {id = "c1", source = "bandai2", group = "walk-turn-left/normal", motion = x, video = "frames",
              captions = {"a person walks and turns left.", "someone turns left while walking."},
              qa = {{category = "direction", question = "Which direction does the person move?", answer = "left"},
                    {category = "action", question = "What is the person doing?", answer = "walk"}},
              stats = {dx = 0.8, dz = 1.5, lwrist = 0.1, rwrist = 0.4}}
local m = augment.mirror_clip(clip, mt, mstd)
check.eq(m.id, "c1~mirror", "mirrored clip id")
check.ok(m.mirrored and m.video == nil, "a mirrored clip has no video (its rendering is not mirrored)")
check.eq(m.group, "walk-turn-right/normal", "mirrored group")
check.list_eq(m.captions, {"a person walks and turns right.", "someone turns right while walking."}, "mirrored captions")
check.eq(m.qa[1].answer, "right", "mirrored direction answer")
check.eq(m.qa[1].category, "direction", "category kept")
check.eq(m.qa[2].answer, "walk", "action answer unchanged")
check.ok(m.stats.dx == -0.8 and m.stats.lwrist == 0.4 and m.stats.rwrist == 0.1, "stats: dx negated, wrists swapped")
check.all_near(m.motion:totable(), xm, 0, "mirrored clip motion")
check.ok(augment.mirror_clip(clip, mt, mstd) == m, "made once per clip")
check.eq(clip.captions[1], "a person walks and turns left.", "the clip itself is untouched")

-- mirror_batch: clip k is mirrored where the k-th uniform draw is < p.
local batch = {clip, {id = "c2", motion = x, captions = {"left"}, qa = {}}, {id = "c3", motion = x, captions = {}, qa = {}}}
local r1, r2 = vimo.rng(11), vimo.rng(11)
for _ = 1, 5 do
  local out = augment.mirror_batch(batch, r1, 0.5, mt, mstd)
  for k, c in ipairs(out) do
    local want = r2:uniform() < 0.5
    check.eq(c.mirrored == true, want, "mirror_batch: clip " .. k .. " follows its draw")
  end
end
local none = augment.mirror_batch(batch, vimo.rng(3), 0.0, mt, mstd)
check.ok(none[1] == clip and none[2] == batch[2] and none[3] == batch[3], "p = 0 keeps every clip")
local std2 = vimo.tensor(std)
local m2 = augment.mirror_clip(clip, mt, std2)
check.ok(m2 ~= m and augment.mirror_clip(clip, mt, std2) == m2, "another normalisation makes the mirror again")
check.raises("std entries must be finite and > 0", function() vimo.media.hml3d_mirror(x, mt, vimo.zeros({D})) end)
ctx:close()
check.done("augment")
