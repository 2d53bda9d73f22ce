-- experiments/video_only.lua - the video branch alone: sampled frames of the
-- paired rendered video -> encoder.video_cnn -> projector -> LLM.
-- Run: vimo run experiments/video_only.lua [key=value ...] (help=true lists options)
local vimo = require "vimo"
local experiment = require "vimo.experiment"
return experiment.main({name = "video_only", modalities = {"video"}}, vimo.args)
