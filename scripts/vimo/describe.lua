--[[
vimo/describe.lua - `vimo describe`: one question about one clip, answered
by a trained model (greedy decoding).

  vimo describe --checkpoint results/ablation/runs/joint --video clip.mp4 --prompt "What is the person doing?"

Rebuilds the model from the run's config.json (plugins and options), adds
the LoRA adapters when the checkpoint has them, restores model.ckpt, then
reads the clip exactly as training did: a BVH through the motion pipeline
(features at 20 fps, normalised with the training mean/std stored in the
checkpoint), a video through the FFmpeg reader (F frames sampled uniformly,
centre crop S, CLIP normalisation). A joint model answers from the one
modality given; a single-modality model refuses the other.
]]

local vimo = require "vimo"
local mllm = require "vimo.mllm"

local a = vimo.args
local dir = assert(a.checkpoint, "describe: checkpoint=DIR is required")
local model, opt, ck = mllm.load_run(dir)
if not model then error("describe: " .. opt, 0) end

local want = a.motion and "motion" or "video"
local known = false
for _, m in ipairs(model.modalities) do known = known or m == want end
if not known then
  error(("describe: this model was trained on %s; it cannot read %s"):format(opt.modalities, want), 0)
end

local ctx = vimo.ctx()
ctx:grad(false)
local clip = {id = want == "motion" and a.motion or a.video}
local media = vimo.media
if want == "motion" then
  local r = media.process({{bvh = a.motion, name = a.motion}}, {threads = 1})[1]
  if not r.ok then error("describe: " .. tostring(r.err), 0) end
  local raw = media.tensor_f32(r.feat, {r.T, media.feature_dim})
  local mean, std = ck:tensor("data.motion_mean"), ck:tensor("data.motion_std")
  local inv = {}
  for i, s in ipairs(std:totable()) do inv[i] = 1.0 / s end
  clip.motion = vimo.mul(ctx, vimo.sub(ctx, raw, mean), vimo.tensor(inv))
else
  local F, S = opt.frames or 8, opt.video_size or 64
  local crops, verr = media.video_sample(a.video, F, S)
  if not crops then error("describe: " .. verr, 0) end
  clip.video = media.video_tensor(crops, F, S)
end
ck:close()

local view = setmetatable({modalities = {want}}, {__index = model})
local prompt = a.prompt or mllm.CAPTION_PROMPT
io.stdout:write(view:answer(ctx, clip, prompt, a.max_tokens or 48), "\n")
model:close()
