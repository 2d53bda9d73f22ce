--[[
vimo/augment.lua - augmentations of HumanML3D motion clips for stage 0
(contrastive pretraining of the motion encoder): random tempo and body-size
changes of a window, and HumanML3D's left/right mirror of a whole clip.

  local augment = require "vimo.augment"
  local a = augment.new{mean = ds.mean, std = ds.std, tempo = 0.2, scale = 0.1}
  local win = a:window(ctx, clip.motion, 128, rng)   -- (128, 263), normalised
  local m = augment.mirror_clip(clip, ds.mean, ds.std) -- the clip mirrored

Why: a style changes how fast and how big a performance is (a sad run is
slow, a proud walk long-strided), and the encoder saw each action in ~10
styles. Stretching time and body size at random asks it to tell actions
apart by the pattern of the movement, not its tempo or size (temporal
rescaling and scaling, common augmentations in skeleton action recognition).
Measured on the val split it did not help here (docs/experiments.md, sixth
round), so the stage-0 options that use it are off by default.

The features are HumanML3D's 263 dims (docs/motion.md, "Assemble"),
normalised as (f - mean) / std:
  tempo r (frames of the source per output frame; r > 1 plays faster):
    output frame i = the source at time i * r, linear between frames; the
    per-frame velocities (dims 0-2: root yaw and XZ velocity; 193-258: joint
    velocities) are multiplied by r, as one output frame spans r source
    frames. r is drawn log-uniform in [1 / (1 + tempo), 1 + tempo].
  size s (uniform in [1 - scale, 1 + scale]): every length is multiplied by
    s: root XZ velocity (1-2), root height (3), ric positions (4-66) and joint
    velocities (193-258); rotations (67-192), yaw (0) and foot contacts
    (259-262) do not change.
Both are affine per dim in raw units, f' = f * a, which in normalised units
is x' = x * a + mean * (a - 1) / std.
The window: the span of source frames an L-frame output covers, at a random
start when the clip is longer, then padded to L as vimo.window pads (the
last frame held, or with pad = "loop" the stretched clip played again).
]]

local vimo = require "vimo"

local M = {}

--[[ Mirroring (HumanML3D's raw_pose_processing: every clip also enters the
data mirrored, "M"-prefixed, with "left" and "right" swapped in its text):
the motion goes through vimo_hml3d_mirror_features (x -> -x, left and right
joints swapped; docs/motion.md, "Mirroring"), and every caption, question
and answer has left and right swapped, so a left-hand wave becomes a
right-hand wave and says so. A mirrored clip is a plain clip table (id with
"~mirror" appended, no video: the rendered video is not mirrored, so only
the motion branch may use it) made once per clip and kept while the clip
lives. ]]

local SWAP = {left = "right", right = "left", leftward = "rightward", rightward = "leftward",
              Left = "Right", Right = "Left", Leftward = "Rightward", Rightward = "Leftward"}

--- s with the whole words left/right (and leftward/rightward) swapped.
function M.mirror_text(s)
  return (s:gsub("%f[%a]%a+%f[%A]", SWAP))
end

local function mirror_list(list, f)
  local out = {}
  for i, v in ipairs(list or {}) do out[i] = f(v) end
  return out
end

local mirrored = setmetatable({}, {__mode = "k"}) -- clip -> its mirror

--- The mirror of a clip {id, motion = (T, 263) normalised with mean/std,
-- captions, qa, ...}: motion mirrored, text with left and right swapped,
-- stats (media.process, not read in training) with dx and the wrists
-- swapped, so the table stays a consistent clip. Stage 0 reads id, group,
-- motion, captions and qa; there is no video, labels or facts. Made again
-- when asked with other mean/std tensors.
function M.mirror_clip(c, mean, std)
  local m = mirrored[c]
  if m and m.norm_mean == mean and m.norm_std == std then return m end
  m = {id = c.id .. "~mirror", source = c.source, take = c.take, split = c.split, T = c.T, mirrored = true,
       norm_mean = mean, norm_std = std,
       group = c.group and M.mirror_text(c.group),
       motion = vimo.media.hml3d_mirror(c.motion, mean, std),
       captions = mirror_list(c.captions, M.mirror_text),
       qa = mirror_list(c.qa, function(q)
         return {category = q.category, question = M.mirror_text(q.question), answer = M.mirror_text(q.answer)}
       end)}
  if c.stats then
    m.stats = {}
    for k, v in pairs(c.stats) do m.stats[k] = v end
    m.stats.dx = c.stats.dx and -c.stats.dx
    m.stats.lwrist, m.stats.rwrist = c.stats.rwrist, c.stats.lwrist
  end
  mirrored[c] = m
  return m
