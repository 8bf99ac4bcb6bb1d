# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Files in and out for the offline tools: intrinsics files, images, videos, rosbag2, datasets.

No rclpy: camera_info is any object with the attributes of
``sensor_msgs/msg/CameraInfo`` (a :class:`types.SimpleNamespace` built here, or
a message deserialised by ``rosbags``), so :func:`depth_node.geometry.
intrinsics_from_camera_info` reads all of them the same way. Bags are read and
written with the pure-Python ``rosbags`` library (sqlite3 and MCAP storage, CDR
serialisation); ROS need not be installed.

Errors in the user's input raise :class:`OfflineInputError` (or the core's
typed errors), with a message that says what to pass instead.
"""

from dataclasses import dataclass, field
import json
from pathlib import Path
import re
import sys
from types import SimpleNamespace
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image as PILImage
import yaml

from .compressed import decode_compressed
from .conversions import depth_to_image_fields, image_to_array, unpack_rgb
from .errors import BadCameraInfoError, DepthNodeError
from .geometry import CloudData, Intrinsics
from .params import DEFAULT_MODEL

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv')
BAG_EXTENSIONS = ('.db3', '.mcap')
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
#: rosbag2 metadata version written (Jazzy and later read it; see README for Humble).
BAG_VERSION = 9


class OfflineInputError(DepthNodeError, ValueError):
    """An input file, folder or bag that the offline tools cannot use."""


def add_model_arguments(group, help_reference_focal: str) -> None:
    """Add the node's model options (--model, --device, --precision, focal) to ``group``."""
    group.add_argument('--model', default=DEFAULT_MODEL,
                       help='Hugging Face id or local checkpoint directory (default: %(default)s)')
    group.add_argument('--device', default='auto', help='auto | cpu | cuda | cuda:N')
    group.add_argument('--precision', default='auto', help='auto | fp32 | fp16 | bf16')
    group.add_argument('--reference-focal', type=float, default=0.0, help=help_reference_focal)
    group.add_argument('--no-focal-scaling', action='store_true',
                       help='do not rescale depth by camera focal / training focal')


