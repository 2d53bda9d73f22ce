-- tests/lua/data/syntax_error.lua - does not parse: line 3 (test_errors.lua).
local a = 1
local b = = 2
