--[[
tests/lua/test_report.lua - vimo.report, the ablation's tables, on
hand-made results: every cell of the QA table (accuracy in %, n, majority
baseline), the per-source table and its terminal summary, the Markdown,
the val-split table, and the mean over seeds (per category, overall, per
source, val, captions; a
seed without results, or without per-source results, is skipped, not
counted as zero, wherever it comes in the list).
]]

local report = require "vimo.report"
local check = require "check"

-- QA results as vimo_qa_eval reports them (accuracy = correct / n).
local function qa(cats, overall)
  local out = {categories = {}, overall = overall}
  for i, c in ipairs(cats) do
    out.categories[i] = {category = c[1], n = c[2], correct = c[3], accuracy = c[3] / c[2], majority = c[4],
                         majority_accuracy = c[5]}
  end
  return out
end

local function cat_of(q, name)
  for _, c in ipairs(q.categories) do if c.category == name then return c end end
end

-- Run A: action 9/10, style 3/4, overall 12/14; source s1: action 5/6, s2: action 4/4 + style 3/4.
local a = {eval = {
  qa = qa({{"style", 4, 3, "happy", 0.25}, {"action", 10, 9, "walk", 0.3}}, {n = 14, correct = 12, accuracy = 12 / 14}),
  qa_by_source = {
    s2 = qa({{"action", 4, 4, "walk", 0.5}, {"style", 4, 3, "happy", 0.25}}, {n = 8, correct = 7, accuracy = 7 / 8}),
    s1 = qa({{"action", 6, 5, "walk", 1 / 6}}, {n = 6, correct = 5, accuracy = 5 / 6}),
  },
  captions = {n = 3, bleu = {0.5, 0.4, 0.3, 0.2}, rouge_l = 0.45, cider_d = 0.9},
}}
-- Run B: action 5/10, style 1/4, overall 6/14; s1 1/6, s2 action 4/4 style 1/4.
local b = {eval = {
  qa = qa({{"action", 10, 5, "walk", 0.3}, {"style", 4, 1, "happy", 0.25}}, {n = 14, correct = 6, accuracy = 6 / 14}),
  qa_by_source = {
    s1 = qa({{"action", 6, 1, "walk", 1 / 6}}, {n = 6, correct = 1, accuracy = 1 / 6}),
    s2 = qa({{"action", 4, 4, "walk", 0.5}, {"style", 4, 1, "happy", 0.25}}, {n = 8, correct = 5, accuracy = 5 / 8}),
  },
  captions = {n = 3, bleu = {0.3, 0.2, 0.1, 0.0}, rouge_l = 0.25, cider_d = 0.5},
}}

