# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Temporal stabilisation of the scale (``temporal.*``, depth_node/temporal.py).

The stabiliser on its own (static scenes that breathe, steps, spikes, cuts,
gaps, camera changes, bad stamps, anchored corrections, diagnostics), in the
frame path (host and device stage give the same bytes; stamps from the
message header), ``depth_node_run`` against a FrameProcessor fed the run's own
output bag like the node, ``depth_node_eval --sequence``, and the issue's
done-criteria on the real 7-Scenes sequence with FastDepth's real predictions.
Scales are checked against the synthetic ground truth (``median(out / gt)``),
not against the stabiliser's own numbers.
"""

import math
import os
from pathlib import Path
import re

import cv2
from depth_node.camera import pinhole_camera_info
from depth_node.correction import Correction
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.geometry import Intrinsics
from depth_node.offline import sequence
from depth_node.offline.bag import bag_typestore
from depth_node.offline.eval import main as eval_main
from depth_node.offline.metrics import PROTOCOLS
from depth_node.offline.run import main as run_main
from depth_node.temporal import (log_ratio, RESET_REASONS, sample_stride, TemporalOptions,
                                 TemporalStabilizer)
from depth_node.testing.fastdepth import FastDepth
from depth_node.testing.synthetic import Pose, render, sample_trajectory
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest
from rosbags.rosbag2 import Reader
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('DEPTH_NODE_SHARED', REPO.parent / 'shared'))
KITCHEN = SHARED / 'data' / 'rgbd' / '7scenes_redkitchen'
FASTDEPTH = SHARED / 'models' / 'fastdepth_nyu_int8_224.tflite'

W, H, F = 64, 48, 48.0
INTR = Intrinsics(W, H, F, F, (W - 1) / 2, (H - 1) / 2)
PERIOD = 33_333_333  # 30 Hz
T0 = 1_700_000_000 * 10**9
ON = TemporalOptions(enabled=True)
#: The device stage runs on the CPU everywhere and on CUDA where there is one.
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


@pytest.fixture(scope='module')
def scene():
    """Return the ground truth of a static view, ``H x W`` metres."""
    return render(W, H, F, F, INTR.cx, INTR.cy, sample_trajectory(3)[1])[1]


@pytest.fixture(scope='module')
def other_scene():
    """Return the ground truth of a different view (the camera looking across the room)."""
    pose = Pose.look_at((2.0, -1.0, 1.0), (-2.6, -1.0, 1.0))
    return render(W, H, F, F, INTR.cx, INTR.cy, pose)[1]


def network(gt, scale, seed, noise=0.02):
    """Return ``gt`` as a network would give it: times ``scale``, with per-pixel noise."""
    rng = np.random.default_rng(seed)
    return (gt * scale * np.exp(rng.normal(0.0, noise, gt.shape))).astype(np.float32)


def stream(stabilizer, maps, opts=ON, stamps=None, intr=INTR, fitted=None, events=None):
    """Feed maps in order; return the outputs."""
    outs = []
    for i, depth in enumerate(maps):
        stamp = T0 + i * PERIOD if stamps is None else stamps[i]
        fit = None if fitted is None else fitted[i]
        correction = stabilizer.correction(depth, intr, stamp, opts, events, fit)
        outs.append(stabilizer.apply(depth, correction))
    return outs


def scale_of(out, gt):
    """Return the output's global scale against the ground truth, median(out / gt)."""
    valid = np.isfinite(out) & np.isfinite(gt) & (gt > 0)
    return float(np.median(out[valid] / gt[valid]))


def frame_changes(scales):
    s = np.asarray(scales)
    return np.abs(s[1:] / s[:-1] - 1.0)


# ------------------------------------------------------------------ the stabiliser alone

