# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Metric depth from a monocular RGB camera for ROS 2.

The package is layered: :mod:`depth_node.conversions`, :mod:`depth_node.geometry`
and :mod:`depth_node.models` form a ROS-free core (numpy, torch, transformers);
:mod:`depth_node.node` is the thin rclpy layer over it.
"""

__version__ = '0.1.0'
