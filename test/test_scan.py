# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
LaserScan from depth against an independent, pixel-by-pixel computation.

The reference below follows depthimage_to_laserscan's ``DepthImageToLaserScan``
(ros-perception/depthimage_to_laserscan, ``convert_msg`` and ``convert``) one pixel at a
time, reading the camera from a CameraInfo's P as image_geometry does, with the float32
values the C++ code has (angles in the message, ``cx``, ``1 / fx``, ranges). The only
difference is documented in ``depth_node.scan``: a bin with nothing within the range
limits is ``+inf`` (all beyond ``range_max``) or ``-inf`` (something closer than
``range_min``) instead of NaN.
"""

import math
from types import SimpleNamespace

from depth_node.geometry import Intrinsics, intrinsics_from_camera_info
from depth_node.scan import (body_frame_id, OPTICAL_IN_BODY_QUATERNION, OPTICAL_IN_BODY_RPY,
                             ScanBuilder)
from depth_node.testing import synthetic
import numpy as np
import pytest

CAMERA = synthetic.SAMPLE_CAMERA


def camera_info(width, height, fx, fy, cx, cy):
    return SimpleNamespace(
        width=width, height=height, k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0], binning_x=0, binning_y=0,
        roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False))


def reference_scan(depth, info, scan_height, range_min, range_max, millimetres=False):
    """
    depthimage_to_laserscan, one pixel at a time, plus the +inf / -inf rule.

    Rows of the band outside the image are left out (depthimage_to_laserscan refuses such
    bands). ``millimetres``: ``depth`` is a 16UC1 image (uint16 mm) read with the C++'s
    ``DepthTraits<uint16_t>``: 0 is no depth, metres are ``mm * 0.001f``.
    """
    fx, cx, cy = info.p[0], info.p[2], info.p[6]
    height, width = depth.shape

    def angle_between(ray1, ray2):
        dot = sum(a * b for a, b in zip(ray1, ray2))
        norm1 = math.sqrt(sum(a * a for a in ray1))
        norm2 = math.sqrt(sum(a * a for a in ray2))
        return math.acos(dot / (norm1 * norm2))

    left = ((0 - cx) / fx, 0.0, 1.0)
    right = ((width - 1 - cx) / fx, 0.0, 1.0)
    center = (0.0, 0.0, 1.0)
    f32 = np.float32
    angle_max = f32(angle_between(left, center))
    angle_min = f32(-angle_between(center, right))
    increment = f32((angle_max - angle_min) / f32(width - 1))
    ranges = [math.nan] * width
    too_close = [False] * width
    too_far = [False] * width
    low, high = f32(range_min), f32(range_max)
    center_x, constant_x = f32(cx), f32(1.0 / fx)
    offset = int(cy - scan_height / 2.0)
    for v in range(offset, offset + scan_height):
        if not 0 <= v < height:
            continue
        for u in range(width):
            if millimetres:
                if depth[v, u] == 0:
                    continue
                z = f32(int(depth[v, u]) * f32(0.001))
            else:
                z = f32(depth[v, u])
            theta = -math.atan2(float(f32(u) - center_x) * float(constant_x), 1.0)
            index = int((theta - float(angle_min)) / float(increment))
            if not (math.isfinite(z) and z > 0):
                continue
            x = (f32(u) - center_x) * z * constant_x
            r = f32(math.hypot(float(x), float(z)))
            if low <= r <= high:
                if not math.isfinite(ranges[index]) or r < ranges[index]:
                    ranges[index] = r
            elif r < low:
                too_close[index] = True
            else:
                too_far[index] = True
    for i in range(width):
        if not math.isfinite(ranges[i]):
            if too_close[i]:
                ranges[i] = -math.inf
            elif too_far[i]:
                ranges[i] = math.inf
    return float(angle_min), float(angle_max), float(increment), np.array(ranges, np.float32)


@pytest.mark.parametrize('scan_height,range_min,range_max', [
    (1, 0.45, 10.0), (8, 0.45, 3.0), (31, 2.0, 4.0)])
@pytest.mark.parametrize('pose_index', [0, 5])
def test_scan_matches_depthimage_to_laserscan(pose_index, scan_height, range_min, range_max):
    pose = synthetic.sample_trajectory(synthetic.SAMPLE_FRAMES)[pose_index]
    _, depth = synthetic.render(**CAMERA, pose=pose)
    depth[236:244:3, 100:140] = np.nan  # some invalid pixels in the band
    info = camera_info(**CAMERA)
    scan = ScanBuilder().build(depth, intrinsics_from_camera_info(info), height=scan_height,
                               range_min=range_min, range_max=range_max, scan_time=0.1)
    angle_min, angle_max, increment, ranges = reference_scan(
        depth, info, scan_height, range_min, range_max)
    assert (scan.angle_min, scan.angle_max, scan.angle_increment) == (
        angle_min, angle_max, increment)
    assert scan.ranges.dtype == np.float32 and scan.ranges.shape == (CAMERA['width'],)
    np.testing.assert_array_equal(scan.ranges, ranges)
    assert (scan.range_min, scan.range_max, scan.scan_time, scan.time_increment) == (
        range_min, range_max, 0.1, 0.0)
    assert np.isfinite(scan.ranges).sum() > 50 and (~np.isnan(scan.ranges)).mean() > 0.85


@pytest.mark.parametrize('scan_height', [1, 8])
def test_flying_pixels_mask_only_the_band(scan_height):
    """``invalid`` (the edge filter's mask) counts as NaN in the band; outside, it is unread."""
    pose = synthetic.sample_trajectory(synthetic.SAMPLE_FRAMES)[2]
    _, depth = synthetic.render(**CAMERA, pose=pose)
    rng = np.random.default_rng(5)
    mask = rng.random(depth.shape) < 0.3
    info = camera_info(**CAMERA)
    intr = intrinsics_from_camera_info(info)
    scan = ScanBuilder().build(depth, intr, height=scan_height, invalid=mask)
    expected = reference_scan(np.where(mask, np.float32(np.nan), depth), info, scan_height,
                              0.45, 10.0)[3]
    np.testing.assert_array_equal(scan.ranges, expected)
    assert not np.array_equal(expected, reference_scan(depth, info, scan_height, 0.45, 10.0)[3])
    first = int(intr.cy - scan_height / 2.0)
    outside = mask.copy()
    outside[first:first + scan_height] = False
    outside_only = ScanBuilder().build(depth, intr, height=scan_height, invalid=outside)
    np.testing.assert_array_equal(outside_only.ranges, ScanBuilder().build(
        depth, intr, height=scan_height).ranges)


def test_off_centre_principal_point_and_odd_focal():
    intr = Intrinsics(320, 240, 301.7, 299.0, 170.25, 110.8)
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.2, 6.0, (240, 320)).astype(np.float32)
    depth[rng.random((240, 320)) < 0.1] = np.nan
    info = camera_info(320, 240, 301.7, 299.0, 170.25, 110.8)
    scan = ScanBuilder().build(depth, intr, height=5, range_min=0.5, range_max=5.0)
    *_, ranges = reference_scan(depth, info, 5, 0.5, 5.0)
    np.testing.assert_array_equal(scan.ranges, ranges)


