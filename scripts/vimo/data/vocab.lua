--[[
vimo/data/vocab.lua - the words of the dataset: canonical answers and the
phrase tables that captions and questions are built from.

  CONTENTS[source][label] = {action =, direction =, hand =, phrases = {...}}
  STYLES[source][label]   = {answer =, adv = {...}, adj = {...}}
  CMU[description]        = {action =, direction =, modifier =, phrases = {...}}
  ACTIONS[action]         = {ing = "walking", group = "locomotion"}

Labels are the dataset's own names (cfg/*.txt, clips.tsv). Canonical
answers are 1-2 lowercase words with no punctuation, so that
vimo_qa_normalize leaves them unchanged (a test checks it). Phrases are
3rd-person present verb phrases ("walks forward"), adverbials ("cheerfully")
and adjectives with their article ("a cheerful"). Written by hand for vimo
from the label names and the dataset READMEs; no text copied.
Does not decide anything: text.lua picks among these phrases.
]]

local M = {}

-- Canonical actions: gerund for yes/no questions, and a confusion group:
-- a hallucination question never asks about an action of the same group
-- ("is the person sprinting?" about a run is not a clean "no").
M.ACTIONS = {
  walk = {ing = "walking", group = "walk"},
  run = {ing = "running", group = "run"},
  sprint = {ing = "sprinting", group = "run"},
  jump = {ing = "jumping", group = "jump"},
  bow = {ing = "bowing", group = "bow"},
  wave = {ing = "waving", group = "arm"},
  ["raise hand"] = {ing = "raising a hand", group = "arm"},
  guide = {ing = "guiding someone with a gesture", group = "arm"},
  respond = {ing = "responding to someone", group = "arm"},
  call = {ing = "calling someone over", group = "arm"},
  punch = {ing = "punching", group = "punch"},
  kick = {ing = "kicking", group = "kick"},
  slash = {ing = "slashing with a blade", group = "slash"},
  dance = {ing = "dancing", group = "dance"},
}

-- Every action except those of a "dance" clip could appear inside a dance:
-- dances are only asked about actions of these groups.
M.DANCE_SAFE_GROUPS = {bow = true, punch = true, slash = true}

local function c(action, direction, hand, phrases)
  return {action = action, direction = direction, hand = hand, phrases = phrases}
end

M.CONTENTS = {
  bandai1 = {
    walk = c("walk", "forward", nil, {"walks forward", "strides ahead", "takes a walk", "walks straight ahead",
      "is walking forward"}),
    run = c("run", "forward", nil, {"runs forward", "jogs ahead", "is running forward", "runs straight ahead",
      "goes for a run"}),
    dash = c("sprint", "forward", nil, {"sprints forward", "dashes ahead", "breaks into a sprint",
      "races forward at full speed", "makes a quick dash"}),
    ["walk-back"] = c("walk", "backward", nil, {"walks backward", "steps back", "backs away",
      "is walking backwards", "retreats step by step"}),
    ["walk-left"] = c("walk", "left", nil, {"walks to the left", "sidesteps to the left", "moves leftward",
      "steps sideways to the left", "shuffles to the left"}),
    ["walk-right"] = c("walk", "right", nil, {"walks to the right", "sidesteps to the right", "moves rightward",
      "steps sideways to the right", "shuffles to the right"}),
    bow = c("bow", "in place", nil, {"bows", "takes a bow", "bends forward in a bow", "bows politely",
      "gives a bow"}),
    bye = c("wave", "in place", nil, {"waves goodbye", "waves a hand to say bye", "says goodbye with a wave",
      "waves farewell", "gives a goodbye wave"}),
    byebye = c("wave", "in place", nil, {"waves bye-bye", "waves goodbye eagerly", "keeps waving goodbye",
      "waves a hand back and forth to say bye-bye", "bids farewell with a wave"}),
    guide = c("guide", "in place", nil, {"gestures to show the way", "guides someone with a hand gesture",
      "points out the way", "motions someone in a direction", "shows someone where to go"}),
    respond = c("respond", "in place", nil, {"responds to someone", "answers with a gesture",
      "reacts to a call", "gives a reply with the body", "acknowledges someone"}),
    call = c("call", "in place", nil, {"calls someone over", "beckons someone", "calls out to someone",
      "signals someone to come", "waves someone closer"}),
    punch = c("punch", "in place", nil, {"throws punches", "punches", "strikes with a fist",
      "throws a punch", "jabs with the fists"}),
    kick = c("kick", "in place", nil, {"kicks", "throws a kick", "kicks with a leg", "delivers a kick",
      "swings a leg in a kick"}),
    slash = c("slash", "in place", nil, {"slashes with a blade", "swings a sword", "makes sword slashes",
      "cuts through the air with a blade", "strikes with a sword"}),
    ["dance-long"] = c("dance", nil, nil, {"dances", "performs a long dance", "dances a routine",
      "moves to a rhythm", "performs a dance"}),
    ["dance-short"] = c("dance", nil, nil, {"dances", "performs a short dance", "dances a routine",
      "moves to a rhythm", "performs a dance"}),
  },
  bandai2 = {
    walk = c("walk", "forward", nil, {"walks forward", "strides ahead", "takes a walk", "walks straight ahead",
      "is walking forward"}),
    ["walk-turn-left"] = c("walk", "left", nil, {"walks and turns left", "walks forward then turns to the left",
      "makes a left turn while walking", "walks, curving to the left", "turns left while walking"}),
    ["walk-turn-right"] = c("walk", "right", nil, {"walks and turns right",
      "walks forward then turns to the right", "makes a right turn while walking",
      "walks, curving to the right", "turns right while walking"}),
    run = c("run", "forward", nil, {"runs forward", "jogs ahead", "is running forward", "runs straight ahead",
      "goes for a run"}),
    ["wave-both-hands"] = c("wave", "in place", "both", {"waves both hands", "waves with both hands",
      "waves both arms", "greets someone waving both hands", "waves two hands in the air"}),
    ["wave-left-hand"] = c("wave", "in place", "left", {"waves the left hand", "waves with the left hand",
      "greets someone waving the left hand", "raises the left hand and waves", "waves using the left arm"}),
    ["wave-right-hand"] = c("wave", "in place", "right", {"waves the right hand", "waves with the right hand",
      "greets someone waving the right hand", "raises the right hand and waves", "waves using the right arm"}),
    ["raise-up-both-hands"] = c("raise hand", "in place", "both", {"raises both hands", "lifts both arms up",
      "puts both hands up", "raises both arms overhead", "throws both hands up"}),
    ["raise-up-left-hand"] = c("raise hand", "in place", "left", {"raises the left hand", "lifts the left arm up",
      "puts the left hand up", "raises the left arm overhead", "holds up the left hand"}),
    ["raise-up-right-hand"] = c("raise hand", "in place", "right", {"raises the right hand",
      "lifts the right arm up", "puts the right hand up", "raises the right arm overhead",
      "holds up the right hand"}),
  },
}

