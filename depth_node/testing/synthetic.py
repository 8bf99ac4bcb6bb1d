# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
A small vectorised ray caster for synthetic RGB + exact metric depth.

Renders a textured room (floor, ceiling, four walls, a few axis-aligned boxes)
seen by a pinhole camera, giving an RGB image and the exact depth of every
pixel centre. Used to make the bundled sample stream (``tools/make_sample.py``)
and as ground truth in geometry tests. Pure numpy: no rclpy, no torch.

Conventions:

* Camera: REP 103 optical frame (x right, y down, z forward); depth is the z
  coordinate of the hit point in that frame (REP 118), in metres.
* Scene ("world") coordinates use the axes of a level camera: x right, y down,
  z forward. The floor is the plane ``y = 0`` and the ceiling ``y = -height``,
  so a level camera at ``y = -h`` sees the floor at ``y = +h`` in its frame.
* A :class:`Pose` maps camera coordinates to world coordinates:
  ``X_world = rotation @ X_camera + translation`` (the columns of ``rotation``
  are the camera axes expressed in the world; ``translation`` is the optical
  centre).
"""

from dataclasses import dataclass, field
import math
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

#: Surface ids of the room, as returned per pixel by :func:`render_ids`.
FLOOR, CEILING, WALL_LEFT, WALL_RIGHT, WALL_BACK, WALL_FRONT = range(6)
#: Id of the first box; box ``k`` of a scene has id ``FIRST_BOX + k``.
FIRST_BOX = 6

#: Camera of the bundled sample stream (``depth_node/sample``, ``tools/make_sample.py``).
SAMPLE_CAMERA = {'width': 640, 'height': 480, 'fx': 525.0, 'fy': 525.0, 'cx': 319.5,
                 'cy': 239.5}
#: Number of frames in the bundled sample stream.
SAMPLE_FRAMES = 8


@dataclass(frozen=True, eq=False)
class Pose:
    """Camera-to-world rigid transform (see the module docstring)."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @classmethod
    def look_at(cls, eye: Sequence[float], target: Sequence[float],
                up: Sequence[float] = (0.0, -1.0, 0.0)) -> 'Pose':
        """
        Return the pose of a camera at ``eye`` whose optical axis points at ``target``.

        ``up`` is the world's up direction (``-y`` in scene coordinates); the
        image's x axis stays horizontal (no roll).
        """
        eye = np.asarray(eye, dtype=np.float64)
        z = np.asarray(target, dtype=np.float64) - eye
        z /= np.linalg.norm(z)
        x = np.cross(z, np.asarray(up, dtype=np.float64))
        norm = np.linalg.norm(x)
        if norm < 1e-9:
            raise ValueError('look_at: viewing direction is parallel to up')
        x /= norm
        y = np.cross(z, x)
        return cls(np.stack([x, y, z], axis=1), eye)


@dataclass(frozen=True)
class Box:
    """A solid axis-aligned box in scene coordinates with a base colour (RGB 0..1)."""

    lo: Tuple[float, float, float]
    hi: Tuple[float, float, float]
    color: Tuple[float, float, float]
    pattern: str = 'plain'  # 'plain' | 'checker' | 'stripes'


@dataclass(frozen=True)
class Scene:
    """A room (axis-aligned, camera inside), its boxes and one point light."""

    room_lo: Tuple[float, float, float] = (-2.6, -2.7, -1.0)
    room_hi: Tuple[float, float, float] = (2.6, 0.0, 6.5)
    boxes: Tuple[Box, ...] = (
        Box((-1.7, -0.75, 2.2), (-0.5, 0.0, 3.2), (0.62, 0.30, 0.22), 'stripes'),
        Box((-1.3, -1.05, 2.5), (-1.0, -0.75, 2.8), (0.20, 0.45, 0.80), 'checker'),
        Box((0.25, -0.5, 1.9), (0.75, 0.0, 2.4), (0.85, 0.70, 0.20), 'checker'),
        Box((1.3, -1.9, 4.3), (2.6, 0.0, 5.1), (0.80, 0.80, 0.78), 'stripes'),
    )
    light: Tuple[float, float, float] = (0.0, -2.55, 2.5)


