-- tests/experiments/test_device.lua - issue 8: the same Lua experiment
-- trains on another device with only `device=` changed. The main job's
-- joint experiment (contrast, align, instruct, eval: both encoders, the
-- projectors, LoRA, checkpoints) runs on the CPU and on `hostdev`, the test
-- backend that runs the CPU kernels behind device pointers the host can not
-- read (tests/backend/fake_device.h): every loss must be identical, so any
-- host-side shortcut or missed copy in the scripts or plugins shows up as a
-- crash or a different number. With a GPU the same run with device=cuda is
-- the check of docs/cuda.md.
local vimo = require "vimo"
local tmp = (os.getenv("VIMO_TEST_TMP") or "/tmp") .. "/vimo_test_device"
os.execute("rm -rf '" .. tmp .. "'")
assert(vimo.mkdir(tmp))
local exe, src = vimo.executable, vimo.source_dir
local common = "data_limit=24 contrast_epochs=1 contrast_video_epochs=1 contrast_batch=8 batch_size=8 "
  .. "align_epochs=1 instruct_epochs=1 val_questions=4 eval_limit=4 threads=1 pooled_token=true"

local passed, failed = 0, 0
local function check(cond, what)
  if cond then passed = passed + 1 else failed = failed + 1; print("FAIL: " .. what) end
end

local function run(args)
  local log = ("%s/%s.log"):format(tmp, args:gsub("[^%w]", "_"))
  local cmd = ("'%s' run '%s/experiments/joint.lua' results_dir='%s' %s %s > '%s' 2>&1"):format(
    exe, src, tmp, common, args, log)
  local ok = os.execute(cmd)
  if not ok then os.execute("tail -n 20 '" .. log .. "'") end
  return ok
end

local function results(name)
  local f = assert(io.open(tmp .. "/" .. name .. "/results.json"))
  local r = vimo.json_decode(f:read("a"))
  f:close()
  return r
end

-- A device that does not exist is a clear error before any training.
check(not run("run=nodev device=no_such_device"), "an unknown device fails the run")
local f = io.open(tmp .. "/run_nodev_device_no_such_device.log")
local text = f and f:read("a") or ""
if f then f:close() end
check(text:find("no_such_device", 1, true) ~= nil, "the error names the device")

check(run("run=cpu device=cpu"), "the CPU run exits 0")
check(run("run=dev device=hostdev"), "the hostdev run exits 0")
local a, b = results("cpu"), results("dev")

local function same_losses(la, lb, what)
  local n, diff = 0, nil
  for i, p in ipairs(la or {}) do
    n = n + 1
    local q = lb and lb[i]
    if not q or q.loss ~= p.loss then diff = diff or ("step %d: %.9g vs %s"):format(p.step, p.loss, q and q.loss) end
  end
  check(n > 0 and #lb == n, what .. ": both runs log the same number of steps (" .. n .. ")")
  check(diff == nil, what .. ": identical losses" .. (diff and (" (" .. diff .. ")") or ""))
end
same_losses(a.contrast.motion.losses, b.contrast.motion.losses, "contrast motion")
same_losses(a.contrast.video.losses, b.contrast.video.losses, "contrast video")
same_losses(a.align.losses, b.align.losses, "align")
same_losses(a.instruct.losses, b.instruct.losses, "instruct")
check(b.eval and b.eval.qa.overall.n > 0, "the device run evaluates")
check(a.eval.qa.overall.correct == b.eval.qa.overall.correct, "the same answers are right on both devices")

print(("%d passed, %d failed"):format(passed, failed))
if failed > 0 then error("test_device failed", 0) end