def cli_main(prog: str, parser, run: Callable, argv: Optional[Sequence[str]]) -> int:
    """Parse ``argv`` and call ``run(args)``; expected errors end in one line and exit 2."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except DepthNodeError as exc:
        print(f'{prog}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------- camera info

def camera_info(width: int, height: int, k: Sequence[float], p: Optional[Sequence[float]] = None,
                d: Sequence[float] = (), r: Optional[Sequence[float]] = None,
                distortion_model: str = 'plumb_bob') -> SimpleNamespace:
    """Return a CameraInfo-like namespace (``P`` from ``K`` when not given)."""
    k = [float(v) for v in k]
    if p is None:
        p = [k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0]
    return SimpleNamespace(
        width=int(width), height=int(height), distortion_model=str(distortion_model),
        d=[float(v) for v in d], k=k,
        r=[float(v) for v in (r if r is not None else (1, 0, 0, 0, 1, 0, 0, 0, 1))],
        p=[float(v) for v in p], binning_x=0, binning_y=0,
        roi=SimpleNamespace(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def camera_info_from_intrinsics(intr: Intrinsics) -> SimpleNamespace:
    """Return a CameraInfo-like namespace of a distortion-free pinhole camera."""
    return camera_info(intr.width, intr.height, intr.k(), intr.p(), d=[0.0] * 5)


def _matrix(doc: dict, key: str, size: int, path) -> Optional[List[float]]:
    entry = doc.get(key)
    if entry is None:
        return None
    data = entry.get('data') if isinstance(entry, dict) else entry
    if not isinstance(data, (list, tuple)) or (size and len(data) != size):
        raise BadCameraInfoError(f'{path}: {key} must hold {size} numbers, got {data!r}')
    return [float(v) for v in data]


def read_camera_info_yaml(path) -> SimpleNamespace:
    """
    Read a camera_info YAML in the ROS ``camera_calibration`` format.

    Keys: ``image_width``, ``image_height``, ``camera_matrix``,
    ``distortion_model``, ``distortion_coefficients``, ``rectification_matrix``,
    ``projection_matrix`` (each matrix a ``{rows, cols, data}`` mapping, as
    ``camera_calibration`` and ``camera_info_manager`` write them).
    """
    try:
        with open(path, 'r', encoding='utf-8') as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise BadCameraInfoError(f'cannot read camera_info YAML {path}: {exc}') from None
    if not isinstance(doc, dict) or 'camera_matrix' not in doc:
        raise BadCameraInfoError(
            f'{path} is not a camera_info YAML (ROS camera_calibration format: image_width, '
            'image_height, camera_matrix, ...)')
    try:
        width, height = int(doc['image_width']), int(doc['image_height'])
    except (KeyError, TypeError, ValueError):
        raise BadCameraInfoError(f'{path}: image_width and image_height are required') from None
    k = _matrix(doc, 'camera_matrix', 9, path)
    d = _matrix(doc, 'distortion_coefficients', 0, path) or []
    return camera_info(width, height, k, _matrix(doc, 'projection_matrix', 12, path), d,
                       _matrix(doc, 'rectification_matrix', 9, path),
                       doc.get('distortion_model') or 'plumb_bob')


def read_intrinsics_file(path) -> SimpleNamespace:
    """Read intrinsics from a camera_info YAML or an Open3D ``PinholeCameraIntrinsic`` JSON."""
    path = Path(path)
    if path.suffix.lower() != '.json':
        return read_camera_info_yaml(path)
    try:
        doc = json.loads(path.read_text(encoding='utf-8'))
        m = [float(v) for v in doc['intrinsic_matrix']]  # column-major 3x3
        return camera_info(int(doc['width']), int(doc['height']),
                           [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise BadCameraInfoError(
            f'{path} is not an Open3D intrinsics JSON (width, height, intrinsic_matrix): '
            f'{exc}') from None


@dataclass
class Camera:
    """
    Intrinsics for images whose size is only known once read.

    Either a full camera_info (``info``) or ``fx`` (``fy`` defaults to ``fx``,
    ``cx``/``cy`` to the image centre); flags override the file's K and P.
    """

    info: Optional[object] = None
    fx: Optional[float] = None
    fy: Optional[float] = None
    cx: Optional[float] = None
    cy: Optional[float] = None

    def is_set(self) -> bool:
        """Whether any intrinsics were given."""
        return self.info is not None or self.fx is not None

    def for_size(self, width: int, height: int):
        """Return the camera_info of a ``width`` x ``height`` image."""
        if self.info is not None and self.fx is None and self.cx is None:
            return self.info
        if self.info is None and self.fx is None:
            raise BadCameraInfoError(
                'no camera intrinsics: pass --camera-info <camera_info.yaml> or --fx '
                '(and optionally --fy --cx --cy)')
        base = self.info
        if base is not None:
            width, height = int(base.width), int(base.height)
            fx0, fy0, cx0, cy0 = base.p[0], base.p[5], base.p[2], base.p[6]
        else:
            fx0 = fy0 = None
            cx0, cy0 = (width - 1) / 2.0, (height - 1) / 2.0
        fx = float(self.fx if self.fx is not None else fx0)
        fy = float(self.fy if self.fy is not None else (fy0 if self.fx is None else fx))
        cx = float(self.cx if self.cx is not None else cx0)
        cy = float(self.cy if self.cy is not None else cy0)
        return camera_info_from_intrinsics(Intrinsics(width, height, fx, fy, cx, cy))


# --------------------------------------------------------------------------- images, depth

def natural_key(path) -> list:
    """Sort key that orders ``frame_2`` before ``frame_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r'(\d+)', str(path))]


def is_color_image(path) -> bool:
    """Whether ``path`` is an 8-bit colour or grey image (not a 16-bit/float depth map)."""
    try:
        with PILImage.open(path) as im:
            return im.mode in ('RGB', 'RGBA', 'L', 'P', 'LA', 'CMYK', 'YCbCr', '1')
    except (OSError, ValueError):
        return False


def read_rgb(path) -> np.ndarray:
    """Read an image file as ``H x W x 3`` uint8 RGB."""
    try:
        with PILImage.open(path) as im:
            return np.asarray(im.convert('RGB'))
    except (OSError, ValueError) as exc:
        raise OfflineInputError(f'cannot read image {path}: {exc}') from None


