# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
depth_node_run on image folders, videos and rosbag2 (sqlite3 and MCAP), with the tiny model.

Every output is compared with what the node's pipeline gives for the same frame,
so files and bags carry exactly the node's payloads. Bags are written and read
back with ``rosbags``; ROS is not needed.
"""

import io
from pathlib import Path

import cv2
from depth_node.camera import CameraCache, pinhole_camera_info
from depth_node.conversions import depth_to_image_fields
from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.geometry import Intrinsics
from depth_node.models import load_model
from depth_node.offline.bag import bag_typestore
from depth_node.offline.ply import read_ply
import depth_node.offline.run
from depth_node.offline.run import main
from depth_node.testing.synthetic import render, sample_trajectory
from depth_node.testing.tiny_models import make_depth_anything_3
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from upstream_compressed_depth import upstream_decode

W, H, F = 64, 48, 48.0
INTR = Intrinsics(W, H, F, F, (W - 1) / 2, (H - 1) / 2)
T0 = 1_700_000_000 * 10**9


@pytest.fixture(scope='module')
def frames():
    """Return three small rendered RGB frames, each H x W x 3 uint8."""
    return [render(W, H, F, F, INTR.cx, INTR.cy, pose)[0] for pose in sample_trajectory(3)]


@pytest.fixture
def image_folder(tmp_path, frames):
    """Return a folder with the frames as PNG, a camera_info.yaml and a 16-bit depth map."""
    folder = tmp_path / 'images'
    folder.mkdir()
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f'img_{i}.png'), rgb[:, :, ::-1])
    cv2.imwrite(str(folder / 'gt_depth_0.png'), np.full((H, W), 1000, np.uint16))  # skipped
    (folder / 'camera_info.yaml').write_text(
        f'image_width: {W}\nimage_height: {H}\ncamera_name: test\n'
        f'camera_matrix: {{rows: 3, cols: 3, data: [{F}, 0, {INTR.cx}, 0, {F}, {INTR.cy}, '
        '0, 0, 1]}\ndistortion_model: plumb_bob\n'
        'distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n')
    return folder


def expected(model, rgb, order=(0, 1, 2), **options):
    """Return the node's FrameOutput for one frame."""
    return FrameProcessor(model).process_pixels(rgb, order, pinhole_camera_info(INTR),
                                                OutputOptions(**options))


def run(*args) -> int:
    return main([str(a) for a in args] + ['--no-progress'])


def read_bag(path):
    """Return {topic: [(timestamp, msgtype, raw, msg)]} of a rosbag2."""
    store = bag_typestore()
    topics = {}
    with Reader(path) as reader:
        for conn, timestamp, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            topics.setdefault(conn.topic, []).append((timestamp, conn.msgtype, bytes(raw), msg))
    return topics


