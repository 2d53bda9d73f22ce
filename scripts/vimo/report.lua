--[[
vimo/report.lua - the ablation's results: side-by-side tables (terminal and
Markdown), results.json, and PNG plots drawn by gnuplot (a well-kept plotting
tool; vimo only writes its data and script files).

  local report = require "vimo.report"
  local t = report.table(runs)        -- runs: {{name =, results =}, ...}
  io.write(report.text(t))            -- the table for the terminal
  report.markdown(t)                  -- the same as Markdown
  report.plots(dir, runs, t)          -- loss curves + per-category accuracy
  report.shell_word(path)             -- one quoted word for sh (the ablation's commands)

t.split_label and t.val_label, when set, name the scored splits in the
headings (a cross-validation run's val split is a held-out training fold:
report.holdout_label).

Each run's results are its runner results (stages contrast/align/instruct with
`losses`, eval with `qa` = {overall, categories}, `captions` and, optionally,
`qa_by_source` and `val` = {qa}).
]]

local M = {}

local function pct(x) return x and ("%.1f"):format(100 * x) or "-" end

-- The categories of the QA results that get(r) returns for the runs,
-- sorted, then "overall".
local function categories(runs, get)
  local cats, seen = {}, {}
  for _, r in ipairs(runs) do
    local qa = get(r)
    for _, c in ipairs(qa and qa.categories or {}) do
      if not seen[c.category] then seen[c.category] = true; cats[#cats + 1] = c.category end
    end
  end
  table.sort(cats)
  cats[#cats + 1] = "overall"
  return cats
end

local function row_of(qa, cat)
  if not qa then return nil end
  if cat == "overall" then return qa.overall end
  for _, c in ipairs(qa.categories) do if c.category == cat then return c end end
end

-- One row per category of get(r)'s QA results: lead cells, n, each run's
-- accuracy, the majority baseline.
local function qa_rows(rows, runs, get, lead)
  for _, cat in ipairs(categories(runs, get)) do
    local row, n, maj = {table.unpack(lead)}, nil, nil
    row[#row + 1] = cat
    local cells = {}
    for _, r in ipairs(runs) do
      local c = row_of(get(r), cat)
      cells[#cells + 1] = c and pct(c.accuracy) or "-"
      n = n or (c and c.n)
      maj = maj or (c and c.majority_accuracy)
    end
    row[#row + 1] = tostring(n or 0)
    for _, v in ipairs(cells) do row[#row + 1] = v end
    row[#row + 1] = pct(maj)
    rows[#rows + 1] = row
  end
end

local function header_of(lead, runs)
  local h = {table.unpack(lead)}
  for _, r in ipairs(runs) do h[#h + 1] = r.name end
  h[#h + 1] = "majority"
  return h
end

--- The name of the split a run's `holdout=k/n` scores as val
-- (Dataset:holdout); nil when the option is off (nil or '').
function M.holdout_label(spec)
  if spec == nil or spec == "" then return nil end
  return ("held-out fold %s of the train split"):format(spec)
end

--- Rows: one per QA category (then overall), columns: each run's accuracy
-- and the majority-answer baseline; then the caption metrics; when a run
-- has val results (eval.val), t.val: the same rows on the val split; and,
-- when the runs' results have qa_by_source, t.by_source: the same rows per
-- data source (columns source, category, n, runs..., majority).
function M.table(runs)
  local t = {header = header_of({"category", "n"}, runs), rows = {}, captions = {}}
  qa_rows(t.rows, runs, function(r) return r.results.eval and r.results.eval.qa end, {})
  for _, r in ipairs(runs) do
    local c = r.results.eval and r.results.eval.captions
    t.has_captions = t.has_captions or c ~= nil
    t.captions[#t.captions + 1] = {r.name, c and ("%.3f"):format(c.bleu[1]) or "-", c and ("%.3f"):format(c.bleu[4]) or "-",
                                   c and ("%.3f"):format(c.rouge_l) or "-", c and ("%.3f"):format(c.cider_d) or "-"}
  end
  local function val_qa(r) return r.results.eval and r.results.eval.val and r.results.eval.val.qa end
  for _, r in ipairs(runs) do
    if val_qa(r) then
      t.val = {header = t.header, rows = {}}
      qa_rows(t.val.rows, runs, val_qa, {})
      break
    end
  end
  local sources, seen = {}, {}
  for _, r in ipairs(runs) do
    for src in pairs(r.results.eval and r.results.eval.qa_by_source or {}) do
      if not seen[src] then seen[src] = true; sources[#sources + 1] = src end
    end
  end
  table.sort(sources)
  if #sources > 0 then
    t.by_source = {header = header_of({"source", "category", "n"}, runs), rows = {}}
    for _, src in ipairs(sources) do
      qa_rows(t.by_source.rows, runs, function(r)
        local b = r.results.eval and r.results.eval.qa_by_source
        return b and b[src]
      end, {src})
    end
  end
  return t
end

local function widths(header, rows)
  local w = {}
  for i, h in ipairs(header) do w[i] = #h end
  for _, r in ipairs(rows) do
    for i, v in ipairs(r) do if #v > (w[i] or 0) then w[i] = #v end end
  end
  return w
end

local function fmt_rows(header, rows)
  local w = widths(header, rows)
  local out = {}
  local function line(r)
    local cells = {}
    for i, v in ipairs(r) do cells[i] = i == 1 and ("%-" .. w[i] .. "s"):format(v) or ("%" .. w[i] .. "s"):format(v) end
    out[#out + 1] = table.concat(cells, "  ")
  end
  line(header)
  local rule = {}
  for i = 1, #header do rule[i] = string.rep("-", w[i]) end
  out[#out + 1] = table.concat(rule, "  ")
  for _, r in ipairs(rows) do line(r) end
  return table.concat(out, "\n") .. "\n"
end

local CAP_HEADER = {"captions", "BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D"}

-- The by-source rows of the overall accuracy only (the terminal's summary).
local function source_overall(bs)
  local h = {table.unpack(bs.header)}
  table.remove(h, 2)
  local rows = {}
  for _, r in ipairs(bs.rows) do
    if r[2] == "overall" then
      local row = {table.unpack(r)}
      table.remove(row, 2)
      rows[#rows + 1] = row
    end
  end
  return h, rows
end

--- The tables as plain text (QA accuracy in %, then caption metrics, then
-- the overall accuracy per data source; results.md has every category).
-- t.split names the QA table's split ("test" if nil); t.split_label and
-- t.val_label, when set, replace the split names in the headings.
function M.text(t)
  local note = t.note and (" (" .. t.note .. ")") or ""
  local out = "QA accuracy (%) on the " .. (t.split_label or (t.split or "test") .. " split") ..
              ", majority-answer baseline beside" .. note ..
              ":\n" .. fmt_rows(t.header, t.rows)
  if t.has_captions then out = out .. "\n" .. fmt_rows(CAP_HEADER, t.captions) end
  if t.by_source then
    out = out .. "\nQA accuracy (%) overall, by data source (per category: results.md, results.json):\n" ..
          fmt_rows(source_overall(t.by_source))
  end
  if t.val then
    local rows = {}
    for _, r in ipairs(t.val.rows) do
      if r[1] == "overall" or r[1] == "action" or r[1] == "style" then rows[#rows + 1] = r end
    end
    out = out .. "\nQA accuracy (%) on the " .. (t.val_label or "val split") ..
          " (choose recipes on these; every category: results.md):\n" ..
          fmt_rows(t.val.header, rows)
  end
  return out
end

local function md_rows(header, rows)
  local out = {"| " .. table.concat(header, " | ") .. " |"}
  local rule = {}
  for i = 1, #header do rule[i] = i == 1 and "---" or "---:" end
  out[#out + 1] = "| " .. table.concat(rule, " | ") .. " |"
  for _, r in ipairs(rows) do out[#out + 1] = "| " .. table.concat(r, " | ") .. " |" end
  return table.concat(out, "\n") .. "\n"
end

--- The tables as Markdown.
function M.markdown(t)
  local note = t.note and (" (" .. t.note .. ")") or ""
  local out = "### QA accuracy (%), test split" .. note .. "\n\n" .. md_rows(t.header, t.rows) ..
              "\n### Captioning" .. note .. "\n\n" .. md_rows(CAP_HEADER, t.captions)
  if t.by_source then
    out = out .. "\n### QA accuracy (%) by data source" .. note .. "\n\n" .. md_rows(t.by_source.header, t.by_source.rows)
  end
  if t.val then
    out = out .. "\n### QA accuracy (%), " .. (t.val_label or "val split") .. note .. "\n\n" .. md_rows(t.val.header, t.val.rows)
  end
  return out
end

-- The mean over the QA results qas[1..n] (nil entries skipped, the sum in
-- index order): accuracy per category and overall; the categories, n and
-- the majority baseline are those of the first present one; overall.correct
-- is dropped (one seed's count would not match the mean).
local function mean_qa(qas, n)
  local qa0
  for i = n, 1, -1 do qa0 = qas[i] or qa0 end
  if not qa0 then return nil end
  local function mean_of(get)
    local s, k = 0.0, 0
    for i = 1, n do
      local v = qas[i] and get(qas[i])
      if v then s, k = s + v, k + 1 end
    end
    return k > 0 and s / k or nil
  end
  local qa = {categories = {}, overall = {}}
  for i, c in ipairs(qa0.categories) do
    qa.categories[i] = {category = c.category, n = c.n, majority = c.majority,
                        majority_accuracy = c.majority_accuracy,
                        accuracy = mean_of(function(q)
                          local r = row_of(q, c.category)
                          return r and r.accuracy
                        end)}
  end
  for k, v in pairs(qa0.overall) do qa.overall[k] = v end
  qa.overall.correct = nil -- a count of one seed beside a mean would not match it
  qa.overall.accuracy = mean_of(function(q) return q.overall.accuracy end)
  return qa
end

-- The mean over the seeds' results of one split: {qa =, qa_by_source =}
-- of split(r.eval) (the eval table itself, or its val), every source any
-- seed has (older runs may lack qa_by_source); nil when no seed has QA there.
local function mean_split(list, split)
  local function each(get)
    local v = {}
    for i, r in ipairs(list) do
      local sp = r.eval and split(r.eval)
      v[i] = sp and get(sp) or false
    end
    return v, #list
  end
  local qa = mean_qa(each(function(sp) return sp.qa end))
  if not qa then return nil end
  local out = {qa = qa}
  for _, r in ipairs(list) do
    local sp = r.eval and split(r.eval)
    for src in pairs(sp and sp.qa_by_source or {}) do
      out.qa_by_source = out.qa_by_source or {}
      out.qa_by_source[src] = out.qa_by_source[src] or
        mean_qa(each(function(x) return x.qa_by_source and x.qa_by_source[src] end))
    end
  end
  return out
end

--- The mean of several runs' results of one experiment (one per seed):
-- QA accuracy per category and overall (also per data source and on the
-- val split), and the caption metrics, averaged; n and the majority baseline are the same for
-- every seed (same test split). The stages' losses are the first run's (for
-- the plots). One run: itself.
function M.mean_results(list)
  if #list == 1 then return list[1] end
  local first = list[1]
  local out = {contrast = first.contrast, align = first.align, instruct = first.instruct}
  local lead -- the first seed with QA results: its categories, n and caption count lead
  for _, r in ipairs(list) do
    if not lead and r.eval and r.eval.qa then lead = r end
  end
  if not lead then return out end
  out.eval = mean_split(list, function(ev) return ev end)
  out.eval.val = mean_split(list, function(ev) return ev.val end)
  local c0 = lead.eval.captions
  if c0 then
    local function mean_of(get)
      local s, k = 0.0, 0
      for _, r in ipairs(list) do
        local v = r.eval and r.eval.captions and get(r.eval.captions)
        if v then s, k = s + v, k + 1 end
      end
      return k > 0 and s / k or nil
    end
    local cap = {n = c0.n, bleu = {}}
    for b = 1, 4 do cap.bleu[b] = mean_of(function(c) return c.bleu[b] end) end
    cap.rouge_l = mean_of(function(c) return c.rouge_l end)
    cap.cider_d = mean_of(function(c) return c.cider_d end)
    out.eval.captions = cap
  end
  return out
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function have_gnuplot()
  local ok = os.execute("command -v gnuplot >/dev/null 2>&1")
  return ok == true or ok == 0
end

--- s as one word for sh, single-quoted (a quote inside becomes '\''):
-- run folders, names and arguments may hold spaces and quotes.
function M.shell_word(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local sh = M.shell_word

-- s as a gnuplot single-quoted string (a quote inside is doubled).
local function gp(s) return "'" .. tostring(s):gsub("'", "''") .. "'" end

--- Writes loss.png (loss per step for each run's contrast, align and instruct stages)
-- and accuracy.png (per-category accuracy bars of table t, with the baseline) into
-- dir. Returns the list of plots gnuplot drew (empty if it failed on both), or nil
-- and a reason when there is no gnuplot.
function M.plots(dir, runs, t)
  if not have_gnuplot() then return nil, "gnuplot not found" end
  local plots = {}
  local curves = {}
  for _, r in ipairs(runs) do
    local stages = {}
    for _, m in ipairs({"motion", "video"}) do
      local c = r.results.contrast and r.results.contrast[m]
      if c then stages[#stages + 1] = {name = "contrast_" .. m, s = c} end
    end
    stages[#stages + 1] = {name = "align", s = r.results.align}
    stages[#stages + 1] = {name = "instruct", s = r.results.instruct}
    for _, st in ipairs(stages) do
      local stage, s = st.name, st.s
      if s and s.losses and #s.losses > 0 then
        local path = ("%s/loss_%s_%s.dat"):format(dir, r.name, stage)
        local lines = {}
        for _, p in ipairs(s.losses) do lines[#lines + 1] = ("%d %.6g"):format(p.step, p.loss) end
        write(path, table.concat(lines, "\n") .. "\n")
        curves[#curves + 1] = ("%s using 1:2 with lines title %s"):format(gp(path), gp(r.name .. " " .. stage))
      end
    end
  end
  if #curves > 0 then
    write(dir .. "/loss.gp", table.concat({
      "set terminal pngcairo size 900,500 noenhanced",
      "set output " .. gp(dir .. "/loss.png"),
      "set title 'loss per step (contrast: InfoNCE; align, instruct: answer cross-entropy)'",
      "set xlabel 'step'", "set ylabel 'cross-entropy'", "set key outside right", "set grid",
      "plot " .. table.concat(curves, ", \\\n     "),
    }, "\n") .. "\n")
    if os.execute(("gnuplot %s 2>/dev/null"):format(sh(dir .. "/loss.gp"))) then plots[#plots + 1] = dir .. "/loss.png" end
  end
  -- accuracy bars: categories x (runs + majority)
  local lines = {"# category " .. table.concat(t.header, " ", 3)}
  for _, row in ipairs(t.rows) do
    local vals = {}
    for i = 3, #row do vals[#vals + 1] = row[i] == "-" and "0" or row[i] end
    lines[#lines + 1] = row[1] .. " " .. table.concat(vals, " ")
  end
  write(dir .. "/accuracy.dat", table.concat(lines, "\n") .. "\n")
  local cols = {}
  for i = 3, #t.header do
    cols[#cols + 1] = ("%s using %d:xtic(1) title %s"):format(gp(dir .. "/accuracy.dat"), i - 1, gp(t.header[i]))
  end
  write(dir .. "/accuracy.gp", table.concat({
    "set terminal pngcairo size 900,500 noenhanced",
    "set output " .. gp(dir .. "/accuracy.png"),
    "set xtics rotate by -30",
    "set title 'QA accuracy per category (test split)'",
    "set style data histograms", "set style histogram clustered gap 1", "set style fill solid 0.8 border -1",
    "set yrange [0:100]", "set ylabel 'accuracy (%)'", "set grid ytics", "set key outside right",
    "plot " .. table.concat(cols, ", \\\n     "),
  }, "\n") .. "\n")
  if os.execute(("gnuplot %s 2>/dev/null"):format(sh(dir .. "/accuracy.gp"))) then plots[#plots + 1] = dir .. "/accuracy.png" end
  return plots
end

return M
