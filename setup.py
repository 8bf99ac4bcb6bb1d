# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Build script for depth_node (ament_python; also a plain pip package)."""

import glob

from setuptools import find_packages
from setuptools import setup

package_name = 'depth_node'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    # The bundled sample stream, so that a pip install can run the demo offline.
    package_data={package_name: ['sample/*']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob.glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob.glob('config/*.yaml')),
        # An example for Nav2 (Nav2's parameters, not the node's).
        ('share/' + package_name + '/config/nav2', glob.glob('config/nav2/*.yaml')),
        ('share/' + package_name + '/rviz', glob.glob('rviz/*.rviz')),
        # The guides (README.md links to them), beside the installed package.
        ('share/' + package_name + '/doc', glob.glob('doc/*.md') + glob.glob('doc/*.png')),
    ],
    python_requires='>=3.10',
    # rclpy and the message packages come from ROS 2 (apt, or the ros-kilted-* wheels that
    # `make venv` installs); they are not on PyPI under these names, so they are not listed.
    install_requires=[
        'setuptools',
        'numpy',
        'pillow',
        'pyyaml',
        'opencv-python-headless',
        'safetensors',
        'tqdm',
        'rosbags',
        # transformers >= 4.45: Depth Anything V2 metric heads; >= 4.49: Depth Pro.
        'transformers>=4.49',
        # transformers 5.x switches PyTorch support off below torch 2.6.
        'torch>=2.6',
    ],
    extras_require={
        'test': ['pytest', 'pytest-timeout', 'flake8', 'flake8-import-order', 'pydocstyle'],
    },
    zip_safe=True,
    maintainer='depth_node maintainers',
    maintainer_email='maintainers@users.noreply.h-seed-1e9b7742.example',
    description='Metric monocular depth (depth image + point cloud) for ROS 2 from an RGB '
                'camera, with transformers depth networks on PyTorch.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depth_node = depth_node.node:main',
            'depth_node_bench = depth_node.offline.bench:main',
            'depth_node_demo = depth_node.offline.demo:main',
            'depth_node_run = depth_node.offline.run:main',
            'depth_node_eval = depth_node.offline.eval:main',
        ],
    },
)