def test_scan_points_are_the_cloud_points_in_the_body_frame():
    """A scan point (r, angle) is the back-projected pixel rotated by REP 103."""
    intr = Intrinsics(**CAMERA)
    pose = synthetic.sample_trajectory(synthetic.SAMPLE_FRAMES)[3]
    _, depth = synthetic.render(**CAMERA, pose=pose)
    scan = ScanBuilder().build(depth, intr, height=1, range_max=20.0)
    v = int(intr.cy - 0.5)
    angles = scan.angle_min + scan.angle_increment * np.arange(intr.width)
    for u in range(0, intr.width, 7):
        z = float(depth[v, u])
        x_opt = (u - intr.cx) * z / intr.fx
        # body frame: x forward = z optical, y left = -x optical
        theta = -math.atan2(x_opt, z)
        i = int((theta - scan.angle_min) / scan.angle_increment)  # the bin below theta
        assert angles[i] - 1e-6 <= theta <= angles[i] + scan.angle_increment + 1e-6
        x_body, y_body = z, -x_opt
        assert scan.ranges[i] <= math.hypot(x_body, y_body) * (1 + 1e-6)
    # Bin 0 looks right (negative y in the body frame), the last bin left.
    assert scan.angle_min < 0 < scan.angle_max


def test_infinities_follow_rep_117():
    intr = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    depth = np.full((48, 64), 20.0, np.float32)  # everything beyond range_max
    builder = ScanBuilder()
    scan = builder.build(depth, intr, height=3, range_min=0.5, range_max=10.0)
    filled = ~np.isnan(scan.ranges)
    assert filled.sum() > 50 and np.all(scan.ranges[filled] == np.inf)
    depth[:, :32] = 0.2  # too close on the left half of the image: -inf on the left bins
    scan = builder.build(depth, intr, height=3, range_min=0.5, range_max=10.0)
    left = scan.ranges[40:][~np.isnan(scan.ranges[40:])]
    assert left.size and np.all(left == -np.inf)
    depth[:, :] = np.nan  # nothing valid: NaN everywhere
    scan = builder.build(depth, intr, height=3, range_min=0.5, range_max=10.0)
    assert np.isnan(scan.ranges).all()
    depth[:, :] = np.inf  # REP 117 depth +inf (too far) stays +inf
    scan = builder.build(depth, intr, height=3, range_min=0.5, range_max=10.0)
    assert np.all(scan.ranges[~np.isnan(scan.ranges)] == np.inf)


