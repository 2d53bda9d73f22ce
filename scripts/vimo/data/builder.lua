--[[
vimo/data/builder.lua - builds the cached dataset of the shipped clips.

  local builder = require "vimo.data.builder"
  local r = builder.build{root = ROOT, force = false}   -- r.status "built" | "cached"
  local path = builder.paths(opt).dir                   -- the cache folder

For every clip of index.list(root): BVH -> FK -> retarget -> 263-d
features at `fps` (motion library), joints recovered from the features
rendered to an MP4 of render x render pixels at `fps` (video library),
F frames sampled back from that MP4 with the FFmpeg reader (short side ->
S, centre crop; stored as RGB8, CLIP-normalised by the loader), the
trajectory statistics, then captions and QA (text.lua). Clips run in
parallel in C (media.process, `threads` workers), longest first.

Cache folder: <cache>/data-v<VERSION>-F<F>-S<S>-fps<fps>-r<render>[-...]/
  clips.msgpack     every clip record + train mean/std (written first)
  manifest.msgpack  key, options, counts, build time (written last: a
                    build that dies leaves no manifest, so it is redone)
  video/<id>.mp4    the rendered paired videos
The key (the folder name and the manifest's "key") holds the builder
VERSION and every option that changes the content, so changing one
builds a new folder; --force rebuilds the folder in place.
Does not load tensors: init.lua's load() does.
]]

local vimo = require "vimo"
local media = require "vimo.data.media"
local index = require "vimo.data.index"
local text = require "vimo.data.text"

local M = {}

-- Bump when the content of a record changes (features, text, QA, layout).
M.VERSION = 1
M.MAGIC = "vimo-data"
M.DEFAULTS = {F = 8, S = 64, fps = 20, render = 128, captions = 5} -- threads: vimo.threads() when called

local function script_root()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)/scripts/vimo/data/builder%.lua$")
  return dir
end

--- The repository root: opt.root, $VIMO_ROOT, or the tree this file is in.
function M.root(opt)
  return (opt and opt.root) or os.getenv("VIMO_ROOT") or script_root() or "."
end

--- Options with defaults filled in and checked (raises on misuse).
function M.options(opt)
  opt = opt or {}
  local o = {}
  for k, v in pairs(M.DEFAULTS) do o[k] = opt[k] == nil and v or opt[k] end
  o.threads = opt.threads or math.max(1, vimo.threads())
  for _, k in ipairs{"F", "S", "render", "threads", "captions"} do
    if math.type(o[k]) ~= "integer" or o[k] < 1 then
      error(("data: option %s must be a positive integer, got %s"):format(k, tostring(o[k])), 0)
    end
  end
  if type(o.fps) ~= "number" or o.fps <= 0 or o.fps > 240 then error("data: option fps must be in (0, 240]", 0) end
  if o.render % 2 ~= 0 or o.render < 16 then error("data: option render must be even and >= 16", 0) end
  o.limit = opt.limit
  if o.limit ~= nil and (math.type(o.limit) ~= "integer" or o.limit < 1) then
    error("data: option limit must be a positive integer", 0)
  end
  o.match = opt.match
  if o.match ~= nil and type(o.match) ~= "string" then error("data: option match must be a string", 0) end
  o.root = M.root(opt)
  o.cache = opt.cache or os.getenv("VIMO_DATA_CACHE") or (o.root .. "/.cache/vimo")
  o.force = opt.force and true or false
  o.quiet = (opt.quiet or os.getenv("VIMO_PROGRESS") == "off") and true or false
  return o
end

--- The key of a build and its folder and file paths.
function M.paths(o)
  local key = ("data-v%d-F%d-S%d-fps%s-r%d"):format(M.VERSION, o.F, o.S, tostring(o.fps):gsub("%.0$", ""), o.render)
  if o.captions ~= M.DEFAULTS.captions then key = key .. "-c" .. o.captions end
  if o.limit then key = key .. "-limit" .. o.limit end
  if o.match then key = key .. "-m" .. ("%08x"):format(index.fnv1a32(o.match)) end
  local dir = o.cache .. "/" .. key
  return {key = key, dir = dir, manifest = dir .. "/manifest.msgpack", clips = dir .. "/clips.msgpack",
          video = dir .. "/video"}
end

