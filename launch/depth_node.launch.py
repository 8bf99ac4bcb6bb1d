# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Launch depth_node with its parameter file.

Example::

    ros2 launch depth_node depth_node.launch.py image_topic:=/camera/color/image_raw
        camera_info_topic:=/camera/color/camera_info

Defaults live in the parameter file (``params_file``, by default the installed
``config/depth_node.yaml``). ``model`` and ``rate`` override it only when given, so an
empty launch argument leaves the YAML value in force; ``autostart`` always applies (as in
Nav2's ``navigation_launch.py``).

Several cameras: ``cameras:='front rear'`` with ``remaps:='front/image:=/front_camera/color/
image_raw front/camera_info:=/front_camera/color/camera_info ...'`` (doc/several_cameras.md).

Optional extras: ``rviz:=true`` starts rviz2 with the installed ``rviz/depth_node.rviz``
(fixed frame ``camera_frame``); ``camera_pose:='x y z roll pitch yaw'`` publishes the static
transforms a bare USB camera lacks: ``base_frame`` -> the camera's body frame (x forward,
z up; the pose) -> ``camera_frame`` (the REP 103 optical frame of the images).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import OpaqueFunction
from launch.actions import SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

_TRUE = ('true', '1', 'yes', 'on')
_FALSE = ('false', '0', 'no', 'off')


def _as_bool(name, text):
    """Return the boolean a launch argument spells ('true'/'false', any case, or 1/0)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"launch argument '{name}' must be true or false, got {text!r}")


def _as_float(name, text):
    """Return the float a launch argument spells."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"launch argument '{name}' must be a number, got {text!r}") from None


#: Roll, pitch, yaw of a REP 103 optical frame in its body frame (depth_node.scan).
_OPTICAL_IN_BODY_RPY = ('-1.5707963267948966', '0', '-1.5707963267948966')


def _body_frame(optical):
    """Return the body frame of an optical frame: '<name>_optical_frame' -> '<name>_frame'."""
    name = optical.lstrip('/')
    for suffix, replacement in (('_optical_frame', '_frame'), ('_optical', '')):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)] + replacement
    raise ValueError(
        f"launch argument 'camera_frame' must be an optical frame named '<name>_optical_frame' "
        f"or '<name>_optical' when camera_pose is given, got {optical!r}")


def _as_names(text):
    """Return the camera names of the cameras launch argument ('front rear' or '[front, rear]')."""
    return [name for name in text.strip().strip('[]').replace(',', ' ').split() if name]


def _as_remaps(text):
    """Return the remappings 'from:=to ...' of the remaps launch argument as pairs."""
    pairs = []
    for rule in text.split():
        source, sep, target = rule.partition(':=')
        if not sep or not source or not target:
            raise ValueError(
                "launch argument 'remaps' must be rules 'from:=to' separated by spaces, e.g. "
                f"'front/image:=/front_camera/color/image_raw', got {rule!r}")
        pairs.append((source, target))
    return pairs


def _as_pose(text):
    """Return the six numbers 'x y z roll pitch yaw' of the camera_pose launch argument."""
    fields = text.replace(',', ' ').split()
    try:
        values = [float(v) for v in fields]
    except ValueError:
        values = []
    if len(values) != 6:
        raise ValueError(
            "launch argument 'camera_pose' must be six numbers 'x y z roll pitch yaw' "
            f'(metres, radians), got {text!r}')
    return [repr(v) for v in values]


def _static_transform(name, parent, child, xyz, rpy, use_sim_time):
    """Return a tf2_ros static_transform_publisher node for one transform."""
    x, y, z = xyz
    roll, pitch, yaw = rpy
    return Node(
        package='tf2_ros',
        executable='static_transform_publisher',
        name=name,
        output='screen',
        arguments=['--x', x, '--y', y, '--z', z, '--roll', roll, '--pitch', pitch,
                   '--yaw', yaw, '--frame-id', parent, '--child-frame-id', child],
        parameters=[{'use_sim_time': use_sim_time}],
    )


