--[[
tests/lua/test_ops.lua - every op binding of vimo/ops.h called from Lua,
each checked against a value worked out by hand (comments give the
arithmetic), plus the misuse errors the glue itself must catch.
]]

local vimo = require "vimo"
local check = require "check"

local T = vimo.tensor
local ctx = vimo.ctx()
local E = 1e-6

-- matmul: [[1, 2]] @ [[3, 4], [5, 6]]^T + [1, -1] = [[1*3+2*4+1, 1*5+2*6-1]] = [[12, 16]]
local x, w, b = T{{1, 2}}, T{{3, 4}, {5, 6}}, T{1, -1}
check.all_near(vimo.matmul(ctx, x, w, b):totable(), {{12, 16}}, E, "matmul")
check.all_near(vimo.matmul(ctx, x, w):totable(), {{11, 17}}, E, "matmul without bias")
check.raises("matmul", vimo.matmul, ctx, T{{1, 2, 3}}, w)
-- bmm: a[0] = [[1, 2]], b[0] = [[1, 1], [0, 1]] -> [[1+2, 0+2]] = [[3, 2]]
check.all_near(vimo.bmm(ctx, T{{{1, 2}}}, T{{{1, 1}, {0, 1}}}):totable(), {{{3, 2}}}, E, "bmm")

-- element-wise with row broadcasting: [[1, 2], [3, 4]] op [10, 20]
local m, r = T{{1, 2}, {3, 4}}, T{10, 20}
check.all_near(vimo.add(ctx, m, r):totable(), {{11, 22}, {13, 24}}, E, "add (row broadcast)")
check.all_near(vimo.sub(ctx, m, r):totable(), {{-9, -18}, {-7, -16}}, E, "sub")
check.all_near(vimo.mul(ctx, m, T{2}):totable(), {{2, 4}, {6, 8}}, E, "mul by a one-element tensor")
check.all_near(vimo.scale(ctx, m, -0.5):totable(), {{-0.5, -1}, {-1.5, -2}}, E, "scale")
check.all_near(vimo.relu(ctx, T{-1, 0, 2}):totable(), {0, 0, 2}, E, "relu")
-- silu(1) = 1 / (1 + e^-1) = 0.7310585786; silu(-1) = -0.2689414214
check.all_near(vimo.silu(ctx, T{1, -1}):totable(), {0.7310585786, -0.2689414214}, 1e-6, "silu")
-- gelu erf: 0.5 * 1 * (1 + erf(1/sqrt 2)) = 0.8413447461; tanh form at 1: 0.8411919906
check.near(vimo.gelu(ctx, T{1}):item(), 0.8413447461, 1e-6, "gelu erf")
check.near(vimo.gelu(ctx, T{1}, "tanh"):item(), 0.8411919906, 1e-6, "gelu tanh")
check.raises("invalid option", vimo.gelu, ctx, T{1}, "quick")
-- swiglu: silu(1) * 3 = 2.1931757358
check.near(vimo.swiglu(ctx, T{1}, T{3}):item(), 2.1931757358, 1e-6, "swiglu")
check.near(vimo.activation(ctx, T{1}, "quick_gelu"):item(), 1 / (1 + math.exp(-1.702)), 1e-6, "quick_gelu")
-- dropout: p = 0 and a nil rng are the identity (the same tensor comes back).
local d_in = T{1, 2, 3}
check.ok(rawequal(vimo.dropout(ctx, d_in, 0, nil), d_in), "dropout p=0 returns its input handle")
local dropped = vimo.dropout(ctx, T{1, 1, 1, 1, 1, 1, 1, 1}, 0.5, vimo.rng(1)):totable()
for _, v in ipairs(dropped) do check.ok(v == 0 or v == 2, "dropout keeps x/(1-p) or zeroes") end
check.raises("dropout", vimo.dropout, ctx, d_in, 1.0, vimo.rng(1))