def write_input_bag(path, frames, storage='sqlite3', compressed=False, d=(0.0,) * 5):
    """Write /cam/image_raw (bgr8 or JPEG), /cam/camera_info and /chatter, like a recording."""
    store = bag_typestore()
    types = store.types
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    image_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        info_conn = writer.add_connection('/cam/camera_info', 'sensor_msgs/msg/CameraInfo',
                                          typestore=store)
        image_conn = writer.add_connection('/cam/image_raw', image_type, typestore=store)
        chat_conn = writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=store)
        for i, rgb in enumerate(frames):
            t = T0 + i * 100_000_000
            header = types['std_msgs/msg/Header'](
                stamp=types['builtin_interfaces/msg/Time'](sec=t // 10**9, nanosec=t % 10**9),
                frame_id='cam_optical')
            info = types['sensor_msgs/msg/CameraInfo'](
                header=header, height=H, width=W, distortion_model='plumb_bob',
                d=np.array(d, dtype=np.float64), k=np.array(INTR.k()), r=np.eye(3).ravel(),
                p=np.array(INTR.p()),
                binning_x=0, binning_y=0, roi=types['sensor_msgs/msg/RegionOfInterest'](
                    x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
            bgr = np.ascontiguousarray(rgb[:, :, ::-1])
            if compressed:
                ok, jpeg = cv2.imencode('.png', bgr)
                image = types[image_type](header=header, format='png', data=jpeg.ravel())
            else:
                image = types[image_type](header=header, height=H, width=W, encoding='bgr8',
                                          is_bigendian=0, step=W * 3, data=bgr.ravel())
            # camera_info recorded just after the image, as many drivers do.
            writer.write(image_conn, t + 1000, store.serialize_cdr(image, image_type))
            writer.write(info_conn, t + 2000, store.serialize_cdr(info, info.__msgtype__))
            chat = types['std_msgs/msg/String'](data=f'hello {i}')
            writer.write(chat_conn, t + 3000, store.serialize_cdr(chat, chat.__msgtype__))


# ------------------------------------------------------------------ image folder

def test_image_folder_to_png_and_ply(image_folder, tmp_path, da126_dir, da126_model, frames,
                                     capsys):
    out = tmp_path / 'out'
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--out', out,
               '--ply-every', '2', '--npy') == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [f'img_{i}_{kind}' for i in range(3) for kind in ('depth.png', 'color.png', 'depth.npy')]
        + ['img_0.ply', 'img_2.ply'])
    for i, rgb in enumerate(frames):
        ref = expected(da126_model, rgb, depth_encoding='16UC1')
        png = cv2.imread(str(out / f'img_{i}_depth.png'), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16 and png.shape == (H, W)
        # The 16-bit PNG is the node's 16UC1 payload (millimetres, 0 invalid).
        assert png.tobytes() == bytes(ref.depth_data)
        np.testing.assert_array_equal(np.load(out / f'img_{i}_depth.npy'), ref.depth)
        color = cv2.imread(str(out / f'img_{i}_color.png'))
        assert color.shape == (H, W, 3)
    # PLY = the valid points of the node's cloud payload, with colour.
    ref = expected(da126_model, frames[2])
    cloud = np.frombuffer(ref.cloud.data, np.float32).reshape(-1, 4)
    xyz, rgb = read_ply(out / 'img_2.ply')
    valid = np.all(np.isfinite(cloud[:, :3]), axis=1)
    np.testing.assert_array_equal(xyz, cloud[valid, :3])
    assert rgb.shape == (valid.sum(), 3)
    text = capsys.readouterr().out
    assert '3 image(s)' in text and 'camera_info.yaml' in text and 'frames/s' in text


def test_single_image_with_flags_and_side_by_side(image_folder, tmp_path, da126_dir):
    out = tmp_path / 'one'
    assert run(image_folder / 'img_1.png', '--model', da126_dir, '--device', 'cpu',
               '--fx', F, '--out', out, '--side-by-side', '--color-range', '0.5', '8') == 0
    assert cv2.imread(str(out / 'img_1_color.png')).shape == (H, 2 * W, 3)


def test_images_to_a_new_bag(image_folder, tmp_path, da126_dir, da126_model, frames):
    bag = tmp_path / 'from_images'
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--out-bag', bag,
               '--max-frames', '2', '--fps', '5') == 0
    topics = read_bag(bag)
    assert sorted(topics) == ['/camera/camera_info', '/camera/depth/camera_info',
                              '/camera/depth/image', '/camera/image_raw', '/camera/points']
    images = topics['/camera/image_raw']
    assert [m.encoding for _, _, _, m in images] == ['rgb8', 'rgb8']
    np.testing.assert_array_equal(images[1][3].data.reshape(H, W, 3), frames[1])
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, _, _, m in images]
    assert stamps[1] - stamps[0] == 200_000_000  # 5 fps
    depth = topics['/camera/depth/image'][1][3]
    _, step, data = depth_to_image_fields(expected(da126_model, frames[1]).depth, '32FC1')
    assert (depth.encoding, depth.step, depth.data.tobytes()) == ('32FC1', step, bytes(data))


def test_progress_bar_shows_frames_per_second(image_folder, tmp_path, da126_dir, monkeypatch):
    """On a terminal the bar shows done/total, frames/s and the ETA (here forced on)."""
    stream = io.StringIO()
    real = depth_node.offline.run.tqdm

    def on_a_terminal(*args, **kwargs):
        kwargs.update(disable=False, file=stream, ncols=100, dynamic_ncols=False)
        return real(*args, **kwargs)

    monkeypatch.setattr(depth_node.offline.run, 'tqdm', on_a_terminal)
    assert main([str(image_folder), '--model', da126_dir, '--device', 'cpu', '--out',
                 str(tmp_path / 'o'), '--no-color']) == 0
    final = stream.getvalue().replace('\r', '\n').strip().splitlines()[-1]
    # tqdm shows the rate as 'N frame/s', or 'N s/frame' below one frame per second.
    assert '3/3' in final and ('frame/s' in final or 's/frame' in final)
    assert '<00:00' in final  # elapsed<remaining


