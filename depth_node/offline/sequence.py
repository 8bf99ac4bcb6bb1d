# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
``depth_node_eval --sequence``: how much the scale breathes over an ordered sequence.

Without rclpy. The frames of a dataset folder, in their natural order, are
taken as one stream at ``--fps``; their predictions (a folder or a model, as
in the rest of ``depth_node_eval``) are evaluated as the network gives them
and after temporal stabilisation (:class:`~depth_node.temporal.TemporalStabilizer`,
the code the frame path runs with ``temporal.enabled``):

- the global scale error of a frame, ``median(ground truth / prediction)`` over
  its valid pixels, and its frame-to-frame change ``|e_t / e_(t-1) - 1|``
  (median, p90, max over the sequence);
- mean AbsRel (the papers' metric, as in the rest of the tool);
- the lag: after a step change, how many frames the stabilised output takes to
  come within :data:`LAG_TOLERANCE` of a stabiliser started at the step, and
  to stay there: (a) cuts between two different parts of the sequence (the
  first third followed by the last third, and the other way round), (b) a
  synthetic scale step (every prediction from frame k on multiplied by
  ``1 + step``, and divided by it, k at a quarter, half and three quarters of
  the sequence, or every ``step_every``-th frame). 0 = the output follows at
  the step frame itself.
"""

import argparse
from dataclasses import dataclass, field
import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .metrics import evaluate_image, gt_mask, Protocol
from ..params import PARAMETERS_BY_NAME
from ..temporal import TemporalOptions, TemporalStabilizer


def add_temporal_arguments(p: argparse.ArgumentParser, enable: bool = True):
    """
    Add the options of the ``temporal.*`` parameters (as the node's, same defaults).

    ``enable`` adds ``--temporal`` (``temporal.enabled``) too. Returns the group.
    """
    g = p.add_argument_group('temporal stabilisation (as the node parameters temporal.*)')
    if enable:
        g.add_argument('--temporal', action='store_true',
                       help='stabilise the scale over the frames, in stream order, with their '
                            'stamps (temporal.enabled)')
    for name, flag, metavar in (('gate', '--temporal-gate', 'REL'),
                                ('step', '--temporal-step', 'REL'),
                                ('time_constant', '--temporal-time-constant', 'S'),
                                ('min_fraction', '--temporal-min-fraction', 'F'),
                                ('max_gap', '--temporal-max-gap', 'S'),
                                ('pixel_weight', '--temporal-pixel-weight', 'W')):
        spec = PARAMETERS_BY_NAME[f'temporal.{name}']
        g.add_argument(flag, type=float, default=spec.default, metavar=metavar,
                       help=f'temporal.{name} (default: %(default)s)')
    return g


def temporal_parameters(args) -> dict:
    """Return the ``temporal.*`` parameters (name -> value) of the command line (unchecked)."""
    return {'temporal.enabled': bool(getattr(args, 'temporal', True)),
            'temporal.gate': args.temporal_gate,
            'temporal.step': args.temporal_step,
            'temporal.time_constant': args.temporal_time_constant,
            'temporal.min_fraction': args.temporal_min_fraction,
            'temporal.max_gap': args.temporal_max_gap,
            'temporal.pixel_weight': args.temporal_pixel_weight}


#: A lag is over when the stabilised output stays within this (relative, median over
#: the pixels) of a stabiliser started at the step: a quarter of a 20 % step.
LAG_TOLERANCE = 0.05


def stamps_ns(count: int, fps: float, start_ns: int = 0) -> List[int]:
    """Return the stamps of ``count`` frames at ``fps`` (nanoseconds)."""
    period = 1e9 / fps
    return [start_ns + int(round(i * period)) for i in range(count)]


def stabilise(predictions: Sequence[np.ndarray], stamps: Sequence[int],
              opts: TemporalOptions) -> Tuple[List[np.ndarray], List[Optional[str]]]:
    """
    Return the stabilised predictions of a stream and each frame's reset (None: none).

    One :class:`TemporalStabilizer`, fed as the frame path feeds it (full
    resolution, in order, with the stamps); one camera: only the size is checked.
    """
    stabilizer = TemporalStabilizer()
    opts = TemporalOptions(**{**opts.__dict__, 'enabled': True})
    out, resets = [], []
    for depth, stamp in zip(predictions, stamps):
        correction = stabilizer.correction(depth, None, stamp, opts)
        out.append(stabilizer.apply(depth, correction))
        resets.append(stabilizer.last.reset)
    return out, resets


def scale_error(gt: np.ndarray, pred: np.ndarray, protocol: Protocol) -> float:
    """Return ``median(gt / pred)`` over the protocol's valid pixels with a prediction."""
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        mask = gt_mask(gt, protocol) & np.isfinite(pred) & (pred > 0)
    if not mask.any():
        return math.nan
    return float(np.median(gt[mask] / pred[mask]))


def changes(errors: Sequence[float]) -> np.ndarray:
    """Return the frame-to-frame changes ``|e_t / e_(t-1) - 1|`` (finite pairs only)."""
    e = np.asarray(errors, dtype=np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        ch = np.abs(e[1:] / e[:-1] - 1.0)
    return ch[np.isfinite(ch)]


def relative_offset(a: np.ndarray, b: np.ndarray) -> float:
    """Return ``|median(a / b) - 1|`` over the pixels where both are finite and positive."""
    with np.errstate(invalid='ignore', divide='ignore'):
        valid = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        if not valid.any():
            return math.nan
        return abs(float(np.median(a[valid].astype(np.float64) / b[valid])) - 1.0)


def lag(outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray],
        tolerance: float = LAG_TOLERANCE) -> int:
    """
    Return after how many frames ``outputs`` come within ``tolerance`` of ``reference`` for good.

    Both start at the step frame. ``len(reference)``: never.
    """
    offsets = [relative_offset(x, y) for x, y in zip(outputs, reference)]
    frames = len(offsets)
    while frames > 0 and offsets[frames - 1] <= tolerance:
        frames -= 1
    return frames


@dataclass
class Trial:
    """One step-change experiment and its lag."""

    label: str
    frame: int
    frames_after: int
    lag: int

    def text(self) -> str:
        """Return the lag in words."""
        if self.lag >= self.frames_after:
            return f'{self.label}: never within {self.frames_after} frames'
        return f'{self.label}: {self.lag} frame(s)'


@dataclass
class SequenceSummary:
    """Frame-to-frame change of the scale error and mean AbsRel of one version."""

    errors: List[float]
    abs_rel: float
    resets: int = 0

    @property
    def change(self) -> Tuple[float, float, float]:
        """Return the (median, p90, max) frame-to-frame change of the scale error."""
        ch = changes(self.errors)
        if ch.size == 0:
            return math.nan, math.nan, math.nan
        return float(np.median(ch)), float(np.percentile(ch, 90)), float(ch.max())


@dataclass
class SequenceReport:
    """The sequence mode's results: without and with stabilisation, and the lags."""

    frames: int
    fps: float
    options: TemporalOptions
    without: SequenceSummary
    with_: SequenceSummary
    trials: List[Trial] = field(default_factory=list)

    @property
    def max_lag(self) -> Optional[int]:
        """Return the largest lag of the trials (None without trials)."""
        return max((t.lag for t in self.trials), default=None)


def evaluate_sequence(predictions: Sequence[np.ndarray], ground_truth: Callable[[int], np.ndarray],
                      protocol: Protocol, opts: TemporalOptions, *, fps: float = 30.0,
                      step: float = 0.2, step_every: int = 0,
                      resize: Callable = None) -> SequenceReport:
    """
    Evaluate ``predictions`` (one stream, in order) without and with stabilisation.

    ``ground_truth(i)`` returns frame i's ground truth (metres); ``resize(pred,
    shape)`` brings a prediction to its size (default: none needed). ``step`` is
    the synthetic scale step of the lag trials (0: none), placed at every
    ``step_every``-th frame (0: at a quarter, half and three quarters).
    """
    count = len(predictions)
    stamps = stamps_ns(count, fps)
    stabilised, resets = stabilise(predictions, stamps, opts)
    without_e, with_e, without_a, with_a = [], [], [], []
    for i in range(count):
        gt = ground_truth(i)
        for pred, errors, abs_rels in ((predictions[i], without_e, without_a),
                                       (stabilised[i], with_e, with_a)):
            pred = resize(pred, gt.shape) if resize is not None else pred
            errors.append(scale_error(gt, pred, protocol))
            abs_rels.append(evaluate_image(gt, pred, protocol).metrics['abs_rel'])
    report = SequenceReport(
        count, fps, opts, SequenceSummary(without_e, _nanmean(without_a)),
        SequenceSummary(with_e, _nanmean(with_a),
                        sum(1 for r in resets[1:] if r is not None)))
    report.trials = lag_trials(predictions, stamps, opts, step, step_every)
    return report


def lag_trials(predictions: Sequence[np.ndarray], stamps: Sequence[int], opts: TemporalOptions,
               step: float = 0.2, step_every: int = 0) -> List[Trial]:
    """Return the lags of the cuts and of the synthetic scale steps (see the module)."""
    count = len(predictions)
    trials = []
    third = count // 3
    if third >= 2:
        first, last = list(range(third)), list(range(count - third, count))
        for before, after in ((first, last), (last, first)):
            order = before + after
            trials.append(_trial(
                f'cut frame {before[-1]} -> {after[0]}', len(before),
                [predictions[i] for i in order], stamps[:len(order)], opts))
    if step > 0.0 and count >= 8:
        frames = (range(step_every, count, step_every) if step_every > 0
                  else (count // 4, count // 2, 3 * count // 4))
        for k in frames:
            for factor in (1.0 + step, 1.0 / (1.0 + step)):
                stepped = list(predictions[:k]) + [
                    (p * np.float32(factor)).astype(np.float32) for p in predictions[k:]]
                label = f'x{1.0 + step:g}' if factor > 1.0 else f'/{1.0 + step:g}'
                trials.append(_trial(f'step {label} at frame {k}', k, stepped, stamps, opts))
    return trials


def _trial(label: str, k: int, sequence: Sequence[np.ndarray], stamps: Sequence[int],
           opts: TemporalOptions) -> Trial:
    outputs, _ = stabilise(sequence, stamps, opts)
    reference, _ = stabilise(sequence[k:], stamps[k:len(sequence)], opts)
    return Trial(label, k, len(reference), lag(outputs[k:], reference))


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def format_sequence(report: SequenceReport) -> str:
    """Return the sequence report as text."""
    o = report.options
    lines = [
        f'sequence of {report.frames} frame(s) at {report.fps:g} fps; temporal stabilisation: '
        f'gate {o.gate:g}, step {o.step:g}, time constant {o.time_constant:g} s, min fraction '
        f'{o.min_fraction:g}, max gap {o.max_gap:g} s, pixel weight {o.pixel_weight:g}',
        f"{'':<24}{'scale error change, frame to frame':>36}{'mean':>10}",
        f"{'':<24}{'median':>12}{'p90':>12}{'max':>12}{'AbsRel':>10}{'resets':>8}",
    ]
    for label, summary, resets in (('without stabilisation', report.without, ''),
                                   ('with stabilisation', report.with_,
                                    str(report.with_.resets))):
        med, p90, top = summary.change
        lines.append(f'{label:<24}{_pct(med):>12}{_pct(p90):>12}{_pct(top):>12}'
                     f'{summary.abs_rel:>10.4f}{resets:>8}')
    ratios = [_ratio(a, b) for a, b in zip(report.without.change, report.with_.change)]
    lines.append(f"{'ratio (without / with)':<24}" + ''.join(f'{r:>12}' for r in ratios))
    if report.trials:
        lines.append(f'lag (frames until within {LAG_TOLERANCE * 100:g} % of a stabiliser '
                     'started at the step):')
        lines += [f'  {t.text()}' for t in report.trials]
        slow = sum(1 for t in report.trials if t.lag > 2)
        lines.append(f'  largest lag: {report.max_lag} frame(s); {len(report.trials) - slow} '
                     f'of {len(report.trials)} within 2 frames')
    return '\n'.join(lines)


def _pct(value: float) -> str:
    return 'nan' if not math.isfinite(value) else f'{value * 100:.2f} %'


def _ratio(a: float, b: float) -> str:
    return f'{a / b:.2f}x' if math.isfinite(a) and math.isfinite(b) and b > 0 else 'n/a'
