# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
FastDepth, a real small metric network, for checks on real predictions of real frames.

FastDepth (MobileNet + NNConv5, Wofk et al., ICRA 2019, trained on NYU Depth v2,
MIT licence) as int8 TFLite in ``../shared/models`` (not shipped, not a model
family of the node): it gives real, imperfect metric predictions offline, so
the model-agnostic stages (scaling, anchoring, stabilisation, metrics) can be
checked on real data. Needs ``ai-edge-litert`` (a test tool in ``make venv``).
"""

from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

#: The model file beside a checkout (``../shared/models``), where present.
DEFAULT_PATH = (Path(__file__).resolve().parents[3] / 'shared' / 'models'
                / 'fastdepth_nyu_int8_224.tflite')
#: fast-depth's NYU evaluation transform: resize to 250 px high, centre crop 228 x 304.
NYU_CROP = (250.0, 228.0, 304.0)


class FastDepth:
    """
    The network, loaded once; :meth:`predict` returns metres at the input's size.

    ``crop='nyu'`` predicts as its authors evaluate NYU (the centre crop of
    their transform, resized to 224 x 224; NaN outside the crop); ``crop=None``
    resizes the whole image (INTER_AREA) to 224 x 224. The prediction goes back
    to the input size with bilinear interpolation.
    """

    def __init__(self, path: Optional[Union[str, Path]] = None):
        from ai_edge_litert.interpreter import Interpreter
        self.path = Path(path) if path is not None else DEFAULT_PATH
        if not self.path.is_file():
            raise FileNotFoundError(f'FastDepth model not found: {self.path}')
        self._net = Interpreter(model_path=str(self.path))
        self._net.allocate_tensors()
        self._input = self._net.get_input_details()[0]
        self._output = self._net.get_output_details()[0]
        scale, zero = self._output['quantization']
        self._scale = float(scale) or 0.0717
        self._zero = float(zero)

    @staticmethod
    def available(path: Optional[Union[str, Path]] = None) -> bool:
        """Whether the model file and ai-edge-litert are both here."""
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            return False
        return (Path(path) if path is not None else DEFAULT_PATH).is_file()

    def network(self, rgb224: np.ndarray) -> np.ndarray:
        """Return the network's metres for a 224 x 224 x 3 uint8 RGB image."""
        self._net.set_tensor(self._input['index'], np.ascontiguousarray(rgb224)[None])
        self._net.invoke()
        raw = self._net.get_tensor(self._output['index'])[0, :, :, 0].astype(np.float32)
        return (raw - np.float32(self._zero)) * np.float32(self._scale)

    def predict(self, rgb: np.ndarray, crop: Optional[str] = None) -> np.ndarray:
        """Return metric depth (``H x W`` float32) of an ``H x W x 3`` uint8 RGB image."""
        h, w = rgb.shape[:2]
        size = tuple(int(v) for v in self._input['shape'][2:0:-1])
        if crop is None:
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            return cv2.resize(self.network(small), (w, h), interpolation=cv2.INTER_LINEAR)
        if crop != 'nyu':
            raise ValueError(f"crop must be None or 'nyu'; got {crop!r}")
        high, crop_h, crop_w = NYU_CROP
        ch, cw = crop_h * h / high, crop_w * h / high
        y0, y1 = round((h - ch) / 2), round((h + ch) / 2)
        x0, x1 = round((w - cw) / 2), round((w + cw) / 2)
        small = cv2.resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), size,
                           interpolation=cv2.INTER_AREA)
        pred = np.full((h, w), np.nan, np.float32)
        pred[y0:y1, x0:x1] = cv2.resize(self.network(small), (x1 - x0, y1 - y0),
                                        interpolation=cv2.INTER_LINEAR)
        return pred
