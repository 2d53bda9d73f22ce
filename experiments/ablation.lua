--[[
experiments/ablation.lua - the headline experiment of MotionLLM (Table 8) and
ViMoNet: motion-only vs video-only vs joint, one seed, the same data, printed
side by side per QA category with the majority-answer baseline.

  vimo run experiments/ablation.lua                 # the main job
  vimo run experiments/ablation.lua resume=true     # continue a killed run
  vimo run experiments/ablation.lua instruct_epochs=8 align_epochs=4  # passed on
  vimo run experiments/ablation.lua report_only=true  # redo tables and plots
  vimo run experiments/ablation.lua seeds=0,1,2       # each experiment per seed; means in the table

It builds the dataset once, then runs experiments/{motion_only,video_only,
joint}.lua as child processes (`parallel` at a time, default three, one
kernel thread each: small models use cores best as separate processes), each
logging to results/<run>/runs/<name>.log, and shows their progress. Stage 0
of motion is the same in motion_only and joint (same seed, options and
encoder position), so it runs once, as the child stage0_motion, and both
take it with contrast_from when it is done (bit-identical to training it in
each; tests/experiments/test_main_job.lua). Then it writes
results/<run>/results.json, results.md and the plots (loss.png,
accuracy.png). Every other key=value goes to the three experiments.
]]

local vimo = require "vimo"
local report = require "vimo.report"
local data = require "vimo.data"

local OWN = {run = "ablation", results_dir = "results", parallel = 3, experiments = "joint,motion_only,video_only",
             report_only = false, seeds = ""}
-- Relative cost of a child (the longest ready one starts first).
local COST = {motion_only = 2, video_only = 1.5, joint = 3}

