# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Health of the node as numbers and one status: rates, drops, latency percentiles.

Without rclpy. The node feeds :class:`FrameStats` from its callbacks and
worker, and once a period turns a :meth:`FrameStats.report` into a
diagnostic_msgs/DiagnosticStatus: :func:`assess` picks the level (OK, WARN,
ERROR) and the message; :data:`KEYS` lists every value it carries (doc/operations.md,
Diagnostics).
"""

import collections
from dataclasses import dataclass, field
import math
import re
import threading
import time
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Tuple

#: DiagnosticStatus levels (diagnostic_msgs/DiagnosticStatus OK, WARN, ERROR).
OK, WARN, ERROR = 0, 1, 2

#: Why frames are dropped (the node's ``drops`` counter).
DROP_REASONS = ('superseded', 'idle', 'no_camera_info', 'bad_image', 'bad_camera_info',
                'bad_depth', 'cuda_oom', 'error')
#: Drops that are the node working as designed (newest frame wins, nobody listens).
BENIGN_DROPS = ('superseded', 'idle')
#: Drops that mean frames cannot be used as they come (input or device faults).
FAULT_DROPS = ('bad_image', 'bad_camera_info', 'bad_depth', 'cuda_oom', 'error')

#: Every key of the status's values, in order.
KEYS = (
    'state', 'model', 'model_family', 'device', 'precision', 'reference_focal_px',
    'network_input', 'input_transport', 'input_size', 'input_rate_hz', 'output_rate_hz',
    'rate_limit_hz', 'batch_size', 'frames_received', 'frames_published', 'frames_dropped',
) + tuple(f'dropped.{r}' for r in DROP_REASONS) + (
    'network_latency_p50_ms', 'network_latency_p95_ms',
    'end_to_end_latency_p50_ms', 'end_to_end_latency_p95_ms',
    'output_subscribers', 'memory_rss_mb', 'gpu_memory_allocated_mb',
    'gpu_memory_reserved_mb',
)


_NUMBERS = re.compile(r'[-+]?\d[\d.,eE+-]*')


def problem_kind(reason: str, text: str) -> Tuple[str, str]:
    """
    Return the throttling key of a log line: its reason and its text without numbers.

    Two different problems (a 16UC1 image, then a camera_info of another size)
    get lines of their own; the same problem with other sizes or stamps shares one.
    """
    return reason, _NUMBERS.sub('#', text)[:80]


class LogThrottle:
    """
    At most one log line per key every ``period_s`` seconds; the rest are counted.

    :meth:`allow` returns None for a line to suppress, else how many lines of the
    key were suppressed since the last one let through (to say so in the line).
    """

    def __init__(self, period_s: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 256):
        self.period_s = float(period_s)
        self.clock = clock
        self.max_keys = int(max_keys)
        self._lock = threading.Lock()
        self._last: Dict[Hashable, float] = {}
        self._suppressed: Dict[Hashable, int] = {}

    def allow(self, key: Hashable) -> Optional[int]:
        """Return None to suppress a line of ``key`` now, else the count suppressed before it."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            if key not in self._last and len(self._last) >= self.max_keys:
                oldest = min(self._last, key=self._last.get)
                del self._last[oldest]
                self._suppressed.pop(oldest, None)
            self._last[key] = now
            return self._suppressed.pop(key, 0)


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile of ``values`` (q in 0..100), interpolating linearly."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class LatencyWindow:
    """Latency samples (ms) of the last ``window_s`` seconds, at most ``max_samples``."""

    def __init__(self, window_s: float = 5.0, max_samples: int = 1000):
        self.window_s = float(window_s)
        self._samples = collections.deque(maxlen=int(max_samples))

    def add(self, value_ms: float, now: float) -> None:
        """Add one sample taken at monotonic time ``now``."""
        self._samples.append((now, float(value_ms)))

    def percentiles(self, now: float, qs: Sequence[float] = (50.0, 95.0)) -> Tuple[float, ...]:
        """Return the percentiles of the window's samples (NaN when there are none)."""
        while self._samples and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        values = [v for _, v in self._samples]
        return tuple(percentile(values, q) for q in qs)

    def __len__(self) -> int:
        return len(self._samples)