def test_a_static_scene_does_not_breathe(scene):
    rng = np.random.default_rng(0)
    breathing = np.exp(rng.normal(0.0, 0.05, 60))
    maps = [network(scene, b, seed=i) for i, b in enumerate(breathing)]
    outs = stream(TemporalStabilizer(), maps)
    raw = frame_changes([scale_of(m, scene) for m in maps])
    stab = frame_changes([scale_of(o, scene) for o in outs])
    assert np.median(stab) * 3 < np.median(raw)
    assert np.percentile(stab, 90) * 3 < np.percentile(raw, 90)
    # It follows the network's own mean scale, not its first frame's.
    assert abs(np.mean([scale_of(o, scene) for o in outs[20:]]) / np.mean(breathing) - 1) < 0.03


def test_a_scale_step_is_followed_on_the_next_frame(scene):
    maps = [network(scene, 1.0 if i < 10 else 1.2, seed=i) for i in range(20)]
    stabilizer = TemporalStabilizer()
    outs, resets = [], []
    for i, depth in enumerate(maps):
        c = stabilizer.correction(depth, INTR, T0 + i * PERIOD, ON)
        outs.append(stabilizer.apply(depth, c))
        resets.append(stabilizer.last.reset)
    assert resets[0] == 'start' and resets[11] == 'step'
    assert [r for i, r in enumerate(resets) if i not in (0, 11)] == [None] * 18
    scales = [scale_of(o, scene) for o in outs]
    assert all(abs(s - 1.0) < 0.01 for s in scales[:10])
    assert scales[10] < 1.05  # the step frame itself is smoothed like a spike ...
    assert all(abs(s / 1.2 - 1.0) < 0.01 for s in scales[11:])  # ... then followed


def test_a_one_frame_spike_is_smoothed_away(scene):
    maps = [network(scene, 1.25 if i == 10 else 1.0, seed=i) for i in range(16)]
    scales = [scale_of(o, scene) for o in stream(TemporalStabilizer(), maps)]
    assert scales[10] < 1.03 and scales[11] < 1.03  # 25 % in, under 3 % out
    assert all(abs(s - 1.0) < 0.01 for s in scales[12:])


def test_a_cut_starts_again_with_the_networks_own_scale(scene, other_scene):
    maps = ([network(scene, 1.0 + 0.05 * (i % 2), seed=i) for i in range(8)]
            + [network(other_scene, 1.1, seed=20 + i) for i in range(4)])
    stabilizer = TemporalStabilizer()
    outs = []
    for i, depth in enumerate(maps):
        c = stabilizer.correction(depth, INTR, T0 + i * PERIOD, ON)
        outs.append(stabilizer.apply(depth, c))
        if i == 8:
            cut = stabilizer.last
    assert cut.reset == 'scene' and cut.factor == 1.0 and cut.passing < ON.min_fraction
    assert outs[8] is maps[8]  # the network's own depth, untouched
    assert stabilizer.resets['scene'] == 1


def test_a_gap_in_the_stream_starts_again(scene):
    maps = [network(scene, 1.0 + 0.1 * (i % 2), seed=i) for i in range(6)]
    stamps = [T0 + i * PERIOD for i in range(3)] + [T0 + 2 * PERIOD + 10**9 + i * PERIOD
                                                    for i in range(3)]
    events = []
    stabilizer = TemporalStabilizer()
    outs = stream(stabilizer, maps, stamps=stamps, events=events)
    assert [e.kind for e in events] == ['temporal_reset']
    assert events[0].text == ('temporal stabilisation starts again: 1.000 s since the previous '
                              'frame (more than temporal.max_gap 0.5 s)')
    assert outs[3] is maps[3] and stabilizer.resets['gap'] == 1
    assert outs[4] is not maps[4]  # and goes on after it
    # max_gap 0: gaps are no reason.
    events.clear()
    stream(TemporalStabilizer(), maps, TemporalOptions(enabled=True, max_gap=0.0), stamps,
           events=events)
    assert events == []


