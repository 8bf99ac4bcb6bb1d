# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Static checks of the navigation files: RViz config, launch extras, Nav2 costmap example.

rviz/depth_node.rviz, the launch file's rviz2 and static transforms, and
config/nav2/costmap_example.yaml against Nav2's parameter names.
rviz2, tf2_ros and Nav2 are not installable here, so the files are checked against what
those programs read: topics the node publishes, the arguments rviz2 and
static_transform_publisher take, and the parameter names Nav2's layers declare (recorded
below from Nav2's sources).
"""

from pathlib import Path

from depth_node.scan import body_frame_id, OPTICAL_IN_BODY_RPY
import pytest
from test_launch_config import _launch_all, launch_module  # noqa: F401 (fixture)
import yaml

REPO = Path(__file__).resolve().parents[1]
RVIZ_FILE = REPO / 'rviz' / 'depth_node.rviz'
NAV2_FILE = REPO / 'config' / 'nav2' / 'costmap_example.yaml'

#: The node's input image; the launch file gives rviz2 the same remapping as the node.
INPUT_TOPICS = {'image'}


def node_published_topics():
    """Return the topics the node creates its output publishers on (camera_pipeline.OUTPUTS)."""
    from depth_node.camera_pipeline import OUTPUTS
    return {topic for _, _, topic in OUTPUTS}


@pytest.fixture(scope='module')
def rviz():
    return yaml.safe_load(RVIZ_FILE.read_text(encoding='utf-8'))


def displays(config):
    """Return every display of an .rviz config, groups flattened."""
    out = []
    stack = list(config['Visualization Manager']['Displays'])
    while stack:
        display = stack.pop(0)
        out.append(display)
        stack.extend(display.get('Displays', []))
    return out


# --- rviz/depth_node.rviz -----------------------------------------------------------------

def test_setup_installs_the_rviz_config():
    setup_py = (REPO / 'setup.py').read_text(encoding='utf-8')
    assert "('share/' + package_name + '/rviz', glob.glob('rviz/*.rviz'))" in setup_py


def test_rviz_topics_are_what_the_node_publishes(rviz):
    published = node_published_topics()
    topics = {d['Topic']['Value'] for d in displays(rviz) if 'Topic' in d}
    assert topics, 'no topics in the .rviz file'
    unknown = topics - published - INPUT_TOPICS
    assert not unknown, f'rviz/depth_node.rviz shows topics nobody publishes: {unknown}'
    # Relative names, so the launch file's namespace (rviz2 runs in it too) applies.
    assert not any(t.startswith('/') for t in topics)


def test_rviz_shows_input_colored_depth_cloud_and_scan(rviz):
    by_topic = {d['Topic']['Value']: d for d in displays(rviz) if 'Topic' in d}
    assert by_topic['image']['Class'] == 'rviz_default_plugins/Image'
    assert by_topic['depth/colored']['Class'] == 'rviz_default_plugins/Image'
    assert by_topic['points']['Class'] == 'rviz_default_plugins/PointCloud2'
    assert by_topic['points']['Color Transformer'] == 'RGB8'
    assert by_topic['scan']['Class'] == 'rviz_default_plugins/LaserScan'
    for display in by_topic.values():
        assert display['Enabled'] is True
        # Our publishers are reliable; a reliable subscription gets every large message.
        assert display['Topic']['Reliability Policy'] == 'Reliable'


def test_rviz_fixed_frame_is_the_launch_default_camera_frame(rviz, launch_module):  # noqa: F811
    fixed = rviz['Visualization Manager']['Global Options']['Fixed Frame']
    description = launch_module.generate_launch_description()
    defaults = {e.args[0]: e.kwargs['default_value'] for e in description.args[0]
                if 'default_value' in e.kwargs}
    assert fixed == defaults['camera_frame'] == 'camera_optical_frame'


# --- the launch file's rviz2 and static transforms ----------------------------------------

def test_rviz_argument_starts_rviz2_with_the_installed_config(launch_module):  # noqa: F811
    nodes, _ = _launch_all(launch_module, rviz='true', namespace='robot1',
                           image_topic='/cam/image_raw', camera_frame='cam_optical_frame')
    assert len(nodes) == 2
    rviz2 = nodes[1].kwargs
    assert (rviz2['package'], rviz2['executable']) == ('rviz2', 'rviz2')
    assert rviz2['namespace'] == 'robot1'  # relative display topics resolve like the node's
    assert rviz2['arguments'] == [
        '-d', '/opt/share/depth_node/rviz/depth_node.rviz', '-f', 'cam_optical_frame']
    assert rviz2['remappings'] == [('image', '/cam/image_raw')]
    assert rviz2['parameters'] == [{'use_sim_time': False}]


def test_autostart_and_use_respawn_reach_the_node(launch_module):  # noqa: F811
    nodes, _ = _launch_all(launch_module, autostart='false', use_respawn='True')
    node = nodes[0].kwargs
    assert node['parameters'][1]['autostart'] is False
    assert node['respawn'] is True and node['respawn_delay'] == 2.0


def _transform(node):
    """Return {flag: value} of a static_transform_publisher's arguments."""
    kw = node.kwargs
    assert (kw['package'], kw['executable']) == ('tf2_ros', 'static_transform_publisher')
    args = kw['arguments']
    return dict(zip(args[::2], args[1::2]))


