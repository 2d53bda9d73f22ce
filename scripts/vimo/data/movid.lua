--[[
vimo/data/movid.lua - MoVid / LLaVA-style instruction JSON as vimo clips.

  local ds = assert(require("vimo.data").movid("qa.json", {F = 8, S = 64}))

Format (the LLaVA conversation layout MotionLLM's MoVid uses):
  [{"id": "...", "video": "clip.mp4"      -- or "motion": "clip.npy" (T, 263)
    "conversations": [{"from": "human", "value": "<video>\nWhat ...?"},
                      {"from": "gpt",   "value": "..."}, ...],
    "split": "test", "category": "action"}, ...]   -- both optional
Media paths are relative to opt.root (default: the JSON file's folder).
Each human turn followed by a gpt turn is one QA pair: the question
without its <video> / <motion> / <image> tags, the answer trimmed; the
category is the item's "category" (or "type", "task"), else "open".
Answers to questions asking for a description ("describe", "caption",
"summar...") also become captions, with the item's "caption" /
"captions". Split: the item's "split", else the FNV-1a rule of index.lua
on the id. Video items: F frames sampled from the file with the FFmpeg
reader; motion items: features, and (render = true) a rendered MP4 as
for the shipped clips. Normalisation of motion: opt.norm ({mean =, std =}
f32 blobs), else the train motion items' statistics, else identity.
Expected failures (missing or malformed file, missing field, unreadable
media) return nil, "movid: FILE: item N (id): what".
]]

local vimo = require "vimo"
local media = require "vimo.data.media"
local builder = require "vimo.data.builder"
local index = require "vimo.data.index"
local text = require "vimo.data.text"

local M = {}

local DESCRIBE = {"describe", "description", "caption", "summar"}

local function strip(s) return (s:gsub("<video>", ""):gsub("<motion>", ""):gsub("<image>", ""):match("^%s*(.-)%s*$")) end

local function is_describe(q)
  q = q:lower()
  for _, w in ipairs(DESCRIBE) do
    if q:find(w, 1, true) then return true end
  end
  return false
end

-- Checks one item; returns the record (without media) or nil, message.
local function parse_item(it, n, where)
  local function bad(what)
    return nil, ("movid: %s: item %d%s: %s"):format(where, n, type(it) == "table" and it.id and
      (" (" .. tostring(it.id) .. ")") or "", what)
  end
  if type(it) ~= "table" then return bad("not an object") end
  if type(it.id) ~= "string" and math.type(it.id) ~= "integer" then return bad("needs an \"id\" (string)") end
  local has_v, has_m = type(it.video) == "string", type(it.motion) == "string"
  if has_v == has_m then return bad("needs exactly one of \"video\" and \"motion\" (a path)") end
  if type(it.conversations) ~= "table" or #it.conversations == 0 then return bad("needs \"conversations\" (a list)") end
  local qa, captions = {}, {}
  local cat = it.category or it.type or it.task or "open"
  if type(cat) ~= "string" then return bad("\"category\" must be a string") end
  local pending
  for k, turn in ipairs(it.conversations) do
    if type(turn) ~= "table" or type(turn.from) ~= "string" or type(turn.value) ~= "string" then
      return bad(("conversation turn %d needs \"from\" and \"value\" strings"):format(k))
    end
    if turn.from == "human" then
      pending = strip(turn.value)
    elseif turn.from == "gpt" then
      if not pending then return bad(("turn %d: a gpt turn without a human question before it"):format(k)) end
      local ans = turn.value:match("^%s*(.-)%s*$")
      qa[#qa + 1] = {question = pending, answer = ans, category = cat}
      if is_describe(pending) then captions[#captions + 1] = ans end
      pending = nil
    else
      return bad(("turn %d: \"from\" must be \"human\" or \"gpt\", got \"%s\""):format(k, turn.from))
    end
  end
  if #qa == 0 then return bad("no human question followed by a gpt answer") end
  local caps = type(it.captions) == "table" and it.captions or (type(it.caption) == "string" and {it.caption}) or {}
  for _, c in ipairs(caps) do
    if type(c) == "string" then captions[#captions + 1] = c end
  end
  local id = tostring(it.id)
  local split = it.split or index.hash_split(id)
  if split ~= "train" and split ~= "val" and split ~= "test" then return bad("\"split\" must be train, val or test") end
  return {id = id, source = "movid", take = id, split = split, group = id, labels = {category = cat},
          captions = captions, qa = qa, media = it.video or it.motion, kind = has_v and "video" or "motion"}
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

--- Loads the JSON (see the banner): a Dataset, or nil and a message.
function M.load(path, opt)
  opt = opt or {}
  local F, S = opt.F or 8, opt.S or 64
  local render = opt.render and (opt.render == true and 128 or opt.render) or nil
  local s, err = read_file(path)
  if not s then return nil, "movid: " .. err end
  local items, jerr = vimo.json_decode(s)
  if items == nil then return nil, ("movid: %s: %s"):format(path, jerr or "empty JSON") end
  if type(items) ~= "table" or (#items == 0 and next(items) ~= nil) then
    return nil, ("movid: %s: the top level must be a list of items"):format(path)
  end
  if #items == 0 then return nil, ("movid: %s: no items"):format(path) end
  local root = opt.root or path:match("^(.*)/[^/]*$") or "."
  local recs, jobs, seen = {}, {}, {}
  local vdir = ("%s/movid-%08x-F%d-S%d"):format(opt.cache or (builder.root(opt) .. "/.cache/vimo"),
    index.fnv1a32(path), F, S)
  for n, it in ipairs(items) do
    local r, e = parse_item(it, n, path)
    if not r then return nil, e end
    if seen[r.id] then return nil, ("movid: %s: item %d: id %s used twice"):format(path, n, r.id) end
    seen[r.id] = true
    local file = r.media:sub(1, 1) == "/" and r.media or (root .. "/" .. r.media)
    if r.kind == "video" then
      jobs[n] = {video = file}
    else
      if render then assert(vimo.mkdir(vdir)) end
      jobs[n] = {feat = file, mp4 = render and ("%s/%s.mp4"):format(vdir, (r.id:gsub("[^%w_.-]", "_"))) or nil}
    end
    recs[n] = r
  end
  local res = media.process(jobs, {frames = F, size = S, width = render or 128, height = render or 128,
                                   threads = opt.threads or 2})
  local train, all = {}, {}
  for n, r in ipairs(recs) do
    local x = res[n]
    if not x.ok then return nil, ("movid: %s: item %d (%s): %s"):format(path, n, r.id, x.err) end
    if x.crops then
      r.video = {path = jobs[n].mp4 or jobs[n].video, F = F, S = S, crops = x.crops, times = x.times}
    end
    if x.feat then
      r.feat, r.T, r.stats = x.feat, x.T, x.stats
      local m = text.measure(x.stats)
      r.facts = {direction = {measured = m.direction, answer = m.direction}, speed = m.speed, speed_mps = m.speed_mps}
      all[#all + 1] = x.feat
      if r.split == "train" then train[#train + 1] = x.feat end
    end
    r.media, r.kind = nil, nil
  end
  local norm = opt.norm
  if not norm and #all > 0 then
    norm = builder.normalisation(#train > 0 and train or all, #train > 0 and "train" or "all")
  elseif not norm then -- video only: identity
    local zeros, ones = string.pack("<f", 0):rep(media.feature_dim), string.pack("<f", 1):rep(media.feature_dim)
    norm = {mean = zeros, std = ones, from = "identity"}
  end
  local ds = require("vimo.data").finish(recs, norm, opt)
  ds.path = path
  return ds
end

return M