local function s(answer, adv, adj)
  return {answer = answer, adv = adv, adj = adj}
end

M.STYLES = {
  bandai1 = {
    normal = s("normal", {"in an ordinary way", "normally", "in a plain, neutral manner"},
      {"an ordinary", "a calm"}),
    happy = s("happy", {"in a happy, bouncy way", "cheerfully", "with a joyful spring in the step"},
      {"a happy", "a cheerful"}),
    sad = s("sad", {"sadly", "in a sad, heavy way", "with a downcast air"}, {"a sad", "a gloomy"}),
    angry = s("angry", {"angrily", "in an angry, forceful way", "with visible anger"}, {"an angry", "a furious"}),
    proud = s("proud", {"proudly", "with a proud, upright bearing", "with chest out and head high"},
      {"a proud", "a self-assured"}),
    ["not-confident"] = s("not confident", {"hesitantly", "without confidence", "in a timid, unsure way"},
      {"an unconfident", "a timid"}),
    masculinity = s("masculine", {"in a masculine way", "with a broad, manly gait", "in a macho manner"},
      {"a masculine", "a manly"}),
    feminine = s("feminine", {"in a feminine way", "gracefully and femininely", "with a light, feminine poise"},
      {"a feminine", "a graceful"}),
    childish = s("childish", {"like a child", "in a childish, playful way", "with childlike energy"},
      {"a childish", "a playful"}),
    old = s("old", {"like an old person", "slowly, like someone elderly", "with the stiffness of old age"},
      {"an old", "an aged"}),
    tired = s("tired", {"wearily", "in a tired, dragging way", "as if worn out"}, {"a tired", "a weary"}),
    active = s("active", {"energetically", "in a lively, active way", "with lots of energy"},
      {"an energetic", "a lively"}),
    musical = s("musical", {"theatrically, like in a musical", "with exaggerated stage flair",
      "in a showy, musical-theatre style"}, {"a theatrical", "a showy"}),
    giant = s("giant", {"like a giant", "with heavy, lumbering steps", "in a huge, ponderous way"},
      {"a giant", "a lumbering"}),
    chimpira = s("thug", {"like a street thug", "with a swaggering, thuggish attitude", "in a delinquent way"},
      {"a thuggish", "a swaggering"}),
  },
  bandai2 = {
    active = s("active", {"energetically", "in a lively, active way", "with lots of energy"},
      {"an energetic", "a lively"}),
    elderly = s("elderly", {"like an elderly person", "slowly and carefully, like someone elderly",
      "with the caution of old age"}, {"an elderly", "an old"}),
    exhausted = s("exhausted", {"in an exhausted way", "as if completely drained", "with exhausted, heavy limbs"},
      {"an exhausted", "a worn-out"}),
    feminine = s("feminine", {"in a feminine way", "gracefully and femininely", "with a light, feminine poise"},
      {"a feminine", "a graceful"}),
    masculine = s("masculine", {"in a masculine way", "with a broad, manly gait", "in a macho manner"},
      {"a masculine", "a manly"}),
    normal = s("normal", {"in an ordinary way", "normally", "in a plain, neutral manner"},
      {"an ordinary", "a calm"}),
    youthful = s("youthful", {"youthfully", "in a young, sprightly way", "with youthful bounce"},
      {"a youthful", "a young"}),
  },
}

