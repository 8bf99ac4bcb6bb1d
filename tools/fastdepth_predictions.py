# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Write FastDepth's real predictions of a dataset folder, for ``depth_node_eval --predictions``.

FastDepth (``../shared/models``, run by :mod:`depth_node.testing.fastdepth`) is not a
model family of the node; its predictions are real metric predictions of real
frames, used to measure the model-agnostic stages (stabilisation, anchoring).
Each RGB image that ``depth_node_eval`` pairs with ground truth gets
``<name>.npy`` (float32 metres, the image's size) in the output folder::

    python tools/fastdepth_predictions.py ../shared/data/rgbd/7scenes_redkitchen fastdepth_pred/
"""

import argparse
from pathlib import Path
import sys

import numpy as np

from depth_node.offline.datasets import find_samples
from depth_node.offline.sources import read_rgb
from depth_node.testing.fastdepth import DEFAULT_PATH, FastDepth


def main(argv=None) -> int:
    """Write the predictions; return the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('data', help='dataset folder (a layout depth_node_eval reads)')
    p.add_argument('out', help='folder for <name>.npy')
    p.add_argument('--model', default=str(DEFAULT_PATH), help='FastDepth .tflite file')
    p.add_argument('--crop', choices=('none', 'nyu'), default='none',
                   help="'nyu': the authors' NYU centre crop (NaN outside); default: the whole "
                        'image resized to 224 x 224')
    args = p.parse_args(argv)
    net = FastDepth(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = find_samples(args.data)
    for sample in samples:
        depth = net.predict(read_rgb(sample.rgb_path), None if args.crop == 'none' else 'nyu')
        np.save(out / f'{sample.name}.npy', depth.astype(np.float32))
    print(f'{len(samples)} prediction(s) in {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
