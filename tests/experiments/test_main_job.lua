-- tests/experiments/test_main_job.lua - the main job's pipeline end to end
-- on a small subset, and issue 7's resume check: a run killed mid-stage and
-- continued with resume=true has the same losses as an uninterrupted one.
-- Child processes are the real `vimo run experiments/...` a user runs.
local vimo = require "vimo"
local tmp = (os.getenv("VIMO_TEST_TMP") or "/tmp") .. "/vimo_test_main_job"
os.execute("rm -rf '" .. tmp .. "'")
assert(vimo.mkdir(tmp))
local exe, src = vimo.executable, vimo.source_dir
local common = "data_limit=40 contrast_epochs=1 contrast_video_epochs=1 contrast_batch=8 align_epochs=1 instruct_epochs=2 val_questions=0 eval_limit=4 threads=1 log_every=1 save_every=2"

local function run(script, args)
  local cmd = ("'%s' run '%s/experiments/%s.lua' results_dir='%s' %s %s > '%s/%s.log' 2>&1"):format(
    exe, src, script, tmp, common, args, tmp, args:gsub("[^%w]", "_"))
  local ok, _, code = os.execute(cmd)
  return ok and 0 or code
end

local function results(run_name)
  local f = assert(io.open(tmp .. "/" .. run_name .. "/results.json"))
  local r = vimo.json_decode(f:read("a"))
  f:close()
  return r
end

local passed, failed = 0, 0
local function check(cond, what)
  if cond then passed = passed + 1 else failed = failed + 1; print("FAIL: " .. what) end
end

-- 1. uninterrupted
check(run("motion_only", "run=full") == 0, "uninterrupted run exits 0")
local full = results("full")
check(full.eval and full.eval.qa and full.eval.qa.overall.n > 0, "the eval stage reports QA accuracy")
check(full.eval and full.eval.captions and full.eval.captions.n > 0, "the eval stage reports caption metrics")
-- per data source: the same questions split by clip source, so the counts add up
local by_src, n_sum, c_sum = full.eval and full.eval.qa_by_source or {}, 0, 0
for _, q in pairs(by_src) do n_sum, c_sum = n_sum + q.overall.n, c_sum + q.overall.correct end
check(next(by_src) ~= nil, "the eval stage reports QA accuracy per data source")
check(full.eval and n_sum == full.eval.qa.overall.n and c_sum == full.eval.qa.overall.correct,
      ("per-source questions and correct answers add up to the totals (%d/%d)"):format(c_sum, n_sum))
