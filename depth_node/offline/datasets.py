# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Evaluation datasets: RGB images paired with metric ground truth, and depth files.

No rclpy. :func:`find_samples` pairs images with ground-truth depth in the
common layouts (NYU, KITTI, TUM, a Metric3D-style index); :func:`read_depth`
reads 16-bit PNG or ``.npy`` depth in metres.
"""

from dataclasses import dataclass
import json
from pathlib import Path
import re
from typing import List, Optional

import cv2
import numpy as np

from .cameras import CameraSpec
from .cli import OfflineInputError
from .sources import IMAGE_EXTENSIONS, list_files, natural_key
from ..conversions import depth_to_image_fields


def read_depth(path, depth_scale: float = 1000.0) -> np.ndarray:
    """
    Read a ground-truth or predicted depth map as float32 metres, NaN where invalid.

    ``.npy``: metres (float). Images (16-bit PNG): integer units, ``depth_scale``
    per metre (1000 = millimetres, NYU/ICL-NUIM/our output; 256 = KITTI; 5000 =
    TUM); 0 is invalid.
    """
    path = Path(path)
    if path.suffix.lower() == '.npy':
        depth = np.load(path).astype(np.float32)
        if depth.ndim == 3 and depth.shape[-1] == 1:
            depth = depth[..., 0]
        if depth.ndim != 2:
            raise OfflineInputError(f'{path}: depth must be H x W, got shape {depth.shape}')
        depth[~(depth > 0)] = np.nan
        return depth
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise OfflineInputError(f'cannot read depth image {path}')
    if raw.ndim != 2:
        raise OfflineInputError(
            f'{path}: a depth image must have one channel (16-bit PNG), got shape {raw.shape}')
    depth = raw.astype(np.float32) / float(depth_scale)
    depth[raw == 0] = np.nan
    return depth


def depth_png_array(depth: np.ndarray) -> np.ndarray:
    """Encode metres as the node's 16UC1 payload (uint16 mm, 0 invalid) as an ``H x W`` array."""
    _, _, data = depth_to_image_fields(depth, '16UC1')
    return np.frombuffer(data, dtype='<u2').reshape(np.asarray(depth).shape)


#: Folder names holding the colour images and the ground-truth depth of a dataset.
RGB_DIRS = ('rgb', 'color', 'colour', 'image', 'images', 'image_rgb')
DEPTH_DIRS = ('depth', 'gt', 'depth_gt', 'groundtruth', 'ground_truth')
_NAME_TOKENS = re.compile(r'(sync_)?(depth|color|colour|rgb|image|frame|gt)', re.IGNORECASE)


@dataclass
class Sample:
    """One evaluation pair: an RGB image and its metric ground truth."""

    name: str
    rgb_path: Path
    depth_path: Path
    camera: Optional[CameraSpec] = None  # None: the dataset's camera
    depth_scale: Optional[float] = None  # None: the protocol's / the user's


def pairing_key(path: Path) -> str:
    """Key that matches ``rgb_00050.jpg`` with ``sync_depth_00050.png`` (last number)."""
    numbers = re.findall(r'\d+', path.stem)
    if numbers:
        return str(int(numbers[-1]))
    return _NAME_TOKENS.sub('', path.stem).strip('_-. ').lower()


def _resolve(root: Path, relative: str) -> Optional[Path]:
    parts = Path(relative).parts
    for i in range(len(parts)):
        candidate = root.joinpath(*parts[i:])
        if candidate.is_file():
            return candidate
    return None


def _annotated_samples(root: Path, index: Path) -> List[Sample]:
    try:
        files = json.loads(index.read_text(encoding='utf-8'))['files']
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OfflineInputError(f'cannot read {index}: {exc}') from None
    samples = []
    for entry in files:
        rgb = _resolve(root, entry['rgb'])
        depth = _resolve(root, entry['depth'])
        if rgb is None or depth is None:
            continue
        camera = None
        if entry.get('cam_in'):
            fx, fy, cx, cy = (float(v) for v in entry['cam_in'][:4])
            camera = CameraSpec(fx=fx, fy=fy, cx=cx, cy=cy)
        scale = entry.get('depth_scale')
        samples.append(Sample(rgb.stem, rgb, depth, camera,
                              float(scale) if scale else None))
    return sorted(samples, key=lambda s: natural_key(s.rgb_path))


def find_samples(root) -> List[Sample]:
    """
    Find RGB / ground-truth pairs in a dataset folder.

    Layouts, tried in order: a Metric3D-style ``test_annotations.json`` index
    (per-file intrinsics and depth scale); ``rgb/`` (or ``color/``, ``image/``)
    beside ``depth/`` (or ``gt/``); one folder with colour images and files
    named ``*depth*``. Pairs match by file stem or by the last number in it
    (``rgb_00050.jpg`` <-> ``sync_depth_00050.png``). Ground truth: 16-bit PNG
    or ``.npy`` metres.
    """
    root = Path(root)
    if not root.is_dir():
        raise OfflineInputError(f'{root} is not a folder')
    index = root / 'test_annotations.json'
    if index.is_file():
        samples = _annotated_samples(root, index)
        if samples:
            return samples
    depth_dir = next((root / d for d in DEPTH_DIRS if (root / d).is_dir()), None)
    if depth_dir is not None:
        rgb_dir = next((root / d for d in RGB_DIRS if (root / d).is_dir()), root)
        images = [p for p in list_files(rgb_dir, IMAGE_EXTENSIONS)]
        depths = list_files(depth_dir, ('.png', '.npy', '.tif', '.tiff'))
    else:
        files = list_files(root, IMAGE_EXTENSIONS + ('.npy',))
        depths = [p for p in files if 'depth' in p.stem.lower()]
        images = [p for p in files if 'depth' not in p.stem.lower() and p.suffix != '.npy']
    by_key = {}
    for depth in depths:
        by_key.setdefault(pairing_key(depth), depth)
    by_stem = {d.stem: d for d in depths}
    samples = []
    for image in images:
        depth = by_stem.get(image.stem) or by_key.get(pairing_key(image))
        if depth is not None and depth != image:
            samples.append(Sample(image.stem, image, depth))
    if not samples:
        raise OfflineInputError(
            f'no RGB / depth pairs found in {root}; expected rgb/ + depth/ folders, a '
            'test_annotations.json, or files named *depth* next to the images')
    return samples


def find_prediction(folder: Path, name: str) -> Optional[Path]:
    """Return the prediction file for sample ``name`` in ``folder`` (npy metres or PNG mm)."""
    for candidate in (f'{name}.npy', f'{name}_depth.npy', f'{name}_depth.png', f'{name}.png'):
        path = Path(folder) / candidate
        if path.is_file():
            return path
    return None
