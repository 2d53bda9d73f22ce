--[[
vimo/options.lua - declared options: name, default, help, validator.

Each component declares its own options (OpenNMT style); an experiment
merges the declarations it composes and parses `key=value` overrides
against them. Unknown keys are an error naming every one of them, wrong
types and failed validators an error naming the option.

  local options = require "vimo.options"
  local spec = options.new("toy experiment")
  spec:add{name = "lr", default = 1e-3, help = "peak learning rate",
           validator = options.positive}
  spec:merge(trainer.options)          -- a component's declarations
  local opt = spec:parse(vimo.args)    -- typed table of every option

Types come from the default (integer, number, boolean, string) or from
`type =` when the default is nil (then `required = true` makes it
mandatory). Values from `vimo run` are already typed (numerals are
numbers); strings are converted when the option's type asks for it.
Does not read files or the environment: the caller decides where
overrides come from.
]]

local M = {}

local Spec = {}
Spec.__index = Spec

local TYPES = {integer = true, number = true, boolean = true, string = true}

local function type_of_default(v)
  if math.type(v) == "integer" then return "integer" end
  if type(v) == "number" then return "number" end
  return type(v)
end

--- A new, empty option set; title is printed by help().
function M.new(title)
  return setmetatable({title = title or "options", list = {}, by_name = {}}, Spec)
end

--- Declares one option: {name=, default=, help=, type=, validator=, required=}.
-- validator(value) returns true, or false/nil and a message.
function Spec:add(o)
  assert(type(o) == "table" and type(o.name) == "string" and o.name ~= "", "options: add{name = ...} needs a name")
  if self.by_name[o.name] then error(("options: '%s' declared twice"):format(o.name), 2) end
  local t = o.type or (o.default ~= nil and type_of_default(o.default)) or nil
  if not TYPES[t] then
    error(("options: '%s' needs a default or a type (integer, number, boolean, string)"):format(o.name), 2)
  end
  local entry = {name = o.name, default = o.default, help = o.help or "", type = t, validator = o.validator,
                 required = o.required or false}
  self.list[#self.list + 1] = entry
  self.by_name[o.name] = entry
  return self
end

--- Adds every option of another set or of a plain list of declarations.
function Spec:merge(other)
  for _, o in ipairs(other.list or other) do self:add(o) end
  return self
end

--- Overrides the default of a declared option (an experiment's choice).
function Spec:set_default(name, value)
  local e = self.by_name[name]
  if not e then error(("options: cannot set the default of undeclared '%s'"):format(name), 2) end
  e.default = value
  return self
end

-- Converts v to option e's type, or returns nil and a message.
local function convert(e, given)
  local t, v = e.type, given
  if t == "string" then
    if type(v) == "string" then return v end
    if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  elseif t == "integer" then
    if type(v) == "string" then v = tonumber(v) end
    local i = type(v) == "number" and math.tointeger(v) or nil
    if i then return i end
  elseif t == "number" then
    if type(v) == "string" then v = tonumber(v) end
    if type(v) == "number" then return v end
  elseif t == "boolean" then
    if type(v) == "boolean" then return v end
    if v == "true" or v == 1 or v == "1" then return true end
    if v == "false" or v == 0 or v == "0" then return false end
  end
  return nil, ("option '%s' wants %s %s, got %s %s"):format(e.name, t == "integer" and "an" or "a", t, type(given),
    tostring(given))
end

--- Resolves the options: defaults, then the overrides table (string keys;
-- integer keys are positional arguments and ignored here). Raises an error
-- naming every unknown key, or the option with a bad value.
function Spec:parse(overrides)
  overrides = overrides or {}
  local unknown = {}
  for k in pairs(overrides) do
    if type(k) == "string" and not self.by_name[k] then unknown[#unknown + 1] = k end
  end
  if #unknown > 0 then
    table.sort(unknown)
    local known = {}
    for _, e in ipairs(self.list) do known[#known + 1] = e.name end
    error(("unknown option%s '%s' (known: %s)"):format(#unknown > 1 and "s" or "", table.concat(unknown, "', '"),
      table.concat(known, ", ")), 2)
  end
  local out = {}
  for _, e in ipairs(self.list) do
    local v = overrides[e.name]
    if v == nil then
      v = e.default
      if v == nil and e.required then error(("option '%s' is required (%s)"):format(e.name, e.help), 2) end
    else
      local msg
      v, msg = convert(e, v)
      if v == nil then error(msg, 2) end
    end
    if v ~= nil and e.validator then
      local ok, msg = e.validator(v)
      if not ok then error(("option '%s' = %s: %s"):format(e.name, tostring(v), msg or "invalid value"), 2) end
    end
    out[e.name] = v
  end
  return out
end

--- The help text: one line per option with type, default and help.
function Spec:help()
  local lines = {self.title .. ":"}
  local w = 0
  for _, e in ipairs(self.list) do w = math.max(w, #e.name) end
  for _, e in ipairs(self.list) do
    local def = e.default == nil and (e.required and "required" or "unset") or tostring(e.default)
    lines[#lines + 1] = ("  %-" .. w .. "s  %-7s  %-10s  %s"):format(e.name, e.type, def, e.help)
  end
  return table.concat(lines, "\n")
end

--- Typed overrides from "key=value" strings (e.g. the standalone lua's arg):
-- true/false -> boolean, numerals -> number, else string; as `vimo run` does.
function M.from_argv(argv)
  local out = {}
  for _, a in ipairs(argv or {}) do
    local k, v = a:match("^([^=]+)=(.*)$")
    if not k then
      out[#out + 1] = a
    elseif v == "true" or v == "false" then
      out[k] = v == "true"
    else
      out[k] = tonumber(v) or v
    end
  end
  return out
end

-- Common validators.
function M.positive(v) return v > 0, "must be > 0" end
function M.non_negative(v) return v >= 0, "must be >= 0" end
function M.unit_interval(v) return v >= 0 and v < 1, "must be in [0, 1)" end
function M.one_of(...)
  local allowed = {...}
  return function(v)
    for _, a in ipairs(allowed) do
      if a == v then return true end
    end
    return false, "must be one of " .. table.concat(allowed, ", ")
  end
end

return M
