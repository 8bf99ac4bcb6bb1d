# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Temporal stabilisation (issue 22), the node's part, through the installed executable.

The node (own process, real logger) with ``temporal.enabled`` is fed a sequence
of frames; its depth and cloud must be those of the one frame path
(:class:`~depth_node.frame.FrameProcessor` in this process) fed the same frames
with the same stamps, byte for byte, frame after frame (the stabiliser keeps state
from frame to frame, so one frame out of step would show). A gap in the stamps
gives its line, and the diagnostics carry the stabiliser's values.
"""

from depth_node.frame import FrameProcessor, OutputOptions
from depth_node.params import PARAMETERS
from depth_node.testing.blackbox import camera_info, node_executable, NodeProcess, rgb_image, \
    RosPeer
from depth_node.testing.tiny_models import textured_image
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(node_executable() is None,
                                reason='the depth_node executable is not installed')

W, H, F = 64, 48, 60.0
FRAME_ID = 'cam_color_optical_frame'


def test_the_node_stabilises_like_the_frame_path(peer_context, ros_domain_id, fast_da_dir):
    from depth_node.models import load_model
    proc = NodeProcess(['-r', '__ns:=/steady', '-p', f'model:={fast_da_dir}', '-p',
                        'device:=cpu', '-p', 'rate:=0.0', '-p', 'diagnostics_period:=0.2',
                        '-p', 'temporal.enabled:=true'], ros_domain_id).start()
    peer = RosPeer(peer_context, '/steady')
    reference = FrameProcessor(load_model(fast_da_dir, 'cpu', 'fp32'))
    defaults = {p.name: p.default for p in PARAMETERS}
    opts = OutputOptions.from_parameters({**defaults, 'rate': 0.0, 'temporal.enabled': True})
    # A slowly panning scene: the network's scale breathes, the stabiliser holds it.
    base = textured_image(H, W + 40, seed=7)
    try:
        peer.wait_for(lambda: (peer.connected() and peer.diag is not None)
                      or not proc.alive(), 120.0, 'the node to serve')
        assert proc.alive(), proc.tail()
        stamp_ns = 10 ** 9
        mark = proc.mark()
        factors = []
        for k in range(12):
            stamp_ns += int((2.0 if k == 8 else 0.1) * 1e9)  # a 2 s gap before frame 8
            stamp = divmod(stamp_ns, 10 ** 9)
            rgb = np.ascontiguousarray(base[:, k:k + W])
            image = rgb_image(W, H, rgb, stamp=stamp, frame_id=FRAME_ID)
            info = camera_info(W, H, F, F, (W - 1) / 2, (H - 1) / 2, stamp=stamp,
                               frame_id=FRAME_ID)
            peer.publish(image, info)
            depth_msg, _, cloud_msg = peer.wait_outputs(stamp, 60.0)
            want = reference.process(image, info, opts)
            assert bytes(depth_msg.data) == bytes(want.depth_data), f'frame {k}'
            assert bytes(cloud_msg.data) == bytes(want.cloud.data), f'frame {k}'
            factors.append(want.temporal.factor if want.temporal is not None else None)
        assert any(f is not None and f != 1.0 for f in factors), factors  # it did something
        proc.wait_line(r'temporal stabilisation starts again: 2\.000 s since the previous '
                       r'frame \(more than temporal\.max_gap 0\.5 s\)', 20.0, mark)
        diag = peer.next_diag()
        assert diag['temporal.resets.gap'] == '1', diag
        assert diag['temporal.factor'] != 'n/a'
        assert not proc.tracebacks(), proc.tail()
    finally:
        peer.close()
        proc.stop()
