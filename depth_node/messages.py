# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The output messages of one frame, for any implementation of the message classes.

Without rclpy. The builders take a :class:`MessageTypes` (the classes plus how
their array fields want their data), so the node (rclpy's generated classes,
:func:`rclpy_types`) and the offline tools' rosbag2 writer (``rosbags``
dataclasses, :func:`rosbags_types`) build depth ``Image``, ``CameraInfo``,
``PointCloud2``, ``LaserScan``, the colourised depth and the compressed outputs
(``CompressedImage``) with one piece of code.
Each large payload is written once, into the frame's ``array.array('B')`` by
the core, and handed to the message without another copy
(:func:`depth_node.msgfill.filled_message`: rclpy messages built with
``check_fields=True`` where the class has it, a numpy view for rosbags).
"""

import array
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .msgfill import filled_message


@dataclass(frozen=True)
class MessageTypes:
    """Message classes of one implementation and adapters for their array fields."""

    Header: Any
    Time: Any
    Image: Any
    CameraInfo: Any
    RegionOfInterest: Any
    PointCloud2: Any
    PointField: Any
    #: Turns a small byte sequence into a ``uint8[]`` value (large payloads, the ``data``
    #: of images and clouds, go through :func:`~depth_node.msgfill.filled_message`).
    uint8: Callable[[Any], Any]
    #: Turns a sequence of floats into a ``float64[]`` value.
    float64: Callable[[Any], Any]
    #: sensor_msgs/LaserScan and the adapter of its ``float32[]`` fields.
    LaserScan: Any = None
    float32: Optional[Callable[[Any], Any]] = None
    #: sensor_msgs/CompressedImage (``depth/image/compressedDepth``, ``depth/colored/compressed``).
    CompressedImage: Any = None


#: REP 118 topics of the depth image by encoding: the canonical float image (metres) on
#: ``depth/image``, the 16-bit millimetre image ("OpenNI raw representation") on
#: ``depth/image_raw``, where depth_image_proc's ``convert_metric`` expects it.
DEPTH_IMAGE_TOPICS = {'32FC1': 'depth/image', '16UC1': 'depth/image_raw'}


def depth_image_topic(encoding: str) -> str:
    """
    Return the topic (relative name) the depth image of ``encoding`` is published on.

    REP 118 keeps ``image`` for 32-bit float metres and puts 16-bit millimetres on
    ``image_raw``; :data:`DEPTH_IMAGE_TOPICS`. Raises ValueError for other encodings.
    """
    try:
        return DEPTH_IMAGE_TOPICS[str(encoding)]
    except KeyError:
        raise ValueError(
            f"depth encoding must be '32FC1' or '16UC1', got {encoding!r}") from None


def _same(value):
    return value


def rclpy_types() -> MessageTypes:
    """
    Return the rclpy message classes (sensor_msgs, std_msgs, builtin_interfaces).

    The builders below construct the large messages so that ``data`` keeps the
    core's ``array.array('B')`` by reference: rclpy's setter stores it as it is
    on Humble, and on Jazzy and later only for messages built with
    ``check_fields=True`` (otherwise it copies).
    """
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest
    from sensor_msgs.msg import CompressedImage, LaserScan
    from std_msgs.msg import Header
    return MessageTypes(Header, Time, Image, CameraInfo, RegionOfInterest, PointCloud2,
                        PointField, uint8=_same, float64=list, LaserScan=LaserScan,
                        float32=_float32_array, CompressedImage=CompressedImage)


def rosbags_types(typestore) -> MessageTypes:
    """Return the message classes of a ``rosbags`` typestore (numpy arrays for array fields)."""
    types = typestore.types
    return MessageTypes(
        types['std_msgs/msg/Header'], types['builtin_interfaces/msg/Time'],
        types['sensor_msgs/msg/Image'], types['sensor_msgs/msg/CameraInfo'],
        types['sensor_msgs/msg/RegionOfInterest'], types['sensor_msgs/msg/PointCloud2'],
        types['sensor_msgs/msg/PointField'],
        uint8=lambda data: np.frombuffer(data, dtype=np.uint8),
        float64=lambda values: np.asarray(values, dtype=np.float64),
        LaserScan=types['sensor_msgs/msg/LaserScan'],
        float32=lambda values: np.asarray(values, dtype=np.float32),
        CompressedImage=types['sensor_msgs/msg/CompressedImage'])


def header(types: MessageTypes, stamp_ns: int, frame_id: str):
    """Return a std_msgs/Header stamped ``stamp_ns`` nanoseconds in ``frame_id``."""
    stamp = types.Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000))
    return types.Header(stamp=stamp, frame_id=str(frame_id))


def image(types: MessageTypes, header, height: int, width: int, encoding: str, step: int,
          data):
    """
    Return a sensor_msgs/Image (little-endian) carrying ``data``.

    ``data`` (an ``array.array('B')``, or any C-contiguous buffer) is used
    without a copy where the message class allows (:mod:`depth_node.msgfill`).
    """
    return filled_message(types.Image, data, header=header, height=int(height),
                          width=int(width), encoding=str(encoding), is_bigendian=0,
                          step=int(step))


def depth_image(types: MessageTypes, header, output):
    """
    Return the depth Image of a :class:`~depth_node.frame.FrameOutput`.

    The size is the one of the output's camera (``intrinsics``, the camera of the
    depth map), so a depth map still on the inference device is not downloaded.
    """
    intr = output.intrinsics
    height, width = intr.height, intr.width
    return image(types, header, height, width, output.depth_encoding, output.depth_step,
                 output.depth_data)


def camera_info(types: MessageTypes, header, fields):
    """Return a sensor_msgs/CameraInfo of :class:`~depth_node.camera.CameraInfoFields`."""
    roi = fields.roi
    return types.CameraInfo(
        header=header, height=int(fields.height), width=int(fields.width),
        distortion_model=str(fields.distortion_model), d=types.float64(fields.d),
        k=types.float64(fields.k), r=types.float64(fields.r), p=types.float64(fields.p),
        binning_x=int(fields.binning_x), binning_y=int(fields.binning_y),
        roi=types.RegionOfInterest(x_offset=int(roi.x_offset), y_offset=int(roi.y_offset),
                                   height=int(roi.height), width=int(roi.width),
                                   do_rectify=bool(roi.do_rectify)))


def point_cloud(types: MessageTypes, header, cloud):
    """Return a sensor_msgs/PointCloud2 of a :class:`~depth_node.geometry.CloudData` (no copy)."""
    return filled_message(
        types.PointCloud2, cloud.data, header=header, height=int(cloud.height),
        width=int(cloud.width),
        fields=[types.PointField(name=str(n), offset=int(o), datatype=int(t), count=int(c))
                for n, o, t, c in cloud.fields],
        is_bigendian=False, point_step=int(cloud.point_step), row_step=int(cloud.row_step),
        is_dense=bool(cloud.is_dense))


def _float32_array(values) -> array.array:
    """Return ``values`` as the ``array.array('f')`` rclpy stores for ``float32[]`` as it is."""
    return array.array('f', np.ascontiguousarray(values, dtype=np.float32).tobytes())


def laser_scan(types: MessageTypes, header, scan):
    """Return a sensor_msgs/LaserScan of :class:`~depth_node.scan.ScanData` (no intensities)."""
    return types.LaserScan(
        header=header, angle_min=float(scan.angle_min), angle_max=float(scan.angle_max),
        angle_increment=float(scan.angle_increment),
        time_increment=float(scan.time_increment), scan_time=float(scan.scan_time),
        range_min=float(scan.range_min), range_max=float(scan.range_max),
        ranges=types.float32(scan.ranges), intensities=types.float32(()))


def colored_image(types: MessageTypes, header, colored: np.ndarray):
    """Return the bgr8 sensor_msgs/Image of an ``H x W x 3`` uint8 colourised depth."""
    height, width = colored.shape[:2]
    return image(types, header, height, width, 'bgr8', width * 3, colored)


def compressed_image(types: MessageTypes, header, payload):
    """
    Return the sensor_msgs/CompressedImage of a ``CompressedPayload`` (format and data).

    The payloads come from :mod:`depth_node.compressed_depth`.

    ``payload.data`` (an ``array.array('B')``) is used without a copy where the
    message class allows (:mod:`depth_node.msgfill`), as for the raw images.
    """
    return filled_message(types.CompressedImage, payload.data, header=header,
                          format=str(payload.format))
