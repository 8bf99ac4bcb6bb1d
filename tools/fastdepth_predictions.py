# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Write FastDepth's metric predictions of an RGB-D folder, one ``<name>.npy`` per image.

This makes the ``fastdepth_pred/`` folder of README's ``depth_node_eval`` example
(``--predictions fastdepth_pred/``): predictions of a real metric network that
runs offline, to try the evaluator without any of depth_node's checkpoints.
FastDepth (MobileNet + NNConv5, Wofk et al., ICRA 2019, trained on NYU Depth v2,
MIT licence; int8 TFLite, ``../shared/models`` in this project's workspace) runs
on the CPU through ``ai-edge-litert``. It is not one of depth_node's model
families.

Each image is fed as FastDepth's NYU evaluation transform does: resized to 250
px high, centre crop of 228 x 304 px, resized to the network's 224 x 224; the
same crop is taken at full resolution (INTER_AREA down to 224 x 224) and the
prediction is resized back into it (bilinear). Outside the crop there is no
prediction: NaN, which ``depth_node_eval`` leaves out and counts. Image names
are the evaluator's own (:func:`depth_node.offline.datasets.find_samples`), so
every sample finds its prediction.

Usage, from the repository root (``make`` installs ``ai-edge-litert`` in
``.venv``)::

    .venv/bin/python tools/fastdepth_predictions.py ../shared/data/rgbd/nyu fastdepth_pred/
"""

import argparse
from pathlib import Path
import sys

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depth_node.offline.datasets import find_samples  # noqa: E402, I100
from depth_node.offline.sources import read_rgb  # noqa: E402

#: The FastDepth checkpoint beside this repository in the project's workspace.
DEFAULT_MODEL = ROOT.parent / 'shared' / 'models' / 'fastdepth_nyu_int8_224.tflite'
#: Metres per output step of the int8 network, where its quantisation does not say.
DEFAULT_STEP_M = 0.0717


class FastDepth:
    """FastDepth int8 TFLite: metric depth of an RGB image, NaN outside its centre crop."""

    def __init__(self, model_path):
        from ai_edge_litert.interpreter import Interpreter
        self.net = Interpreter(model_path=str(model_path))
        self.net.allocate_tensors()
        self.inp = self.net.get_input_details()[0]
        self.out = self.net.get_output_details()[0]
        self.step = float(self.out['quantization'][0]) or DEFAULT_STEP_M

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Return ``H x W`` float32 metres for an ``H x W x 3`` uint8 RGB image."""
        h, w = rgb.shape[:2]
        ch, cw = 228 * h / 250, 304 * h / 250
        y0, y1 = round((h - ch) / 2), round((h + ch) / 2)
        x0, x1 = round((w - cw) / 2), round((w + cw) / 2)
        x = cv2.resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), (224, 224),
                       interpolation=cv2.INTER_AREA)
        self.net.set_tensor(self.inp['index'], x[None].astype(np.uint8))
        self.net.invoke()
        depth = self.net.get_tensor(self.out['index'])[0, :, :, 0].astype(np.float32)
        pred = np.full((h, w), np.nan, np.float32)
        pred[y0:y1, x0:x1] = cv2.resize(depth * self.step, (x1 - x0, y1 - y0),
                                        interpolation=cv2.INTER_LINEAR)
        return pred


def main(argv=None) -> int:
    """Predict every image of the folder; return the exit status."""
    parser = argparse.ArgumentParser(
        prog='fastdepth_predictions.py',
        description="Write FastDepth's metric depth of each image of an RGB-D folder as "
                    '<name>.npy (float32 metres, NaN = no prediction), for depth_node_eval '
                    '--predictions.')
    parser.add_argument('data', help='RGB-D folder in any layout depth_node_eval reads')
    parser.add_argument('out', help='folder for the <name>.npy files')
    parser.add_argument('--model', default=str(DEFAULT_MODEL),
                        help='FastDepth int8 TFLite file (default: %(default)s)')
    args = parser.parse_args(argv)
    if not Path(args.model).is_file():
        print(f'fastdepth_predictions.py: error: no FastDepth model at {args.model}; pass '
              '--model <fastdepth_nyu_int8_224.tflite>', file=sys.stderr)
        return 2
    try:
        net = FastDepth(args.model)
    except ImportError:
        print('fastdepth_predictions.py: error: needs the Python package ai-edge-litert '
              '(pip install ai-edge-litert)', file=sys.stderr)
        return 2
    samples = find_samples(Path(args.data))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for sample in samples:
        np.save(out / f'{sample.name}.npy', net(read_rgb(sample.rgb_path)))
    print(f'fastdepth_predictions.py: wrote {len(samples)} prediction(s) to {out}/')
    return 0 if samples else 1


if __name__ == '__main__':
    sys.exit(main())
