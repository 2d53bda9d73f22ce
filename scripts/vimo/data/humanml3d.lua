--[[
vimo/data/humanml3d.lua - a folder in the HumanML3D layout as vimo clips.

  local ds = assert(require("vimo.data").humanml3d("path/to/HumanML3D", {render = true}))

Layout (EricGuo5513/HumanML3D, and its text_mot_match data loader):
  new_joint_vecs/<name>.npy   features (T, 263) float32, 20 fps
  texts/<name>.txt            lines "caption#tokens#start#end" (seconds)
  train.txt, val.txt, test.txt  one <name> per line (missing files: no clips)
  Mean.npy, Std.npy           (optional) the normalisation of the folder
As HumanML3D's loader does: captions with start = end = 0 describe the
whole motion; others describe rows [floor(start * 20), floor(end * 20)),
which become a clip of their own, "<name>#<start>-<end>"; clips shorter
than min_frames (40) or not shorter than max_frames (200) are skipped and
counted in ds.skipped. Normalisation: the folder's Mean.npy / Std.npy when
both exist, else the train clips' statistics (builder.normalisation).
Labels are unknown, so QA is only the measured direction and speed
(text.lua); video: joints recovered from the features rendered like the
shipped clips (render = false: no video). Options: F, S, render (pixels,
or false), threads, cache (folder for the MP4s), min_frames, max_frames,
splits ({"train", "val", "test"}).
Expected failures (missing folder, file, bad line, bad array) return nil,
"humanml3d: FILE:LINE: what".
]]

local vimo = require "vimo"
local media = require "vimo.data.media"
local builder = require "vimo.data.builder"
local text = require "vimo.data.text"
local index = require "vimo.data.index"

local M = {}

local FPS = 20

