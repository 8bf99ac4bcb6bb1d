# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Camera intrinsics for the offline tools: camera_info YAML, Open3D JSON, or flags.

Everything becomes :class:`~depth_node.camera.CameraInfoFields`, the calibration
fields of a ``sensor_msgs/CameraInfo``, read by the core like a real message.
"""

from dataclasses import dataclass
import json
from pathlib import Path
from typing import List, Optional

import yaml

from ..camera import camera_info_fields, CameraInfoFields, pinhole_camera_info
from ..errors import BadCameraInfoError
from ..geometry import Intrinsics


def _matrix(doc: dict, key: str, size: int, path) -> Optional[List[float]]:
    entry = doc.get(key)
    if entry is None:
        return None
    data = entry.get('data') if isinstance(entry, dict) else entry
    if not isinstance(data, (list, tuple)) or (size and len(data) != size):
        raise BadCameraInfoError(f'{path}: {key} must hold {size} numbers, got {data!r}')
    return [float(v) for v in data]


def read_camera_info_yaml(path) -> CameraInfoFields:
    """
    Read a camera_info YAML in the ROS ``camera_calibration`` format.

    Keys: ``image_width``, ``image_height``, ``camera_matrix``,
    ``distortion_model``, ``distortion_coefficients``, ``rectification_matrix``,
    ``projection_matrix`` (each matrix a ``{rows, cols, data}`` mapping, as
    ``camera_calibration`` and ``camera_info_manager`` write them).
    """
    try:
        with open(path, 'r', encoding='utf-8') as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise BadCameraInfoError(f'cannot read camera_info YAML {path}: {exc}') from None
    if not isinstance(doc, dict) or 'camera_matrix' not in doc:
        raise BadCameraInfoError(
            f'{path} is not a camera_info YAML (ROS camera_calibration format: image_width, '
            'image_height, camera_matrix, ...)')
    try:
        width, height = int(doc['image_width']), int(doc['image_height'])
    except (KeyError, TypeError, ValueError):
        raise BadCameraInfoError(f'{path}: image_width and image_height are required') from None
    k = _matrix(doc, 'camera_matrix', 9, path)
    d = _matrix(doc, 'distortion_coefficients', 0, path) or []
    return camera_info_fields(width, height, k, _matrix(doc, 'projection_matrix', 12, path), d,
                              _matrix(doc, 'rectification_matrix', 9, path),
                              doc.get('distortion_model') or 'plumb_bob')


def read_intrinsics_file(path) -> CameraInfoFields:
    """Read intrinsics from a camera_info YAML or an Open3D ``PinholeCameraIntrinsic`` JSON."""
    path = Path(path)
    if path.suffix.lower() != '.json':
        return read_camera_info_yaml(path)
    try:
        doc = json.loads(path.read_text(encoding='utf-8'))
        m = [float(v) for v in doc['intrinsic_matrix']]  # column-major 3x3
        return camera_info_fields(int(doc['width']), int(doc['height']),
                                  [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise BadCameraInfoError(
            f'{path} is not an Open3D intrinsics JSON (width, height, intrinsic_matrix): '
            f'{exc}') from None


@dataclass
class CameraSpec:
    """
    Intrinsics for images whose size is only known once read.

    Either a full camera_info (``info``) or ``fx`` (``fy`` defaults to ``fx``,
    ``cx``/``cy`` to the image centre); flags override the file's K and P.
    """

    info: Optional[object] = None
    fx: Optional[float] = None
    fy: Optional[float] = None
    cx: Optional[float] = None
    cy: Optional[float] = None

    def is_set(self) -> bool:
        """Whether any intrinsics were given."""
        return self.info is not None or self.fx is not None

    def for_size(self, width: int, height: int):
        """Return the camera_info of a ``width`` x ``height`` image."""
        if self.info is not None and self.fx is None and self.cx is None:
            return self.info
        if self.info is None and self.fx is None:
            raise BadCameraInfoError(
                'no camera intrinsics: pass --camera-info <camera_info.yaml> or --fx '
                '(and optionally --fy --cx --cy)')
        base = self.info
        if base is not None:
            width, height = int(base.width), int(base.height)
            fx0, fy0, cx0, cy0 = base.p[0], base.p[5], base.p[2], base.p[6]
        else:
            fx0 = fy0 = None
            cx0, cy0 = (width - 1) / 2.0, (height - 1) / 2.0
        fx = float(self.fx if self.fx is not None else fx0)
        fy = float(self.fy if self.fy is not None else (fy0 if self.fx is None else fx))
        cx = float(self.cx if self.cx is not None else cx0)
        cy = float(self.cy if self.cy is not None else cy0)
        return pinhole_camera_info(Intrinsics(width, height, fx, fy, cx, cy))


def find_intrinsics_file(root: Path) -> Optional[Path]:
    """Return a camera_info YAML or Open3D intrinsics JSON in ``root``, if there is one."""
    names = ('camera_info.yaml', 'camera_info.yml', 'camera.yaml', 'intrinsics.yaml',
             'intrinsics.json', 'camera_intrinsic.json', 'camera_primesense.json')
    for name in names:
        if (root / name).is_file():
            return root / name
    return None
