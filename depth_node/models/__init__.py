# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Metric depth networks through transformers: loading and per-family processing."""

from .base import DepthModel
from .loader import check_model, load_model, resolve_device, resolve_dtype

__all__ = ['check_model', 'DepthModel', 'load_model', 'resolve_device', 'resolve_dtype']