def pixel_rays(width: int, height: int, fx: float, fy: float, cx: float,
               cy: float) -> np.ndarray:
    """Return ``H x W x 3`` camera-frame rays through pixel centres, scaled to ``z = 1``."""
    u = (np.arange(width, dtype=np.float64) - cx) / fx
    v = (np.arange(height, dtype=np.float64) - cy) / fy
    rays = np.empty((height, width, 3))
    rays[:, :, 0] = u[None, :]
    rays[:, :, 1] = v[:, None]
    rays[:, :, 2] = 1.0
    return rays


def render_plane(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                 normal: Sequence[float], distance: float) -> np.ndarray:
    """
    Return the exact depth (float32 metres, NaN where missed) of the plane ``n . X = d``.

    The plane is given in the camera's optical frame by a normal ``n`` (any
    length; normalised here) and ``d = distance``, its signed distance from the
    optical centre along ``n``. Pixels whose ray is parallel to the plane or
    meets it behind the camera are NaN.
    """
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    denom = pixel_rays(width, height, fx, fy, cx, cy) @ n
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = distance / denom
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth.astype(np.float32)


def render(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
           pose: Optional[Pose] = None,
           scene: Optional[Scene] = None) -> Tuple[np.ndarray, np.ndarray]:
    """
    Render ``scene`` seen from ``pose``: return ``(rgb uint8 HxWx3, depth float32 HxW)``.

    Depth is exact at every pixel centre (metres along the optical axis) and
    finite wherever the camera is inside the room.
    """
    scene = scene or Scene()
    hits = _cast(width, height, fx, fy, cx, cy, pose or Pose(), scene)
    albedo = _albedo(hits, fx, scene)
    shade = _shade(hits, scene)
    # Shade linear light, gamma-encode (approximately sRGB) and quantise.
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    for c in range(3):
        channel = np.clip(albedo[c] * shade, 0.0, 1.0) ** (1.0 / 2.2)
        rgb[:, :, c] = (channel * 255.0 + 0.5).astype(np.uint8).reshape(height, width)
    return rgb, hits.depth.reshape(height, width).astype(np.float32)


def render_ids(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
               pose: Optional[Pose] = None, scene: Optional[Scene] = None) -> np.ndarray:
    """Return the ``H x W`` surface id seen at each pixel (``FLOOR`` ... ``FIRST_BOX + k``)."""
    hits = _cast(width, height, fx, fy, cx, cy, pose or Pose(), scene or Scene())
    return hits.ids.reshape(height, width)


def render_surfaces(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                    pose: Optional[Pose] = None,
                    scene: Optional[Scene] = None) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return ``(depth, grazing)``: the exact depth and how the camera sees each surface.

    ``depth`` is :func:`render`'s (float32 metres), without the shading, so a 4K
    frame takes seconds; ``grazing`` (float32 degrees) is the angle between each
    pixel's line of sight and the plane it hits: 90 for a surface facing the
    camera, near 0 for one seen edge-on.
    """
    pose = pose or Pose()
    hits = _cast(width, height, fx, fy, cx, cy, pose, scene or Scene())
    rot = np.asarray(pose.rotation, dtype=np.float64)
    u = (np.arange(width, dtype=np.float64) - cx) / fx
    v = (np.arange(height, dtype=np.float64) - cy) / fy
    cam = (np.tile(u, height), np.repeat(v, width))
    # The hit plane's normal is its world axis: the ray's component along it over its length.
    dirs = [rot[i, 0] * cam[0] + rot[i, 1] * cam[1] + rot[i, 2] for i in range(3)]
    along = np.choose(hits.axis, dirs)
    sine = np.abs(along) / np.sqrt(dirs[0] ** 2 + dirs[1] ** 2 + dirs[2] ** 2)
    grazing = np.degrees(np.arcsin(np.minimum(sine, 1.0)))
    return (hits.depth.reshape(height, width).astype(np.float32),
            grazing.reshape(height, width).astype(np.float32))


def sample_trajectory(n: int) -> Tuple[Pose, ...]:
    """
    Return ``n`` poses of a camera moving slowly through the default room.

    The camera, 1.3 m above the floor and pitched slightly down, slides 0.9 m
    to the right and 0.3 m forward while panning left a little, so successive
    frames overlap strongly (like a hand-held camera at walking pace, ~10 Hz).
    """
    if n < 1:
        raise ValueError(f'sample_trajectory needs n >= 1, got {n}')
    poses = []
    for i in range(n):
        s = i / max(n - 1, 1)
        eye = (-0.55 + 0.9 * s, -1.3 + 0.03 * math.sin(math.pi * s), 0.3 * s)
        target = (0.35 - 0.8 * s, -0.55, 4.0)
        poses.append(Pose.look_at(eye, target))
    return tuple(poses)


# --------------------------------------------------------------------------- casting

class _Hits(NamedTuple):
    """First hit of every pixel's ray; flat arrays of N = H x W (structure of arrays)."""

    depth: np.ndarray  # ray parameter = camera z, metres
    ids: np.ndarray  # surface id
    axis: np.ndarray  # 0, 1, 2: world axis the hit plane is normal to
    sign: np.ndarray  # +-1: direction of the normal (towards the camera) along ``axis``
    xyz: Tuple[np.ndarray, np.ndarray, np.ndarray]  # world hit point


