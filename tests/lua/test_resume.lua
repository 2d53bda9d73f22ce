--[[
tests/lua/test_resume.lua - THE resume check: experiments/toy_resume.lua
run (a) uninterrupted, (b) stopped after k steps as by a kill (stop_at:
the process exits without saving), then (c) resumed with resume=true from
the last checkpoint. The losses are printed as hex floats, so the
comparison is bitwise: b must equal a's first k steps, and c must start
right after the checkpoint and equal a's remaining steps exactly.
Case 1 resumes from an epoch-end checkpoint, case 2 from a mid-epoch one
(save_every), which also needs the data order restored mid-permutation.

  vimo run tests/lua/test_resume.lua vimo=/path/to/vimo tmp=/scratch/dir
]]

local vimo = require "vimo"
local check = require "check"

local exe = assert(vimo.args.vimo, "pass vimo=<path of the vimo executable>")
local tmp = assert(vimo.args.tmp, "pass tmp=<scratch folder>")
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local toy = here .. "/../../experiments/toy_resume.lua"
assert(vimo.mkdir(tmp))

local STOPPED = 3 -- trainer.STOPPED

-- Runs the toy with overrides; returns {[step] = "hex decimal"}, first and
-- last step seen, and the exit status.
local function toy_run(run, args)
  local cmd = ("%s run %s results_dir=%s run=%s %s"):format(check.quote(exe), check.quote(toy), check.quote(tmp),
    run, args or "")
  local out, err, code = check.run_split(cmd, tmp)
  local losses, first, last = {}, nil, nil
  for step, loss in out:gmatch("step (%d+) loss (%S+ %S+)\n") do
    step = math.tointeger(tonumber(step))
    losses[step] = loss
    first = first or step
    last = step
  end
  local params = {}
  for name, hex in out:gmatch("param (%S+) (%S+)\n") do params[name] = hex end
  return {losses = losses, first = first, last = last, code = code, err = err, params = params}
end

local function expect_same(got, want, from, to, what)
  for s = from, to do
    check.ok(got.losses[s] ~= nil, ("%s: step %d missing"):format(what, s))
    check.eq(got.losses[s], want.losses[s], ("%s: loss at step %d"):format(what, s))
  end
end

-- The reference: 4 epochs of 6 steps.
os.execute("rm -rf " .. check.quote(tmp .. "/ref") .. " " .. check.quote(tmp .. "/epoch") .. " " ..
  check.quote(tmp .. "/mid"))
local a = toy_run("ref")
check.eq(a.code, 0, "uninterrupted run succeeds:\n" .. a.err)
check.eq(a.first, 1, "reference starts at step 1")
check.eq(a.last, 24, "reference runs 24 steps")
-- Training does something: the last epoch's mean loss is below the first's.
local function mean(r, from, to)
  local s = 0
  for i = from, to do s = s + tonumber(r.losses[i]:match("%S+ (%S+)")) end
  return s / (to - from + 1)
end
check.ok(mean(a, 19, 24) < mean(a, 1, 6), "the loss goes down")

-- Case 1: stopped after step 10 (epoch 2); last checkpoint: end of epoch 1 (step 6).
local b = toy_run("epoch", "stop_at=10")
check.eq(b.code, STOPPED, "stop_at ends the process with status 3")
check.eq(b.last, 10, "stopped run ends at step 10")
expect_same(b, a, 1, 10, "before the stop")
local c = toy_run("epoch", "resume=true")
check.eq(c.code, 0, "resumed run succeeds:\n" .. c.err)
check.ok(c.err:find("at step 6", 1, true), "resumed from the epoch-1 checkpoint:\n" .. c.err)
check.ok(not c.err:find("configuration differs", 1, true), "the same settings: nothing reported:\n" .. c.err)
check.eq(c.first, 7, "resume continues after the checkpoint")
check.eq(c.last, 24, "resume runs to the end")
expect_same(c, a, 7, 24, "after resume (epoch checkpoint)")