def test_camera_pose_publishes_the_rep_103_chain(launch_module):  # noqa: F811
    nodes, _ = _launch_all(launch_module, camera_pose='0.1 0 0.25 0 0.2 0',
                           camera_frame='camera_color_optical_frame', base_frame='base_footprint',
                           use_sim_time='true')
    assert len(nodes) == 3
    pose, optical = _transform(nodes[1]), _transform(nodes[2])
    assert (pose['--frame-id'], pose['--child-frame-id']) == (
        'base_footprint', 'camera_color_frame')
    assert [float(pose[k]) for k in ('--x', '--y', '--z', '--roll', '--pitch', '--yaw')] == [
        0.1, 0.0, 0.25, 0.0, 0.2, 0.0]
    assert (optical['--frame-id'], optical['--child-frame-id']) == (
        'camera_color_frame', 'camera_color_optical_frame')
    assert [float(optical[k]) for k in ('--x', '--y', '--z')] == [0.0, 0.0, 0.0]
    rpy = [float(optical[k]) for k in ('--roll', '--pitch', '--yaw')]
    assert rpy == pytest.approx(OPTICAL_IN_BODY_RPY, abs=1e-12)
    assert nodes[1].kwargs['parameters'] == [{'use_sim_time': True}]


@pytest.mark.parametrize('frame', [
    'camera_optical_frame', 'camera_color_optical_frame', '/front_optical', 'zed_left_optical'])
def test_launch_names_the_body_frame_as_the_node_does(launch_module, frame):  # noqa: F811
    nodes, _ = _launch_all(launch_module, camera_pose='0 0 0 0 0 0', camera_frame=frame)
    assert _transform(nodes[1])['--child-frame-id'] == body_frame_id(frame)


def test_camera_pose_needs_an_optical_frame_name(launch_module):  # noqa: F811
    with pytest.raises(ValueError, match='camera_frame'):
        _launch_all(launch_module, camera_pose='0 0 0 0 0 0', camera_frame='camera')


# --- config/nav2/costmap_example.yaml -----------------------------------------------------

# Parameter names Nav2 declares, recorded from ros-navigation/navigation2 (branch humble and
# main, 2026): only names present in both are used, so the example works on Humble and on
# newer distributions.
# nav2_costmap_2d/src/costmap_2d_ros.cpp (Costmap2DROS constructor / getParameters):
COSTMAP_PARAMETERS = {
    'always_send_full_costmap', 'footprint_padding', 'footprint', 'global_frame', 'height',
    'width', 'lethal_cost_threshold', 'origin_x', 'origin_y', 'plugins', 'filters',
    'publish_frequency', 'resolution', 'robot_base_frame', 'robot_radius', 'rolling_window',
    'track_unknown_space', 'transform_tolerance', 'trinary_costmap', 'unknown_cost_value',
    'update_frequency', 'use_maximum', 'use_sim_time'}
# Every layer: '<layer>.plugin' (the plugin loader in costmap_2d_ros.cpp).
LAYER_PARAMETERS = {'plugin'}
# nav2_costmap_2d/plugins/obstacle_layer.cpp, ObstacleLayer::onInitialize:
OBSTACLE_LAYER_PARAMETERS = LAYER_PARAMETERS | {
    'enabled', 'footprint_clearing_enabled', 'min_obstacle_height', 'max_obstacle_height',
    'combination_method', 'observation_sources'}
OBSERVATION_SOURCE_PARAMETERS = {
    'topic', 'sensor_frame', 'observation_persistence', 'expected_update_rate', 'data_type',
    'min_obstacle_height', 'max_obstacle_height', 'inf_is_valid', 'marking', 'clearing',
    'obstacle_max_range', 'obstacle_min_range', 'raytrace_max_range', 'raytrace_min_range'}
# nav2_costmap_2d/plugins/voxel_layer.cpp, VoxelLayer::onInitialize (after the obstacle
# layer's own):
VOXEL_LAYER_PARAMETERS = OBSTACLE_LAYER_PARAMETERS | {
    'publish_voxel_map', 'origin_z', 'z_resolution', 'z_voxels', 'unknown_threshold',
    'mark_threshold'}
# nav2_costmap_2d/plugins/inflation_layer.cpp, InflationLayer::onInitialize:
INFLATION_LAYER_PARAMETERS = LAYER_PARAMETERS | {
    'enabled', 'inflation_radius', 'cost_scaling_factor', 'inflate_unknown',
    'inflate_around_unknown'}