@dataclass
class Report:
    """Counts over the whole run and over the last period, and latency percentiles."""

    period_s: float
    received: int
    published: int
    drops: Dict[str, int]
    period_received: int
    period_published: int
    period_drops: Dict[str, int]
    network_ms: Tuple[float, float]
    end_to_end_ms: Tuple[float, float]

    @property
    def input_rate(self) -> float:
        """Return frames received per second over the last period."""
        return self.period_received / self.period_s if self.period_s > 0 else 0.0

    @property
    def output_rate(self) -> float:
        """Return frames published per second over the last period."""
        return self.period_published / self.period_s if self.period_s > 0 else 0.0


@dataclass
class FrameStats:
    """
    Thread-safe frame accounting: every received frame is published or dropped for a reason.

    ``received == published + sum(drops) + frames in flight`` at any time.
    """

    latency_window_s: float = 5.0
    received: int = 0
    published: int = 0
    drops: collections.Counter = field(default_factory=collections.Counter)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._network = LatencyWindow(self.latency_window_s)
        self._end_to_end = LatencyWindow(self.latency_window_s)
        self._last: Optional[Tuple[float, int, int, collections.Counter]] = None

    def count_received(self) -> None:
        """Count one frame taken in by a callback."""
        with self._lock:
            self.received += 1

    def count_drop(self, reason: str) -> None:
        """Count one dropped frame."""
        with self._lock:
            self.drops[reason] += 1

    def count_published(self, network_ms: float, end_to_end_ms: float, now: float) -> None:
        """Count one published frame with its network and end-to-end latency."""
        with self._lock:
            self.published += 1
            self._network.add(network_ms, now)
            self._end_to_end.add(end_to_end_ms, now)

    def report(self, now: float) -> Report:
        """Return the totals and what changed since the previous report."""
        with self._lock:
            drops = collections.Counter(self.drops)
            if self._last is None:
                last_t, last_rx, last_pub, last_drops = now, 0, 0, collections.Counter()
            else:
                last_t, last_rx, last_pub, last_drops = self._last
            self._last = (now, self.received, self.published, drops)
            period_drops = drops - last_drops
            return Report(
                period_s=now - last_t, received=self.received, published=self.published,
                drops=dict(drops), period_received=self.received - last_rx,
                period_published=self.published - last_pub, period_drops=dict(period_drops),
                network_ms=self._network.percentiles(now),
                end_to_end_ms=self._end_to_end.percentiles(now))


def assess(state: str, report: Report, image_topic: str = 'image',
           info_topic: str = 'camera_info') -> Tuple[int, str]:
    """
    Return ``(level, message)`` of the node from its lifecycle state and last period.

    ERROR: no model loaded, or every frame of the period failed (bad input,
    CUDA OOM, errors). WARN: inactive, no images, no camera_info, or some
    frames failed. OK: publishing, or idle because nobody subscribes.
    """
    if state == 'unconfigured':
        return ERROR, 'unconfigured: no model loaded (lifecycle configure loads it)'
    if state == 'finalized':
        return ERROR, 'finalized: shut down'
    if state != 'active':
        return WARN, f'{state}: not processing (lifecycle activate starts it)'
    drops = report.period_drops
    faults = {r: drops.get(r, 0) for r in FAULT_DROPS if drops.get(r, 0)}
    fault_text = ', '.join(f'{r} {n}' for r, n in sorted(faults.items(), key=lambda x: -x[1]))
    if report.period_received == 0:
        return WARN, f'no images received on {image_topic}'
    if report.period_published == 0:
        if faults:
            return ERROR, f'every frame dropped: {fault_text}'
        if drops.get('no_camera_info', 0):
            return WARN, f'waiting for camera_info on {info_topic}'
        if drops.get('idle', 0):
            return OK, 'idle: no subscriber on depth/image, depth/camera_info or points'
        return OK, 'processing'
    if faults:
        return WARN, f'dropping frames: {fault_text}'
    if drops.get('no_camera_info', 0):
        return WARN, f'some frames had no camera_info on {info_topic}'
    return OK, f'publishing at {report.output_rate:.1f} Hz'


