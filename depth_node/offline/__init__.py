# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The offline tools: the node's frame path on files and bags, evaluation, benchmark, demo.

Console scripts ``depth_node_run`` (:mod:`.run`), ``depth_node_eval``
(:mod:`.eval`), ``depth_node_bench`` (:mod:`.bench`) and ``depth_node_demo``
(:mod:`.demo`); their shared pieces by job: :mod:`.cli` (options, errors, exit
codes), :mod:`.cameras` (intrinsics files), :mod:`.sources` (images, videos,
rosbag2 in), :mod:`.bag` (rosbag2 out), :mod:`.datasets` (ground truth),
:mod:`.metrics`, :mod:`.sequence` (the evaluation's sequence mode), :mod:`.ply`,
:mod:`.baseline` (the bench's calibration); and
the GPU check (:mod:`.gpu_check`, ``tools/gpu_check.sh``). Every frame goes through
:class:`depth_node.frame.FrameProcessor`, as in the node.
"""
