--[[
vimo/experiment.lua - the behaviour-understanding experiment of MotionLLM /
ViMoNet as stages over plugins: data -> (pretrain) -> align -> instruct -> eval.

  local experiment = require "vimo.experiment"
  return experiment.main{name = "joint", modalities = {"motion", "video"}}

Experiments under experiments/ differ only in this composition (which
modalities, which plugins by option); everything else is shared here.

Stages (MotionLLM sec. 3.2, two-stage training; ViMoNet's joint recipe):
  data      load (or build once) the shipped motion/video dataset (vimo.data)
  pretrain  optional (pretrain_epochs > 0): the motion encoder as an
            autoencoder on motion alone (its pretrain_loss, T2M-GPT style)
  contrast  stage 0 (contrast_epochs > 0): the encoders against their clips'
            captions with CLIP's InfoNCE (vimo.contrastive), standing in for
            the pretrained encoders MotionLLM starts from; encoders listed
            in frozen_encoders stay frozen afterwards (and their tokens are
            cached where a clip's window is fixed). contrast_from=DIR[,DIR...]
            takes a modality's stage 0 from another run with the same
            stage-0 options instead (M.stage0_from), as the ablation does
  align     captions only; LLM frozen; encoders + projectors trained
  instruct  QA + captions; LoRA on the LLM + projectors (+ encoders at
            enc_lr_scale); a small validation QA each epoch
  eval      test split: QA accuracy per category beside the majority-answer
            baseline, and caption BLEU-1..4 / ROUGE-L / CIDEr-D; the same QA
            on the val split (eval_val), the figures a recipe is chosen on
Joint training mixes motion-text and video-text: "paired" feeds both
modalities of a clip in one sample; "unpaired" gives each training example
one modality (video with probability video_ratio, fixed per example);
"mixed" feeds both to a paired_ratio share of the examples and one modality
to the rest (modality dropout: each branch must be read on its own too).
Every stage checkpoints each epoch; resume=true continues a killed run with
the same losses. The trained parameters end in <run>/model.ckpt, which
`vimo describe` reads.
]]

local vimo = require "vimo"
local runner = require "vimo.runner"
local trainer = require "vimo.trainer"
local mllm = require "vimo.mllm"
local data = require "vimo.data"
local nn = require "vimo.nn"
local augment = require "vimo.augment"

local M = {}

local HOLDOUT_FORM = "want 'k/n' (fold k of n, 1 <= k <= n, n >= 2)"

-- 'k/n' -> k, n (integers, 1 <= k <= n, n >= 2), or nil.
local function parse_holdout(spec)
  local k, n = tostring(spec):match("^%s*(%d+)%s*/%s*(%d+)%s*$")
  k, n = math.tointeger(tonumber(k)), math.tointeger(tonumber(n))
  if not (k and n and n >= 2 and k >= 1 and k <= n) then return nil end
  return k, n
end

M.options = {
  {name = "modalities", default = "motion", help = "comma-separated: motion, video"},
  {name = "pairing", default = "paired", help = "joint training: paired, unpaired or mixed",
   validator = function(v) return v == "paired" or v == "unpaired" or v == "mixed",
     "must be paired, unpaired or mixed" end},
  {name = "video_ratio", default = 0.5, help = "unpaired/mixed: fraction of single-modality examples that see video"},
  {name = "paired_ratio", default = 0.5, help = "mixed: fraction of examples that see both modalities"},
  {name = "pretrain_epochs", default = 0, help = "stage 0: motion autoencoder epochs (0 = skip)"},
  {name = "contrast_epochs", default = 120, help = "stage 0: motion encoder-caption contrastive epochs (0 = skip)"},
  {name = "contrast_video_epochs", default = 15, help = "stage 0: video encoder-caption contrastive epochs (0 = skip)"},
  {name = "contrast_lr", default = 2e-3, help = "stage 0 contrastive peak learning rate"},
  {name = "contrast_batch", default = 64, help = "stage 0 contrastive batch (clips; the negatives)"},
  {name = "contrast_temp", default = 0.07, help = "stage 0 InfoNCE temperature (CLIP's initial value)"},
  {name = "contrast_filter", default = false,
   help = "stage 0: clips of the same label (content and style) are not each other's negatives (TMR)"},
  {name = "contrast_qa", default = "style,action",
   help = "stage 0: QA categories whose answers are also contrasted with the clips (comma-separated, e.g. "
     .. "style,action; '' = captions only): every step through the category's attribute head, or one "
     .. "category per step through the caption head for those without one"},
  {name = "contrast_tempo", default = 0.0, help = "stage 0: random tempo change of motion windows, rate in "
     .. "[1/(1+x), 1+x] (0 = off; vimo.augment)"},
  {name = "contrast_scale", default = 0.0, help = "stage 0: random body-size change of motion windows, in "
     .. "[1-x, 1+x] (0 = off)"},
  {name = "contrast_mirror", default = 0.5, help = "stage 0: probability that a motion training clip is replaced "
     .. "by its left/right mirror, text swapped too (HumanML3D's augmentation; vimo.augment; 0 = off)",
   validator = function(v) return v >= 0 and v <= 1, "must be in [0, 1]" end},
  {name = "contrast_from", default = "", help = "stage 0: run folders (comma-separated) whose finished stage 0 "
     .. "this run takes instead of training its own, for each modality one of them trained (the first that did; "
     .. "same seed and stage-0 options, checked); the ablation shares motion's between motion_only and joint, "
     .. "and trains joint's video's in a child of its own ('' = train here)"},
  {name = "align_epochs", default = 8, help = "stage 1 epochs (captions)"},
  {name = "align_lr", default = 2e-3, help = "stage 1 peak learning rate"},
  {name = "instruct_epochs", default = 10, help = "stage 2 epochs (QA + captions)"},
  {name = "instruct_lr", default = 2e-3, help = "stage 2 peak learning rate"},
  {name = "instruct_swa", default = 0.0, help = "stage 2: end with the mean of the weights after every step past "
     .. "this fraction of its steps (dense stochastic weight averaging; vimo.trainer; 0 = off)",
   validator = function(v) return v >= 0 and v < 1, "must be in [0, 1)" end},
  {name = "enc_lr_scale", default = 1.0, help = "stage 2 encoder learning rate / instruct_lr (0 = frozen)"},
  {name = "frozen_encoders", default = "video,motion", help = "modalities whose encoders stay frozen after stage 0 "
     .. "(comma-separated; a frozen encoder runs without dropout, and its tokens are cached where a clip's "
     .. "window is fixed: every video, and motion clips no longer than motion_frames)"},
  {name = "mirror", default = 0.0, help = "stages 1-2: probability that an example's clip is replaced by its "
     .. "left/right mirror, question and answer swapped too (as contrast_mirror in stage 0; motion only: a "
     .. "model that reads video refuses it; 0 = off)",
   validator = function(v) return v >= 0 and v <= 1, "must be in [0, 1]" end},
  {name = "eval_mirror", default = false, help = "eval: answer from the clip and its left/right mirror, keeping "
     .. "the answer the two views find likelier together (Model:answer_mirror; motion-only models)"},
  {name = "captions_per_clip", default = 2, help = "caption examples per training clip and epoch (align)"},
  {name = "instruct_captions", default = 1, help = "caption examples per training clip and epoch (instruct)"},
  {name = "qa_balance", default = 1.0, help = "instruct: QA examples repeated round((n_max / n_answer)^x) times "
     .. "within their category, capped at qa_balance_cap (0 = off, 0.5 = square-root, 1 = class-balanced up to the cap)",
   validator = function(v) return v >= 0 and v <= 1, "must be in [0, 1]" end},
  {name = "qa_balance_cap", default = 4, help = "instruct: most repeats of one QA example under qa_balance",
   validator = function(v) return v >= 1 and v == math.floor(v), "must be an integer >= 1" end},
  {name = "loss_by_kind", default = true, help = "instruct: captions and QA as separate loss groups weighted "
     .. "by example count (else one per-token mean)"},
  {name = "val_questions", default = 48, help = "validation questions per epoch (0 = none)"},
  {name = "eval_limit", default = 0, help = "test clips to evaluate (0 = all)"},
  {name = "eval_val", default = true, help = "eval: also score QA on the whole val split (results' eval.val; the "
     .. "figures to choose a recipe on, so the test split stays untouched)"},
  {name = "eval_train", default = 0, help = "also evaluate QA on N training clips (diagnoses over/underfitting)"},
  {name = "data_limit", default = 0, help = "build/use only the first N clips (quick runs)"},
  {name = "holdout", default = "", help = "cross-validation: 'k/n' trains without fold k of n of the train split "
     .. "and scores it as the val split (the shipped val clips are set aside; '' = off)",
   validator = function(v) return v == "" or parse_holdout(v) ~= nil, HOLDOUT_FORM end},
  {name = "video_size", default = 64, help = "video frame size S (square crop)"},
  {name = "frames", default = 8, help = "video frames per clip"},
  {name = "threads", default = 0, help = "kernel threads (0 = all cores)"},
}

-- Chosen on the validation split (docs/experiments.md): lr 2e-3 learned to
-- use the motion tokens where 5e-3 collapsed to per-question majority
-- answers, and a longer align stage (8 epochs) made that reliable.
M.defaults = {batch_size = 16, warmup = 20, min_lr = 0.1, clip = 5.0, log_every = 20, wd = 0.0}

--- Applies a run's `holdout` option to a loaded dataset: 'k/n' holds out
-- fold k of n of the train split as the val split (Dataset:holdout); ''
-- or nil changes nothing. Returns the number of clips held out (nil when
-- off). Raises, naming the option, on a malformed value or an empty fold.
function M.apply_holdout(ds, spec)
  if spec == nil or spec == "" then return nil end
  local k, n = parse_holdout(spec)
  if not k then error(("experiment: holdout=%s: %s"):format(tostring(spec), HOLDOUT_FORM), 0) end
  local moved, err = ds:holdout(k, n)
  if not moved then error(("experiment: holdout=%s: %s"):format(tostring(spec), err), 0) end
  return moved
end

local function split_list(s)
  local out = {}
  for w in s:gmatch("[^,%s]+") do out[#out + 1] = w end
  return out
end

-- Fixed hash of a string to [0, 1): the per-example modality choice.
local function unit_hash(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h / 4294967296.0
end

--- Repeats of each QA answer of clips under qa_balance = x: per category,
-- round((n_max / n_a)^x) capped at cap, where n_a counts the answer's
-- examples and n_max the category's most frequent answer's. Before rounding
-- and the cap, an answer's share of the examples is ~ n_a^(1-x): Kang et
-- al., "Decoupling representation and classifier for long-tailed
-- recognition", ICLR 2020, sec. 3, with q = 1 - x (x = 1 class-balanced,
-- 0.5 square-root); where the cap binds, x = 1 is nearer square-root.
-- Fixed counts rather than random draws, so a resumed run sees the same
-- examples. A category with more distinct answers than half its examples
-- (free-form text, e.g. a MoVid file's open questions; also any category
-- of two examples with two answers) has no classes to balance: its answers
-- are used once. Returns {[category] = {[answer] = repeats}}.
function M.qa_repeats(clips, x, cap)
  local counts = {}
  for _, c in ipairs(clips) do
    for _, q in ipairs(c.qa) do
      local t = counts[q.category] or {}
      counts[q.category] = t
      t[q.answer] = (t[q.answer] or 0) + 1
    end
  end
  local reps = {}
  for cat, t in pairs(counts) do
    local most, total, distinct = 0, 0, 0
    for _, n in pairs(t) do most, total, distinct = math.max(most, n), total + n, distinct + 1 end
    reps[cat] = {}
    for a, n in pairs(t) do
      reps[cat][a] = 2 * distinct <= total and math.min(cap, math.floor((most / n) ^ x + 0.5)) or 1
    end
  end
  return reps
end

--- Training examples of a stage from clips: captions (align) or QA and
-- captions (instruct; each QA example repeated under opt.qa_balance).
function M.examples(clips, stage, opt)
  local out = {}
  local reps = stage == "instruct" and (opt.qa_balance or 0) > 0
    and M.qa_repeats(clips, opt.qa_balance, opt.qa_balance_cap) or nil
  for _, c in ipairs(clips) do
    local ncap = math.min(stage == "instruct" and opt.instruct_captions or opt.captions_per_clip, #c.captions)
    for k = 1, ncap do
      out[#out + 1] = {clip = c, question = mllm.CAPTION_PROMPTS[(k - 1) % #mllm.CAPTION_PROMPTS + 1],
                       answer = c.captions[k], category = "caption"}
    end
    if stage == "instruct" then
      for _, q in ipairs(c.qa) do
        for _ = 1, reps and reps[q.category][q.answer] or 1 do
          out[#out + 1] = {clip = c, question = q.question, answer = q.answer, category = q.category}
        end
      end
    end
  end
  return out
end

-- Unpaired / mixed joint training: which modalities an example sees, fixed
-- by two independent hashes of it (so a resume assigns them identically;
-- the copies qa_balance makes of an example see the same modalities).
local function assign_modalities(examples, modalities, opt)
  if #modalities < 2 or opt.pairing == "paired" then return end
  local paired = opt.pairing == "mixed" and opt.paired_ratio or 0
  for _, ex in ipairs(examples) do
    local key = ex.clip.id .. "|" .. ex.question .. "|" .. ex.answer
    if unit_hash("pair|" .. key) >= paired then
      ex.modalities = unit_hash(key) < opt.video_ratio and "video" or "motion"
    end
  end
end

-- The batch with each example's clip replaced by its left/right mirror with
-- probability p (one rng:uniform() per example), question and answer
-- swapped as the clip's own text is (vimo.augment.mirror_clip).
local function mirror_examples(batch, rng, p, ds)
  local out = {}
  for i, ex in ipairs(batch) do
    if rng:uniform() < p then
      out[i] = {clip = augment.mirror_clip(ex.clip, ds.mean, ds.std), question = augment.mirror_text(ex.question),
                answer = augment.mirror_text(ex.answer), category = ex.category, modalities = ex.modalities}
    else
      out[i] = ex
    end
  end
  return out
end

--- The dataset as the trainer sees it: batches are lists of examples.
local function as_dataset(examples)
  return {size = #examples, batch = function(idx)
    local b = {}
    for i, k in ipairs(idx) do b[i] = examples[k] end
    return b
  end}
end

-- Loss of a batch: one forward per group of examples (the modality set in
-- unpaired mode; captions apart from QA when by_kind), each group's mean
-- answer-token loss weighted by its share of the examples. by_kind keeps the
-- ~15-token captions from outweighing the 1-2-token QA answers ~6 to 1 in a
-- per-token mean; short QA-only sequences also pad less.
local function batch_loss(models, ctx, batch, rng, by_kind)
  local groups, order = {}, {}
  for _, ex in ipairs(batch) do
    local key = ex.modalities or "all"
    if by_kind then key = key .. (ex.category == "caption" and "|caption" or "|qa") end
    if not groups[key] then groups[key] = {}; order[#order + 1] = key end
    table.insert(groups[key], ex)
  end
  local function model_of(key) return models[key:match("^[^|]+")] end
  if #order == 1 then return model_of(order[1]):loss(ctx, batch, rng, true) end
  local total, ntok, nb = nil, 0, #batch
  for _, key in ipairs(order) do
    local l, n = model_of(key):loss(ctx, groups[key], rng, true)
    local w = vimo.scale(ctx, l, #groups[key] / nb)
    total = total and vimo.add(ctx, total, w) or w
    ntok = ntok + n
  end
  return total, ntok
end

-- Each clip's question and answer of QA category cat as text keyed by the
-- answer; clips without one get a caption keyed by the clip.
local function category_texts(batch, cat)
  local texts, keys = {}, {}
  for i, c in ipairs(batch) do
    for _, q in ipairs(c.qa or {}) do
      if q.category == cat then texts[i], keys[i] = q.question .. " " .. q.answer, cat .. "=" .. q.answer; break end
    end
    if not texts[i] then texts[i], keys[i] = c.captions[1], "clip=" .. c.id end
  end
  return texts, keys
end

-- Stage 0 attribute views of a batch, from the QA categories in cats: each
-- clip's question and answer of a category as text keyed by the answer;
-- clips without one fall back to a caption keyed by the clip. A category
-- with its own attribute head in modality m (attribute_tokens) is a view at
-- every step, through that head; of the others, which share the caption
-- head, one drawn per step. nil if no cats.
function M.qa_views(batch, rng, cats, model, m)
  if #cats == 0 then return nil end
  local headed, shared = {}, {}
  for _, cat in ipairs(cats) do
    local list = model:attribute_head(m, cat) and headed or shared
    list[#list + 1] = cat
  end
  -- One rng:below call per step, as before heads existed (below(#cats) when
  -- every category has a head), so those runs keep their random stream.
  local pick = rng:below(#shared > 0 and #shared or #cats)
  if #shared > 0 then headed[#headed + 1] = shared[pick + 1] end
  local views = {}
  for k, cat in ipairs(headed) do
    local head = model:attribute_head(m, cat)
    local texts, keys = category_texts(batch, cat)
    views[k] = {texts = texts, keys = keys, heads = head and {[m] = head} or nil}
  end
  return views
end

-- Stage 0 view of the motion statistics token (stats_token): the clips'
-- captions (what = "caption") or answers of one QA category, against the
-- token the statistics head makes of the window moments.
local function stats_view(model, ctx, batch, moments, what, caps, groups)
  local z = {motion = model:stats_embedding(ctx, moments)}
  if what == "caption" then return {texts = caps, keys = groups, z = z} end
  local texts, keys = category_texts(batch, what)
  return {texts = texts, keys = keys, z = z}
end

-- stats_token names a QA category: some training clip must have it, or
-- every clip would fall back to its caption keyed by the clip (a typo would
-- train silently against the wrong text).
function M.check_stats_token(what, clips)
  if what == "caption" then return end
  local seen = {}
  for _, c in ipairs(clips) do
    for _, q in ipairs(c.qa or {}) do
      if q.category == what then return end
      seen[q.category] = true
    end
  end
  local cats = {}
  for k in pairs(seen) do cats[#cats + 1] = k end
  table.sort(cats)
  error(("experiment: stats_token=%s: no training clip has a question of that category (use caption or one of: %s)")
        :format(what, table.concat(cats, ", ")), 0)
end

-- A view of the model restricted to one modality (shares every instance).
local function restricted(model, m)
  return setmetatable({modalities = {m}}, {__index = model})
end

--- QA accuracy (per category, with the majority baseline) and caption
-- metrics of the model on clips; returns a results table and predictions.
-- The table: qa (all clips), qa_by_source (the same per clip source) and
-- captions.
function M.evaluate(model, ds, clips, q_limit, mirror)
  local ctx = vimo.ctx()
  ctx:grad(false)
  model:train(false)
  local train_answers = ds:train_answers()
  local function new_eval()
    local e = vimo.qa_eval()
    for cat, answers in pairs(train_answers) do
      for _, a in ipairs(answers) do e:add_train(cat, a) end
    end
    return e
  end
  -- One evaluator for all clips and one per data source (bandai1, cmu, ...):
  -- the same matching rule and train-majority baseline, split by where the
  -- clip comes from (an unseen take vs an unseen content x style, say).
  local ev, by_source = new_eval(), {}
  local preds, nq = {}, 0
  local cands, refs = {}, {}
  for _, c in ipairs(clips) do
    for _, q in ipairs(c.qa) do
      if q_limit and nq >= q_limit then break end
      ctx:reset()
      local p = mirror and model:answer_mirror(ctx, c, q.question, 16, ds.mean, ds.std)
                or model:answer(ctx, c, q.question, 16)
      ev:add(q.category, p, q.answer)
      if c.source then
        by_source[c.source] = by_source[c.source] or new_eval()
        by_source[c.source]:add(q.category, p, q.answer)
      end
      preds[#preds + 1] = {id = c.id, source = c.source, category = q.category, question = q.question, answer = q.answer,
                           predicted = p}
      nq = nq + 1
    end
    if not q_limit then
      ctx:reset()
      cands[#cands + 1] = model:answer(ctx, c, mllm.CAPTION_PROMPT, 32)
      refs[#refs + 1] = c.captions
      preds[#preds + 1] = {id = c.id, source = c.source, category = "caption", question = mllm.CAPTION_PROMPT,
                           answer = c.captions[1], predicted = cands[#cands]}
    end
  end
  ctx:close()
  local r = {qa = ev:results()}
  for src, e in pairs(by_source) do
    r.qa_by_source = r.qa_by_source or {}
    r.qa_by_source[src] = e:results()
  end
  if #cands > 0 then r.captions = vimo.caption_scores(cands, refs) end
  return r, preds
end

-- Options that cannot change what stage 0 of a modality learns: later
-- stages, evaluation, bookkeeping, and the other modality's settings. Every
-- other option must match for contrast_from to take a run's stage 0.
local STAGE0_FREE = {}
for _, k in ipairs({"run", "results_dir", "stages", "help", "modalities", "pairing", "video_ratio", "paired_ratio",
                    "align_epochs", "align_lr", "instruct_epochs", "instruct_lr", "enc_lr_scale", "frozen_encoders",
                    "captions_per_clip", "instruct_captions", "qa_balance", "qa_balance_cap", "loss_by_kind",
                    "val_questions", "eval_limit", "eval_val", "eval_train", "threads", "ckpt_dir", "save_every",
                    "resume", "stop_at", "log_every", "contrast_from", "projector", "lora_rank", "lora_alpha",
                    "lora_dropout", "lora_targets", "proj_norm", "max_answer", "answer_end", "varlen", "mirror",
                    "eval_mirror", "instruct_swa"}) do
  STAGE0_FREE[k] = true
end
local STAGE0_FREE_BY = {
  motion = {video_encoder = true, contrast_video_epochs = true, video_size = true, frames = true},
  video = {motion_encoder = true, motion_frames = true, motion_pad = true, stats_frames = true,
           contrast_epochs = true, contrast_tempo = true, contrast_scale = true, contrast_mirror = true,
           stats_token = true, pretrain_epochs = true},
}

local function read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local ok, t = pcall(vimo.json_decode, f:read("a"))
  f:close()
  return ok and type(t) == "table" and t or nil
end

-- Stage-0 epochs of modality m in a run's config (0: it did not train m).
local function stage0_epochs(cfg, m)
  return tonumber(m == "video" and cfg.contrast_video_epochs or cfg.contrast_epochs) or 0
end

-- The run folder that trained stage 0 of modality m for contrast_from=list:
-- the first folder of the list (comma-separated) that has m with stage-0
-- epochs > 0, or the folder that one took it from (its results.json names
-- it), followed to the end; nil when none of them trained m.
local function stage0_source(list, m)
  local src
  for item in tostring(list):gmatch("[^,]+") do
    local dir = item:match("^%s*(.-)%s*$")
    local cfg = read_json(dir .. "/config.json")
    if not cfg then error(("experiment: contrast_from: %s: not a run folder (no readable config.json)"):format(dir), 0) end
    local has = false
    for _, w in ipairs(split_list(tostring(cfg.modalities or ""))) do has = has or w == m end
    if has and stage0_epochs(cfg, m) > 0 then
      src = dir
      break
    end
  end
  for _ = 1, 16 do
    if not src then return nil end
    local res = read_json(src .. "/results.json")
    local from = res and res.contrast and res.contrast[m] and res.contrast[m].from
    if not from then return src end
    src = from
  end
  error(("experiment: contrast_from=%s: more than 16 runs took stage 0 of %s from one another"):format(list, m), 0)
end

-- Options added to stage 0 after run folders were made with it, each with
-- the value that does what those runs did: a stage 0 saved before an
-- option existed stands in for a run that sets it so (contrast_from).
M.STAGE0_BEFORE = {stats_token = "", contrast_mirror = 0, motion_pad = "edge", stats_frames = "window"}

-- Checks a checkpoint's saved config and epoch against this run's trainer
-- config o for that stage (free: keys that may differ); raises via fail.
local function check_stage_ckpt(ck, o, free, what, fail)
  local diff = trainer.config_diff(ck:config(), o, free, M.STAGE0_BEFORE)
  if #diff > 0 then fail(("its %s options differ from this run's: %s"):format(what, table.concat(diff, ", "))) end
  local epoch = math.tointeger(tonumber(ck:meta()["trainer.epoch"]))
  if epoch ~= o.epochs then
    fail(("%s is not finished there (epoch %s of %d)"):format(what, tostring(epoch), o.epochs))
  end
end

--- A stage's trainer config: the run's options with its epochs, peak
-- learning rate and checkpoint folder.
function M.stage_opt(opt, epochs, lr, ckpt_dir)
  local o = {}
  for k, v in pairs(opt) do o[k] = v end
  o.epochs, o.lr, o.ckpt_dir = epochs, lr, ckpt_dir
  return o
end

--- Takes stage 0 of modality m (the k-th of this run's modalities) for
-- contrast_from = src (folders, comma-separated) into model: the encoder
-- and the attribute and statistics heads from <run>/contrast/<m>/last.ckpt,
-- where <run> is the first folder of src that trained m, or the run that
-- folder took its stage 0 from. o is the stage-0 trainer config this
-- run would use (opt: its options); <run>'s must equal it but for the
-- options that cannot change stage 0 (STAGE0_FREE); with pretrain_epochs >
-- 0, the motion autoencoder stage there must equal this run's too (its
-- align_lr, batch_size and wd count); and <run> must have seeded m as its
-- k-th modality (encoders are seeded by position). The parameters are then
-- those this run would train, bit for bit. Returns <run>'s stage-0 results
-- of m (losses for the plots) with from = <run>, or nil when no folder of
-- src trained modality m (this run trains it). Raises, naming the file and what
-- differs, when that stage 0 cannot stand in for this run's.
function M.stage0_from(src, model, m, k, o, opt)
  local run = stage0_source(src, m)
  if not run then return nil end
  local path = ("%s/contrast/%s/last.ckpt"):format(run, m)
  local ck, err = vimo.load_checkpoint(path)
  if not ck then error(("experiment: contrast_from: %s"):format(err), 0) end
  local function fail(msg)
    ck:close()
    error(("experiment: contrast_from: %s: %s"):format(path, msg), 0)
  end
  local pos
  for i, w in ipairs(split_list(ck:config().modalities or "")) do if w == m then pos = i end end
  if pos ~= k then
    fail(("%s was that run's modality %s and is this run's %d (encoders are seeded by position)"):format(m,
      tostring(pos), k))
  end
  local free = setmetatable({}, {__index = function(_, key) return STAGE0_FREE[key] or STAGE0_FREE_BY[m][key] end})
  check_stage_ckpt(ck, o, free, "stage-0", fail)
  if m == "motion" and opt.pretrain_epochs > 0 then
    local ppath = run .. "/pretrain/last.ckpt"
    local pk, perr = vimo.load_checkpoint(ppath)
    if not pk then fail("pretrain_epochs > 0 but that run has no finished pretrain stage: " .. perr) end
    local po = M.stage_opt(opt, opt.pretrain_epochs, opt.align_lr, "")
    local pfree = setmetatable({align_lr = false}, {__index = free})
    local ok, msg = pcall(check_stage_ckpt, pk, po, pfree, "pretrain", function(why) error(why, 0) end)
    pk:close()
    if not ok then fail(ppath .. ": " .. msg) end
  end
  local params = nn.plugin_module(model.enc[m], m .. "_encoder").params
  for _, p in ipairs(model:attribute_module(m).params) do params[#params + 1] = p end
  local ok, rerr = pcall(ck.restore, ck, {params = params})
  if not ok then fail(tostring(rerr)) end
  ck:close()
  local res = read_json(run .. "/results.json")
  local out = res and res.contrast and res.contrast[m] or {}
  out.from = run
  return out
end

local function write_json(path, t)
  local f = assert(io.open(path, "wb"))
  f:write(vimo.json_encode(t, true), "\n")
  f:close()
end

--- Runs one experiment: def = {name =, modalities = {...}} (composition)
-- with the overrides (vimo.args). Returns the runner's results.
function M.main(def, overrides)
  local state = {}
  local exp = {
    name = def.name,
    help = def.help or ("MotionLLM-style training on " .. table.concat(def.modalities, " + ")),
    options = M.options,
    components = {trainer.options, mllm.options},
    defaults = def.defaults or {},
  }
  for k, v in pairs(M.defaults) do
    if exp.defaults[k] == nil then exp.defaults[k] = v end
  end
  exp.defaults.modalities = table.concat(def.modalities, ",")

  local function stage_opt(env, epochs, lr) return M.stage_opt(env.opt, epochs, lr, env.stage_dir) end

  local function train_stage(env, stage, epochs, lr)
    local opt, model = env.opt, state.model
    if epochs <= 0 then return {skipped = true} end
    if stage == "instruct" then model:add_lora(opt.seed + 77) end
    local frozen = {}
    for _, m in ipairs(split_list(opt.frozen_encoders)) do frozen[m] = true end
    local groups, params = model:groups(stage, lr, opt.enc_lr_scale, frozen)
    local examples = M.examples(state.train, stage, opt)
    assign_modalities(examples, model.modalities, opt)
    local models = {all = model}
    for _, m in ipairs(model.modalities) do models[m] = restricted(model, m) end
    local o = stage_opt(env, epochs, lr)
    local eval_fn
    if stage == "instruct" and opt.val_questions > 0 and #state.val > 0 then
      eval_fn = function()
        local r = M.evaluate(model, state.ds, state.val, opt.val_questions)
        model:train(true)
        return {val_acc = ("%.3f"):format(r.qa.overall.accuracy)}
      end
    end
    local res = trainer.run{
      opt = o, label = def.name .. " " .. stage, config = o, swa = stage == "instruct" and opt.instruct_swa or 0,
      model = {params = params, train = function(on) model:train(on) end,
               forward = function(ctx, batch, rng)
                 if opt.mirror > 0 then batch = mirror_examples(batch, rng, opt.mirror, state.ds) end
                 return batch_loss(models, ctx, batch, rng, stage == "instruct" and opt.loss_by_kind)
               end},
      groups = groups, data = as_dataset(examples), eval = eval_fn,
    }
    local first, last = res.losses[1], res.losses[#res.losses]
    return {examples = #examples, steps = res.step, losses = res.losses,
            first_loss = first and first.loss, final_loss = last and last.loss, evals = res.evals,
            resumed_from = res.resumed_from, swa = res.swa}
  end

  exp.stages = {
    {name = "data", run = function(env)
      local opt = env.opt
      local mods = split_list(opt.modalities)
      local what = opt.mirror > 0 and ("mirror=" .. opt.mirror) or opt.eval_mirror and "eval_mirror=true"
      local bad = what and mllm.mirror_refusal(mods, what)
      if bad then error("experiment: " .. bad, 0) end
      vimo.threads(opt.threads)
      local ds = assert(data.load{S = opt.video_size, F = opt.frames, limit = opt.data_limit > 0 and opt.data_limit or nil,
                                  quiet = false})
      state.ds = ds
      local held = M.apply_holdout(ds, opt.holdout)
      state.train, state.val, state.test = ds:split("train"), ds:split("val"), ds:split("test")
      state.model = mllm.new(opt, mods, opt.seed)
      return {train = #state.train, val = #state.val, test = #state.test, modalities = mods,
              holdout = held and opt.holdout, val_set_aside = held and #ds:split("val_set_aside")}
    end},
    {name = "pretrain", run = function(env)
      local opt = env.opt
      if opt.pretrain_epochs <= 0 or not state.model.enc.motion then return {skipped = true} end
      -- The contrast stage takes motion's whole stage 0, this included, from there (and checks it).
      local src = opt.contrast_from ~= "" and opt.contrast_epochs > 0 and stage0_source(opt.contrast_from, "motion")
      if src then return {skipped = true, reason = "stage 0 from " .. src} end
      local enc = state.model.enc.motion
      if not enc:has("pretrain_loss") then return {skipped = true, reason = "encoder has no pretrain_loss"} end
      local params = nn.plugin_module(enc, "motion_encoder").params
      local L = opt.motion_frames
      local o = stage_opt(env, opt.pretrain_epochs, opt.align_lr)
      local res = trainer.run{
        opt = o, label = def.name .. " pretrain", config = o,
        model = {params = params, train = function(on) enc:train(on) end,
                 forward = function(ctx, batch, rng)
                   local wins = {}
                   for i, c in ipairs(batch) do
                     local T = c.motion:shape()[1]
                     wins[i] = vimo.window(ctx, c.motion, T > L and rng:below(T - L + 1) or 0, L, opt.motion_pad)
                   end
                   return enc:pretrain_loss(ctx, state.model:on_device(ctx, vimo.stack(ctx, wins)), #batch, rng),
                          #batch * L
                 end},
        data = as_dataset(state.train),
      }
      return {steps = res.step, final_loss = res.losses[#res.losses] and res.losses[#res.losses].loss}
    end},
    {name = "contrast", run = function(env)
      local qa_cats = {}
      for w in env.opt.contrast_qa:gmatch("[^,%s]+") do qa_cats[#qa_cats + 1] = w end
      -- One InfoNCE run per modality, each with its own caption encoder and
      -- epochs (a video step costs ~10 motion steps), checkpointed apart.
      local opt, model, out = env.opt, state.model, {}
      local contrastive = require "vimo.contrastive"
      for k, m in ipairs(model.modalities) do
        local epochs = m == "video" and opt.contrast_video_epochs or opt.contrast_epochs
        -- An attribute head no stage-0 view trains stays a random projection.
        for _, a in ipairs(model.attr[m]) do
          local in_qa = false
          for _, c in ipairs(qa_cats) do in_qa = in_qa or c == a.cat end
          if epochs <= 0 or not in_qa then
            env.note(("contrast: the %s attribute token of %s is not trained in stage 0 (%s)"):format(a.cat, m,
              epochs <= 0 and "stage 0 skipped" or "not in contrast_qa"))
          end
        end
        if m == "motion" and model.stats_head then
          if epochs <= 0 then
            env.note("contrast: the motion statistics token is not trained in stage 0 (stage 0 skipped)")
          else
            M.check_stats_token(opt.stats_token, state.train) -- before any checkpoint folder is made
          end
        end
        local o = stage_opt(env, epochs, opt.contrast_lr)
        o.batch_size, o.wd, o.ckpt_dir = opt.contrast_batch, opt.proj_wd, env.stage_dir .. "/" .. m
        local reused = epochs > 0 and opt.contrast_from ~= "" and M.stage0_from(opt.contrast_from, model, m, k, o, opt)
        if reused then
          env.note(("contrast: stage 0 of %s taken from %s"):format(m, reused.from))
          out[m] = reused
        elseif epochs <= 0 then
          out[m] = {skipped = true}
        else
          if opt.contrast_from ~= "" then
            env.note(("contrast: no folder of contrast_from=%s trained %s: training it here"):format(
              opt.contrast_from, m))
          end
          -- The caption space has the encoder's width, as the attribute heads do.
          local head = contrastive.new{modalities = {m}, enc_dims = {[m] = model.enc[m]:out_dim()},
                                       tokenizer = model.tok, dim = model.enc[m]:out_dim(), temp = opt.contrast_temp,
                                       device = model.device,
                                       rng = vimo.rng(opt.seed + 91 + k)}
          model.enc[m]:unfreeze()
          local params = nn.plugin_module(model.enc[m], m .. "_encoder").params
          for _, p in ipairs(model:attribute_module(m).params) do
            p.tensor:requires_grad(true)
            params[#params + 1] = p
          end
          for _, p in ipairs(head.params) do params[#params + 1] = p end
          assert(vimo.mkdir(o.ckpt_dir))
          local view, match = restricted(model, m), {}
          if m == "motion" and (opt.contrast_tempo > 0 or opt.contrast_scale > 0) then
            model.augment = augment.new{mean = state.ds.mean, std = state.ds.std,
                                        tempo = opt.contrast_tempo, scale = opt.contrast_scale,
                                        pad = opt.motion_pad}
          end
          local res = trainer.run{
            opt = o, label = def.name .. " contrast " .. m, config = o,
            model = {params = params, train = function(on) model:train(on) end,
                     forward = function(ctx, batch, rng)
                       if m == "motion" and opt.contrast_mirror > 0 then
                         batch = augment.mirror_batch(batch, rng, opt.contrast_mirror, state.ds.mean, state.ds.std)
                       end
                       local caps, groups = {}, opt.contrast_filter and {} or nil
                       for i, c in ipairs(batch) do
                         caps[i] = c.captions[rng:below(#c.captions) + 1]
                         if groups then groups[i] = c.group or c.id end
                       end
                       local tokens, moments = view:encoder_tokens(ctx, batch, rng, true, true)
                       local views = M.qa_views(batch, rng, qa_cats, model, m)
                       if moments[m] then
                         views = views or {}
                         views[#views + 1] = stats_view(model, ctx, batch, moments[m], opt.stats_token, caps, groups)
                       end
                       local l, n, acc = head:loss(ctx, tokens, caps, groups, views)
                       match[#match + 1] = acc
                       return l, n
                     end},
            data = as_dataset(state.train),
          }
          model.augment = nil
          local last = res.losses[#res.losses]
          out[m] = {steps = res.step, final_loss = last and last.loss, losses = res.losses,
                    final_match = match[#match], resumed_from = res.resumed_from}
        end
      end
      return out
    end},
    {name = "align", run = function(env)
      return train_stage(env, "align", env.opt.align_epochs, env.opt.align_lr)
    end},
    {name = "instruct", run = function(env)
      local r = train_stage(env, "instruct", env.opt.instruct_epochs, env.opt.instruct_lr)
      -- Everything `vimo describe` needs: trained parameters and the
      -- feature normalisation of the training data.
      local params = state.model:all_params()
      params[#params + 1] = {name = "data.motion_mean", tensor = state.ds.mean}
      params[#params + 1] = {name = "data.motion_std", tensor = state.ds.std}
      local ok, err = vimo.save_checkpoint(env.dir .. "/model.ckpt", {
        params = params, step = r.steps or 0, config = env.opt,
        meta = {["vimo.version"] = vimo.version(), ["experiment"] = def.name}})
      if not ok then error("experiment: " .. err) end
      return r
    end},
    {name = "eval", run = function(env)
      local test = state.test
      if env.opt.eval_limit > 0 and #test > env.opt.eval_limit then
        test = table.move(test, 1, env.opt.eval_limit, 1, {})
      end
      local mirror = env.opt.eval_mirror
      local r, preds = M.evaluate(state.model, state.ds, test, nil, mirror)
      write_json(env.stage_dir .. "/predictions.json", preds)
      if env.opt.eval_val and #state.val > 0 then
        local rv, pv = M.evaluate(state.model, state.ds, state.val, math.huge, mirror)
        r.val = {qa = rv.qa, qa_by_source = rv.qa_by_source}
        write_json(env.stage_dir .. "/predictions_val.json", pv)
      end
      if env.opt.eval_train > 0 then
        local tr, step = {}, math.max(1, #state.train // env.opt.eval_train)
        for i = 1, #state.train, step do
          if #tr < env.opt.eval_train then tr[#tr + 1] = state.train[i] end
        end
        local rt = M.evaluate(state.model, state.ds, tr, math.huge)
        r.train_qa = rt.qa
      end
      return r
    end},
  }
  local results = runner.main(exp, overrides)
  if state.model then state.model:close() end
  return results
end

return M
