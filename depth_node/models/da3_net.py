# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The Depth Anything 3 monocular network in plain torch: DINOv2 backbone and DPT head.

This is the architecture of ``DepthAnything3Net`` in ByteDance-Seed/Depth-Anything-3
as its monocular presets (``da3metric-large``, ``da3mono-large``) configure it: a
DINOv2 ViT without registers, camera tokens, RoPE or QK-norm, four intermediate
layers taken after the final LayerNorm, and a DPT head with one depth channel
(``exp`` activation) and a one-channel sky head (``relu``). Module and parameter
names follow the official ones, so the official ``model.safetensors`` loads
strictly once its outer ``model.`` prefix (the API wrapper's attribute) is
removed. Nothing here imports the official package.

Numerics that matter for equivalence: LayerNorm eps 1e-6 inside the blocks and
the torch default 1e-5 for the final norm; position embeddings resized with
bicubic interpolation by the scale factor ``(n + 0.1) / 37`` (DINOv2's offset);
bilinear upsampling with ``align_corners=True`` in the head.

Reduced precision (:meth:`DepthAnything3Net.to_inference_dtype` with fp16 or
bf16) does what the official ``DepthAnything3.forward`` gets from
``torch.autocast``: convolutions and linear layers (attention included) run in
the reduced dtype, while the residual stream, the LayerNorms, the layer scales,
the class token and the position embedding stay float32, and so does the head.
A ViT's residual stream grows large in its deeper blocks; in fp16 it and the
LayerNorm statistics over it overflow (a known failure of ViT depth models).
"""

from dataclasses import dataclass
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
import torch.nn.functional as F

PATCH_SIZE = 14
#: Size the position embedding was trained for (37 x 37 patches).
PRETRAIN_IMAGE_SIZE = 518
#: DINOv2's offset added before computing the position-embedding scale factor.
INTERPOLATE_OFFSET = 0.1

#: ViT presets of the official ``DinoV2(name=...)``: (embed_dim, depth, num_heads).
VIT_PRESETS = {
    'vits': (384, 12, 6),
    'vitb': (768, 12, 12),
    'vitl': (1024, 24, 16),
}


@dataclass
class DA3NetConfig:
    """The architecture numbers of a monocular Depth Anything 3 network."""

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    out_layers: Tuple[int, ...] = (4, 11, 17, 23)
    features: int = 256
    out_channels: Tuple[int, ...] = (256, 512, 1024, 1024)
    activation: str = 'exp'
    sky_activation: str = 'relu'
    use_sky_head: bool = True


def _activate(x: torch.Tensor, name: str) -> torch.Tensor:
    """Apply the official head activations by name (``linear`` for anything else)."""
    name = name.lower()
    if name == 'exp':
        return torch.exp(x)
    if name == 'expp1':
        return torch.exp(x) + 1
    if name == 'expm1':
        return torch.expm1(x)
    if name == 'relu':
        return torch.relu(x)
    if name == 'sigmoid':
        return torch.sigmoid(x)
    if name == 'softplus':
        return F.softplus(x)
    if name == 'tanh':
        return torch.tanh(x)
    return x


# ---------------------------------------------------------------------- backbone
class PatchEmbed(nn.Module):
    """Non-overlapping 14 x 14 patches projected to ``embed_dim`` by one convolution."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``B x N x C`` tokens, row-major over the patch grid."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over all tokens (scaled dot product, scale 1 / sqrt(head dim))."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """Two linear layers with an exact GELU between them."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``fc2(gelu(fc1(x)))``."""
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel learned scale of a residual branch."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x * gamma``."""
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with layer scale (LayerNorm eps 1e-6)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Return ``x + attn branch``, then ``+ mlp branch``.

        ``x`` and the LayerNorms are float32; the branches run in the dtype of
        their weights and come back float32 through the float32 layer scales.
        """
        dtype = self.attn.qkv.weight.dtype
        x = x + self.ls1(self.attn(self.norm1(x).to(dtype)))
        return x + self.ls2(self.mlp(self.norm2(x).to(dtype)))


class VisionTransformer(nn.Module):
    """DINOv2 ViT/14 with a class token and no registers, as DA3's monocular models use it."""

    def __init__(self, cfg: DA3NetConfig):
        super().__init__()
        dim = cfg.embed_dim
        grid = PRETRAIN_IMAGE_SIZE // PATCH_SIZE
        self.embed_dim = dim
        self.patch_embed = PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.blocks = nn.ModuleList(
            [Block(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(dim)  # eps 1e-5, unlike the blocks
        self.out_layers = tuple(int(i) for i in cfg.out_layers)

    def position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        """Return the position embedding for a ``rows x cols`` patch grid (class token first)."""
        pos = self.pos_embed
        n = pos.shape[1] - 1
        if rows * cols == n and rows == cols:
            return pos
        m = int(math.sqrt(n))
        dtype = pos.dtype
        pos = pos.float()
        patch = pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        patch = F.interpolate(
            patch, mode='bicubic', antialias=False,
            scale_factor=((rows + INTERPOLATE_OFFSET) / m, (cols + INTERPOLATE_OFFSET) / m))
        patch = patch.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)
        return torch.cat((pos[:, :1], patch), dim=1).to(dtype)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return the normalised patch tokens (``B x N x C``) of each layer in ``out_layers``."""
        rows, cols = x.shape[-2] // PATCH_SIZE, x.shape[-1] // PATCH_SIZE
        tokens = self.patch_embed(x.to(self.patch_embed.proj.weight.dtype))
        # The residual stream is float32 whatever the dtype of the layers (as under autocast).
        tokens = tokens.to(self.cls_token.dtype)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat((cls, tokens), dim=1)
        tokens = tokens + self.position_embedding(rows, cols).to(tokens.dtype)
        outputs = []
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i in self.out_layers:
                outputs.append(self.norm(tokens)[:, 1:])
        return outputs


class Backbone(nn.Module):
    """Holder named like the official ``DinoV2`` wrapper (its ViT is ``pretrained``)."""

    def __init__(self, cfg: DA3NetConfig):
        super().__init__()
        self.pretrained = VisionTransformer(cfg)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return the intermediate features the head reads."""
        return self.pretrained(x)


# -------------------------------------------------------------------------- head
def _upsample(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(int(s) for s in size), mode='bilinear',
                         align_corners=True)


class ResidualConvUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))`` with 3 x 3 convolutions."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, 1, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the residual unit."""
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + x


class FeatureFusionBlock(nn.Module):
    """Merge a lateral feature map into the top-down path, refine, upsample, 1 x 1 conv."""

    def __init__(self, features: int, has_residual: bool = True):
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features) if has_residual else None
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1, 1, 0, bias=True)

    def forward(self, x: torch.Tensor, lateral: Optional[torch.Tensor] = None,
                size: Optional[Sequence[int]] = None) -> torch.Tensor:
        """Fuse, then upsample to ``size`` (default: twice the size)."""
        if lateral is not None and self.resConfUnit1 is not None:
            x = x + self.resConfUnit1(lateral)
        x = self.resConfUnit2(x)
        if size is None:
            size = (int(x.shape[-2] * 2), int(x.shape[-1] * 2))
        return self.out_conv(_upsample(x, size))