def read_depth(path, depth_scale: float = 1000.0) -> np.ndarray:
    """
    Read a ground-truth or predicted depth map as float32 metres, NaN where invalid.

    ``.npy``: metres (float). Images (16-bit PNG): integer units, ``depth_scale``
    per metre (1000 = millimetres, NYU/ICL-NUIM/our output; 256 = KITTI; 5000 =
    TUM); 0 is invalid.
    """
    path = Path(path)
    if path.suffix.lower() == '.npy':
        depth = np.load(path).astype(np.float32)
        if depth.ndim == 3 and depth.shape[-1] == 1:
            depth = depth[..., 0]
        if depth.ndim != 2:
            raise OfflineInputError(f'{path}: depth must be H x W, got shape {depth.shape}')
        depth[~(depth > 0)] = np.nan
        return depth
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise OfflineInputError(f'cannot read depth image {path}')
    if raw.ndim != 2:
        raise OfflineInputError(
            f'{path}: a depth image must have one channel (16-bit PNG), got shape {raw.shape}')
    depth = raw.astype(np.float32) / float(depth_scale)
    depth[raw == 0] = np.nan
    return depth


def depth_png_array(depth: np.ndarray) -> np.ndarray:
    """Encode metres as the node's 16UC1 payload (uint16 mm, 0 invalid) as an ``H x W`` array."""
    _, _, data = depth_to_image_fields(depth, '16UC1')
    return np.frombuffer(data, dtype='<u2').reshape(np.asarray(depth).shape)


