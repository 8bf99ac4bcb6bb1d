# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth accuracy metrics of the monocular depth papers, evaluation protocols and scale fitting.

Pure numpy, no rclpy and no torch. The metrics are those of Eigen et al.
(NIPS 2014) as computed by the public evaluation code of BTS, AdaBins, ZoeDepth
(``zoedepth/utils/misc.py``: ``compute_errors``, ``compute_metrics``) and
Monodepth2 (``evaluate_depth.py``), on the pixels where the ground truth is
valid (``min_depth < gt < max_depth``) inside the protocol's crop:

* ``abs_rel`` = mean(|gt - pred| / gt)
* ``sq_rel`` = mean((gt - pred)^2 / gt)
* ``rmse`` = sqrt(mean((gt - pred)^2)) (metres)
* ``rmse_log`` = sqrt(mean((ln gt - ln pred)^2))
* ``log10`` = mean(|log10 gt - log10 pred|)
* ``delta1/2/3`` = fraction of pixels with max(gt / pred, pred / gt) < 1.25, 1.25^2, 1.25^3

Predictions are clamped to ``[min_depth, max_depth]`` before the metrics, as
in that code. Pixels without a prediction (NaN or infinite) are left out and
counted separately (``missing``), so that a partial prediction (e.g. a
network that sees a centre crop) can still be evaluated where it exists.

