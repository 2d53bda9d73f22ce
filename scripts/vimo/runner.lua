--[[
vimo/runner.lua - runs an experiment: options, stages in order, results.

  local runner = require "vimo.runner"
  return runner.main({
    name = "toy",                             -- default run name
    help = "what the experiment does",
    options = {...},                          -- the experiment's declarations
    components = {trainer.options},           -- components it composes
    stages = {
      {name = "train", run = function(env) ... return {loss = 0.1} end},
      {name = "eval",  run = function(env) ... end},
    },
  }, vimo.args)

Each stage gets env = {opt = resolved options, dir = results/<run>,
stage_dir = results/<run>/<stage> (created), results = the stages so far,
note = print to stderr}. The resolved options go to
results/<run>/config.json before anything runs; results/<run>/results.json
is rewritten after every stage (a crash keeps what finished). help=true
prints the options and runs nothing; stages=a,b runs only those.
Does not decide what a stage does: experiments compose components.
]]

local vimo = require "vimo"
local options = require "vimo.options"

local M = {}

M.options = {
  {name = "run", type = "string", help = "run name: results go to <results_dir>/<run>"},
  {name = "results_dir", default = "results", help = "folder of all runs"},
  {name = "stages", default = "", help = "comma-separated stages to run ('' = all)"},
  {name = "help", default = false, help = "print the options and exit"},
}

local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then error("runner: " .. err, 3) end
  f:write(text)
  f:close()
end

--- The option set of an experiment: runner options, its own, its components'.
function M.spec(exp)
  local spec = options.new(exp.name .. (exp.help and (" - " .. exp.help) or ""))
  spec:merge(M.options)
  spec:set_default("run", exp.name)
  spec:merge(exp.options or {})
  for _, c in ipairs(exp.components or {}) do spec:merge(c) end
  for k, v in pairs(exp.defaults or {}) do spec:set_default(k, v) end
  return spec
end

--- Runs exp with the overrides (vimo.args); returns the results table.
function M.main(exp, overrides)
  assert(type(exp) == "table" and type(exp.name) == "string", "runner.main: experiment needs a name")
  assert(type(exp.stages) == "table" and #exp.stages > 0, "runner.main: experiment needs stages")
  local spec = M.spec(exp)
  local opt = spec:parse(overrides)
  if opt.help then
    print(spec:help())
    return nil
  end
  local wanted = {}
  for s in opt.stages:gmatch("[^,%s]+") do wanted[s] = true end
  for s in pairs(wanted) do
    local found = false
    for _, st in ipairs(exp.stages) do found = found or st.name == s end
    if not found then error(("runner: no stage '%s' in %s"):format(s, exp.name), 2) end
  end

  local dir = opt.results_dir .. "/" .. opt.run
  local ok, err = vimo.mkdir(dir)
  if not ok then error("runner: " .. err, 2) end
  write_file(dir .. "/config.json", vimo.json_encode(opt, true) .. "\n")

  local results = {}
  local function note(msg)
    io.stderr:write(msg, "\n")
    io.stderr:flush()
  end
  for _, stage in ipairs(exp.stages) do
    if next(wanted) == nil or wanted[stage.name] then
      local stage_dir = dir .. "/" .. stage.name
      ok, err = vimo.mkdir(stage_dir)
      if not ok then error("runner: " .. err, 2) end
      note(("== %s: stage %s"):format(opt.run, stage.name))
      local t0 = vimo.now()
      local r = stage.run({opt = opt, dir = dir, stage_dir = stage_dir, results = results, note = note}) or {}
      r.seconds = r.seconds or (vimo.now() - t0)
      results[stage.name] = r
      write_file(dir .. "/results.json", vimo.json_encode(results, true) .. "\n")
    end
  end
  return results
end

return M
