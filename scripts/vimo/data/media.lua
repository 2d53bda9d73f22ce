--[[
vimo/data/media.lua - the media bindings (core/lua/lua_media.c) as a module.

Uses vimo.media when the module assembler registered it (lvt_open_media);
otherwise loads luaopen_vimo_media from the libvimo_lua already mapped into
this process (found in /proc/self/maps), so `vimo run` and a standalone
lua5.4 that loaded the vimo module both work. Adds nothing of its own.
]]

local vimo = require "vimo"

if vimo.media then return vimo.media end

local function mapped_library()
  local f = io.open("/proc/self/maps", "r")
  if not f then return nil end
  for line in f:lines() do
    local path = line:match("(/%S*libvimo_lua%.so[%.%d]*)%s*$")
    if path then
      f:close()
      return path
    end
  end
  f:close()
  return nil
end

local lib = mapped_library()
if not lib then error("vimo.data.media: libvimo_lua is not loaded in this process (run through `vimo run`)", 0) end
local open, err = package.loadlib(lib, "luaopen_vimo_media")
if not open then
  error(("vimo.data.media: %s has no luaopen_vimo_media (%s): rebuild vimo"):format(lib, tostring(err)), 0)
end
local media = open()
vimo.media = media
return media