local function read_lines(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local out = {}
  for line in f:lines() do out[#out + 1] = (line:gsub("\r$", "")) end
  f:close()
  return out
end

-- Captions of texts/<name>.txt grouped by span: {{f0 =, f1 =, start =,
-- stop =, captions = {...}}, ...}, whole-motion span first (f1 = nil).
local function read_texts(path)
  local lines, err = read_lines(path)
  if not lines then return nil, ("humanml3d: %s: %s"):format(path, err) end
  local spans, by_key = {}, {}
  for n, line in ipairs(lines) do
    if line:match("%S") then
      local cap, _, a, b = line:match("^(.-)#(.-)#([^#]*)#([^#]*)$")
      local start, stop = tonumber(a), tonumber(b)
      if not cap or not start or not stop then
        return nil, ("humanml3d: %s:%d: expected caption#tokens#start#end"):format(path, n)
      end
      if start ~= start then start = 0.0 end -- NaN reads as 0.0, as in the recipe
      if stop ~= stop then stop = 0.0 end
      local whole = start == 0.0 and stop == 0.0
      local key = whole and "whole" or ("%g-%g"):format(start, stop)
      if not by_key[key] then
        by_key[key] = {start = start, stop = stop, captions = {}, whole = whole,
                       f0 = whole and 0 or math.floor(start * FPS), f1 = not whole and math.floor(stop * FPS) or nil}
        spans[#spans + 1] = by_key[key]
      end
      table.insert(by_key[key].captions, cap)
    end
  end
  table.sort(spans, function(x, y) return (x.whole and 0 or 1) < (y.whole and 0 or 1) or
    (x.whole == y.whole and x.f0 < y.f0) end)
  return spans
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The folder's Mean.npy / Std.npy as f32 blobs, or nil.
local function folder_norm(dir)
  if not (file_exists(dir .. "/Mean.npy") and file_exists(dir .. "/Std.npy")) then return nil end
  local mean, ms = media.npy_load(dir .. "/Mean.npy")
  if not mean then return nil, "humanml3d: " .. ms end
  local std, ss = media.npy_load(dir .. "/Std.npy")
  if not std then return nil, "humanml3d: " .. ss end
  if #ms ~= 1 or ms[1] ~= media.feature_dim or #ss ~= 1 or ss[1] ~= media.feature_dim then
    return nil, ("humanml3d: %s/Mean.npy and Std.npy must have shape (%d)"):format(dir, media.feature_dim)
  end
  return {mean = mean, std = std, from = "folder"}
end

-- The records (blobs, text) of every clip; nil, message on a bad file.
local function collect(dir, o)
  local recs, skipped = {}, 0
  local any = false
  for _, split in ipairs(o.splits) do
    local names = read_lines(("%s/%s.txt"):format(dir, split))
    if names then
      any = true
      for _, name in ipairs(names) do
        name = name:match("^%s*(.-)%s*$")
        if name ~= "" then
          local spans, err = read_texts(("%s/texts/%s.txt"):format(dir, name))
          if not spans then return nil, err end
          local path = ("%s/new_joint_vecs/%s.npy"):format(dir, name)
          local blob, shape = media.npy_load(path)
          if not blob then return nil, "humanml3d: " .. shape end
          if #shape ~= 2 or shape[2] ~= media.feature_dim then
            return nil, ("humanml3d: %s: features must be (T, %d)"):format(path, media.feature_dim)
          end
          local row = media.feature_dim * 4
          for _, sp in ipairs(spans) do
            local f1 = math.min(sp.f1 or shape[1], shape[1])
            local n = f1 - sp.f0
            if n < o.min_frames or n >= o.max_frames then
              skipped = skipped + 1
            else
              recs[#recs + 1] = {
                id = sp.whole and name or ("%s#%g-%g"):format(name, sp.start, sp.stop),
                source = "humanml3d", take = name, split = split, group = name,
                labels = {name = name, start = sp.start, stop = sp.stop},
                feat = blob:sub(sp.f0 * row + 1, f1 * row), T = n, captions = sp.captions,
              }
            end
          end
        end
      end
    end
  end
  if not any then return nil, ("humanml3d: %s: none of %s.txt found"):format(dir, table.concat(o.splits, ".txt, ")) end
  return recs, skipped
end

local function options(opt)
  opt = opt or {}
  local o = {F = opt.F or 8, S = opt.S or 64, render = opt.render == nil and 128 or opt.render,
             threads = opt.threads or 2, min_frames = opt.min_frames or 40, max_frames = opt.max_frames or 200,
             splits = opt.splits or index.SPLITS}
  if o.render and (math.type(o.render) ~= "integer" or o.render < 16 or o.render % 2 ~= 0) then
    error("humanml3d: option render must be an even integer >= 16, or false", 3)
  end
  o.cache = opt.cache or (builder.root(opt) .. "/.cache/vimo")
  return o
end

--- Loads the folder (see the banner): a Dataset as data.load gives, or
-- nil and a message.
function M.load(dir, opt)
  local o = options(opt)
  local recs, skipped = collect(dir, o)
  if not recs then return nil, skipped end
  if #recs == 0 then return nil, ("humanml3d: %s: no clip within %d..%d frames"):format(dir, o.min_frames, o.max_frames - 1) end
  -- One folder of MP4s per source folder and render size.
  local vdir = ("%s/humanml3d-%08x-r%s-F%d-S%d"):format(o.cache, index.fnv1a32(dir), tostring(o.render), o.F, o.S)
  if o.render then assert(vimo.mkdir(vdir)) end
  local jobs = {}
  for i, r in ipairs(recs) do
    jobs[i] = {feat_blob = r.feat, name = r.id, mp4 = o.render and ("%s/%s.mp4"):format(vdir, r.id:gsub("[/#]", "_")) or nil}
  end
  local res = media.process(jobs, {fps = FPS, frames = o.F, size = o.S, width = o.render or 128,
                                   height = o.render or 128, threads = o.threads})
  local train = {}
  for i, r in ipairs(recs) do
    local x = res[i]
    if not x.ok then return nil, "humanml3d: " .. x.err end
    local m = text.measure(x.stats)
    r.stats, r.facts = x.stats, {direction = {measured = m.direction, answer = m.direction}, speed = m.speed,
                                 speed_mps = m.speed_mps}
    r.qa = text.qa_measured(r.id, m)
    if o.render then r.video = {path = jobs[i].mp4, F = o.F, S = o.S, crops = x.crops, times = x.times} end
    if r.split == "train" then train[#train + 1] = r.feat end
  end
  local norm, err = folder_norm(dir)
  if err then return nil, err end
  if not norm then
    local all = {}
    for i, r in ipairs(recs) do all[i] = r.feat end
    norm = builder.normalisation(#train > 0 and train or all, #train > 0 and "train" or "all")
  end
  local ds = require("vimo.data").finish(recs, norm, opt)
  ds.skipped, ds.dir = skipped, dir
  return ds
end

return M
