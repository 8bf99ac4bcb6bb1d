# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""depth_node_eval: dataset layouts, readers, metrics on known answers, CSV, real frames."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
from depth_node.offline.cameras import (CameraSpec, find_intrinsics_file, read_camera_info_yaml,
                                        read_intrinsics_file)
from depth_node.offline.cli import OfflineInputError
from depth_node.offline.datasets import find_samples, read_depth
from depth_node.offline.eval import evaluate, FolderPredictor, main, ModelPredictor
from depth_node.offline.metrics import PROTOCOLS
from depth_node.testing.synthetic import render, sample_trajectory
import numpy as np
import pytest
from upstream_compressed_depth import upstream_decode

DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'rgbd'
SAMPLE = Path(__file__).resolve().parents[1] / 'depth_node' / 'sample'
W, H, F = 64, 48, 48.0


def write_scene(folder: Path, n: int = 3, layout: str = 'nyu') -> list:
    """Render ``n`` frames and write them in a dataset layout; return the GT in metres."""
    gts = []
    for i, pose in enumerate(sample_trajectory(n)):
        rgb, depth = render(W, H, F, F, (W - 1) / 2, (H - 1) / 2, pose)
        mm = np.rint(depth * 1000.0).astype(np.uint16)
        if layout == 'nyu':
            (folder / 'rgb').mkdir(parents=True, exist_ok=True)
            (folder / 'depth').mkdir(exist_ok=True)
            rgb_path = folder / 'rgb' / f'rgb_{i:05d}.png'
            depth_path = folder / 'depth' / f'sync_depth_{i:05d}.png'
        else:  # flat, like depth_node/sample, with .npy ground truth in metres
            folder.mkdir(parents=True, exist_ok=True)
            rgb_path = folder / f'frame_{i:03d}.png'
            depth_path = folder / f'depth_{i:03d}.npy'
        cv2.imwrite(str(rgb_path), rgb[:, :, ::-1])
        if depth_path.suffix == '.npy':
            np.save(depth_path, mm.astype(np.float32) / 1000.0)
        else:
            cv2.imwrite(str(depth_path), mm)
        gts.append(mm.astype(np.float32) / 1000.0)
    return gts


@pytest.fixture
def nyu_layout(tmp_path):
    """Return a 3-frame synthetic dataset in NYU's layout and predictions 10 % too far."""
    root = tmp_path / 'data'
    gts = write_scene(root)
    preds = tmp_path / 'pred'
    preds.mkdir()
    for i, gt in enumerate(gts):
        np.save(preds / f'rgb_{i:05d}.npy', gt * 1.1)
    return root, preds


def read_csv(path):
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def test_nyu_layout_pairs_by_number(nyu_layout):
    root, _ = nyu_layout
    samples = find_samples(root)
    assert [s.name for s in samples] == ['rgb_00000', 'rgb_00001', 'rgb_00002']
    assert samples[1].depth_path.name == 'sync_depth_00001.png'


def test_eval_cli_on_known_errors(nyu_layout, tmp_path, capsys):
    root, preds = nyu_layout
    out = tmp_path / 'metrics.csv'
    rc = main([str(root), '--predictions', str(preds), '--fx', str(F), '--median-scaling',
               '--csv', str(out), '--per-image', '--no-progress'])
    assert rc == 0
    rows = read_csv(out)
    assert [r['name'] for r in rows] == ['rgb_00000', 'rgb_00001', 'rgb_00002', 'mean']
    for row in rows:
        assert float(row['abs_rel']) == pytest.approx(0.1, rel=1e-5)
        assert float(row['rmse_log']) == pytest.approx(np.log(1.1), rel=1e-5)
        assert float(row['delta1']) == 1.0
        assert float(row['median_scale']) == pytest.approx(1 / 1.1, rel=1e-5)
        assert float(row['ms_abs_rel']) == pytest.approx(0.0, abs=1e-6)
    assert int(rows[-1]['valid_px']) == 3 * W * H
    text = capsys.readouterr().out
    assert 'mean, metric' in text and 'mean, median-scaled' in text
    assert '0.1000' in text


def test_evaluate_with_a_callable(nyu_layout):
    """The prediction-provider seam: any callable (sample, rgb, camera_info) -> metres."""
    root, _ = nyu_layout
    seen = []

    def predict(sample, rgb, info):
        seen.append((rgb.shape, info.k[0]))
        return read_depth(sample.depth_path) * 0.8

    report = evaluate(find_samples(root), predict, PROTOCOLS['generic'],
                      camera=CameraSpec(fx=F), median_scaling=True)
    assert seen == [((H, W, 3), F)] * 3
    assert report.mean['abs_rel'] == pytest.approx(0.2, rel=1e-6)
    assert report.scaled_mean['abs_rel'] == pytest.approx(0.0, abs=1e-6)