end

--- The batch with each clip replaced by its mirror with probability p
-- (one rng:uniform() per clip).
function M.mirror_batch(batch, rng, p, mean, std)
  local out = {}
  for i, c in ipairs(batch) do out[i] = rng:uniform() < p and M.mirror_clip(c, mean, std) or c end
  return out
end

M.DIM = 263
-- 0-based inclusive ranges of the 263 dims.
M.TEMPO_DIMS = {{0, 2}, {193, 258}}
M.LENGTH_DIMS = {{1, 3}, {4, 66}, {193, 258}}

local A = {}
A.__index = A

--- o = {mean = tensor (263), std = tensor (263), tempo = 0.2, scale = 0.1,
-- pad = "edge" | "loop"} (tempo 0 / scale 0: that change is off; pad: how a
-- window past the clip's end fills, as vimo.window pads; default edge).
function M.new(o)
  return setmetatable({mean = o.mean:totable(), std = o.std:totable(), tempo = o.tempo or 0, scale = o.scale or 0,
                       pad = o.pad or "edge"}, A)
end

--- Per-dim factors a (raw units) for tempo r and size s.
function M.factors(r, s)
  local a = {}
  for d = 1, M.DIM do a[d] = 1.0 end
  for _, g in ipairs(M.TEMPO_DIMS) do
    for d = g[1], g[2] do a[d + 1] = a[d + 1] * r end
  end
  for _, g in ipairs(M.LENGTH_DIMS) do
    for d = g[1], g[2] do a[d + 1] = a[d + 1] * s end
  end
  return a
end

--- Source frames that L output frames at tempo r read: up to time
-- (L - 1) r and the frame after it when that time falls between frames.
function M.span(L, r)
  return math.ceil((L - 1) * r - 1e-9) + 1
end

--- Linear interpolation of n output frames at source times i * r of a
-- span of frames: lists lo, hi (0-based frames) and f, output frame i =
-- (1 - f) * lo + f * hi.
function M.interp(n, span, r)
  local lo, hi, f = {}, {}, {}
  for i = 0, n - 1 do
    local t = math.min(i * r, span - 1)
    local j = math.floor(t)
    lo[i + 1], hi[i + 1], f[i + 1] = j, math.min(j + 1, span - 1), t - j
  end
  return lo, hi, f
end

--- x (T, 263) normalised -> (L, 263): tempo r, size s, from source frame
-- `start` (0-based); past the clip's end it pads as vimo.window (self.pad).
-- Second result: the n <= L output frames that are the clip's own.
function A:apply(ctx, x, L, r, s, start)
  local T = x:shape()[1]
  local span = math.min(T - start, M.span(L, r))
  local n = math.min(L, math.floor((span - 1) / r + 1e-9) + 1) -- 1e-9: (L-1) r / r may round below L-1
  local lo, hi, f = M.interp(n, span, r)
  for i = 1, n do lo[i], hi[i] = lo[i] + start, hi[i] + start end
  local y0 = vimo.embedding(ctx, x, lo)                                        -- (n, 263) rows lo
  local dt = vimo.contiguous(ctx, vimo.transpose(ctx, vimo.sub(ctx, vimo.embedding(ctx, x, hi), y0), 0, 1))
  local step = vimo.transpose(ctx, vimo.mul(ctx, dt, vimo.tensor(f)), 0, 1)     -- f_i * (hi - lo), (n, 263)
  local y = vimo.add(ctx, y0, vimo.contiguous(ctx, step))
  local a, b = M.factors(r, s), {}
  for d = 1, M.DIM do b[d] = self.mean[d] * (a[d] - 1.0) / self.std[d] end
  y = vimo.add(ctx, vimo.mul(ctx, y, vimo.tensor(a)), vimo.tensor(b))
  return vimo.window(ctx, y, 0, L, self.pad), n
end

--- A random L-frame training window of x (T, 263): random tempo and size,
-- random start where the stretched clip is longer than L; and, as apply,
-- its number of the clip's own frames.
function A:window(ctx, x, L, rng)
  local r = self.tempo > 0 and math.exp((2 * rng:uniform() - 1) * math.log(1 + self.tempo)) or 1.0
  local s = self.scale > 0 and 1 + (2 * rng:uniform() - 1) * self.scale or 1.0
  local T = x:shape()[1]
  local need = M.span(L, r)
  local start = T > need and rng:below(T - need + 1) or 0
  return self:apply(ctx, x, L, r, s, start)
end

return M