class DPTHead(nn.Module):
    """DA3's DPT head: main (depth) output and a one-channel sky output at the input size."""

    def __init__(self, cfg: DA3NetConfig):
        super().__init__()
        dim, oc, feat = cfg.embed_dim, list(cfg.out_channels), cfg.features
        self.activation = cfg.activation
        self.sky_activation = cfg.sky_activation
        self.projects = nn.ModuleList([nn.Conv2d(dim, c, kernel_size=1) for c in oc])
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4, padding=0),
            nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2, padding=0),
            nn.Identity(),
            nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
        ])
        scratch = nn.Module()
        for i, c in enumerate(oc):
            setattr(scratch, f'layer{i + 1}_rn', nn.Conv2d(c, feat, 3, 1, 1, bias=False))
        scratch.refinenet1 = FeatureFusionBlock(feat)
        scratch.refinenet2 = FeatureFusionBlock(feat)
        scratch.refinenet3 = FeatureFusionBlock(feat)
        scratch.refinenet4 = FeatureFusionBlock(feat, has_residual=False)
        scratch.output_conv1 = nn.Conv2d(feat, feat // 2, kernel_size=3, stride=1, padding=1)
        scratch.output_conv2 = self._output_conv(feat // 2)
        if cfg.use_sky_head:
            scratch.sky_output_conv2 = self._output_conv(feat // 2)
        self.scratch = scratch

    @staticmethod
    def _output_conv(channels: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(channels, 32, kernel_size=3, stride=1, padding=1),
                             nn.ReLU(), nn.Conv2d(32, 1, kernel_size=1, stride=1, padding=0))

    def forward(self, feats: Sequence[torch.Tensor], height: int,
                width: int) -> Dict[str, torch.Tensor]:
        """Return ``depth`` and (with the sky head) ``sky``, both ``B x H x W``."""
        rows, cols = height // PATCH_SIZE, width // PATCH_SIZE
        layers = []
        for i, tokens in enumerate(feats):
            x = tokens.permute(0, 2, 1).contiguous().reshape(
                tokens.shape[0], tokens.shape[2], rows, cols)
            layers.append(self.resize_layers[i](self.projects[i](x)))
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f'layer{i + 1}_rn')(x) for i, x in enumerate(layers))
        out = s.refinenet4(l4, size=l3.shape[2:])
        out = s.refinenet3(out, l3, size=l2.shape[2:])
        out = s.refinenet2(out, l2, size=l1.shape[2:])
        out = s.refinenet1(out, l1)
        out = _upsample(s.output_conv1(out), (rows * PATCH_SIZE, cols * PATCH_SIZE))
        result = {'depth': _activate(s.output_conv2(out), self.activation).squeeze(1)}
        if hasattr(s, 'sky_output_conv2'):
            sky = s.sky_output_conv2(out)
            result['sky'] = _activate(sky, self.sky_activation).squeeze(1)
        return result


class DepthAnything3Net(nn.Module):
    """
    Monocular DA3: ``backbone`` (DINOv2) and ``head`` (DPT), named as in the official net.

    ``forward(pixel_values)`` takes ImageNet-normalised ``B x 3 x H x W`` images with
    H and W multiples of 14 and returns a dict with ``predicted_depth`` (canonical
    depth, ``B x H x W``) and ``sky``. The head runs in float32 whatever the
    backbone's dtype, as the official forward does (autocast off for the head).
    """

    def __init__(self, cfg: DA3NetConfig):
        super().__init__()
        self.config = cfg
        self.backbone = Backbone(cfg)
        self.head = DPTHead(cfg)

    def to_inference_dtype(self, dtype: torch.dtype) -> 'DepthAnything3Net':
        """
        Run the backbone's convolutions and linear layers in ``dtype``; all else float32.

        LayerNorms, layer scales, the class token and the position embedding
        (everything the residual stream is made of) and the head stay float32:
        the numerics of the official autocast (module docstring), with the
        reduced-precision weights cast once instead of at every forward.
        """
        self.backbone.to(dtype)
        vit = self.backbone.pretrained
        for module in vit.modules():
            if isinstance(module, (nn.LayerNorm, LayerScale)):
                module.float()
        for name in ('cls_token', 'pos_embed'):
            param = getattr(vit, name)
            setattr(vit, name, nn.Parameter(param.detach().float(),
                                            requires_grad=param.requires_grad))
        self.head.float()
        return self

    def forward(self, pixel_values: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Run the backbone on the whole batch, the head one image at a time.

        The head works at up to the input's full resolution, where one image's
        activations are the largest buffers of a frame: decoding the images one
        by one keeps that peak at one image's however large the batch (the
        backbone, on patch tokens, is where batching pays).
        """
        height, width = pixel_values.shape[-2:]
        feats = [f.float() for f in self.backbone(pixel_values)]
        outs = [self.head([f[i:i + 1] for f in feats], height, width)
                for i in range(pixel_values.shape[0])]
        result = {'predicted_depth': _joined([out['depth'] for out in outs])}
        if 'sky' in outs[0]:
            result['sky'] = _joined([out['sky'] for out in outs])
        return result


def _joined(items: List[torch.Tensor]) -> torch.Tensor:
    """Return the per-image tensors as one batch (the tensor itself for one image)."""
    return items[0] if len(items) == 1 else torch.cat(items)
