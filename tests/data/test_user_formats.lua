--[[
tests/data/test_user_formats.lua - the HumanML3D-layout and MoVid JSON
loaders on the fixtures in tests/data/fixtures/ (made-up captions and
questions over the shipped HumanML3D sample 012314 and the mmaction2
clips), and their error messages. Expected values are worked out from the
fixture files by hand (170 frames at 20 fps; spans [40, 100), [20, 50)
skipped as < 40 frames, [120, 170) clamped), and the normalisation is
recomputed from Mean.npy / Std.npy parsed here.
]]

local t = require "harness"
local vimo = require "vimo"
local data = require "vimo.data"
local index = require "vimo.data.index"

local FIX = t.root() .. "/tests/data/fixtures"
local cache = os.getenv("VIMO_DATA_CACHE") or t.tmpdir("cache")

-- A float32 .npy parsed here (little-endian '<f4', C order).
local function read_npy(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  local hl = string.unpack("<I2", s, 9)
  return s, 10 + hl + 1
end

-- ---- HumanML3D layout ---------------------------------------------------------
local ds = assert(data.humanml3d(FIX .. "/humanml3d", {cache = cache}))
local want = {{"000001", "train", 170, 2}, {"000001#2-5", "train", 60, 1}, {"000002", "val", 170, 1},
              {"000003", "test", 170, 1}, {"000003#6-12", "test", 50, 1}}
t.eq(#ds.clips, #want, "clips")
t.eq(ds.skipped, 1, "the 30-frame span is skipped")
t.eq(ds.norm_from, "folder", "Mean.npy / Std.npy of the folder")
for i, w in ipairs(want) do
  local c = ds.clips[i]
  if c then
    t.eq(c.id, w[1], "id")
    t.eq(c.split, w[2], c.id .. " split")
    t.eq(c.T, w[3], c.id .. " frames")
    t.eq(#c.captions, w[4], c.id .. " captions")
    t.eq(table.concat(c.motion:shape(), "x"), w[3] .. "x263", c.id .. " motion")
    t.eq(table.concat(c.video:shape(), "x"), "8x3x64x64", c.id .. " video")
    t.eq(#c.qa, 2, c.id .. ": measured QA only")
    for _, x in ipairs(c.qa) do t.check(x.category == "direction" or x.category == "speed", "category %s", x.category) end
  end
end
t.eq(ds.clips[2].captions[1], "the person lifts both hands above the head.", "span caption")
-- Normalisation: (x - Mean) / Std with the folder's arrays, parsed here.
local feats, fo = read_npy(FIX .. "/humanml3d/new_joint_vecs/000001.npy")
local mean, mo = read_npy(FIX .. "/humanml3d/Mean.npy")
local std, so = read_npy(FIX .. "/humanml3d/Std.npy")
local m1 = ds.clips[1].motion:totable()
for _, at in ipairs{{1, 1}, {7, 100}, {170, 263}, {41, 5}} do
  local r, c = at[1], at[2]
  local x = string.unpack("<f", feats, fo + ((r - 1) * 263 + c - 1) * 4)
  local mu = string.unpack("<f", mean, mo + (c - 1) * 4)
  local sd = string.unpack("<f", std, so + (c - 1) * 4)
  t.near(m1[r][c], (x - mu) / sd, 1e-4 * math.max(1, math.abs(m1[r][c])), ("row %d col %d"):format(r, c))
end
-- The 2.0-5.0 s span is rows 41..100 (1-based) of the whole motion.
local m2 = ds.clips[2].motion:totable()
for _, k in ipairs{1, 30, 60} do
  t.eq(m2[k][10], m1[40 + k][10], ("span row %d = motion row %d"):format(k, 40 + k))
end
local m5 = ds.clips[5].motion:totable()
t.eq(m5[50][200], m1[170][200], "the clamped span ends at the last frame")

-- Errors name the file (and line).
t.fails_with("none of train.txt", "no split files", data.humanml3d, FIX .. "/nothing")
local tmp = t.tmpdir("hml")
assert(vimo.mkdir(tmp .. "/texts"))
assert(vimo.mkdir(tmp .. "/new_joint_vecs"))
local function write(p, s)
  local f = assert(io.open(tmp .. "/" .. p, "wb"))
  f:write(s)
  f:close()
end
write("train.txt", "a\n")
t.fails_with("texts/a.txt", "a missing texts file", data.humanml3d, tmp, {render = false})
write("texts/a.txt", "a person walks.#a/DET#0.0#0.0\njust a caption without tags\n")
t.fails_with("texts/a.txt:2: expected caption#tokens#start#end", "a bad line", data.humanml3d, tmp, {render = false})
write("texts/a.txt", "a person walks.#a/DET#0.0#0.0\n")
t.fails_with("new_joint_vecs/a.npy", "a missing array", data.humanml3d, tmp, {render = false})
local hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (50, 4), }"
hdr = hdr .. (" "):rep(64 - 10 - #hdr - 1) .. "\n"
write("new_joint_vecs/a.npy", "\x93NUMPY\1\0" .. string.pack("<I2", #hdr) .. hdr .. ("\0"):rep(50 * 4 * 4))
t.fails_with("features must be (T, 263)", "a wrong shape", data.humanml3d, tmp, {render = false})

-- ---- MoVid JSON -------------------------------------------------------------------
local mv = assert(data.movid(FIX .. "/movid/movid.json", {cache = cache}))
t.eq(#mv.clips, 3, "items")
local k = mv:get("kinetics_demo")
t.eq(k.split, "test", "split from the item")
t.eq(#k.qa, 2, "two QA pairs")
t.eq(k.qa[1].question, "What are the people in the video doing?", "<video> tag stripped")
t.eq(k.qa[1].answer, "arm wrestling", "answer")
t.eq(k.qa[1].category, "action", "category")
t.eq(k.captions[1], "Two people arm wrestle across a table.", "describe answer becomes a caption")
t.eq(table.concat(k.video:shape(), "x"), "8x3x64x64", "video frames")
t.eq(k.motion, nil, "no motion for a video item")
local h = mv:get("ntu_a001_hallucination")
t.eq(h.split, index.hash_split("ntu_a001_hallucination"), "split by the hash rule")
t.eq(h.qa[1].category, "hallucination", "category")
t.eq(#mv:train_answers("action"), 1, "train answers")
local mm = assert(data.movid(FIX .. "/movid/motion.json", {cache = cache, render = true}))
t.eq(table.concat(mm.clips[1].motion:shape(), "x"), "170x263", "motion item")
t.eq(table.concat(mm.clips[1].video:shape(), "x"), "8x3x64x64", "motion item rendered")
t.eq(mm.clips[1].captions[1], "a person dances around with raised arms.", "caption")

t.fails_with("malformed JSON at byte", "malformed JSON", data.movid, FIX .. "/movid/malformed.json")
t.fails_with("item 1 (gone): video: ", "a missing video names the item and file", data.movid,
  FIX .. "/movid/missing_video.json")
t.fails_with("no_such_clip.mp4", "the missing file is named", data.movid, FIX .. "/movid/missing_video.json")
t.fails_with("needs \"conversations\"", "missing conversations", data.movid, FIX .. "/movid/missing_field.json")
t.fails_with("No such file", "missing JSON", data.movid, FIX .. "/movid/nope.json")
local bad = tmp .. "/bad.json"
local f = assert(io.open(bad, "w"))
f:write('[{"id": "x", "video": "a.mp4", "motion": "b.npy", "conversations": [{"from": "human", "value": "q"}]}]')
f:close()
t.fails_with("exactly one of \"video\" and \"motion\"", "both media", data.movid, bad)
f = assert(io.open(bad, "w"))
f:write('{"id": "x"}')
f:close()
t.fails_with("top level must be a list", "an object at the top", data.movid, bad)

t.done("data.user_formats")
