--[[
vimo/data/text.lua - captions and question-answer pairs of one clip, from
its labels (vocab.lua) and its measured trajectory.

  local text = require "vimo.data.text"
  local m = text.measure(stats)            -- speed, direction from stats
  local facts = text.facts(entry, m)       -- canonical answers + checks
  local caps = text.captions(entry, facts, n)
  local qa = text.qa(entry, facts)         -- {{question=, answer=, category=}}

Measurements (stats from media.process: root displacement dx (+left), dz
(+forward) in the facing frame of the first frame, 0.25 s path length,
duration):
  speed     = path / duration, m/s: slow < 0.7 <= moderate < 2.0 <= fast
              (2.0 m/s is about the human walk-run transition speed)
  direction = "in place" when the net displacement is < 0.5 m or its rate
              < 0.1 m/s; else by the angle of (dx, dz) from forward:
              |a| <= 45 forward, >= 135 backward, else left (dx > 0) / right
Label versus measurement: the label wins (it is the dataset authors'
annotation); the measurement only checks it (agree below) and answers
when the label says nothing about direction (CMU clips, dances).
Choices among phrasings are a fixed hash of the clip id, so a rebuild
gives the same text. Does not touch files.
]]

local vocab = require "vimo.data.vocab"
local index = require "vimo.data.index"

local M = {}

M.SPEED_SLOW, M.SPEED_FAST = 0.7, 2.0          -- m/s
M.MOVE_MIN_M, M.MOVE_MIN_MPS = 0.5, 0.1        -- in-place limits
M.CATEGORIES = {"action", "style", "direction", "body_part", "speed", "hallucination"}

local function pick(list, key, salt)
  return list[index.fnv1a32(key .. "/" .. salt) % #list + 1]
end

--- Speed and direction measured from the trajectory statistics.
function M.measure(s)
  local dur = s.duration > 0 and s.duration or 1e-9
  local speed = s.path / dur
  local dist = math.sqrt(s.dx * s.dx + s.dz * s.dz)
  local dir
  if dist < M.MOVE_MIN_M or dist / dur < M.MOVE_MIN_MPS then
    dir = "in place"
  else
    local a = math.deg(math.atan(s.dx, s.dz)) -- 0 = forward, +90 = left
    if math.abs(a) <= 45 then dir = "forward"
    elseif math.abs(a) >= 135 then dir = "backward"
    else dir = a > 0 and "left" or "right" end
  end
  local class = speed < M.SPEED_SLOW and "slow" or speed < M.SPEED_FAST and "moderate" or "fast"
  return {speed_mps = speed, speed = class, direction = dir, distance = dist, dx = s.dx, dz = s.dz}
end

--- Whether a direction label is borne out by the displacement (see banner):
-- forward/backward need >= 0.5 m along that way and more than sideways;
-- left/right need >= 0.5 m to that side (a turning walk also goes ahead).
function M.direction_agrees(label, m)
  local dx, dz = m.dx, m.dz
  if label == "forward" then return dz >= M.MOVE_MIN_M and dz >= math.abs(dx) end
  if label == "backward" then return -dz >= M.MOVE_MIN_M and -dz >= math.abs(dx) end
  if label == "left" then return dx >= M.MOVE_MIN_M end
  if label == "right" then return -dx >= M.MOVE_MIN_M end
  return m.direction == "in place"
end

-- The vocabulary entry of a shipped clip's content (or CMU description).
local function content_of(e)
  if e.source == "cmu" then return vocab.CMU[e.labels.description] end
  return vocab.CONTENTS[e.source][e.labels.content]
end

--- Raises unless the clip's labels are all in vocab.lua (checked before
-- any work is done).
function M.check(e)
  if not content_of(e) then
    error(("data: %s: no vocabulary for '%s' (add it to vimo/data/vocab.lua)"):format(e.id,
      e.labels.content or e.labels.description), 0)
  end
  if e.labels.style and not vocab.STYLES[e.source][e.labels.style] then
    error(("data: %s: no vocabulary for style '%s' (add it to vimo/data/vocab.lua)"):format(e.id, e.labels.style), 0)
  end
end

--- Canonical facts of a clip: action, style, direction (label, measured,
-- answer, agree), hand, speed. Raises on a label missing from vocab.lua.
function M.facts(e, m)
  M.check(e)
  local c = content_of(e)
  local st = e.labels.style and vocab.STYLES[e.source][e.labels.style]
  local f = {action = c.action, content = c, style = st, hand = c.hand, speed = m.speed, speed_mps = m.speed_mps}
  f.direction = {label = c.direction, measured = m.direction, answer = c.direction or m.direction}
  f.direction.agree = c.direction == nil or M.direction_agrees(c.direction, m)
  return f
end

--- n paraphrased captions (n <= 10) built from the phrase tables.
function M.captions(e, f, n)
  n = n or 5
  local ph, st, out = f.content.phrases, f.style, {}
  local base = index.fnv1a32(e.id)
  for k = 1, n do
    local vp = ph[(base + k - 1) % #ph + 1]
    local subj = vocab.SUBJECTS[(base // 7 + k - 1) % #vocab.SUBJECTS + 1]
    local cap
    if not st then
      cap = ("%s %s."):format(subj, vp)
    elseif k % 3 == 0 then -- adjective form: "a cheerful person walks forward."
      cap = ("%s person %s."):format(st.adj[(base + k) % #st.adj + 1], vp)
    else
      local adv = st.adv[(base // 3 + k) % #st.adv + 1]
      cap = (k % 2 == 0 and "%s %s, %s." or "%s %s %s."):format(subj, vp, adv)
    end
    out[k] = cap
  end
  return out
end

-- Actions a hallucination question may ask about for a clip of `action`.
local function negatives(action)
  local g = vocab.ACTIONS[action].group
  local out = {}
  for a, d in pairs(vocab.ACTIONS) do
    if d.group ~= g and (g ~= "dance" or vocab.DANCE_SAFE_GROUPS[d.group]) then out[#out + 1] = a end
  end
  table.sort(out)
  return out
end
M.negatives = negatives

local function q(category, question, answer)
  return {category = category, question = question, answer = answer}
end

--- The question-answer pairs of a clip: one per category that applies,
-- and two hallucination questions of the same form (true action: "yes",
-- an action of another group: "no").
function M.qa(e, f)
  local Q, id, out = vocab.QUESTIONS, e.id, {}
  out[#out + 1] = q("action", pick(Q.action, id, "action"), f.action)
  if f.style then out[#out + 1] = q("style", pick(Q.style, id, "style"), f.style.answer) end
  out[#out + 1] = q("direction", pick(Q.direction, id, "direction"), f.direction.answer)
  if f.hand then out[#out + 1] = q("body_part", pick(Q.body_part, id, "body_part"), f.hand) end
  out[#out + 1] = q("speed", pick(Q.speed, id, "speed"), f.speed)
  local form = pick(Q.hallucination, id, "hallucination")
  local neg = pick(negatives(f.action), id, "negative")
  out[#out + 1] = q("hallucination", (form:gsub("{ing}", vocab.ACTIONS[f.action].ing)), "yes")
  out[#out + 1] = q("hallucination", (form:gsub("{ing}", vocab.ACTIONS[neg].ing)), "no")
  return out
end

--- QA of a clip known only by its motion (user data without labels):
-- the measured direction and speed.
function M.qa_measured(id, m)
  local Q = vocab.QUESTIONS
  return {q("direction", pick(Q.direction, id, "direction"), m.direction),
          q("speed", pick(Q.speed, id, "speed"), m.speed)}
end

return M