def _launch_node(context, *args, **kwargs):
    """Build the node (and the optional rviz2 and static transforms) from the arguments."""
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    use_sim_time = _as_bool('use_sim_time', arg('use_sim_time'))
    overrides = {'use_sim_time': use_sim_time,
                 'autostart': _as_bool('autostart', arg('autostart'))}
    model = arg('model').strip()
    if model:
        overrides['model'] = model
    rate = arg('rate').strip()
    if rate:
        overrides['rate'] = _as_float('rate', rate)
    cameras = _as_names(arg('cameras'))
    if cameras:
        overrides['cameras'] = cameras

    use_respawn = _as_bool('use_respawn', arg('use_respawn'))
    namespace = arg('namespace')
    camera_frame = arg('camera_frame').strip()
    actions = [
        Node(
            package='depth_node',
            executable='depth_node',
            name='depth_node',
            namespace=namespace,
            output='screen',
            respawn=use_respawn,
            respawn_delay=2.0,
            parameters=[arg('params_file'), overrides],
            remappings=[
                ('image', arg('image_topic')),
                ('camera_info', arg('camera_info_topic')),
            ] + _as_remaps(arg('remaps')),
            arguments=['--ros-args', '--log-level', arg('log_level')],
        ),
    ]
    pose = arg('camera_pose').strip()
    if pose:
        values = _as_pose(pose)
        body = _body_frame(camera_frame)
        actions += [
            _static_transform('camera_pose_tf', arg('base_frame'), body, values[:3],
                              values[3:], use_sim_time),
            _static_transform('camera_optical_tf', body, camera_frame.lstrip('/'),
                              ('0', '0', '0'), _OPTICAL_IN_BODY_RPY, use_sim_time),
        ]
    if _as_bool('rviz', arg('rviz')):
        share_dir = get_package_share_directory('depth_node')
        actions.append(Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            namespace=namespace,
            output='screen',
            arguments=['-d', os.path.join(share_dir, 'rviz', 'depth_node.rviz'),
                       '-f', camera_frame],
            parameters=[{'use_sim_time': use_sim_time}],
            # The same input topic as the node, for the "Input image" display.
            remappings=[('image', arg('image_topic'))],
        ))
    return actions


def generate_launch_description():
    """Declare the launch arguments and the depth_node node."""
    share_dir = get_package_share_directory('depth_node')

    return LaunchDescription([
        SetEnvironmentVariable('RCUTILS_LOGGING_BUFFERED_STREAM', '1'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of the node and its topics'),
        DeclareLaunchArgument(
            'params_file',
            default_value=os.path.join(share_dir, 'config', 'depth_node.yaml'),
            description='Full path to the parameter file'),
        DeclareLaunchArgument(
            'model', default_value='',
            description='Hugging Face model id or local checkpoint directory '
                        '(empty: the value in params_file)'),
        DeclareLaunchArgument(
            'rate', default_value='',
            description='Maximum output rate in Hz, 0 = every frame '
                        '(empty: the value in params_file)'),
        DeclareLaunchArgument(
            'cameras', default_value='',
            description="Camera names, e.g. 'front rear' (empty: the value in params_file; "
                        'none = one camera on image and camera_info)'),
        DeclareLaunchArgument(
            'remaps', default_value='',
            description="More remappings 'from:=to', space-separated, e.g. "
                        "'front/image:=/front_camera/color/image_raw "
                        "front/camera_info:=/front_camera/color/camera_info'"),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            description='Logging level: debug, info, warn, error or fatal'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='Use the /clock topic (simulation or bag replay) if true'),
        DeclareLaunchArgument(
            'image_topic', default_value='image',
            description='Input RGB image topic (remaps image)'),
        DeclareLaunchArgument(
            'camera_info_topic', default_value='camera_info',
            description='Input CameraInfo topic (remaps camera_info)'),
        DeclareLaunchArgument(
            'autostart', default_value='true',
            description='Configure and activate the node at start; false = wait in the '
                        "lifecycle state 'unconfigured'"),
        DeclareLaunchArgument(
            'use_respawn', default_value='false',
            description='Restart the node 2 s after it exits or crashes'),
        DeclareLaunchArgument(
            'rviz', default_value='false',
            description='Start rviz2 with the installed rviz/depth_node.rviz'),
        DeclareLaunchArgument(
            'camera_frame', default_value='camera_optical_frame',
            description="The images' frame_id (REP 103 optical frame): RViz fixed frame, "
                        'and the child of the static transforms of camera_pose'),
        DeclareLaunchArgument(
            'camera_pose', default_value='',
            description="Camera pose 'x y z roll pitch yaw' (m, rad; x forward, z up) in "
                        'base_frame: publish static transforms base_frame -> camera body '
                        'frame -> camera_frame (empty: none, e.g. when the driver or '
                        'robot_state_publisher does)'),
        DeclareLaunchArgument(
            'base_frame', default_value='base_link',
            description='Parent frame of camera_pose (the robot base)'),
        OpaqueFunction(function=_launch_node),
    ])
