-- tests/lua/data/print_args.lua - prints vimo.args sorted, with Lua types.
local vimo = require "vimo"
local keys = {}
for k in pairs(vimo.args) do keys[#keys + 1] = tostring(k) end
table.sort(keys)
for _, k in ipairs(keys) do
  local v = vimo.args[k] == nil and vimo.args[math.tointeger(tonumber(k))] or vimo.args[k]
  io.write(("%s=%s:%s\n"):format(k, tostring(v), math.type(v) or type(v)))
end
io.write(("arg0=%s\n"):format(arg[0]))