def test_nearest_in_range_wins_over_too_close_in_the_same_column():
    intr = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    depth = np.full((48, 64), 3.0, np.float32)
    depth[23, :] = 0.1  # one row too close, the other rows of the band in range
    scan = ScanBuilder().build(depth, intr, height=3, range_min=0.5, range_max=10.0)
    finite = scan.ranges[np.isfinite(scan.ranges)]
    assert finite.size > 50 and finite.min() >= 3.0


def test_band_is_clipped_to_the_image():
    intr = Intrinsics(64, 48, 60.0, 60.0, 31.5, 2.0)
    depth = np.full((48, 64), 2.0, np.float32)
    depth[10:, :] = 1.0
    scan = ScanBuilder().build(depth, intr, height=20)
    # Rows int(2 - 10) = -8 .. 11 -> 0 .. 11: rows 10 and 11 at 1 m are the nearest.
    assert np.nanmin(scan.ranges) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize('cy,scan_height', [
    (-40.0, 20),  # the band -50 .. -31 lies above the image (a cropped camera)
    (-40.0, 70),  # -75 .. -6, above too (a negative slice would take rows 0 .. 115)
    (150.0, 30),  # entirely below
    (5.0, 30),  # partly above: rows 0 .. 19
    (118.0, 9),  # partly below: rows 113 .. 120
    (60.0, 400),  # larger than the image: every row
])
def test_band_outside_the_image_uses_only_its_rows_inside(cy, scan_height):
    """A band (partly) outside the image: only its rows inside count, none means NaN."""
    width, height = 96, 121
    intr = Intrinsics(width, height, 80.0, 80.0, 47.5, cy)
    rng = np.random.default_rng(3)
    depth = rng.uniform(1.0, 3.0, (height, width)).astype(np.float32)
    info = camera_info(width, height, 80.0, 80.0, 47.5, cy)
    scan = ScanBuilder().build(depth, intr, height=scan_height, range_min=0.45, range_max=10.0)
    *_, ranges = reference_scan(depth, info, scan_height, 0.45, 10.0)
    np.testing.assert_array_equal(scan.ranges, ranges)
    first = int(cy - scan_height / 2.0)
    if first + scan_height <= 0 or first >= height:
        assert np.isnan(scan.ranges).all()
    else:
        assert np.isfinite(scan.ranges).sum() > 50


def test_16uc1_scan_is_the_scan_of_the_16uc1_image():
    """
    In 16UC1 mode the scan counts what depth/image carries: 0 (no depth) is no range.

    Beyond 65.535 m and +inf are 0 in the 16UC1 image, so with range_max 100 m they are
    neither ranges nor "too far" there; the reference reads the published uint16 image.
    """
    from depth_node.conversions import depth_to_image_fields
    width, height = 64, 48
    intr = Intrinsics(width, height, 60.0, 60.0, 31.5, 23.5)
    info = camera_info(width, height, 60.0, 60.0, 31.5, 23.5)
    rng = np.random.default_rng(4)
    depth = rng.uniform(1.0, 90.0, (height, width)).astype(np.float32)
    depth[:, :8] = 80.0  # beyond 16 bits, within range_max
    depth[:, 8:16] = np.inf
    depth[:, 16:20] = 0.0003  # rounds to 0 mm
    depth[rng.random((height, width)) < 0.1] = np.nan
    builder = ScanBuilder()
    scan = builder.build(depth, intr, height=5, range_min=0.0, range_max=100.0,
                         depth_encoding='16UC1')
    _, _, data = depth_to_image_fields(depth, '16UC1')
    image = np.frombuffer(data, '<u2').reshape(height, width)
    *_, ranges = reference_scan(image, info, 5, 0.0, 100.0, millimetres=True)
    # The same bins have a range, +inf, -inf or nothing; ranges agree to the millimetre.
    np.testing.assert_array_equal(np.isnan(scan.ranges), np.isnan(ranges))
    np.testing.assert_array_equal(np.isinf(scan.ranges), np.isinf(ranges))
    np.testing.assert_allclose(scan.ranges, ranges, rtol=0, atol=0.0006)
    assert not (scan.ranges > 65.536).any() and np.isfinite(scan.ranges).sum() > 20
    # 32FC1 keeps them: +inf "too far" and the 80 m ranges.
    floats = builder.build(depth, intr, height=5, range_min=0.0, range_max=100.0)
    assert (floats.ranges > 65.536).any()
    with pytest.raises(ValueError, match='encoding'):
        builder.build(depth, intr, depth_encoding='mono16')