-- CMU descriptions (clips.tsv): the action, a direction when the words say
-- one, and phrases. Descriptions are short; phrases add paraphrases.
M.CMU = {
  ["walk"] = {action = "walk", phrases = {"walks", "takes a walk", "walks along", "is walking", "strolls"}},
  ["run"] = {action = "run", phrases = {"runs", "runs along", "is running", "goes for a run", "runs at a steady pace"}},
  ["run/jog"] = {action = "run", phrases = {"runs", "jogs", "goes for a jog", "is running", "jogs along"}},
  ["jump, balance"] = {action = "jump", phrases = {"jumps and keeps balance", "jumps, then balances",
    "hops and steadies the body", "jumps and holds a balance", "leaps and balances"}},
  ["walk on uneven terrain"] = {action = "walk", phrases = {"walks on uneven ground",
    "walks over rough terrain", "picks a way across uneven ground", "walks carefully over bumps",
    "treads over uneven terrain"}},
  ["slow walk"] = {action = "walk", phrases = {"walks slowly", "takes a slow walk", "strolls slowly",
    "walks at a slow pace", "ambles along"}},
  ["brisk walk"] = {action = "walk", phrases = {"walks briskly", "takes a brisk walk", "walks at a quick pace",
    "hurries along on foot", "walks fast"}},
  ["walk, exaggerated stride"] = {action = "walk", phrases = {"walks with exaggerated strides",
    "takes big, exaggerated steps", "walks with long, overdone strides", "strides in an exaggerated way",
    "walks with very long steps"}},
  ["slow walk/stride"] = {action = "walk", phrases = {"walks slowly with long strides", "strides slowly",
    "takes slow, long steps", "walks at a slow stride", "paces slowly"}},
  ["forward jump"] = {action = "jump", direction = "forward", phrases = {"jumps forward", "leaps ahead",
    "does a forward jump", "jumps to the front", "hops forward"}},
  ["jump"] = {action = "jump", phrases = {"jumps", "leaps up", "does a jump", "jumps in the air", "hops"}},
}

-- Subjects of captions (with "a person" style articles).
M.SUBJECTS = {"a person", "someone", "the person", "a figure", "a man", "an actor"}

-- Answers of the measured categories.
M.DIRECTIONS = {"forward", "backward", "left", "right", "in place"}
M.SPEEDS = {"slow", "moderate", "fast"}
M.HANDS = {"left", "right", "both"}

-- Question phrasings per category; {ing} is the gerund of an action.
M.QUESTIONS = {
  action = {"What is the person doing?", "What action does the person perform?",
    "Which activity is shown?", "What is this person doing in the clip?",
    "In one or two words, what does the person do?"},
  style = {"In what manner does the person move?", "How would you describe the style of the movement?",
    "What mood or character does the motion convey?", "What is the style of this motion?",
    "How does the person carry out the action?"},
  direction = {"Which direction does the person move?", "Where does the person go: forward, backward, left, right, or stay in place?",
    "In which direction does the body travel?", "Does the person move forward, backward, to the left, to the right, or stay in place?",
    "Which way is the person heading?"},
  body_part = {"Which hand does the person use?", "Is it the left hand, the right hand or both hands?",
    "Which hand is raised?", "Which arm does the person move?", "With which hand does the person gesture?"},
  speed = {"How fast does the person move?", "Is the movement slow, moderate or fast?",
    "At what speed does the person travel?", "How quickly does the person move across the ground?",
    "What is the pace of the person?"},
  hallucination = {"Is the person {ing}?", "Does this clip show someone {ing}?", "Can you see a person {ing}?",
    "Is someone {ing} here?", "Do we see the person {ing}?"},
}

return M
