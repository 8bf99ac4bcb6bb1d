# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Black-box harness: the installed ``depth_node`` executable as its own process.

:class:`NodeProcess` starts the console script with ``--ros-args`` and records
every line it writes to stdout and stderr (the real rclpy logger, unbuffered),
so tests wait on log lines by content and check that no traceback ever appears.
:class:`RosPeer` is the test process's side of the ROS graph: RELIABLE
publishers of the camera topics (a best-effort subscriber in another process
receives no large images here), collectors of the three outputs keyed by stamp,
the node's own ``/diagnostics`` status (frame accounting), and clients of its
parameter and lifecycle services. Everything waits on events with timeouts.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
import numpy as np
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from .feeder import Feeder, make_info
from .tiny_models import textured_image
from ..conversions import cloud_to_structured, image_fields_to_depth, unpack_rgb

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)

Stamp = Tuple[int, int]


def node_executable() -> Optional[str]:
    """Return the installed ``depth_node`` console script beside this Python, or on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), 'depth_node')
    if os.access(here, os.X_OK):
        return here
    return shutil.which('depth_node')


def stamp_of(msg) -> Stamp:
    """Return ``(sec, nanosec)`` of a message's header."""
    return int(msg.header.stamp.sec), int(msg.header.stamp.nanosec)


