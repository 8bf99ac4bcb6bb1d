# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The node's parameters as one pure-Python table.

The rclpy node declares exactly these (with the ``ParameterDescriptor`` of
:func:`descriptor`); ``config/depth_node.yaml``, the launch file and README are
checked against this table by the tests, so code, YAML and documentation cannot
drift apart. Values are validated here, the same way whether they come from
YAML, the command line or ``set_parameters``: :func:`check_parameter` (type,
choices, range; a whole number is accepted for a double) and
:func:`check_parameters` (rules between parameters).
"""

from dataclasses import dataclass
import difflib
import math
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .errors import ParameterValueError

DEFAULT_MODEL = 'depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf'

DEVICE_CHOICES = ('auto', 'cpu', 'cuda', 'cuda:N')
PRECISION_CHOICES = ('auto', 'fp32', 'fp16', 'bf16')
INPUT_QOS_CHOICES = ('auto', 'reliable', 'best_effort')
DEPTH_ENCODING_CHOICES = ('32FC1', '16UC1')
INPUT_TRANSPORT_CHOICES = ('raw', 'compressed')
COMPRESSED_DEPTH_FORMAT_CHOICES = ('png', 'rvl')


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter: name, type, default, unit-bearing description."""

    name: str
    type: str  # 'string' | 'double' | 'integer' | 'bool' | 'string_array'
    default: Any
    description: str
    read_only: bool = False
    range: Optional[Tuple[float, float]] = None
    choices: Optional[Tuple[str, ...]] = None
    #: Can be set per camera as ``<camera>.<name>`` (falls back to this global value).
    per_camera: bool = False