LAYERS = {
    'nav2_costmap_2d::VoxelLayer': VOXEL_LAYER_PARAMETERS,
    'nav2_costmap_2d::ObstacleLayer': OBSTACLE_LAYER_PARAMETERS,
    'nav2_costmap_2d::InflationLayer': INFLATION_LAYER_PARAMETERS,
}
# The voxel grid keeps a column in one 32-bit word (16 bits marked, 16 unknown):
# nav2_voxel_grid/src/voxel_grid.cpp cuts z_voxels above 16 down to 16.
MAX_Z_VOXELS = 16


@pytest.fixture(scope='module')
def costmap():
    data = yaml.safe_load(NAV2_FILE.read_text(encoding='utf-8'))
    return data['local_costmap']['local_costmap']['ros__parameters']


def _sources(layer):
    return layer['observation_sources'].split()


def test_every_key_is_a_nav2_parameter(costmap):
    plugins = costmap['plugins']
    top = set(costmap) - set(plugins)
    assert top <= COSTMAP_PARAMETERS, f'unknown costmap parameters: {top - COSTMAP_PARAMETERS}'
    for name in plugins:
        layer = costmap[name]
        known = LAYERS[layer['plugin']]
        sources = set(_sources(layer)) if 'observation_sources' in layer else set()
        unknown = set(layer) - known - sources
        assert not unknown, f'{name}: unknown parameters {unknown}'
        for source in sources:
            extra = set(layer[source]) - OBSERVATION_SOURCE_PARAMETERS
            assert not extra, f'{name}.{source}: unknown parameters {extra}'


def test_values_have_the_types_nav2_declares(costmap):
    floats = {'update_frequency', 'publish_frequency', 'resolution', 'robot_radius',
              'transform_tolerance', 'origin_z', 'z_resolution', 'max_obstacle_height',
              'min_obstacle_height', 'inflation_radius', 'cost_scaling_factor',
              'obstacle_max_range', 'obstacle_min_range', 'raytrace_max_range',
              'raytrace_min_range', 'observation_persistence', 'expected_update_rate'}
    ints = {'width', 'height', 'z_voxels', 'unknown_threshold', 'mark_threshold',
            'combination_method'}
    bools = {'rolling_window', 'enabled', 'footprint_clearing_enabled', 'publish_voxel_map',
             'marking', 'clearing', 'inf_is_valid', 'always_send_full_costmap'}

    def check(mapping, where):
        for key, value in mapping.items():
            if isinstance(value, dict):
                check(value, f'{where}{key}.')
            elif key in floats:
                assert type(value) is float, f'{where}{key}: ROS needs a double, got {value!r}'
            elif key in ints:
                assert type(value) is int, f'{where}{key}: ROS needs an integer'
            elif key in bools:
                assert type(value) is bool, f'{where}{key}: ROS needs a bool'
    check(costmap, '')


def test_voxel_layer_reads_the_cloud_and_obstacle_layer_the_scan(costmap):
    layers = {costmap[n]['plugin']: costmap[n] for n in costmap['plugins']}
    voxel = layers['nav2_costmap_2d::VoxelLayer']
    points = voxel[_sources(voxel)[0]]
    assert (points['topic'], points['data_type']) == ('/points', 'PointCloud2')
    obstacle = layers['nav2_costmap_2d::ObstacleLayer']
    scan = obstacle[_sources(obstacle)[0]]
    assert (scan['topic'], scan['data_type']) == ('/scan', 'LaserScan')
    assert scan['inf_is_valid'] is True  # depth_node's +inf = free space up to range_max
    for source in (points, scan):
        assert source['marking'] and source['clearing']
        assert 0.0 <= source['obstacle_min_range'] < source['obstacle_max_range']
        assert source['obstacle_max_range'] <= source['raytrace_max_range']
        # A monocular prediction is trusted a few metres out, not to the horizon.
        assert source['obstacle_max_range'] <= 5.0
        assert source['min_obstacle_height'] < source['max_obstacle_height']
    # The cloud: ignore the floor's scatter, stop within the voxel column.
    assert 0.0 < points['min_obstacle_height'] <= 0.15
    assert voxel['z_voxels'] <= MAX_Z_VOXELS
    top = voxel['origin_z'] + voxel['z_voxels'] * voxel['z_resolution']
    assert top >= voxel['max_obstacle_height'] - 1e-9
    assert costmap['plugins'][-1] == 'inflation_layer'


def test_scan_range_reaches_the_clearing_distance(costmap):
    """depth_node's +inf becomes range_max in the obstacle layer: it must reach the raytrace."""
    params = pytest.importorskip('depth_node.params')
    defaults = {p.name: p.default for p in params.PARAMETERS}
    obstacle = costmap['obstacle_layer']
    scan = obstacle[_sources(obstacle)[0]]
    assert defaults['scan.range_max'] >= scan['raytrace_max_range']
    assert defaults['scan.range_min'] <= scan['obstacle_min_range'] + 0.3