def test_missing_intrinsics_is_a_clear_error(tmp_path, frames, capsys):
    cv2.imwrite(str(tmp_path / 'a.png'), frames[0])
    assert run(tmp_path / 'a.png', '--out', tmp_path / 'o') == 2
    assert 'pass --camera-info' in capsys.readouterr().err


def test_wrong_size_intrinsics_drop_frames(image_folder, tmp_path, da126_dir, capsys):
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--camera-info',
               Path(__file__).resolve().parents[1] / 'depth_node' / 'sample' / 'camera_info.yaml',
               '--out', tmp_path / 'o') == 1
    err = capsys.readouterr().err
    assert 'camera_info is for 640x480 but the image is 64x48' in err
    assert 'dropped 3 frame(s)' in err


def test_nothing_to_write_is_an_error(image_folder, capsys):
    assert run(image_folder) == 2
    assert 'nothing to write' in capsys.readouterr().err


@pytest.mark.parametrize('sky', ['none', 'some'])
def test_depth_anything_3_focal_x2_depth_x2_and_sky_too_far(
        image_folder, tmp_path, frames, sky):
    """The DA3 family through depth_node_run: the node's payloads, fx x2 -> depth x2, sky +inf."""
    model_dir = make_depth_anything_3(tmp_path / 'da3', sky=sky)
    outs = []
    for fx in (F, 2 * F):
        out = tmp_path / f'out_{fx}'
        assert run(image_folder / 'img_1.png', '--model', model_dir, '--device', 'cpu', '--fx',
                   fx, '--out', out, '--npy', '--no-color') == 0
        outs.append((np.load(out / 'img_1_depth.npy'),
                     cv2.imread(str(out / 'img_1_depth.png'), cv2.IMREAD_UNCHANGED)))
    (d1, png1), (d2, _) = outs
    ref = expected(load_model(model_dir, 'cpu'), frames[1], depth_encoding='16UC1')
    np.testing.assert_array_equal(d1, ref.depth)
    assert png1.tobytes() == bytes(ref.depth_data)
    too_far = np.isposinf(d1)
    assert too_far.any() == (sky == 'some') and not np.isnan(d1).any()
    assert (png1[too_far] == 0).all() and (png1[~too_far] > 0).all()
    np.testing.assert_array_equal(np.isposinf(d2), too_far)
    np.testing.assert_allclose(d2[~too_far], 2.0 * d1[~too_far], rtol=1e-5)
    if sky == 'some':
        kept = tmp_path / 'kept'
        assert run(image_folder / 'img_1.png', '--model', model_dir, '--device', 'cpu', '--fx',
                   F, '--out', kept, '--npy', '--no-color', '--keep-sky') == 0
        assert np.isfinite(np.load(kept / 'img_1_depth.npy')).all()


# ------------------------------------------------------------------ video

def test_video_to_png(tmp_path, frames, da126_dir):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (W, H))
    if not writer.isOpened():
        pytest.skip('OpenCV cannot write MJPG .avi here')
    for rgb in frames + frames[:1]:
        writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
    writer.release()
    out = tmp_path / 'vout'
    assert run(video, '--model', da126_dir, '--device', 'cpu', '--fx', F, '--out', out,
               '--every', '2', '--no-color') == 0
    assert sorted(p.name for p in out.iterdir()) == ['frame_000000_depth.png',
                                                     'frame_000002_depth.png']


# ------------------------------------------------------------------ rosbag2

