-- luacheck configuration for vimo's Lua (scripts/, experiments/, tests/lua/).
-- Lua 5.4 (<close>, integer division, goto); no globals may be set or read
-- beyond the standard library: everything is `local`.
std = "lua54"
-- Line length is left to review: the check is about globals and unused names.
max_line_length = false
-- `self` unused in small methods is fine; everything else is reported.
self = false
-- Deliberately unparsable (tests/lua/test_errors.lua checks the message).
exclude_files = {"tests/lua/data/syntax_error.lua"}
-- `not (x > y)` is the NaN-aware way to write a bound check: allowed.
ignore = {"581"}