-- predictions.json names each answer's clip and source, for error analysis by hand
local pf = io.open(tmp .. "/full/eval/predictions.json")
local preds = pf and vimo.json_decode(pf:read("a")) or {}
if pf then pf:close() end
local with_source = 0
for _, p in ipairs(preds) do if p.id and by_src[p.source] then with_source = with_source + 1 end end
check(#preds > 0 and with_source == #preds, ("every prediction names its clip and a scored source (%d of %d)"):format(
  with_source, #preds))
-- the val split is scored too (eval_val, default on), on clips apart from the test clips
if full.data.val > 0 then
  local vq = full.eval.val and full.eval.val.qa
  check(vq and vq.overall.n > 0, "the eval stage reports QA accuracy on the val split")
  local vf = io.open(tmp .. "/full/eval/predictions_val.json")
  local vpreds = vf and vimo.json_decode(vf:read("a")) or {}
  if vf then vf:close() end
  -- against the dataset the run used: every val clip answered, no other clip
  local ds = assert(require("vimo.data").load{limit = 40, quiet = true})
  local val_ids, answered, stray = {}, {}, 0
  for _, c in ipairs(ds:split("val")) do val_ids[c.id] = true end
  for _, p in ipairs(vpreds) do
    if val_ids[p.id] then answered[p.id] = true else stray = stray + 1 end
  end
  local missing = 0
  for id in pairs(val_ids) do if not answered[id] then missing = missing + 1 end end
  check(vq and #vpreds == vq.overall.n and stray == 0 and missing == 0,
        ("one val prediction per val question (%d), all of val clips (%d not), every val clip (%d missing)"):format(
        #vpreds, stray, missing))
  -- scripts/evaluate.lua rebuilds the model from the run folder and scores it again: the same answers
  local cmd = ("'%s' run '%s/scripts/evaluate.lua' run='%s/full' split=val out='%s/val.json' > '%s/evaluate.log' 2>&1"):format(
    exe, src, tmp, tmp, tmp)
  check(os.execute(cmd), "scripts/evaluate.lua exits 0")
  local ef = io.open(tmp .. "/val.json")
  local ev = ef and vimo.json_decode(ef:read("a"))
  if ef then ef:close() end
  local same = ev ~= nil and vq ~= nil and ev.eval.qa.overall.correct == vq.overall.correct
  for i, c in ipairs(vq and vq.categories or {}) do
    local e = ev and ev.eval.qa.categories[i]
    same = same and e ~= nil and e.category == c.category and e.correct == c.correct and e.n == c.n
  end
  check(same, "scripts/evaluate.lua reproduces the eval stage's val figures")
  local bad = ("'%s' run '%s/scripts/evaluate.lua' run='%s/nothing' > '%s/evaluate_bad.log' 2>&1"):format(
    exe, src, tmp, tmp)
  local lf = (not os.execute(bad)) and io.open(tmp .. "/evaluate_bad.log")
  local msg = lf and lf:read("a") or ""
  if lf then lf:close() end
  check(msg:find("nothing is not a run folder", 1, true), "evaluate: a missing run folder fails, named:\n" .. msg)
else
  check(false, "the test subset has val clips (data_limit too small?)")
end
local steps = #full.instruct.losses
check(steps >= 6, "enough instruct steps to interrupt (" .. steps .. ")")

-- 2. killed after instruct step 5 (last checkpoint: step 4) (stop_at exits without saving, as a kill),
--    then resumed: the losses after the resume point equal the full run's, and results.json has the
--    whole curve (the steps before the resume point come back from the checkpoint's loss history).
check(run("motion_only", "run=killed stop_at=5") == 3, "stop_at ends the run with status 3")
check(run("motion_only", "run=killed resume=true") == 0, "resume=true completes the run")
local resumed = results("killed")
local by_step = {}
for _, p in ipairs(full.instruct.losses) do by_step[p.step] = p.loss end
local same, n = true, 0
for i, p in ipairs(resumed.instruct.losses) do
  n = n + 1
  if p.step ~= i or by_step[p.step] ~= p.loss then
    same = false
    print(("entry %d, step %d: %.9g vs %.9g"):format(i, p.step, p.loss, by_step[p.step] or 0))
  end
end
local from = resumed.instruct.resumed_from
check(from and from > 0 and from < steps, "the resumed run continued mid-stage (from step " .. tostring(from) .. ")")
check(same and n == steps, ("resumed losses are identical to the uninterrupted run's, all %d steps (%d)"):format(steps, n))
for _, stage in ipairs({"align"}) do -- finished before the kill: its curve is all in the history
  check(#resumed[stage].losses == #full[stage].losses and resumed[stage].resumed_from,
        stage .. ": the finished stage's curve is reported after the resume")
end
check(#resumed.contrast.motion.losses == #full.contrast.motion.losses, "contrast: so is stage 0's")

-- 3. `vimo describe` answers about one clip with the trained run
local out = tmp .. "/describe.txt"
local dcmd = ("'%s' describe --checkpoint '%s/full' --motion '%s/data/motion/cmu_mocap/bvh/02_01.bvh.gz' "
              .. "--prompt 'What is the person doing?' > '%s' 2>&1"):format(exe, tmp, src, out)
check(os.execute(dcmd) == true, "describe exits 0")
local fh = io.open(out)
local answer = fh and fh:read("a") or ""
if fh then fh:close() end
check(#answer > 0, "describe printed an answer")
local bad = ("'%s' describe --checkpoint '%s/full' --video '%s/data/video/mmaction2/demo.mp4' > /dev/null 2>&1")
  :format(exe, tmp, src)
check(os.execute(bad) ~= true, "a motion-only model refuses a video")

-- 4. the ablation driver on the same subset, with its report files
local cmd = ("'%s' run '%s/experiments/ablation.lua' results_dir='%s' run=abl %s > '%s/ablation.log' 2>&1"):format(
  exe, src, tmp, common, tmp)
check(os.execute(cmd) == true, "ablation exits 0")
for _, f in ipairs({"results.json", "results.md"}) do
  local h = io.open(tmp .. "/abl/" .. f)
  check(h ~= nil, "ablation wrote " .. f)
  if h then h:close() end
end
-- 4b. stage 0 of motion ran once (runs/stage0_motion) and motion_only and joint took it with
--     contrast_from, joint its video's from runs/stage0_joint_video: every later loss equals a
--     run that trained its own stage 0 (motion_only: the uninterrupted run of part 1, same
--     options; joint: a run of its own here, both modalities trained in one process)
local function losses_equal(a, b, stage)
  local la, lb = a[stage] and a[stage].losses or {}, b[stage] and b[stage].losses or {}
  if #la == 0 or #la ~= #lb then return false end
  for i = 1, #la do if la[i].loss ~= lb[i].loss or la[i].step ~= lb[i].step then return false end end
  return true
end
local abl_runs = tmp .. "/abl/runs"
local function abl(run_name)
  local f = io.open(abl_runs .. "/" .. run_name .. "/results.json")
  local r = f and vimo.json_decode(f:read("a")) or {}
  if f then f:close() end
  return r
end
local s0, amo, ajo = abl("stage0_motion"), abl("motion_only"), abl("joint")
check(s0.contrast and s0.contrast.motion and (s0.contrast.motion.steps or 0) > 0 and s0.align == nil,
      "the ablation ran stage 0 of motion alone (stage0_motion)")
for name, r in pairs({motion_only = amo, joint = ajo}) do
  local cm = r.contrast and r.contrast.motion or {}
  check(cm.from == abl_runs .. "/stage0_motion", name .. " took stage 0 of motion from it: " .. tostring(cm.from))
  check(losses_equal({c = cm}, {c = s0.contrast and s0.contrast.motion}, "c"), name .. " reports its stage-0 losses")
end
-- joint's stage 0 of video ran beside it (runs/stage0_joint_video: joint with motion's off)
local s0v = abl("stage0_joint_video")
check(s0v.contrast and s0v.contrast.video and (s0v.contrast.video.steps or 0) > 0 and s0v.contrast.motion
      and s0v.contrast.motion.skipped and s0v.align == nil, "the ablation ran joint's stage 0 of video alone")
local cv = ajo.contrast and ajo.contrast.video or {}
check(cv.from == abl_runs .. "/stage0_joint_video" and losses_equal({c = cv}, {c = s0v.contrast and s0v.contrast.video}, "c"),
      "joint took stage 0 of video from it: " .. tostring(cv.from))
check(losses_equal(amo, full, "align") and losses_equal(amo, full, "instruct"),
      "motion_only's align and instruct losses equal the run that trained its own stage 0")
check(run("joint", "run=joint_alone") == 0, "joint on its own exits 0")
local alone = results("joint_alone")
check(losses_equal(ajo, alone, "align") and losses_equal(ajo, alone, "instruct"),
      "joint's align and instruct losses equal the run that trained its own stage 0")
-- a run that took its stage 0 from another can stand in for it: contrast_from follows the link
check(run("motion_only", "run=chain contrast_from=" .. abl_runs .. "/motion_only") == 0,
      "contrast_from a run that took its stage 0 from another exits 0")
local chain = results("chain")
check(chain.contrast and chain.contrast.motion and chain.contrast.motion.from == abl_runs .. "/stage0_motion"
      and losses_equal(chain, full, "instruct"), "it takes the stage 0 that run took, with the same losses after")
check(run("motion_only", "run=badfrom contrast_epochs=2 contrast_from=" .. tmp .. "/full") ~= 0,
      "contrast_from refuses a stage 0 trained with other options")
local bf = io.open(tmp .. "/" .. ("run=badfrom contrast_epochs=2 contrast_from=" .. tmp .. "/full"):gsub("[^%w]", "_")
                   .. ".log")
local bfmsg = bf and bf:read("a") or ""
if bf then bf:close() end
check(bfmsg:find("contrast_epochs: 1 -> 2", 1, true) and bfmsg:find("full/contrast/motion/last.ckpt", 1, true),
      "and names the file and the option:\n" .. bfmsg)

-- 5. seeds=0,1: one run per seed, and the table's figure is their mean
cmd = ("'%s' run '%s/experiments/ablation.lua' results_dir='%s' run=abl_seeds experiments=motion_only seeds=0,1 %s "
       .. "> '%s/ablation_seeds.log' 2>&1"):format(exe, src, tmp, common, tmp)
check(os.execute(cmd) == true, "ablation with seeds=0,1 exits 0")
local fs = io.open(tmp .. "/abl_seeds/results.json")
check(fs ~= nil, "it wrote results.json")
if fs then
  local r = vimo.json_decode(fs:read("a"))
  fs:close()
  local a, b = r.runs.motion_only_s0, r.runs.motion_only_s1
  check(a and b, "one run per seed (motion_only_s0, motion_only_s1)")
  if a and b then
    local want = (a.eval.qa.overall.accuracy + b.eval.qa.overall.accuracy) / 2
    check(math.abs(r.mean.motion_only.qa.overall.accuracy - want) < 1e-12, "the table shows the mean over seeds")
    check(a.eval.qa_by_source and next(a.eval.qa_by_source) ~= nil, "each seed's results have qa_by_source")
    for source, q in pairs(a.eval.qa_by_source or {}) do
      local qb = b.eval.qa_by_source and b.eval.qa_by_source[source]
      local m = r.mean.motion_only.qa_by_source and r.mean.motion_only.qa_by_source[source]
      check(qb and m and math.abs(m.overall.accuracy - (q.overall.accuracy + qb.overall.accuracy) / 2) < 1e-12,
            "the per-source table shows the mean over seeds (" .. source .. ")")
    end
  end
end
-- 5b. report_only on that run, without seeds=: the seeds come back from its results.json
local md_path = tmp .. "/abl_seeds/results.md"
local mf = io.open(md_path)
local md_before = mf and mf:read("a") or ""
if mf then mf:close() end
os.remove(md_path)
cmd = ("'%s' run '%s/experiments/ablation.lua' results_dir='%s' run=abl_seeds report_only=true > '%s/report_seeds.log' 2>&1")
  :format(exe, src, tmp, tmp)
local rok = os.execute(cmd)
mf = io.open(md_path)
local md_after = mf and mf:read("a") or ""
if mf then mf:close() end
check(rok == true and #md_before > 0 and md_after == md_before,
      "report_only without seeds= rebuilds the same multi-seed results.md")

-- 6. holdout=2/3 (cross-validation): fold 2 of the train split is trained without and scored as val;
--    the clips are those Dataset:holdout names, and scripts/evaluate.lua scores the same fold again
check(run("motion_only", "run=fold holdout=2/3") == 0, "holdout=2/3 exits 0")
local fold = results("fold")
local fds = assert(require("vimo.data").load{limit = 40, quiet = true})
local n_train = #fds:split("train")
local moved = assert(fds:holdout(2, 3))
local fold_ids, answered = {}, 0
for _, c in ipairs(fds:split("val")) do fold_ids[c.id] = true end
check(moved > 0 and fold.data.val == moved and fold.data.train == n_train - moved,
      ("the run trained on %s and scored %s clips (want %d and %d)"):format(
      tostring(fold.data.train), tostring(fold.data.val), n_train - moved, moved))
local ff = io.open(tmp .. "/fold/eval/predictions_val.json")
local fpreds = ff and vimo.json_decode(ff:read("a")) or {}
if ff then ff:close() end
for _, p in ipairs(fpreds) do if fold_ids[p.id] then answered = answered + 1 end end
check(#fpreds > 0 and answered == #fpreds, ("every val prediction is of a held-out clip (%d of %d)"):format(
      answered, #fpreds))
cmd = ("'%s' run '%s/scripts/evaluate.lua' run='%s/fold' split=val out='%s/fold_val.json' > '%s/fold_eval.log' 2>&1")
  :format(exe, src, tmp, tmp, tmp)
local fe_ok = os.execute(cmd)
local fe = io.open(tmp .. "/fold_val.json")
local fev = fe and vimo.json_decode(fe:read("a"))
if fe then fe:close() end
check(fe_ok and fev and fev.clips == moved and fold.eval.val and
      fev.eval.qa.overall.correct == fold.eval.val.qa.overall.correct,
      "scripts/evaluate.lua scores the run's held-out fold again, with the same figures")
local fl = io.open(tmp .. "/fold_eval.log")
local flog = fl and fl:read("a") or ""
if fl then fl:close() end
check(flog:find("on the held-out fold 2/3 of the train split", 1, true), "and names the fold it scored:\n" .. flog)
check(run("motion_only", "run=badfold holdout=2of3") ~= 0, "a malformed holdout is refused")
local bl = io.open(tmp .. "/run_badfold_holdout_2of3.log")
local bmsg = bl and bl:read("a") or ""
if bl then bl:close() end
check(bmsg:find("option 'holdout' = 2of3: want 'k/n'", 1, true), "the refusal names the option:\n" .. bmsg)
check(io.open(tmp .. "/badfold/config.json") == nil, "it is refused before the run folder is made")

print(("%d passed, %d failed"):format(passed, failed))
if failed > 0 then os.exit(1) end