def test_predictions_at_another_size_are_resized(nyu_layout):
    root, _ = nyu_layout

    def predict(sample, rgb, info):
        return np.full((H // 2, W // 2), 2.0, np.float32)

    report = evaluate(find_samples(root)[:1], predict, PROTOCOLS['generic'])
    assert report.images[0].valid == W * H


def test_flat_layout_with_npy_ground_truth(tmp_path):
    gts = write_scene(tmp_path / 'flat', n=2, layout='flat')
    samples = find_samples(tmp_path / 'flat')
    assert [(s.rgb_path.name, s.depth_path.name) for s in samples] == [
        ('frame_000.png', 'depth_000.npy'), ('frame_001.png', 'depth_001.npy')]
    np.testing.assert_allclose(read_depth(samples[1].depth_path), gts[1], rtol=1e-6)


def test_annotation_index_and_kitti_scale(tmp_path):
    """A Metric3D-style test_annotations.json: per-file intrinsics and depth scale."""
    root = tmp_path / 'kitti'
    (root / 'rgb').mkdir(parents=True)
    (root / 'depth').mkdir()
    cv2.imwrite(str(root / 'rgb' / '0000000005.png'), np.zeros((H, W, 3), np.uint8))
    cv2.imwrite(str(root / 'depth' / '0000000005.png'), np.full((H, W), 256 * 20, np.uint16))
    index = {'files': [{'cam_in': [70.0, 71.0, 30.0, 20.0], 'depth_scale': 256.0,
                        'rgb': 'data/kitti_demo/rgb/0000000005.png',
                        'depth': 'data/kitti_demo/depth/0000000005.png'}]}
    (root / 'test_annotations.json').write_text(json.dumps(index))
    (sample,) = find_samples(root)
    assert sample.depth_scale == 256.0
    info = sample.camera.for_size(W, H)
    assert (info.p[0], info.p[5], info.p[2], info.p[6]) == (70.0, 71.0, 30.0, 20.0)
    report = evaluate([sample], lambda s, rgb, i: np.full((H, W), 22.0), PROTOCOLS['kitti'])
    assert report.images[0].metrics['abs_rel'] == pytest.approx(0.1)


def test_tum_style_names_pair(tmp_path):
    cv2.imwrite(str(tmp_path / 'TUM_color.png'), np.zeros((H, W, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'TUM_depth.png'), np.full((H, W), 5000, np.uint16))
    (sample,) = find_samples(tmp_path)
    assert np.nanmean(read_depth(sample.depth_path, 5000.0)) == pytest.approx(1.0)


def test_no_pairs_is_a_clear_error(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(OfflineInputError, match='no RGB / depth pairs'):
        find_samples(tmp_path / 'empty')
    assert main([str(tmp_path / 'empty'), '--predictions', str(tmp_path)]) == 2
    assert 'error: no RGB / depth pairs' in capsys.readouterr().err


def test_missing_prediction_file_is_an_error(nyu_layout, tmp_path):
    root, _ = nyu_layout
    (tmp_path / 'none').mkdir()
    with pytest.raises(OfflineInputError, match='no prediction for rgb_00000'):
        evaluate(find_samples(root), FolderPredictor(tmp_path / 'none'), PROTOCOLS['generic'])


def test_model_predictor_needs_intrinsics_for_focal_scaling(nyu_layout, tiny_da_model):
    root, _ = nyu_layout
    with pytest.raises(OfflineInputError, match='no intrinsics'):
        evaluate(find_samples(root)[:1], ModelPredictor(tiny_da_model), PROTOCOLS['generic'])


def test_eval_cli_with_the_tiny_model(nyu_layout, tiny_da_dir, tmp_path, capsys):
    """The model path: FrameProcessor with focal scaling from the given intrinsics."""
    root, _ = nyu_layout
    out = tmp_path / 'm.csv'
    rc = main([str(root), '--model', tiny_da_dir, '--device', 'cpu', '--fx', str(F),
               '--max-frames', '2', '--csv', str(out), '--no-progress'])
    assert rc == 0
    rows = read_csv(out)
    assert len(rows) == 3
    assert all(np.isfinite(float(r['abs_rel'])) for r in rows)
    assert 'depth_anything_v2_metric' in capsys.readouterr().out


def test_camera_info_yaml_and_open3d_json(tmp_path):
    info = read_camera_info_yaml(SAMPLE / 'camera_info.yaml')
    assert (info.width, info.height, info.k[0], info.p[2], info.p[6]) == (
        640, 480, 525.0, 319.5, 239.5)
    assert find_intrinsics_file(SAMPLE).name == 'camera_info.yaml'
    (tmp_path / 'intrinsics.json').write_text(json.dumps(
        {'width': 640, 'height': 480,
         'intrinsic_matrix': [500.0, 0, 0, 0, 501.0, 0, 320.0, 240.0, 1]}))
    info = read_intrinsics_file(tmp_path / 'intrinsics.json')
    assert (info.k[0], info.k[4], info.k[2], info.k[5]) == (500.0, 501.0, 320.0, 240.0)
    (tmp_path / 'bad.yaml').write_text('foo: 1\n')
    with pytest.raises(ValueError, match='not a camera_info YAML'):
        read_camera_info_yaml(tmp_path / 'bad.yaml')


def test_camera_flags_default_to_the_image_centre():
    info = CameraSpec(fx=100.0).for_size(64, 48)
    assert (info.p[0], info.p[5], info.p[2], info.p[6]) == (100.0, 100.0, 31.5, 23.5)
    yaml_info = read_camera_info_yaml(SAMPLE / 'camera_info.yaml')
    info = CameraSpec(yaml_info, fx=600.0).for_size(1, 1)
    assert (info.width, info.p[0], info.p[5], info.p[2]) == (640, 600.0, 600.0, 319.5)
    with pytest.raises(ValueError, match='no camera intrinsics'):
        CameraSpec().for_size(64, 48)


# ------------------------------------------------------------------ real frames (../shared)

REAL = {
    # folder: (protocol, frames, (H, W), plausible median depth range m, min valid fraction)
    'nyu': ('nyu', 3, (480, 640), (1.0, 6.0), 0.6),
    'kitti': ('kitti', 3, (375, 1242), (5.0, 40.0), 0.1),
    'tum': ('generic', 1, (480, 640), (0.5, 5.0), 0.5),
    'icl_nuim': ('generic', 5, (480, 640), (0.5, 6.0), 0.8),
}
TUM_SCALE = 5000.0


@pytest.mark.parametrize('name', sorted(REAL))
def test_real_datasets_load(name):
    root = DATA / name
    if not root.is_dir():
        pytest.skip(f'{root} is absent (shared RGB-D frames, see ../shared/data/README.md)')
    proto_name, frames, shape, (lo, hi), fraction = REAL[name]
    protocol = PROTOCOLS[proto_name]
    samples = find_samples(root)
    assert len(samples) == frames
    for sample in samples:
        scale = TUM_SCALE if name == 'tum' else (sample.depth_scale or protocol.depth_scale)
        gt = read_depth(sample.depth_path, scale)
        assert gt.shape == shape
        valid = np.isfinite(gt)
        assert valid.mean() >= fraction
        assert lo < np.median(gt[valid]) < hi
    if name in ('nyu', 'kitti'):  # intrinsics come from test_annotations.json
        info = samples[0].camera.for_size(shape[1], shape[0])
        expected = 518.8579 if name == 'nyu' else 707.0493
        assert info.p[0] == pytest.approx(expected)
    if name == 'icl_nuim':
        info = read_intrinsics_file(find_intrinsics_file(root))
        assert (info.k[0], info.k[2], info.k[5]) == (525.0, 319.5, 239.5)


def test_real_kitti_depth_is_sparse_lidar():
    root = DATA / 'kitti'
    if not root.is_dir():
        pytest.skip(f'{root} is absent')
    gt = read_depth(find_samples(root)[0].depth_path, 256.0)
    valid = gt[np.isfinite(gt)]
    assert 0.05 < valid.size / gt.size < 0.5
    assert valid.max() < 90.0


# ------------------------------------------------------------------ predictions in a bag (18)

def write_prediction_bag(path, root, depths, compressed=True, images=True, order=None):
    """Write a bag like depth_node_run's: /camera/image_raw + the predictions, same stamps."""
    from depth_node import messages
    from depth_node.compressed_depth import CompressedDepthEncoder
    from depth_node.conversions import depth_to_image_fields
    from depth_node.offline.bag import BagWriter
    from depth_node.offline.sources import read_rgb
    writer = BagWriter(path, 'sqlite3')
    types = messages.rosbags_types(writer.typestore)
    samples = find_samples(root)
    for i in order or range(len(samples)):
        t = 1_700_000_000 * 10**9 + i * 10**8
        header = messages.header(types, t, 'camera_optical_frame')
        rgb = read_rgb(samples[i].rgb_path)
        if images:
            writer.write('/camera/image_raw', 'sensor_msgs/msg/Image', t,
                         messages.image(types, header, H, W, 'rgb8', W * 3, rgb))
        encoding, step, data = depth_to_image_fields(depths[i], '32FC1')
        out = SimpleNamespace(intrinsics=SimpleNamespace(width=W, height=H),
                              depth_encoding=encoding, depth_step=step, depth_data=data)
        if compressed:
            writer.write('/camera/depth/image/compressedDepth',
                         'sensor_msgs/msg/CompressedImage', t, messages.compressed_image(
                             types, header, CompressedDepthEncoder().encode_output(out)))
        else:
            writer.write('/camera/depth/image', 'sensor_msgs/msg/Image', t,
                         messages.depth_image(types, header, out))
    writer.close()


def bag_depths(path, topic='/camera/depth/image/compressedDepth'):
    """Return {image pixels digest: depth} of a prediction bag, decoded by upstream's port."""
    from depth_node.offline.bag import bag_typestore
    from rosbags.rosbag2 import Reader
    store = bag_typestore()
    images, depths = {}, {}
    with Reader(path) as reader:
        for conn, _, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            if conn.topic == topic:
                depths[stamp] = upstream_decode(msg.format, msg.data.tobytes())[1]
            elif conn.topic == '/camera/image_raw':
                images[msg.data.tobytes()] = stamp
    return {pixels: depths[stamp] for pixels, stamp in images.items()}


def test_eval_reads_compressed_depth_predictions_from_a_bag(nyu_layout, tmp_path):
    root, _ = nyu_layout
    gts = [read_depth(s.depth_path) for s in find_samples(root)]
    bag = tmp_path / 'pred_bag'
    write_prediction_bag(bag, root, [gt * 1.1 for gt in gts], order=[2, 0, 1])
    out = tmp_path / 'm.csv'
    assert main([str(root), '--predictions', str(bag), '--csv', str(out), '--no-progress']) == 0
    rows = read_csv(out)
    # The same numbers as the predictions decoded by compressed_depth_image_transport's port.
    decoded = bag_depths(bag)  # by the pixels of the image of the same stamp
    reference = evaluate(find_samples(root), lambda s, rgb, info: decoded[rgb.tobytes()],
                         PROTOCOLS['generic'])
    for row, image in zip(rows, reference.images):
        assert row['name'] == image.name
        assert float(row['abs_rel']) == pytest.approx(image.metrics['abs_rel'], rel=1e-5)
        assert float(row['abs_rel']) == pytest.approx(0.1, abs=1e-4)  # within quantisation


def test_eval_prediction_bag_errors(nyu_layout, tmp_path, capsys):
    root, _ = nyu_layout
    gts = [read_depth(s.depth_path) for s in find_samples(root)]
    other = tmp_path / 'other'
    write_scene(other, n=3)
    for path in (other / 'rgb').iterdir():  # other images (mirrored), same names
        cv2.imwrite(str(path), cv2.imread(str(path))[:, ::-1])
    bag = tmp_path / 'other_bag'
    write_prediction_bag(bag, other, gts)
    # Predictions of other images: said, not evaluated against the wrong ground truth.
    assert main([str(root), '--predictions', str(bag), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert 'rgb_00000: its image is not in' in err and 'predictions of other images' in err
    # Without images: in order, only with one prediction per sample.
    plain = tmp_path / 'plain_bag'
    write_prediction_bag(plain, root, gts, compressed=False, images=False, order=[0, 1])
    assert main([str(root), '--predictions', str(plain), '--no-progress']) == 2
    assert 'holds 2 predictions and no input images' in capsys.readouterr().err
    assert main([str(root), '--predictions', str(plain), '--max-frames', '2',
                 '--no-progress']) == 0
    assert main([str(root), '--predictions', str(plain), '--prediction-topic', '/nope',
                 '--no-progress']) == 2
    assert "no image topic '/nope'" in capsys.readouterr().err


def test_run_then_eval_through_compressed_depth(nyu_layout, fast_da_dir, tmp_path, capsys):
    """depth_node_run --compressed-depth writes a bag that depth_node_eval scores as the model."""
    from depth_node.offline import run
    root, _ = nyu_layout
    bag = tmp_path / 'run_bag'
    assert run.main([str(root / 'rgb'), '--model', fast_da_dir, '--device', 'cpu', '--fx',
                     str(F), '--out-bag', str(bag), '--compressed-depth', '--no-points',
                     '--no-progress']) == 0
    via_bag, via_model = tmp_path / 'bag.csv', tmp_path / 'model.csv'
    assert main([str(root), '--predictions', str(bag), '--csv', str(via_bag),
                 '--no-progress']) == 0
    assert 'depth/image/compressedDepth' in capsys.readouterr().out
    assert main([str(root), '--model', fast_da_dir, '--device', 'cpu', '--fx', str(F),
                 '--csv', str(via_model), '--no-progress']) == 0
    for a, b in zip(read_csv(via_bag), read_csv(via_model)):
        assert a['name'] == b['name']
        assert float(a['abs_rel']) == pytest.approx(float(b['abs_rel']), abs=2e-4)
        assert float(a['rmse']) == pytest.approx(float(b['rmse']), abs=2e-3)
