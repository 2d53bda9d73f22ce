-- experiments/motion_only.lua - MotionLLM's motion branch alone: skeleton
-- features -> encoder.motion_tcn -> projector -> LLM.
-- Run: vimo run experiments/motion_only.lua [key=value ...] (help=true lists options)
local vimo = require "vimo"
local experiment = require "vimo.experiment"
return experiment.main({name = "motion_only", modalities = {"motion"}}, vimo.args)
