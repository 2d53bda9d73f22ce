--[[
tests/data/harness.lua - a minimal check harness for the data tests, run
with `vimo run tests/data/test_*.lua` (CTest does). Each check prints only
on failure; done() prints a summary and raises when a check failed, so
that `vimo run` exits with status 1. Not a framework: no fixtures, no
filtering.
]]

local M = {failed = 0, passed = 0}
local MAX_PRINTED = 40 -- failures printed; the rest are only counted

local function report(line)
  if M.failed <= MAX_PRINTED then io.stderr:write(line) end
  if M.failed == MAX_PRINTED then io.stderr:write("(further failures are counted, not printed)\n") end
end

local function where()
  local info = debug.getinfo(3, "Sl")
  return ("%s:%d"):format(info.short_src, info.currentline)
end

function M.check(cond, msg, ...)
  if cond then
    M.passed = M.passed + 1
  else
    M.failed = M.failed + 1
    report(("FAIL %s: %s\n"):format(where(), select("#", ...) > 0 and msg:format(...) or tostring(msg)))
  end
  return cond
end

function M.eq(a, b, msg)
  local ok = a == b
  if ok then
    M.passed = M.passed + 1
  else
    M.failed = M.failed + 1
    report(("FAIL %s: %s: got %s, want %s\n"):format(where(), msg or "", tostring(a), tostring(b)))
  end
  return ok
end

function M.near(a, b, tol, msg)
  local ok = math.abs(a - b) <= tol
  if ok then
    M.passed = M.passed + 1
  else
    M.failed = M.failed + 1
    report(("FAIL %s: %s: got %.9g, want %.9g (tol %g)\n"):format(where(), msg or "", a, b, tol))
  end
  return ok
end

--- Expects fn(...) to return nil, message with message containing `part`.
function M.fails_with(part, msg, fn, ...)
  local v, err = fn(...)
  local ok = v == nil and type(err) == "string" and err:find(part, 1, true) ~= nil
  if ok then
    M.passed = M.passed + 1
  else
    M.failed = M.failed + 1
    report(("FAIL %s: %s: got %s, %s; want nil and a message with '%s'\n"):format(where(), msg, tostring(v),
      tostring(err), part))
  end
  return ok
end

--- Expects fn(...) to raise an error containing `part`.
function M.raises(part, msg, fn, ...)
  local ok, err = pcall(fn, ...)
  local good = not ok and tostring(err):find(part, 1, true) ~= nil
  if good then
    M.passed = M.passed + 1
  else
    M.failed = M.failed + 1
    report(("FAIL %s: %s: %s\n"):format(where(), msg, ok and "did not raise" or ("raised: " .. tostring(err))))
  end
  return good
end

local made = {} -- folders made by tmpdir, removed by done

function M.done(name)
  for _, p in ipairs(made) do os.execute(("rm -rf -- '%s'"):format(p)) end
  print(("%s: %d checks passed, %d failed"):format(name, M.passed, M.failed))
  if M.failed > 0 then error(("%s: %d checks failed"):format(name, M.failed), 0) end
end

--- The repository root (tests run from it; VIMO_SOURCE_DIR overrides).
function M.root()
  return os.getenv("VIMO_SOURCE_DIR") or os.getenv("VIMO_ROOT") or "."
end

--- A fresh temporary folder (under /tmp; done() removes it).
function M.tmpdir(tag)
  local p = os.tmpname()
  os.remove(p)
  p = p .. "-" .. tag
  assert(require("vimo").mkdir(p))
  made[#made + 1] = p
  return p
end

return M
