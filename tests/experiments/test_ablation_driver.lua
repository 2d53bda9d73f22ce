-- tests/experiments/test_ablation_driver.lua - experiments/ablation.lua as a
-- researcher drives it, on a data subset: a copied experiment file of their
-- own is run and reported beside the shipped one; stopping the ablation as
-- Ctrl-C does (SIGINT to its process group) stops its children (none is
-- left training); resume=true then finishes the
-- same run folders; report_only rebuilds the tables from them. The results
-- folder and the experiment path hold a space and a quote, as a user's may.
local vimo = require "vimo"
local base = (os.getenv("VIMO_TEST_TMP") or "/tmp") .. "/vimo_test_ablation driver's"
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
os.execute("rm -rf " .. q(base))
assert(vimo.mkdir(base))
local exe, src = vimo.executable, vimo.source_dir
local common = "data_limit=40 contrast_epochs=1 contrast_video_epochs=1 contrast_batch=8 align_epochs=1 "
  .. "val_questions=0 eval_limit=4 log_every=1"

local passed, failed = 0, 0
local function check(cond, what)
  if cond then passed = passed + 1 else failed = failed + 1; print("FAIL: " .. what) end
end
local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function sleep(s) os.execute("sleep " .. s) end

-- The user's experiment: experiments/motion_only.lua under another name.
local mine = base .. "/my_motion.lua"
local text = assert(read(src .. "/experiments/motion_only.lua")):gsub('name = "motion_only"', 'name = "my_motion"')
local f = assert(io.open(mine, "wb"))
f:write(text)
f:close()

local function ablation(args, log)
  return ("%s run %s %s %s %s %s > %s 2>&1"):format(q(exe), q(src .. "/experiments/ablation.lua"),
    q("results_dir=" .. base), q("experiments=motion_only," .. mine), common, args, q(base .. "/" .. log))
end

-- Processes whose command line names this test's results folder (the
-- ablation, its children and the shells that wait for them and write their
-- exit status), found through /proc. The shells' command lines hold the
-- folder as sh quotes it (the quote in it becomes '\''), hence two
-- patterns; they come from a file, so that grep's own command line has none.
local pat = base .. "/alive.pattern"
f = assert(io.open(pat, "wb"))
f:write("results_dir=" .. base, "\n", "results_dir=" .. base:gsub("'", "'\\''"), "\n")
f:close()
local function alive()
  local p = io.popen("grep -lasF -f " .. q(pat) .. " /proc/[0-9]*/cmdline 2>/dev/null")
  local n = 0
  for line in p:lines() do if not line:find("/self/", 1, true) then n = n + 1 end end
  p:close()
  return n
end

-- 1. bad lists fail at once, naming the entry
local ok = os.execute(("%s run %s results_dir=%s experiments=motion_only,%s > %s 2>&1"):format(q(exe),
  q(src .. "/experiments/ablation.lua"), q(base), q(base .. "/none.lua"), q(base .. "/bad.log")))
local msg = read(base .. "/bad.log") or ""
check(ok ~= true and msg:find("'none': no file " .. base .. "/none.lua", 1, true),
      "a missing experiment file is refused, naming it:\n" .. msg)
ok = os.execute(("%s run %s results_dir=%s experiments=joint,joint > %s 2>&1"):format(q(exe),
  q(src .. "/experiments/ablation.lua"), q(base), q(base .. "/dup.log")))
msg = read(base .. "/dup.log") or ""
check(ok ~= true and msg:find("two experiments are named 'joint'", 1, true), "a name given twice is refused:\n" .. msg)
ok = os.execute(("%s run %s results_dir=%s experiments=motion_only,stage0_joint_video > %s 2>&1"):format(q(exe),
  q(src .. "/experiments/ablation.lua"), q(base), q(base .. "/own.log")))
msg = read(base .. "/own.log") or ""
check(ok ~= true and msg:find("'stage0_joint_video': stage0_* names are the ablation's own runs", 1, true),
      "a name of the ablation's own stage-0 runs is refused:\n" .. msg)
-- a stage-0 child that fails skips the experiments waiting for it (stop_at=1: every child stops
-- after its first step with status 3, as a crash would; the experiments never start)
ok = os.execute(("%s run %s %s run=deps experiments=motion_only,joint %s stop_at=1 > %s 2>&1"):format(q(exe),
  q(src .. "/experiments/ablation.lua"), q("results_dir=" .. base), common, q(base .. "/deps.log")))
msg = read(base .. "/deps.log") or ""
check(ok ~= true and msg:find("stage0_motion (3)", 1, true) and msg:find("motion_only (skipped)", 1, true)
      and msg:find("joint (skipped)", 1, true), "a failed stage-0 child skips its dependants, named:\n" .. msg)
check(read(base .. "/deps/runs/joint.log") == nil and read(base .. "/deps/runs/stage0_joint_video.log") ~= nil,
      "joint never started; its video stage 0 child did")
