--[[
vimo/data/index.lua - the list of shipped clips and their fixed splits.

  local index = require "vimo.data.index"
  local entries = index.list(root)   -- every shipped clip, labels, split
  index.split_of(entry)              -- "train" | "val" | "test"
  index.fnv1a32("text")              -- the split hash

Sources (under ROOT/data/motion, see data/ATTRIBUTION.md):
  bandai1  bandai_namco/dataset-1/labels.tsv  (file content style ...)
  bandai2  bandai_namco/dataset-2/labels.tsv
  cmu      cmu_mocap/clips.tsv                (file motion_id description ...)
Splits, by take, never by frame (docs/data.md):
  bandai2  takes 001 and 002 -> train, 003 -> test
  bandai1  FNV-1a 32 of the file name as labels.tsv lists it
           ("dataset-1_bow_active_001.bvh") mod 10: 0-7 train, 8 val, 9 test
  cmu      the same rule on the trial's file name ("09_01.bvh")
Reads only the two index files; does not open BVH files.
]]

local M = {}

M.SPLITS = {"train", "val", "test"}

--- FNV-1a, 32 bit (offset basis 2166136261, prime 16777619), of the bytes.
function M.fnv1a32(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return h
end

--- The split of a hash-assigned take.
function M.hash_split(key)
  local r = M.fnv1a32(key) % 10
  if r <= 7 then return "train" end
  return r == 8 and "val" or "test"
end

--- The split of one entry (see the rules above).
function M.split_of(e)
  if e.source == "bandai2" then return e.take == "003" and "test" or "train" end
  return M.hash_split(e.hash_name)
end

-- Rows of a tab-separated file with a header line, as tables keyed by column.
local function read_tsv(path)
  local f, err = io.open(path, "r")
  if not f then error(("data: cannot open %s: %s"):format(path, err), 0) end
  local rows, header, n = {}, nil, 0
  for line in f:lines() do
    n = n + 1
    line = line:gsub("\r$", "")
    if line ~= "" then
      local cols = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do cols[#cols + 1] = field end
      if not header then
        header = cols
      else
        if #cols ~= #header then
          f:close()
          error(("data: %s:%d: %d columns, the header has %d"):format(path, n, #cols, #header), 0)
        end
        local row = {_line = n}
        for i, k in ipairs(header) do row[k] = cols[i] end
        rows[#rows + 1] = row
      end
    end
  end
  f:close()
  return rows
end

local BANDAI = {
  {source = "bandai1", dir = "bandai_namco/dataset-1"},
  {source = "bandai2", dir = "bandai_namco/dataset-2"},
}

local function bandai_entries(motion, out)
  for _, b in ipairs(BANDAI) do
    local tsv = ("%s/%s/labels.tsv"):format(motion, b.dir)
    for _, r in ipairs(read_tsv(tsv)) do
      local stem = r.file:match("^(.*)%.bvh$")
      local take = stem and stem:match("_(%d%d%d)$")
      if not take then error(("data: %s:%d: file name '%s' is not <name>_NNN.bvh"):format(tsv, r._line, r.file), 0) end
      out[#out + 1] = {
        id = stem, source = b.source, take = take, hash_name = r.file,
        file = ("%s/%s/data/%s.gz"):format(motion, b.dir, r.file),
        json = ("%s/%s/data/%s.json"):format(motion, b.dir, stem),
        labels = {content = r.content, style = r.style},
        group = r.content .. "/" .. r.style,
        src_frames = tonumber(r.frames),
      }
    end
  end
end

local function cmu_entries(motion, out)
  local tsv = motion .. "/cmu_mocap/clips.tsv"
  for _, r in ipairs(read_tsv(tsv)) do
    out[#out + 1] = {
      id = "cmu_" .. r.motion_id, source = "cmu", take = r.motion_id, hash_name = r.file:match("[^/]*$"),
      file = ("%s/cmu_mocap/%s.gz"):format(motion, r.file),
      labels = {description = r.description, subject = r.subject},
      group = r.description,
      src_frames = tonumber(r.frames),
    }
  end
end

--- Every shipped clip under root/data/motion, in file order, with split.
function M.list(root)
  local motion = root .. "/data/motion"
  local out = {}
  bandai_entries(motion, out)
  cmu_entries(motion, out)
  for _, e in ipairs(out) do e.split = M.split_of(e) end
  return out
end

return M