@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_bag_to_bag_carries_the_node_payloads(tmp_path, frames, da126_dir, da126_model,
                                              storage):
    src = tmp_path / 'in'
    write_input_bag(src, frames, storage)
    dst = tmp_path / 'out'
    assert run(src, '--model', da126_dir, '--device', 'cpu', '--out-bag', dst,
               '--bag-storage', storage) == 0
    assert any(p.suffix == ('.mcap' if storage == 'mcap' else '.db3') for p in dst.iterdir())
    inp, out = read_bag(src), read_bag(dst)
    assert sorted(out) == ['/cam/camera_info', '/cam/depth/camera_info', '/cam/depth/image',
                           '/cam/image_raw', '/cam/points', '/chatter']
    # The input topics are copied unchanged (same bytes, same log times).
    for topic in inp:
        copied = [(t, raw) for t, _, raw, _ in out[topic]]
        assert copied == [(t, raw) for t, _, raw, _ in inp[topic]]
    for i, rgb in enumerate(frames):
        t_img, _, _, image = inp['/cam/image_raw'][i]
        ref = expected(da126_model, np.ascontiguousarray(rgb[:, :, ::-1]), (2, 1, 0))
        t_depth, _, _, depth = out['/cam/depth/image'][i]
        t_info, _, _, info = out['/cam/depth/camera_info'][i]
        t_pts, _, _, cloud = out['/cam/points'][i]
        assert t_depth == t_info == t_pts == t_img
        for msg in (depth, info, cloud):
            assert msg.header.stamp == image.header.stamp
            assert msg.header.frame_id == 'cam_optical'
        assert (depth.height, depth.width, depth.encoding, depth.step) == (H, W, '32FC1', W * 4)
        assert depth.data.tobytes() == bytes(ref.depth_data)
        np.testing.assert_array_equal(info.k, INTR.k())
        np.testing.assert_array_equal(info.p, INTR.p())
        assert (info.width, info.height, info.distortion_model) == (W, H, 'plumb_bob')
        assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
            tuple(f) for f in ref.cloud.fields]
        assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step,
                cloud.is_dense) == (H, W, 16, 16 * W, False)
        assert cloud.data.tobytes() == bytes(ref.cloud.data)


def test_compressed_bag_every_other_frame_16uc1_dense(tmp_path, frames, da126_dir, da126_model):
    src = tmp_path / 'in'
    write_input_bag(src, frames, 'mcap', compressed=True)
    dst = tmp_path / 'out'
    pngs = tmp_path / 'png'
    assert (src / 'in.mcap').is_file()
    assert run(src / 'in.mcap', '--model', da126_dir, '--device', 'cpu', '--out-bag', dst,
               '--out', pngs,
               '--every', '2', '--depth-encoding', '16UC1', '--points-dense',
               '--no-points-rgb', '--points-stride', '2', '--namespace', 'est') == 0
    out = read_bag(dst)
    assert len(out['/cam/image_raw']) == 3
    assert '/est/depth/image' not in out  # REP 118: 16-bit millimetres on image_raw
    depths = out['/est/depth/image_raw']
    assert len(depths) == 2 and len(out['/est/points']) == 2
    ref = expected(da126_model, frames[2], depth_encoding='16UC1', points_rgb=False,
                   points_organized=False, points_stride=2)
    assert depths[1][3].encoding == '16UC1'
    assert depths[1][3].data.tobytes() == bytes(ref.depth_data)
    cloud = out['/est/points'][1][3]
    assert (cloud.height, cloud.is_dense, cloud.point_step) == (1, True, 12)
    assert cloud.data.tobytes() == bytes(ref.cloud.data)
    assert sorted(p.name for p in pngs.iterdir()) == [
        'frame_000000_color.png', 'frame_000000_depth.png',
        'frame_000002_color.png', 'frame_000002_depth.png']


def test_bag_errors(tmp_path, frames, da126_dir, capsys):
    src = tmp_path / 'in'
    write_input_bag(src, frames[:1])
    assert run(src, '--out-bag', src) == 2
    assert 'exists already' in capsys.readouterr().err
    assert run(src, '--image-topic', '/nope', '--out', tmp_path / 'o') == 2
    assert "no image topic '/nope'" in capsys.readouterr().err
    assert run(tmp_path / 'missing.mcap', '--out', tmp_path / 'o') == 2
    assert 'does not exist' in capsys.readouterr().err
    # An output bag used as input again: its depth topics would be written twice.
    once = tmp_path / 'once'
    assert run(src, '--model', da126_dir, '--device', 'cpu', '--out-bag', once) == 0
    capsys.readouterr()
    assert run(once, '--out-bag', tmp_path / 'twice') == 2
    err = capsys.readouterr().err
    assert 'already has /cam/depth/camera_info, /cam/depth/image, /cam/points' in err
    assert not (tmp_path / 'twice').exists()


