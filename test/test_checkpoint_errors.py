# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""Broken checkpoints end in one ModelLoadError naming the file and what is wrong (issue 8)."""

import json
import os
import shutil

from depth_node.errors import ModelLoadError
from depth_node.models import load_model
import numpy as np
import pytest


def damaged_copy(src, dst, weights=None, size=None, processor_text=None) -> str:
    """Copy a checkpoint, then damage model.safetensors or preprocessor_config.json."""
    shutil.copytree(src, dst)
    weights_path = os.path.join(dst, 'model.safetensors')
    processor_path = os.path.join(dst, 'preprocessor_config.json')
    if weights is not None:
        with open(weights_path, 'rb') as f:
            data = f.read()
        with open(weights_path, 'wb') as f:
            f.write(weights(data))
    if size is not None:
        with open(processor_path, encoding='utf-8') as f:
            config = json.load(f)
        config['size'] = size
        with open(processor_path, 'w', encoding='utf-8') as f:
            json.dump(config, f)
    if processor_text is not None:
        with open(processor_path, 'w', encoding='utf-8') as f:
            f.write(processor_text)
    return str(dst)


WEIGHTS = {
    'truncated': lambda d: d[:len(d) // 2],
    'header_garbage': lambda d: b'\xff' * 8 + d[8:],
    'empty': lambda d: b'',
    'header_only': lambda d: d[:8 + int.from_bytes(d[:8], 'little')],
}


@pytest.mark.parametrize('damage', list(WEIGHTS))
def test_corrupt_or_truncated_weights_name_the_file(tiny_da_dir, tmp_path, damage):
    path = damaged_copy(tiny_da_dir, tmp_path / 'ckpt', weights=WEIGHTS[damage])
    with pytest.raises(ModelLoadError) as info:
        load_model(path, 'cpu', 'fp32', warmup=(64, 48))
    text = str(info.value)
    assert '\n' not in text
    assert os.path.join(path, 'model.safetensors') in text
    assert 'corrupt or truncated' in text or 'cannot load the weights' in text, text


@pytest.mark.parametrize('size', [{'height': -56, 'width': -56}, {'height': 0, 'width': 56},
                                  'big', 518, {'foo': 1}, {'height': 56},
                                  {'height': 'x', 'width': 56}, {'height': 55.5, 'width': 56},
                                  {'height': True, 'width': 56}])
def test_bad_processor_size_names_the_file(tiny_da_dir, tmp_path, size):
    path = damaged_copy(tiny_da_dir, tmp_path / 'ckpt', size=size)
    with pytest.raises(ModelLoadError) as info:
        load_model(path, 'cpu', 'fp32', warmup=(64, 48))
    text = str(info.value)
    assert '\n' not in text
    assert os.path.join(path, 'preprocessor_config.json') in text, text
    assert 'size' in text and repr(size) in text, text


def test_processor_that_is_not_json_names_the_file(tiny_da_dir, tmp_path):
    path = damaged_copy(tiny_da_dir, tmp_path / 'ckpt', processor_text='{not json')
    with pytest.raises(ModelLoadError) as info:
        load_model(path, 'cpu', 'fp32')
    assert 'preprocessor_config.json' in str(info.value) and '\n' not in str(info.value)


def test_whole_number_sizes_written_as_floats_still_load(tiny_da_dir, tmp_path):
    path = damaged_copy(tiny_da_dir, tmp_path / 'ckpt', size={'height': 56.0, 'width': 56})
    model = load_model(path, 'cpu', 'fp32', warmup=(64, 48))
    depth = model.predict(np.full((48, 64, 3), 100, np.uint8), focal=(60.0, 60.0))
    assert depth.shape == (48, 64)