-- norms. rmsnorm([3, 4]): rms = sqrt((9 + 16) / 2) = 3.5355339 -> [0.8485281, 1.1313708]
check.all_near(vimo.rmsnorm(ctx, T{3, 4}, T{1, 1}, 0):totable(), {0.8485281, 1.1313708}, 1e-6, "rmsnorm")
-- layernorm([1, 3]): mean 2, var 1 -> [-1, 1] * w [2, 2] + b [0, 1] = [-2, 3]
check.all_near(vimo.layernorm(ctx, T{1, 3}, T{2, 2}, T{0, 1}, 0):totable(), {-2, 3}, 1e-6, "layernorm")
check.all_near(vimo.layernorm(ctx, T{1, 3}, T{1, 1}, nil, 0):totable(), {-1, 1}, 1e-6, "layernorm without bias")
-- softmax([0, ln 3]) = [1/4, 3/4]
check.all_near(vimo.softmax(ctx, T{0, math.log(3)}):totable(), {0.25, 0.75}, 1e-6, "softmax")

-- embedding: rows 2 and 0 of [[1, 1], [2, 2], [3, 3]] (ids are 0-based)
local tab = T{{1, 1}, {2, 2}, {3, 3}}
check.all_near(vimo.embedding(ctx, tab, {2, 0}):totable(), {{3, 3}, {1, 1}}, 0, "embedding from a table")
check.all_near(vimo.embedding(ctx, tab, vimo.ints{{1}, {2}}):totable(), {{{2, 2}}, {{3, 3}}}, 0,
  "embedding from a (2, 1) ints buffer")
check.raises("embedding", vimo.embedding, ctx, tab, {3})

-- rope at position 0 is the identity; at position 1 with Dh = 2, interleaved,
-- angle = 1 * theta^0 = 1 rad: (1, 0) -> (cos 1, sin 1)
local q = T{{{{1, 0}}}}
check.all_near(vimo.rope(ctx, q, 10000, 0):totable(), {{{{1, 0}}}}, 1e-6, "rope at position 0")
check.all_near(vimo.rope(ctx, q, 10000, 1, "half"):totable(), {{{{math.cos(1), math.sin(1)}}}}, 1e-6, "rope at 1")

-- attention with one key returns that key's value; with two equal keys the
-- mean of the values; a padding mask hides the second key.
local q1 = T{{{{1, 0}}}}                  -- (1, 1, 1, 2)
local k2 = T{{{{1, 0}}, {{1, 0}}}}        -- (1, 2, 1, 2)
local v2 = T{{{{2, 4}}, {{4, 8}}}}
check.all_near(vimo.attention(ctx, q1, k2, v2):totable(), {{{{3, 6}}}}, 1e-5, "attention averages equal keys")
check.all_near(vimo.attention(ctx, q1, k2, v2, {true, false}):totable(), {{{{2, 4}}}}, 1e-5,
  "attention key mask")
check.all_near(vimo.attention(ctx, q1, k2, v2, {{1, 0}}, false, 0.5):totable(), {{{{2, 4}}}}, 1e-5,
  "nested 0/1 mask and explicit scale")
check.raises("more than B*Tk = 2 entries", vimo.attention, ctx, q1, k2, v2, {1, 1, 1})
check.raises("key mask has 1 entries", vimo.attention, ctx, q1, k2, v2, {1})

-- conv1d: x = [1, 2, 3], w = [1, 1], b = [0.5] -> [3.5, 5.5]; stride 2 -> [3.5]
local cx, cw, cb = T{{{1, 2, 3}}}, T{{{1, 1}}}, T{0.5}
check.all_near(vimo.conv1d(ctx, cx, cw, cb):totable(), {{{3.5, 5.5}}}, E, "conv1d")
check.all_near(vimo.conv1d(ctx, cx, cw, cb, 2):totable(), {{{3.5}}}, E, "conv1d stride 2")
-- pad 1: [0, 1, 2, 3, 0] -> [1, 3, 5, 3]
check.all_near(vimo.conv1d(ctx, cx, cw, nil, 1, 1):totable(), {{{1, 3, 5, 3}}}, E, "conv1d pad 1")
-- conv2d: 2x2 input, 2x2 ones kernel -> sum = 10
check.all_near(vimo.conv2d(ctx, T{{{{1, 2}, {3, 4}}}}, T{{{{1, 1}, {1, 1}}}}, nil):totable(), {{{{10}}}}, E,
  "conv2d")

