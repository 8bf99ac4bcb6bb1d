# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Launch depth_node with its parameter file.

Example::

    ros2 launch depth_node depth_node.launch.py image_topic:=/camera/color/image_raw
        camera_info_topic:=/camera/color/camera_info

Defaults live in the parameter file (``params_file``, by default the installed
``config/depth_node.yaml``). ``model`` and ``rate`` override it only when given, so an
empty launch argument leaves the YAML value in force.
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


def _launch_node(context, *args, **kwargs):
    """Build the node once the launch arguments are known."""
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    overrides = {'use_sim_time': _as_bool('use_sim_time', arg('use_sim_time'))}
    model = arg('model').strip()
    if model:
        overrides['model'] = model
    rate = arg('rate').strip()
    if rate:
        overrides['rate'] = _as_float('rate', rate)

    return [
        Node(
            package='depth_node',
            executable='depth_node',
            name='depth_node',
            namespace=arg('namespace'),
            output='screen',
            parameters=[arg('params_file'), overrides],
            remappings=[
                ('image', arg('image_topic')),
                ('camera_info', arg('camera_info_topic')),
            ],
            arguments=['--ros-args', '--log-level', arg('log_level')],
        ),
    ]


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
        OpaqueFunction(function=_launch_node),
    ])
