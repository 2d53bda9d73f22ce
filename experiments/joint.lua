-- experiments/joint.lua - joint motion + video (MotionLLM / ViMoNet): both
-- modalities' projected tokens spliced into one prompt. To try your own
-- encoder, copy this file and set motion_encoder = "encoder.yours" below.
-- Run: vimo run experiments/joint.lua [key=value ...] (help=true lists options)
local vimo = require "vimo"
local experiment = require "vimo.experiment"
return experiment.main({name = "joint", modalities = {"motion", "video"},
                        defaults = {motion_encoder = "encoder.motion_tcn", video_encoder = "encoder.video_cnn"}},
                       vimo.args)
