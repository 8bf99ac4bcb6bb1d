# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Compare ways of fitting a prediction to sparse anchors on real data (doc/anchoring.md).

The numbers behind the choice of ``depth_node.anchor.fit_scale``: FastDepth's real
predictions (``tools/fastdepth_predictions.py``) of the RGB-D sets in
``../shared/data/rgbd``, anchored to N points drawn from each ground truth by
``depth_node_eval``'s simulated sensor (``SimulatedSensor``: 2 % relative noise, 5 %
outliers; KITTI: its LiDAR points as they are), mean AbsRel over the images and over
``--seeds`` draws, for these fits:

* ``median``: the median of the ratios anchor / prediction (the baseline);
* ``relative`` (depth_node's): the scale minimising the anchors' mean absolute relative
  error, a weighted median of the ratios;
* ``tukey``: an IRLS (Tukey biweight) location of the log ratios;
* ``gated``: ``relative``, then refitted on the anchors within a factor of 1.25;
* ``shift``: scale and shift in inverse depth, ``1/d' = (1/d) / s + t``, by IRLS
  (Tukey weights) on the relative residual, started from ``median``.

Usage, from the repository root::

    python3 tools/anchor_fit_study.py ../shared/data/rgbd fastdepth_pred/ --seeds 10

where ``fastdepth_pred/<set>/`` holds the predictions of each set.
"""

import argparse
from pathlib import Path
import sys

from depth_node.anchor import relative_error_scale
from depth_node.offline.anchors import SimulatedSensor
from depth_node.offline.datasets import find_samples, read_depth
from depth_node.offline.eval import resize_prediction
from depth_node.offline.metrics import evaluate_image, PROTOCOLS
import numpy as np

#: Set folder -> (protocol, ground-truth PNG scale or None, noise, outliers).
SETS = {
    'nyu': ('nyu', None, 0.02, 0.05),
    'kitti': ('kitti', None, 0.0, 0.0),
    'tum': ('generic', 5000.0, 0.02, 0.05),
    'icl_nuim': ('generic', None, 0.02, 0.05),
}
FITS = ('median', 'relative', 'tukey', 'gated', 'shift')
COUNTS = (16, 64, 256, 1024)


def tukey_location(x: np.ndarray, c: float = 4.685, iterations: int = 20) -> float:
    """Return the Tukey-biweight M-estimate of location of ``x`` (IRLS from the median)."""
    m = float(np.median(x))
    spread = max(1.4826 * float(np.median(np.abs(x - m))), 1e-3)
    for _ in range(iterations):
        u = (x - m) / (c * spread)
        w = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        if w.sum() <= 0:
            break
        m = float(np.sum(w * x) / np.sum(w))
    return m


def shift_fit(p: np.ndarray, a: np.ndarray, iterations: int = 30):
    """Return ``(scale, shift)`` of ``1/a ~ (1/p) / scale + shift`` by IRLS."""
    x, y = 1.0 / p, 1.0 / a
    scale = float(np.median(a / p))
    slope, shift = 1.0 / scale, 0.0
    for _ in range(iterations):
        e = (slope * x + shift) / y - 1.0
        spread = max(1.4826 * float(np.median(np.abs(e - np.median(e)))), 0.01)
        u = e / (4.685 * spread)
        w = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0) / y ** 2
        m = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        v = np.array([np.sum(w * x * y), np.sum(w * y)])
        try:
            slope, shift = np.linalg.solve(m, v)
        except np.linalg.LinAlgError:
            break
    if not slope > 0:
        return scale, 0.0
    return 1.0 / float(slope), float(shift)


def fit(name: str, p: np.ndarray, a: np.ndarray):
    """Return ``(scale, shift)`` of fit ``name``."""
    if name == 'median':
        return float(np.median(a / p)), 0.0
    if name == 'relative':
        return relative_error_scale(p, a), 0.0
    if name == 'tukey':
        return float(np.exp(tukey_location(np.log(a / p)))), 0.0
    if name == 'gated':
        s = relative_error_scale(p, a)
        keep = np.abs(np.log(s * p / a)) < np.log(1.25)
        return (relative_error_scale(p[keep], a[keep]) if keep.any() else s), 0.0
    return shift_fit(p, a)


def corrected(pred: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Return ``pred`` corrected (NaN where a shift leaves no positive inverse depth)."""
    d = scale * pred.astype(np.float64)
    if shift == 0.0:
        return d
    with np.errstate(divide='ignore', invalid='ignore'):
        den = 1.0 + shift * d
        return np.where(den > 0, d / den, np.nan)


def main(argv=None) -> int:
    """Print the mean AbsRel of every fit, set and anchor count."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    p.add_argument('data', help='folder holding nyu/, kitti/, tum/, icl_nuim/')
    p.add_argument('predictions', help='folder holding <set>/<name>.npy')
    p.add_argument('--seeds', type=int, default=10)
    args = p.parse_args(argv)
    print(f"{'set':<9}{'N':>6}  oracle  " + ''.join(f'{f:>9}' for f in FITS))
    for folder, (proto_name, png_scale, noise, outliers) in SETS.items():
        protocol = PROTOCOLS[proto_name]
        images = []
        for s in find_samples(Path(args.data) / folder):
            gt = read_depth(s.depth_path, png_scale or s.depth_scale or protocol.depth_scale)
            pred = resize_prediction(np.load(Path(args.predictions) / folder / f'{s.name}.npy'),
                                     gt.shape)
            images.append((s.name, gt, pred))
        oracle = np.mean([evaluate_image(g, q, protocol, median_scaling=True)
                          .scaled_metrics['abs_rel'] for _, g, q in images])
        for count in COUNTS:
            results = {f: [] for f in FITS}
            for seed in range(args.seeds):
                sensor = SimulatedSensor(count, noise, outliers, seed)
                for name, gt, pred in images:
                    anchors = sensor.depth(gt, protocol, name).reshape(-1)
                    ok = np.isfinite(anchors) & np.isfinite(pred.reshape(-1))
                    a, q = anchors[ok].astype(np.float64), pred.reshape(-1)[ok]
                    for f in FITS:
                        scale, shift = fit(f, q, a)
                        results[f].append(evaluate_image(
                            gt, corrected(pred, scale, shift), protocol).metrics['abs_rel'])
            print(f'{folder:<9}{count:>6}  {oracle:.4f}  '
                  + ''.join(f'{np.mean(results[f]):>9.4f}' for f in FITS))
    return 0


if __name__ == '__main__':
    sys.exit(main())
