# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Per-stage timing of a frame: wall milliseconds, and on CUDA the device's own share.

Every stage of the frame path (the model's upload, preprocess, network and
postprocess, the payload stages) runs inside :func:`stage`. With a plain
``dict`` as ``timings`` (the node) a stage adds its wall milliseconds, measured
between two device synchronisations on CUDA so the stages add up to the frame.
With a :class:`StageTimes` (``depth_node_bench``) a stage on a CUDA device also
records two CUDA events, giving

- **device** time: what the GPU spent between the stage's start and end, and
- **host** time: what the CPU spent in the stage before it waited for the GPU
  (launching kernels, Python, numpy; plus any wait the stage itself makes, such
  as a device -> host copy),

and, when ``ranges`` is on, marks the stage as a ``torch.profiler`` range
(``depth_node.<stage>``) so a profile shows which stage each operator ran in.
Nothing here runs on the GPU unless the device is a CUDA device.
"""

import contextlib
import time
from typing import Callable, Dict, List, Optional, Tuple


class ClockTimes(dict):
    """
    Milliseconds per stage on another clock than wall time (``depth_node_bench``'s calibration).

    ``clock`` is e.g. :func:`time.thread_time` (CPU time of the calling thread:
    what other processes take from a loaded machine is not counted) or
    :func:`time.process_time` (CPU time of every thread of the process).
    """

    def __init__(self, clock: Callable[[], float] = time.thread_time):
        super().__init__()
        self.clock = clock


def clock_of(timings: Optional[dict]) -> Callable[[], float]:
    """Return the clock stages of ``timings`` are measured with (wall time by default)."""
    return getattr(timings, 'clock', time.perf_counter)


class StageTimes(dict):
    """
    Milliseconds per stage (the ``dict`` the frame path fills), plus device and host times.

    ``event`` makes a timing event (default ``torch.cuda.Event(enable_timing=True)``;
    tests pass a stand-in). Call :meth:`device_ms` after the frame: it waits
    for the device and returns the device milliseconds of each stage.
    """

    def __init__(self, *, ranges: bool = False, event: Optional[Callable[[], object]] = None):
        super().__init__()
        #: Mark stages as torch.profiler ranges.
        self.ranges = bool(ranges)
        self._event = event
        self._events: Dict[str, List[Tuple[object, object]]] = {}
        #: Host milliseconds per stage (CUDA stages only): until the stage was issued.
        self.host: Dict[str, float] = {}

    def new_event(self):
        """Return a started-to-be timing event."""
        if self._event is not None:
            return self._event()
        import torch
        return torch.cuda.Event(enable_timing=True)

    def add_events(self, name: str, start, end) -> None:
        """Remember the two events recorded around stage ``name``."""
        self._events.setdefault(name, []).append((start, end))

    def device_ms(self) -> Dict[str, float]:
        """Return the device milliseconds of each CUDA stage (waits for the last event)."""
        out: Dict[str, float] = {}
        for name, pairs in self._events.items():
            pairs[-1][1].synchronize()
            out[name] = sum(float(start.elapsed_time(end)) for start, end in pairs)
        return out


def _synchronize(device) -> None:
    import torch
    torch.cuda.synchronize(device)


def is_cuda(device) -> bool:
    """Whether ``device`` (a torch.device, a string or None) is a CUDA device."""
    return device is not None and getattr(device, 'type', str(device).split(':')[0]) == 'cuda'


@contextlib.contextmanager
def stage(timings: Optional[dict], name: str, device=None):
    """
    Time the block as stage ``name`` into ``timings`` (None: not timed).

    On a CUDA ``device`` the block is bracketed by synchronisations (so its
    time includes the kernels it launched) and, for a :class:`StageTimes`, by
    CUDA events; elsewhere it is plain wall time (or the clock of a
    :class:`ClockTimes`).
    """
    if timings is None:
        yield
        return
    cuda = is_cuda(device)
    detailed = cuda and isinstance(timings, StageTimes)
    ranges = isinstance(timings, StageTimes) and timings.ranges
    if cuda:
        _synchronize(device)
    clock = clock_of(timings)
    t0 = clock()
    if detailed:
        start = timings.new_event()
        start.record()
    with _profiler_range(f'depth_node.{name}') if ranges else contextlib.nullcontext():
        yield
    if detailed:
        end = timings.new_event()
        end.record()
        timings.add_events(name, start, end)
        timings.host[name] = timings.host.get(name, 0.0) + (clock() - t0) * 1000.0
    if cuda:
        _synchronize(device)
    timings[name] = timings.get(name, 0.0) + (clock() - t0) * 1000.0


def _profiler_range(name: str):
    from torch.profiler import record_function
    return record_function(name)