-- Case 2: checkpoints every 4 steps too; stop after 11 -> resume from step 8,
-- i.e. from batch 2 of epoch 2 (same permutation drawn again).
b = toy_run("mid", "save_every=4 stop_at=11")
check.eq(b.code, STOPPED, "stopped (mid-epoch case)")
expect_same(b, a, 1, 11, "before the stop (mid-epoch case)")
c = toy_run("mid", "save_every=4 resume=true")
check.eq(c.code, 0, "resumed run succeeds (mid-epoch case):\n" .. c.err)
check.ok(c.err:find("at step 8 (epoch 2, batch 2)", 1, true), "resumed mid-epoch:\n" .. c.err)
check.eq(c.first, 9, "mid-epoch resume continues at step 9")
expect_same(c, a, 9, 24, "after resume (mid-epoch checkpoint)")

-- Case 3: weight averaging from step 12 (swa = 0.5 of 24 steps); stopped
-- after step 15, resumed from the epoch-2 checkpoint (step 12, where the
-- mean starts): the same losses and, bit for bit, the same averaged weights.
os.execute("rm -rf " .. check.quote(tmp .. "/swa_ref") .. " " .. check.quote(tmp .. "/swa"))
local sa = toy_run("swa_ref", "swa=0.5")
check.eq(sa.code, 0, "uninterrupted run with swa succeeds:\n" .. sa.err)
expect_same(sa, a, 1, 24, "swa does not change the steps")
local nparams, differ = 0, 0
for name, hex in pairs(a.params) do
  nparams = nparams + 1
  if sa.params[name] ~= hex then differ = differ + 1 end
end
check.ok(nparams >= 4 and differ == nparams, ("swa ends with other weights than the last step's (%d of %d differ)"):format(
  differ, nparams))
b = toy_run("swa", "swa=0.5 stop_at=15")
check.eq(b.code, STOPPED, "stopped (swa case)")
c = toy_run("swa", "swa=0.5 resume=true")
check.eq(c.code, 0, "resumed run succeeds (swa case):\n" .. c.err)
check.ok(c.err:find("at step 12", 1, true), "resumed from the epoch-2 checkpoint:\n" .. c.err)
expect_same(c, a, 13, 24, "after resume (swa case)")
for name, hex in pairs(sa.params) do
  check.ok(c.params[name] == hex, "swa after resume: the weights of " .. name .. " are the uninterrupted run's")
end

-- The resumed run's results.json has the whole curve, steps 1..24, the ones
-- before step 8 from the checkpoint's loss history (trainer: losses.msgpack).
local function curve(run)
  local f = assert(io.open(tmp .. "/" .. run .. "/results.json"))
  local r = vimo.json_decode(f:read("a"))
  f:close()
  return r.train
