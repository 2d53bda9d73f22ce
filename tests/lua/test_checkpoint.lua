--[[
tests/lua/test_checkpoint.lua - vimo.save_checkpoint / load_checkpoint from
Lua: a round trip of parameters, AdamW state, RNG, step, config and meta;
expected failures (missing or corrupt file) as nil, msg; a checkpoint that
does not fit the model as an error naming the tensor.

  vimo run tests/lua/test_checkpoint.lua tmp=/scratch/dir
]]

local vimo = require "vimo"
local check = require "check"

local tmp = assert(vimo.args.tmp, "pass tmp=<scratch folder>")
assert(vimo.mkdir(tmp))
local path = tmp .. "/roundtrip.ckpt"

-- A tiny model: w (2, 2), b (2), one AdamW step taken so moments are set.
local w = vimo.tensor{{1, 2}, {3, 4}}:requires_grad(true)
local b = vimo.tensor{0.5, -0.5}:requires_grad(true)
local params = {{name = "lin.weight", tensor = w}, {name = "lin.bias", tensor = b}}
local opt = vimo.adamw()
opt:add_group{params = params, lr = 0.01}
local ctx = vimo.ctx()
ctx:backward(vimo.sum(ctx, vimo.matmul(ctx, vimo.tensor{{1, 1}}, w, b)))
opt:step()
opt:zero_grad()
local rng = vimo.rng(9)
rng:u32()

local ok, err = vimo.save_checkpoint(path, {
  params = params, optimizer = opt, rng = rng, step = 17,
  config = {lr = 0.01, name = "toy", deep = {depth = 2, on = true}},
  meta = {note = "from test_checkpoint"},
})
check.ok(ok, "save_checkpoint: " .. tostring(err))

local ck = assert(vimo.load_checkpoint(path))
check.eq(ck:step(), 17, "step")
check.eq(ck:path(), path, "path")
local cfg = ck:config()
check.eq(cfg.lr, "0.01", "config numbers are stored as text (shortest round trip)")
check.eq(cfg.name, "toy", "config string")
check.eq(cfg["deep.depth"], "2", "nested config flattened with dots")
check.eq(cfg["deep.on"], "true", "booleans as text")
check.eq(ck:meta().note, "from test_checkpoint", "meta")
check.ok(ck:has_rng() and ck:has_optimizer(), "rng and optimizer saved")
local names = {}
for _, t in ipairs(ck:tensors()) do names[#names + 1] = t.name .. ":" .. table.concat(t.shape, "x") end
check.list_eq(names, {"lin.weight:2x2", "lin.bias:2"}, "tensors in file order with shapes")
check.all_near(ck:tensor("lin.weight"):totable(), w:totable(), 0, "ck:tensor reads the values")

-- Restore into a fresh model: values, optimiser state and rng continue
-- exactly where the saved ones do.
local w2, b2 = vimo.zeros(2, 2):requires_grad(true), vimo.zeros(2):requires_grad(true)
local params2 = {{name = "lin.weight", tensor = w2}, {name = "lin.bias", tensor = b2}}
local opt2 = vimo.adamw()
opt2:add_group{params = params2, lr = 0.01}
local rng2 = vimo.rng(0)
ck:restore{params = params2, optimizer = opt2, rng = rng2}
check.all_near(w2:totable(), w:totable(), 0, "weights restored")
check.all_near(b2:totable(), b:totable(), 0, "bias restored")
check.eq(opt2:steps(), 1, "AdamW step count restored")
check.eq(rng2:u32(), rng:u32(), "rng restored")
-- One more identical step on both: identical results need identical moments.
for _, pair in ipairs{{opt, w, b}, {opt2, w2, b2}} do
  ctx:reset()
  ctx:backward(vimo.sum(ctx, vimo.matmul(ctx, vimo.tensor{{2, -1}}, pair[2], pair[3])))
  pair[1]:step()
end
check.all_near(w2:totable(), w:totable(), 0, "second step matches (moments restored)")
ck:close()
check.raises("checkpoint was closed", function() return ck:step() end)

-- Expected failures: nil, msg.
local none, msg = vimo.load_checkpoint(tmp .. "/does_not_exist.ckpt")
check.ok(none == nil and msg:find("does_not_exist.ckpt", 1, true), "missing file: nil, msg naming it")
local f = assert(io.open(tmp .. "/garbage.ckpt", "wb"))
f:write("this is not msgpack at all")
f:close()
none, msg = vimo.load_checkpoint(tmp .. "/garbage.ckpt")
check.ok(none == nil and msg:find("garbage.ckpt", 1, true), "corrupt file: nil, msg naming it")
ok, msg = vimo.save_checkpoint(tmp .. "/no/such/dir/x.ckpt", {params = params})
check.ok(ok == nil and type(msg) == "string", "unwritable path: nil, msg")

-- Misfits and misuse raise.
ck = assert(vimo.load_checkpoint(path))
local wrong = vimo.zeros(3, 2)
check.raises("lin.weight", function() ck:restore{params = {{name = "lin.weight", tensor = wrong}}} end)
check.raises("missing.weight", function() ck:restore{params = {{name = "missing.weight", tensor = wrong}}} end)
check.raises("has no name", vimo.save_checkpoint, path, {params = {vimo.zeros(2)}})
check.raises("unknown field 'steps'", vimo.save_checkpoint, path, {steps = 3})
check.raises("'step' must be an integer", vimo.save_checkpoint, path, {step = -1})

-- Plugin modules save and restore under a prefix.
local e = vimo.plugin("encoder.template", {in_dim = 3, dim = 4, pool = 1, seed = 1})
ok = vimo.save_checkpoint(tmp .. "/module.ckpt", {modules = {enc = e}, step = 1})
check.ok(ok, "module save")
local e2 = vimo.plugin("encoder.template", {in_dim = 3, dim = 4, pool = 1, seed = 2})
check.ok(e2:params()[1].tensor:totable()[1][1] ~= e:params()[1].tensor:totable()[1][1], "different seeds differ")
assert(vimo.load_checkpoint(tmp .. "/module.ckpt")):restore{modules = {enc = e2}}
check.all_near(e2:params()[1].tensor:totable(), e:params()[1].tensor:totable(), 0, "module restored")
check.eq(assert(vimo.load_checkpoint(tmp .. "/module.ckpt")):tensors()[1].name, "enc.proj_in.weight",
  "module parameters stored as prefix.name")

check.done("test_checkpoint")
