# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Load any supported metric depth checkpoint from a hub id or a local directory.

A hub id is looked up in the local cache first and the Hub probed
(:mod:`depth_node.hub`): a model that is neither cached nor fetchable fails in
seconds instead of after the downloader's retries, and a cached one loads from
the cache alone while the Hub is unreachable.

Dispatch is on ``config.json``'s ``model_type``; weights load through
``AutoModelForDepthEstimation`` and never with ``trust_remote_code``. Depth
Anything 3 checkpoints are the official package's files (no ``model_type``):
they are recognised by their ``config.json`` and load through our own network
code (:mod:`.depth_anything_3`). Every
failure becomes a :class:`~depth_node.errors.ModelLoadError` whose one-line
message says what to pass instead.
"""

import importlib
import numbers
import os
from typing import Callable, Optional

import torch

try:  # the weights' file format; transformers reads model.safetensors with it
    from safetensors import SafetensorError
except ImportError:  # pragma: no cover - safetensors is a dependency of transformers
    SafetensorError = OSError

from .base import DepthModel
from ..errors import ModelLoadError, UnsupportedModelError
from ..hub import hub_access, HubAccess, LOCAL_HINT, unreachable_text
from ..params import DEFAULT_MODEL, DEVICE_CHOICES

#: model_type -> (module, class) of the family implementation.
FAMILIES = {
    'depth_anything': ('depth_anything', 'DepthAnythingModel'),
    'zoedepth': ('zoedepth', 'ZoeDepthModel'),
    'depth_pro': ('depth_pro', 'DepthProModel'),
    'depth_anything_3': ('depth_anything_3', 'DepthAnything3Model'),
}

#: model_types that load as depth models but predict relative (unitless) depth.
RELATIVE_MODEL_TYPES = ('dpt', 'glpn', 'prompt_depth_anything')

EXAMPLE = DEFAULT_MODEL


def resolve_device(device: str = 'auto') -> torch.device:
    """Turn the ``device`` parameter into a torch.device, or raise ModelLoadError."""
    device = (device or 'auto').strip().lower()
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cpu':
        return torch.device('cpu')
    if device == 'cuda' or (device.startswith('cuda:') and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"device '{device}' requested but no CUDA GPU is visible to torch "
                f'{torch.__version__}; pass device:=cpu or device:=auto')
        index = int(device[5:]) if ':' in device else 0
        if index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"device '{device}' does not exist: {torch.cuda.device_count()} CUDA device(s) "
                'visible; pass device:=cuda:0 or device:=auto')
        return torch.device('cuda', index)
    raise ModelLoadError(
        f"device must be one of {', '.join(repr(c) for c in DEVICE_CHOICES)}; got '{device}'")


def resolve_dtype(precision: str, device: torch.device, family: str = '') -> torch.dtype:
    """
    Turn ``precision`` into a dtype: auto = fp16 on CUDA, fp32 on CPU.

    No supported family needs bf16: Depth Pro's own CLI runs fp16 on CUDA and its
    checkpoint is stored in fp16. ``family`` is kept for families that may.
    """
    precision = (precision or 'auto').strip().lower()
    if precision == 'auto':
        return torch.float16 if device.type == 'cuda' else torch.float32
    table = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
    if precision not in table:
        raise ModelLoadError(
            f"precision must be 'auto', 'fp32', 'fp16' or 'bf16'; got '{precision}'")
    return table[precision]


def _looks_local(model: str) -> bool:
    return model.startswith(('/', './', '../', '~')) or os.path.isabs(model) or (
        os.sep in model and model.count('/') != 1)


def loading_text(model: str, device: torch.device, access: HubAccess = HubAccess()) -> str:
    """Return the line an entry point says before the weights load (it takes seconds)."""
    if access.download:
        return (f'loading {model} on {device} (first use: downloading it from the Hugging Face '
                'Hub)...')
    return f'loading {model} on {device}...'


def _load_config(model: str, local_only: bool = False):
    from transformers import AutoConfig
    if _looks_local(model) and not os.path.isdir(os.path.expanduser(model)):
        raise ModelLoadError(
            f"model directory '{model}' does not exist; pass model:=<Hugging Face id, e.g. "
            f'{EXAMPLE}> or {LOCAL_HINT}')
    from .depth_anything_3 import read_config as read_da3_config
    da3 = read_da3_config(model)  # a directory, or a hub id already cached
    if da3 is not None:
        return da3
    try:
        return AutoConfig.from_pretrained(os.path.expanduser(model), local_files_only=local_only)
    except (OSError, ValueError, KeyError) as exc:
        da3 = read_da3_config(model)  # AutoConfig has fetched config.json by now
        if da3 is not None:
            return da3
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if os.path.isdir(os.path.expanduser(model)):
            raise ModelLoadError(
                f"'{model}' is not a transformers checkpoint directory ({text}); pass "
                f'{LOCAL_HINT}') from None
        if "couldn't connect" in str(exc).lower() or 'offline' in str(exc).lower():
            raise ModelLoadError(
                f"cannot fetch '{model}': the Hugging Face Hub is unreachable and the model is "
                f'not in the local cache; pass model:=<{LOCAL_HINT}>') from None
        raise ModelLoadError(
            f"cannot load '{model}' ({text}); pass model:=<Hugging Face id, e.g. {EXAMPLE}> or "
            f'{LOCAL_HINT}') from None


def _file_in(model: str, path: str, name: str) -> str:
    """Return the path of checkpoint file ``name`` for messages (the name alone for hub ids)."""
    return os.path.join(path, name) if os.path.isdir(path) else f"{name} of '{model}'"


def check_processor_size(processor: dict, model: str, path: str) -> None:
    """
    Refuse a preprocessor_config.json whose ``size`` no image processor can use.

    ``size`` must be one of transformers' size dicts (``{'height': 518, 'width':
    518}``, ``{'shortest_edge': ...}``, ...) of positive whole numbers.
    """
    if 'size' not in processor or not processor.get('do_resize', True):
        return
    from transformers.image_processing_utils import is_valid_size_dict
    size = processor['size']
    values = list(size.values()) if isinstance(size, dict) else []
    if not (is_valid_size_dict(size) and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 and v == int(v)
            for v in values)):
        raise ModelLoadError(
            f"{_file_in(model, path, 'preprocessor_config.json')} has an unusable size "
            f"{size!r}: it must be like {{'height': 518, 'width': 518}} with positive whole "
            'numbers of pixels; fix the file or download the checkpoint again')


def family_class(config, model: str):
    """Return the DepthModel subclass for a loaded config, or raise a clear error."""
    model_type = getattr(config, 'model_type', '')
    if model_type == 'depth_anything' and getattr(
            config, 'depth_estimation_type', 'relative') != 'metric':
        raise UnsupportedModelError(
            f"'{model}' is a relative-depth Depth Anything checkpoint: its output is not in "
            f'metres; pass a metric one, e.g. model:={EXAMPLE}')
    if model_type in RELATIVE_MODEL_TYPES:
        raise UnsupportedModelError(
            f"'{model}' ({model_type}) predicts relative depth, not metres; pass a metric "
            f'checkpoint (Depth Anything V2 metric, ZoeDepth, Depth Pro, Depth Anything 3 '
            f'metric), e.g. model:={EXAMPLE}')
    if model_type not in FAMILIES:
        raise UnsupportedModelError(
            f"'{model}' is a '{model_type}' model, not a supported metric depth model; pass "
            f'Depth Anything V2 metric, ZoeDepth, Depth Pro or Depth Anything 3 metric, e.g. '
            f'model:={EXAMPLE}')
    module_name, class_name = FAMILIES[model_type]
    module = importlib.import_module(f'{__package__}.{module_name}')
    return getattr(module, class_name)


def _quick_checks(model: str, device: str, precision: str):
    """Check what takes milliseconds: model name, device, Hub or cache, config, family, dtype."""
    if not model or not str(model).strip():
        raise ModelLoadError(f'no model given; pass model:=<Hugging Face id or {LOCAL_HINT}>')
    model = str(model).strip()
    torch_device = resolve_device(device)
    access = hub_access(model)
    if access.hub and access.offline is not None and not access.cached:
        raise ModelLoadError(unreachable_text(model, access.offline))
    config = _load_config(model, access.local_only)
    cls = family_class(config, model)
    dtype = resolve_dtype(precision, torch_device, getattr(config, 'model_type', ''))
    return model, torch_device, access, config, cls, dtype


def check_model(model: str, device: str = 'auto', precision: str = 'auto') -> str:
    """
    Run :func:`load_model`'s quick checks and return its :func:`loading_text`.

    For a caller that loads through someone else (``depth_node_demo`` through
    the node) and wants to fail at once, or say what it is about to load.
    Raises ModelLoadError exactly as :func:`load_model` would for these checks.
    """
    model, torch_device, access, _, _, _ = _quick_checks(model, device, precision)
    return loading_text(model, torch_device, access)


def load_model(model: str, device: str = 'auto', precision: str = 'auto', *,
               compile_net: bool = False, reference_focal: float = 0.0,
               flip_tta: bool = False, mask_sky: bool = True,
               warmup: Optional[tuple] = None,
               announce: Optional[Callable[[str], None]] = None) -> DepthModel:
    """
    Load a metric depth checkpoint ready for :meth:`DepthModel.predict`.

    The quick checks come first (device, the Hub or the cache, config and
    family), then ``announce`` (if given) is called with :func:`loading_text`,
    just before the part that takes seconds (download, weights, warm-up).

    ``flip_tta`` turns on flip test-time augmentation where the family has it
    (ZoeDepth; ignored elsewhere, see ``DepthModel.supports_flip_tta``).
    ``mask_sky`` false keeps Depth Anything 3's predicted depth where its sky head
    sees sky instead of +inf (other families have no sky head).
    ``warmup`` = ``(width, height)`` runs one inference at that size afterwards.
    """
    from transformers import AutoModelForDepthEstimation
    from transformers.image_processing_utils import ImageProcessingMixin
    model, torch_device, access, config, cls, dtype = _quick_checks(model, device, precision)
    local_only = access.local_only
    if announce is not None:
        announce(loading_text(model, torch_device, access))
    if hasattr(cls, 'from_checkpoint'):  # a family with its own checkpoint format (DA3)
        instance = cls.from_checkpoint(model, config, device=torch_device, dtype=dtype,
                                       compile_net=compile_net)
        return _configure(instance, reference_focal, flip_tta, mask_sky, warmup)
    path = os.path.expanduser(model)
    try:
        processor, _ = ImageProcessingMixin.get_image_processor_dict(
            path, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"'{model}' has no usable preprocessor_config.json ({str(exc).splitlines()[0]}); "
            f'pass {LOCAL_HINT}') from None
    check_processor_size(processor, model, path)
    try:
        net = AutoModelForDepthEstimation.from_pretrained(path, dtype=dtype,
                                                          local_files_only=local_only)
    except SafetensorError as exc:
        raise ModelLoadError(
            f"{_file_in(model, path, 'model.safetensors')} is corrupt or truncated "
            f'({str(exc).splitlines()[0]}); download the checkpoint again, or pass '
            f'{LOCAL_HINT}') from None
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"cannot load the weights of '{model}' ({str(exc).splitlines()[0]}); pass "
            f'{LOCAL_HINT}') from None
    net = net.to(torch_device).eval()
    instance = cls(net, processor, model_id=model, device=torch_device, dtype=dtype,
                   compile_net=compile_net)
    return _configure(instance, reference_focal, flip_tta, mask_sky, warmup)


def _configure(instance: DepthModel, reference_focal: float, flip_tta: bool, mask_sky: bool,
               warmup: Optional[tuple]) -> DepthModel:
    instance.reference_focal = reference_focal
    instance.check_scale()
    instance.flip_tta = bool(flip_tta) and instance.supports_flip_tta
    if hasattr(instance, 'mask_sky'):
        instance.mask_sky = bool(mask_sky)
    if warmup:
        try:
            instance.warmup(*warmup)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else ''
            raise ModelLoadError(
                f"'{instance.model_id}' loads but fails on a first test frame "
                f'({type(exc).__name__}: {text}); check its config.json and '
                'preprocessor_config.json') from None
    return instance
