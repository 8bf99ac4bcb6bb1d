# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Whether the Hugging Face Hub can give a model now, decided in seconds.

The Hub's downloader retries an unreachable host for about 30 s (even when
DNS fails at once) before it says so, and does the same before it falls back
to a model already in the local cache. :func:`hub_access` decides up front: a
local directory needs no Hub; otherwise the Hub is offline when
``HF_HUB_OFFLINE`` is set or its host does not answer within
:data:`HUB_PROBE_S`, and then the model must come from the local cache alone.
Every entry point loads through :func:`depth_node.models.load_model`, which
asks this module first; ``depth_node_demo`` also asks before it starts ROS.
No torch here, so a tool can ask before its slow imports.
"""

from dataclasses import dataclass
import os
import re
import socket
import threading
from typing import Optional
from urllib.parse import urlsplit

#: How long the Hub's host may take to accept a connection before it counts as unreachable.
HUB_PROBE_S = 3.0
#: A Hub repository id: ``name`` or ``owner/name`` (letters, digits, ``-``, ``_``, ``.``).
REPO_ID = re.compile(r'[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?')
#: Weight files a transformers or Depth Anything 3 checkpoint keeps them in (one of them).
WEIGHT_FILES = ('model.safetensors', 'model.safetensors.index.json')
#: Environment variables that send the Hub's traffic through a proxy (not probed).
PROXY_VARIABLES = ('HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy')
#: What to pass instead of a model that cannot be had (in the node's ``model:=`` terms).
LOCAL_HINT = ('a local checkpoint directory (config.json, model.safetensors, '
              'preprocessor_config.json)')


@dataclass(frozen=True)
class HubAccess:
    """How a model's files can be had: from a directory, the cache, or the Hub."""

    #: The model names a Hub repository (not a local directory or path).
    hub: bool = False
    #: Its config and weights are in the local cache.
    cached: bool = False
    #: Why the Hub cannot be reached now; None when it may be (or is not needed).
    offline: Optional[str] = None

    @property
    def local_only(self) -> bool:
        """Whether to load from the local cache alone (a hub model, the Hub unreachable)."""
        return self.hub and self.offline is not None

    @property
    def download(self) -> bool:
        """Whether the files will be fetched from the Hub first (a first use)."""
        return self.hub and not self.cached and self.offline is None


def is_hub_id(model: str) -> bool:
    """Whether ``model`` names a Hub repository rather than a local directory or path."""
    model = str(model).strip()
    if not model or os.path.isdir(os.path.expanduser(model)):
        return False
    if model.startswith(('/', './', '../', '~')) or os.path.isabs(model):
        return False
    return REPO_ID.fullmatch(model) is not None


def in_cache(model: str) -> bool:
    """Whether the local Hub cache holds ``model``'s config.json and its weights."""
    try:
        from huggingface_hub import try_to_load_from_cache

        def cached(name):
            return isinstance(try_to_load_from_cache(model, name), str)
        return cached('config.json') and any(cached(name) for name in WEIGHT_FILES)
    except Exception:  # noqa: B902 - a malformed id: the loader says what is wrong with it
        return False


def offline_reason(timeout: float = HUB_PROBE_S) -> Optional[str]:
    """
    Return why the Hub cannot be reached now, or None when it may be.

    ``HF_HUB_OFFLINE`` (as huggingface_hub read it) means offline; with a proxy
    configured the Hub is assumed reachable (the proxy is not probed); otherwise
    the Hub's host (``HF_ENDPOINT``) must accept a TCP connection within
    ``timeout`` seconds.
    """
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return 'huggingface_hub is not installed'
    if getattr(constants, 'HF_HUB_OFFLINE', False):
        return 'HF_HUB_OFFLINE is set'
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return None
    url = urlsplit(getattr(constants, 'ENDPOINT', '') or 'https://huggingface.co')
    host = url.hostname or 'huggingface.co'
    port = url.port or (80 if url.scheme == 'http' else 443)
    result = {}

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result['ok'] = True
        except OSError as exc:
            result['error'] = exc.strerror or str(exc) or type(exc).__name__
    # A thread, so that a resolver that hangs cannot hold the caller past the timeout.
    thread = threading.Thread(target=probe, name='hub_probe', daemon=True)
    thread.start()
    thread.join(timeout)
    if result.get('ok'):
        return None
    return f"{host}: {result.get('error', f'no answer within {timeout:g} s')}"


def hub_access(model: str) -> HubAccess:
    """Return where ``model``'s files can come from now (probes the Hub for hub ids)."""
    if not is_hub_id(model):
        return HubAccess()
    return HubAccess(hub=True, cached=in_cache(model), offline=offline_reason())


def unreachable_text(model: str, reason: str) -> str:
    """Return the one-line error for a hub model that is neither cached nor fetchable now."""
    nor_dir = '' if '/' in model else ' (nor a directory here)'
    return (f"cannot fetch '{model}': the Hugging Face Hub is unreachable ({reason}) and the "
            f'model is not in the local cache{nor_dir}; pass model:=<{LOCAL_HINT}>')


def hub_unreachable(model: str) -> Optional[str]:
    """Return why ``model`` cannot be had (a hub id, not cached, Hub offline), else None."""
    if not is_hub_id(model) or in_cache(model):
        return None
    return offline_reason()
