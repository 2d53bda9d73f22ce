--[[
tests/lua/check.lua - the assertions of the Lua tests.

Each check raises on failure with what was expected, so `vimo run` exits
non-zero with the failing test file and line; check.done() prints a count.
]]

local M = {count = 0}

local function fail(msg, level)
  error(msg, (level or 2) + 1)
end

function M.ok(v, msg)
  M.count = M.count + 1
  if not v then fail("check failed: " .. (msg or "expected a true value")) end
  return v
end

function M.eq(got, want, msg)
  M.count = M.count + 1
  if got ~= want then
    fail(("%s: got %s, want %s"):format(msg or "check.eq", tostring(got), tostring(want)))
  end
end

function M.near(got, want, tol, msg)
  M.count = M.count + 1
  if type(got) ~= "number" or math.abs(got - want) > tol then
    fail(("%s: got %s, want %.9g (tol %g)"):format(msg or "check.near", tostring(got), want, tol))
  end
end

-- Element-wise near for (nested) lists.
function M.all_near(got, want, tol, msg, path)
  path = path or ""
  if type(want) == "table" then
    if type(got) ~= "table" or #got ~= #want then
      M.count = M.count + 1
      fail(("%s%s: got %s entries, want %d"):format(msg or "check.all_near", path,
        type(got) == "table" and #got or type(got), #want))
    end
    for i = 1, #want do M.all_near(got[i], want[i], tol, msg, path .. "[" .. i .. "]") end
  else
    M.near(got, want, tol, (msg or "check.all_near") .. path)
  end
end

function M.list_eq(got, want, msg)
  M.count = M.count + 1
  if #got ~= #want then fail(("%s: %d entries, want %d"):format(msg or "check.list_eq", #got, #want)) end
  for i = 1, #want do
    if got[i] ~= want[i] then
      fail(("%s: entry %d is %s, want %s"):format(msg or "check.list_eq", i, tostring(got[i]), tostring(want[i])))
    end
  end
end

-- fn(...) must raise an error whose message contains `pattern` (plain text).
function M.raises(pattern, fn, ...)
  M.count = M.count + 1
  local ok, err = pcall(fn, ...)
  if ok then fail(("expected an error containing '%s', got none"):format(pattern)) end
  err = tostring(err)
  if not err:find(pattern, 1, true) then
    fail(("expected an error containing '%s', got: %s"):format(pattern, err))
  end
  return err
end

-- Runs a shell command; returns its combined output and exit status.
function M.run(cmd)
  local f = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = f:read("a")
  local _, _, code = f:close()
  return out, code
end

-- Runs a command with stdout and stderr apart: returns out, err, status.
function M.run_split(cmd, tmp)
  local errfile = tmp .. "/stderr.txt"
  local f = assert(io.popen(cmd .. " 2>" .. errfile, "r"))
  local out = f:read("a")
  local _, _, code = f:close()
  local e = io.open(errfile, "rb")
  local err = e and e:read("a") or ""
  if e then e:close() end
  return out, err, code
end

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.done(name)
  io.write(("%s: %d checks passed\n"):format(name, M.count))
end

return M
