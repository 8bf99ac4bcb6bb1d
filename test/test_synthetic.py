# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the synthetic ray caster and of the bundled sample rendered with it."""

from pathlib import Path

from depth_node.testing import synthetic
from depth_node.testing.synthetic import Box, Pose, Scene
import numpy as np
from PIL import Image
import pytest
import yaml

SAMPLE = Path(synthetic.__file__).parents[1] / 'sample'
# A small camera for fast tests: 160 x 120, 90-degree-ish horizontal field of view.
CAM = (160, 120, 80.0, 80.0, 79.5, 59.5)


def backproject(depth, width, height, fx, fy, cx, cy):
    """Camera-frame points (H x W x 3) of a depth map, written out independently."""
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    return np.stack([(u - cx) / fx * depth, (v - cy) / fy * depth, depth], axis=-1)


def test_render_plane_fronto_parallel():
    depth = synthetic.render_plane(*CAM, normal=(0, 0, 1), distance=2.5)
    assert depth.shape == (120, 160)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, np.float32(2.5))


def test_render_plane_tilted_points_lie_on_plane():
    normal = np.array([0.2, -0.5, 1.0])
    depth = synthetic.render_plane(*CAM, normal=normal, distance=3.0)
    assert np.all(np.isfinite(depth))
    points = backproject(depth.astype(np.float64), *CAM)
    unit = normal / np.linalg.norm(normal)
    np.testing.assert_allclose(points @ unit, 3.0, rtol=1e-6)
    # At the principal point the ray is the optical axis, so z = d / n_z.
    centred = synthetic.render_plane(160, 120, 80.0, 80.0, 80.0, 60.0, normal, 3.0)
    assert centred[60, 80] == pytest.approx(3.0 / unit[2], rel=1e-6)


def test_render_plane_behind_camera_is_nan():
    # The floor 1 m below a level camera: upper half of the image never meets it.
    depth = synthetic.render_plane(*CAM, normal=(0, 1, 0), distance=1.0)
    assert np.all(np.isnan(depth[:60]))
    assert np.all(np.isfinite(depth[60:]))
    v = np.arange(60, 120)
    np.testing.assert_allclose(depth[60:, 0], 1.0 / ((v - 59.5) / 80.0), rtol=1e-6)


def test_render_empty_room_back_wall_is_exact():
    scene = Scene(boxes=())
    pose = Pose(np.eye(3), np.array([0.0, -1.3, 0.5]))
    rgb, depth = synthetic.render(*CAM, pose=pose, scene=scene)
    assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8
    ids = synthetic.render_ids(*CAM, pose=pose, scene=scene)
    back = ids == synthetic.WALL_BACK
    assert back[59, 79]
    # Every back-wall pixel of a level camera is at z = wall - camera z.
    np.testing.assert_allclose(depth[back], scene.room_hi[2] - 0.5, rtol=1e-6)


def test_render_box_front_face_is_exact():
    box = Box((-0.3, -1.6, 2.0), (0.3, -1.0, 2.4), (0.5, 0.5, 0.5))
    scene = Scene(boxes=(box,))
    pose = Pose(np.eye(3), np.array([0.0, -1.3, 0.25]))
    _, depth = synthetic.render(*CAM, pose=pose, scene=scene)
    ids = synthetic.render_ids(*CAM, pose=pose, scene=scene)
    face = ids == synthetic.FIRST_BOX
    assert face[59, 79]
    np.testing.assert_allclose(depth[face], 2.0 - 0.25, rtol=1e-6)
    # The face spans x in [-0.3, 0.3] at 1.75 m: u = cx +- fx 0.3 / 1.75.
    cols = np.flatnonzero(face[59])
    half_width = 80.0 * 0.3 / 1.75
    assert cols.min() == pytest.approx(79.5 - half_width, abs=1.0)
    assert cols.max() == pytest.approx(79.5 + half_width, abs=1.0)


