# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Scale calibration (``depth_node_eval --fit-scale``): planted scales, the node's use, FastDepth.

FastDepth (a real metric network, int8 TFLite, ../shared/models) gives real
predictions of real NYU frames; it is used only here, through eval's
prediction-provider seam, and is not a depth_node model family.
"""

from pathlib import Path
import re

import cv2
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.models import load_model
from depth_node.offline.cameras import CameraSpec
from depth_node.offline.datasets import find_samples
from depth_node.offline.eval import (evaluate, FolderPredictor, format_scale_fit, main,
                                     ModelPredictor)
from depth_node.offline.metrics import fit_scale, PROTOCOLS, reference_focal_for_scale, ScaleFit
from depth_node.testing.fastdepth import FastDepth
from depth_node.testing.synthetic import render, sample_trajectory
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / 'shared'
NYU = SHARED / 'data' / 'rgbd' / 'nyu'
FASTDEPTH = SHARED / 'models' / 'fastdepth_nyu_int8_224.tflite'
PLANTED = 1.37
W, H, F = 64, 48, 48.0


def planted_predictions(gt: np.ndarray, seed: int) -> np.ndarray:
    """Return ``gt`` x 1.37 with 10 % multiplicative noise and 5 % wild outliers."""
    rng = np.random.default_rng(seed)
    pred = gt * PLANTED * np.exp(rng.normal(0.0, 0.1, gt.shape))
    outliers = rng.random(gt.shape) < 0.05
    pred[outliers] = rng.uniform(0.1, 20.0, int(outliers.sum()))
    return pred.astype(np.float32)


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    """Return (root, predictions folder, gts) of 4 synthetic frames with planted predictions."""
    root = tmp_path_factory.mktemp('calib')
    (root / 'rgb').mkdir()
    (root / 'depth').mkdir()
    (root / 'pred').mkdir()
    gts = []
    for i, pose in enumerate(sample_trajectory(4)):
        rgb, depth = render(W, H, F, F, (W - 1) / 2, (H - 1) / 2, pose)
        mm = np.rint(depth * 1000.0).astype(np.uint16)
        cv2.imwrite(str(root / 'rgb' / f'{i:04d}.png'), rgb[:, :, ::-1])
        cv2.imwrite(str(root / 'depth' / f'{i:04d}.png'), mm)
        gt = mm.astype(np.float32) / 1000.0
        np.save(root / 'pred' / f'{i:04d}.npy', planted_predictions(gt, i))
        gts.append(gt)
    return root, root / 'pred', gts


def test_fit_recovers_a_planted_scale(scene):
    _, preds, gts = scene
    pairs = [(gt, np.load(preds / f'{i:04d}.npy')) for i, gt in enumerate(gts)]
    fit = fit_scale(pairs, PROTOCOLS['generic'])
    assert fit.scale == pytest.approx(1 / PLANTED, rel=0.01)
    assert fit.frames == 4 and fit.pixels == 4 * W * H


def test_fit_scale_cli_prints_the_reference_focal(scene, capsys):
    root, preds, _ = scene
    rc = main([str(root), '--predictions', str(preds), '--fit-scale', '--reference-focal',
               '596.1', '--no-progress'])
    assert rc == 0
    out = capsys.readouterr().out
    scale = float(re.search(r'ground truth / prediction = ([0-9.]+)', out).group(1))
    assert scale == pytest.approx(1 / PLANTED, rel=0.01)
    new = float(re.search(r'^    reference_focal: ([0-9.]+)$', out, re.M).group(1))
    assert new == pytest.approx(596.1 * PLANTED, rel=0.01)
    assert 'current 596.1 px' in out and f'-> new {new:.1f} px' in out
    assert f'-p reference_focal:={new:.1f}' in out


def test_fit_scale_without_a_current_focal_prints_the_formula(scene, capsys):
    root, preds, _ = scene
    assert main([str(root), '--predictions', str(preds), '--fit-scale', '--no-progress']) == 0
    assert 'reference_focal_new = reference_focal_current / 0.7' in capsys.readouterr().out


def test_applying_the_fitted_scale_removes_the_bias(scene):
    root, preds, _ = scene
    samples = find_samples(root)
    before = evaluate(samples, FolderPredictor(preds), PROTOCOLS['generic'])
    after = evaluate(samples, FolderPredictor(preds), PROTOCOLS['generic'], scale=1 / PLANTED)
    assert before.mean['abs_rel'] > 0.3
    assert after.mean['abs_rel'] < 0.2 < before.mean['abs_rel'] / 2
    assert after.mean['delta1'] > 0.9


def test_the_node_applies_the_new_reference_focal(scene, tiny_da_model):
    """Fit on the tiny model, give it the printed reference_focal, fit again: 1.0."""
    root, _, _ = scene
    samples = find_samples(root)[:2]
    camera = CameraSpec(fx=F)
    protocol = PROTOCOLS['generic']
    model = tiny_da_model
    current = model.reference_focal
    rgb = cv2.imread(str(samples[0].rgb_path))[:, :, ::-1]
    info = camera.for_size(W, H)
    processor = FrameProcessor(model)
    opts = OutputOptions(publish_points=False)
    try:
        first = evaluate(samples, ModelPredictor(model), protocol, camera=camera, fit=True)
        old = processor.process_pixels(rgb, (0, 1, 2), info, opts).depth
        new = reference_focal_for_scale(current, first.scale_fit.scale)
        # What the node does with reference_focal (load_model(reference_focal=...) at
        # start-up, the same setter on a run-time parameter change).
        model.reference_focal = new
        second = evaluate(samples, ModelPredictor(model), protocol, camera=camera, fit=True)
        scaled = processor.process_pixels(rgb, (0, 1, 2), info, opts).depth
    finally:
        model.reference_focal = 0.0
    assert model.reference_focal == current
    assert second.scale_fit.scale == pytest.approx(1.0, rel=0.01)
    # Through the node's own frame path: depth scales by exactly current / new = the fit.
    np.testing.assert_allclose(scaled / old, first.scale_fit.scale, rtol=1e-4)


def test_load_model_takes_the_calibrated_focal(tiny_da_dir):
    model = load_model(tiny_da_dir, 'cpu', 'fp32', reference_focal=816.7)
    assert model.reference_focal == pytest.approx(816.7)
    assert '816.7 px' in model.describe()


def test_scale_fit_text_for_each_case():
    fit = ScaleFit(0.5, 2, 100, [0.49, 0.51])
    text = format_scale_fit(fit, 596.1, True, "the checkpoint's default")
    assert '-> new 1192.2 px' in text and '    reference_focal: 1192.2' in text
    assert 'per frame 0.4900 .. 0.5100' in text
    assert 'has no effect' in format_scale_fit(fit, 596.1, False, '')
    assert 'no reference_focal (Depth Pro' in format_scale_fit(fit, None, True, 'none')
    assert 'reference_focal_current / 0.5000' in format_scale_fit(fit, None, True, '')
    assert 'no valid pixels' in format_scale_fit(ScaleFit(float('nan'), 1, 0), 1.0, True, '')


# ------------------------------------------------------------------ FastDepth on real NYU frames

def fastdepth_predictor():
    """Return a predictor running FastDepth as its authors evaluate NYU (centre crop, 224^2)."""
    pytest.importorskip('ai_edge_litert.interpreter', reason='ai-edge-litert is not installed')
    net = FastDepth(FASTDEPTH)
    return lambda sample, rgb, info: net.predict(rgb, crop='nyu')


def test_fastdepth_on_nyu_frames_and_its_scale():
    if not NYU.is_dir() or not FASTDEPTH.is_file():
        pytest.skip('../shared/data/rgbd/nyu or ../shared/models FastDepth is absent')
    predict = fastdepth_predictor()
    report = evaluate(find_samples(NYU), predict, PROTOCOLS['nyu'], median_scaling=True,
                      fit=True)
    assert len(report.images) == 3
    # Published AbsRel about 0.14 on NYU; 0.07-0.12 on these three frames.
    assert 0.05 < report.mean['abs_rel'] < 0.25
    assert report.mean['delta1'] > 0.75
    assert report.scaled_mean['abs_rel'] <= report.mean['abs_rel'] + 1e-9
    assert report.missing > 0  # outside the centre crop there is no prediction
    fit = report.scale_fit
    assert 0.8 < fit.scale < 1.25  # a metric network trained on NYU: nearly right already
    lo, hi = fit.spread()
    assert lo <= fit.scale <= hi
    # Applying the fitted factor does not make it worse.
    again = evaluate(find_samples(NYU), predict, PROTOCOLS['nyu'], scale=fit.scale)
    assert again.mean['abs_rel'] < report.mean['abs_rel'] + 0.01
