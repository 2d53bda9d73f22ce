--[[
vimo/data - the datasets the experiments train and evaluate on.

  local data = require "vimo.data"
  local ds = assert(data.load{})              -- shipped clips (builds the cache if needed)
  for _, clip in ipairs(ds:split("train")) do
    -- clip.motion: tensor (T, 263), normalised with the train mean/std
    -- clip.video:  tensor (F, 3, S, S), CLIP-normalised frames
    -- clip.captions: {"a person walks forward cheerfully.", ...}
    -- clip.qa: {{question =, answer =, category =}, ...}
  end
  ds.categories                 -- {"action", "body_part", ...} (sorted)
  ds:train_answers()            -- {category = {answer, ...}} for the majority baseline
  ds:holdout(k, n)              -- cross-validation: fold k of n of train becomes val
  ds.mean, ds.std               -- tensors (263): motion = (features - mean) / std

  data.humanml3d(dir, opt)      -- a HumanML3D-layout folder (humanml3d.lua)
  data.movid(json, opt)         -- MoVid / LLaVA-style QA JSON (movid.lua)

A clip: {id, source, take, split, labels, facts, T, motion, video,
video_path, captions, qa, stats}. Options of load: those of
builder.build (root, cache, F, S, fps, render, threads, captions, limit,
match, force, quiet) and build = true (build when the cache is missing;
false: fail instead), motion = true, video = true (make the tensors).
Expected failures (no cache and build = false, an unreadable cache)
return nil, message. Does not shuffle or batch: the trainer does.
]]

local media = require "vimo.data.media"
local builder = require "vimo.data.builder"
local index = require "vimo.data.index"

local M = {}

M.builder = builder

local Dataset = {}
Dataset.__index = Dataset