def test_level_camera_sees_floor_at_its_height():
    height = 1.3
    pose = Pose(np.eye(3), np.array([0.2, -height, 0.0]))
    _, depth = synthetic.render(*CAM, pose=pose)
    floor = synthetic.render_ids(*CAM, pose=pose) == synthetic.FLOOR
    assert floor.sum() > 1000
    points = backproject(depth.astype(np.float64), *CAM)
    np.testing.assert_allclose(points[floor][:, 1], height, atol=1e-4)


def test_moving_camera_floor_points_in_world_are_on_floor():
    for pose in synthetic.sample_trajectory(3):
        _, depth = synthetic.render(*CAM, pose=pose)
        floor = synthetic.render_ids(*CAM, pose=pose) == synthetic.FLOOR
        assert floor.sum() > 1000
        cam = backproject(depth.astype(np.float64), *CAM)[floor]
        world = cam @ pose.rotation.T + pose.translation
        np.testing.assert_allclose(world[:, 1], 0.0, atol=1e-4)


def test_depth_positive_and_finite_inside_room():
    for pose in synthetic.sample_trajectory(4):
        rgb, depth = synthetic.render(*CAM, pose=pose)
        assert np.all(np.isfinite(depth))
        assert np.all(depth > 0)
        # Nothing is farther than the room's diagonal.
        assert depth.max() < np.linalg.norm(np.subtract(Scene().room_hi, Scene().room_lo))
        # A textured image, not a flat colour.
        assert rgb.std() > 20


def test_camera_outside_room_is_rejected():
    with pytest.raises(ValueError, match='inside the room'):
        synthetic.render(*CAM, pose=Pose(np.eye(3), np.array([0.0, 1.0, 0.0])))


def test_look_at_points_optical_axis_at_target():
    pose = Pose.look_at((0.0, -1.3, 0.0), (1.0, -0.5, 4.0))
    rot = pose.rotation
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    direction = np.array([1.0, 0.8, 4.0]) / np.linalg.norm([1.0, 0.8, 4.0])
    np.testing.assert_allclose(rot[:, 2], direction, atol=1e-12)
    # No roll: the image x axis stays horizontal (world y = 0), image y points down.
    assert rot[1, 0] == pytest.approx(0.0, abs=1e-12)
    assert rot[1, 1] > 0


def test_sample_trajectory_moves_slowly():
    poses = synthetic.sample_trajectory(8)
    assert len(poses) == 8
    steps = [np.linalg.norm(b.translation - a.translation) for a, b in zip(poses, poses[1:])]
    assert 0.0 < max(steps) < 0.2
    assert len(synthetic.sample_trajectory(1)) == 1
    with pytest.raises(ValueError):
        synthetic.sample_trajectory(0)


def test_bundled_sample_matches_renderer():
    camera = synthetic.SAMPLE_CAMERA
    frames = sorted(SAMPLE.glob('frame_*.jpg'))
    depths = sorted(SAMPLE.glob('depth_*.png'))
    assert len(frames) == len(depths) == synthetic.SAMPLE_FRAMES
    assert sum(p.stat().st_size for p in SAMPLE.iterdir()) < 1_000_000
    info = yaml.safe_load((SAMPLE / 'camera_info.yaml').read_text())
    assert (info['image_width'], info['image_height']) == (camera['width'], camera['height'])
    assert info['camera_matrix']['data'] == [camera['fx'], 0, camera['cx'], 0, camera['fy'],
                                             camera['cy'], 0, 0, 1]
    assert info['distortion_model'] == 'plumb_bob'
    assert info['distortion_coefficients']['data'] == [0] * 5
    # The committed ground truth is the renderer's depth of the first frame, in mm.
    pose = synthetic.sample_trajectory(synthetic.SAMPLE_FRAMES)[0]
    _, depth = synthetic.render(camera['width'], camera['height'], camera['fx'], camera['fy'],
                                camera['cx'], camera['cy'], pose)
    stored = np.asarray(Image.open(depths[0]))
    assert stored.dtype == np.uint16 and stored.shape == depth.shape
    np.testing.assert_array_equal(stored, np.rint(depth.astype(np.float64) * 1000.0))
    rgb = np.asarray(Image.open(frames[0]).convert('RGB'))
    assert rgb.shape == (camera['height'], camera['width'], 3)