def test_rectify_undistorts_like_the_node(tmp_path, frames, da126_dir, da126_model, capsys):
    src = tmp_path / 'in'
    distortion = (0.3, 0.05, 0.001, -0.001, 0.0)  # pincushion: corners have no source
    write_input_bag(src, frames[:1], d=distortion)
    # Without --rectify the image is used as it is, with a note.
    assert run(src, '--model', da126_dir, '--device', 'cpu', '--out', tmp_path / 'raw') == 0
    assert '--rectify offline' in capsys.readouterr().err
    dst = tmp_path / 'out'
    assert run(src, '--model', da126_dir, '--device', 'cpu', '--out-bag', dst, '--rectify') == 0
    out = read_bag(dst)
    info_in = out['/cam/camera_info'][0][3]
    depth = out['/cam/depth/image'][0][3]
    info = out['/cam/depth/camera_info'][0][3]
    cloud = out['/cam/points'][0][3]
    # depth/camera_info describes the rectified camera: no distortion, K from P.
    np.testing.assert_array_equal(info.d, np.zeros(5))
    np.testing.assert_array_equal(info.k, INTR.k())
    np.testing.assert_array_equal(info_in.d, distortion)
    # The node's path: undistort, predict, blank pixels without source data, encode.
    cam = CameraCache().get(info_in, rectify=True)
    bgr = np.ascontiguousarray(frames[0][:, :, ::-1])
    rect = cam.undistorter.rectify(bgr)
    ref = da126_model.predict(rect, (2, 1, 0), focal=(INTR.fx, INTR.fy))
    ref = np.where(cam.undistorter.valid, ref, np.float32(np.nan))
    result = FrameProcessor(da126_model).encode(rect, (2, 1, 0), ref, INTR, cam.output_info,
                                                OutputOptions(), {})
    assert depth.data.tobytes() == bytes(result.depth_data)
    assert cloud.data.tobytes() == bytes(result.cloud.data)
    assert not cam.undistorter.valid.all()


# ------------------------------------------------------------------ navigation outputs

