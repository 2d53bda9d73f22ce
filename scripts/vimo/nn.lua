--[[
vimo/nn.lua - small building blocks for experiments written in Lua.

  nn.linear{inp = 64, out = 10, rng = r, name = "head"}  -- y = x W^T + b
  nn.plugin_module(inst, "encoder")                      -- a plugin as a module
  nn.unit_rms(ctx, x, device)                            -- rows scaled to unit RMS

A module is a table with `params` (a list of {name=, tensor=} with unique,
prefixed names: what optimisers and checkpoints take) and `train(on)`.
Initialisation follows PyTorch's nn.Linear default, U(-1/sqrt(in),
1/sqrt(in)) for weight and bias, drawn from the rng given (reproducible).
Not a layer zoo: models belong in plugins (C); this is glue for heads and
toy experiments.
]]

local vimo = require "vimo"

local M = {}

-- Fills t with U(-bound, bound) from rng, element by element.
local function uniform_(t, rng, bound)
  local n = t:numel()
  local v = {}
  for i = 1, n do v[i] = (rng:uniform() * 2 - 1) * bound end
  t:copy(v)
  return t
end

--- nn.linear{inp=, out=, rng=, name= "linear", bias = true}
function M.linear(o)
  assert(math.type(o.inp) == "integer" and o.inp > 0, "nn.linear: inp must be a positive integer")
  assert(math.type(o.out) == "integer" and o.out > 0, "nn.linear: out must be a positive integer")
  local name = o.name or "linear"
  local bound = 1 / math.sqrt(o.inp)
  local w = uniform_(vimo.zeros(o.out, o.inp), o.rng, bound):requires_grad(true)
  local b = o.bias ~= false and uniform_(vimo.zeros(o.out), o.rng, bound):requires_grad(true) or nil
  local m = {params = {{name = name .. ".weight", tensor = w}}, weight = w, bias = b}
  if b then m.params[2] = {name = name .. ".bias", tensor = b} end
  function m.forward(ctx, x) return vimo.matmul(ctx, x, w, b) end
  function m.train() end
  return m
end

--- Wraps a plugin instance: its parameters named "<prefix>.<name>".
function M.plugin_module(inst, prefix)
  local m = {inst = inst, params = {}}
  for i, p in ipairs(inst:params()) do
    m.params[i] = {name = prefix .. "." .. p.name, tensor = p.tensor}
  end
  function m.train(on) inst:train(on) end
  return m
end

local unit_gain = {}
--- Rows of x (B, E) scaled to unit RMS, i.e. to length sqrt(E): rmsnorm with
-- a constant unit gain (one per width and device, made once and kept).
function M.unit_rms(ctx, x, device)
  local E = x:shape()[2]
  device = device or "cpu"
  local key = device .. ":" .. E
  if not unit_gain[key] then
    local g = vimo.zeros(E)
    g:fill(1.0)
    if device ~= "cpu" then g:move(device) end
    unit_gain[key] = g
  end
  return vimo.rmsnorm(ctx, x, unit_gain[key], 1e-6)
end

--- Concatenates the parameter lists of several modules (names must differ).
function M.params_of(...)
  local out, seen = {}, {}
  for _, m in ipairs({...}) do
    for _, p in ipairs(m.params) do
      if seen[p.name] then error("nn.params_of: parameter name '" .. p.name .. "' appears twice", 2) end
      seen[p.name] = true
      out[#out + 1] = p
    end
  end
  return out
end

return M
