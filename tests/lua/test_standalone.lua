--[[
tests/lua/test_standalone.lua - `require "vimo"` from a plain lua5.4
interpreter (no `vimo run`): the module loads from <build>/lua/vimo.so and
works. Run as:
  lua5.4 -e 'package.cpath = "<build>/lua/?.so;" .. package.cpath' test_standalone.lua
]]

local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. here .. "/../../scripts/?.lua;" .. package.path

local vimo = require "vimo"
local check = require "check"

check.eq(type(vimo.version()), "string", "version from a standalone interpreter")
local ctx = vimo.ctx()
-- [[1, 2]] @ [[3, 4], [5, 6]]^T = [[11, 17]]
local y = vimo.matmul(ctx, vimo.tensor{{1, 2}}, vimo.tensor{{3, 4}, {5, 6}})
check.all_near(y:totable(), {{11, 17}}, 1e-6, "matmul")
check.eq(type(vimo.args), "table", "vimo.args exists (empty outside vimo run)")
-- The pure-Lua library loads too.
local options = require "vimo.options"
local spec = options.new("t"):add{name = "n", default = 1}
check.eq(spec:parse(options.from_argv{"n=4"}).n, 4, "options from argv")
check.done("test_standalone")
