--[[
tests/lua/test_errors.lua - `vimo run` as a user meets it: a Lua error
exits non-zero with "file:line: message" and a traceback on stderr, for
errors raised in Lua, in a C binding and at parse time; overrides reach
the script typed; experiment option errors name the option.

  vimo run tests/lua/test_errors.lua vimo=/path/to/vimo
]]

local vimo = require "vimo"
local check = require "check"

local exe = assert(vimo.args.vimo, "pass vimo=<path of the vimo executable>")
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."

local function run(script, args)
  return check.run(check.quote(exe) .. " run " .. check.quote(script) .. " " .. (args or ""))
end

-- An error raised by Lua code, two frames deep.
local out, code = run(here .. "/data/error_at_line.lua")
check.eq(code, 1, "a Lua error exits with status 1")
check.ok(out:find("error_at_line.lua:5: deliberate failure", 1, true), "file:line: message, got:\n" .. out)
check.ok(out:find("stack traceback:", 1, true), "traceback printed")
check.ok(out:find("in local 'inner'", 1, true) or out:find("in function 'inner'", 1, true) or
  out:find("in upvalue 'inner'", 1, true), "traceback names the failing function:\n" .. out)
check.ok(out:find("vimo run: ", 1, true) == 1, "message starts with 'vimo run: '")

-- An error raised by a C binding points at the calling Lua line.
out, code = run(here .. "/data/c_error_at_line.lua")
check.eq(code, 1, "a binding error exits with status 1")
check.ok(out:find("c_error_at_line.lua:7: matmul:", 1, true), "C error at the Lua line, got:\n" .. out)

-- A syntax error.
out, code = run(here .. "/data/syntax_error.lua")
check.eq(code, 1, "a syntax error exits with status 1")
check.ok(out:find("syntax_error.lua:3:", 1, true), "syntax error at its line, got:\n" .. out)

-- A missing script and a missing argument.
out, code = run(here .. "/data/no_such_script.lua")
check.eq(code, 1, "a missing script exits with status 1")
check.ok(out:find("cannot open", 1, true), "missing script message, got:\n" .. out)
out, code = check.run(check.quote(exe) .. " run")
check.eq(code, 2, "no script: usage error")
check.ok(out:find("usage: vimo run", 1, true), "usage printed")

-- Overrides arrive typed; positional arguments in order.
out, code = run(here .. "/data/print_args.lua", "n=3 x=2.5 f=false t=true s=hello e= neg=-4 first second")
check.eq(code, 0, "print_args runs")
local want = {"1=first:string", "2=second:string", "e=:string", "f=false:boolean", "n=3:integer",
              "neg=-4:integer", "s=hello:string", "t=true:boolean", "x=2.5:float"}
local lines = {}
for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
for i, w in ipairs(want) do check.eq(lines[i], w, "typed override " .. i) end
check.ok(lines[#lines]:find("print_args.lua", 1, true), "arg[0] is the script")

-- Experiment options: unknown keys and bad values are named.
out, code = run(root .. "/experiments/toy_resume.lua", "lrr=1 epoch=2")
check.eq(code, 1, "unknown option exits non-zero")
check.ok(out:find("unknown options 'epoch', 'lrr'", 1, true), "unknown options named, got:\n" .. out)
out, code = run(root .. "/experiments/toy_resume.lua", "lr=fast")
check.ok(code == 1 and out:find("option 'lr' wants a number, got string fast", 1, true),
  "ill-typed option named, got:\n" .. out)
out, code = run(root .. "/experiments/toy_resume.lua", "batch_size=0")
check.ok(code == 1 and out:find("option 'batch_size' = 0: must be > 0", 1, true), "validator message:\n" .. out)
out, code = run(root .. "/experiments/toy_resume.lua", "help=true")
check.ok(code == 0 and out:find("stop_at", 1, true), "help lists the trainer's options")

check.done("test_errors")
