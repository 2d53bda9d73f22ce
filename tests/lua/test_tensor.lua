--[[
tests/lua/test_tensor.lua - tensors, contexts, int buffers and the RNG from
Lua, values checked against hand-worked examples.
]]

local vimo = require "vimo"
local check = require "check"

-- Construction and inspection.
local t = vimo.tensor{{1, 2, 3}, {4, 5, 6}}
check.list_eq(t:shape(), {2, 3}, "nested shape")
check.eq(t:numel(), 6, "numel")
check.eq(t:ndim(), 2, "ndim")
check.all_near(t:totable(), {{1, 2, 3}, {4, 5, 6}}, 0, "totable")
check.ok(t:is_owned(), "vimo.tensor owns its data")
check.ok(tostring(t):find("(2, 3)", 1, true), "tostring shows the shape")

local z = vimo.tensor(2, 2)
check.all_near(z:totable(), {{0, 0}, {0, 0}}, 0, "vimo.tensor(d0, d1) is zeros")
check.list_eq(vimo.zeros({3, 1, 2}):shape(), {3, 1, 2}, "zeros from a shape table")
check.list_eq(vimo.zeros(4):shape(), {4}, "zeros from sizes")

z:fill(2.5)
check.all_near(z:totable(), {{2.5, 2.5}, {2.5, 2.5}}, 0, "fill")
z:copy{1, 2, 3, 4}
check.all_near(z:totable(), {{1, 2}, {3, 4}}, 0, "copy from a flat list")
z:copy{{5, 6}, {7, 8}}
check.all_near(z:totable(), {{5, 6}, {7, 8}}, 0, "copy from a nested table")
z:copy(vimo.tensor{9, 10, 11, 12})
check.all_near(z:totable(), {{9, 10}, {11, 12}}, 0, "copy from a tensor")
check.eq(vimo.tensor{0.25}:item(), 0.25, "item")
-- float32 storage: 0.1 rounds to the nearest binary32.
check.eq(vimo.tensor{0.1}:item(), 0x1.99999ap-4, "values are float32")

check.raises("ragged", vimo.tensor, {{1, 2}, {3}})
check.raises("not a number", vimo.tensor, {1, "x"})
check.raises("empty table", vimo.tensor, {})
check.raises("more than one element", function() return t:item() end)
check.raises("element count", function() return z:copy{1, 2, 3} end)
check.raises("shape needs 1 to 4", vimo.zeros, {1, 1, 1, 1, 1})
check.raises("dim 0 has size 0", vimo.zeros, 0)

-- name() and clone().
local named = vimo.zeros(2):name("head.bias")
check.eq(named:name(), "head.bias", "tensor name")
local c0 = vimo.ctx()
local view = vimo.reshape(c0, t, {3, 2})
local cl = view:clone()
check.ok(cl:is_owned() and not view:is_owned(), "clone is owned, op results are not")
c0:reset()
check.all_near(cl:totable(), {{1, 2}, {3, 4}, {5, 6}}, 0, "clone survives reset")

-- Staleness: op results die with ctx:reset() and ctx:close().
local ctx = vimo.ctx()
local y = vimo.scale(ctx, t, 2)
check.all_near(y:totable(), {{2, 4, 6}, {8, 10, 12}}, 0, "scale")
local gen = ctx:generation()
ctx:reset()
check.eq(ctx:generation(), gen + 1, "reset bumps the generation")
check.raises("tensor from a reset context", function() return y:totable() end)
check.raises("tensor from a reset context", vimo.relu, ctx, y)
check.ok(tostring(y):find("reset context", 1, true), "tostring of a stale handle does not raise")
local c2 = vimo.ctx()
local y2 = vimo.relu(c2, t)
c2:close()
check.raises("tensor from a closed context", function() return y2:shape() end)
check.raises("context was closed", function() return c2:reset() end)
do
  local c3 <close> = vimo.ctx()
  check.ok(c3:grad(), "grad mode starts on")
  check.eq(c3:grad(false), true, "grad(false) returns the previous mode")
  check.eq(c3:grad(), false, "grad mode off")
end

-- Context scratch tensors.
local s = ctx:tensor{2, 3}
check.list_eq(s:shape(), {2, 3}, "ctx:tensor shape")
check.ok(not s:is_owned(), "ctx:tensor belongs to the context")

-- Gradients: d/dx sum(x * x) = 2x; leaves get them, grad() is a table.
local x = vimo.tensor{{1, -2}, {3, 0.5}}:requires_grad(true)
check.ok(x:requires_grad(), "requires_grad set")
check.eq(x:grad()[1][1], 0, "fresh trainable tensor has a zero gradient")
ctx:reset()
local loss = vimo.sum(ctx, vimo.mul(ctx, x, x))
check.eq(loss:item(), 1 + 4 + 9 + 0.25, "sum of squares")
ctx:backward(loss)
check.all_near(x:grad(), {{2, -4}, {6, 1}}, 0, "grad of sum(x*x)")
check.raises("already run", function() ctx:backward(loss) end)
x:zero_grad()
check.all_near(x:grad(), {{0, 0}, {0, 0}}, 0, "zero_grad")
check.eq(vimo.tensor{1}:grad(), nil, "no gradient: nil")