-- reductions and losses
check.all_near(vimo.mean(ctx, m, 0):totable(), {2, 3}, E, "mean over dim 0")
check.all_near(vimo.mean(ctx, m, -1):totable(), {1.5, 3.5}, E, "mean over the last dim")
check.eq(vimo.sum(ctx, m):item(), 10, "sum")
-- cross-entropy of logits [0, 0] against class 0 is ln 2; ignored rows drop out
check.near(vimo.cross_entropy(ctx, T{{0, 0}}, {0}):item(), math.log(2), 1e-6, "cross_entropy")
check.near(vimo.cross_entropy(ctx, T{{0, 0}, {5, -5}}, {1, -100}):item(), math.log(2), 1e-6,
  "cross_entropy ignore_index")
check.raises("1 targets for 2 rows", vimo.cross_entropy, ctx, T{{0, 0}, {1, 1}}, {0})
-- mse([1, 2], [3, 2]) = (4 + 0) / 2 = 2
check.eq(vimo.mse(ctx, T{1, 2}, T{3, 2}):item(), 2, "mse")

-- views
check.list_eq(vimo.reshape(ctx, m, 4):shape(), {4}, "reshape with sizes")
check.list_eq(vimo.reshape(ctx, m, {-1, 1}):shape(), {4, 1}, "reshape with -1")
check.all_near(vimo.transpose(ctx, m, 0, 1):totable(), {{1, 3}, {2, 4}}, 0, "transpose")
check.all_near(vimo.permute(ctx, m, {1, 0}):totable(), {{1, 3}, {2, 4}}, 0, "permute")
check.raises("permutation needs 2 entries", vimo.permute, ctx, m, {0})
check.all_near(vimo.slice(ctx, T{1, 2, 3, 4}, 0, 1, 3):totable(), {2, 3}, 0, "slice [1, 3)")
check.all_near(vimo.concat(ctx, {m, T{{5, 6}}}, 0):totable(), {{1, 2}, {3, 4}, {5, 6}}, 0, "concat")
check.raises("entry 2 is not a tensor", vimo.concat, ctx, {m, 3}, 0)
local tr = vimo.transpose(ctx, m, 0, 1)
check.all_near(vimo.contiguous(ctx, tr):totable(), {{1, 3}, {2, 4}}, 0, "contiguous")

-- gradients through the bindings: y = x W^T, loss = sum(y):
-- dL/dW[n, k] = sum over rows of x[k] = [[1, 2], [1, 2]]
local wg = T{{3, 4}, {5, 6}}:requires_grad(true)
ctx:reset()
ctx:backward(vimo.sum(ctx, vimo.matmul(ctx, T{{1, 2}}, wg)))
check.all_near(wg:grad(), {{1, 2}, {1, 2}}, E, "matmul weight gradient")

-- AdamW: first step with bias correction moves by lr * g / (|g| + eps):
-- w = 1, loss = sum(3 w) -> g = 3 -> w = 1 - 0.1 * 3 / (3 + 1e-8) = 0.9
local p = T{1}:requires_grad(true)
local opt = vimo.adamw{beta1 = 0.9, beta2 = 0.999, eps = 1e-8}
check.eq(opt:add_group{params = {p}, lr = 0.1, wd = 0}, 0, "first group index")
ctx:reset()
ctx:backward(vimo.sum(ctx, vimo.scale(ctx, p, 3)))
opt:step(1)
check.near(p:item(), 0.9, 1e-6, "AdamW first step")
check.eq(opt:steps(), 1, "AdamW step count")
opt:zero_grad()
check.eq(p:grad()[1], 0, "zero_grad")
check.raises("unknown field 'lr'", vimo.adamw, {lr = 1})
check.raises("op result", function() opt:add_group{params = {vimo.scale(ctx, p, 1)}} end)
-- decoupled weight decay alone (g = 0): w -= lr * wd * w -> 2 - 0.1 * 0.5 * 2 = 1.9
local pd = T{2}:requires_grad(true)
local od = vimo.adamw()
od:add_group{params = {{name = "pd", tensor = pd}}, lr = 0.1, wd = 0.5}
od:step()
check.near(pd:item(), 1.9, 1e-6, "AdamW decoupled weight decay")

