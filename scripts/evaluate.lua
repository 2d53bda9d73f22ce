--[[
scripts/evaluate.lua - score a trained run again, on any split of its data.

  build/vimo run scripts/evaluate.lua run=results/ablation/runs/motion_only split=val [out=val.json]

Rebuilds the run's model from its folder (config.json, model.ckpt;
vimo.mllm.load_run), loads the dataset it was trained on (the same video
size, frames, data_limit and holdout fold: a cross-validation run's val
split is its held-out fold) and answers every question of the split's
clips with experiment.evaluate, the function the eval stage calls: QA
accuracy per category beside the majority-answer baseline, overall and per
data source.
Greedy decoding makes this reproduce the run's own eval figures exactly at
the run's thread count (another count may round differently in the GEMMs);
it is how runs made before the eval stage scored the val split (eval_val)
get their val figures (docs/experiments.md, sixth round).
Options: run = the run folder (required), split = train | val | test (val),
captions = true to score captions too (BLEU / ROUGE-L / CIDEr-D), out = a
JSON file for the results, preds = a JSON file for every question's answer
(as the eval stage's predictions.json), eval_mirror = true | false (the
run's by default: answer from the clip and its left/right mirror too,
Model:answer_mirror; motion-only runs), threads = kernel threads (the
run's by default).
]]

local vimo = require "vimo"
local mllm = require "vimo.mllm"
local data = require "vimo.data"
local experiment = require "vimo.experiment"
local report = require "vimo.report"

local a = vimo.args
local dir = a.run or error("evaluate: run=DIR (a run folder with config.json and model.ckpt) is required", 0)
local split = a.split or "val"
if split ~= "train" and split ~= "val" and split ~= "test" then
  error("evaluate: split must be train, val or test, not " .. tostring(split), 0)
end

local model, opt, ck = mllm.load_run(dir)
if not model then error("evaluate: " .. opt, 0) end
ck:close()
vimo.threads(a.threads or opt.threads or 0)
local limit = (opt.data_limit or 0) > 0 and opt.data_limit or nil
local ds, derr = data.load{S = opt.video_size, F = opt.frames, limit = limit, quiet = true}
if not ds then error("evaluate: " .. tostring(derr), 0) end
experiment.apply_holdout(ds, opt.holdout)
local clips = ds:split(split)
if #clips == 0 then error(("evaluate: the %s split of this dataset is empty"):format(split), 0) end

local mirror = a.eval_mirror == nil and opt.eval_mirror or a.eval_mirror == true -- the run's setting by default
local r, preds = experiment.evaluate(model, ds, clips, not a.captions and math.huge or nil, mirror)
model:close()
local t = report.table({{name = opt.run or dir, results = {eval = r}}})
t.split = split
if split == "val" then t.split_label = report.holdout_label(opt.holdout) end
io.write(report.text(t))
local function write_json(path, value)
  local f = assert(io.open(path, "wb"))
  f:write(vimo.json_encode(value, true), "\n")
  f:close()
end
if a.preds then write_json(a.preds, preds) end
if a.out then write_json(a.out, {run = dir, split = split, clips = #clips, eval = r}) end
