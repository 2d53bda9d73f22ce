-- tests/experiments/test_custom_map.lua - issue 5 item 3: a joint map given
-- from Lua retargets any skeleton. Written out by hand from the Bandai-Namco
-- skeleton's node names (its BVH header), it must give exactly the features
-- of the built-in "bandai-namco" map; a map naming a missing node must fail
-- with a message naming it.
local vimo = require "vimo"
local media = vimo.media
local bvh = vimo.source_dir .. "/data/motion/bandai_namco/dataset-2/data/dataset-2_walk_normal_001.bvh.gz"
local map = {
  {smpl = 0, joint = "Hips"}, {smpl = 1, joint = "UpperLeg_L"}, {smpl = 2, joint = "UpperLeg_R"},
  {smpl = 3, joint = "Hips", toward = "Spine", weight = 0.6}, {smpl = 4, joint = "LowerLeg_L"},
  {smpl = 5, joint = "LowerLeg_R"}, {smpl = 6, joint = "Spine", toward = "Chest", weight = 0.5},
  {smpl = 7, joint = "Foot_L"}, {smpl = 8, joint = "Foot_R"}, {smpl = 9, joint = "Chest"},
  {smpl = 10, joint = "Toes_L"}, {smpl = 11, joint = "Toes_R"}, {smpl = 12, joint = "Neck"},
  {smpl = 13, joint = "Shoulder_L"}, {smpl = 14, joint = "Shoulder_R"}, {smpl = 15, joint = "Head"},
  {smpl = 16, joint = "UpperArm_L"}, {smpl = 17, joint = "UpperArm_R"}, {smpl = 18, joint = "LowerArm_L"},
  {smpl = 19, joint = "LowerArm_R"}, {smpl = 20, joint = "Hand_L"}, {smpl = 21, joint = "Hand_R"},
}
local r = media.process({{bvh = bvh, map = "bandai-namco"}, {bvh = bvh, map = map}}, {threads = 1})
local passed, failed = 0, 0
local function check(c, what) if c then passed = passed + 1 else failed = failed + 1; print("FAIL: " .. what) end end
check(r[1].ok and r[2].ok, "both maps retarget: " .. tostring(r[1].err or r[2].err))
check(r[1].T == r[2].T and r[1].feat == r[2].feat, "the Lua map gives the built-in map's features bit for bit")
map[10] = {smpl = 9, joint = "NoSuchChest"}
local bad = media.process({{bvh = bvh, map = map}}, {threads = 1})[1]
check(not bad.ok and tostring(bad.err):find("NoSuchChest", 1, true), "a missing node is named: " .. tostring(bad.err))
print(("%d passed, %d failed"):format(passed, failed))
if failed > 0 then os.exit(1) end
