# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Depth Anything 3 metric (``depth-anything/DA3METRIC-LARGE``), without the official package.

The hub repository holds the files of the official ``depth_anything_3`` package
(ByteDance-Seed/Depth-Anything-3): ``config.json`` naming the preset
(``{"model_name": "da3metric-large", ...}``; no transformers ``model_type``) and
``model.safetensors`` with the state dict of its ``DepthAnything3`` wrapper
(keys ``model.backbone.pretrained...``, ``model.head...``). Both load here
through :mod:`depth_node.models.da3_net`, which re-implements the monocular
network; only ``da3metric*`` presets are accepted (the relative ``da3mono`` and
the any-view and nested ones are refused).

Pre-processing is the official ``InputProcessor`` with its defaults
(``process_res`` 504, ``upper_bound_resize``): the longest side is resized to
504 with OpenCV (``INTER_AREA`` when shrinking, ``INTER_CUBIC`` when enlarging),
then each side to the nearest multiple of 14 by a second small resize, and the
uint8 result is normalised with the ImageNet mean and std. It runs on the host
with the same OpenCV calls, so the network input is identical to the official
one; only the small image is uploaded.

Post-processing: the network predicts canonical depth, the depth the scene would
have if the camera's focal length were 300 px at the network input. The official
rule (``apply_metric_scaling``; the project README: ``metric_depth = focal *
net_output / 300``) uses the mean of fx and fy of the intrinsics *after* the
input processor rescaled them to the network input, so here
``depth = canonical * (fx * w_net / w + fy * h_net / h) / 2 / 300``
(``reference_focal`` replaces the 300). Pixels the sky head marks (activation
>= 0.3, the threshold of the official forward) are ``+inf``: too far to measure.
Before the depth is upsampled to the image, the sky takes the 99th percentile of
the non-sky depth, as the official forward fills it (``_process_mono_sky_estimation``;
it estimates the percentile from 100,000 random pixels where there are more, here it
is exact), so the pixels beside the sky blend with that and not with the sky head's
own depth; with 10 or fewer sky or non-sky pixels nothing is filled, as there.
"""

import json
import os
from typing import NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .base import DepthModel, Focal, IMAGENET_MEAN, IMAGENET_STD
from .da3_net import DA3NetConfig, DepthAnything3Net, PATCH_SIZE, VIT_PRESETS
from .depth_anything import focal_at
from ..errors import ModelLoadError, UnsupportedModelError

#: Focal length (px at the network input) of DA3's canonical depth space.
CANONICAL_FOCAL = 300.0
#: Official default processing resolution (longest side) and method.
PROCESS_RES = 504
#: Sky-head activation from which a pixel is sky (``compute_sky_mask`` in the official code).
SKY_THRESHOLD = 0.3
#: The official sky fill: this quantile of the non-sky depth, when both the sky and the
#: rest have more than SKY_FILL_MIN_PIXELS pixels (``_process_mono_sky_estimation``).
SKY_FILL_QUANTILE = 0.99
SKY_FILL_MIN_PIXELS = 10

CONFIG_NAME = 'config.json'
WEIGHTS_NAME = 'model.safetensors'
METRIC_EXAMPLE = 'depth-anything/DA3METRIC-LARGE'

#: The monocular presets of the official package (``configs/da3metric-large.yaml``, identical
#: to ``da3mono-large.yaml``): backbone and head arguments.
MONO_LARGE = {
    'net': {'name': 'vitl', 'out_layers': [4, 11, 17, 23], 'alt_start': -1,
            'qknorm_start': -1, 'rope_start': -1, 'cat_token': False},
    'head': {'dim_in': 1024, 'output_dim': 1, 'features': 256,
             'out_channels': [256, 512, 1024, 1024]},
}

#: The only DPT arguments with another value than the official default would change the
#: network; these are the defaults of ``depth_anything_3.model.dpt.DPT``.
_HEAD_DEFAULTS = {'patch_size': 14, 'pos_embed': False, 'down_ratio': 1, 'norm_type': 'idt',
                  'use_ln_for_heads': False}


class DA3Config:
    """What the ``config.json`` of a monocular metric DA3 checkpoint says."""

    model_type = 'depth_anything_3'

    def __init__(self, model_name: str, net: DA3NetConfig, path: str):
        self.model_name = model_name
        self.net = net
        #: Directory or hub id the config came from.
        self.path = path


def _unsupported(model: str, what: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"'{model}' is {what}; pass a Depth Anything 3 metric checkpoint, e.g. "
        f'model:={METRIC_EXAMPLE}')


def refuse_non_metric(model_name: str, model: str) -> None:
    """Raise UnsupportedModelError unless ``model_name`` is a monocular metric DA3 preset."""
    name = model_name.lower()
    if name.startswith('da3metric'):
        return
    if name.startswith('da3mono'):
        raise _unsupported(model, f"a relative-depth Depth Anything 3 checkpoint ('{name}'): "
                                  'its output is not in metres')
    if name.startswith('da3nested'):
        raise _unsupported(model, f"a nested any-view Depth Anything 3 checkpoint ('{name}'), "
                                  'which needs its multi-view camera branch; not supported')
    raise _unsupported(model, f"an any-view Depth Anything 3 checkpoint ('{name}'): relative "
                              'multi-view depth and camera poses, not metres')


def _net_config(section: dict, model: str) -> DA3NetConfig:
    """Build the network numbers from the config's ``net`` and ``head`` sections."""
    net = dict(section.get('net') or MONO_LARGE['net'])
    head = dict(section.get('head') or MONO_LARGE['head'])

    def bad(what):
        return ModelLoadError(f"'{model}' is an unsupported Depth Anything 3 variant ({what}); "
                              f'pass {METRIC_EXAMPLE}')

    for key in ('cam_dec', 'cam_enc', 'gs_head', 'gs_adapter'):
        if section.get(key):
            raise bad(f'it has a {key} module')
    for key in ('alt_start', 'qknorm_start', 'rope_start'):
        if int(net.get(key, -1)) != -1:
            raise bad(f'net.{key} = {net[key]}')
    if net.get('cat_token', False):
        raise bad('net.cat_token is true')
    head_class = (head.get('__object__') or {}).get('name', 'DPT')
    if head_class != 'DPT':
        raise bad(f'head {head_class}')
    for key, value in _HEAD_DEFAULTS.items():
        if key in head and head[key] != value:
            raise bad(f'head.{key} = {head[key]}')
    if int(head.get('output_dim', 1)) != 1:
        raise bad(f"head.output_dim = {head['output_dim']}")
    name = str(net.get('name', 'vitl'))
    # embed_dim / depth / num_heads: not in official configs (the preset name fixes them);
    # accepted so the tests can write tiny checkpoints in the official file format.
    if name not in VIT_PRESETS and not all(k in net for k in ('embed_dim', 'depth', 'num_heads')):
        raise bad(f"backbone '{name}'")
    dim, depth, heads = VIT_PRESETS.get(name, (0, 0, 0))
    cfg = DA3NetConfig(
        embed_dim=int(net.get('embed_dim', dim)), depth=int(net.get('depth', depth)),
        num_heads=int(net.get('num_heads', heads)),
        out_layers=tuple(int(i) for i in net.get('out_layers', MONO_LARGE['net']['out_layers'])),
        features=int(head.get('features', 256)),
        out_channels=tuple(int(c) for c in head.get('out_channels', (256, 512, 1024, 1024))),
        activation=str(head.get('activation', 'exp')),
        sky_activation=str(head.get('sky_activation', 'relu')),
        use_sky_head=bool(head.get('use_sky_head', True)))
    if int(head.get('dim_in', cfg.embed_dim)) != cfg.embed_dim:
        raise bad(f"head.dim_in {head['dim_in']} != backbone width {cfg.embed_dim}")
    if len(cfg.out_layers) != 4 or len(cfg.out_channels) != 4 or not all(
            0 <= i < cfg.depth for i in cfg.out_layers):
        raise bad(f'out_layers {list(cfg.out_layers)}, out_channels {list(cfg.out_channels)}')
    return cfg


