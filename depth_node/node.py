# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The rclpy node: parameters, lifecycle, the worker and logging over the ROS-free core.

The node hosts one :class:`~depth_node.camera_pipeline.CameraPipeline` per
camera (``cameras``; none given: one camera on ``image`` and ``camera_info``)
and one worker thread for all of them. Callbacks only store (each camera's
:class:`~depth_node.pairing.FrameQueue`: the newest image, camera_info by
stamp); the worker takes the frames that are due on every camera at once
(:class:`~depth_node.scheduler.BatchScheduler`: one per camera, fair), runs
them through the one model as a batch (:func:`~depth_node.frame.process_batch`)
and each camera publishes its own ``depth/image``, ``depth/camera_info`` and
``points`` with the image's header, ``scan`` (with ``publish_scan``) in the
camera's body frame, and ``depth/colored``, computed only while it has
subscribers. Older frames are dropped, so a slow GPU never builds a backlog,
and a camera runs no inference while nobody subscribes to its outputs.

The node is a ROS 2 managed (lifecycle) node: configure loads the weights,
activate subscribes, deactivate stops inference, cleanup frees the model; each
transition applies to every camera. With ``autostart`` (default) it configures
and activates itself at start. Health goes to ``/diagnostics`` once a period,
one status per camera.

Logging: every line goes through one of three methods, one per severity (rclpy
refuses two severities from one call site), and repeated lines are throttled
per camera and kind of problem (:class:`~depth_node.diagnostics.LogThrottle`).
"""

import gc
import os
import sys
import threading
from typing import Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.exceptions import ParameterException
import rclpy.executors
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
import torch

from . import messages
from .anchor import transform_matrix
from .buffers import MessageBuffers
from .camera_pipeline import CameraPipeline
from .diagnostics import LogThrottle, network_input_text
from .errors import DepthNodeError, ModelLoadError, ParameterValueError
from .frame import process_batch
from .memory import LargeFrameTrim
from .models import load_model
from .params import (camera_parameter, check_parameter, check_parameters, descriptor,
                     PARAMETERS, PARAMETERS_BY_NAME, PER_CAMERA, split_camera_parameter,
                     unknown_parameters)
from .scheduler import BatchScheduler
from .startup import explain_ros_args, in_terms, NODE_TERMS, ros_args_problem

#: Seconds between node-wide lines of the same kind.
THROTTLE_S = 5.0
#: How long deactivate waits for the frame in progress.
DEACTIVATE_WAIT_S = 10.0
#: How long destroy_node (Ctrl-C, SIGTERM) waits for the frame in progress.
JOIN_TIMEOUT_S = 1.0
#: Seconds between checks of the input publishers' QoS (to match new or restarted ones).
QOS_CHECK_S = 1.0

_SUCCESS = TransitionCallbackReturn.SUCCESS
_FAILURE = TransitionCallbackReturn.FAILURE
_CUDA_OOM = getattr(torch.cuda, 'OutOfMemoryError', None) or type('NoCudaOom', (Exception,), {})


class DepthNode(LifecycleNode):
    """Metric depth, camera info and point cloud from one or several monocular RGB cameras."""

    def __init__(self, node_name: str = 'depth_node', **kwargs):
        super().__init__(node_name, **kwargs)
        try:
            self._cfg, self._own = self._declare_parameters()
        except DepthNodeError:
            self.destroy_node()
            raise
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._silence_libraries()
        self._warn_unknown_parameters()

        self.model = None
        self._state = 'unconfigured'
        self._autostarting = False
        self._load_error: Optional[str] = None
        self.stopping = False
        self._qos_timer = None
        #: tf2 buffer and listener for anchor clouds in other frames (None: not made yet,
        #: False: tf2_ros is not installed).
        self._tf = None
        self._memory = LargeFrameTrim()
        self._throttle = LogThrottle(THROTTLE_S)
        self.message_types = messages.rclpy_types()
        self.scheduler = BatchScheduler(self._cfg['max_batch'])
        #: One pipeline per camera, in the order of ``cameras`` (one unnamed without it).
        self.pipelines: List[CameraPipeline] = [
            CameraPipeline(self, name, self._cfg, self._own.get(name, {}), self.scheduler)
            for name in (self._cfg['cameras'] or ('',))]
        self._by_name: Dict[str, CameraPipeline] = {p.name: p for p in self.pipelines}

        self._diag_pub = None
        if self._cfg['diagnostics_period'] > 0.0:
            self._diag_pub = self.create_publisher(
                DiagnosticArray, '/diagnostics',
                QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                           reliability=ReliabilityPolicy.RELIABLE))
            self.create_timer(self._cfg['diagnostics_period'], self.publish_diagnostics)

        if self._cfg['autostart']:
            self._autostart()
        else:
            self._info(f"autostart is false: waiting unconfigured; run 'ros2 lifecycle set "
                       f"{self.get_fully_qualified_name()} configure' (loads the model), then "
                       "'... activate'")
        self._worker = threading.Thread(target=self._work, name='depth_node_worker', daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- logging
    def _info(self, text: str) -> None:
        self.get_logger().info(text)

    def _warn(self, text: str) -> None:
        self.get_logger().warning(text)

    def _error(self, text: str) -> None:
        self.get_logger().error(text)

    def _throttled(self, key, text: str) -> None:
        """Log an info ``text`` unless a line of ``key`` went out less than THROTTLE_S ago."""
        suppressed = self._throttle.allow(key)
        if suppressed is None:
            return
        if suppressed:
            text += f' ({suppressed} more like this in the last {THROTTLE_S:g} s)'
        self._info(text)

    # ---------------------------------------------------------------- parameters
    def _declare(self, name: str, value, spec):
        """Declare one parameter; raise ParameterValueError with rclpy's reason when refused."""
        try:
            return self.declare_parameter(name, value, descriptor(spec, name)).value
        except ParameterException as exc:
            # rclpy's own check (a declared range): its reason, as set_parameters says it.
            reason = str(exc.args[0] if exc.args else exc).split('Reason: ', 1)[-1]
            reason = reason[:-len(f': {name}')] if reason.endswith(f': {name}') else reason
            raise ParameterValueError(f'invalid parameter {name}: {reason}') from None

    def _store_double(self, name: str, value, checked) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and isinstance(checked, float):
            # A whole number for a double (-p rate:=5): store it as the double it is.
            self.set_parameters([Parameter(name, Parameter.Type.DOUBLE, checked)])

    def _declare_parameters(self):
        """
        Declare every parameter and the cameras' own; return ``(global values, own values)``.

        Raises ParameterValueError for a value that cannot be used.
        """
        cfg = {}
        for spec in PARAMETERS:
            default = list(spec.default) or None if spec.type == 'string_array' else spec.default
            value = self._declare(spec.name, default, spec)
            cfg[spec.name] = check_parameter(spec.name, value)
            self._store_double(spec.name, value, cfg[spec.name])
        check_parameters(cfg)
        own: Dict[str, dict] = {}
        for camera in cfg['cameras']:
            own[camera] = {}
            for name in PER_CAMERA:
                full = camera_parameter(camera, name)
                value = self._declare(full, None, PARAMETERS_BY_NAME[name])
                if value is not None:
                    checked = check_parameter(name, value)
                    own[camera][name] = checked
                    self._store_double(full, value, checked)
            self._check_camera(camera, cfg, own[camera])
        return cfg, own

    @staticmethod
    def _check_camera(camera: str, cfg: dict, own: dict) -> None:
        try:
            check_parameters({**cfg, **own})
        except ParameterValueError as exc:
            raise ParameterValueError(f'camera {camera}: {exc}') from None

    def _warn_unknown_parameters(self) -> None:
        """Say once, at start, which parameter overrides the node does not declare."""
        overrides = getattr(self, '_parameter_overrides', {}) or {}
        known = self.list_parameters([], 0).names
        for name, close in unknown_parameters(
                [n for n in overrides if not self.has_parameter(n)], known):
            self._warn(f"parameter '{name}' is not a parameter of this node: ignored"
                       + (f"; did you mean '{close}'?" if close else ''))

    def _on_set_parameters(self, params) -> SetParametersResult:
        cameras = self._cfg['cameras']
        updates: Dict[str, object] = {}
        own = {camera: dict(values) for camera, values in self._own.items()}
        try:
            for p in params:
                split = split_camera_parameter(p.name, cameras)
                if split is None:
                    updates[p.name] = check_parameter(p.name, p.value)
                    continue
                camera, name = split
                if p.type_ == Parameter.Type.NOT_SET:
                    raise ParameterValueError(
                        f'{p.name} cannot be unset while the node runs; set it to the value '
                        'you want (or restart without it to use the global one)')
                own[camera][name] = check_parameter(name, p.value)
            merged = {**self._cfg, **{k: v for k, v in updates.items() if k in self._cfg}}
            check_parameters(merged)
            for camera in cameras:
                self._check_camera(camera, merged, own[camera])
        except DepthNodeError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._cfg = merged
        self._own = own
        if 'reference_focal' in updates and self.model is not None:
            self.model.reference_focal = updates['reference_focal']
        if 'mask_sky' in updates and hasattr(self.model, 'mask_sky'):
            self.model.mask_sky = updates['mask_sky']
        if 'max_batch' in updates:
            self.scheduler.max_batch = updates['max_batch']
        for pipeline in self.pipelines:
            pipeline.update(self._cfg, self._own.get(pipeline.name, {}))
        return SetParametersResult(successful=True)

    @staticmethod
    def _silence_libraries() -> None:
        """Keep weight-loading bars and hub retry warnings out of the node's log."""
        try:
            from huggingface_hub.utils import logging as hub_logging
            from transformers.utils import logging as hf_logging
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            hub_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover - transformers is a dependency
            pass

    def _autostart(self) -> None:
        """Configure and activate from the constructor; raise ModelLoadError on failure."""
        self._autostarting = True
        try:
            if self.trigger_configure() != _SUCCESS:
                error = self._load_error or 'configure failed'
                self.destroy_node()
                raise ModelLoadError(error)
            self.trigger_activate()
        finally:
            self._autostarting = False

    # ---------------------------------------------------------------- subscriptions
    def _check_subscriptions(self) -> None:
        """Subscribe every camera, or re-subscribe where the publishers' QoS changed."""
        if self._state != 'active' or not self.context.ok():
            return
        waiting = []
        for pipeline in self.pipelines:
            waiting += pipeline.check_subscriptions()
        if waiting:
            self._throttled(('waiting_publisher',),
                            f"input_qos 'auto': waiting for a publisher on {', '.join(waiting)}")

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        """Load the weights and create the publishers; FAILURE if the model cannot load."""
        self._load_error = None
        cfg = self._cfg
        try:
            model = load_model(
                cfg['model'], cfg['device'], cfg['precision'], compile_net=cfg['compile'],
                reference_focal=cfg['reference_focal'], flip_tta=cfg['flip_tta'],
                mask_sky=cfg['mask_sky'], warmup=(640, 480), announce=self._info)
        except ModelLoadError as exc:
            self._load_error = str(exc)
            if not self._autostarting:  # autostart: main() prints the one error line
                self._error(f'configure failed: {exc}')
            return _FAILURE
        if cfg['flip_tta'] and not model.supports_flip_tta:
            self._warn(f'flip_tta is only used by ZoeDepth; ignored for {model.family}')
        self.model = model
        # One buffer per camera and payload, shared: cameras of one size take turns.
        buffers = MessageBuffers(len(self.pipelines))
        for pipeline in self.pipelines:
            pipeline.configure(model, buffers)
        self._state = 'inactive'
        self._info(f'ready: {model.describe()}, network input '
                   f'{network_input_text(model.processor)}, {self._inputs_text()}')
        return super().on_configure(state)

    def _inputs_text(self) -> str:
        def one(p):
            return (f'{p.image_topic} ({p.cfg["input_transport"]}'
                    f'{", rectified" if p.cfg["input_rectified"] else ", undistorted here"})')
        if not self._cfg['cameras']:
            return f'input {one(self.pipelines[0])}'
        return (f'{len(self.pipelines)} cameras: '
                + ', '.join(f'{p.name} {one(p)}' for p in self.pipelines))

    def on_activate(self, state) -> TransitionCallbackReturn:
        """Subscribe to every camera and start publishing."""
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._state = 'active'
        for pipeline in self.pipelines:
            pipeline.activate()
        self._check_subscriptions()
        self._qos_timer = self.create_timer(QOS_CHECK_S, self._check_subscriptions)
        if not self._autostarting:
            self._info('activated: processing frames')
        return result

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        """Unsubscribe, drop the waiting frames and wait for the ones in progress."""
        self._stop_processing()
        self._state = 'inactive'
        self._info('deactivated: no inference until activated again')
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Destroy the publishers and free the model and its GPU memory."""
        self._release()
        self._state = 'unconfigured'
        self._info('cleaned up: model unloaded')
        return super().on_cleanup(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        """Stop processing and free everything, from whichever state."""
        self._stop_processing()
        self._release()
        self._state = 'finalized'
        return super().on_shutdown(state)

    def on_error(self, state) -> TransitionCallbackReturn:
        """Free everything and go back to unconfigured."""
        self._stop_processing()
        self._release()
        self._state = 'unconfigured'
        return super().on_error(state)

    def _stop_processing(self) -> None:
        if self._qos_timer is not None:
            self.destroy_timer(self._qos_timer)
            self._qos_timer = None
        for pipeline in self.pipelines:
            pipeline.stop()
        for pipeline in self.pipelines:
            pipeline.queue.wait_idle(DEACTIVATE_WAIT_S)

    def _release(self) -> None:
        for pipeline in self.pipelines:
            pipeline.release()
        device = getattr(self.model, 'device', None)
        self.model = None
        gc.collect()
        if device is not None and device.type == 'cuda':
            torch.cuda.empty_cache()

    @property
    def lifecycle_state(self) -> str:
        """Return the lifecycle state: unconfigured, inactive, active or finalized."""
        return self._state

    # ---------------------------------------------------------------- transforms
    def transform_anchor(self, anchor, image_frame: str):
        """
        Return an anchor cloud with its transform into ``image_frame`` (tf2, at its stamp).

        tf2_ros is optional: without it the anchor goes on untransformed and the
        frame path says in one line that a cloud in another frame needs it.
        """
        if self._tf is None:
            try:
                import tf2_ros
            except ImportError:
                self._tf = False
            else:
                buffer = tf2_ros.Buffer()
                self._tf = (buffer, tf2_ros.TransformListener(buffer, self))
        if not self._tf:
            return anchor
        try:
            t = self._tf[0].lookup_transform(image_frame, anchor.frame_id,
                                             anchor.msg.header.stamp).transform
        except Exception as exc:  # noqa: B902 - tf2's LookupException, ExtrapolationException
            return anchor.with_transform_error(f'{type(exc).__name__}: {exc}')
        return anchor.with_transform(transform_matrix(
            (t.translation.x, t.translation.y, t.translation.z),
            (t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w)))

    # ---------------------------------------------------------------- worker
    def _work(self) -> None:
        while True:
            batch = self.scheduler.take()
            if batch is None:
                return
            items = [(self._by_name[key], frame) for key, frame in batch]
            try:
                self._process([(p, p.prepare(frame)) for p, frame in items])
            finally:
                for pipeline, frame in items:
                    size = len(frame.image.data)
                    frame = None
                    pipeline.queue.done()
                    self._memory.frame_done(size)

    def _process(self, prepared) -> None:
        """Run the prepared frames of several cameras through the model; publish each."""
        ready = [(p, pending) for p, pending in prepared if pending is not None]
        model = self.model
        if not ready or model is None:
            return
        done = set()
        try:
            for index, out in process_batch(
                    model, [(p.processor, pending.prepared) for p, pending in ready]):
                done.add(index)
                pipeline, pending = ready[index]
                if isinstance(out, BaseException):
                    self._fail(pipeline, out)
                else:
                    pipeline.publish(pending, out)
                # Published: its buffers are free for the next camera's frame of the batch.
                out = pending = None
        except Exception as exc:  # noqa: B902 - the worker must survive any batch
            for index, (pipeline, _) in enumerate(ready):
                if index not in done:
                    self._fail(pipeline, exc)

    def _fail(self, pipeline: CameraPipeline, exc: BaseException) -> None:
        if isinstance(exc, _CUDA_OOM):
            gc.collect()
            torch.cuda.empty_cache()  # a no-op where CUDA was never initialised
        pipeline.fail(exc, _CUDA_OOM)

    # ---------------------------------------------------------------- diagnostics
    def diagnostic_statuses(self) -> list:
        """Return one DiagnosticStatus per camera for the period since the previous call."""
        node = self.get_fully_qualified_name().lstrip('/')
        return [p.diagnostic_status(self._state, self.model,
                                    f'{node}: {p.name + " " if p.name else ""}metric depth')
                for p in self.pipelines]

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray on /diagnostics (the timer's callback)."""
        if self._diag_pub is None or not self.context.ok():
            return
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = self.diagnostic_statuses()
        self._diag_pub.publish(array)

    # ---------------------------------------------------------------- shutdown
    def destroy_node(self):
        """Stop and join the worker, free the model, then destroy the node."""
        self.stopping = True
        scheduler = getattr(self, 'scheduler', None)  # absent when the constructor failed early
        if scheduler is not None:
            scheduler.stop()
        worker = getattr(self, '_worker', None)
        if worker is not None and worker.is_alive() and threading.current_thread() is not worker:
            worker.join(timeout=JOIN_TIMEOUT_S)
        for pipeline in getattr(self, 'pipelines', ()):
            pipeline.processor = None
        self.model = None
        return super().destroy_node()