def _cast(width, height, fx, fy, cx, cy, pose, scene) -> _Hits:
    """Intersect every pixel's ray with the room and its boxes."""
    rot = np.asarray(pose.rotation, dtype=np.float64)
    origin = np.asarray(pose.translation, dtype=np.float64)
    lo = np.asarray(scene.room_lo, dtype=np.float64)
    hi = np.asarray(scene.room_hi, dtype=np.float64)
    if np.any(origin <= lo) or np.any(origin >= hi):
        raise ValueError('the camera must be inside the room')
    # World rays; because each camera ray has z = 1, the ray parameter is the depth.
    u = (np.arange(width, dtype=np.float64) - cx) / fx
    v = (np.arange(height, dtype=np.float64) - cy) / fy
    cam = (np.tile(u, height), np.repeat(v, width))
    dirs = [rot[i, 0] * cam[0] + rot[i, 1] * cam[1] + rot[i, 2] for i in range(3)]

    # Room: the exit point is on the nearest of the three walls the ray heads for.
    # Room surfaces: x- left, x+ right, y- ceiling, y+ floor, z- front, z+ back.
    room_ids = ((WALL_LEFT, WALL_RIGHT), (CEILING, FLOOR), (WALL_FRONT, WALL_BACK))
    depth = np.full(len(cam[0]), np.inf)
    ids = np.zeros(len(depth), dtype=np.int64)
    axis = np.zeros(len(depth), dtype=np.int64)
    plane = np.zeros(len(depth))
    sign = np.zeros(len(depth))
    for i in range(3):
        d = dirs[i]
        with np.errstate(divide='ignore', invalid='ignore'):
            t = np.where(d > 0, (hi[i] - origin[i]) / d,
                         np.where(d < 0, (lo[i] - origin[i]) / d, np.inf))
        closer = t < depth
        depth = np.where(closer, t, depth)
        ids = np.where(closer, np.where(d > 0, room_ids[i][1], room_ids[i][0]), ids)
        axis = np.where(closer, i, axis)
        plane = np.where(closer, np.where(d > 0, hi[i], lo[i]), plane)
        sign = np.where(closer, np.where(d > 0, -1.0, 1.0), sign)

    for k, box in enumerate(scene.boxes):
        t_near, t_far, near_axis, toward = _slab(origin, dirs, box)
        hit = (t_near <= t_far) & (t_near > 1e-9) & (t_near < depth)
        depth = np.where(hit, t_near, depth)
        ids = np.where(hit, FIRST_BOX + k, ids)
        axis = np.where(hit, near_axis, axis)
        box_lo = np.asarray(box.lo, dtype=np.float64)[near_axis]
        box_hi = np.asarray(box.hi, dtype=np.float64)[near_axis]
        plane = np.where(hit, np.where(toward, box_lo, box_hi), plane)
        sign = np.where(hit, np.where(toward, -1.0, 1.0), sign)

    xyz = []
    for i in range(3):
        # Put hit points exactly on their plane (texture seams, exact floor height).
        xyz.append(np.where(axis == i, plane, origin[i] + dirs[i] * depth))
    return _Hits(depth, ids, axis, sign, tuple(xyz))


