--[[
tests/data/test_text.lua - captions and QA of every shipped clip (labels
only: the trajectory is stubbed, test_build.lua checks measured answers on
real clips) and the measurement rules on hand-worked trajectories.
Expected answers are derived here from the label strings themselves
("wave-left-hand" -> "left"), not from vocab.lua's tables.
]]

local t = require "harness"
local media = require "vimo.data.media"
local index = require "vimo.data.index"
local text = require "vimo.data.text"
local vocab = require "vimo.data.vocab"

-- ---- measurement rules (docs/data.md) -----------------------------------
local function meas(dx, dz, path, dur) return text.measure{dx = dx, dz = dz, path = path, duration = dur} end
local m = meas(0, -2, 2, 2)
t.eq(m.direction, "backward", "2 m back in 2 s")
t.eq(m.speed, "moderate", "1 m/s")
t.eq(meas(1.0, 0.2, 1.1, 1).direction, "left", "+X is the left of the first frame")
t.eq(meas(-1.0, 0.2, 1.1, 1).direction, "right", "-X is the right")
t.eq(meas(-0.3, 0.3, 3, 10).direction, "in place", "0.42 m net is in place")
t.eq(meas(-0.3, 0.3, 3, 10).speed, "slow", "0.3 m/s")
t.eq(meas(0, 0.8, 0.8, 10).direction, "in place", "0.8 m over 10 s (0.08 m/s) is in place")
t.eq(meas(0, 8, 8, 2).direction, "forward", "8 m ahead")
t.eq(meas(0, 8, 8, 2).speed, "fast", "4 m/s")
t.eq(meas(0, 0, 0.69, 1).speed, "slow", "0.69 m/s")
t.eq(meas(0, 0, 0.70, 1).speed, "moderate", "0.70 m/s")
t.eq(meas(0, 0, 1.99, 1).speed, "moderate", "1.99 m/s")
t.eq(meas(0, 0, 2.00, 1).speed, "fast", "2.00 m/s")
t.check(text.direction_agrees("left", meas(2, 3, 4, 3)), "a walk curving left agrees with 'left'")
t.check(not text.direction_agrees("forward", meas(3, 2, 4, 3)), "mostly sideways is not 'forward'")
t.check(text.direction_agrees("backward", meas(0.4, -3, 3, 3)), "backward")
t.check(not text.direction_agrees("right", meas(2, 3, 4, 3)), "left is not right")
t.check(text.direction_agrees("in place", meas(0.1, 0.1, 2, 5)), "in place")

-- ---- every clip, with a stubbed trajectory --------------------------------
local entries = index.list(t.root())
local stub = text.measure{dx = 0, dz = 1, path = 1, duration = 1}
local n_yes, n_no = 0, 0
local phrasings = {}
local style_answers, action_answers = {}, {}
for _, st in pairs(vocab.STYLES) do for _, s in pairs(st) do style_answers[s.answer] = true end end
for a in pairs(vocab.ACTIONS) do action_answers[a] = true end
local dirs = {}
for _, d in ipairs(vocab.DIRECTIONS) do dirs[d] = true end

