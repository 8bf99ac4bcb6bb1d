# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Frame sources of the offline tools: image files, videos and rosbag2.

No rclpy. Each source yields ``(raw, frame)``: ``frame`` is a :class:`Frame`
(one input image with its camera_info, decoded lazily) for the images to
process, ``raw`` the serialised bag message (so an output bag can copy the
input unchanged; None for files). Bags are read with the pure-Python
``rosbags`` library (sqlite3 and MCAP storage); ROS need not be installed.
"""

from dataclasses import dataclass, field
from pathlib import Path
import re
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image as PILImage

from .bag import bag_typestore, require_rosbags
from .cameras import CameraSpec
from .cli import OfflineInputError
from ..frame import decode_image, Decoded

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv')
BAG_EXTENSIONS = ('.db3', '.mcap')
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'


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


def list_files(folder: Path, extensions) -> List[Path]:
    """Return the files of ``folder`` with one of ``extensions``, in natural order."""
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions),
                  key=natural_key)


# --------------------------------------------------------------------------- frames

@dataclass
class Frame:
    """One input image with its camera, decoded lazily."""

    index: int  # position among the input's images (0-based), skipped ones counted
    name: str  # file-name stem for outputs
    stamp_ns: int
    frame_id: str
    decode: Callable[[], Decoded]
    camera: Callable[[int, int], object]  # (width, height) -> camera_info
    from_bag: bool = False
    _image: Optional[Decoded] = field(default=None, repr=False)

    def image(self) -> Decoded:
        """Return the decoded pixels, channel order and encoding (decoded once)."""
        if self._image is None:
            self._image = self.decode()
        return self._image

    def camera_info(self):
        """Return the camera_info of this frame."""
        pixels = self.image().pixels
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

    def __init__(self, paths: Sequence[Path], camera: CameraSpec, *, every: int = 1,
                 limit: int = 0, fps: float = 10.0, start_ns: int = 0,
                 frame_id: str = 'camera_optical_frame'):
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
                lambda p=path: Decoded(read_rgb(p), (0, 1, 2), 'rgb8'), self.camera.for_size)

    def close(self) -> None:
        """Nothing to release."""


class VideoSource:
    """A video file read with OpenCV; stamps from the container's timestamps."""

    kind = 'video'

    def __init__(self, path: Path, camera: CameraSpec, *, every: int = 1, limit: int = 0,
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
            image = Decoded(bgr, (2, 1, 0), 'bgr8')
            yield None, Frame(index, f'frame_{index:06d}', self.start_ns + int(msec * 1e6),
                              self.frame_id, lambda im=image: im, self.camera.for_size)

    def close(self) -> None:
        """Release the capture."""
        self.cap.release()


# --------------------------------------------------------------------------- rosbag2

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
        require_rosbags()
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
                                  lambda m=msg: decode_image(m),
                                  lambda w, h, i=info: i, from_bag=True)
            yield RawMessage(conn, timestamp, raw), frame

    def close(self) -> None:
        """Close the bag."""
        self.reader.close()


def expand_inputs(path) -> Tuple[str, object]:
    """Classify an input path: ``('bag'|'video'|'images', path or list of image paths)``."""
    path = Path(path)
    if not path.exists():
        raise OfflineInputError(f'{path} does not exist')
    if is_bag(path):
        return 'bag', path
    if path.is_dir():
        images = [p for p in list_files(path, IMAGE_EXTENSIONS) if is_color_image(p)]
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