def _cached_file(model: str, filename: str) -> Optional[str]:
    """Return the local path of ``filename`` of a directory or a cached hub repo, or None."""
    path = os.path.expanduser(model)
    if os.path.isdir(path):
        candidate = os.path.join(path, filename)
        return candidate if os.path.isfile(candidate) else None
    try:
        from huggingface_hub import try_to_load_from_cache
        found = try_to_load_from_cache(model, filename)
    except (ValueError, OSError, ImportError):
        return None
    return found if isinstance(found, str) else None


def read_config(model: str) -> Optional[DA3Config]:
    """
    Return the DA3 config of ``model`` (a directory or a hub id already in the cache).

    None when there is no such local file or it is not an official DA3 ``config.json``
    (a dict with a ``model_name`` starting with ``da3`` and no transformers
    ``model_type``). Non-metric DA3 checkpoints raise UnsupportedModelError.
    """
    path = _cached_file(model, CONFIG_NAME)
    if path is None:
        return None
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or 'model_type' in data:
        return None
    model_name = data.get('model_name')
    if not isinstance(model_name, str) or not model_name.lower().startswith('da3'):
        return None
    refuse_non_metric(model_name, model)
    section = data.get('config') if isinstance(data.get('config'), dict) else {}
    return DA3Config(model_name.lower(), _net_config(section, model), model)


