# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Write FastDepth's real predictions of an RGB-D folder as ``<name>.npy`` (metres).

FastDepth (MobileNet + NNConv5, Wofk et al., ICRA 2019, trained on NYU Depth v2, MIT
licence) is the small real metric network in ``../shared/models`` that runs offline on
the CPU (``depth_node/testing/fastdepth.py``). This script predicts every image that
``depth_node_eval`` finds in a dataset folder and writes the folder that
``depth_node_eval --predictions DIR`` reads: one ``<name>.npy`` per image, float32
metres at the image's size, named as eval names the sample.

Usage, from the repository root (needs ``ai-edge-litert``)::

    python3 tools/fastdepth_predictions.py ../shared/data/rgbd/kitti fastdepth_pred/kitti

``--crop nyu`` predicts as FastDepth's authors evaluate NYU (their centre crop, NaN
outside it); the default resizes the whole image to 224 x 224 and the prediction back
(bilinear).
"""

import argparse
from pathlib import Path
import sys

from depth_node.offline.datasets import find_samples
from depth_node.offline.sources import read_rgb
from depth_node.testing.fastdepth import FastDepth
import numpy as np


def default_model() -> Path:
    """Return ``shared/models/<FastDepth>`` of the nearest folder above this file or the cwd."""
    name = 'fastdepth_nyu_int8_224.tflite'
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in start.parents:
            if (folder / 'shared' / 'models' / name).is_file():
                return folder / 'shared' / 'models' / name
    return Path('shared') / 'models' / name


def main(argv=None) -> int:
    """Predict every image of the folder and write ``<name>.npy``; return the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    p.add_argument('data', help='dataset folder, as depth_node_eval takes it')
    p.add_argument('out', help='folder to write <name>.npy into (made if missing)')
    p.add_argument('--model', help='the .tflite file (default: shared/models/ in a folder above '
                                   'this checkout or the current directory)')
    p.add_argument('--crop', choices=('none', 'nyu'), default='none',
                   help="'nyu': the authors' NYU centre crop; default: the whole image")
    args = p.parse_args(argv)
    net = FastDepth(args.model or default_model())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = find_samples(args.data)
    for sample in samples:
        pred = net.predict(read_rgb(sample.rgb_path), crop=None if args.crop == 'none' else 'nyu')
        np.save(out / f'{sample.name}.npy', pred.astype(np.float32))
    print(f'{Path(__file__).name}: wrote {len(samples)} prediction(s) to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