def _slab(origin, dirs, box):
    """
    Slab test of rays ``origin + t dirs`` against ``box``.

    ``origin`` holds one point or one point per ray (per component); ``dirs``
    three component arrays. Returns ``(t_near, t_far, near_axis, toward)`` where
    ``near_axis`` is the axis of the entry face and ``toward`` whether the ray
    travels in +axis there (so it enters through the box's ``lo`` face).
    """
    t_near = t_far = near_axis = toward = None
    for i in range(3):
        d = dirs[i]
        with np.errstate(divide='ignore', invalid='ignore'):
            inv = 1.0 / d
            t1 = (box.lo[i] - origin[i]) * inv
            t2 = (box.hi[i] - origin[i]) * inv
        t_min = np.fmin(t1, t2)
        t_max = np.fmax(t1, t2)
        if t_near is None:
            t_near, t_far = t_min, t_max
            near_axis = np.zeros(len(d), dtype=np.int64)
            toward = d > 0
            continue
        later = t_min > t_near
        t_near = np.where(later, t_min, t_near)
        near_axis = np.where(later, i, near_axis)
        toward = np.where(later, d > 0, toward)
        t_far = np.fmin(t_far, t_max)
    return t_near, t_far, near_axis, toward


# --------------------------------------------------------------------------- shading

def _hash01(ix, iy, seed):
    """Deterministic per-lattice-point pseudo-random values in [0, 1)."""
    h = (ix * 374761393 + iy * 668265263 + seed * 144665) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h ^= h >> 16
    return h * (1.0 / 4294967296.0)


def _value_noise(a, b, scale, seed):
    """Smooth value noise in [0, 1) over surface coordinates ``(a, b)`` (metres)."""
    x = a / scale
    y = b / scale
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    fx = fx * fx * (3.0 - 2.0 * fx)
    fy = fy * fy * (3.0 - 2.0 * fy)
    ix = x0.astype(np.int64)
    iy = y0.astype(np.int64)
    v00 = _hash01(ix, iy, seed)
    v10 = _hash01(ix + 1, iy, seed)
    v01 = _hash01(ix, iy + 1, seed)
    v11 = _hash01(ix + 1, iy + 1, seed)
    return (v00 + (v10 - v00) * fx) * (1.0 - fy) + (v01 + (v11 - v01) * fx) * fy


def _fbm(a, b, scale, seed, octaves=2):
    """Fractal (multi-octave) value noise in [0, 1)."""
    total = np.zeros_like(a)
    weight = 0.0
    amp = 1.0
    for i in range(octaves):
        total += amp * _value_noise(a, b, scale / 2 ** i, seed + 17 * i)
        weight += amp
        amp *= 0.5
    return total / weight


def _filtered_checker(a, b, tile, footprint):
    """Checkerboard in [-1, 1] whose contrast fades where a pixel covers a tile or more."""
    checker = ((np.floor(a / tile) + np.floor(b / tile)) % 2) * 2.0 - 1.0
    return checker * np.clip(1.5 - 2.0 * footprint / tile, 0.0, 1.0)