@pytest.mark.parametrize('delta,reason,level,text', [
    (0, 'stamp_equal', 'warning',
     'temporal stabilisation starts again: image stamp 1700000000.066666666 repeats the previous '
     'one (a duplicated frame, or a camera without timestamps: stabilisation cannot work with '
     'those)'),
    (-10**8, 'stamp_backwards', 'info',
     'temporal stabilisation starts again: image stamp went back 0.100 s (a bag played in a '
     'loop?)'),
])
def test_bad_stamps_start_again(scene, delta, reason, level, text):
    maps = [network(scene, 1.0 + 0.1 * (i % 2), seed=i) for i in range(5)]
    stamps = [T0, T0 + PERIOD, T0 + 2 * PERIOD]
    stamps += [stamps[-1] + delta, stamps[-1] + delta + PERIOD]
    events = []
    stabilizer = TemporalStabilizer()
    outs = stream(stabilizer, maps, stamps=stamps, events=events)
    assert [(e.kind, e.level, e.text) for e in events] == [('temporal_reset', level, text)]
    assert outs[3] is maps[3] and stabilizer.resets[reason] == 1
    assert outs[4] is not maps[4]


def test_frames_without_stamps_are_a_nominal_period_apart(scene):
    maps = [network(scene, 1.0 + 0.1 * (i % 2), seed=i) for i in range(4)]
    events = []
    outs = stream(TemporalStabilizer(), maps, stamps=[None] * 4, events=events)
    expected = stream(TemporalStabilizer(), maps)
    assert events == []
    for a, b in zip(outs, expected):
        np.testing.assert_array_equal(a, b)


