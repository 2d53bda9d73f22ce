--[[
experiments/toy_resume.lua - a toy regression trained through a plugin,
checkpointed every epoch; the experiment behind the exact-resume test.

  vimo run experiments/toy_resume.lua                      # 4 epochs
  vimo run experiments/toy_resume.lua stop_at=10           # "killed" after step 10
  vimo run experiments/toy_resume.lua resume=true          # continues bit-identically

Model: encoder.template (per-frame linear + GELU + dropout, mean-pooled
windows) -> mean over tokens -> linear head -> MSE against a fixed random
target function of the clip. Data: synthetic clips drawn from data_seed.
Prints one line per step to stdout: "step N loss <hex float> <decimal>",
and at the end one per parameter: "param <name> <hex floats, comma-separated>".
Composition only: every piece comes from plugins or scripts/vimo.
]]

local vimo = require "vimo"
local runner = require "vimo.runner"
local trainer = require "vimo.trainer"
local nn = require "vimo.nn"
local dataset = require "vimo.dataset"
local options = require "vimo.options"

local T, F, OUT = 8, 6, 4

-- Synthetic clips x (T, F) ~ N(0, 1) and targets y = tanh(A mean_t(x)).
local function make_data(n, seed)
  local r = vimo.rng(seed)
  local a = {}
  for i = 1, OUT * F do a[i] = r:normal() end
  local xs, ys = {}, {}
  for e = 1, n do
    local x, mean = {}, {}
    for j = 1, F do mean[j] = 0 end
    for t = 0, T - 1 do
      for j = 1, F do
        local v = r:normal()
        x[t * F + j] = v
        mean[j] = mean[j] + v / T
      end
    end
    local y = {}
    for o = 1, OUT do
      local s = 0
      for j = 1, F do s = s + a[(o - 1) * F + j] * mean[j] end
      local e2 = math.exp(2 * s)
      y[o] = (e2 - 1) / (e2 + 1) -- tanh(s): Lua 5.4 has no math.tanh
    end
    xs[e], ys[e] = x, y
  end
  return dataset.arrays{x = xs, x_shape = {T, F}, y = ys, y_shape = {OUT}}
end

local function train(env)
  local opt = env.opt
  local enc = nn.plugin_module(vimo.plugin("encoder.template", {
    in_dim = F, dim = opt.dim, pool = 2, dropout = opt.dropout, seed = opt.seed}), "encoder")
  local head = nn.linear{inp = opt.dim, out = OUT, rng = vimo.rng(opt.seed + 1), name = "head"}
  local model = {params = nn.params_of(enc, head), train = enc.train}
  function model.forward(ctx, batch, rng)
    local tokens = enc.inst:encode(ctx, batch.x, nil, rng)   -- (B, T/2, dim)
    local pred = head.forward(ctx, vimo.mean(ctx, tokens, 1)) -- (B, OUT)
    return vimo.mse(ctx, pred, batch.y), batch.x:numel() // F
  end
  local ds = make_data(opt.examples, opt.data_seed)
  local r = trainer.run{
    opt = opt, model = model, data = ds, config = opt, label = "toy", swa = opt.swa,
    on_step = function(step, loss)
      io.write(("step %d loss %a %.9g\n"):format(step, loss, loss))
    end,
  }
  local c = vimo.ctx()
  for _, p in ipairs(model.params) do -- the weights it ends with, bitwise (the weight-average check)
    local hex = {}
    for i, v in ipairs(vimo.reshape(c, p.tensor, {p.tensor:numel()}):totable()) do hex[i] = ("%a"):format(v) end
    io.write(("param %s %s\n"):format(p.name, table.concat(hex, ",")))
  end
  c:close()
  local last = r.losses[#r.losses]
  return {steps = r.step, final_loss = last and last.loss, resumed_from = r.resumed_from, losses = r.losses}
end

return runner.main({
  name = "toy_resume",
  help = "toy regression through encoder.template with per-epoch checkpoints",
  options = {
    {name = "dim", default = 16, help = "encoder token width", validator = options.positive},
    {name = "dropout", default = 0.1, help = "encoder dropout (exercises the saved RNG)",
     validator = options.unit_interval},
    {name = "examples", default = 48, help = "synthetic training clips", validator = options.positive},
    {name = "data_seed", default = 7, help = "seed of the synthetic data"},
    {name = "swa", default = 0.0, help = "weight averaging past this fraction of the steps (trainer spec.swa)"},
  },
  components = {trainer.options},
  defaults = {epochs = 4, batch_size = 8, lr = 3e-3, warmup = 4, min_lr = 0.1, ckpt_dir = "",
              log_every = 6},
  stages = {{name = "train", run = function(env)
    if env.opt.ckpt_dir == "" then env.opt.ckpt_dir = env.dir .. "/ckpt" end
    return train(env)
  end}},
}, vimo.args)