--- The entries a build covers: all, or those whose id contains one of
-- the comma-separated strings of o.match (plain text), then o.limit of them spread
-- evenly over the list, first and last included (so a subset still spans
-- the sources and the splits).
function M.select(o)
  local all = index.list(o.root)
  local out = {}
  for _, e in ipairs(all) do
    local keep = o.match == nil
    for part in (o.match or ""):gmatch("[^,]+") do
      if e.id:find(part, 1, true) then keep = true end
    end
    if keep then out[#out + 1] = e end
  end
  if o.limit and o.limit < #out then
    local sub = {}
    for k = 1, o.limit do sub[k] = out[o.limit == 1 and 1 or (k - 1) * (#out - 1) // (o.limit - 1) + 1] end
    out = sub
  end
  return out
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- The manifest of a finished build with this key, or nil.
function M.cached(o)
  local p = M.paths(o)
  if not file_exists(p.clips) then return nil end
  local man = media.msgpack_load(p.manifest)
  if type(man) ~= "table" or man.magic ~= M.MAGIC or man.key ~= p.key or man.version ~= M.VERSION then return nil end
  return man, p
end

-- HumanML3D's recipe (cal_mean_variance): one std per feature group, the
-- mean of the per-dimension stds of the group; groups of the 263-d layout.
local GROUPS = {{1, 1}, {2, 3}, {4, 4}, {5, 67}, {68, 193}, {194, 259}, {260, 263}}

local function group_std(std_blob)
  local s = {string.unpack(("<" .. ("f"):rep(263)), std_blob)}
  for _, g in ipairs(GROUPS) do
    local sum = 0
    for k = g[1], g[2] do sum = sum + s[k] end
    local v = sum / (g[2] - g[1] + 1)
    if not (v > 1e-8) then v = 1 end -- a constant group: leave it unscaled
    for k = g[1], g[2] do s[k] = v end
  end
  return string.pack(("<" .. ("f"):rep(263)), table.unpack(s, 1, 263))
end

--- Mean and std (f32 blobs) of feature blobs, the std group-averaged as
-- HumanML3D's recipe does (std_raw: per dimension); `from` says which clips.
function M.normalisation(blobs, from)
  local mean, std, rows = media.feature_stats(blobs, media.feature_dim)
  return {mean = mean, std = group_std(std), std_raw = std, rows = rows, from = from}
end

-- Processes the entries with media.process, longest first, reporting
-- progress; returns results keyed like entries. Raises on a failed clip.
local function run_pipeline(entries, o, p)
  local order = {}
  for i = 1, #entries do order[i] = i end
  table.sort(order, function(a, b)
    local ea, eb = entries[a], entries[b]
    local la = (ea.src_frames or 0) / (ea.source == "cmu" and 120 or 30)
    local lb = (eb.src_frames or 0) / (eb.source == "cmu" and 120 or 30)
    if la ~= lb then return la > lb end
    return a < b
  end)
  local results, chunk, done = {}, 8 * o.threads, 0
  local tty = vimo.isatty("stderr")
  local t0 = vimo.now()
  for first = 1, #order, chunk do
    local jobs, ids = {}, {}
    for k = first, math.min(first + chunk - 1, #order) do
      local e = entries[order[k]]
      jobs[#jobs + 1] = {bvh = e.file, mp4 = ("%s/%s.mp4"):format(p.video, e.id)}
      ids[#ids + 1] = order[k]
    end
    local res = media.process(jobs, {fps = o.fps, frames = o.F, size = o.S, width = o.render, height = o.render,
                                     threads = o.threads})
    for k, r in ipairs(res) do
      local e = entries[ids[k]]
      if not r.ok then error(("data: %s: %s"):format(e.file, r.err), 0) end
      results[ids[k]] = r
    end
    local before = done
    done = done + #jobs
    if not o.quiet and tty then
      io.stderr:write(("\rdata: %d/%d clips, %.1f s"):format(done, #order, vimo.now() - t0))
      io.stderr:flush()
    elseif not o.quiet and (done == #order or done * 4 // #order > before * 4 // #order) then
      io.stderr:write(("data: %d/%d clips, %.1f s\n"):format(done, #order, vimo.now() - t0))
    end
  end
  if not o.quiet and tty then io.stderr:write("\n") end
  return results
end

-- The cache record of one clip.
local function record(e, r, o)
  local m = text.measure(r.stats)
  local f = text.facts(e, m)
  local labels = {}
  for k, v in pairs(e.labels) do labels[k] = v end
  return {
    id = e.id, source = e.source, take = e.take, split = e.split, group = e.group,
    file = e.file:sub(#o.root + 2), labels = labels,
    facts = {action = f.action, style = f.style and f.style.answer, hand = f.hand,
             direction = f.direction, speed = f.speed, speed_mps = m.speed_mps},
    stats = r.stats, T = r.T, src_fps = r.src_fps, src_frames = r.src_frames,
    feat = media.bin(r.feat),
    video = {path = ("video/%s.mp4"):format(e.id), F = o.F, S = o.S, -- relative to the cache folder
             crops = media.bin(r.crops), times = r.times},
    captions = text.captions(e, f, o.captions),
    qa = text.qa(e, f),
  }
end

-- Counts for the manifest and `vimo data info`.
local function summarize(recs)
  local s = {splits = {}, sources = {}, qa = {}, answers = {}, answers_split = {}, disagree = {}}
  for _, r in ipairs(recs) do
    s.splits[r.split] = (s.splits[r.split] or 0) + 1
    local key = r.source .. "/" .. r.split
    s.sources[key] = (s.sources[key] or 0) + 1
    for _, x in ipairs(r.qa) do
      local k = x.category .. "/" .. r.split
      s.qa[k] = (s.qa[k] or 0) + 1
      local a = x.category .. "/" .. x.answer
      s.answers[a] = (s.answers[a] or 0) + 1
      local b = a .. "/" .. r.split
      s.answers_split[b] = (s.answers_split[b] or 0) + 1
    end
    if not r.facts.direction.agree then s.disagree[#s.disagree + 1] = r.id end
  end
  return s
end

--- Builds (or finds) the dataset. opt: root, cache, F, S, fps, render,
-- threads, captions, limit, match, force, quiet. Returns {status =
-- "built" | "cached", seconds, dir, manifest}.
function M.build(opt)
  local o = M.options(opt)
  local t0 = vimo.now()
  if not o.force then
    local man, p = M.cached(o)
    if man then return {status = "cached", seconds = vimo.now() - t0, dir = p.dir, manifest = man} end
  end
  local p = M.paths(o)
  assert(vimo.mkdir(p.video))
  os.remove(p.manifest) -- no manifest until the new clips file is complete
  local entries = M.select(o)
  if #entries == 0 then error("data: no clip selected (check match= and the data folder)", 0) end
  for _, e in ipairs(entries) do text.check(e) end
  local results = run_pipeline(entries, o, p)
  local recs, train = {}, {}
  local cpu = {motion = 0, render = 0, read = 0} -- per-stage time summed over clips, s
  for i, e in ipairs(entries) do
    recs[i] = record(e, results[i], o)
    for k, ms in pairs(results[i].ms) do cpu[k] = cpu[k] + ms / 1000 end
    if e.split == "train" then train[#train + 1] = results[i].feat end
  end
  if #train == 0 then -- a tiny subset without train clips: normalise with all
    for i = 1, #entries do train[i] = results[i].feat end
  end
  local norm = M.normalisation(train, #train == #entries and "all" or "train")
  local seconds = vimo.now() - t0
  local saved = {mean = media.bin(norm.mean), std = media.bin(norm.std), std_raw = media.bin(norm.std_raw),
                 rows = norm.rows, from = norm.from}
  assert(media.msgpack_save(p.clips, {magic = M.MAGIC, version = M.VERSION, key = p.key, norm = saved, clips = recs}))
  local man = {magic = M.MAGIC, version = M.VERSION, key = p.key, created = os.date("!%Y-%m-%dT%H:%M:%SZ"),
               build_seconds = seconds, stage_seconds = cpu, n = #recs, summary = summarize(recs),
               options = {F = o.F, S = o.S, fps = o.fps, render = o.render, captions = o.captions, limit = o.limit,
                          match = o.match, threads = o.threads}}
  assert(media.msgpack_save(p.manifest, man))
  return {status = "built", seconds = vimo.now() - t0, dir = p.dir, manifest = man}
end

return M
