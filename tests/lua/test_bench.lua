--[[
tests/lua/test_bench.lua - `vimo bench gemm --json` as a script reads it:
one row per shape, its figures consistent with each other (GFLOP/s = 2MNK/t,
ratio = op / BLIS, %peak = op per thread / the FMA peak measured in the same
run), and that peak a real one whenever the CPU has AVX2 or AVX-512
(finite, above what a GEMM reaches, below what any CPU core does); none
under --cpu-time. And `vimo bench varlen --json`: the packed and the padded
step give the same loss, over the positions and targets its options imply.
Speed itself is never asserted.

  vimo run tests/lua/test_bench.lua vimo=/path/to/vimo
]]

local vimo = require "vimo"
local check = require "check"

local exe = assert(vimo.args.vimo, "pass vimo=<path of the vimo executable>")

local function bench_json(extra)
  local cmd = check.quote(exe) .. " bench gemm --threads 1 --reps 1 --warmup 0 --json --m 1,64 --k 128 --n 96 " ..
              (extra or "") .. " 2>/dev/null"
  local p = assert(io.popen(cmd, "r"))
  local text = p:read("a")
  local ok, how, code = p:close()
  check.ok(ok and how == "exit" and code == 0, "vimo bench gemm exits 0: " .. tostring(how) .. " " .. tostring(code))
  return check.ok(vimo.json_decode(text), "bench output is JSON:\n" .. text)
end

local doc = bench_json()
check.eq(doc.threads, 1, "header: threads")
check.eq(#doc.results, 2, "one row per shape")

for i, r in ipairs(doc.results) do
  local what = ("row %d (M=%s)"):format(i, tostring(r.m))
  check.eq(r.bench, "gemm", what .. ": bench name")
  check.eq(r.k, 128, what .. ": K")
  check.eq(r.n, 96, what .. ": N")
  check.near(r.op_gflops, 2 * r.m * r.n * r.k / r.op_us * 1e-3, 1e-9 * r.op_gflops, what .. ": GFLOP/s = 2MNK/t")
  check.near(r.ratio, r.op_gflops / r.blis_sgemm_gflops, 1e-12, what .. ": ratio = op / blis")
  -- The ISA is always named; only a CPU without AVX2/AVX-512 (or not x86) has no peak.
  check.ok(r.fma_peak_isa == "AVX-512" or r.fma_peak_isa == "AVX2" or r.fma_peak_isa == "none",
    what .. ": fma_peak_isa " .. tostring(r.fma_peak_isa))
  if r.fma_peak_isa ~= "none" then
    local peak = r.fma_peak_gflops_per_core
    check.ok(type(peak) == "number", what .. ": a measured peak (a zero time would print null)")
    -- Not compared with the GEMM rates: that is a timing assertion, and on a
    -- loaded machine the short peak loop can be preempted (it failed so once).
    check.ok(peak > 0, what .. ": a positive FMA peak: " .. tostring(peak))
    -- 16 lanes x 2 FMA pipes x 2 flops x 6 GHz = 384: a larger figure means
    -- the chains were not timed (optimised away, or a broken clock).
    check.ok(peak < 400, what .. ": FMA peak below any core's: " .. tostring(peak))
    check.near(r.op_percent_of_peak, 100 * r.op_gflops_per_thread / peak, 1e-9, what .. ": %peak")
  end
end
check.ok(doc.results[1].blis_sgemv_gflops ~= nil, "M = 1 also times sgemv")

-- --cpu-time times the GEMMs in CPU time: no wall-clock peak beside them.
local cpu = bench_json("--cpu-time")
check.eq(cpu.clock, "process_cpu_time/threads", "--cpu-time: header clock")
for i, r in ipairs(cpu.results) do
  check.eq(r.op_percent_of_peak, nil, ("--cpu-time row %d: no %%peak"):format(i))
end

-- vimo bench varlen: 4 sequences padded to 40, the longest 40 and a share
-- 0.75 real (40, 33, 27, 20), 2 targets each; both bodies give one loss.
local cmd = check.quote(exe) .. " bench varlen --threads 1 --reps 1 --warmup 0 --json --batch 4 --t 40 " ..
            "--fill 0.75 --answer 2 2>/dev/null"
local p = assert(io.popen(cmd, "r"))
local text = p:read("a")
local ok, how, code = p:close()
check.ok(ok and how == "exit" and code == 0, "vimo bench varlen exits 0: " .. tostring(how) .. " " .. tostring(code))
local v = check.ok(vimo.json_decode(text), "bench varlen output is JSON:\n" .. text).results[1]
check.eq(v.bench, "varlen", "varlen: bench name")
check.eq(v.real_positions, 120, "varlen: 40 + 33 + 27 + 20 real positions")
check.eq(v.targets, 8, "varlen: 2 targets per sequence")
check.ok(v.padded_ms > 0 and v.varlen_ms > 0, "varlen: both bodies timed")
check.near(v.varlen_loss, v.padded_loss, 1e-6 * math.abs(v.padded_loss), "varlen: the same loss")
check.done()
