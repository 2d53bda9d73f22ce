-- tests/lua/data/error_at_line.lua - fails at line 5 (test_errors.lua).
local function inner()
  local x = 1
  if x == 1 then
    error("deliberate failure")
  end
end
inner()