def test_a_camera_change_starts_again(scene):
    maps = [network(scene, 1.0 + 0.1 * (i % 2), seed=i) for i in range(4)]
    events = []
    stabilizer = TemporalStabilizer()
    stream(stabilizer, maps[:2], events=events)
    other = Intrinsics(W, H, F * 1.5, F * 1.5, INTR.cx, INTR.cy)
    c = stabilizer.correction(maps[2], other, T0 + 2 * PERIOD, ON, events)
    assert stabilizer.apply(maps[2], c) is maps[2]
    assert stabilizer.last.reset == 'camera'
    assert [e.text for e in events] == [
        'temporal stabilisation starts again: the camera changed (size or intrinsics)']
    # A new size too (another camera's depth).
    small = cv2.resize(maps[3], (W // 2, H // 2), interpolation=cv2.INTER_NEAREST)
    c = stabilizer.correction(small, Intrinsics(W // 2, H // 2, F, F, 15.5, 11.5),
                              T0 + 3 * PERIOD, ON, events)
    assert c.is_identity and stabilizer.resets['camera'] == 2


def test_disabled_passes_through_and_forgets(scene):
    maps = [network(scene, 1.0 + 0.1 * (i % 2), seed=i) for i in range(4)]
    stabilizer = TemporalStabilizer()
    stream(stabilizer, maps[:2])
    fitted = Correction(1.3)
    off = TemporalOptions(enabled=False)
    assert stabilizer.correction(maps[2], INTR, T0 + 2 * PERIOD, off) == Correction()
    assert stabilizer.correction(maps[2], INTR, T0 + 2 * PERIOD, off, fitted=fitted) == fitted
    assert stabilizer.apply(maps[2], Correction()) is maps[2]
    c = stabilizer.correction(maps[3], INTR, T0 + 3 * PERIOD, ON)
    assert stabilizer.apply(maps[3], c) is maps[3]
    assert stabilizer.last.reset == 'start'


def test_diagnostic_values(scene, other_scene):
    stabilizer = TemporalStabilizer()
    assert dict(stabilizer.diagnostics())['temporal.factor'] == 'n/a'
    maps = [network(scene, 1.0, seed=0), network(scene, 0.9, seed=1),
            network(other_scene, 1.0, seed=2), network(other_scene, 1.0, seed=3)]
    stamps = [T0, T0 + PERIOD, T0 + 2 * PERIOD, T0 + 2 * PERIOD + 10**9]
    stream(stabilizer, maps[:2], stamps=stamps)
    # The second frame's factor is the low-passed ratio to the first output, from the
    # passing pixels of the sample (here every pixel: 64 x 48 is below the sample target).
    assert sample_stride(W, H) == 1
    log_r, passing = log_ratio(maps[0], maps[1], ON.gate)
    alpha = 1.0 - math.exp(-(PERIOD * 1e-9) / ON.time_constant)
    factor = math.exp((1.0 - alpha) * log_r)
    assert abs(factor / (1 / 0.9) ** (1 - alpha) - 1) < 0.01
    values = dict(stabilizer.diagnostics())
    assert values['temporal.factor'] == f'{factor:.4f}'
    assert values['temporal.gate_pass'] == f'{passing:.3f}' and passing > 0.95
    assert (values['temporal.anchored'], values['temporal.last_reset']) == ('false', 'none')
    assert values['temporal.resets'] == '0'
    stream(stabilizer, maps[2:], stamps=stamps[2:])  # a cut, then a gap
    values = stabilizer.diagnostics()
    assert [k for k, _ in values] == (
        ['temporal.factor', 'temporal.gate_pass', 'temporal.anchored', 'temporal.last_reset',
         'temporal.resets'] + [f'temporal.resets.{r}' for r in RESET_REASONS])
    values = dict(values)
    assert values['temporal.factor'] == '1.0000' and values['temporal.gate_pass'] == 'n/a'
    assert values['temporal.last_reset'] == 'gap' and values['temporal.resets'] == '2'
    assert values['temporal.resets.scene'] == '1' and values['temporal.resets.gap'] == '1'
    assert values['temporal.resets.step'] == '0'


def test_an_anchored_correction_is_stabilised(scene):
    """
    Anchoring: a fitted correction per frame (a stand-in for issue 21's fit).

    The network breathes and is 20 % too far; the anchor's fit undoes both, with 6 %
    noise of its own. The output keeps the anchored scale (1.0 against the ground
    truth) and breathes much less than the anchored depth alone.
    """
    rng = np.random.default_rng(3)
    breathing = 1.2 * np.exp(rng.normal(0.0, 0.05, 60))
    maps = [network(scene, b, seed=i) for i, b in enumerate(breathing)]
    fitted = [Correction(float(np.exp(rng.normal(0.0, 0.06))) / b, 0.0) for b in breathing]
    stabilizer = TemporalStabilizer()
    outs = stream(stabilizer, maps, fitted=fitted)
    assert stabilizer.last.anchored
    anchored = frame_changes([scale_of(f.apply(m), scene) for f, m in zip(fitted, maps)])
    stab = [scale_of(o, scene) for o in outs]
    assert np.median(frame_changes(stab)) * 3 < np.median(anchored)
    assert abs(np.mean(stab[10:]) - 1.0) < 0.03
    # Smoothing the fitted scale on its own would bring the network's breathing back.
    naive, ema = [], math.log(fitted[0].scale)
    for f, m in zip(fitted, maps):
        ema += 0.1 * (math.log(f.scale) - ema)
        naive.append(scale_of(m * math.exp(ema), scene))
    assert np.median(frame_changes(stab)) * 2 < np.median(frame_changes(naive))


def test_an_anchored_shift_is_kept(scene):
    """A fitted scale and inverse-depth shift: the result is the fit followed by a scale."""
    maps = [network(scene, 1.0, seed=i, noise=0.0) for i in range(3)]
    fit = Correction(0.8, 0.05)
    stabilizer = TemporalStabilizer()
    outs = stream(stabilizer, maps, fitted=[fit] * 3)
    correction = stabilizer.last.correction
    k = stabilizer.last.factor
    expected = k * fit.apply(maps[2])
    np.testing.assert_allclose(outs[2], expected, rtol=1e-5)
    assert correction.shift == pytest.approx(fit.shift / k)
    assert abs(scale_of(outs[2], fit.apply(maps[2])) - 1.0) < 1e-3


# ------------------------------------------------------------------ the frame path

class SequenceModel:
    """A model giving a fixed sequence of depth maps (host, or on the device when asked)."""

    family = 'fake'
    estimates_camera = False
    focal_estimated = False

    def __init__(self, maps, device='cpu'):
        self.maps = list(maps)
        self.index = 0
        self.device = torch.device(device)

    def predict_many(self, requests, max_batch=0):
        for index, request in enumerate(requests):
            depth = self.maps[self.index % len(self.maps)].copy()
            self.index += 1
            if not request.on_device:
                yield index, depth
                continue
            image = torch.from_numpy(np.array(request.pixels)).permute(2, 0, 1)[None]
            yield index, (torch.from_numpy(depth).to(self.device), image.to(self.device))


def breathing_maps(scene, n=8):
    """Return ``n`` maps of a breathing static scene, with holes and +inf in two of them."""
    maps = [network(scene, 1.0 + 0.08 * ((-1) ** i), seed=i) for i in range(max(n, 5))]
    maps[3][5:9, 5:30] = np.nan
    maps[4][0, :] = np.inf
    return maps[:n]


@pytest.mark.parametrize('decimation', [1, 2])
@pytest.mark.parametrize('device', DEVICES)
def test_frame_path_host_and_device_give_the_same_bytes(scene, decimation, device):
    opts = OutputOptions(temporal=ON, decimation=decimation, scan=True, colored=True)
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=1)
    maps = breathing_maps(scene)
    host = FrameProcessor(SequenceModel(maps), device_payloads=False)
    dev = FrameProcessor(SequenceModel(maps, device), device_payloads=True)
    off = FrameProcessor(SequenceModel(maps))
    for i in range(len(maps)):
        a = host.process_pixels(pixels, (0, 1, 2), info, opts, stamp_ns=T0 + i * PERIOD)
        b = dev.process_pixels(pixels, (0, 1, 2), info, opts, stamp_ns=T0 + i * PERIOD)
        c = off.process_pixels(pixels, (0, 1, 2), info, OutputOptions(decimation=decimation))
        assert a.depth_data.tobytes() == b.depth_data.tobytes()
        assert a.cloud.data.tobytes() == b.cloud.data.tobytes()
        assert a.scan.ranges.tobytes() == b.scan.ranges.tobytes()
        np.testing.assert_array_equal(a.colored, b.colored)
        assert a.correction == b.correction == a.temporal.correction
        assert c.temporal is None and c.correction is None
        if i > 0:
            assert not a.correction.is_identity
            assert not np.array_equal(a.depth, c.depth, equal_nan=True)
    assert 'temporal' in a.timings and 'temporal' not in c.timings


def test_the_frame_path_stabilises_the_anchoring_stage(scene):
    """The real anchoring stage (anchor/depth) feeds the stabiliser its fitted correction."""
    from types import SimpleNamespace
    from depth_node.anchor import AnchorInput
    rng = np.random.default_rng(5)
    breathing = 1.3 * np.exp(rng.normal(0.0, 0.05, 24))
    maps = [network(scene, b, seed=i) for i, b in enumerate(breathing)]
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=1)

    def anchor(i, stamp):
        sparse = rng.random(scene.shape) < 0.1
        values = np.where(sparse, scene * np.exp(rng.normal(0.0, 0.1, scene.shape)), 0.0)
        header = SimpleNamespace(stamp=SimpleNamespace(sec=stamp // 10**9,
                                                       nanosec=stamp % 10**9), frame_id='cam')
        return AnchorInput('depth', SimpleNamespace(
            header=header, height=H, width=W, encoding='32FC1', is_bigendian=0, step=W * 4,
            data=values.astype('<f4').tobytes()))

    results = {}
    for temporal in (False, True):
        processor = FrameProcessor(SequenceModel(maps))
        opts = OutputOptions(anchor_depth=True, temporal=TemporalOptions(enabled=temporal),
                             publish_points=False)
        outs = []
        for i in range(len(maps)):
            stamp = T0 + i * PERIOD
            outs.append(processor.process_pixels(pixels, (0, 1, 2), info, opts, frame_id='cam',
                                                 stamp_ns=stamp, anchor=anchor(i, stamp)))
        results[temporal] = outs
    anchored, stabilised = results[False], results[True]
    assert all(o.anchor.state == 'anchored' for o in anchored + stabilised)
    assert all(o.temporal.anchored for o in stabilised)
    scales = {k: [scale_of(o.depth, scene) for o in v] for k, v in results.items()}
    assert abs(np.mean(scales[True][5:]) - 1.0) < 0.03  # the anchored scale, not the network's
    assert np.median(frame_changes(scales[True])) * 2 < np.median(frame_changes(scales[False]))
    last = stabilised[-1]
    assert last.correction == last.temporal.correction != anchored[-1].correction


class EstimatingModel(SequenceModel):
    """Like Depth Pro without focal scaling: a new estimated focal length every frame."""

    focal_estimated = True

    def estimated_intrinsics(self, width, height, camera=None):
        fx = F * (1.0 + 0.05 * (self.index % 2))
        return Intrinsics(width, height, fx, fx, camera.cx, camera.cy)


def test_an_estimated_camera_is_no_camera_change(scene):
    """The network's own focal estimate moves with its scale: that is breathing too."""
    processor = FrameProcessor(EstimatingModel(breathing_maps(scene, 6)))
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=1)
    outs = [processor.process_pixels(pixels, (0, 1, 2), info, OutputOptions(temporal=ON),
                                     stamp_ns=T0 + i * PERIOD) for i in range(6)]
    assert len({o.intrinsics.fx for o in outs}) == 2
    assert [o.temporal.reset for o in outs] == ['start'] + [None] * 5