def test_navigation_outputs_in_the_bag_are_the_node_ones(image_folder, tmp_path, da126_dir,
                                                         da126_model, frames, capsys):
    bag = tmp_path / 'nav'
    pngs = tmp_path / 'nav_png'
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--out-bag', bag,
               '--out', pngs, '--max-frames', '2', '--output-decimation', '2', '--scan',
               '--scan-height', '3', '--colored', '--color-range', '0.5', '4.0',
               '--edge-filter-depth') == 0
    topics = read_bag(bag)
    assert sorted(topics) == ['/camera/camera_info', '/camera/depth/camera_info',
                              '/camera/depth/colored', '/camera/depth/image',
                              '/camera/image_raw', '/camera/points', '/camera/scan']
    ref = expected(da126_model, frames[1], decimation=2, scan=True, scan_height=3,
                   colored=True, colored_min_depth=0.5, colored_max_depth=4.0,
                   edge_filter_depth=True)
    depth = topics['/camera/depth/image'][1][3]
    assert (depth.width, depth.height) == (W // 2, H // 2)
    assert depth.data.tobytes() == bytes(ref.depth_data)
    info = topics['/camera/depth/camera_info'][1][3]
    np.testing.assert_allclose(info.k, INTR.decimated(2).k())
    assert topics['/camera/points'][1][3].data.tobytes() == bytes(ref.cloud.data)
    scan = topics['/camera/scan'][1][3]
    assert scan.header.frame_id == 'camera_frame'  # camera_optical_frame's body frame
    assert scan.header.stamp == depth.header.stamp
    np.testing.assert_array_equal(scan.ranges, ref.scan.ranges)
    colored = topics['/camera/depth/colored'][1][3]
    assert (colored.encoding, colored.width, colored.height) == ('bgr8', W // 2, H // 2)
    np.testing.assert_array_equal(colored.data.reshape(H // 2, W // 2, 3), ref.colored)
    # The files are at the output size too.
    png = cv2.imread(str(pngs / 'img_1_depth.png'), cv2.IMREAD_UNCHANGED)
    assert png.shape == (H // 2, W // 2)
    assert '/camera/scan (2)' in capsys.readouterr().out


def test_navigation_options_are_checked_like_the_node_parameters(image_folder, tmp_path,
                                                                 da126_dir, capsys):
    assert run(image_folder, '--out', tmp_path / 'o', '--scan') == 2
    assert '--out-bag' in capsys.readouterr().err
    assert run(image_folder, '--out', tmp_path / 'o', '--output-decimation', '0') == 2
    assert 'output_decimation must be within [1, 16]' in capsys.readouterr().err
    assert run(image_folder, '--out-bag', tmp_path / 'b', '--scan', '--scan-range-min',
               '12') == 2
    assert 'scan.range_min' in capsys.readouterr().err
    # A frame that is not an optical frame: no scan, said once.
    bag = tmp_path / 'plain'
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--out-bag', bag,
               '--scan', '--frame-id', 'webcam') == 0
    err = capsys.readouterr().err
    assert err.count("no scan for frames in 'webcam'") == 1
    assert '/camera/scan' not in read_bag(bag)
    bag = tmp_path / 'named'
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--out-bag', bag,
               '--scan', '--frame-id', 'webcam', '--scan-frame-id', 'webcam_link',
               '--max-frames', '1') == 0
    assert read_bag(bag)['/camera/scan'][0][3].header.frame_id == 'webcam_link'


# ------------------------------------------------------------------ compressed depth (issue 18)

def test_compressed_depth_replaces_the_raw_depth_in_the_bag(image_folder, tmp_path, da126_dir,
                                                            da126_model, frames, capsys):
    """The bag gets compressedDepth instead of depth/image, decoded as upstream decodes it."""
    bag = tmp_path / 'small'
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--out-bag', bag,
               '--max-frames', '2', '--compressed-depth') == 0
    topics = read_bag(bag)
    assert sorted(topics) == ['/camera/camera_info', '/camera/depth/camera_info',
                              '/camera/depth/image/compressedDepth', '/camera/image_raw',
                              '/camera/points']
    assert '/camera/depth/image/compressedDepth (2)' in capsys.readouterr().out
    (t, msgtype, _, msg), = topics['/camera/depth/image/compressedDepth'][1:]
    assert msgtype == 'sensor_msgs/msg/CompressedImage'
    image = topics['/camera/image_raw'][1][3]
    assert msg.header == image.header and t == topics['/camera/image_raw'][1][0]
    assert msg.format == '32FC1; compressedDepth png'
    encoding, depth = upstream_decode(msg.format, msg.data.tobytes())
    ref = expected(da126_model, frames[1]).depth
    assert encoding == '32FC1' and depth.shape == (H, W)
    np.testing.assert_array_equal(np.isnan(depth), ~np.isfinite(ref))
    a = 10100.0  # depth_quantization 100: A = 100 * 101
    assert np.abs(a / depth - a / ref).max() <= 0.51


def test_compressed_depth_beside_the_raw_one_16uc1_rvl(image_folder, tmp_path, da126_dir,
                                                       da126_model, frames):
    bag = tmp_path / 'both'
    assert run(image_folder, '--model', da126_dir, '--device', 'cpu', '--out-bag', bag,
               '--max-frames', '1', '--compressed-depth', '--raw-depth', '--depth-encoding',
               '16UC1', '--compressed-depth-format', 'rvl', '--no-points') == 0
    topics = read_bag(bag)
    raw = topics['/camera/depth/image_raw'][0][3]  # 16UC1: REP 118's image_raw
    msg = topics['/camera/depth/image_raw/compressedDepth'][0][3]
    assert msg.format == '16UC1; compressedDepth rvl'
    encoding, mm = upstream_decode(msg.format, msg.data.tobytes())
    assert encoding == '16UC1'
    np.testing.assert_array_equal(mm, raw.data.view('<u2').reshape(H, W))  # lossless
    assert raw.data.tobytes() == bytes(expected(da126_model, frames[0],
                                                depth_encoding='16UC1').depth_data)


def test_compressed_depth_options_are_checked_like_the_node_parameters(image_folder, tmp_path,
                                                                       capsys):
    assert run(image_folder, '--out', tmp_path / 'o', '--compressed-depth') == 2
    assert '--compressed-depth write topics of --out-bag' in capsys.readouterr().err
    assert run(image_folder, '--out-bag', tmp_path / 'b', '--raw-depth') == 2
    assert '--raw-depth keeps depth/image beside --compressed-depth' in capsys.readouterr().err
    assert run(image_folder, '--out-bag', tmp_path / 'b', '--compressed-depth',
               '--png-level', '10') == 2
    assert 'depth.image.compressedDepth.png_level must be within [0, 9]' in (
        capsys.readouterr().err)
    assert run(image_folder, '--out-bag', tmp_path / 'b', '--compressed-depth',
               '--compressed-depth-max', '0.5') == 2
    assert 'depth.image.compressedDepth.depth_max must be within [1, 100]' in (
        capsys.readouterr().err)