os.execute("rm -rf " .. q(base .. "/deps"))
check(read(base .. "/ablation/runs") == nil and not os.execute("test -e " .. q(base .. "/ablation")),
      "a refused list leaves no run folder")

-- 2. stopped mid-run by Ctrl-C: SIGINT to the process group of the ablation. setsid makes it a
--    group of its own, as a terminal's foreground job is; env restores SIGINT's default action,
--    which a command started in the background by sh inherits as ignored. Its children ignore
--    SIGINT (they are such background commands), so the watchers must stop them.
os.execute("setsid env --default-signal=INT " .. ablation("run=k instruct_epochs=6", "k.log") .. " & echo $! > "
           .. q(base .. "/k.pid"))
local pid = math.tointeger(tonumber(read(base .. "/k.pid")))
local runs = base .. "/k/runs"
local started = false
for _ = 1, 480 do -- both children past an epoch of stage 2 (at most 4 minutes)
  if read(runs .. "/motion_only/instruct/last.ckpt") and read(runs .. "/my_motion/instruct/last.ckpt") then
    started = true
    break
  end
  sleep(0.5)
end
check(started and pid and alive() >= 3, "the ablation and its two children are running")
os.execute("kill -INT -" .. tostring(pid)) -- dash: no "--"
local left = -1
for _ = 1, 40 do -- each child's watcher polls every second
  left = alive()
  if left == 0 then break end
  sleep(0.5)
end
check(left == 0, ("no child is left running after the ablation was stopped (%d)"):format(left))
local klog = read(base .. "/k.log") or ""
check(klog:find("ablation: interrupted", 1, true) and not klog:find("wall time", 1, true),
      "the ablation itself stopped, saying why:\n" .. klog)
-- Each child's shell writes its exit status last, through a rename that dash
-- runs as an exec of `mv` (the last command of a subshell), whose command
-- line no longer names the folder: alive() can say 0 a moment before the
-- file is there, so it is waited for (a few seconds at most).
local function exit_status(r)
  for _ = 1, 20 do
    local rc = math.tointeger(tonumber((read(runs .. "/" .. r .. ".rc") or ""):match("^(%-?%d+)") or ""))
    if rc then return rc end
    sleep(0.5)
  end
end
for _, r in ipairs({"motion_only", "my_motion"}) do
  local rc = exit_status(r)
  check(rc and rc ~= 0, r .. " was stopped (exit status " .. tostring(rc) .. ")")
  check(read(runs .. "/" .. r .. "/results.json") == nil or not (read(runs .. "/" .. r .. "/results.json")):find(
        '"eval"', 1, true), r .. " had not finished")
end

-- 3. resume=true finishes both from their checkpoints
check(os.execute(ablation("run=k instruct_epochs=6 resume=true", "k_resume.log")) == true, "resume=true exits 0")
for _, r in ipairs({"motion_only", "my_motion"}) do
  local res = vimo.json_decode(read(runs .. "/" .. r .. "/results.json") or "{}")
  local ins = res.instruct or {}
  check(ins.resumed_from and ins.resumed_from > 0, r .. " continued stage 2 from a checkpoint (step "
        .. tostring(ins.resumed_from) .. ")")
  local whole = #(ins.losses or {}) == ins.steps
  for i, p in ipairs(ins.losses or {}) do whole = whole and p.step == i end
  check(whole, r .. ": results.json has stage 2's whole loss curve")
  check(res.eval and res.eval.qa and res.eval.qa.overall.n > 0, r .. " was evaluated")
end

-- 4. the user's experiment is reported beside the shipped one
local summary = vimo.json_decode(read(base .. "/k/results.json") or "{}")
check(summary.experiments and summary.experiments[1] == "motion_only" and summary.experiments[2] == "my_motion",
      "results.json lists the experiments, the shipped one first")
check(summary.runs and summary.runs.my_motion and summary.runs.my_motion.eval, "results.json has my_motion's results")
local md = read(base .. "/k/results.md") or ""
check(md:find("| motion_only | my_motion | majority |", 1, true), "results.md has a column for each:\n" .. md)
if os.execute("command -v gnuplot > /dev/null 2>&1") then
  check(read(base .. "/k/accuracy.png") and read(base .. "/k/loss.png"), "the plots were drawn in a quoted path")
  check((read(base .. "/k/loss.gp") or ""):find("my_motion instruct", 1, true), "the loss plot has my_motion's curve")
end

-- 5. report_only rebuilds the same tables from the run folders, the experiments from results.json
os.remove(base .. "/k/results.md")
ok = os.execute(("%s run %s %s run=k report_only=true > %s 2>&1"):format(q(exe),
  q(src .. "/experiments/ablation.lua"), q("results_dir=" .. base), q(base .. "/report.log")))
check(ok == true and read(base .. "/k/results.md") == md, "report_only writes the same results.md")

print(("%d passed, %d failed"):format(passed, failed))
if failed > 0 then os.exit(1) end