def test_the_stamp_comes_from_the_message_header(scene):
    from sensor_msgs.msg import Image
    maps = breathing_maps(scene, 4)
    processor = FrameProcessor(SequenceModel(maps))
    info = pinhole_camera_info(INTR)
    pixels = textured_image(H, W, seed=1)
    opts = OutputOptions(temporal=ON)
    outs = []
    for i, stamp in enumerate([T0, T0 + PERIOD, T0 + PERIOD, T0 + 3 * PERIOD]):
        msg = Image(height=H, width=W, encoding='rgb8', step=W * 3,
                    data=pixels.tobytes())
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
        outs.append(processor.process(msg, info, opts))
    assert [o.temporal.reset for o in outs] == ['start', None, 'stamp_equal', None]
    assert [e.kind for e in outs[2].events] == ['temporal_reset']


def test_parameters_reach_the_options():
    from depth_node.params import PARAMETERS
    cfg = {p.name: p.default for p in PARAMETERS}
    assert OutputOptions.from_parameters(cfg).temporal == TemporalOptions()
    cfg.update({'temporal.enabled': True, 'temporal.gate': 0.3, 'temporal.step': 0.2,
                'temporal.time_constant': 2.0, 'temporal.min_fraction': 0.25,
                'temporal.max_gap': 1.5, 'temporal.pixel_weight': 1.0})
    assert OutputOptions.from_parameters(cfg).temporal == TemporalOptions(
        True, 0.3, 0.2, 2.0, 0.25, 1.5, 1.0)