-- clip_grad_norm: grads [3] and [4] have norm 5; clipped to 1 -> [0.6], [0.8]
local g1, g2 = T{1}:requires_grad(true), T{1}:requires_grad(true)
ctx:reset()
ctx:backward(vimo.add(ctx, vimo.scale(ctx, g1, 3), vimo.scale(ctx, g2, 4)))
check.near(vimo.clip_grad_norm({g1, g2}, 1), 5, 1e-6, "norm before clipping")
check.near(g1:grad()[1], 0.6, 1e-6, "clipped gradient 1")
check.near(g2:grad()[1], 0.8, 1e-6, "clipped gradient 2")

-- warmup-cosine: half way through warmup 0.5; end of warmup 1; cosine
-- midpoint 0.5 * (1 + cos(pi/2)) = 0.5; end min_factor.
check.near(vimo.lr_warmup_cosine(5, 10, 100, 0.1), 0.5, 1e-6, "warmup")
check.near(vimo.lr_warmup_cosine(10, 10, 100, 0), 1, 1e-6, "end of warmup")
check.near(vimo.lr_warmup_cosine(55, 10, 100, 0), 0.5, 1e-6, "cosine midpoint")
check.near(vimo.lr_warmup_cosine(100, 10, 100, 0.1), 0.1, 1e-6, "cosine end")

-- Temporaries: a tensor made inline and dropped before backward (and its
-- views) must stay alive while the tape needs it: the context keeps it until
-- reset. Without that, backward read freed memory (ASan: heap-use-after-free
-- in bmm_backward; plain builds: heap corruption). Freed slots are refilled
-- with 1e9 first, so a plain build sees a wrong gradient too.
do
  local keep_ctx = vimo.ctx()
  local pw = T{{1, 2}}:requires_grad(true)
  -- y = a @ pw^T with a = [[3], [5]] (made inline, transposed) and pw^T = [[1, 2]]:
  -- y = [[3, 6], [5, 10]]; z = 0.5 sum(y), so dz/dpw_j = 0.5 (3 + 5) = 4.
  local y = vimo.bmm(keep_ctx, vimo.transpose(keep_ctx, T{{{3, 5}}}, 1, 2),
                     vimo.reshape(keep_ctx, pw, {1, 2, 1}))
  local z = vimo.mul(keep_ctx, vimo.sum(keep_ctx, y), T{0.5}) -- an inline 0.5 as well
  collectgarbage()
  collectgarbage()
  local junk = {}
  for i = 1, 64 do junk[i % 4 + 1] = T{{{1e9, 1e9}}}; junk[i % 4 + 1] = T{1e9} end
  check.eq(#junk, 4, "refill")
  keep_ctx:backward(z)
  check.all_near(pw:grad(), {{4, 4}}, E, "gradient through inline temporaries after a collection")
  keep_ctx:reset() -- releases them
  keep_ctx:close()
end

-- misuse: wrong argument types are Lua errors naming the argument.
check.raises("bad argument #1", vimo.relu, {}, m)
check.raises("bad argument #2", vimo.relu, ctx, 3)

-- Every op declared in ops.h (and the layers.h activation) has a binding.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local hf = assert(io.open(here .. "/../../core/include/vimo/ops.h"))
local header = hf:read("a")
hf:close()
local declared = 0
for name in header:gmatch("VIMO_API%s+vimo_status%s+vimo_([%w_]+)%s*%(") do
  declared = declared + 1
  check.eq(type(vimo[name]), "function", "binding of vimo_" .. name)
end
check.ok(declared >= 29, "ops.h parsed (" .. declared .. " ops)")

check.done("test_ops")
