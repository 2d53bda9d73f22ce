--[[
tests/lua/test_plugin.lua - plugins from Lua: listing, schema-checked
options with errors naming the option, parameters lent as tensors,
encode/project, freeze, and the lifetime of parameter handles. Uses the
encoder.template plugin (plugins/template) and, when built, projector.linear.
]]

local vimo = require "vimo"
local check = require "check"

local found
for _, p in ipairs(vimo.plugins()) do
  check.ok(type(p.id) == "string" and type(p.kind) == "string" and type(p.path) == "string", "plugin fields")
  if p.id == "encoder.template" then found = p end
end
check.ok(found, "encoder.template is listed (build the plugins and set VIMO_PLUGIN_PATH)")
check.eq(found.kind, "encoder", "kind name")

local info = vimo.plugin_info("encoder.template")
local names = {}
for _, o in ipairs(info.options) do names[#names + 1] = o.name .. ":" .. o.type end
check.ok(table.concat(names, ","):find("dim:int", 1, true), "schema lists dim as an int")

-- Option errors name the plugin and the option.
check.raises("encoder.template: unknown option 'widht'", vimo.plugin, "encoder.template", {widht = 3})
check.raises("option 'dim' wants an int, got string 'x'", vimo.plugin, "encoder.template", {dim = "x"})
check.raises("option 'dim' wants an int, got number 2.5", vimo.plugin, "encoder.template", {dim = 2.5})
check.raises("option 'dropout' wants a float, got boolean", vimo.plugin, "encoder.template", {dropout = true})
check.raises("no plugin 'encoder.nope'", vimo.plugin, "encoder.nope")
-- The plugin's own create() check surfaces too.
check.raises("encoder.template", vimo.plugin, "encoder.template", {dropout = 1.5})

-- A working instance; integral floats are fine for int options.
local e = vimo.plugin("encoder.template", {in_dim = 6, dim = 8.0, pool = 2, dropout = 0.0, seed = 3})
check.eq(e:id(), "encoder.template", "id")
check.eq(e:kind(), "encoder", "kind")
check.eq(e:out_dim(), 8, "out_dim")
check.eq(e:modality(), "motion", "modality")
check.ok(e:has("vimo.encoder/1") and not e:has("vimo.projector/1"), "interfaces")
local o = e:options()
check.eq(o.dim, 8, "resolved option dim")
check.eq(math.type(o.dim), "integer", "int options read back as integers")
check.eq(o.dropout, 0.0, "resolved option dropout")
check.eq(o.pool, 2, "resolved option pool")

local params = e:params()
check.eq(#params, 4, "four parameters")
check.eq(params[1].name, "proj_in.weight", "first parameter name")
check.list_eq(params[1].tensor:shape(), {8, 6}, "proj_in.weight shape (D, F)")
check.ok(params[1].tensor:requires_grad(), "parameters start trainable")
check.ok(not params[1].tensor:is_owned(), "parameters are lent by the instance")

-- Same seed, same weights: the options reach create().
local e2 = vimo.plugin("encoder.template", {in_dim = 6, dim = 8, pool = 2, dropout = 0.0, seed = 3})
check.all_near(e2:params()[1].tensor:totable(), params[1].tensor:totable(), 0, "seeded init")

-- encode: x (B=2, T=5, F=6) -> (2, 5 // 2 = 2, 8); batch defaults to dim 0.
local ctx = vimo.ctx()
local x = vimo.randn(vimo.rng(1), {2, 5, 6})
local tok = e:encode(ctx, x)
check.list_eq(tok:shape(), {2, 2, 8}, "tokens (B, T/pool, D)")
check.raises("x must be", function() return e:encode(ctx, vimo.zeros(2, 5, 7)) end)
check.raises("is not a projector", function() return e:project(ctx, tok) end)
check.raises("has no pretraining loss", function() return e:pretrain_loss(ctx, x) end)

-- Gradients reach the lent parameters; freeze stops them.
ctx:backward(vimo.sum(ctx, tok))
local g = params[3].tensor:grad()
check.ok(g ~= nil, "proj_out.weight has a gradient")
e:freeze()
check.ok(not params[1].tensor:requires_grad(), "freeze")
e:unfreeze()
check.ok(params[1].tensor:requires_grad(), "unfreeze")
e:train(false)
e:train(true)

-- A projector when one is built (projectors/linear).
local has_linear = false
for _, p in ipairs(vimo.plugins()) do has_linear = has_linear or p.id == "projector.linear" end
if has_linear then
  local pr = vimo.plugin("projector.linear", {in_dim = 8, out_dim = 3})
  check.eq(pr:in_dim(), 8, "projector in_dim")
  check.eq(pr:out_dim(), 3, "projector out_dim")
  check.eq(pr:out_tokens(5), 5, "linear projector keeps the token count")
  check.list_eq(pr:project(ctx, tok):shape(), {2, 2, 3}, "project (B, N, Dout)")
end

-- Closing the instance invalidates its parameter handles (no dangling use).
local p1 = params[1].tensor
e:close()
check.raises("closed plugin instance", function() return p1:shape() end)
check.raises("plugin instance was closed", function() return e:params() end)

-- An optimiser keeps parameters alive and refuses a step over closed ones.
local e3 = vimo.plugin("encoder.template", {in_dim = 6, dim = 4, pool = 1})
local opt = vimo.adamw()
opt:add_group{params = e3:params(), lr = 1e-3}
opt:step()
e3:close()
check.raises("closed plugin instance", function() opt:step() end)

check.done("test_plugin")
