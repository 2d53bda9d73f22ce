-- tests/lua/data/c_error_at_line.lua - a C op fails at line 7 (test_errors.lua).
local vimo = require "vimo"
local ctx = vimo.ctx()
local x = vimo.zeros(2, 3)
local w = vimo.zeros(4, 5)
-- inner dims 3 and 5 differ:
local y = vimo.matmul(ctx, x, w)
print(y)
