# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
What tests, the demo and the soak share; never imported by the node.

:mod:`.synthetic` (a ray-cast scene renderer with exact depth), :mod:`.tiny_models`
(tiny random checkpoints built from transformers configs; also a script),
:mod:`.soak` (memory growth accounting), :mod:`.feeder` (a camera stand-in
node that publishes frames and collects the outputs) and :mod:`.ros_harness`
(the node and a feeder in one process). The rclpy-based modules import rclpy;
the others do not.
"""
