--[[
tests/lua/test_augment.lua - vimo.augment, the stage-0 tempo and size changes
of a HumanML3D window, against values worked out by hand: a synthetic clip
whose raw features are linear in time (positions, rotations) or constant
(velocities), so the stretched clip's features have a closed form.
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
local y = aug:apply(ctx, x, L, r, s, start):totable()
check.eq(#y, L, "L output frames")
local worst = max_diff(y, 12, r, s, start)
check.ok(worst < 1e-5, ("stretched features equal the closed form (max diff %.2g)"):format(worst))
for i = 12, L - 1 do
  local same = true
  for d = 1, D do same = same and y[i + 1][d] == y[12][d] end
  check.ok(same, "frame " .. i .. " past the clip repeats the last one")
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
ctx:close()
check.done("augment")