end
local whole = curve("mid")
check.eq(whole.resumed_from, 8, "results.json: resumed from step 8")
check.eq(#whole.losses, 24, "results.json: every step's loss after a resume")
for i, p in ipairs(whole.losses) do
  check.eq(p.step, i, "results.json: step " .. i)
  -- cJSON writes 15 significant digits where they read back within one
  -- ulp, so results.json matches the printed losses to ~1e-15, not bitwise
  local want = tonumber(a.losses[i]:match("^(%S+)"))
  check.near(p.loss, want, 4e-16 * math.abs(want), "results.json: loss at step " .. i)
end

-- A resume that is asked for with a changed setting says so.
c = toy_run("mid", "save_every=4 resume=true lr=0.01")
check.ok(c.err:find("configuration differs from the checkpoint: lr", 1, true),
  "a changed setting is reported:\n" .. c.err)

-- $VIMO_THREADS_FILE (the ablation's share of the cores): the loop takes the
-- thread count from the file, says so, and the losses do not change.
local tfile, want_threads = tmp .. "/threads", vimo.threads() == 1 and 2 or 1 -- not the default
local tf = assert(io.open(tfile, "wb"))
tf:write(want_threads, "\n")
tf:close()
local cmd_env = ("VIMO_THREADS_FILE=%s "):format(check.quote(tfile))
local out, err, code = check.run_split(cmd_env .. ("%s run %s results_dir=%s run=threads_file"):format(
  check.quote(exe), check.quote(toy), check.quote(tmp)), tmp)
check.eq(code, 0, "a run that follows VIMO_THREADS_FILE succeeds:\n" .. err)
check.ok(err:find(("kernel threads: %d (%s)"):format(want_threads, tfile), 1, true),
  "it takes the count from the file:\n" .. err)
local followed = {}
for step, loss in out:gmatch("step (%d+) loss (%S+ %S+)\n") do followed[math.tointeger(tonumber(step))] = loss end
expect_same({losses = followed}, a, 1, 24, "threads from VIMO_THREADS_FILE")

-- trainer.config_diff: values compared as the checkpoint stores them (text);
-- a key the checkpoint lacks differs unless `before` gives the value that
-- reproduces checkpoints made before the option existed.
local trainer = require "vimo.trainer"
local saved = {lr = "0.001", epochs = "4", name = "x"}
check.list_eq(trainer.config_diff(saved, {lr = 1e-3, epochs = 4, name = "x"}), {}, "config_diff: the same config")
check.list_eq(trainer.config_diff(saved, {lr = 1e-3, epochs = 5, name = "x"}), {"epochs: 4 -> 5"},
              "config_diff: a changed value")
check.list_eq(trainer.config_diff(saved, {lr = 1e-3, epochs = 5}, {epochs = true}), {},
              "config_diff: free keys are skipped")
check.list_eq(trainer.config_diff(saved, {lr = 1e-3, pad = "edge"}), {"pad: (not in the checkpoint) -> edge"},
              "config_diff: a key the checkpoint lacks")
check.list_eq(trainer.config_diff(saved, {lr = 1e-3, pad = "edge", p = 0}, nil, {pad = "edge", p = 0}), {},
              "config_diff: lacking it is no difference at its value from before")
check.list_eq(trainer.config_diff(saved, {lr = 1e-3, pad = "loop", p = 0.5}, nil, {pad = "edge", p = 0}),
              {"p: (not in the checkpoint) -> 0.5", "pad: (not in the checkpoint) -> loop"},
              "config_diff: at another value it is")

-- Weight averaging is the mean of the weights after each step from
-- ceil(swa * total) on: recorded here after every step and averaged in
-- plain Lua (a sum, where the loop keeps a running mean: ~1e-7 apart).
local nn = require "vimo.nn"
for _, swa in ipairs({0.3, 0.6}) do
  local lin = nn.linear{inp = 3, out = 2, rng = vimo.rng(3), name = "lin"}
  local x = vimo.randn(vimo.rng(4), {8, 3})
  local y = vimo.randn(vimo.rng(5), {8, 2})
  local after = {}
  local r = trainer.run{
    opt = {epochs = 3, batch_size = 4, lr = 0.05, wd = 0, warmup = 0, min_lr = 0, clip = 0, seed = 1, shuffle = false,
           ckpt_dir = "", save_every = 0, resume = false, stop_at = 0, log_every = 100},
    model = {params = lin.params, forward = function(ctx) return vimo.mse(ctx, lin.forward(ctx, x), y) end},
    data = {size = 8, batch = function(idx) return idx end}, swa = swa, label = "swa",
    on_step = function(step)
      after[step] = {lin.weight:totable(), lin.bias:totable()}
    end,
  }
  local from = math.ceil(swa * 6)
  check.eq(r.swa and r.swa.from, from, ("swa = %g: averaging starts at step %d"):format(swa, from))
  check.eq(r.swa.steps, 6 - from + 1, "and covers the steps to the end")
  local got = {lin.weight:totable(), lin.bias:totable()}
  local function mean_at(get)
    local s = 0.0
    for st = from, 6 do s = s + get(after[st]) end
    return s / (6 - from + 1)
  end
  local worst, moved = 0.0, 0.0
  for i = 1, 2 do
    for j = 1, 3 do
      local m = mean_at(function(w) return w[1][i][j] end)
      worst = math.max(worst, math.abs(got[1][i][j] - m))
      moved = math.max(moved, math.abs(after[6][1][i][j] - m))
    end
    local m = mean_at(function(w) return w[2][i] end)
    worst = math.max(worst, math.abs(got[2][i] - m))
  end
  check.ok(worst < 1e-6, ("swa = %g: the weights are the mean over steps %d-6 (max error %g)"):format(swa, from, worst))
  check.ok(moved > 1e-4, ("swa = %g: which is not the last step's weights (%g apart)"):format(swa, moved))
end

check.done("test_resume")
