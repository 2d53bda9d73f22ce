--[[
vimo/trainer.lua - the generic training loop, with exact resume.

  local trainer = require "vimo.trainer"
  spec:merge(trainer.options)                 -- declare its options
  local r = trainer.run{
    opt = opt,                                -- resolved options
    model = {params = list, forward = f, train = g},
    data = dataset,                           -- {size =, batch(indices)}
    eval = function(epoch, ctx) return {metric = ...} end,   -- optional
    on_step = function(step, loss, grad_norm) end,           -- optional
    config = opt,                             -- saved with checkpoints
  }

model.forward(ctx, batch, rng) returns the scalar loss tensor (and
optionally the number of tokens it covered, for tokens/s). Each step:
ctx:reset(), next batch, forward, backward, gradient clipping, AdamW step
with the warmup-cosine factor, progress. Each epoch: eval, then a
checkpoint (ckpt_dir/last.ckpt, written atomically); save_every = N adds
mid-epoch checkpoints.

Resume (resume=true) restores the parameters, the AdamW moments and step,
the model RNG (dropout), the step count and the data order: the data RNG
state at the start of the current epoch plus the number of batches already
taken, so the permutation is drawn again identically. The losses after a
resume are then bit-identical to an uninterrupted run's (tests/lua).
stop_at = K ends the process right after global step K (exit status 3)
without saving, as a kill would.

The loss curve survives a resume too: each checkpoint is preceded by
ckpt_dir/losses.msgpack (the losses and evaluations so far, written
atomically), and a resume takes from it the steps up to the checkpoint's,
so result.losses is the whole curve, as an uninterrupted run's. (A run
folder made before this file existed resumes without it: its curve then
starts at the resume, in every later resume too.)

$VIMO_THREADS_FILE, when set, names a file holding a kernel thread count
that the loop follows (read at most once a second): the ablation shares the
cores out among its children so. The results do not change with it.

Weight averaging (spec.swa = f, 0 < f < 1): from step ceil(f * total) on,
a running mean of the parameters after every step is kept (dense
stochastic weight averaging: Izmailov et al., "Averaging Weights Leads to
Wider Optima and Better Generalization", UAI 2018; per step as SWAD, Cha et
al., NeurIPS 2021, for unseen domains), and the loop ends with the
parameters set to it. The means are in every checkpoint (as "swa.<name>"),
so a resumed run averages the same steps. No normalisation statistics need
recomputing: the models here have none (RMSNorm).

Not here: gradient accumulation, mixed precision, multi-process training.
]]

local vimo = require "vimo"
local options = require "vimo.options"
local progress = require "vimo.progress"
local dataset = require "vimo.dataset"

local M = {}

M.STOPPED = 3 -- exit status of a run ended by stop_at

M.options = {
  {name = "epochs", default = 1, help = "passes over the training set", validator = options.positive},
  {name = "batch_size", default = 8, help = "examples per step (last partial batch dropped)",
   validator = options.positive},
  {name = "lr", default = 1e-3, help = "peak learning rate", validator = options.positive},
  {name = "wd", default = 0.0, help = "AdamW decoupled weight decay", validator = options.non_negative},
  {name = "warmup", default = 0, help = "linear warmup steps", validator = options.non_negative},
  {name = "min_lr", default = 0.0, help = "final learning rate as a fraction of lr (cosine)",
   validator = function(v) return v >= 0 and v <= 1, "must be in [0, 1]" end},
  {name = "clip", default = 1.0, help = "max global gradient norm (0: no clipping)",
   validator = options.non_negative},
  {name = "seed", default = 0, help = "seed of the dropout and data-order generators"},
  {name = "shuffle", default = true, help = "shuffle the data every epoch"},
  {name = "ckpt_dir", default = "", help = "checkpoint folder ('' = no checkpoints)"},
  {name = "save_every", default = 0, help = "also checkpoint every N steps (0: epoch ends only)",
   validator = options.non_negative},
  {name = "resume", default = false, help = "continue from ckpt_dir/last.ckpt"},
  {name = "stop_at", default = 0, help = "exit after this global step without saving (tests a kill)",
   validator = options.non_negative},
  {name = "log_every", default = 10, help = "plain-log progress line every N steps", validator = options.positive},
}