def run(args=None) -> int:
    """
    Run the node until Ctrl-C, SIGTERM or shutdown; return the exit status.

    rclpy's signal handlers shut the context down on SIGINT and SIGTERM; spin
    then returns (ExternalShutdownException, or KeyboardInterrupt on older
    distros), the worker is joined and the node destroyed. ROS arguments that
    rcl refuses, and a model or parameter that cannot be used, end the process
    with one ``error:`` line (in the command line's terms: ``-p model:=...``)
    and status 2.
    """
    argv = list(sys.argv if args is None else args)
    problem = ros_args_problem(argv)  # before rcl logs a line of its own and raises
    if problem is not None:
        print(f'[depth_node] error: {problem}', file=sys.stderr)
        return 2
    try:
        rclpy.init(args=args)
    except Exception as exc:  # noqa: B902 - rcl's RCLError, UnknownROSArgsError (per distro)
        print(f'[depth_node] error: {explain_ros_args(argv, str(exc))}', file=sys.stderr)
        return 2
    # The executor first: a SIGINT while the node starts (loading the model) shuts the
    # context down, and an executor made after that fails half-built.
    executor = rclpy.executors.SingleThreadedExecutor()
    node = None
    try:
        node = DepthNode()
        executor.add_node(node)
        executor.spin()
    except DepthNodeError as exc:
        print(f'[depth_node] error: {in_terms(str(exc), NODE_TERMS)}', file=sys.stderr)
        return 2
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    except Exception:  # noqa: B902 - a callback racing the shutdown is not an error
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return 0


def main(args=None) -> int:
    """
    Entry point of the ``depth_node`` executable: run, then end the process at once.

    The node has stopped cleanly when :func:`run` returns (worker joined, node
    destroyed, rclpy shut down); the interpreter's own teardown of torch and
    transformers would take another second or more, so the process ends here.
    """
    code = run(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == '__main__':
    sys.exit(main())