With median scaling (Zhou et al., CVPR 2017; Monodepth2), each prediction is
first multiplied by median(gt) / median(pred) over its valid pixels, which
removes the global scale and leaves the scale-free (relative) accuracy.
"""

from dataclasses import dataclass, field
import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

#: Metric names in report order.
METRIC_NAMES = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'delta1', 'delta2',
                'delta3')
#: Column titles as the papers print them.
METRIC_TITLES = {
    'abs_rel': 'AbsRel', 'sq_rel': 'SqRel', 'rmse': 'RMSE', 'rmse_log': 'RMSElog',
    'log10': 'log10', 'delta1': 'd1', 'delta2': 'd2', 'delta3': 'd3',
}

#: Crops of the evaluation region (fractions of the ground-truth image: top, bottom,
#: left, right). ``eigen_nyu`` is rows 45:471, cols 41:601 of NYU Depth v2's 480 x 640
#: frames (Eigen et al. NIPS 2014, as in BTS/AdaBins/ZoeDepth); ``garg`` is the KITTI
#: crop of Garg et al. (ECCV 2016) used by Monodepth2 and ZoeDepth; ``eigen_kitti`` is
#: Eigen's KITTI crop (BTS/ZoeDepth ``eigen_crop`` for KITTI).
CROPS = {
    'none': None,
    'eigen_nyu': (45 / 480, 471 / 480, 41 / 640, 601 / 640),
    'garg': (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    'eigen_kitti': (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}


@dataclass(frozen=True)
class Protocol:
    """How one dataset is evaluated: depth caps, crop and the ground-truth PNG scale."""

    name: str
    min_depth: float
    max_depth: float  # 0 = no cap
    crop: str
    depth_scale: float  # 16-bit PNG units per metre (1000 = millimetres)
    description: str = ''

    def with_overrides(self, min_depth: Optional[float] = None,
                       max_depth: Optional[float] = None,
                       crop: Optional[str] = None) -> 'Protocol':
        """Return a copy with some settings replaced (None keeps the preset's)."""
        if crop is not None and crop not in CROPS:
            raise ValueError(f"crop must be one of {', '.join(CROPS)}; got {crop!r}")
        return Protocol(
            self.name,
            self.min_depth if min_depth is None else float(min_depth),
            self.max_depth if max_depth is None else float(max_depth),
            self.crop if crop is None else crop,
            self.depth_scale, self.description)

    def summary(self) -> str:
        """One line for reports, e.g. ``nyu: crop eigen_nyu, 0.001 < gt < 10 m``."""
        cap = f'{self.max_depth:g} m' if self.max_depth > 0 else 'inf'
        return f'{self.name}: crop {self.crop}, {self.min_depth:g} < gt < {cap}'


#: The usual protocols. NYU: Eigen crop, 1e-3..10 m (BTS, AdaBins, ZoeDepth);
#: KITTI: Garg crop, 1e-3..80 m (Monodepth2, BTS ``--garg_crop``; ZoeDepth uses the
#: same caps); generic: whole image, no upper cap.
PROTOCOLS = {
    'nyu': Protocol('nyu', 1e-3, 10.0, 'eigen_nyu', 1000.0,
                    'NYU Depth v2: Eigen crop, 1e-3 < gt < 10 m, PNG in mm'),
    'kitti': Protocol('kitti', 1e-3, 80.0, 'garg', 256.0,
                      'KITTI: Garg crop, 1e-3 < gt < 80 m, PNG in 1/256 m'),
    'generic': Protocol('generic', 1e-3, 0.0, 'none', 1000.0,
                        'any camera: whole image, gt > 1e-3 m, PNG in mm'),
}


def crop_mask(shape: Tuple[int, int], crop: str) -> np.ndarray:
    """Return the boolean ``H x W`` evaluation region of ``crop`` (all True for 'none')."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}; got {crop!r}")
    height, width = int(shape[0]), int(shape[1])
    mask = np.zeros((height, width), dtype=bool)
    box = CROPS[crop]
    if box is None:
        mask[:] = True
        return mask
    top, bottom, left, right = box
    if crop == 'eigen_nyu':
        # Exact integer rows/cols on 480 x 640, scaled proportionally on other sizes.
        rows = slice(round(top * height), round(bottom * height))
        cols = slice(round(left * width), round(right * width))
    else:
        # The KITTI crops truncate (int()) as the reference code does.
        rows = slice(int(top * height), int(bottom * height))
        cols = slice(int(left * width), int(right * width))
    mask[rows, cols] = True
    return mask


def gt_mask(gt: np.ndarray, protocol: Protocol) -> np.ndarray:
    """Pixels where the ground truth counts: finite, inside the caps and the crop."""
    gt = np.asarray(gt)
    with np.errstate(invalid='ignore'):
        mask = np.isfinite(gt) & (gt > protocol.min_depth)
        if protocol.max_depth > 0:
            mask &= gt < protocol.max_depth
    return mask & crop_mask(gt.shape, protocol.crop)


def compute_errors(gt: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """Return the metrics of matching 1-D arrays of valid, positive depths (metres)."""
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.size == 0:
        return {name: math.nan for name in METRIC_NAMES}
    thresh = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    log_diff = np.log(gt) - np.log(pred)
    return {
        'abs_rel': float(np.mean(np.abs(diff) / gt)),
        'sq_rel': float(np.mean(diff ** 2 / gt)),
        'rmse': float(np.sqrt(np.mean(diff ** 2))),
        'rmse_log': float(np.sqrt(np.mean(log_diff ** 2))),
        'log10': float(np.mean(np.abs(np.log10(gt) - np.log10(pred)))),
        'delta1': float(np.mean(thresh < 1.25)),
        'delta2': float(np.mean(thresh < 1.25 ** 2)),
        'delta3': float(np.mean(thresh < 1.25 ** 3)),
    }


@dataclass
class ImageResult:
    """Metrics of one image: metric, and (optionally) after median scaling."""

    name: str
    valid: int  # pixels evaluated
    missing: int  # pixels with valid ground truth but no (finite) prediction
    metrics: Dict[str, float]
    median_scale: Optional[float] = None
    scaled_metrics: Optional[Dict[str, float]] = None


def _clamp(pred: np.ndarray, protocol: Protocol) -> np.ndarray:
    upper = protocol.max_depth if protocol.max_depth > 0 else None
    return np.clip(pred, protocol.min_depth, upper)


def evaluate_image(gt: np.ndarray, pred: np.ndarray, protocol: Protocol, *,
                   name: str = '', median_scaling: bool = False,
                   scale: float = 1.0) -> ImageResult:
    """
    Evaluate one prediction against its ground truth (both ``H x W`` metres).

    ``scale`` multiplies the prediction first (a calibration factor to check);
    ``median_scaling`` adds the scale-free metrics next to the metric ones.
    """
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.shape != pred.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth {gt.shape} differ in size')
    base = gt_mask(gt, protocol)
    has_pred = np.isfinite(pred)
    mask = base & has_pred
    g = gt[mask]
    p = pred[mask] * float(scale)
    result = ImageResult(name, int(g.size), int(np.count_nonzero(base & ~has_pred)),
                         compute_errors(g, _clamp(p, protocol)))
    if median_scaling:
        positive = p > 0
        ratio = (float(np.median(g[positive]) / np.median(p[positive]))
                 if np.any(positive) else math.nan)
        result.median_scale = ratio
        result.scaled_metrics = compute_errors(g, _clamp(p * ratio, protocol))
    return result


def mean_metrics(results: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Average per-image metrics over images (the papers' convention), ignoring NaN."""
    out = {}
    for name in METRIC_NAMES:
        values = np.array([r[name] for r in results], dtype=np.float64)
        values = values[np.isfinite(values)]
        out[name] = float(values.mean()) if values.size else math.nan
    return out


@dataclass
class ScaleFit:
    """The factor ``scale`` with ground truth ~= scale x prediction, and how it was found."""

    scale: float
    frames: int
    pixels: int
    per_frame: List[float] = field(default_factory=list)

    def spread(self) -> Tuple[float, float]:
        """Smallest and largest per-frame median ratio."""
        finite = [v for v in self.per_frame if math.isfinite(v)]
        return (min(finite), max(finite)) if finite else (math.nan, math.nan)


class ScaleFitter:
    """
    Robust median of gt / pred over every valid pixel of many frames, in constant memory.

    The log ratios are accumulated in a fine histogram (``bin_width`` in ln units,
    1e-4 = 0.01 %), so thousands of frames need no more memory than one; the
    median is interpolated inside its bin. The per-frame medians are exact.
    """

    def __init__(self, protocol: Protocol, log_range: float = 8.0, bin_width: float = 1e-4):
        self.protocol = protocol
        self.log_range = float(log_range)
        self.bins = int(round(2 * self.log_range / bin_width))
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.per_frame: List[float] = []
        self.pixels = 0

    def add(self, gt: np.ndarray, pred: np.ndarray) -> float:
        """Add one frame (``H x W`` metres); return its own median ratio (NaN if empty)."""
        gt = np.asarray(gt, dtype=np.float64)
        pred = np.asarray(pred, dtype=np.float64)
        with np.errstate(invalid='ignore'):
            mask = gt_mask(gt, self.protocol) & np.isfinite(pred) & (pred > 0)
        log_ratio = np.log(gt[mask]) - np.log(pred[mask])
        if log_ratio.size == 0:
            self.per_frame.append(math.nan)
            return math.nan
        counts, _ = np.histogram(log_ratio, bins=self.bins,
                                 range=(-self.log_range, self.log_range))
        self.counts += counts
        self.pixels += int(log_ratio.size)
        value = float(np.exp(np.median(log_ratio)))
        self.per_frame.append(value)
        return value

    def result(self) -> ScaleFit:
        """Return the pooled median ratio over all frames added so far."""
        total = int(self.counts.sum())
        if total == 0:
            return ScaleFit(math.nan, len(self.per_frame), 0, list(self.per_frame))
        cumulative = np.cumsum(self.counts)
        half = 0.5 * total
        k = int(np.searchsorted(cumulative, half))
        before = cumulative[k - 1] if k > 0 else 0
        fraction = (half - before) / self.counts[k]
        width = 2 * self.log_range / self.bins
        log_median = -self.log_range + (k + fraction) * width
        return ScaleFit(float(math.exp(log_median)), len(self.per_frame), self.pixels,
                        list(self.per_frame))


def fit_scale(pairs: Iterable[Tuple[np.ndarray, np.ndarray]], protocol: Protocol) -> ScaleFit:
    """Fit ground truth ~= scale x prediction over ``(gt, pred)`` frames (robust median)."""
    fitter = ScaleFitter(protocol)
    for gt, pred in pairs:
        fitter.add(gt, pred)
    return fitter.result()


def reference_focal_for_scale(current: float, scale: float) -> float:
    """
    Return the ``reference_focal`` that multiplies the node's depth by ``scale``.

    The node scales depth by camera focal / reference focal, so depth is
    proportional to 1 / reference_focal: new = current / scale.
    """
    if not (current > 0 and scale > 0 and math.isfinite(scale)):
        raise ValueError(f'need a positive reference focal and scale; got {current}, {scale}')
    return float(current) / float(scale)
