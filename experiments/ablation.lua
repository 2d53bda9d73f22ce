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
joint}.lua as child processes (`parallel` at a time, default three; the
cores shared out among the running ones, one kernel thread each while they
outnumber the cores: small models use cores best as separate processes),
each logging to results/<run>/runs/<name>.log, and shows their progress.
Stage 0 of motion is the same in motion_only and joint (same seed, options
and encoder position), so it runs once, as the child stage0_motion; joint's
stage 0 of video runs as the child stage0_joint_video beside it, so joint
need not train it after motion's. Both experiments take what they need
with contrast_from when it is done (bit-identical to training it in each;
tests/experiments/test_main_job.lua). Then it writes
results/<run>/results.json, results.md and the plots (loss.png,
accuracy.png). Every other key=value goes to every experiment.

experiments= lists what runs: names of experiments/<name>.lua, or paths to
your own experiment files (a copy of experiments/joint.lua with your
encoder, say), each run and reported under its file's base name:

  vimo run experiments/ablation.lua experiments=motion_only,joint,~/my_joint.lua

Stopping it (Ctrl-C, or a kill) stops the children within a second or so
(each child's shell watches this process); every stage checkpoints each
epoch, so resume=true continues them all. (Start the resume after the old
children are gone: an exit status they write late is told apart by a token
per launch, but two processes must not train one run folder.)
]]

local vimo = require "vimo"
local report = require "vimo.report"
local data = require "vimo.data"

local OWN = {run = "ablation", results_dir = "results", parallel = 3, experiments = "joint,motion_only,video_only",
             report_only = false, seeds = ""}
-- Relative cost of a child (the longest ready one starts first). The
-- stage-0 children come first, as experiments wait for them; a user's
-- experiment counts as the costliest experiment, as it may well be a copy
-- of joint.
local COST = {stage0 = 4, joint = 3, motion_only = 2, video_only = 1.5}
local COST_OTHER = 3

local args = vimo.args
local opt = {}
for k, v in pairs(OWN) do opt[k] = args[k] == nil and v or args[k] end
local q = report.shell_word

