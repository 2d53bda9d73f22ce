--[[
vimo/dataset.lua - in-memory datasets the trainer can batch.

A dataset is a table with `size` (number of examples) and
`batch(indices)` -> the batch for those examples (1-based indices, in
the order given). The trainer owns the order (shuffling, resuming).

  local ds = dataset.arrays{x = xs, x_shape = {T, F}, y = ys, y_shape = {D}}
  -- xs: list of examples, each a flat list of T*F numbers
  local b = ds.batch({3, 1})   -- {x = tensor (2, T, F), y = tensor (2, D)}

Not a loader for files: motion and video readers are C (motion.h,
video.h); this only stacks what is already in Lua tables.
]]

local vimo = require "vimo"

local M = {}

-- Stacks fields of the chosen examples into one flat list.
local function stack(list, indices, per)
  local flat, k = {}, 0
  for _, i in ipairs(indices) do
    local ex = list[i]
    if not ex then error(("data: example %d does not exist"):format(i), 3) end
    if #ex ~= per then error(("data: example %d has %d values, expected %d"):format(i, #ex, per), 3) end
    for j = 1, per do flat[k + j] = ex[j] end
    k = k + per
  end
  return flat
end

--- data.arrays{name = list, name_shape = {dims}, ...}: every field `name`
-- with a `name_shape` is batched to a tensor (B, dims...).
function M.arrays(fields)
  local names, size = {}, nil
  for k, v in pairs(fields) do
    if not k:match("_shape$") then
      local shape = fields[k .. "_shape"]
      if not shape then error(("data.arrays: field '%s' needs %s_shape"):format(k, k), 2) end
      if size and #v ~= size then error("data.arrays: fields have different lengths", 2) end
      size = #v
      names[#names + 1] = k
    end
  end
  table.sort(names)
  local per = {}
  for _, k in ipairs(names) do
    per[k] = 1
    for _, d in ipairs(fields[k .. "_shape"]) do per[k] = per[k] * d end
  end
  local ds = {size = size or 0}
  function ds.batch(indices)
    local out = {}
    for _, k in ipairs(names) do
      local shape = {#indices}
      for i, d in ipairs(fields[k .. "_shape"]) do shape[i + 1] = d end
      out[k] = vimo.zeros(shape):copy(stack(fields[k], indices, per[k]))
    end
    return out
  end
  return ds
end

--- A permutation of 1..n drawn from rng (Fisher-Yates), or 1..n in order.
function M.permutation(n, rng, shuffle)
  local p = {}
  for i = 1, n do p[i] = i end
  if shuffle then
    for i = n, 2, -1 do
      local j = rng:below(i) + 1
      p[i], p[j] = p[j], p[i]
    end
  end
  return p
end

return M