def cloud_points(cloud: CloudData) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Return ``(xyz N x 3 float32, rgb N x 3 uint8 or None)`` of a cloud payload."""
    nf = cloud.point_step // 4
    values = np.frombuffer(cloud.data, dtype='<f4').reshape(-1, nf)
    names = [f[0] for f in cloud.fields]
    rgb = unpack_rgb(values[:, names.index('rgb')]) if 'rgb' in names else None
    return values[:, :3], rgb


# --------------------------------------------------------------------------- frames

@dataclass
class Frame:
    """One input image with its camera, decoded lazily."""

    index: int  # position among the input's images (0-based), skipped ones counted
    name: str  # file-name stem for outputs
    stamp_ns: int
    frame_id: str
    decode: Callable[[], Tuple[np.ndarray, Sequence[int]]]
    camera: Callable[[int, int], object]  # (width, height) -> camera_info
    from_bag: bool = False
    _image: Optional[Tuple[np.ndarray, Sequence[int]]] = field(default=None, repr=False)

    def image(self) -> Tuple[np.ndarray, Sequence[int]]:
        """Return ``(pixels H x W x C uint8, rgb_order)``, decoding once."""
        if self._image is None:
            self._image = self.decode()
        return self._image

    def camera_info(self):
        """Return the camera_info of this frame."""
        pixels, _ = self.image()
        return self.camera(pixels.shape[1], pixels.shape[0])


@dataclass
class RawMessage:
    """One serialised message of an input bag, copied unchanged to an output bag."""

    connection: object
    timestamp: int
    data: bytes


def _selected(count: int, every: int, limit: int) -> int:
    n = (count + every - 1) // every if count > 0 else 0
    return min(n, limit) if limit > 0 else n


class ImageFilesSource:
    """Image files (one, or a folder's, in natural order) as frames at a nominal rate."""

    kind = 'images'

    def __init__(self, paths: Sequence[Path], camera: Camera, *, every: int = 1, limit: int = 0,
                 fps: float = 10.0, start_ns: int = 0, frame_id: str = 'camera_optical_frame'):
        self.paths = list(paths)
        self.camera = camera
        self.every, self.limit = max(int(every), 1), max(int(limit), 0)
        self.period_ns = int(round(1e9 / fps)) if fps > 0 else 0
        self.start_ns = int(start_ns)
        self.frame_id = frame_id

    def __len__(self) -> int:
        """Return the number of frames this source yields."""
        return _selected(len(self.paths), self.every, self.limit)

    def __iter__(self) -> Iterator[Tuple[Optional[RawMessage], Frame]]:
        """Yield ``(None, frame)`` for each selected image."""
        produced = 0
        for index, path in enumerate(self.paths):
            if index % self.every:
                continue
            if self.limit and produced >= self.limit:
                return
            produced += 1
            yield None, Frame(
                index, path.stem, self.start_ns + index * self.period_ns, self.frame_id,
                lambda p=path: (read_rgb(p), (0, 1, 2)), self.camera.for_size)

    def close(self) -> None:
        """Nothing to release."""


class VideoSource:
    """A video file read with OpenCV; stamps from the container's timestamps."""

    kind = 'video'

    def __init__(self, path: Path, camera: Camera, *, every: int = 1, limit: int = 0,
                 start_ns: int = 0, frame_id: str = 'camera_optical_frame'):
        self.path = Path(path)
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise OfflineInputError(
                f'cannot open video {path} with OpenCV {cv2.__version__} (codec missing?); '
                'convert it, e.g. ffmpeg -i in.mp4 -c:v mjpeg out.avi, or extract images')
        self.camera = camera
        self.every, self.limit = max(int(every), 1), max(int(limit), 0)
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.start_ns = int(start_ns)
        self.frame_id = frame_id

    def __len__(self) -> int:
        """Return the number of frames this source yields (from the container's frame count)."""
        return _selected(self.count, self.every, self.limit)

    def __iter__(self) -> Iterator[Tuple[Optional[RawMessage], Frame]]:
        """Yield ``(None, frame)`` for each selected video frame."""
        produced = 0
        index = -1
        while not (self.limit and produced >= self.limit):
            index += 1
            if index % self.every:
                if not self.cap.grab():
                    return
                continue
            ok, bgr = self.cap.read()
            if not ok:
                return
            msec = float(self.cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
            if msec <= 0.0 and index > 0 and self.fps > 0:
                msec = 1000.0 * index / self.fps
            produced += 1
            image = (bgr, (2, 1, 0))
            yield None, Frame(index, f'frame_{index:06d}', self.start_ns + int(msec * 1e6),
                              self.frame_id, lambda im=image: im, self.camera.for_size)

    def close(self) -> None:
        """Release the capture."""
        self.cap.release()


# --------------------------------------------------------------------------- rosbag2

def require_rosbags(purpose: str) -> None:
    """Raise OfflineInputError, in one line, when the pure-Python ``rosbags`` is missing."""
    try:
        import rosbags.rosbag2  # noqa: F401
        import rosbags.typesys  # noqa: F401
    except ImportError as exc:
        raise OfflineInputError(
            f'{purpose} needs the Python package rosbags ({exc}): pip install rosbags, or in a '
            'ROS 2 workspace rosdep install (key python3-rosbags-pip)') from None


def bag_typestore():
    """Return the rosbags typestore of the newest ROS 2 distribution this rosbags knows."""
    from rosbags.typesys import get_typestore, Stores
    for name in ('ROS2_KILTED', 'ROS2_JAZZY', 'ROS2_HUMBLE'):
        store = getattr(Stores, name, None)
        if store is not None:
            return get_typestore(store)
    return get_typestore(Stores.LATEST)


def is_bag(path) -> bool:
    """Whether ``path`` is a rosbag2 folder (metadata.yaml) or a .db3/.mcap file."""
    path = Path(path)
    if path.is_dir():
        return (path / 'metadata.yaml').is_file()
    return path.suffix.lower() in BAG_EXTENSIONS


def bag_folder(path) -> Path:
    """Return the rosbag2 folder of ``path`` (the folder itself or a storage file's parent)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not (folder / 'metadata.yaml').is_file():
        raise OfflineInputError(
            f'{folder} has no metadata.yaml; pass the rosbag2 folder (or recreate its metadata '
            'with `ros2 bag reindex`)')
    return folder


def _namespace(topic: str) -> str:
    head = topic.rstrip('/').rsplit('/', 1)[0]
    return head if head else ''


class BagSource:
    """
    The image topic of a rosbag2 (sqlite3 or MCAP), with camera_info paired by stamp.

    Iterating yields every message of the bag as ``(RawMessage, frame)``, where
    ``frame`` is set for the selected images of the image topic (so an output bag
    can copy the input unchanged). camera_info is paired by header stamp, else the
    latest one before the image (by log time), else the first one in the bag.
    Image and camera_info messages are deserialised with :func:`bag_typestore`
    (their CDR layout is the same in every ROS 2 distribution).
    """

    kind = 'bag'

    def __init__(self, path, *, image_topic: Optional[str] = None,
                 info_topic: Optional[str] = None, every: int = 1, limit: int = 0):
        require_rosbags('reading a rosbag2')
        from rosbags.rosbag2 import Reader
        self.path = bag_folder(path)
        self.typestore = bag_typestore()
        try:
            self.reader = Reader(self.path)
            self.reader.open()
        except Exception as exc:  # noqa: B902 - rosbags raises several unrelated types
            raise OfflineInputError(f'cannot open rosbag2 {self.path}: {exc}') from None
        self.every, self.limit = max(int(every), 1), max(int(limit), 0)
        self.connections = list(self.reader.connections)
        self.image_topic = self._pick_image_topic(image_topic)
        self.info_topic = self._pick_info_topic(info_topic)
        self.image_count = sum(c.msgcount for c in self.connections
                               if c.topic == self.image_topic)
        self._infos_by_stamp: Dict[Tuple[int, int], object] = {}
        self._infos_by_time: List[Tuple[int, object]] = []
        self._load_infos()

    def _topics(self, msgtypes) -> List[str]:
        return sorted({c.topic for c in self.connections if c.msgtype in msgtypes})

    def _pick_image_topic(self, topic: Optional[str]) -> str:
        images = self._topics(IMAGE_TYPES)
        if topic:
            if topic not in images:
                raise OfflineInputError(
                    f"{self.path} has no image topic '{topic}'; image topics: "
                    f"{', '.join(images) or 'none'}")
            return topic
        colour = [t for t in images if 'depth' not in t.lower()]
        if len(colour) == 1:
            return colour[0]
        raise OfflineInputError(
            f"{self.path}: {'no' if not colour else 'several'} colour image topics "
            f"({', '.join(images) or 'none'}); pass --image-topic")

    def _pick_info_topic(self, topic: Optional[str]) -> str:
        infos = self._topics((CAMERA_INFO_TYPE,))
        if topic:
            if topic not in infos:
                raise OfflineInputError(
                    f"{self.path} has no camera_info topic '{topic}'; camera_info topics: "
                    f"{', '.join(infos) or 'none'}")
            return topic
        sibling = _namespace(self.image_topic) + '/camera_info'
        if sibling in infos:
            return sibling
        if len(infos) == 1:
            return infos[0]
        raise OfflineInputError(
            f"{self.path}: cannot tell which camera_info belongs to {self.image_topic} "
            f"({', '.join(infos) or 'none in the bag'}); pass --camera-info-topic")

    def _load_infos(self) -> None:
        conns = [c for c in self.connections if c.topic == self.info_topic]
        for conn, timestamp, raw in self.reader.messages(connections=conns):
            msg = self.typestore.deserialize_cdr(raw, conn.msgtype)
            stamp = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
            self._infos_by_stamp.setdefault(stamp, msg)
            self._infos_by_time.append((timestamp, msg))
        self._infos_by_time.sort(key=lambda item: item[0])
        if not self._infos_by_time:
            raise OfflineInputError(f'{self.path}: no messages on {self.info_topic}')

    def _info_for(self, stamp: Tuple[int, int], timestamp: int):
        info = self._infos_by_stamp.get(stamp)
        if info is not None:
            return info
        times = [t for t, _ in self._infos_by_time]
        k = int(np.searchsorted(times, timestamp, side='right')) - 1
        return self._infos_by_time[max(k, 0)][1]

    def __len__(self) -> int:
        """Return the number of frames this source yields."""
        return _selected(self.image_count, self.every, self.limit)

    def __iter__(self) -> Iterator[Tuple[RawMessage, Optional[Frame]]]:
        """Yield every message in log-time order, with a Frame for each selected image."""
        index = -1
        produced = 0
        for conn, timestamp, raw in self.reader.messages():
            frame = None
            if conn.topic == self.image_topic:
                index += 1
                if self.limit and produced >= self.limit:
                    return
                if index % self.every == 0:
                    produced += 1
                    msg = self.typestore.deserialize_cdr(raw, conn.msgtype)
                    stamp = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
                    info = self._info_for(stamp, timestamp)
                    frame = Frame(index, f'frame_{index:06d}', stamp[0] * 10**9 + stamp[1],
                                  str(msg.header.frame_id),
                                  lambda m=msg, t=conn.msgtype: decode_image_message(m, t),
                                  lambda w, h, i=info: i, from_bag=True)
            yield RawMessage(conn, timestamp, raw), frame

    def close(self) -> None:
        """Close the bag."""
        self.reader.close()


def decode_image_message(msg, msgtype: str = 'sensor_msgs/msg/Image'):
    """Return ``(pixels, rgb_order)`` of an Image or CompressedImage message."""
    if msgtype == 'sensor_msgs/msg/CompressedImage':
        pixels, order, _ = decode_compressed(msg)
        return pixels, order
    return image_to_array(msg)


def _stamp(typestore, stamp_ns: int):
    time_type = typestore.types['builtin_interfaces/msg/Time']
    return time_type(sec=int(stamp_ns // 10**9), nanosec=int(stamp_ns % 10**9))


def header_message(typestore, stamp_ns: int, frame_id: str):
    """Return a std_msgs/Header of ``typestore``."""
    header_type = typestore.types['std_msgs/msg/Header']
    return header_type(stamp=_stamp(typestore, stamp_ns), frame_id=str(frame_id))


def image_message(typestore, header, height: int, width: int, encoding: str, step: int,
                  data) -> object:
    """Return a sensor_msgs/Image of ``typestore`` (``data``: any byte buffer)."""
    image_type = typestore.types['sensor_msgs/msg/Image']
    return image_type(header=header, height=int(height), width=int(width), encoding=encoding,
                      is_bigendian=0, step=int(step),
                      data=np.frombuffer(data, dtype=np.uint8).copy())


def camera_info_message(typestore, header, info) -> object:
    """Return a sensor_msgs/CameraInfo of ``typestore`` with ``info``'s calibration."""
    types = typestore.types
    roi = getattr(info, 'roi', None)
    return types['sensor_msgs/msg/CameraInfo'](
        header=header, height=int(info.height), width=int(info.width),
        distortion_model=str(info.distortion_model),
        d=np.asarray(info.d, dtype=np.float64), k=np.asarray(info.k, dtype=np.float64),
        r=np.asarray(info.r, dtype=np.float64), p=np.asarray(info.p, dtype=np.float64),
        binning_x=int(getattr(info, 'binning_x', 0)), binning_y=int(getattr(info, 'binning_y', 0)),
        roi=types['sensor_msgs/msg/RegionOfInterest'](
            x_offset=int(getattr(roi, 'x_offset', 0)), y_offset=int(getattr(roi, 'y_offset', 0)),
            height=int(getattr(roi, 'height', 0)), width=int(getattr(roi, 'width', 0)),
            do_rectify=bool(getattr(roi, 'do_rectify', False))))


def cloud_message(typestore, header, cloud: CloudData) -> object:
    """Return a sensor_msgs/PointCloud2 of ``typestore`` carrying ``cloud``'s payload."""
    types = typestore.types
    field_type = types['sensor_msgs/msg/PointField']
    return types['sensor_msgs/msg/PointCloud2'](
        header=header, height=int(cloud.height), width=int(cloud.width),
        fields=[field_type(name=n, offset=int(o), datatype=int(t), count=int(c))
                for n, o, t, c in cloud.fields],
        is_bigendian=False, point_step=int(cloud.point_step), row_step=int(cloud.row_step),
        data=np.frombuffer(cloud.data, dtype=np.uint8).copy(), is_dense=bool(cloud.is_dense))


class BagWriter:
    """A new rosbag2 (sqlite3 or MCAP) that copies input connections and adds new topics."""

    def __init__(self, path, storage: str = 'sqlite3', typestore=None):
        require_rosbags('writing a rosbag2')
        from rosbags.rosbag2 import StoragePlugin, Writer
        plugins = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
        if storage not in plugins:
            raise OfflineInputError(f"bag storage must be 'sqlite3' or 'mcap'; got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise OfflineInputError(f'{self.path} exists already; rosbag2 output must be new')
        self.typestore = typestore or bag_typestore()
        self.writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugins[storage])
        self.writer.open()
        self._copied: Dict[int, object] = {}
        self._by_key: Dict[tuple, object] = {}
        self.topics: Dict[str, object] = {}
        self.counts: Dict[str, int] = {}

    def copy_connection(self, conn) -> Optional[object]:
        """Register an input connection (same type, definition and QoS); return it or None."""
        if id(conn) in self._copied:
            return self._copied[id(conn)]
        ext = conn.ext
        key = (conn.topic, conn.msgtype)
        out = self._by_key.get(key)
        if out is None:
            kwargs = {}
            msgdef = getattr(getattr(conn, 'msgdef', None), 'data', '') or ''
            if msgdef and str(conn.digest).startswith('RIHS01_'):
                kwargs.update(msgdef=msgdef, rihs01=conn.digest)
            elif conn.msgtype in self.typestore.types:
                kwargs.update(typestore=self.typestore)
            else:
                self._copied[id(conn)] = None
                return None
            out = self.writer.add_connection(
                conn.topic, conn.msgtype,
                serialization_format=getattr(ext, 'serialization_format', 'cdr'),
                offered_qos_profiles=list(getattr(ext, 'offered_qos_profiles', []) or []),
                **kwargs)
            self._by_key[key] = out
            self.topics.setdefault(conn.topic, out)
            self.counts.setdefault(conn.topic, 0)
        self._copied[id(conn)] = out
        return out

    def write_raw(self, raw: RawMessage) -> None:
        """Copy one input message unchanged."""
        out = self.copy_connection(raw.connection)
        if out is not None:
            self.writer.write(out, raw.timestamp, raw.data)
            self.counts[raw.connection.topic] += 1

    def write(self, topic: str, msgtype: str, timestamp: int, msg) -> None:
        """Serialise ``msg`` (CDR) onto ``topic``, adding the topic on first use."""
        conn = self.topics.get(topic)
        if conn is None:
            conn = self.writer.add_connection(topic, msgtype, typestore=self.typestore)
            self.topics[topic] = conn
            self.counts[topic] = 0
        self.writer.write(conn, int(timestamp), self.typestore.serialize_cdr(msg, msgtype))
        self.counts[topic] += 1

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self.writer.close()


# --------------------------------------------------------------------------- datasets

#: Folder names holding the colour images and the ground-truth depth of a dataset.
RGB_DIRS = ('rgb', 'color', 'colour', 'image', 'images', 'image_rgb')
DEPTH_DIRS = ('depth', 'gt', 'depth_gt', 'groundtruth', 'ground_truth')
_NAME_TOKENS = re.compile(r'(sync_)?(depth|color|colour|rgb|image|frame|gt)', re.IGNORECASE)


@dataclass
class Sample:
    """One evaluation pair: an RGB image and its metric ground truth."""

    name: str
    rgb_path: Path
    depth_path: Path
    camera: Optional[Camera] = None  # None: the dataset's camera
    depth_scale: Optional[float] = None  # None: the protocol's / the user's


def pairing_key(path: Path) -> str:
    """Key that matches ``rgb_00050.jpg`` with ``sync_depth_00050.png`` (last number)."""
    numbers = re.findall(r'\d+', path.stem)
    if numbers:
        return str(int(numbers[-1]))
    return _NAME_TOKENS.sub('', path.stem).strip('_-. ').lower()


def _files(folder: Path, extensions) -> List[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions),
                  key=natural_key)


def _resolve(root: Path, relative: str) -> Optional[Path]:
    parts = Path(relative).parts
    for i in range(len(parts)):
        candidate = root.joinpath(*parts[i:])
        if candidate.is_file():
            return candidate
    return None


def _annotated_samples(root: Path, index: Path) -> List[Sample]:
    try:
        files = json.loads(index.read_text(encoding='utf-8'))['files']
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OfflineInputError(f'cannot read {index}: {exc}') from None
    samples = []
    for entry in files:
        rgb = _resolve(root, entry['rgb'])
        depth = _resolve(root, entry['depth'])
        if rgb is None or depth is None:
            continue
        camera = None
        if entry.get('cam_in'):
            fx, fy, cx, cy = (float(v) for v in entry['cam_in'][:4])
            camera = Camera(fx=fx, fy=fy, cx=cx, cy=cy)
        scale = entry.get('depth_scale')
        samples.append(Sample(rgb.stem, rgb, depth, camera,
                              float(scale) if scale else None))
    return sorted(samples, key=lambda s: natural_key(s.rgb_path))


def find_intrinsics_file(root: Path) -> Optional[Path]:
    """Return a camera_info YAML or Open3D intrinsics JSON in ``root``, if there is one."""
    names = ('camera_info.yaml', 'camera_info.yml', 'camera.yaml', 'intrinsics.yaml',
             'intrinsics.json', 'camera_intrinsic.json', 'camera_primesense.json')
    for name in names:
        if (root / name).is_file():
            return root / name
    return None


def find_samples(root) -> List[Sample]:
    """
    Find RGB / ground-truth pairs in a dataset folder.

    Layouts, tried in order: a Metric3D-style ``test_annotations.json`` index
    (per-file intrinsics and depth scale); ``rgb/`` (or ``color/``, ``image/``)
    beside ``depth/`` (or ``gt/``); one folder with colour images and files
    named ``*depth*``. Pairs match by file stem or by the last number in it
    (``rgb_00050.jpg`` <-> ``sync_depth_00050.png``). Ground truth: 16-bit PNG
    or ``.npy`` metres.
    """
    root = Path(root)
    if not root.is_dir():
        raise OfflineInputError(f'{root} is not a folder')
    index = root / 'test_annotations.json'
    if index.is_file():
        samples = _annotated_samples(root, index)
        if samples:
            return samples
    depth_dir = next((root / d for d in DEPTH_DIRS if (root / d).is_dir()), None)
    if depth_dir is not None:
        rgb_dir = next((root / d for d in RGB_DIRS if (root / d).is_dir()), root)
        images = [p for p in _files(rgb_dir, IMAGE_EXTENSIONS)]
        depths = _files(depth_dir, ('.png', '.npy', '.tif', '.tiff'))
    else:
        files = _files(root, IMAGE_EXTENSIONS + ('.npy',))
        depths = [p for p in files if 'depth' in p.stem.lower()]
        images = [p for p in files if 'depth' not in p.stem.lower() and p.suffix != '.npy']
    by_key = {}
    for depth in depths:
        by_key.setdefault(pairing_key(depth), depth)
    by_stem = {d.stem: d for d in depths}
    samples = []
    for image in images:
        depth = by_stem.get(image.stem) or by_key.get(pairing_key(image))
        if depth is not None and depth != image:
            samples.append(Sample(image.stem, image, depth))
    if not samples:
        raise OfflineInputError(
            f'no RGB / depth pairs found in {root}; expected rgb/ + depth/ folders, a '
            'test_annotations.json, or files named *depth* next to the images')
    return samples


def find_prediction(folder: Path, name: str) -> Optional[Path]:
    """Return the prediction file for sample ``name`` in ``folder`` (npy metres or PNG mm)."""
    for candidate in (f'{name}.npy', f'{name}_depth.npy', f'{name}_depth.png', f'{name}.png'):
        path = Path(folder) / candidate
        if path.is_file():
            return path
    return None


def expand_inputs(path) -> Tuple[str, object]:
    """Classify an input path: ``('bag'|'video'|'images', path or list of image paths)``."""
    path = Path(path)
    if not path.exists():
        raise OfflineInputError(f'{path} does not exist')
    if is_bag(path):
        return 'bag', path
    if path.is_dir():
        images = [p for p in _files(path, IMAGE_EXTENSIONS) if is_color_image(p)]
        if not images:
            raise OfflineInputError(
                f'{path} holds no colour images ({", ".join(IMAGE_EXTENSIONS)}) and is not a '
                'rosbag2 folder (metadata.yaml)')
        return 'images', images
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return 'video', path
    if suffix in IMAGE_EXTENSIONS:
        return 'images', [path]
    raise OfflineInputError(
        f'{path}: unknown input type; pass an image, a folder of images, a video '
        f'({", ".join(VIDEO_EXTENSIONS)}) or a rosbag2 (folder, .db3, .mcap)')
