# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Depth metrics, crops, caps and the scale fitter on data with known answers."""

import math

from depth_node.offline.metrics import (compute_errors, crop_mask, evaluate_image, fit_scale,
                                        mean_metrics, METRIC_NAMES, PROTOCOLS,
                                        reference_focal_for_scale, ScaleFitter)
from depth_node.testing.synthetic import render, sample_trajectory
import numpy as np
import pytest

GENERIC = PROTOCOLS['generic']
NYU = PROTOCOLS['nyu']
KITTI = PROTOCOLS['kitti']


@pytest.fixture(scope='module')
def scene_depth():
    """Exact depth of a small synthetic room (metres, all pixels valid)."""
    _, depth = render(80, 60, 60.0, 60.0, 39.5, 29.5, sample_trajectory(2)[0])
    assert np.all(np.isfinite(depth))
    return depth.astype(np.float64)


def test_ten_percent_too_far_gives_the_textbook_numbers(scene_depth):
    gt = scene_depth
    m = compute_errors(gt.ravel(), 1.1 * gt.ravel())
    assert m['abs_rel'] == pytest.approx(0.1, rel=1e-12)
    assert m['sq_rel'] == pytest.approx(0.01 * gt.mean(), rel=1e-9)
    assert m['rmse'] == pytest.approx(0.1 * math.sqrt(np.mean(gt ** 2)), rel=1e-9)
    assert m['rmse_log'] == pytest.approx(math.log(1.1), rel=1e-9)
    assert m['log10'] == pytest.approx(math.log10(1.1), rel=1e-9)
    assert (m['delta1'], m['delta2'], m['delta3']) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize('factor, deltas', [
    (1.0, (1.0, 1.0, 1.0)),
    (1.3, (0.0, 1.0, 1.0)),       # 1.25 < 1.3 < 1.5625
    (1 / 1.9, (0.0, 0.0, 1.0)),  # 1.5625 < 1.9 < 1.953
    (2.0, (0.0, 0.0, 0.0)),      # 2 > 1.25^3
])
def test_delta_thresholds(scene_depth, factor, deltas):
    m = compute_errors(scene_depth.ravel(), factor * scene_depth.ravel())
    assert (m['delta1'], m['delta2'], m['delta3']) == deltas


def test_half_exact_half_fifty_percent_off():
    gt = np.full(1000, 2.0)
    pred = gt.copy()
    pred[:500] = 3.0
    m = compute_errors(gt, pred)
    assert m['abs_rel'] == pytest.approx(0.25)
    assert m['rmse'] == pytest.approx(math.sqrt(0.5))
    assert m['delta1'] == pytest.approx(0.5)
    assert m['sq_rel'] == pytest.approx(0.25)


def test_median_scaling_removes_a_global_factor(scene_depth):
    r = evaluate_image(scene_depth, 0.5 * scene_depth, GENERIC, median_scaling=True)
    assert r.metrics['abs_rel'] == pytest.approx(0.5)
    assert r.median_scale == pytest.approx(2.0)
    assert r.scaled_metrics['abs_rel'] == pytest.approx(0.0, abs=1e-12)
    assert r.scaled_metrics['delta1'] == 1.0


def test_scale_argument_multiplies_the_prediction(scene_depth):
    r = evaluate_image(scene_depth, scene_depth / 1.37, GENERIC, scale=1.37)
    assert r.metrics['abs_rel'] == pytest.approx(0.0, abs=1e-12)


def test_caps_exclude_ground_truth_and_clamp_predictions():
    gt = np.array([[0.0, 5.0, 12.0, np.nan]])
    pred = np.array([[1.0, 20.0, 12.0, 3.0]])
    proto = NYU.with_overrides(crop='none')
    r = evaluate_image(gt, pred, proto)
    # Only gt = 5 counts (0 invalid, 12 > 10 m cap, NaN); the prediction 20 is clamped to 10.
    assert r.valid == 1
    assert r.metrics['abs_rel'] == pytest.approx(1.0)
    # The minimum clamps too: a non-positive prediction becomes 1e-3.
    r = evaluate_image(np.array([[2.0]]), np.array([[-1.0]]), GENERIC)
    assert r.metrics['abs_rel'] == pytest.approx((2.0 - 1e-3) / 2.0)