def _albedo(hits, fx, scene):
    """Return the base colour (linear RGB, 3 x N) of each hit from procedural textures."""
    x, y, z = hits.xyz
    ids = hits.ids
    # Texture coordinates on each hit's own plane (metres).
    a = np.where(hits.axis == 0, z, x)
    b = np.where(hits.axis == 1, z, y)
    # Approximate size of one pixel on the surface, to fade detail finer than a pixel.
    footprint = hits.depth / fx
    grain = _fbm(a, b, 0.6, seed=1)
    out = np.empty((3, len(ids)))

    def paint(mask, color, gain):
        for c in range(3):
            value = color[c] * gain
            out[c][mask] = value[mask] if np.ndim(value) else value

    # Floor: planks 0.2 m wide along z, each its own shade, with stretched grain and seams.
    floor = ids == FLOOR
    plank = np.floor(x / 0.2).astype(np.int64)
    plank_shade = 0.8 + 0.35 * _hash01(plank, 0, 5)
    wood_grain = _value_noise(x * 6.0, z * 0.5, 0.4, seed=9)
    seam = np.abs(x / 0.2 - np.round(x / 0.2)) * 0.2
    seam_dark = 1.0 - 0.5 * np.clip(1.0 - seam / np.maximum(0.006, footprint), 0.0, 1.0)
    paint(floor, (0.50, 0.30, 0.15), plank_shade * (0.8 + 0.4 * wood_grain) * seam_dark)

    # Ceiling: off-white with faint blotches.
    paint(ids == CEILING, (0.85, 0.85, 0.82), 0.9 + 0.15 * grain)

    # Walls: plaster colours with a vertical gradient, noise, and a dark skirting board.
    wall_colors = {
        WALL_LEFT: (0.55, 0.68, 0.55),
        WALL_RIGHT: (0.78, 0.70, 0.55),
        WALL_BACK: (0.55, 0.62, 0.75),
        WALL_FRONT: (0.70, 0.70, 0.70),
    }
    room_height = scene.room_hi[1] - scene.room_lo[1]
    plaster = (0.85 + 0.25 * (y - scene.room_lo[1]) / room_height) * (0.85 + 0.3 * grain)
    for wall, color in wall_colors.items():
        paint(ids == wall, color, plaster)
    is_wall = (ids >= WALL_LEFT) & (ids <= WALL_FRONT)
    paint(is_wall & (y > -0.12), (0.25, 0.22, 0.2), 1.0)

    # A checkerboard poster and a horizontal-gradient panel on the back wall.
    on_back = ids == WALL_BACK
    poster = on_back & (np.abs(x + 0.6) < 0.7) & (np.abs(y + 1.55) < 0.5)
    paint(poster, (1.0, 1.0, 1.0), 0.5 + 0.42 * _filtered_checker(x + 0.6, y + 1.55, 0.1,
                                                                  footprint))
    panel = on_back & (np.abs(x - 1.0) < 0.45) & (np.abs(y + 1.6) < 0.3)
    ramp = np.clip((x - 0.55) / 0.9, 0.0, 1.0)
    paint(panel, (1.0, 1.0, 1.0), 1.0)
    for c, value in enumerate((0.1 + 0.9 * ramp, 0.3 + 0.2 * ramp, 0.9 - 0.8 * ramp)):
        out[c][panel] = value[panel]

    # Boxes: base colour with their pattern.
    for k, box in enumerate(scene.boxes):
        mask = ids == FIRST_BOX + k
        if not np.any(mask):
            continue
        if box.pattern == 'checker':
            mod = 1.0 + 0.3 * _filtered_checker(a, b, 0.1, footprint)
        elif box.pattern == 'stripes':
            fade = np.clip(1.5 - 2.0 * footprint / 0.075, 0.0, 1.0)
            mod = 1.0 + 0.12 * np.sin(2.0 * np.pi * b / 0.15) * fade
        else:
            mod = 1.0
        paint(mask, box.color, mod * (0.9 + 0.2 * grain))
    return out


def _shade(hits, scene):
    """Lambertian shading from the scene's point light, with box shadows and ambient."""
    light = scene.light
    # Normal = sign along the hit axis; start shadow rays just off the surface.
    to_light = []
    start = []
    for i in range(3):
        normal_i = np.where(hits.axis == i, hits.sign, 0.0)
        to_light.append(light[i] - hits.xyz[i])
        start.append(hits.xyz[i] + normal_i * 1e-4)
    dist2 = to_light[0] ** 2 + to_light[1] ** 2 + to_light[2] ** 2
    facing = np.choose(hits.axis, to_light) * hits.sign
    lambert = np.clip(facing / np.sqrt(dist2), 0.0, 1.0)
    lit = lambert > 0
    for box in scene.boxes:
        t_near, t_far, _, _ = _slab(start, to_light, box)
        lit &= ~((t_near <= t_far) & (t_far > 1e-6) & (t_near < 1.0))
    direct = lambert * lit * (9.0 / (4.0 + dist2))
    return 0.35 + 0.8 * direct
