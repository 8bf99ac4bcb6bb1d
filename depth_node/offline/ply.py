# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Point clouds as PLY files (binary little-endian), readable by MeshLab, CloudCompare, Open3D.

``write_ply`` stores ``x y z`` as float32 and, when colours are given,
``red green blue`` as uchar; points with a NaN or infinite coordinate are left
out. ``read_ply`` reads such files back (and other vertex-only PLY files,
binary or ASCII), for tests and tools.
"""

from pathlib import Path
from typing import BinaryIO, List, Optional, Tuple, Union

import numpy as np

_PLY_TYPES = {
    'char': 'i1', 'int8': 'i1', 'uchar': 'u1', 'uint8': 'u1',
    'short': 'i2', 'int16': 'i2', 'ushort': 'u2', 'uint16': 'u2',
    'int': 'i4', 'int32': 'i4', 'uint': 'u4', 'uint32': 'u4',
    'float': 'f4', 'float32': 'f4', 'double': 'f8', 'float64': 'f8',
}
_FORMATS = {'binary_little_endian': '<', 'binary_big_endian': '>', 'ascii': '='}


def write_ply(path: Union[str, Path], xyz: np.ndarray, rgb: Optional[np.ndarray] = None,
              comment: str = 'written by depth_node') -> int:
    """
    Write points (``N x 3`` or ``H x W x 3``) and optional colours as a binary PLY.

    ``rgb`` must hold one uint8 colour per point (same leading shape as
    ``xyz``). Returns the number of points written (non-finite ones are
    dropped).
    """
    points = np.asarray(xyz, dtype=np.float32)
    if points.shape[-1:] != (3,):
        raise ValueError(f'xyz must be N x 3, got shape {points.shape}')
    points = points.reshape(-1, 3)
    colors = None
    if rgb is not None:
        colors = np.asarray(rgb)
        if colors.dtype != np.uint8 or colors.shape[-1:] != (3,) or colors.size != points.size:
            raise ValueError(f'rgb must be N x 3 uint8 with N = {len(points)}, got '
                             f'{colors.dtype} {colors.shape}')
        colors = colors.reshape(-1, 3)
    keep = np.all(np.isfinite(points), axis=1)
    fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
    if colors is not None:
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    vertices = np.empty(int(keep.sum()), dtype=fields)
    for i, name in enumerate('xyz'):
        vertices[name] = points[keep, i]
    if colors is not None:
        for i, name in enumerate(('red', 'green', 'blue')):
            vertices[name] = colors[keep, i]
    header = ['ply', 'format binary_little_endian 1.0']
    if comment:
        header.append('comment ' + ' '.join(comment.split()))
    header.append(f'element vertex {len(vertices)}')
    header += [f"property {'float' if t == '<f4' else 'uchar'} {n}" for n, t in fields]
    header.append('end_header')
    with open(path, 'wb') as f:
        f.write(('\n'.join(header) + '\n').encode('ascii'))
        f.write(vertices.tobytes())
    return len(vertices)


def read_ply(path: Union[str, Path]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """
    Read the vertices of a PLY file: ``(xyz float32 N x 3, rgb uint8 N x 3 or None)``.

    Handles binary (either byte order) and ASCII files whose elements before
    ``vertex`` have fixed-size properties; colours are returned when the vertex
    element has ``red``, ``green`` and ``blue``.
    """
    with open(path, 'rb') as f:
        fmt, elements = _read_header(f)
        endian = _FORMATS[fmt]
        vertices = None
        for name, count, props in elements:
            if any(t is None for _, t in props):
                if name == 'vertex':
                    raise ValueError('PLY vertex element with list properties is not supported')
                if vertices is not None:
                    break  # list elements (faces) after the vertices are not needed
                raise ValueError(f"PLY element '{name}' before vertex has list properties")
            dtype = np.dtype([(p, endian + t) for p, t in props])
            if fmt == 'ascii':
                rows = [f.readline().split() for _ in range(count)]
                data = np.array([tuple(r) for r in rows], dtype=dtype) if count else \
                    np.empty(0, dtype)
            else:
                raw = f.read(dtype.itemsize * count)
                if len(raw) != dtype.itemsize * count:
                    raise ValueError(f"PLY file is truncated in element '{name}'")
                data = np.frombuffer(raw, dtype=dtype)
            if name == 'vertex':
                vertices = data
                break
    if vertices is None:
        raise ValueError('PLY file has no vertex element')
    names = vertices.dtype.names
    xyz = np.stack([vertices[n] for n in 'xyz'], axis=1).astype(np.float32)
    rgb = None
    if all(n in names for n in ('red', 'green', 'blue')):
        rgb = np.stack([vertices[n] for n in ('red', 'green', 'blue')], axis=1).astype(np.uint8)
    return xyz, rgb


def _read_header(f: BinaryIO) -> Tuple[str, List[Tuple[str, int, list]]]:
    """Parse the header: format and elements ``(name, count, [(prop, dtype or None)])``."""
    if f.readline().strip() != b'ply':
        raise ValueError('not a PLY file (no "ply" magic line)')
    fmt = None
    elements = []
    while True:
        line = f.readline()
        if not line:
            raise ValueError('PLY header has no end_header line')
        words = line.decode('ascii', errors='replace').split()
        if not words or words[0] in ('comment', 'obj_info'):
            continue
        if words[0] == 'end_header':
            break
        if words[0] == 'format':
            fmt = words[1]
            if fmt not in _FORMATS:
                raise ValueError(f'unsupported PLY format {fmt!r}')
        elif words[0] == 'element':
            elements.append((words[1], int(words[2]), []))
        elif words[0] == 'property':
            if not elements:
                raise ValueError('PLY property before any element')
            if words[1] == 'list':
                elements[-1][2].append((words[-1], None))
            elif words[1] in _PLY_TYPES:
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            else:
                raise ValueError(f'unknown PLY property type {words[1]!r}')
    if fmt is None:
        raise ValueError('PLY header has no format line')
    return fmt, elements