local t = report.table({{name = "A", results = a}, {name = "B", results = b}})
-- categories sorted, then overall; cells: category, n, A, B, majority
local want = {
  {"action", "10", "90.0", "50.0", "30.0"},
  {"style", "4", "75.0", "25.0", "25.0"},
  {"overall", "14", "85.7", "42.9", "-"},
}
check.eq(table.concat(t.header, ","), "category,n,A,B,majority", "QA header")
check.eq(#t.rows, #want, "one row per category and overall")
for i, row in ipairs(want) do check.eq(table.concat(t.rows[i], ","), table.concat(row, ","), "QA row " .. i) end
check.eq(table.concat(t.captions[1], ","), "A,0.500,0.200,0.450,0.900", "caption row A")

-- per source: s1 (action, overall), then s2 (action, style, overall)
local bs = check.ok(t.by_source, "a per-source table when the runs have qa_by_source")
check.eq(table.concat(bs.header, ","), "source,category,n,A,B,majority", "per-source header")
local want_src = {
  {"s1", "action", "6", "83.3", "16.7", "16.7"},
  {"s1", "overall", "6", "83.3", "16.7", "-"},
  {"s2", "action", "4", "100.0", "100.0", "50.0"},
  {"s2", "style", "4", "75.0", "25.0", "25.0"},
  {"s2", "overall", "8", "87.5", "62.5", "-"},
}
check.eq(#bs.rows, #want_src, "per-source rows")
for i, row in ipairs(want_src) do check.eq(table.concat(bs.rows[i], ","), table.concat(row, ","), "source row " .. i) end

-- the terminal shows each source's overall row; Markdown every row
local text = report.text(t)
check.ok(text:find("by data source", 1, true), "text: the per-source summary")
check.ok(text:find("s2%s+8%s+87%.5%s+62%.5"), "text: s2's overall row:\n" .. text)
check.ok(not text:find("s2%s+style"), "text: no per-category source rows")
local md = report.markdown(t)
check.ok(md:find("| s2 | style | 4 | 75.0 | 25.0 | 25.0 |", 1, true), "markdown: a per-source category row:\n" .. md)

-- the val split: the same rows from eval.val.qa (a run without val results
-- gets "-"); the terminal shows action, style and overall, Markdown all
local av = {eval = {qa = a.eval.qa,
  val = {qa = qa({{"action", 5, 4, "walk", 0.4}, {"speed", 5, 2, "slow", 0.6}, {"style", 4, 1, "happy", 0.25}},
                 {n = 14, correct = 7, accuracy = 7 / 14}),
         qa_by_source = {s1 = qa({{"action", 5, 4, "walk", 0.4}}, {n = 5, correct = 4, accuracy = 0.8})}}}}
local tv = report.table({{name = "A", results = av}, {name = "B", results = b}})
local want_val = {
  {"action", "5", "80.0", "-", "40.0"},
  {"speed", "5", "40.0", "-", "60.0"},
  {"style", "4", "25.0", "-", "25.0"},
  {"overall", "14", "50.0", "-", "-"},
}
check.ok(tv.val, "a val table when a run has eval.val")
check.eq(#tv.val.rows, #want_val, "val rows")
for i, row in ipairs(want_val) do check.eq(table.concat(tv.val.rows[i], ","), table.concat(row, ","), "val row " .. i) end
local tvt = report.text(tv)
check.ok(tvt:find("val split", 1, true) and tvt:find("style%s+4%s+25%.0%s+%-%s+25%.0"), "text: val style row:\n" .. tvt)
check.ok(not tvt:find("speed%s+5%s+40%.0"), "text: val speed row left to results.md")
check.ok(report.markdown(tv):find("| speed | 5 | 40.0 | - | 60.0 |", 1, true), "markdown: every val row")
-- a cross-validation run's val split is a held-out fold, and the headings say so
check.eq(report.holdout_label(""), nil, "no label when holdout is off ('')")
check.eq(report.holdout_label(nil), nil, "no label when holdout is off (nil)")
tv.val_label = report.holdout_label("2/4")
check.ok(report.text(tv):find("on the held-out fold 2/4 of the train split (choose", 1, true) and
         not report.text(tv):find("val split", 1, true), "text: the held-out fold named, not the val split")
check.ok(report.markdown(tv):find("### QA accuracy (%), held-out fold 2/4 of the train split", 1, true),
         "markdown: the held-out fold named")
check.eq(t.val, nil, "no val table without eval.val")
local mv = report.mean_results({av, b, {eval = {qa = b.eval.qa, val = {qa = qa({{"action", 5, 2, "walk", 0.4}},
  {n = 5, correct = 2, accuracy = 0.4})}}}})
check.near(cat_of(mv.eval.val.qa, "action").accuracy, (0.8 + 0.4) / 2, 1e-12, "mean val action over the seeds with val")
check.near(mv.eval.val.qa.overall.accuracy, (0.5 + 0.4) / 2, 1e-12, "mean val overall")
check.near(mv.eval.val.qa_by_source.s1.overall.accuracy, 0.8, 1e-12, "val per source: the one seed that has it")

-- no qa_by_source: no per-source table
local plain = report.table({{name = "A", results = {eval = {qa = a.eval.qa}}}})
check.eq(plain.by_source, nil, "no per-source table without qa_by_source")
check.ok(text:find("CIDEr-D", 1, true) and text:find("on the test split", 1, true), "text: captions, test split")
plain.split = "val"
check.ok(not report.text(plain):find("CIDEr-D", 1, true), "text: no caption table without caption results")
check.ok(report.text(plain):find("on the val split", 1, true), "text: the split named")
plain.split_label = report.holdout_label("1/3")
check.ok(report.text(plain):find("on the held-out fold 1/3 of the train split, majority", 1, true),
         "text: a split label replaces the split's name")
check.ok(not report.text(plain):find("by data source", 1, true), "and none printed")

-- mean over seeds: A and B as two seeds of one experiment, plus a seed
-- that has no results (skipped)
local m = report.mean_results({a, b, {}})
check.near(cat_of(m.eval.qa, "action").accuracy, (0.9 + 0.5) / 2, 1e-12, "mean action accuracy")
check.near(cat_of(m.eval.qa, "style").accuracy, (0.75 + 0.25) / 2, 1e-12, "mean style accuracy")
check.near(m.eval.qa.overall.accuracy, (12 / 14 + 6 / 14) / 2, 1e-12, "mean overall accuracy")
check.eq(cat_of(m.eval.qa, "action").n, 10, "n kept")
check.near(cat_of(m.eval.qa, "action").majority_accuracy, 0.3, 0, "majority baseline kept")
check.near(m.eval.qa_by_source.s1.overall.accuracy, (5 / 6 + 1 / 6) / 2, 1e-12, "mean per-source accuracy (s1)")
check.near(cat_of(m.eval.qa_by_source.s2, "style").accuracy, (0.75 + 0.25) / 2, 1e-12, "mean per-source style (s2)")
check.near(m.eval.captions.cider_d, (0.9 + 0.5) / 2, 1e-12, "mean CIDEr-D")
check.near(m.eval.captions.bleu[4], (0.2 + 0.0) / 2, 1e-12, "mean BLEU-4 (a zero counts)")
check.eq(report.mean_results({a}), a, "one seed: its own results")
check.eq(m.eval.qa.overall.correct, nil, "no single seed's count beside the mean")

-- the seed without results first: the others still make the mean
local m2 = report.mean_results({{}, a, b})
check.ok(m2.eval and m2.eval.qa, "a seed without results first does not hide the others")
check.near(m2.eval.qa.overall.accuracy, (12 / 14 + 6 / 14) / 2, 1e-12, "mean overall with the empty seed first")
check.near(m2.eval.captions.cider_d, (0.9 + 0.5) / 2, 1e-12, "mean CIDEr-D with the empty seed first")
-- a seed from before qa_by_source (first) does not drop the per-source mean
local old = {eval = {qa = a.eval.qa, captions = a.eval.captions}}
local m3 = report.mean_results({old, b})
check.near(m3.eval.qa_by_source.s1.overall.accuracy, 1 / 6, 1e-12, "per-source mean over the seeds that have it")
check.done("report")
