# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Typed exceptions raised by the ROS-free core.

The node catches these, logs one clear (throttled) line, drops the frame and
counts the reason; nothing in the core logs or prints.
"""


class DepthNodeError(Exception):
    """Base class of every error the core raises on purpose."""


class BadImageError(DepthNodeError, ValueError):
    """An image message that cannot be turned into an RGB array."""


class BadCameraInfoError(DepthNodeError, ValueError):
    """A CameraInfo message whose intrinsics cannot be used."""


class ModelLoadError(DepthNodeError, RuntimeError):
    """A checkpoint that cannot be loaded; the message says what to pass instead."""


class UnsupportedModelError(ModelLoadError):
    """A checkpoint that loads but does not predict metric depth."""


class ParameterValueError(DepthNodeError, ValueError):
    """A parameter value outside its allowed set."""


class NoCameraInfoError(DepthNodeError, LookupError):
    """A frame arrived before any camera_info: nothing to scale or back-project it with."""


class InvalidDepthError(DepthNodeError, ValueError):
    """The network produced no finite depth for a frame (e.g. fp16 overflow)."""


class BadAnchorError(DepthNodeError, ValueError):
    """
    An anchor (``anchor/depth``, ``anchor/points``) or its fit that cannot be used.

    Never drops a frame: the frame path refuses the anchor and keeps the held
    correction or the network's own scale. ``kind`` is the stream event kind
    of the line (:data:`depth_node.stream.EVENT_KINDS`).
    """

    def __init__(self, text: str, kind: str = 'anchor_invalid'):
        super().__init__(text)
        self.kind = kind
