--[[
experiments/motion_autoencoder.lua - stage 0 on its own: the T2M-GPT motion
encoder (encoder.motion_tcn with its decoder) pretrained as an autoencoder on
the shipped clips' HumanML3D features, as T2M-GPT does (Zhang et al. 2023,
sec. 3.1), and compared with predicting the mean pose.

  vimo run experiments/motion_autoencoder.lua [epochs=20] [limit=0] [quantizer=false]

Reports the reconstruction MSE (normalised feature units) on the test split's
windows beside the mean-pose baseline: the train mean of every feature,
which in normalised units is 0, so its MSE is the test windows' mean square.
Prints "reconstruction <mse> mean_pose <mse> ratio <r>" as its last line.
]]

local vimo = require "vimo"
local runner = require "vimo.runner"
local trainer = require "vimo.trainer"
local nn = require "vimo.nn"
local data = require "vimo.data"

local L = 64 -- frames per window (3.2 s at 20 fps), a multiple of 4

local function windows(ctx, clips, rng)
  local w = {}
  for i, c in ipairs(clips) do
    local T = c.motion:shape()[1]
    local start = rng and (T > L and rng:below(T - L + 1) or 0) or math.max(0, (T - L) // 2)
    w[i] = vimo.window(ctx, c.motion, start, L)
  end
  return vimo.stack(ctx, w)
end

local function evaluate(enc, clips)
  local ctx = vimo.ctx()
  ctx:grad(false)
  enc:train(false)
  local rec, base, n = 0.0, 0.0, 0
  for i = 1, #clips, 16 do
    ctx:reset()
    local batch = table.move(clips, i, math.min(i + 15, #clips), 1, {})
    local x = windows(ctx, batch, nil)
    rec = rec + enc:pretrain_loss(ctx, x, #batch, nil):item() * #batch
    base = base + vimo.mse(ctx, x, vimo.zeros(x:shape())):item() * #batch
    n = n + #batch
  end
  ctx:close()
  return rec / n, base / n
end

return runner.main({
  name = "motion_autoencoder",
  help = "pretrain encoder.motion_tcn as an autoencoder and compare with the mean pose",
  options = {
    {name = "limit", default = 0, help = "use only N clips (0 = all)"},
    {name = "width", default = 128, help = "encoder width"},
    {name = "quantizer", default = false, help = "vector-quantise the latent (VQ-VAE)"},
  },
  components = {trainer.options},
  defaults = {epochs = 20, lr = 2e-3, batch_size = 16, warmup = 10, min_lr = 0.1, clip = 5.0, log_every = 20},
  stages = {{name = "train", run = function(env)
    local opt = env.opt
    local ds = assert(data.load{limit = opt.limit > 0 and opt.limit or nil, video = false})
    local train, test = ds:split("train"), ds:split("test")
    if #test == 0 then test = ds:split("val") end
    local enc = vimo.plugin("encoder.motion_tcn", {width = opt.width, out_dim = opt.width, decoder = true,
                                                   quantizer = opt.quantizer, seed = opt.seed + 1})
    local params = nn.plugin_module(enc, "motion_encoder").params
    if opt.ckpt_dir == "" then opt.ckpt_dir = env.stage_dir end
    local before = evaluate(enc, test)
    local res = trainer.run{
      opt = opt, label = "motion autoencoder", config = opt,
      model = {params = params, train = function(on) enc:train(on) end,
               forward = function(ctx, batch, rng) return enc:pretrain_loss(ctx, windows(ctx, batch, rng), #batch, rng),
                                                          #batch * L end},
      data = {size = #train, batch = function(idx)
        local b = {}
        for i, k in ipairs(idx) do b[i] = train[k] end
        return b
      end},
    }
    local rec, base = evaluate(enc, test)
    io.stdout:write(("reconstruction %.6f mean_pose %.6f ratio %.4f (untrained %.6f, %d test windows)\n")
      :format(rec, base, rec / base, before, #test))
    enc:close()
    return {reconstruction_mse = rec, mean_pose_mse = base, ratio = rec / base, untrained_mse = before,
            steps = res.step}
  end}},
}, vimo.args)
