--[[
vimo/progress.lua - a training progress bar on stderr.

  local bar = progress.new{total = 1000, label = "train"}
  bar:update(step, {loss = 2.31, tokens = 4096})   -- tokens done this step
  bar:finish()

On a terminal it redraws one line: label, bar, step/total, loss, tokens/s
and ETA. When stderr is not a terminal (CI logs, files) it prints plain
lines every `every` steps instead, so logs stay readable. VIMO_PROGRESS=
tty|plain|off overrides the choice; mode = ... in new{} overrides both.
Does not print anything to stdout (stdout is for results).
]]

local vimo = require "vimo"

local M = {}

local Bar = {}
Bar.__index = Bar

local function fmt_time(s)
  if s ~= s or s == math.huge or s < 0 then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s % 3600 // 60, s % 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

local function fmt_rate(r)
  if r >= 1e6 then return ("%.1fM"):format(r / 1e6) end
  if r >= 1e3 then return ("%.1fk"):format(r / 1e3) end
  return ("%.0f"):format(r)
end

--- Chooses "tty", "plain" or "off" from VIMO_PROGRESS and isatty(stderr).
function M.mode()
  local env = os.getenv("VIMO_PROGRESS")
  if env == "tty" or env == "plain" or env == "off" then return env end
  if os.getenv("TERM") == "dumb" then return "plain" end
  return vimo.isatty("stderr") and "tty" or "plain"
end

--- new{total=, label=, every=, width=, mode=, stream=}
function M.new(o)
  o = o or {}
  local self = setmetatable({
    total = o.total or 0,
    label = o.label or "",
    every = o.every or 10,
    width = o.width or 24,
    mode = o.mode or M.mode(),
    stream = o.stream or io.stderr,
    t0 = vimo.now(),
    first_step = nil,
    tokens = 0,
    last_len = 0,
  }, Bar)
  return self
end

function Bar:line(step, info)
  local now = vimo.now()
  local elapsed = now - self.t0
  local done = step - (self.first_step or step) + 1
  local parts = {}
  if self.label ~= "" then parts[#parts + 1] = self.label end
  if self.mode == "tty" and self.total > 0 then
    local fill = math.floor(self.width * step / self.total)
    parts[#parts + 1] = "[" .. ("="):rep(fill) .. (" "):rep(self.width - fill) .. "]"
  end
  parts[#parts + 1] = self.total > 0 and ("%d/%d"):format(step, self.total) or ("%d"):format(step)
  if info.loss then parts[#parts + 1] = ("loss %.4f"):format(info.loss) end
  if self.tokens > 0 and elapsed > 0 then parts[#parts + 1] = fmt_rate(self.tokens / elapsed) .. " tok/s" end
  if self.total > 0 and done > 0 and elapsed > 0 then
    parts[#parts + 1] = "ETA " .. fmt_time(elapsed / done * (self.total - step))
  end
  for k, v in pairs(info.extra or {}) do parts[#parts + 1] = ("%s %s"):format(k, tostring(v)) end
  return table.concat(parts, "  ")
end

--- Reports the step just completed (1-based) with {loss=, tokens=, extra={}}.
function Bar:update(step, info)
  info = info or {}
  if self.mode == "off" then return end
  self.first_step = self.first_step or step
  self.tokens = self.tokens + (info.tokens or 0)
  if self.mode == "tty" then
    local s = self:line(step, info)
    self.stream:write("\r", s, (" "):rep(math.max(0, self.last_len - #s)))
    self.last_len = #s
    self.stream:flush()
  elseif step % self.every == 0 or step == self.total or step == self.first_step then
    self.stream:write(self:line(step, info), "\n")
    self.stream:flush()
  end
end

--- Prints a message without breaking the bar (evaluation results, saves).
function Bar:note(msg)
  if self.mode == "off" then return end
  if self.mode == "tty" and self.last_len > 0 then self.stream:write("\r", (" "):rep(self.last_len), "\r") end
  self.last_len = 0
  self.stream:write(msg, "\n")
  self.stream:flush()
end

function Bar:finish()
  if self.mode == "tty" and self.last_len > 0 then self.stream:write("\n") end
  self.last_len = 0
  if self.stream.flush then self.stream:flush() end
end

M.format_time = fmt_time
return M