local args = vimo.args
local opt = {}
for k, v in pairs(OWN) do opt[k] = args[k] == nil and v or args[k] end
local pass = {}
for k, v in pairs(args) do
  if OWN[k] == nil then pass[#pass + 1] = ("%s=%s"):format(k, tostring(v)) end
end
table.sort(pass)

-- seeds=a,b,...: every experiment once per seed (runs <name>_s<seed>); the
-- tables then show the mean over the seeds, results.json every run.
local seeds = {}
for w in tostring(opt.seeds):gmatch("[^,%s]+") do
  seeds[#seeds + 1] = math.tointeger(tonumber(w)) or error("ablation: seeds: '" .. w .. "' is not an integer", 0)
end
if #seeds > 0 and args.seed ~= nil then error("ablation: give seed= or seeds=, not both", 0) end

--- The child runs of an experiment: {run =, seed =} per seed (seed nil: its default).
local function runs_of(name)
  if #seeds <= 1 then return {{run = name, seed = seeds[1]}} end
  local out = {}
  for _, sd in ipairs(seeds) do out[#out + 1] = {run = ("%s_s%d"):format(name, sd), seed = sd} end
  return out
end

local dir = opt.results_dir .. "/" .. opt.run
local runs_dir = dir .. "/runs"
assert(vimo.mkdir(dir))
assert(vimo.mkdir(runs_dir))

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The dataset, built once so that the children only read the cache.
local function build_dataset()
  io.stderr:write("== ablation: dataset\n")
  local dopts = {quiet = false}
  if args.data_limit and args.data_limit > 0 then dopts.limit = args.data_limit end
  if args.video_size then dopts.S = args.video_size end
  if args.frames then dopts.F = args.frames end
  local counts = {}
  do -- scoped: the children load their own copy
    local ds = assert(data.load(dopts))
    -- holdout=k/n goes to every experiment: count the splits they train and score
    require("vimo.experiment").apply_holdout(ds, args.holdout)
    for _, s in ipairs({"train", "val", "test"}) do counts[s] = #ds:split(s) end
  end
  collectgarbage()
  io.stderr:write(("   %d train, %d val, %d test clips\n"):format(counts.train, counts.val, counts.test))
  return counts
end

local function last_line(path)
  local f = io.open(path, "rb")
  if not f then return "(waiting)" end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - 400))
  local tail = f:read("a") or ""
  f:close()
  local line = "(starting)"
  for l in tail:gmatch("[^\r\n]+") do line = l end
  return line
end

--- The child runs: {run =, exp =, seed =, args =, after = run or nil}. Per
-- seed, when motion_only and joint are both wanted, stage 0 of motion (the
-- same in both: the same seed, options and encoder position) runs once as
-- its own child (stage0_motion) and both take it with contrast_from, so
-- they start when it has finished.
local function plan_jobs()
  local want = {}
  for n in opt.experiments:gmatch("[^,%s]+") do want[#want + 1] = n end
  local set = {}
  for _, n in ipairs(want) do set[n] = true end
  local share = set.motion_only and set.joint and args.contrast_from == nil and args.contrast_epochs ~= 0
  local jobs = {}
  for i, s0 in ipairs(runs_of("stage0_motion")) do -- one per seed, named as the experiments' runs
    local stage0 = share and s0.run or nil
    if stage0 then
      jobs[#jobs + 1] = {run = stage0, exp = "motion_only", seed = s0.seed, args = "stages=data,pretrain,contrast"}
    end
    for _, n in ipairs(want) do
      local r, uses = runs_of(n)[i], stage0 and (n == "motion_only" or n == "joint")
      jobs[#jobs + 1] = {run = r.run, exp = n, seed = r.seed, after = uses and stage0 or nil,
                         args = uses and ("contrast_from=" .. q(runs_dir .. "/" .. stage0)) or ""}
    end
  end
  return jobs
end

--- Runs the children in the background, at most `parallel` at once and
-- the costliest ready one first, each after the run it needs; shows their
-- progress until all are done; raises naming the runs that failed.
local function run_children()
  local jobs = plan_jobs()
  local exe = vimo.executable or "vimo"
  local extra = #pass > 0 and (" " .. table.concat(pass, " ")) or ""
  local state = {} -- state[run]: nil (waiting), "running", "skipped", 0 (done) or an exit status
  for _, j in ipairs(jobs) do os.remove(("%s/%s.rc"):format(runs_dir, j.run)) end
  local function start(j)
    local script = vimo.source_dir .. "/experiments/" .. j.exp .. ".lua"
    local sd = j.seed and (" seed=" .. j.seed) or ""
    local rc = ("%s/%s.rc"):format(runs_dir, j.run)
    local cmd = ("%s run %s run=%s results_dir=%s threads=1%s%s %s"):format(q(exe), q(script), j.run, q(runs_dir),
      extra, sd, j.args)
    os.execute(("( %s > %s 2>&1; echo $? > %s.tmp && mv %s.tmp %s ) &"):format(cmd,
      q(runs_dir .. "/" .. j.run .. ".log"), q(rc), q(rc), q(rc)))
    state[j.run] = "running"
  end
  local function poll()
    local running, pending = 0, 0
    for _, j in ipairs(jobs) do
      if state[j.run] == "running" then
        local f = io.open(("%s/%s.rc"):format(runs_dir, j.run))
        if f then
          state[j.run] = math.tointeger(tonumber(f:read("l"))) or -1
          f:close()
        else
          running = running + 1
        end
      end
    end
    local ready = {}
    for _, j in ipairs(jobs) do
      if state[j.run] == nil then
        local dep = j.after and state[j.after]
        if j.after and (dep == "skipped" or type(dep) == "number" and dep ~= 0) then
          state[j.run] = "skipped"
        elseif not j.after or dep == 0 then
          ready[#ready + 1] = j
        else
          pending = pending + 1
        end
      end
    end
    table.sort(ready, function(a, b)
      local ca, cb = COST[a.exp] or 1, COST[b.exp] or 1
      if ca ~= cb then return ca > cb end
      return a.run < b.run
    end)
    for _, j in ipairs(ready) do
      if running < math.max(1, opt.parallel) then
        start(j)
        running = running + 1
      else
        pending = pending + 1
      end
    end
    return running + pending > 0
  end
  local tty = vimo.isatty(2)
  local shown, last_print = 0, 0
  while poll() do
    os.execute("sleep 1")
    local lines = {}
    for _, j in ipairs(jobs) do
      local st = state[j.run]
      local line = st == "running" and last_line(runs_dir .. "/" .. j.run .. ".log")
        or st == nil and ("(waiting for %s)"):format(j.after and state[j.after] ~= 0 and j.after or "a free lane")
        or st == 0 and "(done)" or st == "skipped" and ("(skipped: %s failed)"):format(j.after)
        or ("(failed, exit status %s)"):format(tostring(st))
      lines[#lines + 1] = ("  %-13s %s"):format(j.run, line)
    end
    if tty then
      if shown > 0 then io.stderr:write(("\27[%dA"):format(shown)) end
      for _, l in ipairs(lines) do io.stderr:write("\27[2K", l:sub(1, 120), "\n") end
      shown = #lines
    elseif vimo.now() - last_print >= 30 then
      for _, l in ipairs(lines) do io.stderr:write(l, "\n") end
      last_print = vimo.now()
    end
  end
  local failed = {}
  for _, j in ipairs(jobs) do
    if state[j.run] ~= 0 then failed[#failed + 1] = ("%s (%s)"):format(j.run, tostring(state[j.run])) end
  end
  if #failed > 0 then
    error(("ablation: experiment(s) failed: %s (see %s/*.log)"):format(table.concat(failed, ", "), runs_dir), 0)
  end
end

local function read_json(path)
  local f = io.open(path)
  if not f then return nil end
  local t = vimo.json_decode(f:read("a"))
  f:close()
  return t
end

--- Tables on stdout, results.json, results.md and the plots.
local function write_report(counts, wall)
  local runs, each = {}, {}
  for _, n in ipairs({"motion_only", "video_only", "joint"}) do
    local per_seed = {}
    for _, r in ipairs(runs_of(n)) do
      local res = read_json(("%s/%s/results.json"):format(runs_dir, r.run))
      if res then
        per_seed[#per_seed + 1] = res
        each[#each + 1] = {name = r.run, results = res}
      end
    end
    if #per_seed > 0 then runs[#runs + 1] = {name = n, results = report.mean_results(per_seed)} end
  end
  local t = report.table(runs)
  if #seeds > 1 then t.note = ("mean over seeds %s"):format(table.concat(seeds, ", ")) end
  t.val_label = report.holdout_label(args.holdout)
  io.stdout:write("\n", report.text(t), ("\nwall time: %.0f s (GEMM kernels: %s)\n"):format(wall, vimo.gemm_arch()))
  local summary = {wall_seconds = wall, splits = counts, table = t, runs = {}}
  for _, r in ipairs(each) do
    summary.runs[r.name] = {eval = r.results.eval, align = r.results.align and r.results.align.final_loss,
                            instruct = r.results.instruct and r.results.instruct.final_loss}
  end
  if #seeds > 1 then summary.seeds, summary.mean = seeds, {} end
  for _, r in ipairs(runs) do
    if #seeds > 1 then summary.mean[r.name] = r.results.eval end
  end
  local f = assert(io.open(dir .. "/results.json", "wb"))
  f:write(vimo.json_encode(summary, true), "\n")
  f:close()
  f = assert(io.open(dir .. "/results.md", "wb"))
  f:write(("# vimo ablation: motion-only vs video-only vs joint\n\nWall time %.0f s. Splits: %d train, %d val, "
           .. "%d test clips.\n\n"):format(wall, counts.train or 0, counts.val or 0, counts.test or 0),
          report.markdown(t))
  f:close()
  local plots, why = report.plots(dir, runs, t)
  io.stdout:write(("results: %s/results.json, %s/results.md%s\n"):format(dir, dir,
    plots and (", " .. table.concat(plots, ", ")) or (" (no plots: " .. tostring(why) .. ")")))
end

if opt.report_only then
  local old = read_json(dir .. "/results.json") or {}
  write_report(old.splits or {}, old.wall_seconds or 0)
else
  local t0 = vimo.now()
  local counts = build_dataset()
  run_children()
  write_report(counts, vimo.now() - t0)
end