# ------------------------------------------------------------------ offline tools

def test_depth_node_run_equals_the_frame_path_fed_like_the_node(tmp_path, tiny_da_model,
                                                                tiny_da_dir):
    """
    depth_node_run --temporal over an ordered image folder vs the node's frame path.

    The run's own output bag holds the images and camera_info it stamped; fed in order
    through FrameProcessor.process (the stamp from each header, as the node gets it),
    they give the run's depth image to the byte.
    """
    folder = tmp_path / 'images'
    folder.mkdir()
    for i, pose in enumerate(sample_trajectory(6)):
        rgb = render(W, H, F, F, INTR.cx, INTR.cy, pose)[0]
        cv2.imwrite(str(folder / f'f_{i}.png'), rgb[:, :, ::-1])
    bag = tmp_path / 'out'
    args = [str(folder), '--model', tiny_da_dir, '--device', 'cpu', '--fx', str(F),
            '--cx', str(INTR.cx), '--cy', str(INTR.cy), '--out-bag', str(bag), '--fps', '10',
            '--no-progress', '--temporal', '--temporal-time-constant', '1.0']
    assert run_main(args) == 0
    store = bag_typestore()
    topics = {}
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            topics.setdefault(conn.topic, []).append(store.deserialize_cdr(raw, conn.msgtype))
    images, infos = topics['/camera/image_raw'], topics['/camera/camera_info']
    depths = topics['/camera/depth/image']
    processor = FrameProcessor(tiny_da_model)
    plain = FrameProcessor(tiny_da_model)
    opts = OutputOptions(temporal=TemporalOptions(enabled=True, time_constant=1.0),
                         publish_points=False)
    assert len(depths) == 6
    for image, info, depth in zip(images, infos, depths):
        out = processor.process(image, info, opts)
        assert bytes(out.depth_data) == depth.data.tobytes()
        raw = plain.process(image, info, OutputOptions(publish_points=False))
    assert out.temporal.reset is None and not out.correction.is_identity
    assert bytes(raw.depth_data) != depth.data.tobytes()