PARAMETERS = (
    ParameterSpec(
        'cameras', 'string_array', (),
        'Names of the cameras served by this node with one model: [front, rear] subscribes '
        'front/image and front/camera_info (each camera likewise) and publishes front/depth/'
        'image, front/points, ...; [] = one camera on image and camera_info, outputs without '
        'a prefix. Per-camera values: <camera>.<parameter> (doc/several_cameras.md).',
        read_only=True),
    ParameterSpec(
        'max_batch', 'integer', 0,
        'Most frames (one per camera) that run through the network as one batch; 0 = every '
        'camera with a frame due; 1 = one frame at a time.',
        range=(0, 64)),
    ParameterSpec(
        'model', 'string', DEFAULT_MODEL,
        'Hugging Face model id or local checkpoint directory of a metric depth model '
        '(Depth Anything V2 metric, ZoeDepth, Depth Pro, Depth Anything 3 metric). Loaded '
        'once at start.',
        read_only=True),
    ParameterSpec(
        'device', 'string', 'auto',
        "Inference device: 'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'.",
        read_only=True, choices=DEVICE_CHOICES),
    ParameterSpec(
        'precision', 'string', 'auto',
        "Network precision: 'auto' (fp16 on CUDA, fp32 on "
        "CPU), 'fp32', 'fp16' or 'bf16'.",
        read_only=True, choices=PRECISION_CHOICES),
    ParameterSpec(
        'compile', 'bool', False,
        'Run the network through torch.compile (one-off warm-up cost at start, see '
        'doc/performance.md).',
        read_only=True),
    ParameterSpec(
        'flip_tta', 'bool', False,
        'Flip test-time augmentation (ZoeDepth only): average the prediction of the image '
        'and of its mirror image; doubles the network cost. Ignored by other families.',
        read_only=True),
    ParameterSpec(
        'autostart', 'bool', True,
        'Configure (load the weights) and activate at start. false = wait in the lifecycle '
        "'unconfigured' state for 'ros2 lifecycle set' (configure, activate, ...).",
        read_only=True),
    ParameterSpec(
        'rate', 'double', 10.0,
        'Maximum output rate in Hz; 0 = every frame as fast as the network allows. '
        'Can be changed at run time.',
        range=(0.0, 1000.0),
        per_camera=True),
    ParameterSpec(
        'input_qos', 'string', 'auto',
        "Reliability of the image and camera_info subscriptions: 'auto' (match the "
        "publisher), 'reliable' or 'best_effort'.",
        read_only=True, choices=INPUT_QOS_CHOICES,
        per_camera=True),
    ParameterSpec(
        'input_transport', 'string', 'raw',
        "'raw' subscribes sensor_msgs/Image on image; 'compressed' subscribes "
        'sensor_msgs/CompressedImage (JPEG or PNG) on image/compressed.',
        read_only=True, choices=INPUT_TRANSPORT_CHOICES,
        per_camera=True),
    ParameterSpec(
        'input_rectified', 'bool', True,
        'The image is already rectified (image_rect, as depth_image_proc assumes). false = '
        'undistort it with the camera_info (D, K, R, P) first and publish for the rectified '
        'camera (D = 0, K from P).',
        per_camera=True),
    ParameterSpec(
        'depth_encoding', 'string', '32FC1',
        "Encoding of depth/image: '32FC1' (metres, NaN invalid) or '16UC1' (millimetres, "
        '0 invalid), as REP 118.',
        choices=DEPTH_ENCODING_CHOICES),
    ParameterSpec(
        'focal_scaling', 'bool', True,
        "Rescale the prediction by the camera's focal length over the network's training "
        'focal length (both at the network input resolution).',
        per_camera=True),
    ParameterSpec(
        'reference_focal', 'double', 0.0,
        "Training focal length in pixels at the network input resolution; 0 = the "
        "checkpoint's own value (doc/models.md).",
        range=(0.0, 100000.0),
        per_camera=True),
    ParameterSpec(
        'mask_sky', 'bool', True,
        'Depth Anything 3 only: pixels its sky head marks are +inf in depth/image (too far, '
        'REP 117; 0 in 16UC1) and never points; false keeps the predicted depth there. '
        'Ignored by other families.'),
    ParameterSpec(
        'publish_points', 'bool', True,
        'Publish the sensor_msgs/PointCloud2 on points.',
        per_camera=True),
    ParameterSpec(
        'points.rgb', 'bool', True,
        'Add a packed rgb float32 field (PCL/RViz convention) to the cloud.'),
    ParameterSpec(
        'points.stride', 'integer', 1,
        'Keep every Nth pixel in u and v for the cloud (1 = full resolution).',
        range=(1, 64),
        per_camera=True),
    ParameterSpec(
        'points.organized', 'bool', True,
        'Organized cloud (height x width, NaN for invalid, is_dense false) like '
        'depth_image_proc; false gives a dense cloud of the valid points only.'),
    ParameterSpec(
        'min_depth', 'double', 0.0,
        'Points closer than this (metres) are left out of the cloud (NaN when organized).',
        range=(0.0, 1000.0),
        per_camera=True),
    ParameterSpec(
        'max_depth', 'double', 0.0,
        'Points farther than this (metres) are left out of the cloud; 0 = no limit.',
        range=(0.0, 1000.0),
        per_camera=True),
    ParameterSpec(
        'diagnostics_period', 'double', 1.0,
        'Seconds between diagnostic_msgs/DiagnosticArray messages on /diagnostics; '
        '0 = no diagnostics.',
        read_only=True, range=(0.0, 60.0)),
    # Navigation outputs (issue 10): decimation, edge filter, scan, colourised depth.
    ParameterSpec(
        'output_decimation', 'integer', 1,
        'Publish depth/image, depth/camera_info, points, scan and depth/colored at 1/N of '
        'the input size: every Nth pixel in u and v, intrinsics scaled as image_proc does '
        '(fx / N, cx / N). 1 = input size.',
        range=(1, 16),
        per_camera=True),
    ParameterSpec(
        'edge_filter.enabled', 'bool', True,
        'Remove flying pixels (depth blurred across object edges, hanging between the '
        'foreground and the background) from the cloud and the scan.'),
    ParameterSpec(
        'edge_filter.min_angle', 'double', 10.0,
        'Degrees: a pixel is a flying pixel when its segments to the pixels one span '
        '(ceil(f / 300) px) away on both sides in its row (or its column) both rise or both '
        'fall within this angle of the line of sight.',
        range=(1.0, 45.0)),
    ParameterSpec(
        'edge_filter.apply_to_depth', 'bool', False,
        'Also set flying pixels to NaN (0 in 16UC1) in depth/image; false publishes the '
        'depth as predicted.'),
    ParameterSpec(
        'publish_scan', 'bool', False,
        'Publish a sensor_msgs/LaserScan on scan (depthimage_to_laserscan semantics).',
        read_only=True),
    ParameterSpec(
        'scan.frame_id', 'string', '',
        "Frame of the scan (x forward, z up); '' = the image's optical frame with "
        "'_optical_frame' replaced by '_frame' (camera_color_optical_frame -> "
        'camera_color_frame).',
        per_camera=True),
    ParameterSpec(
        'scan.height', 'integer', 1,
        'Rows around the optical centre (cy) that feed the scan; each column keeps its '
        'nearest range.',
        range=(1, 4096),
        per_camera=True),
    ParameterSpec(
        'scan.range_min', 'double', 0.45,
        'Metres: scan ranges closer than this are not used (-inf where nothing else is '
        'seen in a direction).',
        range=(0.0, 1000.0)),
    ParameterSpec(
        'scan.range_max', 'double', 10.0,
        'Metres: scan ranges farther than this are not used (+inf where nothing nearer is '
        'seen in a direction).',
        range=(0.0, 1000.0)),
    ParameterSpec(
        'scan.scan_time', 'double', 0.0,
        'Seconds between scans, written into LaserScan.scan_time (depthimage_to_laserscan\'s '
        'scan_time); 0 = the period of rate (1 / rate), or 0 when rate is 0.',
        range=(0.0, 1000.0)),
    ParameterSpec(
        'colored.min_depth', 'double', 0.0,
        'Metres shown red in depth/colored; 0 = the 2nd percentile of each frame.',
        range=(0.0, 1000.0)),
    ParameterSpec(
        'colored.max_depth', 'double', 0.0,
        'Metres shown blue in depth/colored; 0 = the 98th percentile of each frame.',
        range=(0.0, 1000.0)),
    # Compressed outputs (issue 18), named as image_transport names its transports'
    # parameters (<base topic>.<transport>.<name>, compressed_depth_image_transport's names).
    ParameterSpec(
        'depth.image.compressedDepth.format', 'string', 'png',
        "Stream of depth/image/compressedDepth (published only while subscribed): 'png' "
        "(decoded by compressed_depth_image_transport of every ROS 2 release) or 'rvl' "
        '(Jazzy and later).',
        choices=COMPRESSED_DEPTH_FORMAT_CHOICES),
    ParameterSpec(
        'depth.image.compressedDepth.png_level', 'integer', 1,
        'zlib level of the PNG: 0 = stored uncompressed (fastest, raw size); 1..9 compress '
        "(zlib's run-length strategy: levels above 1 change little).",
        range=(0, 9)),
    ParameterSpec(
        'depth.image.compressedDepth.depth_max', 'double', 100.0,
        'Metres: depth at or beyond this is NaN after the round trip (16UC1: 0), as '
        "compressed_depth_image_transport's depth_max.",
        range=(1.0, 100.0)),
    ParameterSpec(
        'depth.image.compressedDepth.depth_quantization', 'double', 100.0,
        'z0 of the 32FC1 inverse-depth quantisation (A = z0 (z0 + 1)): the step at depth d is '
        'd^2 / A metres and the nearest depth carried about A / 65535 m; smaller = smaller '
        'messages, coarser far depth.',
        range=(1.0, 150.0)),
    ParameterSpec(
        'depth.colored.compressed.jpeg_quality', 'integer', 80,
        'JPEG quality (1..100) of depth/colored/compressed (published only while subscribed).',
        range=(1, 100)),
    # Anchoring the metric scale to a sparse range sensor (issue 21, depth_node.anchor).
    ParameterSpec(
        'anchor.depth', 'bool', False,
        'Subscribe anchor/depth (sensor_msgs/Image, 32FC1 metres or 16UC1 millimetres, 0 or '
        'NaN = no measurement, registered to this image at any resolution of its field of '
        "view) and fit the depth's scale to it each frame.",
        read_only=True, per_camera=True),
    ParameterSpec(
        'anchor.points', 'bool', False,
        'Subscribe anchor/points (sensor_msgs/PointCloud2 with x, y, z in the image\'s '
        'optical frame, or in any frame tf2 can transform) and fit the depth\'s scale to it '
        'each frame.',
        read_only=True, per_camera=True),
    ParameterSpec(
        'anchor.stamp_tolerance', 'double', 0.1,
        'Seconds: an anchor is paired with the image of the nearest stamp within this.',
        range=(0.0, 10.0),
        per_camera=True),
    ParameterSpec(
        'anchor.hold_time', 'double', 1.0,
        'Seconds of image stamps the last good correction is kept while anchors are missing, '
        "stale, too sparse or refused; then the network's own scale is used.",
        range=(0.0, 3600.0),
        per_camera=True),
    ParameterSpec(
        'anchor.min_inliers', 'integer', 8,
        'Fewest anchors that must agree with a fit (within a factor of 2) for it to be used.',
        range=(3, 4096),
        per_camera=True),
    ParameterSpec(
        'anchor.max_correction', 'double', 8.0,
        'Largest factor a fit may change the depth by, either way; an anchor that disagrees '
        'more with the prediction (units, another camera) is refused.',
        range=(1.1, 1000.0),
        per_camera=True),
    # Temporal stabilisation of the scale (issue 22): depth_node/temporal.py.
    ParameterSpec(
        'temporal.enabled', 'bool', False,
        "Stabilise the global scale over time: each frame is put on the previous output's "
        'scale on the pixels that did not change, and that ratio is low-passed. Assumes the '
        'camera moves little between frames compared with temporal.gate (doc/anchoring.md, '
        'Temporal stabilisation).',
        per_camera=True),
    ParameterSpec(
        'temporal.gate', 'double', 0.2,
        "Relative difference: a sampled pixel whose depth ratio to the previous output is "
        "farther than this from the frame's median ratio has changed and is not used; also "
        'the gate of the per-pixel filter.',
        range=(0.01, 1.0), per_camera=True),
    ParameterSpec(
        'temporal.step', 'double', 0.1,
        "Relative change of scale followed one frame late: the network's own scale moved by "
        'more than this and the next frame stays nearer the new level than the old one (a '
        'one-frame spike comes back): the filter starts again from the first of the two.',
        range=(0.01, 1.0), per_camera=True),
    ParameterSpec(
        'temporal.time_constant', 'double', 0.3,
        "Seconds: the output follows the network's own (or the anchored) scale with this "
        'time constant (image stamps); 0 = no smoothing.',
        range=(0.0, 60.0), per_camera=True),
    ParameterSpec(
        'temporal.min_fraction', 'double', 0.5,
        'Fraction of the valid sampled pixels that must pass the gate; fewer = a scene '
        "change: the frame keeps the network's own scale and the filter starts again.",
        range=(0.0, 1.0), per_camera=True),
    ParameterSpec(
        'temporal.max_gap', 'double', 0.5,
        'Seconds between image stamps above which the filter starts again (stamps that '
        'repeat or go backwards always do); 0 = never on a gap.',
        range=(0.0, 3600.0), per_camera=True),
    ParameterSpec(
        'temporal.pixel_weight', 'double', 0.7,
        'Per-pixel filter: where the corrected depth is within temporal.gate of the '
        'previous output it moves this fraction of the way to the new value; 1 = off.',
        range=(0.05, 1.0), per_camera=True),
)