class NodeProcess:
    """
    One ``depth_node`` process and everything it printed, line by line.

    ``args`` follow ``--ros-args`` (``-p name:=value``, ``--params-file F``,
    ``-r __ns:=/x``). The environment keeps DDS on this host and the Hub offline.
    """

    def __init__(self, args: List[str], domain_id: int, *, env: Optional[dict] = None,
                 executable: Optional[str] = None):
        self.args = list(args)
        self.executable = executable or node_executable()
        self.env = dict(os.environ)
        self.env.update({
            'RCUTILS_CONSOLE_OUTPUT_FORMAT': '[{severity}] [{time}] [{name}]: {message}',
            'ROS_DOMAIN_ID': str(domain_id), 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
            'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1', 'PYTHONUNBUFFERED': '1',
            'RCUTILS_LOGGING_BUFFERED_STREAM': '1', 'RCUTILS_COLORIZED_OUTPUT': '0'})
        self.env.update(env or {})
        self.lines: List[str] = []
        self.cond = threading.Condition()
        self.proc: Optional[subprocess.Popen] = None
        self._readers: List[threading.Thread] = []

    # ------------------------------------------------------------------ process
    def start(self) -> 'NodeProcess':
        """Start the process and the threads that collect its output."""
        cmd = [self.executable, '--ros-args'] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=self.env)
        for stream in (self.proc.stdout, self.proc.stderr):
            reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
            reader.start()
            self._readers.append(reader)
        return self

    def _read(self, stream) -> None:
        for raw in iter(stream.readline, b''):
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        stream.close()

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` (SIGINT, SIGTERM) to the process."""
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> Optional[int]:
        """Wait for the exit (and the last output lines); return the status, None on timeout."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for reader in self._readers:
            reader.join(timeout=5.0)
        return code

    def stop(self) -> None:
        """End the process if it still runs (SIGINT, then SIGKILL)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        if self.wait_exit(10.0) is None:
            self.proc.kill()
            self.wait_exit(5.0)

    def rss_mb(self) -> float:
        """Return the resident memory of the process in MB (/proc)."""
        with open(f'/proc/{self.proc.pid}/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
        raise RuntimeError('no VmRSS')

    # ------------------------------------------------------------------ output
    def mark(self) -> int:
        """Return a position in the output (lines after it are 'new')."""
        with self.cond:
            return len(self.lines)

    def since(self, mark: int = 0) -> List[str]:
        """Return the lines printed after ``mark``."""
        with self.cond:
            return list(self.lines[mark:])

    def matching(self, pattern: str, mark: int = 0) -> List[str]:
        """Return the lines after ``mark`` that match the regular expression ``pattern``."""
        regex = re.compile(pattern)
        return [line for line in self.since(mark) if regex.search(line)]

    def wait_line(self, pattern: str, timeout: float = 10.0, mark: int = 0) -> str:
        """Wait for a line after ``mark`` matching ``pattern``; raise AssertionError on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[mark:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None
                                      and all(not r.is_alive() for r in self._readers)):
                    raise AssertionError(
                        f'no line matching {pattern!r} within {timeout:g} s '
                        f'(process {"alive" if self.alive() else "exited"}); output:\n'
                        + self.tail(mark))
                self.cond.wait(min(remaining, 0.1))

    def tracebacks(self, mark: int = 0) -> List[str]:
        """Return the lines after ``mark`` that start or belong to a Python traceback."""
        return [line for line in self.since(mark)
                if 'Traceback' in line or line.startswith('  File "')]

    def tail(self, mark: int = 0, count: int = 40) -> str:
        """Return the last ``count`` lines after ``mark`` as text (for failure messages)."""
        return '\n'.join(self.since(mark)[-count:])


class RosPeer(Feeder):
    """
    The test's side of the graph: the tests' Feeder, plus diagnostics and service clients.

    ``namespace`` is the node's namespace (each process gets its own, so several
    can share the test's domain); ``node_name`` its name; ``camera`` one of the
    node's ``cameras`` (its topics are under ``<namespace>/<camera>`` and its
    diagnostics status is that camera's). The peer spins itself.
    """

    def __init__(self, context, namespace: str, node_name: str = 'depth_node', *,
                 compressed: bool = False, latched_info: bool = False,
                 keep: int = 64, camera: str = ''):
        self.namespace = namespace.rstrip('/')
        self.camera = camera
        super().__init__('blackbox_peer', context=context,
                         namespace=f'{self.namespace}/{camera}' if camera else self.namespace,
                         compressed=compressed, info_qos=LATCHED if latched_info else RELIABLE,
                         keep=keep)
        self.fqn = f'{self.namespace}/{node_name}'
        self.diag: Optional[Dict[str, str]] = None
        self.diag_count = 0
        self._diag_name = (f'{self.fqn.lstrip("/")}: {camera + " " if camera else ""}'
                           'metric depth')
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, RELIABLE)
        self.set_client = self.create_client(SetParameters, f'{self.fqn}/set_parameters')
        self.get_client = self.create_client(GetParameters, f'{self.fqn}/get_parameters')
        self.change_client = self.create_client(ChangeState, f'{self.fqn}/change_state')
        self.state_client = self.create_client(GetState, f'{self.fqn}/get_state')
        self.spinner = SingleThreadedExecutor(context=context)
        self.spinner.add_node(self)
        self._closing = False
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self._diag_name:
                with self.cond:
                    self.diag = {kv.key: kv.value for kv in status.values}
                    self.diag['_level'] = status.level
                    self.diag['_message'] = status.message
                    self.diag_count += 1
                    self.cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0, what: str = 'condition') -> None:
        """Wait until ``predicate()`` (called under the lock) holds; AssertionError on timeout."""
        try:
            super().wait_for(predicate, timeout, what)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None

    def has_outputs(self, stamp: Stamp, points: bool = True) -> bool:
        """Whether depth, camera_info (and points) of ``stamp`` arrived (call under the lock)."""
        kinds = ('depth', 'info', 'points') if points else ('depth', 'info')
        return all(stamp in self.outputs[k] for k in kinds)

    def wait_outputs(self, stamp: Stamp, timeout: float = 20.0, points: bool = True):
        """Wait for the outputs of ``stamp``; return ``(depth, camera_info, points or None)``."""
        self.wait_for(lambda: self.has_outputs(stamp, points), timeout,
                      f'the outputs of the frame stamped {stamp}')
        return self.outputs_of(stamp, points)

    def connected(self, points: bool = True) -> bool:
        """Whether the node subscribes to our inputs and its outputs reach us."""
        outputs = ['depth/image', 'depth/camera_info'] + (['points'] if points else [])
        return (self.image_pub.get_subscription_count() > 0
                and self.info_pub.get_subscription_count() > 0
                and all(self.count_publishers(t) > 0 for t in outputs))

    def wait_connected(self, timeout: float = 60.0, points: bool = True) -> None:
        """Wait for :meth:`connected` and for a first diagnostics status of the node."""
        self.wait_for(lambda: self.connected(points) and self.diag is not None, timeout,
                      f'{self.fqn} to subscribe, publish and report diagnostics')

    # ------------------------------------------------------------------ accounting
    def counters(self) -> Dict[str, int]:
        """Return the node's frame counters from its latest diagnostics (totals)."""
        with self.cond:
            diag = dict(self.diag or {})
        return {k: int(v) for k, v in diag.items()
                if (k.startswith('frames_') or k.startswith('dropped.')) and v.isdigit()}

    def settled_counters(self, timeout: float = 20.0) -> Dict[str, int]:
        """
        Return the counters of a diagnostics status sent after this call, once settled.

        Settled: every received frame is published or dropped (nothing in flight),
        so the counters include every frame sent before the call.
        """
        def settled(c):
            return c.get('frames_received', 0) == (c.get('frames_published', 0)
                                                   + c.get('frames_dropped', 0))
        deadline = time.monotonic() + timeout
        while True:
            self.next_diag(max(deadline - time.monotonic(), 0.1))
            counters = self.counters()
            if settled(counters):
                return counters
            if time.monotonic() > deadline:
                raise AssertionError(f'frames still in flight after {timeout:g} s: {counters}')

    def wait_accounted(self, before: Dict[str, int], frames: int = 1,
                       timeout: float = 20.0, abort=None) -> Dict[str, int]:
        """
        Wait until ``frames`` more frames were received and each published or dropped.

        Returns the change of every counter since ``before``; stops waiting early
        when ``abort()`` returns True (the process died).
        """
        def done():
            if abort is not None and abort():
                raise AssertionError('depth_node exited')
            now = self.counters()
            received = now.get('frames_received', 0) - before.get('frames_received', 0)
            settled = (now.get('frames_published', 0) + now.get('frames_dropped', 0)
                       - before.get('frames_published', 0) - before.get('frames_dropped', 0))
            return received >= frames and settled >= frames
        try:
            self.wait_for(done, timeout, f'{frames} frame(s) received and published or dropped')
        except AssertionError as exc:
            raise AssertionError(f'{exc}; counters before {before}, now {self.counters()}')
        now = self.counters()
        return {k: now[k] - before.get(k, 0) for k in now if now[k] != before.get(k, 0)}

    def next_diag(self, timeout: float = 10.0) -> Dict[str, str]:
        """Wait for a diagnostics status newer than the current one; return its values."""
        with self.cond:
            count = self.diag_count
        self.wait_for(lambda: self.diag_count > count, timeout, 'a new diagnostics status')
        with self.cond:
            return dict(self.diag)

    # ------------------------------------------------------------------ services
    def _call(self, client, request, timeout: float):
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f'service {client.srv_name} not available')
        future = client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            raise AssertionError(f'no answer from {client.srv_name} within {timeout:g} s')
        return future.result()

    def set_node_parameters(self, params: List[Parameter], timeout: float = 10.0):
        """Call set_parameters; return the list of SetParametersResult (one per parameter)."""
        request = SetParameters.Request()
        request.parameters = [p.to_parameter_msg() for p in params]
        return list(self._call(self.set_client, request, timeout).results)

    def set_one(self, name: str, value, type_: Optional[Parameter.Type] = None):
        """Set one parameter (``type_`` forces the wire type); return its SetParametersResult."""
        if type_ is None:
            param = Parameter(name, value=value)
        else:
            param = Parameter(name, type_, value)
        return self.set_node_parameters([param])[0]

    def get_node_parameter(self, name: str, timeout: float = 10.0):
        """Return the current value of one parameter of the node (Python value)."""
        request = GetParameters.Request()
        request.names = [name]
        return parameter_value_to_python(self._call(self.get_client, request, timeout).values[0])

    def change_state(self, transition_id: int, timeout: float = 60.0) -> bool:
        """Ask for a lifecycle transition (lifecycle_msgs/Transition id); return success."""
        request = ChangeState.Request()
        request.transition = Transition(id=transition_id)
        return bool(self._call(self.change_client, request, timeout).success)

    def get_state(self, timeout: float = 10.0) -> str:
        """Return the lifecycle state label (``unconfigured``, ``inactive``, ``active``...)."""
        return self._call(self.state_client, GetState.Request(), timeout).current_state.label

    def _spin(self) -> None:
        try:
            self.spinner.spin()
        except Exception:  # noqa: B902 - rclpy's handles go while close() shuts the executor
            if not self._closing:
                raise

    def close(self) -> None:
        """Stop spinning and destroy the peer node."""
        self._closing = True
        self.spinner.shutdown(timeout_sec=5.0)
        self.thread.join(timeout=5.0)
        self.destroy_node()


class Intr:
    """Pinhole intrinsics of the image as published (after binning and ROI)."""

    def __init__(self, width: int, height: int, fx: float, fy: float, cx: float, cy: float):
        self.width, self.height = int(width), int(height)
        self.fx, self.fy, self.cx, self.cy = float(fx), float(fy), float(cx), float(cy)

    def __repr__(self):
        return (f'Intr({self.width}x{self.height}, fx={self.fx}, fy={self.fy}, '
                f'cx={self.cx}, cy={self.cy})')


def check_depth(depth_msg, expected: np.ndarray, *, rtol: float = 1e-3) -> np.ndarray:
    """
    Decode a 32FC1/16UC1 depth image and compare it with ``expected`` metres.

    Pixels the reference has as invalid (NaN or <= 0) must be invalid (NaN) in
    the message; the others match within ``rtol`` (16UC1: within 0.5 mm).
    Returns the decoded depth.
    """
    depth = image_fields_to_depth(depth_msg)
    assert depth.shape == expected.shape, (depth.shape, expected.shape)
    ref = np.where(expected > 0, expected, np.nan).astype(np.float32)
    if depth_msg.encoding == '16UC1':
        with np.errstate(invalid='ignore'):
            ref = np.where((ref > 0) & (np.rint(ref * 1000) <= 65535), ref, np.nan)
        np.testing.assert_allclose(depth, ref, atol=6e-4, rtol=0)
    else:
        np.testing.assert_allclose(depth, ref, rtol=rtol, atol=1e-5)
    return depth


def check_cloud(cloud_msg, depth: np.ndarray, intr: Intr, rgb: Optional[np.ndarray] = None,
                *, stride: int = 1, min_depth: float = 0.0, max_depth: float = 0.0,
                organized: bool = True, edge_angle: Optional[float] = 10.0) -> None:
    """
    Check a PointCloud2 against its depth image and intrinsics (independent back-projection).

    Point (u, v) = ((u - cx) z / fx, (v - cy) z / fy, z) for every ``stride``-th
    pixel with finite z in [min_depth, max_depth]; NaN elsewhere (organized) or
    left out (dense); packed rgb equal to the image's pixel. With ``edge_angle``
    (the node's default edge filter, doc/navigation.md, "Edge filter") flying pixels are NaN
    too: those :class:`~depth_node.filters.EdgeFilter` flags at half a degree less
    must be, those it does not flag at half a degree more must not be.
    """
    z = depth[::stride, ::stride].astype(np.float64)
    v, u = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride]
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(z) & (z > 0) & (z >= min_depth)
        if max_depth > 0:
            valid &= z <= max_depth
    maybe = np.zeros_like(valid)
    if edge_angle:
        from ..filters import EdgeFilter
        from ..geometry import Intrinsics
        full = Intrinsics(depth.shape[1], depth.shape[0], intr.fx, intr.fy, intr.cx, intr.cy)
        surely = EdgeFilter(edge_angle - 0.5).mask(depth, full)[::stride, ::stride]
        maybe = EdgeFilter(edge_angle + 0.5).mask(depth, full)[::stride, ::stride] & valid
        valid &= ~surely
        maybe &= valid
        if not organized and maybe.any():
            raise AssertionError('borderline flying pixels: cannot check a dense cloud')
    x = (u - intr.cx) * z / intr.fx
    y = (v - intr.cy) * z / intr.fy
    names = [f.name for f in cloud_msg.fields]
    assert names[:3] == ['x', 'y', 'z'], names
    assert ('rgb' in names) == (rgb is not None), names
    points = cloud_to_structured(cloud_msg)
    if organized:
        assert (cloud_msg.height, cloud_msg.width) == z.shape, (
            (cloud_msg.height, cloud_msg.width), z.shape)
        assert not cloud_msg.is_dense
        got = points
        for name in 'xyz':
            assert np.all(np.isnan(got[name][~valid])), f'{name} of invalid points not NaN'
        sel = valid & ~(maybe & np.isnan(got['z']))
    else:
        got = points.reshape(-1)
        assert got.size == int(valid.sum()), (got.size, int(valid.sum()))
        sel = valid
        got = {n: got[n] for n in names}
        got = {n: _scatter(got[n], sel) for n in names}
    for name, ref in (('x', x), ('y', y), ('z', z)):
        np.testing.assert_allclose(np.asarray(got[name])[sel], ref[sel], rtol=1e-4, atol=1e-5,
                                   err_msg=f'cloud {name} vs depth and {intr}')
    if rgb is not None:
        colours = unpack_rgb(np.asarray(got['rgb'])[sel])
        np.testing.assert_array_equal(colours, rgb[::stride, ::stride][sel])


def _scatter(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(mask.shape, np.nan, dtype=values.dtype)
    out[mask] = values
    return out


def rgb_image(width: int, height: int, rgb: np.ndarray, *, stamp: Stamp, frame_id: str,
              encoding: str = 'rgb8', step: Optional[int] = None, pad: int = 0) -> Image:
    """Return an Image of ``rgb`` in a colour ``encoding``, rows padded to ``step``."""
    layouts = {'rgb8': rgb, 'bgr8': rgb[..., ::-1],
               'rgba8': np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)]),
               'bgra8': np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 7, np.uint8)]),
               'mono8': rgb[..., :1]}
    arr = np.ascontiguousarray(layouts[encoding])
    row = arr.shape[1] * arr.shape[2]
    step = row + pad if step is None else step
    buf = np.zeros((height, step), np.uint8)
    buf[:, :row] = arr.reshape(height, row)
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width, msg.encoding, msg.step = height, width, encoding, step
    msg.data = buf.tobytes()
    return msg


def camera_info(width: int, height: int, fx: float, fy: float, cx: float, cy: float, *,
                stamp: Stamp, frame_id: str, use_p: bool = True) -> CameraInfo:
    """Return the CameraInfo of a rectified pinhole camera (K and P alike; the Feeder's)."""
    return make_info(width, height, fx, fy, cx, cy, stamp=stamp, frame_id=frame_id,
                     use_p=use_p)


class Session:
    """
    One node process, the test's peer, and a reference model to check its outputs.

    ``reference`` is a :class:`depth_node.models.DepthModel` loaded in the test
    process from the same checkpoint: a good frame's depth must equal its
    prediction for the same pixels and focal length, and the cloud must be the
    back-projection of that depth with the frame's intrinsics.
    """

    #: The good frame: size, intrinsics and frame_id.
    W, H = 64, 48
    FX = FY = 60.0
    FRAME_ID = 'camera_color_optical_frame'

    def __init__(self, context, domain_id: int, namespace: str, args: List[str], *,
                 reference=None, compressed: bool = False, latched_info: bool = False,
                 env: Optional[dict] = None):
        self.context, self.domain_id, self.namespace = context, domain_id, namespace
        self.args = ['-r', f'__ns:={namespace}'] + list(args)
        self.reference = reference
        self.compressed = compressed
        self.env = env
        self.peer = RosPeer(context, namespace, compressed=compressed,
                            latched_info=latched_info)
        self.proc: Optional[NodeProcess] = None
        self.starts = 0
        #: Wall-clock time and log position where the current case began (:meth:`begin`).
        self.case_start = time.time()
        self.case_mark = 0
        self._stamp = 0
        self._expected: Dict[tuple, np.ndarray] = {}
        self.rgb = textured_image(self.H, self.W, seed=3)
        self.intr = Intr(self.W, self.H, self.FX, self.FY, (self.W - 1) / 2, (self.H - 1) / 2)

    # ------------------------------------------------------------------ process
    def start(self, wait: bool = True, timeout: float = 90.0) -> 'Session':
        """Start the node process; with ``wait``, until it serves (subscribed, publishing)."""
        self.proc = NodeProcess(self.args, self.domain_id, env=self.env).start()
        self.starts += 1
        if wait:
            self.start_wait(timeout)
        return self

    def start_wait(self, timeout: float = 90.0) -> None:
        """Wait until the started node serves; fail at once when it exits."""
        proc = self.proc
        try:
            self.peer.wait_for(lambda: self.peer.connected() and self.peer.diag is not None
                               or not proc.alive(), timeout, f'{self.namespace} to serve')
        except AssertionError:
            pass
        if not proc.alive() or not self.peer.connected():
            proc.wait_exit(5.0)
            raise AssertionError(f'depth_node did not start (exit status '
                                 f'{proc.proc.returncode}):\n{proc.tail()}')

    def ensure_running(self) -> None:
        """Restart the node if an earlier case killed it (that case has failed already)."""
        if self.proc is None or not self.proc.alive():
            self.start()

    def healthy(self, mark: int = 0) -> None:
        """Assert that the process is alive and printed no traceback since ``mark``."""
        assert self.proc.alive(), (f'depth_node exited with {self.proc.proc.returncode}:\n'
                                   + self.proc.tail(mark))
        tracebacks = self.proc.tracebacks(mark)
        assert not tracebacks, 'traceback in the log:\n' + self.proc.tail(mark)

    def close(self) -> None:
        """
        Stop the process and the peer.

        With ``DEPTH_NODE_BLACKBOX_LOGS=DIR`` the node's whole output is kept in
        ``DIR/<namespace>.log`` (for reading what it printed for every case).
        """
        if self.proc is not None:
            self.proc.stop()
            folder = os.environ.get('DEPTH_NODE_BLACKBOX_LOGS')
            if folder:
                os.makedirs(folder, exist_ok=True)
                name = self.namespace.strip('/').replace('/', '_') or 'root'
                with open(os.path.join(folder, f'{name}.log'), 'a', encoding='utf-8') as f:
                    f.write('\n'.join(self.proc.lines) + '\n')
        self.peer.close()

    # ------------------------------------------------------------------ frames
    def begin(self) -> int:
        """Note that a case begins now; return the log position (``mark``) of its start."""
        self.case_start = time.time()
        self.case_mark = self.proc.mark()
        return self.case_mark

    def stamp(self) -> Stamp:
        """Return a new stamp, later than every earlier one of this session."""
        self._stamp += 1
        return (1000 + self._stamp, 1000 * self._stamp)

    def expected(self, rgb: np.ndarray, fx: float, fy: float) -> np.ndarray:
        """Return the reference model's metric depth of ``rgb`` at focal ``(fx, fy)``."""
        key = (rgb.shape, hash(rgb.tobytes()), fx, fy)
        if key not in self._expected:
            self._expected[key] = self.reference.predict(rgb, (0, 1, 2), focal=(fx, fy))
        return self._expected[key]

    def good_image(self, stamp: Stamp, encoding: str = 'rgb8', frame_id: str = FRAME_ID):
        """Return the good frame's Image (or CompressedImage PNG) with ``stamp``."""
        if self.compressed:
            msg = CompressedImage()
            msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
            msg.header.frame_id = frame_id
            ok, buf = cv2.imencode('.png', np.ascontiguousarray(self.rgb[..., ::-1]))
            assert ok
            msg.format = 'rgb8; png compressed bgr8'
            msg.data = buf.tobytes()
            return msg
        return rgb_image(self.W, self.H, self.rgb, stamp=stamp, frame_id=frame_id,
                         encoding=encoding)

    def good_info(self, stamp: Stamp, frame_id: str = FRAME_ID) -> CameraInfo:
        """Return the good frame's CameraInfo with ``stamp``."""
        i = self.intr
        return camera_info(i.width, i.height, i.fx, i.fy, i.cx, i.cy, stamp=stamp,
                           frame_id=frame_id)

    def good_frame(self, mark: Optional[int] = None, *, encoding: str = 'rgb8',
                   points: bool = True, timeout: float = 30.0, **cloud_kwargs):
        """
        Send the good frame and check its depth, camera_info and cloud; return them.

        Also checks the process is alive and printed no traceback since ``mark``.
        """
        stamp = self.stamp()
        self.peer.publish(self.good_image(stamp, encoding), self.good_info(stamp))
        depth_msg, info_msg, cloud_msg = self.outputs(stamp, timeout, points, mark)
        self.check_frame(depth_msg, info_msg, cloud_msg, stamp, self.rgb, self.intr,
                         frame_id=self.FRAME_ID, mono=(encoding == 'mono8'), **cloud_kwargs)
        if mark is not None:
            self.healthy(mark)
        return depth_msg, info_msg, cloud_msg

    def outputs(self, stamp: Stamp, timeout: float = 20.0, points: bool = True,
                mark: Optional[int] = None):
        """
        Wait for the outputs of ``stamp`` (a failure shows the node's state and log).

        Fails early when the process exits or its counters show the frame dropped.
        """
        peer, proc = self.peer, self.proc
        before = peer.counters()

        def dropped():
            now = peer.counters()
            grew = {k: now.get(k, 0) - before.get(k, 0) for k in now}
            faults = sum(v for k, v in grew.items() if k.startswith('dropped.')
                         and k not in ('dropped.superseded', 'dropped.idle'))
            return (grew.get('frames_received', 0) > 0 and faults > 0
                    and grew.get('frames_published', 0) == 0
                    and now.get('frames_received') == (now.get('frames_published', 0)
                                                       + now.get('frames_dropped', 0)))
        try:
            peer.wait_for(lambda: peer.has_outputs(stamp, points) or not proc.alive()
                          or dropped(), timeout, f'the outputs of the frame stamped {stamp}')
            if not peer.has_outputs(stamp, points):
                raise AssertionError(f'the frame stamped {stamp} was dropped or the node died')
        except AssertionError as exc:
            raise AssertionError(
                f'{exc}; alive {proc.alive()}, counters {peer.counters()} (before {before}); '
                f'node output:\n{proc.tail(mark or 0)}') from None
        with peer.cond:
            return (peer.outputs['depth'][stamp], peer.outputs['info'][stamp],
                    peer.outputs['points'].get(stamp) if points else None)

    def check_frame(self, depth_msg, info_msg, cloud_msg, stamp: Stamp, rgb: np.ndarray,
                    intr: Intr, *, frame_id: str, mono: bool = False, **cloud_kwargs):
        """Check the three outputs of one frame against the reference and ``intr``."""
        if mono:
            rgb = np.repeat(rgb[..., :1], 3, axis=2)
        for msg in (depth_msg, info_msg) + ((cloud_msg,) if cloud_msg is not None else ()):
            assert stamp_of(msg) == stamp and msg.header.frame_id == frame_id, msg.header
        assert (depth_msg.width, depth_msg.height) == (intr.width, intr.height)
        assert (info_msg.width, info_msg.height) != (0, 0)
        depth = check_depth(depth_msg, self.expected(rgb, intr.fx, intr.fy))
        assert np.isfinite(depth).any(), 'no valid depth at all'
        if cloud_msg is not None:
            check_cloud(cloud_msg, depth, intr, rgb, **cloud_kwargs)
        return depth

    def feed(self, image=None, info=None, frames: int = 1, timeout: float = 20.0):
        """Publish a (bad) frame and wait until the node has published or dropped it."""
        try:
            before = self.peer.settled_counters()
        except AssertionError as exc:
            raise AssertionError(f'{exc}; node output:\n{self.proc.tail()}') from None
        self.begin()
        self.peer.publish(image, info)
        try:
            return self.peer.wait_accounted(before, frames, timeout,
                                            abort=lambda: not self.proc.alive())
        except AssertionError as exc:
            raise AssertionError(f'{exc}; alive {self.proc.alive()}; node output:\n'
                                 + self.proc.tail()) from None
