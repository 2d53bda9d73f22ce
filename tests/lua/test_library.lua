--[[
tests/lua/test_library.lua - the pure-Lua library under scripts/vimo:
options (declare, parse, errors, help), progress (plain and tty output),
dataset (batches, permutations), nn (linear init), runner (stages,
config.json and results.json).

  vimo run tests/lua/test_library.lua tmp=/scratch/dir
]]

local vimo = require "vimo"
local check = require "check"
local options = require "vimo.options"
local progress = require "vimo.progress"
local dataset = require "vimo.dataset"
local nn = require "vimo.nn"
local runner = require "vimo.runner"

local tmp = assert(vimo.args.tmp, "pass tmp=<scratch folder>")
assert(vimo.mkdir(tmp))

-- ---- options ----------------------------------------------------------------
local spec = options.new("t")
spec:add{name = "lr", default = 1e-3, help = "learning rate", validator = options.positive}
spec:add{name = "steps", default = 10, help = "steps"}
spec:add{name = "name", default = "run", help = "a name"}
spec:add{name = "on", default = false, help = "a flag"}
spec:add{name = "data", type = "string", required = true, help = "data folder"}
local o = spec:parse{data = "/d"}
check.eq(o.lr, 1e-3, "default number")
check.eq(o.steps, 10, "default integer")
check.eq(o.on, false, "default boolean")
o = spec:parse{data = "/d", lr = 0.5, steps = 20.0, name = 7, on = "true"}
check.eq(o.lr, 0.5, "number override")
check.eq(math.type(o.steps), "integer", "integral float becomes an integer")
check.eq(o.name, "7", "numbers become strings for string options")
check.eq(o.on, true, "'true' text becomes a boolean")
check.raises("unknown options 'bogus', 'lrr' (known: lr, steps, name, on, data)",
  spec.parse, spec, {data = "/d", lrr = 1, bogus = 2})
check.raises("option 'steps' wants an integer, got number 2.5", spec.parse, spec, {data = "/d", steps = 2.5})
check.raises("option 'on' wants a boolean, got string yes", spec.parse, spec, {data = "/d", on = "yes"})
check.raises("option 'lr' = -1: must be > 0", spec.parse, spec, {data = "/d", lr = -1})
check.raises("option 'data' is required", spec.parse, spec, {})
check.raises("declared twice", spec.add, spec, {name = "lr", default = 1})
check.raises("needs a default or a type", spec.add, spec, {name = "x"})
local positional = spec:parse{data = "/d", "ignored positional"}
check.eq(positional.data, "/d", "positional arguments are not options")
local help = spec:help()
check.ok(help:find("lr%s+number%s+0.001%s+learning rate"), "help line:\n" .. help)
check.ok(help:find("data%s+string%s+required"), "required in help:\n" .. help)
local typed = options.from_argv{"a=1", "b=2.5", "c=true", "d=x", "pos"}
check.ok(typed.a == 1 and math.type(typed.a) == "integer" and typed.b == 2.5 and typed.c == true and
  typed.d == "x" and typed[1] == "pos", "from_argv types like vimo run")
check.eq(select(1, options.one_of("a", "b")("c")), false, "one_of rejects")

