-- tests/experiments/test_autoencoder.lua - issue 5's check: a motion
-- autoencoder trained by a Lua script on the shipped clips lowers its
-- reconstruction error well below that of predicting the mean pose.
-- Runs experiments/motion_autoencoder.lua on all shipped clips (20 epochs,
-- about a minute on 2 cores; the figures are in docs/motion.md).
local vimo = require "vimo"
local tmp = os.getenv("VIMO_TEST_TMP") or "/tmp"
vimo.args = {limit = 0, epochs = 20, results_dir = tmp .. "/vimo_test_ae", run = "ae"}
local results = dofile(vimo.source_dir .. "/experiments/motion_autoencoder.lua")
local r = results.train
print(("reconstruction %.4f, mean pose %.4f, untrained %.4f"):format(r.reconstruction_mse, r.mean_pose_mse,
                                                                    r.untrained_mse))
assert(r.mean_pose_mse > 0.1, "mean-pose baseline is degenerate")
assert(r.reconstruction_mse < 0.5 * r.mean_pose_mse,
       ("reconstruction %.4f is not well below the mean pose %.4f"):format(r.reconstruction_mse, r.mean_pose_mse))
print("1 passed, 0 failed")