--- The clips of one split ("train", "val", "test"), in dataset order.
function Dataset:split(name)
  local out = {}
  for _, c in ipairs(self.clips) do
    if c.split == name then out[#out + 1] = c end
  end
  return out
end

--- Cross-validation over the training takes: fold k (1..n) of the train
-- split becomes the val split and the rest stays train; the shipped val
-- clips are set aside (split "val_set_aside") and the test split is not
-- touched. A clip's fold is FNV-1a 32 of "fold/<key>" mod n, the key
-- being its id up to any '#' (a HumanML3D caption span, <name>#<start>-<end>,
-- goes with its motion), so the folds are fixed, about equal, and
-- independent of the split rule (index.lua).
-- Every split-reading function (split, train_answers, counts) then sees
-- the new assignment. The feature normalisation (mean, std) is not
-- recomputed: it stays that of the whole train split, an unsupervised
-- statistic. Once per dataset; a fold with no training clip is refused.
-- Returns the number of held-out clips, or nil and a message.
function Dataset:holdout(k, n)
  if math.type(k) ~= "integer" or math.type(n) ~= "integer" or n < 2 or k < 1 or k > n then
    return nil, ("data: holdout fold %s of %s: want integers 1 <= k <= n and n >= 2"):format(tostring(k), tostring(n))
  end
  if self.holdout_fold then
    return nil, ("data: holdout fold %d of %d: this dataset already holds out fold %d of %d"):format(
      k, n, self.holdout_fold.k, self.holdout_fold.n)
  end
  local held = {}
  for _, c in ipairs(self.clips) do
    if c.split == "train" and index.fnv1a32("fold/" .. (c.id:gsub("#.*$", ""))) % n == k - 1 then held[c] = true end
  end
  if next(held) == nil then
    return nil, ("data: holdout fold %d of %d holds no training clip (too few clips for %d folds)"):format(k, n, n)
  end
  local moved = 0
  for _, c in ipairs(self.clips) do
    if c.split == "val" then
      c.split = "val_set_aside"
    elseif held[c] then
      c.split, moved = "val", moved + 1
    end
  end
  self.holdout_fold = {k = k, n = n}
  return moved
end

--- The clip with this id, or nil.
function Dataset:get(id)
  for _, c in ipairs(self.clips) do
    if c.id == id then return c end
  end
  return nil
end

--- Train answers per category: {category = {answer, ...}}, or the list
-- of one category when given. Feed these to the QA evaluator's
-- add_train for the majority-answer baseline.
function Dataset:train_answers(category)
  local out = {}
  for _, c in ipairs(self.clips) do
    if c.split == "train" then
      for _, x in ipairs(c.qa) do
        out[x.category] = out[x.category] or {}
        table.insert(out[x.category], x.answer)
      end
    end
  end
  if category then return out[category] or {} end
  return out
end

--- Number of clips per split: {train =, val =, test =} (and
-- val_set_aside after a holdout).
function Dataset:counts()
  local n = {train = 0, val = 0, test = 0}
  for _, c in ipairs(self.clips) do n[c.split] = (n[c.split] or 0) + 1 end
  return n
end

-- Sorted list of the QA categories present.
local function categories(clips)
  local seen, out = {}, {}
  for _, c in ipairs(clips) do
    for _, x in ipairs(c.qa) do
      if not seen[x.category] then
        seen[x.category] = true
        out[#out + 1] = x.category
      end
    end
  end
  table.sort(out)
  return out
end

--- Turns records with raw blobs (feat: f32 (T, 263); crops: u8 (F, S, S, 3))
-- into clips with tensors, normalising motion with norm.mean/norm.std (f32
-- blobs). opt: motion, video (false: no tensors), base (folder that
-- relative video paths are in). Shared by every loader.
function M.finish(recs, norm, opt)
  opt = opt or {}
  local ds = setmetatable({clips = {}, norm_from = norm.from}, Dataset)
  ds.mean = media.tensor_f32(norm.mean, {media.feature_dim})
  ds.std = media.tensor_f32(norm.std, {media.feature_dim})
  for i, r in ipairs(recs) do
    local c = {id = r.id, source = r.source, take = r.take, split = r.split, labels = r.labels, facts = r.facts,
               T = r.T, captions = r.captions, qa = r.qa, stats = r.stats, group = r.group}
    if opt.motion ~= false and r.feat then
      c.motion = media.tensor_f32(r.feat, {r.T, media.feature_dim}, norm.mean, norm.std)
    end
    if r.video then
      local vp = r.video.path
      c.video_path = (vp and opt.base and vp:sub(1, 1) ~= "/") and (opt.base .. "/" .. vp) or vp
      if opt.video ~= false and r.video.crops then
        c.video = media.video_tensor(r.video.crops, r.video.F, r.video.S)
      end
    end
    ds.clips[i] = c
  end
  ds.categories = categories(ds.clips)
  return ds
end

--- Loads the shipped dataset (see the banner). Returns a Dataset, or nil
-- and a message.
function M.load(opt)
  opt = opt or {}
  local o = builder.options(opt)
  local man, p = builder.cached(o)
  if not man or o.force then
    if opt.build == false then
      return nil, ("data: no dataset cache at %s (run `vimo data build`)"):format(builder.paths(o).dir)
    end
    local r = builder.build(opt)
    man, p = r.manifest, builder.paths(o)
  end
  local blob, err = media.msgpack_load(p.clips)
  if not blob then return nil, err end
  if blob.magic ~= builder.MAGIC or blob.key ~= p.key then
    return nil, ("data: %s is not the dataset %s (rebuild with --force)"):format(p.clips, p.key)
  end
  local fopt = {motion = opt.motion, video = opt.video, base = p.dir}
  local ds = M.finish(blob.clips, blob.norm, fopt)
  ds.manifest, ds.dir, ds.root = man, p.dir, o.root
  return ds
end

function M.humanml3d(dir, opt) return require("vimo.data.humanml3d").load(dir, opt) end
function M.movid(path, opt) return require("vimo.data.movid").load(path, opt) end

return M
