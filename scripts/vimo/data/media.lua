--[[
vimo/data/media.lua - the media bindings (core/lua/lua_media.c) as a module:
vimo.media, which luaopen_vimo registers (lvt_open_media). A separate
module name lets the data scripts say what they use; it adds nothing.
]]

local vimo = require "vimo"

if not vimo.media then
  error("vimo.data.media: this vimo module has no vimo.media (libvimo_lua built without lua_media.c?)", 0)
end
return vimo.media