-- ---- progress ----------------------------------------------------------------
local path = tmp .. "/progress.txt"
local f = assert(io.open(path, "w"))
local bar = progress.new{total = 4, label = "p", every = 2, mode = "plain", stream = f}
for s = 1, 4 do bar:update(s, {loss = 1 / s, tokens = 100}) end
bar:note("a note")
bar:finish()
f:close()
f = assert(io.open(path))
local text = f:read("a")
f:close()
local lines = {}
for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
check.eq(#lines, 4, "plain mode: first step, every 2nd step, the note:\n" .. text)
check.ok(lines[1]:find("^p  1/4  loss 1.0000"), "first line: " .. lines[1])
check.ok(lines[2]:find("2/4  loss 0.5000") and lines[2]:find("tok/s") and lines[2]:find("ETA"),
  "step line has loss, tokens/s and ETA: " .. lines[2])
check.ok(lines[3]:find("4/4  loss 0.2500"), "last step printed: " .. lines[3])
check.eq(lines[4], "a note", "note")
check.ok(not text:find("\r", 1, true), "no carriage returns in plain mode")
f = assert(io.open(path, "w"))
bar = progress.new{total = 2, mode = "tty", stream = f}
bar:update(1, {loss = 2})
bar:update(2, {loss = 1})
bar:finish()
f:close()
f = assert(io.open(path))
text = f:read("a")
f:close()
check.ok(text:find("\r", 1, true) and text:find("[" .. ("="):rep(24) .. "]", 1, true),
  "tty mode redraws one line with a bar")
check.eq(progress.format_time(3725), "1:02:05", "h:mm:ss")
check.eq(progress.format_time(65), "1:05", "m:ss")

-- ---- dataset ----------------------------------------------------------------
local ds = dataset.arrays{x = {{1, 2}, {3, 4}, {5, 6}}, x_shape = {2}, y = {{1}, {0}, {1}}, y_shape = {1}}
check.eq(ds.size, 3, "dataset size")
local b = ds.batch({3, 1})
check.all_near(b.x:totable(), {{5, 6}, {1, 2}}, 0, "batch stacks in the given order")
check.all_near(b.y:totable(), {{1}, {1}}, 0, "batch y")
check.raises("example 4 does not exist", ds.batch, {4})
check.raises("needs y_shape", dataset.arrays, {y = {{1}}})
local p1 = dataset.permutation(50, vimo.rng(5), true)
local p2 = dataset.permutation(50, vimo.rng(5), true)
local seen, same_order = {}, true
for i = 1, 50 do
  seen[p1[i]] = true
  same_order = same_order and p1[i] == p2[i]
end
local count = 0
for _ in pairs(seen) do count = count + 1 end
check.eq(count, 50, "a permutation of 1..50")
check.ok(same_order, "same seed, same permutation")
check.list_eq(dataset.permutation(3, nil, false), {1, 2, 3}, "no shuffle: identity")

-- ---- nn ------------------------------------------------------------------------
local lin = nn.linear{inp = 4, out = 3, rng = vimo.rng(1), name = "head"}
check.eq(lin.params[1].name, "head.weight", "linear weight name")
check.list_eq(lin.weight:shape(), {3, 4}, "weight (out, in)")
for _, row in ipairs(lin.weight:totable()) do
  for _, v in ipairs(row) do check.ok(math.abs(v) <= 0.5, "U(-1/sqrt(4), 1/sqrt(4))") end
end
check.ok(lin.weight:requires_grad(), "linear weights trainable")
check.raises("appears twice", nn.params_of, lin, lin)

-- ---- runner --------------------------------------------------------------------
local order = {}
local exp = {
  name = "lib", options = {{name = "k", default = 2, help = "k"}},
  stages = {
    {name = "one", run = function(env)
      order[#order + 1] = "one"
      check.ok(env.stage_dir:find("/lib/one$"), "stage dir")
      return {value = env.opt.k * 10}
    end},
    {name = "two", run = function(env)
      order[#order + 1] = "two"
      return {prev = env.results.one and env.results.one.value or -1}
    end},
  },
}
local res = runner.main(exp, {results_dir = tmp, k = 3})
check.list_eq(order, {"one", "two"}, "stages in order")
check.eq(res.two.prev, 30, "stages see earlier results")
f = assert(io.open(tmp .. "/lib/results.json"))
local saved = vimo.json_decode(f:read("a"))
f:close()
check.eq(saved.one.value, 30, "results.json")
f = assert(io.open(tmp .. "/lib/config.json"))
check.eq(vimo.json_decode(f:read("a")).k, 3, "config.json has the resolved options")
f:close()
order = {}
runner.main(exp, {results_dir = tmp, run = "only2", stages = "two"})
check.list_eq(order, {"two"}, "stages= selects")
check.raises("no stage 'three'", runner.main, exp, {results_dir = tmp, stages = "three"})
check.eq(runner.main(exp, {help = true}), nil, "help runs nothing")

check.done("test_library")
