--[[
tests/lua/test_qa_views.lua - stage 0's attribute views (vimo.experiment
qa_views): a category with its own attribute head is a view at every step,
through that head; of the categories without one, exactly one per step,
drawn with a single rng draw (so runs without heads keep their old random
stream); texts are "<question> <answer>" keyed by the answer, and a clip
without that category falls back to its caption keyed by the clip; a
stats_token naming a category no clip has is an error.
]]

local check = require "check"
local experiment = require "vimo.experiment"

local style_head = {name = "style head"}
local model = {attribute_head = function(_, m, cat)
  if m == "motion" and cat == "style" then return style_head end
  return nil
end}
-- An rng that returns the queued values and counts its draws.
local function fake_rng(values)
  local r = {draws = 0}
  function r:below(n)
    self.draws = self.draws + 1
    local v = values[self.draws]
    assert(v and v < n, "fake rng: no value queued below " .. n)
    return v
  end
  return r
end

local batch = {
  {id = "a", captions = {"a person walks."}, qa = {{category = "style", question = "Style?", answer = "old"},
                                                   {category = "action", question = "Action?", answer = "walk"},
                                                   {category = "speed", question = "Speed?", answer = "slow"}}},
  {id = "b", captions = {"someone waves."}, qa = {{category = "action", question = "Action?", answer = "wave"}}},
}

local rng = fake_rng{1}
local views = experiment.qa_views(batch, rng, {"style", "action", "speed"}, model, "motion")
check.eq(rng.draws, 1, "one draw per step")
check.eq(#views, 2, "the headed category and one other")
check.ok(views[1].heads and views[1].heads.motion == style_head, "style goes through its head")
check.eq(views[1].texts[1], "Style? old", "question and answer as text")
check.eq(views[1].keys[1], "style=old", "keyed by the answer")
check.eq(views[1].texts[2], "someone waves.", "a clip without the category falls back to its caption")
check.eq(views[1].keys[2], "clip=b", "keyed by the clip")
check.ok(views[2].heads == nil, "the other category uses the caption head")
check.eq(views[2].keys[1], "speed=slow", "drawn index 1 of the headless (action, speed): speed")

rng = fake_rng{0}
views = experiment.qa_views(batch, rng, {"style", "action", "speed"}, model, "motion")
check.eq(views[2].keys[2], "action=wave", "index 0 of the headless pair: action (uniform over them)")

-- The draw is below(#headless): with a real rng, the same stream as a plain
-- below(2) call, and never an index past the headless list.
local vimo = require "vimo"
local real, twin = vimo.rng(7), vimo.rng(7)
for _ = 1, 200 do
  views = experiment.qa_views(batch, real, {"style", "action", "speed"}, model, "motion")
  local want = ({"action=walk", "speed=slow"})[twin:below(2) + 1]
  if views[2].keys[1] ~= want then check.ok(false, "the draw picks " .. views[2].keys[1] .. ", want " .. want) end
end
check.eq(real:below(1000), twin:below(1000), "one below(2) per step: the streams stay together")

rng = fake_rng{0}
views = experiment.qa_views(batch, rng, {"action", "speed"}, model, "motion")
check.eq(#views, 1, "no heads: one category per step")
check.eq(views[1].keys[2], "action=wave", "drawn index 0: action")
check.eq(rng.draws, 1, "one draw")

rng = fake_rng{0}
views = experiment.qa_views(batch, rng, {"style"}, model, "motion")
check.eq(#views, 1, "headed only: its view")
check.eq(rng.draws, 1, "and still one draw")
check.ok(experiment.qa_views(batch, fake_rng{}, {}, model, "motion") == nil, "no categories: no views")
-- stats_token must name a category some training clip has (or caption).
check.ok(pcall(experiment.check_stats_token, "action", batch), "a category the clips have")
check.ok(pcall(experiment.check_stats_token, "caption", {}), "caption needs no category")
local ok, msg = pcall(experiment.check_stats_token, "actions", batch)
check.ok(not ok and msg:find("stats_token=actions", 1, true) and msg:find("action, speed, style", 1, true),
         "a typo is an error that lists the categories: " .. tostring(msg))

check.done("test_qa_views")