-- Int buffers.
local ids = vimo.ints{{0, 2}, {1, 1}}
check.eq(#ids, 4, "ints length")
check.list_eq(ids:shape(), {2, 2}, "ints shape")
check.eq(ids[2], 2, "ints are 1-based containers")
ids[3] = 7
check.list_eq(ids:totable(), {0, 2, 7, 1}, "ints newindex")
check.raises("outside 1..4", function() return ids[5] end)
check.raises("32-bit integer", vimo.ints, {1.5})
check.list_eq(vimo.ints(3):totable(), {0, 0, 0}, "ints(n) zeros")

-- RNG: reproducible, state round trip, ranges.
local r1, r2 = vimo.rng(42), vimo.rng(42)
for _ = 1, 5 do check.eq(r1:u32(), r2:u32(), "same seed, same stream") end
local st = r1:state()
local a1, a2, a3 = r1:uniform(), r1:normal(), r1:below(10)
r2:set_state(st)
check.eq(r2:uniform(), a1, "set_state restores uniform")
check.eq(r2:normal(), a2, "set_state restores normal")
check.eq(r2:below(10), a3, "set_state restores below")
for _ = 1, 100 do
  local u, b = r1:uniform(), r1:below(3)
  check.ok(u >= 0 and u < 1, "uniform in [0, 1)")
  check.ok(b >= 0 and b < 3, "below(3) in [0, 3)")
end
check.raises("all-zero", function() r1:set_state{0, 0, 0, 0} end)
local rc = r1:clone()
check.eq(rc:u32(), r1:u32(), "clone continues the same stream")
-- randn: N(0, std^2) from the rng; the sample mean and spread are sane.
local big = vimo.randn(vimo.rng(3), {4000}, 2)
local sum, sq = 0, 0
for _, v in ipairs(big:totable()) do sum, sq = sum + v, sq + v * v end
check.near(sum / 4000, 0, 0.15, "randn mean")
check.near(math.sqrt(sq / 4000), 2, 0.15, "randn std")

-- vimo.window: rows start .. start+len-1 of (T, ...), hand-worked. Rows
-- 0..2 hold 1, 2, 3 (two columns: r+1 and 10(r+1)).
do
  local wctx = vimo.ctx()
  local src = vimo.tensor{{1, 10}, {2, 20}, {3, 30}}
  local function col0(w) local o = {} for i, r in ipairs(w:totable()) do o[i] = r[1] end return o end
  check.list_eq(col0(vimo.window(wctx, src, 0, 5)), {1, 2, 3, 3, 3}, "window: edge pads with the last row")
  check.list_eq(col0(vimo.window(wctx, src, 0, 5, "edge")), {1, 2, 3, 3, 3}, "window: edge named")
  check.list_eq(col0(vimo.window(wctx, src, -2, 4)), {1, 1, 1, 2}, "window: edge before the start")
  check.list_eq(col0(vimo.window(wctx, src, 1, 2)), {2, 3}, "window: a crop inside the clip")
  check.list_eq(col0(vimo.window(wctx, src, 0, 8, "loop")), {1, 2, 3, 1, 2, 3, 1, 2}, "window: loop plays the clip again")
  check.list_eq(col0(vimo.window(wctx, src, 2, 4, "loop")), {3, 1, 2, 3}, "window: loop from a later start")
  check.list_eq(col0(vimo.window(wctx, src, -2, 4, "loop")), {2, 3, 1, 2}, "window: loop before the start")
  check.all_near(vimo.window(wctx, src, 1, 3, "loop"):totable(), {{2, 20}, {3, 30}, {1, 10}}, 0,
                 "window: loop copies whole rows")
  check.list_eq(vimo.window(wctx, vimo.zeros({2, 3, 4}), 0, 5, "loop"):shape(), {5, 3, 4}, "window: (len, ...) shape")
  check.raises("invalid option 'wrap'", vimo.window, wctx, src, 0, 4, "wrap")
  check.raises("outside 1 .. 2^24", vimo.window, wctx, src, 0, 0, "loop")
  wctx:close()
end

-- JSON and small host helpers.
local j = vimo.json_encode({b = 1, a = {1, 2.5, true}, c = {d = "x"}})
check.eq(j, '{"a":[1,2.5,true],"b":1,"c":{"d":"x"}}', "json_encode sorts keys")
local back = vimo.json_decode(j)
check.eq(math.type(back.b), "integer", "json integers decode as integers")
check.eq(back.a[2], 2.5, "json floats")
local bad, msg = vimo.json_decode("{")
check.ok(bad == nil and msg:find("malformed", 1, true), "malformed json: nil, msg")
check.raises("cannot encode", vimo.json_encode, {f = print})
check.eq(type(vimo.version()), "string", "version")
check.ok(vimo.threads() >= 1, "threads")
check.eq(type(vimo.gemm_arch()), "string", "gemm_arch")
check.eq(type(vimo.isatty("stderr")), "boolean", "isatty")

check.done("test_tensor")
