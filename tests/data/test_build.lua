--[[
tests/data/test_build.lua - the builder and loader on a subset of the
shipped clips (match=...): cache hit and rebuild rules, tensor shapes and
values recomputed here from the cached bytes (CLIP normalisation, train
mean/std, feature normalisation), frame counts against labels.tsv and the
ffprobe CLI, measured direction/speed/hand on the obvious clips, and the
errors for a missing cache, a corrupt cache, a missing BVH and a bad index.
]]

local t = require "harness"
local vimo = require "vimo"
local data = require "vimo.data"
local media = require "vimo.data.media"
local builder = require "vimo.data.builder"

local cache = os.getenv("VIMO_DATA_CACHE") or t.tmpdir("cache")
local MATCH = table.concat({"dataset-1_walk-back_normal_001", "dataset-1_dash_normal_001", "dataset-1_walk_normal_001",
  "dataset-1_walk-left_normal_001", "dataset-2_wave-left-hand_normal_003", "dataset-2_wave-right-hand_normal_001",
  "dataset-2_raise-up-both-hands_active_001", "dataset-2_walk-turn-left_normal_001", "dataset-2_walk-turn-right_active_002",
  "cmu_09_01", "cmu_07_04", "cmu_13_11"}, ",")
local opt = {cache = cache, match = MATCH, quiet = true}

-- ---- cache rules ------------------------------------------------------------
local r1 = builder.build{cache = cache, match = MATCH, quiet = true, force = true}
t.eq(r1.status, "built", "first (forced) run builds")
t.eq(r1.manifest.n, 12, "clips selected by match")
local r2 = builder.build(opt)
t.eq(r2.status, "cached", "second run is a cache hit")
t.check(r2.seconds < 1.0, "cache hit took %.3f s", r2.seconds)
t.eq(r2.dir, r1.dir, "same folder")
print(("data.build: first run %.2f s, cached %.4f s"):format(r1.seconds, r2.seconds))
local fresh = t.tmpdir("cache1") -- a new folder each run: "built" must mean built now
local small = {cache = fresh, match = "dataset-1_bow_normal_001", quiet = true}
local r3 = builder.build(small)
t.eq(r3.status, "built", "a one-clip build")
t.eq(builder.build(small).status, "cached", "and its cache hit")
local r4 = builder.build{cache = fresh, match = "dataset-1_bow_normal_001", quiet = true, S = 32}
t.check(r4.status == "built" and r4.dir ~= r3.dir, "changing S builds another folder")
t.check(r4.dir:find("S32", 1, true), "S is in the key")
t.eq(builder.build{cache = fresh, match = "dataset-1_bow_normal_001", quiet = true, S = 32, force = true}.status,
  "built", "--force rebuilds")

