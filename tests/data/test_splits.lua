--[[
tests/data/test_splits.lua - the index of shipped clips and its fixed
splits (docs/data.md): FNV-1a against published test vectors, the
labels.tsv index against the per-clip JSON labels and cfg/ names (an
independent source), the split invariants and counts, and the
cross-validation folds of Dataset:holdout.
]]

local t = require "harness"
local vimo = require "vimo"
local index = require "vimo.data.index"

-- FNV-1a 32: test vectors of the reference (isthe.com/chongo/tech/comp/fnv).
t.eq(index.fnv1a32(""), 0x811c9dc5, "fnv1a32('')")
t.eq(index.fnv1a32("a"), 0xe40c292c, "fnv1a32('a')")
t.eq(index.fnv1a32("foobar"), 0xbf9cf968, "fnv1a32('foobar')")

local root = t.root()
local entries = index.list(root)
t.eq(#entries, 404, "shipped clips")

-- Every entry's file exists; ids and files are unique.
local ids, files = {}, {}
for _, e in ipairs(entries) do
  local f = io.open(e.file, "rb")
  t.check(f ~= nil, "missing file %s", e.file)
  if f then f:close() end
  t.check(not ids[e.id], "id %s twice", e.id)
  t.check(not files[e.file], "file %s twice", e.file)
  ids[e.id], files[e.file] = true, true
end

-- labels.tsv agrees with the per-clip JSON ids through cfg/*.txt.
local function cfg(dir, name)
  local out = {}
  for line in io.lines(("%s/cfg/%s"):format(dir, name)) do
    local v = line:match("^dataset%-%d_(%S+)")
    if v then out[#out + 1] = v end
  end
  return out
end
local names = {}
for _, src in ipairs{{"bandai1", "dataset-1"}, {"bandai2", "dataset-2"}} do
  local dir = root .. "/data/motion/bandai_namco/" .. src[2]
  names[src[1]] = {content = cfg(dir, "content_label.txt"), style = cfg(dir, "style_label.txt")}
end
local checked = 0
for _, e in ipairs(entries) do
  if e.json then
    local f = assert(io.open(e.json, "r"))
    local j = vimo.json_decode(f:read("a"))
    f:close()
    local n = names[e.source]
    t.eq(n.content[j.content + 1], e.labels.content, e.id .. " content")
    t.eq(n.style[j.style + 1], e.labels.style, e.id .. " style")
    checked = checked + 1
  end
end
t.eq(checked, 384, "JSON labels checked")

-- Split rules.
local counts, groups = {}, {}
for _, e in ipairs(entries) do
  local k = e.source .. "/" .. e.split
  counts[k] = (counts[k] or 0) + 1
  t.check(e.split == "train" or e.split == "val" or e.split == "test", "%s: split %s", e.id, tostring(e.split))
  if e.source == "bandai2" then
    groups[e.group] = groups[e.group] or {}
    groups[e.group][e.take] = e.split
  elseif e.source == "bandai1" then
    t.eq(e.split, index.hash_split(e.id .. ".bvh"), e.id .. ": hash of the file name")
  else
    t.eq(e.split, index.hash_split(e.take .. ".bvh"), e.id .. ": hash of the trial's file name")
  end
end
-- dataset-2: every content x style has takes 001, 002 in train and 003 in test.
local n_groups = 0
for g, takes in pairs(groups) do
  n_groups = n_groups + 1
  t.check(takes["001"] == "train" and takes["002"] == "train" and takes["003"] == "test",
    "dataset-2 %s: takes %s/%s/%s", g, tostring(takes["001"]), tostring(takes["002"]), tostring(takes["003"]))
end
t.eq(n_groups, 70, "dataset-2 content x style groups")

-- The documented counts (docs/data.md, "Splits").
local want = {["bandai1/train"] = 137, ["bandai1/val"] = 21, ["bandai1/test"] = 16,
              ["bandai2/train"] = 140, ["bandai2/test"] = 70,
              ["cmu/train"] = 15, ["cmu/val"] = 3, ["cmu/test"] = 2}
for k, n in pairs(want) do t.eq(counts[k] or 0, n, "count " .. k) end
t.eq(counts["bandai2/val"], nil, "dataset-2 has no val clips")

-- Cross-validation folds (Dataset:holdout): a dataset of 160 clips without
-- tensors, 120 train, 20 val, 20 test.
local data = require "vimo.data"
local media = require "vimo.data.media"
local function dataset(recs)
  local zero, one = string.pack("<f", 0):rep(media.feature_dim), string.pack("<f", 1):rep(media.feature_dim)
  return data.finish(recs, {mean = zero, std = one}, {motion = false})
end
local function toy()
  local recs = {}
  for i = 1, 160 do
    local sp = i <= 120 and "train" or i <= 140 and "val" or "test"
    recs[i] = {id = ("toy/clip%03d"):format(i), source = "toy", split = sp, T = 0, captions = {},
               qa = {{question = "q", answer = "a" .. i, category = "action"}}}
  end
  return dataset(recs)
end
local fold_of, sizes = {}, {}
for k = 1, 4 do
  local ds = toy()
  local moved = ds:holdout(k, 4)
  local val, train = ds:split("val"), ds:split("train")
  sizes[k] = moved
  t.eq(#val, moved, ("fold %d: val is the held-out fold"):format(k))
  t.eq(#train + #val, 120, ("fold %d: train and the fold partition the train split"):format(k))
  t.eq(#ds:split("test"), 20, ("fold %d: test untouched"):format(k))
  t.eq(#ds:split("val_set_aside"), 20, ("fold %d: shipped val set aside"):format(k))
  for _, c in ipairs(val) do
    local i = tonumber(c.id:match("%d+$"))
    t.check(i <= 120, "fold %d: %s was not a train clip", k, c.id)
    t.check(not fold_of[c.id], "%s held out in folds %s and %d", c.id, tostring(fold_of[c.id]), k)
    fold_of[c.id] = k
    -- the documented rule, computed here from the hash's published vectors above
    t.eq(index.fnv1a32("fold/" .. c.id) % 4, k - 1, c.id .. ": fold rule")
  end
  -- the majority baseline reads only the clips still in train
  local answers, seen = ds:train_answers("action"), {}
  for _, a in ipairs(answers) do seen[a] = true end
  t.eq(#answers, #train, ("fold %d: train answers"):format(k))
  for _, c in ipairs(val) do t.check(not seen[c.qa[1].answer], "fold %d: %s answer counted as train", k, c.id) end
end
local n_held = 0
for _ in pairs(fold_of) do n_held = n_held + 1 end
t.eq(n_held, 120, "every train clip is held out in exactly one fold")
for k = 1, 4 do t.check(sizes[k] >= 18 and sizes[k] <= 42, "fold %d size %d of 120 (want about 30)", k, sizes[k]) end
local twice = toy()
assert(twice:holdout(1, 4))
local ok2, msg2 = twice:holdout(2, 4)
t.check(ok2 == nil and tostring(msg2):find("already holds out fold 1 of 4", 1, true), "a second holdout is refused: %s",
        tostring(msg2))
-- caption spans of one motion (HumanML3D's <name>#<start>-<end> ids) share a fold
do
  local recs = {}
  for i = 1, 40 do
    for span = 0, 2 do
      -- FNV-1a mod 4 reads only the low bits of each byte: spans that vary them
      local id = ("hml/%06d#%d-%d"):format(i, span * 7 + 1, span * 11 + 5)
      recs[#recs + 1] = {id = id, source = "hml", split = "train", T = 0, captions = {}, qa = {}}
    end
  end
  local ds = dataset(recs)
  assert(ds:holdout(3, 4))
  local folds_of = {}
  for _, c in ipairs(ds.clips) do
    local name = c.id:match("^(.-)#")
    folds_of[name] = folds_of[name] or {}
    folds_of[name][c.split] = true
  end
  local split_apart = 0
  for _, sp in pairs(folds_of) do if sp.train and sp.val then split_apart = split_apart + 1 end end
  t.eq(split_apart, 0, "motions whose caption spans fall in both train and the held-out fold")
end
-- a fold with no training clip is refused, and the dataset is left as it was
do
  local small = toy()
  local ok3, msg3 = small:holdout(7, 500)
  t.check(ok3 == nil and tostring(msg3):find("holds no training clip", 1, true), "an empty fold is refused: %s",
          tostring(msg3))
  t.eq(#small:split("train"), 120, "a refused holdout moves nothing")
  t.eq(#small:split("val"), 20, "a refused holdout sets nothing aside")
end
for _, bad in ipairs{{0, 4}, {5, 4}, {1, 1}, {1.5, 4}, {"1", 4}} do
  local ok, msg = toy():holdout(bad[1], bad[2])
  t.check(ok == nil and tostring(msg):find("holdout fold", 1, true), "holdout(%s, %s) refused: %s",
          tostring(bad[1]), tostring(bad[2]), tostring(msg))
end

t.done("data.splits")