-- key=value arguments passed on to every child, each quoted for the shell.
local pass = {}
for k, v in pairs(args) do
  if OWN[k] == nil then pass[#pass + 1] = q(("%s=%s"):format(k, tostring(v))) end
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

-- The experiments, in the order of the table: the three of the ablation
-- first, then the others as given. Each is {name =, script =, builtin =}: a
-- bare name is experiments/<name>.lua, anything with a "/" or ending in
-- .lua is a file of the user's, named by its base name.
local BUILTIN_ORDER = {motion_only = 1, video_only = 2, joint = 3}
local function parse_experiments(list, keep_order)
  local out = {}
  for item in tostring(list):gmatch("[^,]+") do -- commas only: a path may hold spaces
    local w = item:match("^%s*(.-)%s*$")
    local e = {pos = #out}
    if w:find("/", 1, true) or w:match("%.lua$") then
      e.script = w:gsub("^~/", function() return (os.getenv("HOME") or "~") .. "/" end)
      e.name = e.script:match("([^/]*)$"):gsub("%.lua$", "")
    else
      e.name, e.builtin, e.script = w, true, vimo.source_dir .. "/experiments/" .. w .. ".lua"
    end
    out[#out + 1] = e
  end
  if keep_order then return out end
  table.sort(out, function(a, b)
    local ra, rb = a.builtin and BUILTIN_ORDER[a.name] or 4, b.builtin and BUILTIN_ORDER[b.name] or 4
    if ra ~= rb then return ra < rb end
    return a.pos < b.pos
  end)
  return out
end

--- The experiments to run (parse_experiments), checked before any work.
local function plan_experiments(list)
  local out, seen = parse_experiments(list), {}
  if #out == 0 then error("ablation: experiments: none given", 0) end
  for _, e in ipairs(out) do
    if e.name == "" then error("ablation: experiments: an empty entry", 0) end
    if not e.name:match("^[%w_][%w_.-]*$") then
      error(("ablation: experiments: '%s': a run name has only letters, digits and _ . - (no leading .)")
        :format(e.name), 0)
    end
    if e.name:match("^stage0_") then
      error(("ablation: experiments: '%s': stage0_* names are the ablation's own runs"):format(e.name), 0)
    end
    if seen[e.name] then error(("ablation: experiments: two experiments are named '%s'"):format(e.name), 0) end
    seen[e.name] = true
    local f = io.open(e.script, "r")
    if not f then error(("ablation: experiments: '%s': no file %s"):format(e.name, e.script), 0) end
    f:close()
  end
  return out
end

local dir = opt.results_dir .. "/" .. opt.run
local runs_dir = dir .. "/runs"

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

--- The child runs: {run =, exp =, script =, seed =, args =, after = {runs}}.
-- Per seed, when motion_only and joint are both wanted, stage 0 of motion
-- (the same in both: the same seed, options and encoder position) runs once
-- as its own child (stage0_motion); joint's stage 0 of video runs as
-- another (stage0_joint_video: joint with motion's stage 0 off, which
-- cannot change video's), so it is off joint's critical path. Each
-- experiment takes what it needs with contrast_from and starts when those
-- children have finished.
local function plan_jobs(exps)
  local set = {}
  for _, e in ipairs(exps) do set[e.name] = e end
  -- only the shipped ones: a user's file of the same name may train another encoder
  local own = args.contrast_from == nil
  local joint = set.joint and set.joint.builtin
  local share_motion = own and joint and set.motion_only and set.motion_only.builtin and args.contrast_epochs ~= 0
  -- (without a shared stage 0 of motion, joint would wait for its video's only to train motion's after it)
  local split_video = share_motion and args.contrast_video_epochs ~= 0
  if share_motion and runs_dir:find(",", 1, true) then
    error(("ablation: %s: a comma in the results folder cannot go in contrast_from's list (run=, results_dir=)")
      :format(runs_dir), 0)
  end
  local jobs = {}
  local s0v_runs = runs_of("stage0_joint_video")
  for i, s0m in ipairs(runs_of("stage0_motion")) do -- one per seed, named as the experiments' runs
    local s0v = s0v_runs[i]
    local from = {} -- from[experiment] = the stage-0 runs it takes
    if share_motion then
      jobs[#jobs + 1] = {run = s0m.run, exp = "stage0", script = set.motion_only.script, seed = s0m.seed,
                         args = q("stages=data,pretrain,contrast"), after = {}}
      from.motion_only, from.joint = {s0m.run}, {s0m.run}
    end
    if split_video then
      jobs[#jobs + 1] = {run = s0v.run, exp = "stage0", script = set.joint.script, seed = s0v.seed, after = {},
                         args = q("stages=data,pretrain,contrast") .. " contrast_epochs=0 pretrain_epochs=0"}
      from.joint[#from.joint + 1] = s0v.run -- (split_video implies share_motion)
    end
    for _, e in ipairs(exps) do
      local r, deps = runs_of(e.name)[i], e.builtin and from[e.name] or {}
      local dirs = {}
      for k, d in ipairs(deps) do dirs[k] = runs_dir .. "/" .. d end
      jobs[#jobs + 1] = {run = r.run, exp = e.name, script = e.script, seed = r.seed, after = deps,
                         args = #deps > 0 and q("contrast_from=" .. table.concat(dirs, ",")) or ""}
    end
  end
  return jobs
end

-- os.execute, raising when the command was ended by SIGINT or SIGQUIT:
-- system() ignores both in this process while it waits, so a Ctrl-C while
-- the ablation sleeps between polls only ends the `sleep`.
local function execute(cmd)
  local ok, how, code = os.execute(cmd)
  if how == "signal" and (code == 2 or code == 3) then error("ablation: interrupted", 0) end
  return ok
end

-- Starts one child in the background: `vimo run <script> ...` logging to
-- runs/<run>.log, then "<exit status> <token>" written to runs/<run>.rc
-- (atomically); the token tells this launch's file from one a child of an
-- earlier, stopped ablation writes late. Its shell also starts a watcher
-- that stops the child (SIGTERM) once this process is gone, or is a zombie
-- nobody reaps: a child started by a non-interactive shell ignores Ctrl-C,
-- and without the watcher it would run on, and a resume=true started
-- meanwhile would train the same run folder twice. $PPID of the os.execute
-- shell is this process (POSIX: subshells keep it); /proc/$PPID/stat gives
-- its state where there is a /proc.
local function spawn(cmd, log, rc, token)
  execute(("( %s > %s 2>&1 & c=$!; "
           .. "( while kill -0 $PPID 2>/dev/null; do st=; read -r _ _ st _ 2>/dev/null < /proc/$PPID/stat; "
           .. "[ \"$st\" = Z ] && break; sleep 1; done; kill -TERM $c 2>/dev/null ) & w=$!; "
           .. "wait $c; s=$?; kill $w 2>/dev/null; echo \"$s %s\" > %s.tmp && mv %s.tmp %s ) &"):format(
    cmd, q(log), token, q(rc), q(rc), q(rc)))
end

--- Runs the children in the background, at most `parallel` at once and
-- the costliest ready one first, each after the run it needs; shows their
-- progress until all are done; raises naming the runs that failed.
local function run_children(exps)
  local jobs = plan_jobs(exps)
  local exe = vimo.executable or "vimo"
  local extra = #pass > 0 and (" " .. table.concat(pass, " ")) or ""
  local state = {} -- state[run]: nil (waiting), "running", "skipped", 0 (done) or an exit status
  for _, j in ipairs(jobs) do os.remove(("%s/%s.rc"):format(runs_dir, j.run)) end
  local token = ("%d%06d"):format(math.floor(vimo.now()), math.random(0, 999999))
  -- Kernel threads per child: the cores shared out equally among the
  -- running children, at least one each (on 2 cores: one each while two or
  -- more run, both for the last one left); each child's trainer follows
  -- this file (vimo.trainer). A threads= given to the ablation is kept as is.
  local cores, threads_path, told = math.max(1, vimo.threads()), runs_dir .. "/threads", nil
  local follow = args.threads == nil
  local function tell_threads(running)
    local n = math.max(1, cores // math.max(1, running))
    if not follow or n == told then return end
    local f = io.open(threads_path .. ".tmp", "wb")
    if not f then return end
    local ok = f:write(n, "\n") and true
    ok = f:close() and ok
    if ok and os.rename(threads_path .. ".tmp", threads_path) then told = n end
  end
  tell_threads(math.max(1, opt.parallel))
  local function start(j)
    local sd = j.seed and (" seed=" .. j.seed) or ""
    local env = follow and ("VIMO_THREADS_FILE=%s "):format(q(threads_path)) or ""
    local cmd = ("%s%s run %s %s %s threads=1%s%s %s"):format(env, q(exe), q(j.script), q("run=" .. j.run),
      q("results_dir=" .. runs_dir), extra, sd, j.args)
    spawn(cmd, runs_dir .. "/" .. j.run .. ".log", ("%s/%s.rc"):format(runs_dir, j.run), token)
    state[j.run] = "running"
  end
  local function poll()
    local running, pending = 0, 0
    for _, j in ipairs(jobs) do
      if state[j.run] == "running" then
        local f = io.open(("%s/%s.rc"):format(runs_dir, j.run))
        local line = f and f:read("l") or ""
        if f then f:close() end
        local status, tok = line:match("^(%-?%d+) (%S+)$")
        if tok == token then
          state[j.run] = math.tointeger(tonumber(status))
        else -- not written yet, or by a child of an earlier launch
          running = running + 1
        end
      end
    end
    local ready = {}
    for _, j in ipairs(jobs) do
      if state[j.run] == nil then
        local blocked, waiting = nil, false
        for _, d in ipairs(j.after) do
          local dep = state[d]
          if dep == "skipped" or type(dep) == "number" and dep ~= 0 then blocked = blocked or d
          elseif dep ~= 0 then waiting = true end
        end
        if blocked then
          state[j.run], j.failed_dep = "skipped", blocked
        elseif waiting then
          pending = pending + 1
        else
          ready[#ready + 1] = j
        end
      end
    end
    table.sort(ready, function(a, b)
      local ca, cb = COST[a.exp] or COST_OTHER, COST[b.exp] or COST_OTHER
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
    tell_threads(running)
    return running + pending > 0
  end
  local tty = vimo.isatty(2)
  local shown, last_print = 0, 0
  while poll() do
    execute("sleep 1")
    local lines = {}
    for _, j in ipairs(jobs) do
      local st, wait_for = state[j.run], nil
      for _, d in ipairs(j.after) do
        if state[d] ~= 0 then wait_for = wait_for and (wait_for .. ", " .. d) or d end
      end
      local line = st == "running" and last_line(runs_dir .. "/" .. j.run .. ".log")
        or st == nil and ("(waiting for %s)"):format(wait_for or "a free lane")
        or st == 0 and "(done)" or st == "skipped" and ("(skipped: %s failed)"):format(j.failed_dep)
        or ("(failed, exit status %s)"):format(tostring(st))
      lines[#lines + 1] = ("  %-18s %s"):format(j.run, line)
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
local function write_report(exps, counts, wall)
  local runs, each = {}, {}
  for _, e in ipairs(exps) do
    local n = e.name
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
  local names = {}
  for _, e in ipairs(exps) do names[#names + 1] = e.name end
  local summary = {wall_seconds = wall, splits = counts, table = t, runs = {}, experiments = names}
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
    plots and #plots > 0 and (", " .. table.concat(plots, ", "))
      or (" (no plots: " .. tostring(why or "gnuplot failed") .. ")")))
end

if opt.report_only then
  -- the experiments of the run being reported, unless given again
  local old = read_json(dir .. "/results.json") or {}
  if args.seeds == nil and type(old.seeds) == "table" then -- the seeds that run had
    for i, sd in ipairs(old.seeds) do seeds[i] = math.tointeger(sd) end
  end
  local list
  if args.experiments == nil and type(old.experiments) == "table" then -- names, in the table's order
    list = parse_experiments(table.concat(old.experiments, ","), true)
  else
    list = parse_experiments(opt.experiments)
  end
  assert(vimo.mkdir(dir))
  write_report(list, old.splits or {}, old.wall_seconds or 0)
else
  local exps = plan_experiments(opt.experiments) -- before any work: a bad list fails at once
  assert(vimo.mkdir(dir))
  assert(vimo.mkdir(runs_dir))
  local t0 = vimo.now()
  local counts = build_dataset()
  run_children(exps)
  write_report(exps, counts, vimo.now() - t0)
end
