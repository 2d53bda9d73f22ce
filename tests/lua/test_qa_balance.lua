--[[
tests/lua/test_qa_balance.lua - stage 2's answer resampling (vimo.experiment
qa_repeats / examples with qa_balance): within each QA category an answer
seen n_a times is repeated round((n_max / n_a)^x) times, capped; x = 0 and
the align stage leave the examples as they were. The expected counts are
worked by hand below.
]]

local check = require "check"
local experiment = require "vimo.experiment"

-- Toy clips: action walk x9, bow x4, guide x1 (n_max = 9); style old x2,
-- sad x2 (balanced: every repeat 1).
local clips = {}
local function clip(id, action, style)
  local qa = {{category = "action", question = "What does the person do?", answer = action}}
  if style then qa[2] = {category = "style", question = "In what style?", answer = style} end
  clips[#clips + 1] = {id = id, captions = {"a person " .. action .. "s.", "someone " .. action .. "s."}, qa = qa}
end
for i = 1, 9 do clip("w" .. i, "walk", i <= 2 and "old" or (i <= 4 and "sad" or nil)) end
for i = 1, 4 do clip("b" .. i, "bow") end
clip("g1", "guide")

-- x = 0.5: walk (9/9)^.5 = 1; bow (9/4)^.5 = 1.5 -> 2; guide 9^.5 = 3.
local r = experiment.qa_repeats(clips, 0.5, 4)
check.eq(r.action.walk, 1, "the most frequent answer once")
check.eq(r.action.bow, 2, "sqrt(9/4) = 1.5 rounds to 2")
check.eq(r.action.guide, 3, "sqrt(9/1) = 3")
check.eq(r.style.old, 1, "balanced style: once")
check.eq(r.style.sad, 1, "balanced style: once")

-- x = 1: bow 9/4 = 2.25 -> 2; guide 9, capped at 4 (or 2).
r = experiment.qa_repeats(clips, 1, 4)
check.eq(r.action.bow, 2, "9/4 rounds to 2")
check.eq(r.action.guide, 4, "9 capped at 4")
check.eq(experiment.qa_repeats(clips, 1, 2).action.guide, 2, "capped at 2")

-- Free-form answers (more distinct answers than half the examples): used
-- once each, even beside a frequent one; with exactly half distinct, balanced.
local open = {}
for i = 1, 6 do
  open[i] = {id = "o" .. i, captions = {"c"}, qa = {{category = "open", question = "Why?", answer = i <= 3 and "yes" or ("because " .. i)}}}
end
r = experiment.qa_repeats(open, 1, 4)
check.eq(r.open.yes, 1, "free-form: the frequent answer once")
check.eq(r.open["because 4"], 1, "free-form: 4 distinct answers of 6 examples are not classes")
open[6].qa[1].answer = "because 4"
r = experiment.qa_repeats(open, 1, 4)
check.eq(r.open["because 4"], 2, "3 distinct answers of 6 examples: balanced, 3/2 rounds to 2")
check.eq(r.open["because 5"], 3, "3/1 = 3")

-- The instruct examples: 1 caption per clip, QA repeated as above.
local function count(examples)
  local n = {}
  for _, ex in ipairs(examples) do
    if ex.category ~= "caption" then n[ex.category .. "=" .. ex.answer] = (n[ex.category .. "=" .. ex.answer] or 0) + 1 end
  end
  return n
end
local opt = {instruct_captions = 1, captions_per_clip = 2, qa_balance = 0.5, qa_balance_cap = 4}
local ex = experiment.examples(clips, "instruct", opt)
local n = count(ex)
check.eq(n["action=walk"], 9, "walk examples: 9 x 1")
check.eq(n["action=bow"], 8, "bow examples: 4 x 2")
check.eq(n["action=guide"], 3, "guide examples: 1 x 3")
check.eq(n["style=old"], 2, "style examples unchanged")
check.eq(#ex, 14 + 9 + 8 + 3 + 4, "14 captions, 20 action and 4 style examples")
for _, e in ipairs(ex) do
  if e.answer == "guide" then
    check.eq(e.clip.id, "g1", "a repeat keeps its clip")
    check.eq(e.question, "What does the person do?", "and its question")
  end
end

-- Off (x = 0, or no option) and the align stage: every QA example once.
opt.qa_balance = 0
check.eq(#experiment.examples(clips, "instruct", opt), 14 + 14 + 4, "qa_balance = 0: each QA example once")
opt.qa_balance = nil
check.eq(#experiment.examples(clips, "instruct", opt), 14 + 14 + 4, "no qa_balance: each QA example once")
opt.qa_balance = 1
check.eq(#experiment.examples(clips, "align", opt), 28, "align: 2 captions per clip, no QA")

-- The options refuse values outside their range.
local function option(name)
  for _, o in ipairs(experiment.options) do if o.name == name then return o end end
end
check.ok(option("qa_balance").validator(0.5), "0.5 accepted")
check.ok(not option("qa_balance").validator(1.5), "1.5 refused")
check.ok(not option("qa_balance").validator(-0.1), "-0.1 refused")
check.ok(option("qa_balance_cap").validator(4), "cap 4 accepted")
check.ok(not option("qa_balance_cap").validator(0), "cap 0 refused")
check.ok(not option("qa_balance_cap").validator(2.5), "cap 2.5 refused")
check.eq(option("qa_balance").default, 1.0, "class-balanced by default (docs/experiments.md, eleventh round)")

check.done("test_qa_balance")