def test_bad_arguments_are_refused():
    intr = Intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    builder = ScanBuilder()
    with pytest.raises(ValueError, match='32x24 but the camera is 64x48'):
        builder.build(np.ones((24, 32), np.float32), intr)
    with pytest.raises(ValueError, match='height'):
        builder.build(np.ones((48, 64), np.float32), intr, height=0)
    with pytest.raises(ValueError, match='range_min'):
        builder.build(np.ones((48, 64), np.float32), intr, range_min=5.0, range_max=1.0)


@pytest.mark.parametrize('optical,body', [
    ('camera_color_optical_frame', 'camera_color_frame'),
    ('camera_depth_optical_frame', 'camera_depth_frame'),
    ('zed_left_camera_optical_frame', 'zed_left_camera_frame'),
    ('/camera_optical_frame', 'camera_frame'),
    ('front_optical', 'front'),
    ('camera', None), ('camera_link', None), ('_optical_frame', None), ('', None)])
def test_body_frame_id(optical, body):
    assert body_frame_id(optical) == body


def _rotation_from_rpy(roll, pitch, yaw):
    def rx(a):
        return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])

    def ry(a):
        return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])

    def rz(a):
        return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return rz(yaw) @ ry(pitch) @ rx(roll)


def _rotation_from_quaternion(x, y, z, w):
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_optical_frame_rotation_is_rep_103():
    """Columns: the optical x (right), y (down), z (forward) axes in the body frame."""
    expected = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], dtype=float)
    np.testing.assert_allclose(_rotation_from_rpy(*OPTICAL_IN_BODY_RPY), expected, atol=1e-12)
    np.testing.assert_allclose(
        _rotation_from_quaternion(*OPTICAL_IN_BODY_QUATERNION), expected, atol=1e-12)


# --- the LaserScan and colourised depth messages (rclpy and rosbags) -----------------------

def _scan():
    intr = Intrinsics(8, 4, 4.0, 4.0, 3.5, 1.5)
    depth = np.full((4, 8), 2.0, np.float32)
    depth[:, 0] = np.nan
    depth[:, 1] = 50.0
    return ScanBuilder().build(depth, intr, range_max=10.0, scan_time=0.1)


def test_laser_scan_message_rclpy():
    from depth_node import messages
    types = messages.rclpy_types()
    scan = _scan()
    msg = messages.laser_scan(types, messages.header(types, 3_000_000_007, 'camera_frame'), scan)
    assert msg.header.frame_id == 'camera_frame'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 7)
    assert msg.angle_min == pytest.approx(scan.angle_min)
    assert msg.angle_increment == pytest.approx(scan.angle_increment)
    assert (msg.range_min, msg.range_max, msg.scan_time) == pytest.approx((0.45, 10.0, 0.1))
    ranges = np.asarray(msg.ranges, np.float32)
    np.testing.assert_array_equal(ranges, scan.ranges)
    assert np.isinf(ranges).any() and np.isnan(ranges).any()  # REP 117 values survive
    assert len(msg.intensities) == 0


def test_laser_scan_and_colored_messages_rosbags_round_trip():
    from depth_node import messages
    from depth_node.offline.bag import bag_typestore
    store = bag_typestore()
    types = messages.rosbags_types(store)
    scan = _scan()
    header = messages.header(types, 5, 'camera_frame')
    raw = store.serialize_cdr(messages.laser_scan(types, header, scan),
                              'sensor_msgs/msg/LaserScan')
    back = store.deserialize_cdr(raw, 'sensor_msgs/msg/LaserScan')
    np.testing.assert_array_equal(back.ranges, scan.ranges)
    assert back.header.frame_id == 'camera_frame'
    colored = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    image = store.deserialize_cdr(
        store.serialize_cdr(messages.colored_image(types, header, colored),
                            'sensor_msgs/msg/Image'), 'sensor_msgs/msg/Image')
    assert (image.encoding, image.height, image.width, image.step) == ('bgr8', 4, 6, 18)
    np.testing.assert_array_equal(np.asarray(image.data).reshape(4, 6, 3), colored)