def test_missing_predictions_are_left_out_and_counted(scene_depth):
    pred = 1.1 * scene_depth
    pred[:10] = np.nan
    r = evaluate_image(scene_depth, pred, GENERIC)
    assert r.missing == 10 * scene_depth.shape[1]
    assert r.valid == scene_depth.size - r.missing
    assert r.metrics['abs_rel'] == pytest.approx(0.1)


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match='differ in size'):
        evaluate_image(np.ones((4, 4)), np.ones((4, 5)), GENERIC)


def test_eigen_crop_on_nyu_frames():
    mask = crop_mask((480, 640), 'eigen_nyu')
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (45, 470, 41, 600)
    assert mask.sum() == 426 * 560


def test_garg_and_eigen_crops_on_kitti_frames():
    h, w = 375, 1242
    rows, cols = np.nonzero(crop_mask((h, w), 'garg'))
    assert (rows.min(), rows.max() + 1) == (int(0.40810811 * h), int(0.99189189 * h))
    assert (cols.min(), cols.max() + 1) == (int(0.03594771 * w), int(0.96405229 * w))
    rows, _ = np.nonzero(crop_mask((h, w), 'eigen_kitti'))
    assert (rows.min(), rows.max() + 1) == (int(0.3324324 * h), int(0.91351351 * h))
    assert crop_mask((h, w), 'none').all()
    with pytest.raises(ValueError):
        crop_mask((h, w), 'square')


def test_protocol_presets_match_the_papers():
    assert (NYU.min_depth, NYU.max_depth, NYU.crop, NYU.depth_scale) == (
        1e-3, 10.0, 'eigen_nyu', 1000.0)
    assert (KITTI.min_depth, KITTI.max_depth, KITTI.crop, KITTI.depth_scale) == (
        1e-3, 80.0, 'garg', 256.0)
    assert GENERIC.max_depth == 0.0 and GENERIC.crop == 'none'
    assert 'eigen_nyu' in NYU.summary()


def test_nyu_crop_leaves_the_border_out():
    gt = np.full((480, 640), 3.0)
    pred = gt.copy()
    pred[:45] = 30.0  # wrong only outside the Eigen crop
    assert evaluate_image(gt, pred, NYU).metrics['abs_rel'] == pytest.approx(0.0)
    assert evaluate_image(gt, pred, GENERIC).metrics['abs_rel'] > 0.5


def test_mean_is_over_images():
    a = dict.fromkeys(METRIC_NAMES, 1.0)
    b = dict.fromkeys(METRIC_NAMES, 3.0)
    c = dict.fromkeys(METRIC_NAMES, math.nan)  # an image with no valid pixel
    assert mean_metrics([a, b, c]) == dict.fromkeys(METRIC_NAMES, 2.0)


def test_pooled_histogram_median_matches_the_exact_median(scene_depth):
    rng = np.random.default_rng(3)
    fitter = ScaleFitter(GENERIC)
    ratios = []
    for _ in range(4):
        pred = scene_depth * 0.8 * np.exp(rng.normal(0.0, 0.2, scene_depth.shape))
        fitter.add(scene_depth, pred)
        ratios.append(np.log(scene_depth / pred).ravel())
    exact = math.exp(np.median(np.concatenate(ratios)))
    fit = fitter.result()
    assert fit.frames == 4 and fit.pixels == 4 * scene_depth.size
    assert fit.scale == pytest.approx(exact, rel=2e-4)
    lo, hi = fit.spread()
    assert lo <= hi


def test_fit_scale_ignores_invalid_pixels(scene_depth):
    pred = scene_depth / 2.0
    pred[:5] = np.nan
    pred[5:10] = -1.0
    fit = fit_scale([(scene_depth, pred)], GENERIC)
    assert fit.scale == pytest.approx(2.0, rel=1e-4)
    assert fit.pixels == scene_depth.size - 10 * scene_depth.shape[1]
    assert math.isnan(fit_scale([(scene_depth, np.full_like(pred, np.nan))], GENERIC).scale)


def test_reference_focal_moves_opposite_to_the_scale():
    # depth is proportional to 1 / reference_focal: doubling depth halves the focal.
    assert reference_focal_for_scale(596.1, 2.0) == pytest.approx(298.05)
    assert reference_focal_for_scale(596.1, 1 / 1.37) == pytest.approx(596.1 * 1.37)
    with pytest.raises(ValueError):
        reference_focal_for_scale(0.0, 1.0)
    with pytest.raises(ValueError):
        reference_focal_for_scale(596.1, math.nan)
