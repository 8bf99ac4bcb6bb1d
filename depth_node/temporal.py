# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Temporal stabilisation of the global scale: depth that does not breathe (``temporal.*``).

Without rclpy. A monocular network judges every frame alone, so its scale
changes from frame to frame. :class:`TemporalStabilizer` (one per camera,
owned by its :class:`~depth_node.frame.FrameProcessor`) puts each frame on the
scale of the previous output:

1. It compares a strided sample of the frame's depth (about
   :data:`SAMPLE_TARGET` pixels; on CUDA only that sample is downloaded) with
   the same pixels of the previous output. The log ratios are centred on their
   median, and a pixel whose ratio is more than ``gate`` (relative) away from
   it has changed (it moved, or the network changed its mind there); the others
   pass, like the delta of a depth camera's temporal filter. Their mean log
   ratio is the frame's scale relative to the previous output.
2. That ratio is low-passed: ``log k = (1 - alpha) * log ratio`` with
   ``alpha = 1 - exp(-dt / time_constant)`` (``dt`` from the image stamps), so
   the output follows the network's own scale with that time constant and its
   frame-to-frame breathing is filtered out. The applied correction is
   ``Correction(k)`` (``depth' = k * depth``).
3. It starts again (the frame keeps the network's own scale) on a large scene
   change (fewer than ``min_fraction`` of the sampled pixels pass the gate), a
   gap in the stream (more than ``max_gap`` seconds), stamps that repeat or go
   backwards, and a camera change (size or intrinsics). A real change of scale
   is followed one frame late: when the network's own scale moved by more than
   ``step`` with the previous frame and this frame stays nearer the new level
   than the old one (the mean of the two is more than ``step`` from the level
   before; a one-frame spike comes back), the filter starts again from the
   previous frame, and this frame gets what a stabiliser started there gives.
4. Optionally a per-pixel filter with the same gate: where the corrected depth
   is within ``gate`` of the previous output it becomes ``previous +
   pixel_weight * (new - previous)`` (``pixel_weight`` 1 = off).

When a range sensor anchors the scale (issue 21), the stabiliser is given the
anchor's fitted :class:`~depth_node.correction.Correction` (``fitted``) and
stabilises the anchored depth ``fitted(depth)`` the same way: the ratio to the
previous output carries the scale from frame to frame (the network's breathing
stays out) and the low-pass pulls it towards the anchored one (the anchor's
noise stays out). The applied correction is ``fitted`` followed by ``k``.

It assumes that the camera moves little between frames compared with the gate
(most sampled pixels see about the same depth in two consecutive frames); see
doc/anchoring.md, Temporal stabilisation.
"""

from dataclasses import dataclass
import math
from typing import List, Optional, Tuple

import numpy as np

from .correction import Correction, IDENTITY
from .geometry import Intrinsics
from .stream import Event

#: Pixels sampled per frame for the ratio (a stride in u and v: 80 x 60 at 640 x 480).
SAMPLE_TARGET = 4800
#: Fewer valid sampled pixels than this in both frames: nothing to compare, start again.
MIN_SAMPLES = 64
#: Seconds between frames assumed when a frame has no stamp.
DEFAULT_PERIOD_S = 1.0 / 30.0
#: Why the stabiliser started again (the diagnostics count each).
RESET_REASONS = ('scene', 'step', 'gap', 'stamp_equal', 'stamp_backwards', 'camera')


@dataclass(frozen=True)
class TemporalOptions:
    """The ``temporal.*`` parameters (see :mod:`depth_node.params`)."""

    enabled: bool = False
    gate: float = 0.2
    step: float = 0.1
    time_constant: float = 0.3
    min_fraction: float = 0.5
    max_gap: float = 0.5
    pixel_weight: float = 0.7


@dataclass(frozen=True)
class TemporalResult:
    """What the stabiliser did to one frame."""

    #: The correction applied to the frame's depth (``fitted`` followed by ``factor``).
    correction: Correction
    #: The stabiliser's own scale on top of the network's (or the anchored) depth.
    factor: float
    #: Fraction of the valid sampled pixels that passed the gate (None: not compared).
    passing: Optional[float]
    #: Why it started again with this frame ('start' for the first), or None.
    reset: Optional[str]
    #: Whether a fitted (anchored) correction was stabilised.
    anchored: bool


def sample_stride(width: int, height: int) -> int:
    """Return the stride in u and v that samples about :data:`SAMPLE_TARGET` pixels."""
    return max(1, int(round(math.sqrt(width * height / SAMPLE_TARGET))))


def depth_sample(depth, stride: int) -> np.ndarray:
    """
    Return every ``stride``-th pixel of ``depth`` (from ``stride // 2``) as float32 numpy.

    ``depth`` is a numpy array or a torch tensor (on any device: only the
    sample is downloaded).
    """
    offset = stride // 2
    part = depth[offset::stride, offset::stride]
    if isinstance(part, np.ndarray):
        return np.array(part, dtype=np.float32)
    return part.detach().to('cpu').float().numpy()


def log_ratio(previous: np.ndarray, current: np.ndarray,
              gate: float) -> Optional[Tuple[float, float]]:
    """
    Return ``(mean log(previous / current) of the pixels that pass, fraction passing)``.

    Pixels count where both are finite and positive. The gate is centred on the
    median log ratio: a pixel passes when its ratio is within ``gate``
    (relative) of it. None when fewer than :data:`MIN_SAMPLES` pixels count.
    """
    with np.errstate(invalid='ignore', divide='ignore'):
        valid = (np.isfinite(previous) & np.isfinite(current)
                 & (previous > 0.0) & (current > 0.0))
        count = int(np.count_nonzero(valid))
        if count < MIN_SAMPLES:
            return None
        logs = np.log(previous[valid].astype(np.float64) / current[valid])
    centre = float(np.median(logs))
    passing = np.abs(logs - centre) < math.log1p(gate)
    passed = int(np.count_nonzero(passing))
    if passed == 0:
        return centre, 0.0
    return float(np.mean(logs[passing])), passed / count


def compose(factor: float, target: Correction) -> Correction:
    """Return the correction ``factor * target(depth)`` (a scale after ``target``)."""
    if factor == 1.0:
        return target
    return Correction(target.scale * factor, target.shift / factor)


class TemporalStabilizer:
    """
    The scale stabiliser of one camera; see the module docstring.

    Per frame: :meth:`correction` (from a cheap sample of the depth), then
    :meth:`apply` (the correction, the per-pixel filter, and the frame kept as
    the previous output). Frames must come in stream order, one camera each.
    """

    def __init__(self):
        self.resets = {reason: 0 for reason in RESET_REASONS}
        #: The latest frame's result (None before the first).
        self.last: Optional[TemporalResult] = None
        self.clear()

    def clear(self) -> None:
        """Forget the stream (the next frame starts again); the counters stay."""
        self._stamp_ns: Optional[int] = None
        self._camera = None
        self._stride = 1
        #: Sample and full map of the previous output.
        self._output_sample: Optional[np.ndarray] = None
        self._output = None
        #: Sample, raw depth and target correction of the previous frame.
        self._target_sample: Optional[np.ndarray] = None
        self._raw = None
        self._raw_target: Correction = IDENTITY
        #: The previous frame's own log change (its target depth's; None after a restart).
        self._last_jump: Optional[float] = None
        #: What :meth:`apply` filters against (None: nothing, the frame starts again).
        self._base = None
        self._pending: Optional[TemporalResult] = None
        self._next_target = None
        self._opts = TemporalOptions()

    # ------------------------------------------------------------------ per frame
    def correction(self, depth, intr: Optional[Intrinsics], stamp_ns: Optional[int],
                   opts: TemporalOptions, events: Optional[List[Event]] = None,
                   fitted: Optional[Correction] = None) -> Correction:
        """
        Return the correction for this frame's ``depth`` (full resolution, before decimation).

        ``depth`` is a numpy array or a torch tensor (a device tensor is only
        sampled). ``intr``: the camera of the camera_info (a change starts
        again); None when the model estimates its own per frame (Depth Pro's field
        of view): then only the size counts. ``fitted``: the anchor's correction
        of this frame, or None.
        Resets worth a log line are appended to ``events``. Disabled, it
        returns ``fitted`` (or the identity) and forgets the stream.
        """
        target = fitted if fitted is not None else IDENTITY
        if not opts.enabled:
            self.clear()
            self._pending = None
            return target
        height, width = depth.shape[-2:]
        reset = self._stream_reset((width, height) + (
            () if intr is None else (intr.fx, intr.fy, intr.cx, intr.cy)), stamp_ns, opts,
            events)
        dt = self._advance(stamp_ns)
        stride = self._stride = sample_stride(width, height)
        sample = depth_sample(depth, stride)
        target_sample = target.apply(sample)
        factor, passing, base = 1.0, None, None
        if reset is None:
            factor, passing, base, reset = self._estimate(target_sample, dt, opts)
        if reset is not None and reset != 'step':
            self._last_jump = None
            if reset in self.resets:
                self.resets[reset] += 1
        applied = compose(factor, target)
        self._pending = TemporalResult(applied, factor, passing, reset, fitted is not None)
        self._base = base if opts.pixel_weight < 1.0 else None
        self._next_target = (target_sample, target)
        self._opts = opts
        return applied

    def apply(self, depth, correction: Correction):
        """
        Return ``depth`` corrected (and filtered per pixel); keep it as the previous output.

        Call it right after :meth:`correction` of the same frame with what that
        returned. ``depth``: a numpy array or a torch tensor (kept on its device).
        """
        out = correction.apply(depth)
        if self._pending is None:
            return out
        base = self._base() if callable(self._base) else self._base
        if base is not None and isinstance(base, np.ndarray) == isinstance(out, np.ndarray):
            out = _pixel_filter(out, base, self._opts.gate, self._opts.pixel_weight)
        # The frame becomes the previous output (references, no copies: outputs are
        # new arrays each frame and never written to afterwards).
        self._output = out
        self._output_sample = depth_sample(out, self._stride)
        self._target_sample, self._raw_target = self._next_target
        self._raw = depth
        self.last, self._pending, self._base = self._pending, None, None
        return out

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> List[Tuple[str, str]]:
        """Return the stabiliser's key/values for its camera's status (``temporal.*`` keys)."""
        last = self.last
        values = [
            ('temporal.factor', 'n/a' if last is None else f'{last.factor:.4f}'),
            ('temporal.gate_pass', 'n/a' if last is None or last.passing is None
             else f'{last.passing:.3f}'),
            ('temporal.anchored', 'n/a' if last is None else str(last.anchored).lower()),
            ('temporal.last_reset', 'none' if last is None or last.reset is None
             else last.reset),
            ('temporal.resets', str(sum(self.resets.values()))),
        ]
        values += [(f'temporal.resets.{reason}', str(n)) for reason, n in self.resets.items()]
        return values

    # ------------------------------------------------------------------ steps
    def _stream_reset(self, camera: tuple, stamp_ns: Optional[int], opts: TemporalOptions,
                      events: Optional[List[Event]]) -> Optional[str]:
        previous_camera, self._camera = self._camera, camera
        if self._output_sample is None:
            return 'start'
        reason, text, level = None, '', 'info'
        if previous_camera != camera:
            reason, text = 'camera', 'the camera changed (size or intrinsics)'
        elif stamp_ns is not None and self._stamp_ns is not None:
            dt = (int(stamp_ns) - self._stamp_ns) * 1e-9
            if dt == 0.0:
                reason, level = 'stamp_equal', 'warning'
                text = (f'image stamp {_stamp_text(stamp_ns)} repeats the previous one (a '
                        'duplicated frame, or a camera without timestamps: stabilisation '
                        'cannot work with those)')
            elif dt < 0.0:
                reason = 'stamp_backwards'
                text = f'image stamp went back {-dt:.3f} s (a bag played in a loop?)'
            elif opts.max_gap > 0.0 and dt > opts.max_gap:
                reason = 'gap'
                text = (f'{dt:.3f} s since the previous frame (more than temporal.max_gap '
                        f'{opts.max_gap:g} s)')
        if reason is not None and events is not None:
            events.append(Event('temporal_reset', level,
                                f'temporal stabilisation starts again: {text}'))
        return reason

    def _advance(self, stamp_ns: Optional[int]) -> float:
        """Remember the stamp; return the seconds since the previous frame."""
        previous, self._stamp_ns = self._stamp_ns, None if stamp_ns is None else int(stamp_ns)
        if stamp_ns is None or previous is None or int(stamp_ns) <= previous:
            return DEFAULT_PERIOD_S
        return (int(stamp_ns) - previous) * 1e-9

    def _estimate(self, target_sample: np.ndarray, dt: float, opts: TemporalOptions):
        """Return ``(factor, passing, base, reset)`` of a frame that continues the stream."""
        measured = log_ratio(self._output_sample, target_sample, opts.gate)
        if measured is None or measured[1] < opts.min_fraction:
            return 1.0, None if measured is None else measured[1], None, 'scene'
        log_r, passing = measured
        alpha = 1.0 if opts.time_constant <= 0.0 else -math.expm1(-dt / opts.time_constant)
        base = self._output
        reset = None
        # The network's own change since the previous frame (on the target depth). A real
        # change of scale: the previous frame moved the level by more than the step, and
        # this frame stays nearer that new level than the old one (a one-frame spike comes
        # back). Then start again from the previous frame: this frame gets what a
        # stabiliser started there would give.
        own = log_ratio(self._target_sample, target_sample, opts.gate)
        jump = None if own is None else own[0]
        last = self._last_jump
        if jump is not None and last is not None:
            shift = last + jump / 2.0  # from the level before the step to the mean after
            if (abs(shift) > math.log1p(opts.step) and abs(jump) < abs(shift)
                    and (shift > 0.0) == (last > 0.0)):
                log_r, reset, base = jump, 'step', self._previous_target
        self._last_jump = jump
        factor = math.exp((1.0 - alpha) * log_r)
        return factor, passing, base, reset

    def _previous_target(self):
        """Return the previous frame's target depth (its own, or anchored, scale)."""
        return self._raw_target.apply(self._raw)


def _stamp_text(stamp_ns: int) -> str:
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    return f'{sec}.{nsec:09d}'


def _pixel_filter(out, base, gate: float, weight: float):
    """
    Return ``base + (out - base) * weight`` where ``|out / base - 1| < gate``, else ``out``.

    NaN and infinite pixels (in either) keep ``out``. numpy or torch, the same
    operations in the same order (one rounding each), so both give the same bits.
    """
    gate, weight = np.float32(gate), np.float32(weight)
    if isinstance(out, np.ndarray):
        base = np.asarray(base, dtype=np.float32)
        with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
            keep = np.abs(out / base - np.float32(1.0)) < gate
            blended = base + (out - base) * weight
        return np.where(keep, blended, out)
    import torch
    base = base.to(out.device, torch.float32)
    out = out.to(torch.float32)
    keep = torch.abs(out / base - 1.0) < float(gate)
    blended = base + (out - base) * float(weight)
    return torch.where(keep, blended, out)
