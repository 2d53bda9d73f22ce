--[[
vimo/data/build.lua - the script behind `vimo data build` and `vimo data info`
(also: vimo run scripts/vimo/data/build.lua action=build|info key=value ...).

Arguments (vimo.args): action = "build" | "info", root, cache (the --out
folder), force, F, S, fps, render, threads, captions, limit, match,
markdown (info: print the docs/data.md tables). Prints results to stdout,
progress to stderr. Builds nothing itself: builder.lua does.
]]

local vimo = require "vimo"
local builder = require "vimo.data.builder"

local args = vimo.args
local KNOWN = {action = true, root = true, cache = true, force = true, F = true, S = true, fps = true, render = true,
               threads = true, captions = true, limit = true, match = true, markdown = true, quiet = true}

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local SPLITS = {"train", "val", "test"}

-- A table of counts[row .. "/" .. split] with a total column.
local function split_table(title, counts, md)
  local rows, seen = {}, {}
  for k in pairs(counts) do
    local r = k:match("^(.*)/[^/]*$")
    if not seen[r] then
      seen[r] = true
      rows[#rows + 1] = r
    end
  end
  table.sort(rows)
  local tot = {train = 0, val = 0, test = 0}
  if md then
    print(("| %s | train | val | test | total |"):format(title))
    print("|---|---:|---:|---:|---:|")
  else
    print(("%-16s %7s %7s %7s %7s"):format(title, "train", "val", "test", "total"))
  end
  for _, r in ipairs(rows) do
    local c = {}
    for i, s in ipairs(SPLITS) do
      c[i] = counts[r .. "/" .. s] or 0
      tot[s] = tot[s] + c[i]
    end
    local fmt = md and "| %s | %d | %d | %d | %d |" or "%-16s %7d %7d %7d %7d"
    print(fmt:format(r, c[1], c[2], c[3], c[1] + c[2] + c[3]))
  end
  local fmt = md and "| **%s** | %d | %d | %d | %d |" or "%-16s %7d %7d %7d %7d"
  print(fmt:format("total", tot.train, tot.val, tot.test, tot.train + tot.val + tot.test))
end

-- The majority train answer of each category and its accuracy on test
-- (ties: the byte-wise smallest answer, as vimo_qa_eval does).
local function majority(s, md)
  local train, test, ntest = {}, {}, {}
  for k, n in pairs(s.answers_split or {}) do
    local cat, ans, split = k:match("^([^/]*)/(.*)/([^/]*)$")
    if split == "train" then
      train[cat] = train[cat] or {}
      train[cat][ans] = n
    elseif split == "test" then
      test[cat] = test[cat] or {}
      test[cat][ans] = n
      ntest[cat] = (ntest[cat] or 0) + n
    end
  end
  if md then
    print("| category | majority train answer | test questions | majority accuracy on test |")
    print("|---|---|---:|---:|")
  else
    print(("%-14s %-16s %6s %8s"):format("majority", "train answer", "test", "accuracy"))
  end
  for _, cat in ipairs(sorted_keys(train)) do
    local best, bn = nil, -1
    for _, ans in ipairs(sorted_keys(train[cat])) do
      if train[cat][ans] > bn then best, bn = ans, train[cat][ans] end
    end
    local n = ntest[cat] or 0
    local acc = n > 0 and 100 * ((test[cat] or {})[best] or 0) / n or 0
    print((md and "| %s | %s | %d | %.1f %% |" or "%-14s %-16s %6d %7.1f%%"):format(cat, best, n, acc))
  end
end

local function info(man, dir, md)
  local s = man.summary
  if not md then
    print(("dataset %s: %d clips, built %s in %.1f s"):format(dir, man.n, man.created, man.build_seconds))
    local o = man.options
    print(("options: F=%d S=%d fps=%s render=%d captions=%d"):format(o.F, o.S, tostring(o.fps), o.render, o.captions))
    local st = man.stage_seconds
    if st then
      print(("stages (summed over clips): motion %.1f s, render+encode %.1f s, read back %.1f s"):format(st.motion,
        st.render, st.read))
    end
  end
  split_table("clips", s.sources, md)
  print()
  split_table("QA category", s.qa, md)
  print()
  local by_cat = {}
  for k, n in pairs(s.answers) do
    local cat, ans = k:match("^([^/]*)/(.*)$")
    by_cat[cat] = by_cat[cat] or {}
    table.insert(by_cat[cat], {ans, n})
  end
  if md then
    print("| category | answers (count, all splits) |")
    print("|---|---|")
  end
  for _, cat in ipairs(sorted_keys(by_cat)) do
    local list = by_cat[cat]
    table.sort(list, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
    local parts = {}
    for i, x in ipairs(list) do parts[i] = ("%s %d"):format(x[1], x[2]) end
    print((md and "| %s | %s |" or "%-14s %s"):format(cat, table.concat(parts, ", ")))
  end
  print()
  majority(s, md)
  print()
  print(("direction label vs trajectory disagreements: %d%s"):format(#s.disagree,
    #s.disagree > 0 and (" (" .. table.concat(s.disagree, ", ") .. ")") or ""))
end

-- Errors the user can act on ("data: ..." raised with level 0) print as
-- "vimo data: message" and exit 1, without the runner's traceback; others
-- (bugs) keep it.
local function main()
  for k in pairs(args) do
    if not KNOWN[k] then error(("data: unknown option '%s'"):format(tostring(k)), 0) end
  end
  local opt = {}
  for k, v in pairs(args) do opt[k] = v end
  opt.action = nil
  opt.markdown = nil
  local action = args.action or "build"
  if action == "build" then
    local r = builder.build(opt)
    print(("data: %s %d clips in %.2f s -> %s"):format(r.status, r.manifest.n, r.seconds, r.dir))
    if r.status == "built" then
      local c = r.manifest.summary.splits
      print(("data: train %d, val %d, test %d"):format(c.train or 0, c.val or 0, c.test or 0))
    end
  elseif action == "info" then
    local o = builder.options(opt)
    local man, p = builder.cached(o)
    if not man then error(("data: no dataset at %s (run `vimo data build`)"):format(builder.paths(o).dir), 0) end
    info(man, p.dir, args.markdown)
  else
    error(("data: unknown action '%s' (build or info)"):format(tostring(action)), 0)
  end
end

local ok, err = pcall(main)
if not ok then
  if type(err) == "string" and err:match("^data: ") then
    io.stdout:flush()
    io.stderr:write("vimo data: ", err:sub(7), "\n")
    os.exit(1, true)
  end
  error(err, 0)
end
