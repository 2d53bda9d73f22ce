--[[
tests/data/test_full_build.lua - CTest label "slow": the whole build of the
404 shipped clips (`vimo data build`), then the loader over all of them:
the documented split counts, every label direction borne out by the
trajectory, every dash fast, every walk-back backward, every hand clip
raising the labelled hand most, feature rows against labels.tsv, and the
cache hit of a second build. Prints the build time.
]]

local t = require "harness"
local data = require "vimo.data"
local builder = require "vimo.data.builder"

local cache = os.getenv("VIMO_DATA_CACHE") or t.tmpdir("cache")
local r = builder.build{cache = cache, force = true}
print(("data.full_build: built %d clips in %.1f s"):format(r.manifest.n, r.seconds))
t.eq(r.manifest.n, 404, "clips")
local r2 = builder.build{cache = cache}
t.eq(r2.status, "cached", "second build is a cache hit")
print(("data.full_build: cached in %.4f s"):format(r2.seconds))

local ds = assert(data.load{cache = cache, build = false})
local n = ds:counts()
t.eq(n.train, 292, "train clips")
t.eq(n.val, 24, "val clips")
t.eq(n.test, 88, "test clips")
t.eq(#r.manifest.summary.disagree, 0, "direction labels all agree with the trajectories")

local frames = {}
for _, src in ipairs{"dataset-1", "dataset-2"} do
  for line in io.lines(t.root() .. "/data/motion/bandai_namco/" .. src .. "/labels.tsv") do
    local f, k = line:match("^(%S+)%.bvh\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t(%d+)")
    if f then frames[f] = tonumber(k) end
  end
end
for _, c in ipairs(ds.clips) do
  local content = c.labels.content or ""
  if frames[c.id] then t.eq(c.T, (frames[c.id] - 1) * 2 // 3, c.id .. ": feature rows") end
  if content == "dash" then t.eq(c.facts.speed, "fast", c.id .. ": dash is fast") end
  if content == "walk-back" then t.eq(c.facts.direction.measured, "backward", c.id .. ": walk-back") end
  if content:find("left%-hand$") then t.check(c.stats.lwrist > c.stats.rwrist, "%s: left wrist", c.id) end
  if content:find("right%-hand$") then t.check(c.stats.rwrist > c.stats.lwrist, "%s: right wrist", c.id) end
  t.eq(table.concat(c.video:shape(), "x"), "8x3x64x64", c.id .. ": video")
end

t.done("data.full_build")
