--[[
tests/lua/test_tokenizer.lua - vimo.tokenizer from Lua on llama2.c's
tok512.bin (llm/llama/weights; format facts from shared/data/PROVENANCE.md:
512 ids, 0-2 are "<unk>", "\n<s>\n", "\n</s>\n", 3-258 the byte fallbacks
"<0x00>".."<0xFF>", BOS 1, EOS 2), plus encode/decode round trips.

  vimo run tests/lua/test_tokenizer.lua tok=<path of tok512.bin>
]]

local vimo = require "vimo"
local check = require "check"

local path = assert(vimo.args.tok, "pass tok=<path of tok512.bin>")
local tok = assert(vimo.tokenizer(path))
check.eq(tok:kind(), "llama2c", "kind detected from the content")
check.eq(tok:vocab_size(), 512, "vocabulary size")
check.eq(tok:bos(), 1, "BOS")
check.eq(tok:eos(), 2, "EOS")
check.eq(tok:piece(0), "<unk>", "piece 0")
check.eq(tok:piece(1), "\n<s>\n", "piece 1")
check.eq(tok:piece(3), "<0x00>", "first byte fallback")
check.eq(tok:piece(258), "<0xFF>", "last byte fallback")
check.eq(tok:piece(512), nil, "out of range: nil")
check.eq(tok:id("<0x41>"), 3 + 0x41, "id of a piece")
check.eq(tok:id("no such piece at all"), nil, "unknown piece: nil")

local text = "Once upon a time, there was a little girl named Lily."
local ids = tok:encode(text, {bos = true, eos = true})
check.eq(ids[1], 1, "BOS first")
check.eq(ids[#ids], 2, "EOS last")
for i = 2, #ids - 1 do check.ok(ids[i] >= 3 and ids[i] < 512, "ids in the vocabulary") end
check.ok(#ids < #text, "merges shorten the sequence")
-- llama2.c (run.c decode) drops the leading space of the piece after BOS.
local after_bos = table.move(tok:encode(text, {bos = true}), 2, #ids - 1, 1, {})
check.eq(tok:decode(after_bos, {prev = 1}), text, "round trip after BOS")
check.eq(tok:decode(vimo.ints(tok:encode("Lily's mom"))), " Lily's mom", "dummy prefix space without BOS")
check.raises("decode", function() return tok:decode({600}) end)

local none, msg = vimo.tokenizer(path .. ".missing")
check.ok(none == nil and msg:find(".missing", 1, true), "missing file: nil, msg")

check.done("test_tokenizer")
