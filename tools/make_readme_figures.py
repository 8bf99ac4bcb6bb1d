# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Make the README's pictures of real network output under ``doc/``.

The depth comes from a real metric network that runs offline: FastDepth (MobileNet +
NNConv5, Wofk et al., ICRA 2019, trained on NYU Depth v2, MIT licence), int8 TFLite, on
the CPU through ``ai-edge-litert``. It is not one of depth_node's model families (the
seed checkpoints cannot be downloaded here); it stands in for one to show what
depth_node's own code makes of a real prediction. Input: a frame of the bundled sample
stream (``depth_node/sample``, rendered by ``depth_node/testing/synthetic.py``), resized to the
network's 224 x 224. The int8 network outputs depth in steps of 7 cm; a 5 x 5 box filter
at 224 x 224 smooths those steps (as a float network's output would be) before the depth
is resized back to 640 x 480 (bilinear). Everything after that is depth_node's code:
``colorize_depth_bgr`` (the ``depth/colored`` topic), ``EdgeFilter`` and back-projection
with the sample camera's intrinsics.

Writes:

* ``doc/fastdepth_input_depth.png``: the input beside its colourised depth;
* ``doc/fastdepth_cloud.png``: the back-projected cloud seen from above and to the left of
  the camera, without (left) and with (right) the edge filter.

Usage, from the repository root (needs ``pip install ai-edge-litert``)::

    python3 tools/make_readme_figures.py --model /path/to/fastdepth_nyu_int8_224.tflite
"""

import argparse
import json
from pathlib import Path
import sys

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depth_node.filters import EdgeFilter  # noqa: E402, I100
from depth_node.geometry import backproject, Intrinsics  # noqa: E402
from depth_node.testing.synthetic import Pose, SAMPLE_CAMERA  # noqa: E402
from depth_node.visualize import colorize_depth_bgr, side_by_side  # noqa: E402

SAMPLE = ROOT / 'depth_node' / 'sample'
#: Depth range of the colour map, metres.
RANGE = (0.8, 4.0)
#: Box filter (pixels, at the network's resolution) that smooths the int8 output's steps.
DEQUANTIZE = 5


def fastdepth(model_path: str, rgb: np.ndarray) -> np.ndarray:
    """Return FastDepth's metric depth of an RGB image, resized back to its size."""
    from depth_node.testing.fastdepth import FastDepth

    small = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA)
    depth = FastDepth(model_path).network(small)
    depth = cv2.blur(depth, (DEQUANTIZE, DEQUANTIZE))
    height, width = rgb.shape[:2]
    return cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)


def render_cloud(points: np.ndarray, colors: np.ndarray, valid: np.ndarray,
                 size=(640, 480)) -> np.ndarray:
    """Splat a cloud (optical frame) into an image seen from above-left, nearest wins."""
    view = Pose.look_at(eye=(-2.6, -1.6, 0.6), target=(0.2, 0.2, 2.4))
    rel = points[valid].astype(np.float64) - view.translation
    cam = rel @ view.rotation  # world -> virtual camera: R^T (X - t)
    col = colors[valid]
    front = cam[:, 2] > 0.1
    cam, col = cam[front], col[front]
    width, height = size
    f = 0.8 * width
    u = np.round(f * cam[:, 0] / cam[:, 2] + width / 2).astype(int)
    v = np.round(f * cam[:, 1] / cam[:, 2] + height / 2).astype(int)
    image = np.full((height, width, 3), 40, np.uint8)
    order = np.argsort(-cam[:, 2])  # far first, near overwrite
    u, v, col = u[order], v[order], col[order]
    for du in (0, 1):
        for dv in (0, 1):
            uu, vv = u + du, v + dv
            inside = (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
            image[vv[inside], uu[inside]] = col[inside]
    return image


def label(image: np.ndarray, text: str) -> np.ndarray:
    """Return the RGB image with a caption strip above it."""
    strip = np.full((24, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([strip, image], axis=0)


def save(rgb: np.ndarray, path: Path) -> None:
    """Write a small PNG: 256 colours (median cut), no dithering."""
    image = Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT,
                                          dither=Image.Dither.NONE)
    image.save(path, optimize=True)


def main(argv=None) -> int:
    """Write the figures and print what made them."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='/work/shared/models/fastdepth_nyu_int8_224.tflite',
                        help='FastDepth int8 TFLite file (default: %(default)s)')
    parser.add_argument('--frame', type=int, default=3, help='sample frame (default: 3)')
    parser.add_argument('--out', type=Path, default=ROOT / 'doc')
    args = parser.parse_args(argv)

    intr = Intrinsics(**SAMPLE_CAMERA)
    rgb = np.asarray(Image.open(SAMPLE / f'frame_{args.frame:03d}.jpg').convert('RGB'))
    truth = np.asarray(Image.open(SAMPLE / f'depth_{args.frame:03d}.png')).astype(np.float32)
    truth /= 1000.0
    depth = fastdepth(args.model, rgb)
    args.out.mkdir(parents=True, exist_ok=True)

    colored = colorize_depth_bgr(depth, *RANGE)[..., ::-1]  # the depth/colored topic, as RGB
    pair = side_by_side(label(rgb, 'input (rendered sample frame)'),
                        label(colored, f'FastDepth depth ({RANGE[0]}-{RANGE[1]} m), '
                                       'depth_node depth/colored'))
    save(pair, args.out / 'fastdepth_input_depth.png')

    edge = EdgeFilter()
    flying = edge.mask(depth, intr)
    points = backproject(depth, intr)
    valid = np.isfinite(depth) & (depth > 0)
    raw = render_cloud(points, rgb, valid)
    filtered = render_cloud(points, rgb, valid & ~flying)
    clouds = np.concatenate([label(raw, 'points, edge_filter off'),
                             label(filtered, 'points, edge_filter on (10 deg)')], axis=1)
    save(clouds, args.out / 'fastdepth_cloud.png')

    ok = (truth > 0) & valid
    abs_rel = float(np.mean(np.abs(depth[ok] - truth[ok]) / truth[ok]))
    print(json.dumps({
        'frame': f'depth_node/sample/frame_{args.frame:03d}.jpg', 'model': args.model,
        'abs_rel_vs_rendered_truth': round(abs_rel, 3),
        'flying_pixels_removed': int(flying.sum()),
        'flying_fraction': round(float(flying.mean()), 4)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
