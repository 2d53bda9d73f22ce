--[[
tests/data/test_splits.lua - the index of shipped clips and its fixed
splits (docs/data.md): FNV-1a against published test vectors, the
labels.tsv index against the per-clip JSON labels and cfg/ names (an
independent source), and the split invariants and counts.
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

t.done("data.splits")