for _, e in ipairs(entries) do
  local f = text.facts(e, stub)
  local qa = text.qa(e, f)
  local by = {}
  for _, x in ipairs(qa) do
    by[x.category] = by[x.category] or {}
    table.insert(by[x.category], x)
    t.eq(media.qa_normalize(x.answer), x.answer, e.id .. ": answer is already normalised")
    local words = select(2, x.answer:gsub("%S+", ""))
    t.check(words >= 1 and words <= 2, "%s: answer '%s' has 1-2 words", e.id, x.answer)
    t.check(x.question:sub(-1) == "?" and not x.question:find("{", 1, true), "%s: question '%s'", e.id, x.question)
    phrasings[x.category] = phrasings[x.category] or {}
    phrasings[x.category][x.question] = true
  end
  local content = e.labels.content or ""
  t.check(#(by.action or {}) == 1 and action_answers[by.action[1].answer], "%s: one canonical action", e.id)
  -- style: exactly for Bandai clips, answer in the style set
  t.eq(#(by.style or {}), e.source == "cmu" and 0 or 1, e.id .. ": style questions")
  if by.style then t.check(style_answers[by.style[1].answer], "%s: style answer %s", e.id, by.style[1].answer) end
  -- body part: only for the hand clips, from the label name
  local hand = content:match("(%a+)%-hands?$")
  hand = hand == "both" and "both" or hand
  t.eq(#(by.body_part or {}), hand and 1 or 0, e.id .. ": body_part only for hand clips")
  if hand then t.eq(by.body_part[1].answer, hand, e.id .. ": hand from the label") end
  -- direction: from the label name where it says one
  local d = by.direction[1].answer
  t.check(dirs[d], "%s: direction %s", e.id, d)
  if not hand then
    if content:find("back", 1, true) then t.eq(d, "backward", e.id)
    elseif content:find("left", 1, true) then t.eq(d, "left", e.id)
    elseif content:find("right", 1, true) then t.eq(d, "right", e.id)
    elseif content == "walk" or content == "run" or content == "dash" then t.eq(d, "forward", e.id) end
  end
  -- hallucination: one yes, one no, same question form, other action group
  local h = by.hallucination or {}
  t.eq(#h, 2, e.id .. ": two hallucination questions")
  if #h == 2 then
    t.check(h[1].answer == "yes" and h[2].answer == "no", "%s: yes then no", e.id)
    local form1, form2
    for _, form in ipairs(vocab.QUESTIONS.hallucination) do
      local pre, post = form:match("^(.*){ing}(.*)$")
      if h[1].question:sub(1, #pre) == pre and h[1].question:sub(-#post) == post then form1 = form1 or form end
      if h[2].question:sub(1, #pre) == pre and h[2].question:sub(-#post) == post then form2 = form2 or form end
    end
    t.check(form1 ~= nil and form1 == form2, "%s: same form for yes and no", e.id)
    t.check(h[1].question ~= h[2].question, "%s: yes and no ask about different actions", e.id)
    t.check(h[1].question:find(vocab.ACTIONS[f.action].ing, 1, true), "%s: yes asks about the true action", e.id)
    n_yes, n_no = n_yes + 1, n_no + 1
  end
  -- captions: 5 distinct sentences without template holes
  local caps = text.captions(e, f, 5)
  t.eq(#caps, 5, e.id .. ": captions")
  local seen = {}
  for _, c in ipairs(caps) do
    t.check(c:match("^[a-z].*%.$") and not c:find("{", 1, true), "%s: caption '%s'", e.id, c)
    t.check(not seen[c], "%s: caption repeated: %s", e.id, c)
    seen[c] = true
  end
  -- a style word (or a phrase of it) appears in some caption of styled clips
end
t.eq(n_yes, #entries, "a yes per clip")
t.eq(n_no, n_yes, "hallucination is balanced: majority baseline 50 %")

-- paraphrases: every category uses at least 3 phrasings over the dataset
for cat, set in pairs(phrasings) do
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  if cat ~= "hallucination" then t.check(n >= 3, "category %s uses %d phrasings", cat, n) end
end

-- negatives never share a confusion group, dances only get safe ones
for a, d in pairs(vocab.ACTIONS) do
  for _, neg in ipairs(text.negatives(a)) do
    t.check(vocab.ACTIONS[neg].group ~= d.group, "%s vs %s share a group", a, neg)
    if a == "dance" then t.check(vocab.DANCE_SAFE_GROUPS[vocab.ACTIONS[neg].group], "dance vs %s", neg) end
  end
end

-- a label missing from the vocabulary is refused before any work
t.raises("no vocabulary for 'moonwalk'", "unknown content",
  text.check, {id = "x", source = "bandai1", labels = {content = "moonwalk", style = "happy"}})

t.done("data.text")
