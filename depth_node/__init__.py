# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Metric depth from a monocular RGB camera for ROS 2.

Layers, one direction (doc/development.md):

- the ROS-free core, in this folder: :mod:`.frame` (the one frame path,
  ``FrameProcessor``), :mod:`.outputs`, :mod:`.payloads`, :mod:`.device_payloads`,
  :mod:`.correction`, :mod:`.temporal`, :mod:`.conversions`, :mod:`.compressed`, :mod:`.geometry`,
  :mod:`.camera`, :mod:`.filters`, :mod:`.scan`, :mod:`.visualize`,
  :mod:`.device_cloud`, :mod:`.messages`, :mod:`.msgfill`, :mod:`.buffers`, :mod:`.pairing`,
  :mod:`.stream`, :mod:`.diagnostics`, :mod:`.timing`, :mod:`.params`, :mod:`.errors`,
  :mod:`.hub` (can the Hub give a model now), :mod:`.startup` (start-up errors in each
  entry point's terms);
- :mod:`.models`: the networks (torch, transformers), per family;
- :mod:`.node`: the thin rclpy node over the core;
- :mod:`.offline`: the command-line tools on files and bags;
- :mod:`.testing`: what tests, the demo and the soak share (never imported by the node).
"""

__version__ = '0.1.0'