def _weights_file(model: str) -> str:
    path = _cached_file(model, WEIGHTS_NAME)
    if path is not None:
        return path
    if os.path.isdir(os.path.expanduser(model)):
        raise ModelLoadError(f"'{model}' has no {WEIGHTS_NAME}; pass the directory of the "
                             f'official checkpoint ({CONFIG_NAME}, {WEIGHTS_NAME})')
    try:
        from huggingface_hub import hf_hub_download
        return hf_hub_download(model, WEIGHTS_NAME)
    except Exception as exc:  # noqa: B902 - any hub failure becomes one line
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot fetch {WEIGHTS_NAME} of '{model}' ({text}); pass a local "
                             f'checkpoint directory ({CONFIG_NAME}, {WEIGHTS_NAME})') from None


def load_state_dict(model: str) -> dict:
    """Read the official ``model.safetensors`` and drop the wrapper's ``model.`` prefix."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    path = _weights_file(model)
    try:
        state = load_file(path)
    except (OSError, SafetensorError) as exc:
        raise ModelLoadError(f"cannot read the weights of '{model}' "
                             f'({str(exc).splitlines()[0]})') from None
    if not state or not all(key.startswith('model.') for key in state):
        raise ModelLoadError(f"'{model}': {WEIGHTS_NAME} is not an official Depth Anything 3 "
                             "state dict (keys under 'model.')")
    return {key[len('model.'):]: value for key, value in state.items()}


def build_network(config: DA3Config, model: str) -> DepthAnything3Net:
    """Create the network without initialising it and load the checkpoint strictly."""
    state = load_state_dict(model)
    with torch.device('meta'):
        net = DepthAnything3Net(config.net)
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:3]]
        raise ModelLoadError(f"'{model}': the weights do not fit the {config.model_name} "
                             f"network ({' '.join(lines)[:300]})") from None
    return net.float().eval()


# ------------------------------------------------------------------ pre-processing
def _nearest_multiple(x: int, multiple: int = PATCH_SIZE) -> int:
    """Round to the nearest multiple, ties up, as the official processor; at least one patch."""
    down = (x // multiple) * multiple
    up = down + multiple
    return max(multiple, up if abs(up - x) <= abs(x - down) else down)


def network_size(height: int, width: int, process_res: int = PROCESS_RES) -> Tuple[int, int]:
    """Return the network input ``(height, width)`` for an image of this size."""
    longest = max(width, height)
    if longest != process_res:
        scale = process_res / float(longest)
        width, height = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    return _nearest_multiple(height), _nearest_multiple(width)


def resize_for_network(pixels: np.ndarray, process_res: int = PROCESS_RES) -> np.ndarray:
    """
    Resize an ``H x W x C`` uint8 image as the official ``upper_bound_resize`` does (OpenCV).

    Longest side to ``process_res`` (INTER_AREA shrinking, INTER_CUBIC enlarging), then
    each side to the nearest multiple of 14 (INTER_CUBIC if a side grows, else
    INTER_AREA). The result keeps the channel axis. For an input identical to the
    official one, give 3 channels (BGR is fine: channels are resized independently).
    """
    img = pixels
    height, width = img.shape[:2]
    longest = max(width, height)
    if longest != process_res:
        scale = process_res / float(longest)
        size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
        img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC if scale > 1.0
                         else cv2.INTER_AREA)
        width, height = size
    size = (_nearest_multiple(width), _nearest_multiple(height))
    if size != (width, height):
        grows = size[0] > width or size[1] > height
        img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC if grows else cv2.INTER_AREA)
    if img.ndim == 2:
        img = img[:, :, None]
    return img


def fill_sky(depth: torch.Tensor, is_sky: torch.Tensor) -> torch.Tensor:
    """
    Return ``depth`` with the sky at the 99th percentile of the rest, as the official forward.

    Unchanged when the sky or the rest has SKY_FILL_MIN_PIXELS pixels or fewer.
    Exact (``torch.nanquantile`` over every non-sky pixel) and without a device
    synchronisation: no data-dependent shapes.
    """
    count = is_sky.sum()
    fill = torch.nanquantile(torch.where(is_sky, float('nan'), depth).flatten(),
                             SKY_FILL_QUANTILE)
    use = is_sky & (count > SKY_FILL_MIN_PIXELS) & (
        is_sky.numel() - count > SKY_FILL_MIN_PIXELS)
    return torch.where(use, fill.to(depth.dtype), depth)


class Uploaded(NamedTuple):
    """The network-size uint8 image on the device and the size of the original image."""

    image: torch.Tensor
    in_size: Tuple[int, int]


class DepthAnything3Model(DepthModel):
    """Depth Anything 3 metric: canonical depth x f_camera / 300 at the network input; sky +inf."""

    family = 'depth_anything_3_metric'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: Sky pixels (sky head >= SKY_THRESHOLD) become +inf; False keeps the raw prediction.
        self.mask_sky = True
        #: Longest side of the network input (official default 504).
        size = self.processor.get('size') or {}
        self.process_res = int(size.get('longest_edge', PROCESS_RES))

    @classmethod
    def from_checkpoint(cls, model: str, config: DA3Config, *, device: torch.device,
                        dtype: torch.dtype, compile_net: bool = False) -> 'DepthAnything3Model':
        """Load the official checkpoint files of ``model`` (directory or hub id)."""
        net = build_network(config, model).to(device).to_inference_dtype(dtype)
        # The official InputProcessor's defaults, in the keys transformers' processors use
        # (the node's diagnostics describe the network input from them).
        processor = {'do_resize': True, 'size': {'longest_edge': PROCESS_RES},
                     'keep_aspect_ratio': True, 'ensure_multiple_of': PATCH_SIZE,
                     'do_rescale': True, 'rescale_factor': 1.0 / 255.0, 'do_normalize': True,
                     'image_mean': list(IMAGENET_MEAN), 'image_std': list(IMAGENET_STD)}
        return cls(net, processor, model_id=model, device=device, dtype=dtype,
                   compile_net=compile_net)

    @property
    def default_reference_focal(self) -> Optional[float]:
        """Return the focal of DA3's canonical space: 300 px at the network input."""
        return CANONICAL_FOCAL

    # ------------------------------------------------------------------ stages
    def upload(self, pixels: np.ndarray, rgb_order: Sequence[int] = (0, 1, 2)) -> Uploaded:
        """Resize on the host exactly as the official processor, then upload the small image."""
        height, width = pixels.shape[:2]
        if pixels.shape[2] != 3:
            # OpenCV rounds 1- and 4-channel resizes a little differently from 3-channel
            # ones: build the RGB image first (one host copy), as the official processor does.
            pixels, rgb_order = np.ascontiguousarray(pixels[..., list(rgb_order)]), (0, 1, 2)
        small = resize_for_network(pixels, self.process_res)
        return Uploaded(super().upload(small, rgb_order), (int(height), int(width)))

    def preprocess(self, image: Uploaded):
        """Rescale to 0..1 and normalise with the ImageNet mean and std."""
        x = self.normalize(image.image.float())
        return x.to(self.dtype), {'in_size': image.in_size, 'net_size': tuple(x.shape[-2:])}

    def postprocess(self, outputs, ctx: dict, focal: Focal) -> torch.Tensor:
        """
        Return metric depth at the input size: scale, mark sky, upsample (bilinear).

        With ``mask_sky``, sky pixels take the official fill (the 99th percentile
        of the non-sky depth, module docstring) before upsampling and become +inf
        where the upsampled sky activation is at least SKY_THRESHOLD.
        """
        depth = outputs['predicted_depth'].float()[:1]
        ref = self.reference_focal
        if focal is not None and ref:
            depth = depth * (focal_at(focal, ctx['in_size'], ctx['net_size']) / ref)
        sky = outputs.get('sky')
        mask = self.mask_sky and sky is not None
        if mask:
            sky = sky.float()[:1]
            depth = fill_sky(depth, sky >= SKY_THRESHOLD)
        size = ctx['in_size']
        depth = F.interpolate(depth.unsqueeze(1), size=size, mode='bilinear',
                              align_corners=False)[0, 0]
        if mask:
            sky = F.interpolate(sky.unsqueeze(1), size=size, mode='bilinear',
                                align_corners=False)[0, 0]
            depth = depth.masked_fill(sky >= SKY_THRESHOLD, float('inf'))
        return depth

    def describe(self) -> str:
        """Return one line for the start-up log."""
        sky = 'sky as +inf' if self.mask_sky else 'sky kept as predicted'
        return f'{super().describe()}, longest side {self.process_res} px, {sky}'