-- ---- loader -------------------------------------------------------------------
local ds = assert(data.load(opt))
t.eq(#ds.clips, 12, "loaded clips")
local raw = assert(media.msgpack_load(r2.dir .. "/clips.msgpack"))
local by_id = {}
for _, c in ipairs(raw.clips) do by_id[c.id] = c end
local frames = {}
for _, src in ipairs{"dataset-1", "dataset-2"} do
  for line in io.lines(t.root() .. "/data/motion/bandai_namco/" .. src .. "/labels.tsv") do
    local f, n = line:match("^(%S+)%.bvh\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t(%d+)")
    if f then frames[f] = tonumber(n) end
  end
end
local ffprobe = io.popen("command -v ffprobe"):read("l")
for _, c in ipairs(ds.clips) do
  local rc = by_id[c.id]
  t.eq(table.concat(c.motion:shape(), "x"), ("%dx263"):format(c.T), c.id .. ": motion shape")
  t.eq(table.concat(c.video:shape(), "x"), "8x3x64x64", c.id .. ": video shape")
  if frames[c.id] then -- 30 -> 20 fps by interpolation: floor((n-1)*2/3)+1 joints, one fewer feature rows
    t.eq(c.T, (frames[c.id] - 1) * 2 // 3, c.id .. ": feature rows from labels.tsv frames")
  end
  if ffprobe then
    local p = io.popen(("ffprobe -v error -select_streams v:0 -count_frames -show_entries " ..
      "stream=codec_name,width,height,nb_read_frames -of csv=p=0 '%s'"):format(c.video_path))
    local line = p:read("l") or ""
    p:close()
    t.eq(line, ("h264,128,128,%d"):format(c.T), c.id .. ": the MP4 per ffprobe")
  end
  -- CLIP normalisation recomputed from the cached RGB8 crops.
  local crops, S = rc.video.crops, 64
  local v = c.video:totable()
  local mean = {0.48145466, 0.4578275, 0.40821073}
  local std = {0.26862954, 0.26130258, 0.27577711}
  for _, px in ipairs{{1, 1, 1}, {3, 20, 33}, {8, 64, 64}, {5, 40, 10}} do
    local f, y, x = px[1], px[2], px[3]
    for ch = 1, 3 do
      local byte = crops:byte(((f - 1) * S * S + (y - 1) * S + (x - 1)) * 3 + ch)
      t.near(v[f][ch][y][x], (byte / 255 - mean[ch]) / std[ch], 1e-5, c.id .. ": CLIP pixel")
    end
  end
  -- Motion normalisation recomputed from the cached features.
  local mt = c.motion:totable()
  local nm = {string.unpack("<" .. ("f"):rep(263), raw.norm.mean)}
  local ns = {string.unpack("<" .. ("f"):rep(263), raw.norm.std)}
  for _, at in ipairs{{1, 1}, {1, 263}, {c.T, 4}, {(c.T + 1) // 2, 100}} do
    local row, col = at[1], at[2]
    local x = string.unpack("<f", rc.feat, ((row - 1) * 263 + col - 1) * 4 + 1)
    t.near(mt[row][col], (x - nm[col]) / ns[col], 1e-4 * math.max(1, math.abs(mt[row][col])), c.id .. ": normalised")
  end
end

-- Train mean and group std recomputed in Lua over the train clips.
local sum, sq, rows = {}, {}, 0
for _, c in ipairs(raw.clips) do
  if c.split == "train" then
    for r = 0, c.T - 1 do
      for _, col in ipairs{1, 3, 260, 261, 262, 263} do
        local x = string.unpack("<f", c.feat, (r * 263 + col - 1) * 4 + 1)
        sum[col] = (sum[col] or 0) + x
      end
      rows = rows + 1
    end
  end
end
t.eq(raw.norm.rows, rows, "normalisation rows = train frames")
local nm = {string.unpack("<" .. ("f"):rep(263), raw.norm.mean)}
for col, s in pairs(sum) do t.near(nm[col], s / rows, 1e-5, "train mean of dim " .. col) end
local mu = {}
for col in pairs(sum) do mu[col] = sum[col] / rows end
for _, c in ipairs(raw.clips) do
  if c.split == "train" then
    for r = 0, c.T - 1 do
      for _, col in ipairs{1, 260, 261, 262, 263} do
        local x = string.unpack("<f", c.feat, (r * 263 + col - 1) * 4 + 1)
        sq[col] = (sq[col] or 0) + (x - mu[col]) ^ 2
      end
    end
  end
end
local ns = {string.unpack("<" .. ("f"):rep(263), raw.norm.std)}
t.near(ns[1], math.sqrt(sq[1] / rows), 1e-5, "std of the root yaw velocity (a group of one)")
local contacts = 0
for col = 260, 263 do contacts = contacts + math.sqrt(sq[col] / rows) end
for col = 260, 263 do t.near(ns[col], contacts / 4, 1e-5, "foot contacts share the group mean std") end

-- ---- measured answers on the obvious clips -----------------------------------
local function get(id) return assert(ds:get(id), id) end
t.eq(get("dataset-1_walk-back_normal_001").facts.direction.measured, "backward", "walk-back moves backward")
t.eq(get("dataset-1_dash_normal_001").facts.speed, "fast", "dash is fast")
t.eq(get("cmu_09_01").facts.speed, "fast", "CMU run is fast")
t.eq(get("dataset-1_walk_normal_001").facts.speed, "moderate", "a normal walk is moderate")
t.eq(get("dataset-1_walk_normal_001").facts.direction.measured, "forward", "a walk moves forward")
t.eq(get("cmu_13_11").facts.direction.measured, "forward", "CMU forward jump moves forward")
t.check(get("dataset-1_walk-left_normal_001").stats.dx > 0.5, "walk-left ends up to the left (+X)")
t.check(get("dataset-2_walk-turn-left_normal_001").stats.dx > 0.5, "turn-left ends up to the left")
t.check(get("dataset-2_walk-turn-right_active_002").stats.dx < -0.5, "turn-right ends up to the right")
local wl, wr = get("dataset-2_wave-left-hand_normal_003").stats, get("dataset-2_wave-right-hand_normal_001").stats
t.check(wl.lwrist > wl.rwrist + 0.3, "wave-left-hand raises the left wrist (%.2f vs %.2f)", wl.lwrist, wl.rwrist)
t.check(wr.rwrist > wr.lwrist + 0.3, "wave-right-hand raises the right wrist (%.2f vs %.2f)", wr.rwrist, wr.lwrist)
local rb = get("dataset-2_raise-up-both-hands_active_001").stats
t.check(rb.lwrist > 0.5 and rb.rwrist > 0.5, "raise-up-both-hands raises both")
for _, c in ipairs(ds.clips) do
  t.check(c.facts.direction.agree, "%s: label %s vs measured %s", c.id, tostring(c.facts.direction.label),
    c.facts.direction.measured)
  for _, x in ipairs(c.qa) do
    if x.category == "body_part" then t.check(c.id:find("hand", 1, true), "%s: body_part on a hand clip", c.id) end
    if x.category == "speed" then t.eq(x.answer, c.facts.speed, c.id .. ": speed answer") end
  end
end

-- ---- dataset API ------------------------------------------------------------
local n = ds:counts()
t.eq(n.train + n.val + n.test, 12, "counts")
local ta = ds:train_answers()
t.eq(#ta.action, n.train, "one action answer per train clip")
t.eq(#ta.hallucination, 2 * n.train, "two hallucination answers per train clip")
t.eq(table.concat(ds.categories, ","), "action,body_part,direction,hallucination,speed,style", "categories")
t.eq(#ds:split("test"), n.test, "split()")

-- ---- errors -------------------------------------------------------------------
local empty = t.tmpdir("empty")
t.fails_with("run `vimo data build`", "no cache and build = false", data.load, {cache = empty, build = false})
local f = io.open(r4.dir .. "/clips.msgpack", "r+b")
f:seek("set", 0) -- the top-level map header
f:write("\xc1")
f:close()
t.fails_with("never-used byte", "corrupt cache",
  data.load, {cache = fresh, match = "dataset-1_bow_normal_001", S = 32, build = false})

-- A fake data folder: a BVH that does not exist, then a bad labels.tsv row.
local root = t.tmpdir("root")
for _, d in ipairs{"/data/motion/bandai_namco/dataset-1", "/data/motion/bandai_namco/dataset-2", "/data/motion/cmu_mocap"} do
  assert(vimo.mkdir(root .. d))
end
local function write(p, s)
  local h = assert(io.open(root .. p, "w"))
  h:write(s)
  h:close()
end
local header = "file\tcontent\tstyle\tcontent_id\tstyle_id\tframes\tseconds\n"
write("/data/motion/bandai_namco/dataset-1/labels.tsv", header .. "dataset-1_bow_happy_001.bvh\tbow\thappy\t6\t1\t90\t3.0\n")
write("/data/motion/bandai_namco/dataset-2/labels.tsv", header)
write("/data/motion/cmu_mocap/clips.tsv", "file\tmotion_id\tdescription\tsubject\tframes\tframe_time\n")
t.raises("dataset-1_bow_happy_001.bvh.gz", "a missing BVH is named", builder.build,
  {root = root, cache = root .. "/cache", quiet = true})
write("/data/motion/bandai_namco/dataset-1/labels.tsv", header .. "dataset-1_bow_happy_001.bvh\tbow\n")
t.raises("labels.tsv:2: 2 columns", "a short labels.tsv row is named by line", builder.build,
  {root = root, cache = root .. "/cache", quiet = true})

t.done("data.build")