def test_eval_sequence_mode(tmp_path, scene, capsys):
    """A breathing static scene: the report's rows, from a predictions folder."""
    for sub in ('rgb', 'depth', 'pred'):
        (tmp_path / sub).mkdir()
    rng = np.random.default_rng(7)
    for i in range(24):
        cv2.imwrite(str(tmp_path / 'rgb' / f'{i:04d}.png'), textured_image(H, W, seed=i))
        cv2.imwrite(str(tmp_path / 'depth' / f'{i:04d}.png'),
                    np.rint(scene * 1000).astype(np.uint16))
        np.save(tmp_path / 'pred' / f'{i:04d}.npy',
                network(scene, float(np.exp(rng.normal(0, 0.05))), seed=i))
    assert eval_main([str(tmp_path), '--predictions', str(tmp_path / 'pred'), '--sequence',
                      '--no-progress']) == 0
    out = capsys.readouterr().out
    assert 'sequence of 24 frame(s) at 30 fps; temporal stabilisation: gate 0.2, step 0.1' in out
    row = re.search(r'^without stabilisation\s+([0-9.]+) %\s+([0-9.]+) %', out, re.M)
    stab = re.search(r'^with stabilisation\s+([0-9.]+) %\s+([0-9.]+) %', out, re.M)
    assert float(stab.group(1)) * 3 < float(row.group(1))
    assert re.search(r'^  cut frame 7 -> 16: \d+ frame\(s\)$', out, re.M)
    assert re.search(r'^  step x1.2 at frame 12: [01] frame\(s\)$', out, re.M)
    assert re.search(r'^  largest lag: \d+ frame\(s\); \d+ of 8 within 2 frames$', out, re.M)
    assert eval_main([str(tmp_path), '--predictions', str(tmp_path / 'pred'), '--sequence',
                      '--no-progress', '--step-every', '5', '--step-size', '0.3']) == 0
    out = capsys.readouterr().out
    steps = re.findall(r'^  step ([x/])1.3 at frame (\d+): ', out, re.M)
    assert steps == [(sign, str(k)) for k in (5, 10, 15, 20) for sign in 'x/']