PARAMETERS_BY_NAME = {p.name: p for p in PARAMETERS}

#: Parameters a camera may set for itself as ``<camera>.<name>``.
PER_CAMERA = tuple(p.name for p in PARAMETERS if p.per_camera)

#: A camera name: a ROS name token (it becomes a topic namespace and a parameter prefix).
_CAMERA_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')
#: First components of the node's own dotted parameter names, which a camera cannot take.
RESERVED_CAMERA_NAMES = frozenset(
    {p.name.split('.')[0] for p in PARAMETERS if '.' in p.name}
    | {'qos_overrides', 'use_sim_time'})


_TYPE_NAMES = {'string': 'a string', 'double': 'a number', 'integer': 'an integer',
               'bool': 'true or false', 'string_array': 'a list of names'}


def descriptor(spec: ParameterSpec, name: Optional[str] = None):
    """
    Return the rcl_interfaces ParameterDescriptor of one table entry.

    Typing is dynamic: rclpy would refuse a whole number for a double (``-p
    rate:=5``) with a type error before any callback runs, so types are checked
    by :func:`check_parameter` instead, with a message that says what to pass.
    Ranges, choices and read-only are declared for ``ros2 param describe``;
    rclpy enforces the ranges and read-only itself. ``name``: a camera's own
    parameter of this spec (``front.rate``), described as such.
    """
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    description = spec.description
    if name is not None and name != spec.name:
        camera = name[:-len(spec.name) - 1]
        description = (f"Camera {camera}'s own {spec.name}; unset = the global {spec.name}. "
                       + description)
    desc = ParameterDescriptor(name=name or spec.name, description=description,
                               read_only=spec.read_only, dynamic_typing=True)
    if spec.choices:
        desc.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    elif spec.type != 'string':
        desc.additional_constraints = f'{_TYPE_NAMES[spec.type]}'
    if spec.range is not None and spec.type == 'double':
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
    if spec.range is not None and spec.type == 'integer':
        desc.integer_range = [IntegerRange(
            from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    return desc


def check_choice(name: str, value: str, choices: Tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` (``cuda:N`` matches ``cuda:<int>``)."""
    if value in choices:
        return value
    if 'cuda:N' in choices and value.startswith('cuda:') and value[5:].isdigit():
        return value
    raise ParameterValueError(
        f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")


def check_parameter(name: str, value: Any) -> Any:
    """
    Validate one parameter value against the table; return it (a double as float).

    Raises ParameterValueError with a message that names the parameter, what it
    takes and what was given. Unknown names pass unchanged (rclpy's own
    ``qos_overrides.*``, ``use_sim_time``).
    """
    spec = PARAMETERS_BY_NAME.get(name)
    if spec is None:
        return value
    wanted = _TYPE_NAMES[spec.type]
    if spec.type == 'string_array':
        return check_camera_names(value)
    if spec.type == 'bool':
        if not isinstance(value, bool):
            raise ParameterValueError(f'{name} must be {wanted}; got {value!r}')
        return value
    if spec.type == 'string':
        if not isinstance(value, str):
            raise ParameterValueError(f'{name} must be {wanted}; got {value!r}')
        if spec.choices is not None:
            return check_choice(name, value, spec.choices)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterValueError(f'{name} must be {wanted}; got {value!r}')
    if spec.type == 'integer' and not isinstance(value, int):
        raise ParameterValueError(f'{name} must be {wanted} (a whole number); got {value!r}')
    if not math.isfinite(float(value)):
        raise ParameterValueError(f'{name} must be finite; got {value!r}')
    if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
        raise ParameterValueError(
            f'{name} must be within [{spec.range[0]:g}, {spec.range[1]:g}]; got {value!r}')
    return float(value) if spec.type == 'double' else int(value)


def check_parameters(values: dict) -> None:
    """Raise ParameterValueError where parameters contradict each other (``values``: all)."""
    low, high = values.get('min_depth', 0.0), values.get('max_depth', 0.0)
    if high > 0.0 and low > high:
        raise ParameterValueError(
            f'min_depth ({low:g} m) is larger than max_depth ({high:g} m): the cloud would be '
            'empty; lower min_depth or raise max_depth (0 = no limit)')
    low, high = values.get('scan.range_min', 0.0), values.get('scan.range_max', 1.0)
    if not low < high:
        raise ParameterValueError(
            f'scan.range_min ({low:g} m) must be smaller than scan.range_max ({high:g} m)')
    low, high = values.get('colored.min_depth', 0.0), values.get('colored.max_depth', 0.0)
    if low > 0.0 and high > 0.0 and not low < high:
        raise ParameterValueError(
            f'colored.min_depth ({low:g} m) must be smaller than colored.max_depth '
            f'({high:g} m) (0 = automatic)')


def check_camera_names(value: Any) -> Tuple[str, ...]:
    """
    Return the camera names of the ``cameras`` parameter (None or an empty list: none).

    Each is a ROS name token (letters, digits, underscores; a letter first),
    unique, and not a namespace of the node's own parameters (``scan``, ...).
    """
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ParameterValueError(
            f'cameras must be a list of names, e.g. [front, rear]; got {value!r}')
    names = tuple(value)
    if not names:
        return ()
    for name in names:
        if not isinstance(name, str) or not _CAMERA_NAME.match(name):
            raise ParameterValueError(
                f'cameras: {name!r} is not a camera name (letters, digits and underscores, '
                'starting with a letter; it becomes the namespace of its topics)')
        if name in RESERVED_CAMERA_NAMES:
            raise ParameterValueError(
                f"cameras: {name!r} is the name of a group of the node's own parameters "
                f"({name}.*); pick another name")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ParameterValueError(f"cameras: {', '.join(duplicates)} listed more than once")
    return names


def camera_parameter(camera: str, name: str) -> str:
    """Return the name of camera ``camera``'s own value of parameter ``name``."""
    return f'{camera}.{name}'


def split_camera_parameter(name: str, cameras: Iterable[str]) -> Optional[Tuple[str, str]]:
    """Return ``(camera, parameter)`` of a per-camera parameter name, or None."""
    camera, _, base = name.partition('.')
    if base in PER_CAMERA and camera in tuple(cameras):
        return camera, base
    return None


def camera_config(values: Dict[str, Any], own: Dict[str, Any]) -> Dict[str, Any]:
    """Return one camera's parameter values: the global ``values`` with its ``own`` on top."""
    out = dict(values)
    out.update({name: value for name, value in own.items() if value is not None})
    return out


def unknown_parameters(names: Iterable[str], known: Iterable[str]) -> List[Tuple[str, str]]:
    """
    Return ``(name, closest known name or '')`` for each name the node does not declare.

    rclpy's own parameters (``use_sim_time``, ``qos_overrides.*``, ...) are known.
    """
    known = sorted(set(known))
    out = []
    for name in names:
        if name in known or name.startswith('qos_overrides.') or name in ROS_OWN_PARAMETERS:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        out.append((name, close[0] if close else ''))
    return out


#: Parameters rclpy itself declares on a node (Humble .. Kilted).
ROS_OWN_PARAMETERS = frozenset({'use_sim_time', 'start_type_description_service'})


def scan_period(values: dict) -> float:
    """
    Return LaserScan.scan_time (seconds) of the parameter values (``values``: name -> value).

    ``scan.scan_time`` when set (> 0), else the frame period at the configured
    ``rate`` (1 / rate), else 0 (rate 0: every frame, no fixed period).
    """
    given = float(values.get('scan.scan_time', 0.0))
    if given > 0.0:
        return given
    rate = float(values.get('rate', 0.0))
    return 1.0 / rate if rate > 0.0 else 0.0