-- Config keys that may differ between a run and its resume.
local RESUME_FREE = {resume = true, stop_at = true, log_every = true}

local function check_params(params)
  local seen = {}
  for i, p in ipairs(params) do
    if type(p) ~= "table" or type(p.name) ~= "string" or p.tensor == nil then
      error(("trainer: model.params[%d] must be {name = ..., tensor = ...}"):format(i), 3)
    end
    if seen[p.name] then error(("trainer: parameter name '%s' appears twice"):format(p.name), 3) end
    seen[p.name] = true
  end
end

local function parse_state(text)
  local s = {}
  for w in (text or ""):gmatch("%d+") do s[#s + 1] = math.tointeger(tonumber(w)) end
  if #s ~= 4 then error("trainer: checkpoint has no valid data-order state (trainer.data_rng)", 3) end
  return s
end

-- $VIMO_THREADS_FILE (header): the same bits at any thread count
-- (docs/determinism.md), so following it changes only the speed.
local threads_file = os.getenv("VIMO_THREADS_FILE")
local threads_checked = -math.huge
local function follow_threads(note)
  if not threads_file or vimo.now() - threads_checked < 1 then return end
  threads_checked = vimo.now()
  local f = io.open(threads_file, "rb")
  local n = f and math.tointeger(tonumber(f:read("l") or ""))
  if f then f:close() end
  if n and n >= 1 and n <= 4096 and n ~= vimo.threads() then
    vimo.threads(n)
    note(("kernel threads: %d (%s)"):format(vimo.threads(), threads_file))
  end
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The loss curve and evaluations so far, saved beside the checkpoint
-- (MessagePack, atomic), so a resumed run reports the whole curve.
-- Evaluations MessagePack cannot hold (a tensor, a function) are left out,
-- with a note: the curve still resumes.
local function save_history(path, result, note)
  local steps, losses, evals = {}, {}, {}
  for i, p in ipairs(result.losses) do steps[i], losses[i] = p.step, p.loss end
  for epoch, m in pairs(result.evals) do evals[#evals + 1] = {epoch = epoch, metrics = m} end
  local packed, ok, err = pcall(vimo.media.msgpack_save, path, {steps = steps, losses = losses, evals = evals})
  if not packed then
    note("trainer: the evaluations cannot be saved with the loss curve (" .. tostring(ok) .. "); saving without")
    ok, err = vimo.media.msgpack_save(path, {steps = steps, losses = losses, evals = {}})
  end
  if not ok then error("trainer: " .. err) end
end

-- result.losses and result.evals back from save_history's file, up to
-- step (the checkpoint's) and epoch. Without the file (a run folder from
-- before it existed) or with a damaged one, the curve starts at the resume
-- (noted); the checkpoint alone decides the training.
local function load_history(path, result, step, epoch, note)
  if not file_exists(path) then return end
  local ok, h, err = pcall(vimo.media.msgpack_load, path)
  if not ok or type(h) ~= "table" or type(h.steps) ~= "table" or type(h.losses) ~= "table" then
    note(("resume: %s: %s; the reported loss curve starts here"):format(path,
      tostring(not ok and h or err or "not a loss history")))
    return
  end
  for i, st in ipairs(h.steps) do
    if st <= step then result.losses[#result.losses + 1] = {step = st, loss = h.losses[i]} end
  end
  for _, e in ipairs(h.evals or {}) do
    if e.epoch <= epoch then result.evals[e.epoch] = e.metrics end
  end
end

-- Flat string view of a config table, as the checkpoint stores it:
-- {["key"] = "value", ["group.key"] = ...}, floats with 17 digits.
local function config_text(cfg, prefix, out)
  out = out or {}
  for k, v in pairs(cfg or {}) do
    local key = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(v) == "table" then
      config_text(v, key, out)
    elseif math.type(v) == "float" then
      out[key] = ("%.17g"):format(v)
    else
      out[key] = tostring(v)
    end
  end
  return out
end

--- The keys of cfg (a config table) whose values differ from saved (a
-- checkpoint's flat config, ckpt:config()) or that saved lacks, skipping
-- the keys in the set free: a sorted list of "key: saved -> now". before
-- (optional) maps options added since some checkpoints were written to the
-- value that reproduces what those checkpoints did: a key saved lacks is
-- no difference when cfg has exactly that value.
function M.config_diff(saved, cfg, free, before)
  local diff = {}
  local old = before and config_text(before) or {}
  for k, v in pairs(config_text(cfg)) do
    local same = saved[k] == v or saved[k] == nil and old[k] == v
    if not (free or {})[k] and not same then
      diff[#diff + 1] = ("%s: %s -> %s"):format(k, saved[k] == nil and "(not in the checkpoint)" or saved[k], v)
    end
  end
  table.sort(diff)
  return diff
end

-- Notes config keys that differ from the checkpoint's, or that it lacks (an
-- option added since it was written, now at its default): a resume with
-- other settings is allowed, but not silently.
local function compare_config(saved, cfg, note)
  local diff = M.config_diff(saved, cfg, RESUME_FREE)
  if #diff > 0 then note("resume: configuration differs from the checkpoint: " .. table.concat(diff, ", ")) end
end

-- avg[i] <- avg[i] + (params[i] - avg[i]) / n: the running mean of the
-- parameters over n steps (n = 1 starts it afresh).
local function average(ctx, params, avg, n)
  local prev = ctx:grad(false)
  for i, p in ipairs(params) do
    if n == 1 then
      avg[i]:copy(p.tensor)
    else
      avg[i]:copy(vimo.add(ctx, avg[i], vimo.scale(ctx, vimo.sub(ctx, p.tensor, avg[i]), 1.0 / n)))
    end
  end
  ctx:grad(prev)
end

--- Runs the loop described above; returns {losses = {{step=, loss=}...},
-- step = final step, evals = {[epoch] = metrics}, resumed_from = step or nil}.
function M.run(spec)
  local opt, model, ds = spec.opt, spec.model, spec.data
  assert(type(opt) == "table", "trainer.run: opt (resolved options) is required")
  assert(type(model) == "table" and type(model.forward) == "function", "trainer.run: model.forward is required")
  assert(type(ds) == "table" and ds.size and ds.batch, "trainer.run: data = {size =, batch =} is required")
  local params = model.params
  check_params(params)

  local bs = opt.batch_size
  local per_epoch = ds.size // bs
  if per_epoch < 1 then error(("trainer: %d examples make no batch of %d"):format(ds.size, bs), 2) end
  local total = opt.epochs * per_epoch

  local swa = spec.swa or 0
  if swa < 0 or swa >= 1 then error(("trainer: swa must be in [0, 1), not %s"):format(tostring(swa)), 2) end
  local avg, swa_from = {}, math.max(1, math.ceil(swa * total))
  local saved = params -- what checkpoints hold: the parameters and, with swa, their means
  if swa > 0 then
    saved = table.move(params, 1, #params, 1, {})
    for i, p in ipairs(params) do
      avg[i] = p.tensor:clone()
      saved[#saved + 1] = {name = "swa." .. p.name, tensor = avg[i]}
    end
  end

  local rng = vimo.rng(opt.seed)                   -- dropout and other model randomness
  local data_rng = vimo.rng(opt.seed + 0x5eed5eed) -- data order: an independent stream
  local adamw = vimo.adamw{}
  for _, g in ipairs(spec.groups or {{params = params, lr = opt.lr, wd = opt.wd}}) do
    adamw:add_group{params = g.params, lr = g.lr, wd = g.wd}
  end
  local ctx = vimo.ctx()
  local bar = progress.new{total = total, label = spec.label or "train", every = opt.log_every}
  local function note(msg) bar:note(msg) end

  local st = {step = 0, epoch = 0, pos = 0, data_state = data_rng:state()}
  local ckpt = opt.ckpt_dir ~= "" and (opt.ckpt_dir .. "/last.ckpt") or nil
  local history = ckpt and (opt.ckpt_dir .. "/losses.msgpack")
  local result = {losses = {}, evals = {}}

  if opt.resume then
    if not ckpt then error("trainer: resume=true needs ckpt_dir", 2) end
    if not file_exists(ckpt) then
      note("resume: no checkpoint at " .. ckpt .. ", starting from step 0")
    else
      local ck, err = vimo.load_checkpoint(ckpt)
      if not ck then error("trainer: resume: " .. err, 2) end
      ck:restore{params = saved, optimizer = adamw, rng = rng}
      local meta = ck:meta()
      st.step = ck:step()
      st.epoch = math.tointeger(tonumber(meta["trainer.epoch"])) or error("trainer: checkpoint lacks trainer.epoch")
      st.pos = math.tointeger(tonumber(meta["trainer.position"])) or error("trainer: checkpoint lacks trainer.position")
      st.data_state = parse_state(meta["trainer.data_rng"])
      compare_config(ck:config(), spec.config or opt, note)
      ck:close()
      load_history(history, result, st.step, st.epoch, note)
      result.resumed_from = st.step
      note(("resume: %s at step %d (epoch %d, batch %d)"):format(ckpt, st.step, st.epoch + 1, st.pos))
    end
  end
  if ckpt then
    local ok, err = vimo.mkdir(opt.ckpt_dir)
    if not ok then error("trainer: " .. err, 2) end
  end

  local function save()
    if not ckpt then return end
    save_history(history, result, note) -- first: a checkpoint never runs ahead of its curve
    local ok, err = vimo.save_checkpoint(ckpt, {
      params = saved, optimizer = adamw, rng = rng, step = st.step,
      config = spec.config or opt,
      meta = {["trainer.epoch"] = st.epoch, ["trainer.position"] = st.pos,
              ["trainer.data_rng"] = table.concat(st.data_state, " "), ["vimo.version"] = vimo.version()},
    })
    if not ok then error("trainer: checkpoint: " .. err) end
  end

  if model.train then model.train(true) end
  while st.epoch < opt.epochs do
    data_rng:set_state(st.data_state)
    local order = dataset.permutation(ds.size, data_rng, opt.shuffle)
    local next_state = data_rng:state()
    for b = st.pos, per_epoch - 1 do
      follow_threads(note)
      local idx = table.move(order, b * bs + 1, (b + 1) * bs, 1, {})
      ctx:reset()
      local batch = ds.batch(idx)
      local loss, tokens = model.forward(ctx, batch, rng)
      local lv = loss:item()
      ctx:backward(loss)
      local gnorm = opt.clip > 0 and vimo.clip_grad_norm(params, opt.clip) or nil
      st.step = st.step + 1
      adamw:step(vimo.lr_warmup_cosine(st.step, opt.warmup, total, opt.min_lr))
      adamw:zero_grad()
      st.pos = b + 1
      if swa > 0 and st.step >= swa_from then average(ctx, params, avg, st.step - swa_from + 1) end
      result.losses[#result.losses + 1] = {step = st.step, loss = lv}
      if spec.on_step then spec.on_step(st.step, lv, gnorm) end
      bar:update(st.step, {loss = lv, tokens = tokens})
      if opt.stop_at > 0 and st.step == opt.stop_at then
        bar:finish()
        io.stdout:flush()
        os.exit(M.STOPPED, false) -- no save, no cleanup: as a kill
      end
      if opt.save_every > 0 and st.step % opt.save_every == 0 and st.pos < per_epoch then save() end
    end
    st.epoch, st.pos, st.data_state = st.epoch + 1, 0, next_state
    if spec.eval then
      if model.train then model.train(false) end
      local m = spec.eval(st.epoch, ctx)
      if model.train then model.train(true) end
      result.evals[st.epoch] = m
      if m then
        local parts = {}
        for k, v in pairs(m) do parts[#parts + 1] = ("%s %s"):format(k, tostring(v)) end
        table.sort(parts)
        note(("epoch %d: %s"):format(st.epoch, table.concat(parts, ", ")))
      end
    end
    save()
  end
  bar:finish()
  if swa > 0 and st.step >= swa_from then
    for i, p in ipairs(params) do p.tensor:copy(avg[i]) end
    result.swa = {from = swa_from, steps = st.step - swa_from + 1}
  end
  ctx:close()
  result.step = st.step
  return result
end

return M
