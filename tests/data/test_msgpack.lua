--[[
tests/data/test_msgpack.lua - the MessagePack codec of lua_media.c against
byte sequences worked out by hand from the specification
(github.com/msgpack/msgpack/blob/master/spec.md), hostile inputs, and a
file round trip.
]]

local t = require "harness"
local media = require "vimo.data.media"

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end
local function unhex(h)
  return (h:gsub("%s", ""):gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end

-- Encoding: value -> spec bytes.
local cases = {
  {nil, "c0"}, {false, "c2"}, {true, "c3"},
  {0, "00"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"}, {65536, "ce00010000"},
  {4294967296, "cf0000000100000000"},
  {-1, "ff"}, {-32, "e0"}, {-33, "d0df"}, {-129, "d1ff7f"}, {-32769, "d2ffff7fff"},
  {1.5, "cb3ff8000000000000"}, {-0.25, "cbbfd0000000000000"},
  {"", "a0"}, {"a", "a161"}, {("x"):rep(32), "d920" .. ("78"):rep(32)},
  {{}, "90"}, {{1, 2, 3}, "93010203"}, {{a = 1}, "81a16101"}, {{b = 2, a = 1}, "82a16101a16202"},
  {{[2] = "x", [1] = "y"}, "92a179a178"}, {{[3] = true, [-1] = false}, "82ffc203c3"},
  {media.bin("\0\1"), "c4020001"},
}
for i, c in ipairs(cases) do
  t.eq(hex(media.msgpack_pack(c[1])), c[2], ("pack case %d"):format(i))
end
local arr16 = {}
for i = 1, 16 do arr16[i] = i - 1 end
t.eq(hex(media.msgpack_pack(arr16)):sub(1, 6), "dc0010", "16 items need array 16")

-- Decoding: spec bytes -> value.
t.eq(media.msgpack_unpack(unhex("ca3fc00000")), 1.5, "float 32")
t.eq(media.msgpack_unpack(unhex("d903616263")), "abc", "str 8")
t.eq(media.msgpack_unpack(unhex("c403000102")), "\0\1\2", "bin 8 comes back as a string")
t.eq(media.msgpack_unpack(unhex("f0")), -16, "negative fixint")
t.eq(media.msgpack_unpack(unhex("d3fffffffffffffffe")), -2, "int 64")
local m = media.msgpack_unpack(unhex("de0002a161c3a162dc0002c0a0"))
t.check(type(m) == "table" and m.a == true and type(m.b) == "table" and m.b[1] == nil and m.b[2] == "",
  "map 16 holding an array 16")
t.eq(media.msgpack_unpack(unhex("cfffffffffffffffff")), 18446744073709551615.0, "uint64 above int64 max -> float")

-- Round trip of a nested record.
local rec = {id = "x", n = 3, f = 0.5, list = {"a", "b"}, blob = media.bin(string.pack("<ff", 1, 2)), nested = {k = {1}}}
local back = media.msgpack_unpack(media.msgpack_pack(rec))
t.check(back.id == "x" and back.n == 3 and math.type(back.n) == "integer" and back.f == 0.5 and back.list[2] == "b"
  and back.blob == string.pack("<ff", 1, 2) and back.nested.k[1] == 1, "round trip")

-- Hostile input: refused with an offset and a reason, never a crash or a
-- large allocation.
local bad = {
  {"dd ffffffff", "container count larger than the bytes left"},
  {"df 7fffffff", "container count larger than the bytes left"},
  {"c1", "never-used byte"},
  {"d4 01 02", "ext types are not supported"},
  {"c7 01 05 00", "ext types are not supported"},
  {"a5 6162", "length beyond the end"},
  {"c6 ffffffff 00", "length beyond the end"},
  {"da 00", "truncated length"},
  {"", "truncated"},
  {"01 02", "bytes after the value"},
  {("91"):rep(40) .. "c0", "nested too deep"},
  {"81 ca3fc00000 01", "map key is neither a string nor an integer"},
  {"92 01", "offset 0: container count larger than the bytes left"},
  {"93 01 02 a3 6162", "offset 3: length beyond the end"},
}
for i, b in ipairs(bad) do
  t.fails_with(b[2], ("hostile case %d (%s)"):format(i, b[1]), media.msgpack_unpack, unhex(b[1]))
end

-- Mutations of a valid record (fixed-seed LCG): every one either decodes or
-- is refused with a message; none may crash (the ASan build runs this too).
do
  local base = media.msgpack_pack(rec)
  local state = 12345
  local function rnd(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n + 1
  end
  local refused, decoded = 0, 0
  for _ = 1, 3000 do
    local b = {base:byte(1, -1)}
    for _ = 1, rnd(4) do b[rnd(#b)] = rnd(256) - 1 end
    local cut = rnd(8) == 1 and rnd(#b) or #b
    local v, err = media.msgpack_unpack(string.char(table.unpack(b, 1, cut)))
    if v == nil and type(err) == "string" then refused = refused + 1 else decoded = decoded + 1 end
  end
  t.eq(refused + decoded, 3000, "every mutation decoded or refused")
end

-- Misuse of the encoder raises.
t.raises("cannot encode a function", "function", media.msgpack_pack, {f = print})
local cyc = {}
cyc.self = cyc
t.raises("nested deeper", "cycle", media.msgpack_pack, cyc)
t.raises("map keys must be strings or integers", "boolean key", media.msgpack_pack, {[true] = 1, x = 2})

-- Files: atomic save, load, errors naming the file.
local dir = t.tmpdir("msgpack")
local path = dir .. "/x.msgpack"
t.check(media.msgpack_save(path, rec) == true, "save")
local f = io.open(path, "rb")
local bytes = f:read("a")
f:close()
t.eq(bytes, media.msgpack_pack(rec), "the file holds exactly the packed bytes")
local l = media.msgpack_load(path)
t.check(type(l) == "table" and l.nested.k[1] == 1, "load")
t.fails_with(dir .. "/missing.msgpack", "missing file is named", media.msgpack_load, dir .. "/missing.msgpack")
f = io.open(path, "wb")
f:write(bytes:sub(1, #bytes - 3))
f:close()
t.fails_with(path .. ": offset", "truncated file: name and offset", media.msgpack_load, path)
t.fails_with("No such file", "save into a missing folder", media.msgpack_save, dir .. "/no/such/dir/x", {1})
os.remove(path)
os.remove(dir)

t.done("data.msgpack")