def test_eval_stabilises_as_the_frame_path_does(tiny_da_model, tiny_da_dir, capsys, tmp_path):
    """The sequence mode with a model: its stabilised depth is the frame path's, to the bit."""
    from depth_node.offline.eval import ModelPredictor
    rgbs = [render(W, H, F, F, INTR.cx, INTR.cy, pose)[0] for pose in sample_trajectory(5)]
    info = pinhole_camera_info(INTR)
    predict = ModelPredictor(tiny_da_model)
    raw = [predict(None, rgb, info) for rgb in rgbs]
    stamps = sequence.stamps_ns(5, 30.0)
    stabilised, resets = sequence.stabilise(raw, stamps, ON)
    processor = FrameProcessor(tiny_da_model)
    opts = OutputOptions(temporal=ON, publish_points=False)
    for rgb, stamp, expected in zip(rgbs, stamps, stabilised):
        out = processor.process_pixels(rgb, (0, 1, 2), info, opts, stamp_ns=stamp)
        assert out.depth.tobytes() == expected.tobytes()
    assert resets[0] == 'start' and not out.correction.is_identity
    # And through the command line, from a folder of images and ground truth.
    for sub in ('rgb', 'depth'):
        (tmp_path / sub).mkdir()
    for i, rgb in enumerate(rgbs):
        cv2.imwrite(str(tmp_path / 'rgb' / f'{i}.png'), rgb[:, :, ::-1])
        cv2.imwrite(str(tmp_path / 'depth' / f'{i}.png'), np.full((H, W), 2000, np.uint16))
    assert eval_main([str(tmp_path), '--model', str(tiny_da_dir), '--device', 'cpu',
                      '--fx', str(F), '--sequence', '--no-progress']) == 0
    assert 'sequence of 5 frame(s) at 30 fps' in capsys.readouterr().out


def test_sequence_lag_counts_frames_until_within_tolerance():
    ref = [np.full((4, 4), 1.0, np.float32)] * 5
    outs = [r * f for r, f in zip(ref, (1.2, 1.1, 1.04, 1.01, 1.0))]
    assert sequence.lag(outs, ref, 0.05) == 2
    assert sequence.lag(outs, ref, 0.01) == 3
    assert sequence.lag(ref, ref) == 0
    assert sequence.lag([r * 2 for r in ref], ref) == 5


# ------------------------------------------------------------------ the real sequence

@pytest.fixture(scope='module')
def kitchen():
    """Return FastDepth's real predictions of the 150 real Kinect frames, and their gt."""
    if not KITCHEN.is_dir() or not FastDepth.available(FASTDEPTH):
        pytest.skip(f'{KITCHEN} or {FASTDEPTH} (with ai-edge-litert) is absent')
    net = FastDepth(FASTDEPTH)
    preds, gts = [], []
    for i in range(150):
        bgr = cv2.imread(str(KITCHEN / 'rgb' / f'frame-{i:06d}.color.jpg'))
        preds.append(net.predict(np.ascontiguousarray(bgr[:, :, ::-1])))
        gts.append(cv2.imread(str(KITCHEN / 'depth' / f'frame-{i:06d}.depth.png'),
                              cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0)
    return preds, gts


def test_done_criteria_on_the_real_sequence(kitchen):
    """Issue 22: flicker cut >= 3x at the median and p90, AbsRel not raised, lag <= 2."""
    preds, gts = kitchen
    protocol = PROTOCOLS['generic'].with_overrides(max_depth=10.0)  # 65.535 m = invalid
    report = sequence.evaluate_sequence(preds, lambda i: gts[i], protocol, ON, fps=30.0)
    raw_med, raw_p90, _ = report.without.change
    med, p90, _ = report.with_.change
    assert raw_med == pytest.approx(0.020, abs=0.001)  # the measurement
    assert raw_p90 == pytest.approx(0.11, abs=0.005)
    assert med * 3 <= raw_med and p90 * 3 <= raw_p90
    assert report.with_.abs_rel <= report.without.abs_rel
    assert report.max_lag <= 2, sequence.format_sequence(report)
