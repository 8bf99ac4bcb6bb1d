# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
What ``depth_node_bench`` measures the payloads against, in the same run: the calibration.

A figure in milliseconds holds only on the machine and at the load it was
taken; a ratio to work measured at the same moment holds much better. So the
bench times, interleaved with the package's own payload stage and in a shuffled
order each round, two references of the same sizes:

- the **minimal reference** (:class:`MinimalReference`): only the work no
  implementation can skip, written the plain numpy way: back-projection with
  rays computed once into a contiguous ``H x W x 4`` float32 buffer (x, y, z
  and packed rgb, 16 B per point), plus the depth image bytes copied into an
  ``H x W`` float32 buffer, both buffers made once (allocating is no
  unavoidable work, and the package reuses its buffers too); no validity
  masks, no edge filter, no scan, no messages;
- the **copy floor** (:class:`CopyFloor`): ``np.copyto`` of as many bytes
  (cloud and depth image) between buffers allocated once: what moving the
  output bytes through memory costs at the least.

The buffers of both are message buffers (``array.array('B')``) as the package's.

The package's side is :meth:`~depth_node.frame.FrameProcessor.finish` of a
prediction made once per size (the node's path after the model: edge filter,
depth image, cloud, scan, as the run's options say, without the colourised
depth), the ``sensor_msgs`` fills when sensor_msgs is importable, and dropping
the frame's outputs again; once more without the edge filter (its share is its
own). Every candidate is timed with :func:`time.thread_time` (CPU time of this
thread: what other processes take from the machine is not counted), and
ratios are medians of the ratios paired within one round; the payload's own
stages are timed on the same clock. Each round also runs one whole frame per
size (:meth:`~depth_node.frame.FrameProcessor.process`), its stages timed
with :func:`time.process_time` (CPU time of all the process's threads: the
network and OpenCV's resize use several); with the payload stages they give
the per-megapixel fit (:func:`linear_fit`).
"""

import dataclasses
import math
import os
import random
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..camera import pinhole_camera_info
from ..msgfill import byte_buffer, byte_view
from ..timing import ClockTimes, stage

#: The candidates of one round: (key, label).
CANDIDATES = (
    ('package', 'package'),
    ('package_no_filter', 'no filter'),
    ('minimal', 'minimal'),
    ('floor', 'floor'),
)

#: A round times the candidates of a size until about this many megapixels went through
#: (at most MAX_REPEATS times): small frames take little time, so more samples.
REPEAT_MEGAPIXELS = 2.0
MAX_REPEATS = 5

#: The sizes of doc/performance.md's tables.
README_SIZES = ((640, 480), (1280, 720), (1920, 1080), (3840, 2160))


class MinimalReference:
    """The least work of a frame's cloud and depth image, the plain numpy way (see above)."""

    def __init__(self, intr, pixels: np.ndarray, rgb_order: Sequence[int] = (0, 1, 2)):
        self.shape = (intr.height, intr.width)
        u = np.arange(intr.width, dtype=np.float64)
        v = np.arange(intr.height, dtype=np.float64)
        self.rx = ((u - intr.cx) / intr.fx).astype(np.float32)[None, :]
        self.ry = ((v - intr.cy) / intr.fy).astype(np.float32)[:, None]
        self.pixels = pixels
        self.rgb_order = tuple(rgb_order)
        # Made once, as the package reuses its buffers: allocating is no unavoidable work,
        # and what a new buffer costs depends on the allocator's state (a noisy reference).
        # Message buffers as the package's (array.array: numpy's own large arrays may get
        # transparent huge pages, which changed the strided writes' cost 1.6x between runs).
        self._cloud = _message_array((intr.height, intr.width, 4))
        self._image = _message_array((intr.height, intr.width))

    def run(self, depth: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(cloud H x W x 4 float32, depth H x W float32)``, written into the buffers."""
        height, width = self.shape
        cloud = self._cloud
        np.multiply(self.rx, depth, out=cloud[..., 0])
        np.multiply(self.ry, depth, out=cloud[..., 1])
        cloud[..., 2] = depth
        raw = cloud.view(np.uint8).reshape(height, width, 16)
        red, green, blue = self.rgb_order
        raw[..., 12] = self.pixels[..., blue]
        raw[..., 13] = self.pixels[..., green]
        raw[..., 14] = self.pixels[..., red]
        raw[..., 15] = 0
        image = self._image
        np.copyto(image, depth)
        return cloud, image


class CopyFloor:
    """``np.copyto`` of a cloud's and a depth image's bytes between buffers made once."""

    def __init__(self, width: int, height: int):
        shapes = ((height, width, 4), (height, width))
        self._src = [_message_array(shape) for shape in shapes]
        self._dst = [_message_array(shape) for shape in shapes]
        for src in self._src:
            src.fill(1.0)

    def run(self) -> None:
        """Copy the bytes once."""
        for dst, src in zip(self._dst, self._src):
            np.copyto(dst, src)


def _message_array(shape) -> np.ndarray:
    """Return a float32 array of ``shape`` in a zero-filled ``array.array('B')`` (paged in)."""
    return byte_view(byte_buffer(4 * int(np.prod(shape))), np.float32, shape)


def linear_fit(megapixels: Sequence[float], ms: Sequence[float]) -> Optional[Dict[str, float]]:
    """
    Return the least-squares line ``ms = ms_per_mp * megapixels + intercept_ms``, or None.

    None for fewer than two distinct sizes. ``r2`` is the coefficient of
    determination (1: on the line; also 1 when every value is the same).
    """
    x = np.asarray(megapixels, dtype=np.float64)
    y = np.asarray(ms, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0.0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (slope * x + intercept)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return {'ms_per_mp': round(float(slope), 3), 'intercept_ms': round(float(intercept), 3),
            'r2': round(1.0 - residual / total, 4) if total > 0 else 1.0}


def load_average() -> Optional[List[float]]:
    """Return the 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def parse_sizes(text: str) -> List[Tuple[int, int]]:
    """Return ``[(width, height), ...]`` of ``'640x480,1280x720'`` (``readme``: the guide's)."""
    if text.strip().lower() == 'readme':
        return list(README_SIZES)
    sizes = []
    for item in text.split(','):
        width, sep, height = item.strip().lower().partition('x')
        if not sep or not width.isdigit() or not height.isdigit() or min(
                int(width), int(height)) < 1:
            raise ValueError(f"a size is WIDTHxHEIGHT (e.g. 1280x720); got '{item.strip()}'")
        sizes.append((int(width), int(height)))
    return sizes


class _Size:
    """One size of the calibration: its processor, frame, prediction and references."""

    def __init__(self, model, width: int, height: int, opts, device_payloads, types):
        from .bench import image_message, synthetic_frames, synthetic_intrinsics
        from ..frame import FrameProcessor

        self.width, self.height = width, height
        self.types = types
        self.processor = FrameProcessor(model, device_payloads=device_payloads)
        # Whole frames: CPU time of every thread of the process (the network runs on several).
        self.processor.new_timings = lambda: ClockTimes(time.process_time)
        self.opts = opts
        self.no_filter = dataclasses.replace(opts, edge_filter=False)
        intr = synthetic_intrinsics(width, height)
        self.info = pinhole_camera_info(intr)
        pixels = synthetic_frames(width, height, count=1)[0]
        self.image = image_message(pixels)
        self.prepared = self.processor.prepare(self.image, self.info, opts)
        for _, result in model.predict_many([self.prepared.request]):
            if isinstance(result, BaseException):
                raise result
            self.result = result
        depth = result[0] if isinstance(result, tuple) else result
        if not isinstance(depth, np.ndarray):
            depth = depth.detach().float().cpu().numpy()
        self.host_depth = np.ascontiguousarray(depth, dtype=np.float32)
        self.reference = MinimalReference(intr, self.prepared.pixels, self.prepared.rgb_order)
        self.floor = CopyFloor(width, height)
        self.samples: Dict[str, List[float]] = {key: [] for key, _ in CANDIDATES}
        self.wall: Dict[str, List[float]] = {key: [] for key, _ in CANDIDATES}
        self.stages: Dict[str, List[float]] = {}
        self.frame_stages: Dict[str, List[float]] = {}
        for _ in range(2):  # rays, thresholds, scan bins and buffers made before timing
            self.package(opts)
            self.package(self.no_filter)

    @property
    def repeats(self) -> int:
        """Return how often a round times the candidates: small frames more (they are noisier)."""
        return max(1, min(MAX_REPEATS, math.ceil(REPEAT_MEGAPIXELS / self.megapixels)))

    @property
    def name(self) -> str:
        """Return ``WIDTHxHEIGHT``."""
        return f'{self.width}x{self.height}'

    @property
    def megapixels(self) -> float:
        """Return the frame's megapixels."""
        return self.width * self.height / 1e6

    def package(self, opts) -> dict:
        """Finish the prediction as the node does, fill its messages, drop it; return timings."""
        from .bench import fill_ros_messages

        timings = ClockTimes(time.thread_time)
        prepared = dataclasses.replace(self.prepared, opts=opts, timings=timings, events=[])
        out = self.processor.finish(prepared, self.result)
        if self.types is not None:
            fill_ros_messages(out, self.types, timings)
        with stage(timings, 'release'):
            del out
        return timings

    def measure(self, key: str) -> None:
        """Time one candidate, thread CPU time and wall time."""
        w0, t0 = time.perf_counter(), time.thread_time()
        if key == 'package':
            timings = self.package(self.opts)
        elif key == 'package_no_filter':
            self.package(self.no_filter)
        elif key == 'minimal':
            cloud, image = self.reference.run(self.host_depth)
            del cloud, image
        else:
            self.floor.run()
        t1, w1 = time.thread_time(), time.perf_counter()
        self.samples[key].append((t1 - t0) * 1000.0)
        self.wall[key].append((w1 - w0) * 1000.0)
        if key == 'package':
            for name, value in timings.items():
                self.stages.setdefault(name, []).append(value)

    def frame(self) -> None:
        """Run one whole image (model included) and keep its stage times."""
        out = self.processor.process(self.image, self.info, self.opts)
        for name, value in out.timings.items():
            self.frame_stages.setdefault(name, []).append(value)

    def report(self) -> dict:
        """Return this size's medians and paired ratios."""
        s = {key: np.asarray(v, dtype=np.float64) for key, v in self.samples.items()}

        def ratio(a: str, b: str) -> float:
            return round(float(np.median(s[a] / np.maximum(s[b], 1e-6))), 3)

        share = np.median((s['package'] - s['package_no_filter']) / np.maximum(
            s['package'], 1e-6))
        host = self.processor.payloads
        buffers = (getattr(host, 'depth_buffer', None), getattr(host.clouds, 'buffer', None))
        return {
            'size': self.name,
            'megapixels': round(self.megapixels, 4),
            **{f'{key}_ms': round(float(np.median(v)), 3) for key, v in s.items()},
            **{f'{key}_wall_ms': round(float(np.median(v)), 3) for key, v in self.wall.items()},
            'package_over_minimal': ratio('package', 'minimal'),
            'package_over_floor': ratio('package', 'floor'),
            'package_no_filter_over_minimal': ratio('package_no_filter', 'minimal'),
            'package_no_filter_over_floor': ratio('package_no_filter', 'floor'),
            'minimal_over_floor': ratio('minimal', 'floor'),
            'edge_filter_share': round(float(share), 3),
            'buffers_reused': None if None in buffers else {
                'depth': buffers[0].reused, 'cloud': buffers[1].reused,
                'made': buffers[0].made + buffers[1].made},
            'stages_ms': {k: round(float(np.median(v)), 3) for k, v in self.stages.items()},
            'frame_stages_ms': {k: round(float(np.median(v)), 3)
                                for k, v in self.frame_stages.items()},
        }


def calibrate(model, sizes: Sequence[Tuple[int, int]], opts, rounds: int, *,
              device_payloads=None, types=None, seed: int = 0) -> dict:
    """
    Return the calibration report of ``rounds`` interleaved rounds over ``sizes``.

    Each round visits the sizes in a shuffled order; per size it runs one whole
    frame and the four candidates (:data:`CANDIDATES`), also shuffled (several times
    for small frames, :attr:`_Size.repeats`). See
    the module docstring for what is compared and how.
    """
    opts = dataclasses.replace(opts, colored=False)
    start = load_average()
    cases = [_Size(model, w, h, opts, device_payloads, types) for w, h in sizes]
    rng = random.Random(seed)
    keys = [key for key, _ in CANDIDATES]
    for _ in range(int(rounds)):
        for case in rng.sample(cases, len(cases)):
            case.frame()
            for _ in range(case.repeats):
                for key in rng.sample(keys, len(keys)):
                    case.measure(key)
    reports = [case.report() for case in cases]
    fit = {}
    mp = [r['megapixels'] for r in reports]
    for key, _ in CANDIDATES:
        fit[key] = linear_fit(mp, [r[f'{key}_ms'] for r in reports])
    stage_keys = sorted(set().union(*(r['frame_stages_ms'] for r in reports)))
    for key in stage_keys:
        if all(key in r['frame_stages_ms'] for r in reports):
            fit[f'frame.{key}'] = linear_fit(mp, [r['frame_stages_ms'][key] for r in reports])
    for key in sorted(set().union(*(r['stages_ms'] for r in reports))):
        if all(key in r['stages_ms'] for r in reports):
            fit[f'payload.{key}'] = linear_fit(mp, [r['stages_ms'][key] for r in reports])
    return {
        'clock': 'time.thread_time',
        'rounds': int(rounds),
        'repeats': {case.name: case.repeats for case in cases},
        'load_average': {'start': start, 'end': load_average()},
        'sizes': reports,
        'fit': {key: value for key, value in fit.items() if value is not None},
    }


def format_calibration(cal: dict) -> List[str]:
    """Return the lines of the calibration table."""
    load = cal['load_average']

    def loads(values) -> str:
        return '/'.join(f'{v:.2f}' for v in values) if values else 'n/a'
    lines = ['', f"calibration: {cal['rounds']} interleaved rounds, CPU ms of this thread "
                 f"({cal['clock']}), medians; load average {loads(load['start'])} -> "
                 f"{loads(load['end'])} (1/5/15 min)"]
    head = (f"{'size':<11}{'MP':>6}{'package':>9}{'no filt.':>9}{'minimal':>9}{'floor':>8}"
            f"{'pkg/min':>9}{'pkg/floor':>10}{'nf/min':>8}{'min/floor':>10}{'filter':>8}")
    lines += [head, '-' * len(head)]
    for r in cal['sizes']:
        lines.append(
            f"{r['size']:<11}{r['megapixels']:>6.2f}{r['package_ms']:>9.2f}"
            f"{r['package_no_filter_ms']:>9.2f}{r['minimal_ms']:>9.2f}{r['floor_ms']:>8.2f}"
            f"{r['package_over_minimal']:>9.2f}{r['package_over_floor']:>10.2f}"
            f"{r['package_no_filter_over_minimal']:>8.2f}{r['minimal_over_floor']:>10.2f}"
            f"{100 * r['edge_filter_share']:>7.0f}%")
    if cal['fit']:
        lines += ['', 'ms per megapixel (least-squares fit over the sizes: ms = a * MP + b):',
                  f"{'stage':<28}{'a ms/MP':>10}{'b ms':>10}{'r2':>8}"]
        for key, f in cal['fit'].items():
            lines.append(f"{key:<28}{f['ms_per_mp']:>10.2f}{f['intercept_ms']:>10.2f}"
                         f"{f['r2']:>8.3f}")
    return lines