def _ms(value: float) -> str:
    return 'n/a' if math.isnan(value) else f'{value:.1f}'


def values(report: Report, info: Dict[str, object]) -> List[Tuple[str, str]]:
    """
    Return the status's key/value pairs, in :data:`KEYS` order.

    ``info`` holds the node's static and slow values: state, model,
    model_family, device, precision, reference_focal_px, network_input,
    input_transport, input_size, rate_limit_hz, batch_size, output_subscribers,
    memory_rss_mb, gpu_memory_allocated_mb, gpu_memory_reserved_mb; missing
    ones read ``n/a``.
    """
    computed = {
        'input_rate_hz': f'{report.input_rate:.2f}',
        'output_rate_hz': f'{report.output_rate:.2f}',
        'frames_received': str(report.received),
        'frames_published': str(report.published),
        'frames_dropped': str(sum(report.drops.values())),
        'network_latency_p50_ms': _ms(report.network_ms[0]),
        'network_latency_p95_ms': _ms(report.network_ms[1]),
        'end_to_end_latency_p50_ms': _ms(report.end_to_end_ms[0]),
        'end_to_end_latency_p95_ms': _ms(report.end_to_end_ms[1]),
    }
    for reason in DROP_REASONS:
        computed[f'dropped.{reason}'] = str(report.drops.get(reason, 0))
    out = []
    for key in KEYS:
        if key in computed:
            out.append((key, computed[key]))
        else:
            value = info.get(key)
            out.append((key, 'n/a' if value is None else str(value)))
    return out


def status_info(state: str, cfg: dict, model=None, input_size: Optional[str] = None,
                subscribers: Optional[int] = None, rss: Optional[int] = None) -> Dict[str, str]:
    """
    Return the node's descriptive status values (:data:`KEYS` besides the counters).

    ``cfg`` holds the parameter values; ``model`` the loaded DepthModel, if any
    (its device, precision, reference focal, network input, CUDA memory).
    """
    info = {'state': state, 'input_transport': cfg['input_transport'],
            'rate_limit_hz': f"{cfg['rate']:g}"}
    if rss is not None:
        info['memory_rss_mb'] = f'{rss / 1e6:.1f}'
    if model is None:
        info.update({'model': cfg['model'], 'device': cfg['device'],
                     'precision': cfg['precision']})
    else:
        ref = model.reference_focal
        info.update({
            'model': model.model_id, 'model_family': model.family, 'device': str(model.device),
            'precision': str(model.dtype).replace('torch.', ''),
            'reference_focal_px': f'{ref:.1f}' if ref else 'camera fx',
            'network_input': network_input_text(model.processor)})
        if model.device.type == 'cuda':
            import torch
            info['gpu_memory_allocated_mb'] = \
                f'{torch.cuda.memory_allocated(model.device) / 1e6:.1f}'
            info['gpu_memory_reserved_mb'] = \
                f'{torch.cuda.memory_reserved(model.device) / 1e6:.1f}'
    if input_size is not None:
        info['input_size'] = input_size
    if subscribers is not None:
        info['output_subscribers'] = str(subscribers)
    return info


def network_input_text(processor: dict) -> str:
    """Describe the network input size from a preprocessor config, e.g. ``518x518 ...``."""
    size = processor.get('size') or {}
    if not processor.get('do_resize', True):
        return 'image size (no resize)'
    if 'height' in size and 'width' in size:
        text = f"{size['width']}x{size['height']}"
    elif 'shortest_edge' in size:
        text = f"shortest edge {size['shortest_edge']}"
    elif 'longest_edge' in size:
        text = f"longest edge {size['longest_edge']}"
    else:
        text = 'model default'
    notes = []
    if processor.get('keep_aspect_ratio'):
        notes.append('keep aspect')
    multiple = int(processor.get('ensure_multiple_of', 1) or 1)
    if multiple > 1:
        notes.append(f'multiple of {multiple}')
    return text + (f" ({', '.join(notes)})" if notes else '')
