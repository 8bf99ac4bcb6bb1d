# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""The global depth correction: scale in depth, shift in inverse depth, NaN and +inf kept."""

from depth_node.correction import Correction, IDENTITY
import numpy as np
import pytest
import torch


def test_identity_returns_the_same_array():
    depth = np.array([[1.0, 2.0]], np.float32)
    assert IDENTITY.apply(depth) is depth
    assert IDENTITY.is_identity


def test_scale_multiplies_depth_and_keeps_nan_and_inf():
    depth = np.array([[1.0, np.nan, np.inf, 4.0]], np.float32)
    out = Correction(scale=1.5).apply(depth)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array([[1.5, np.nan, np.inf, 6.0]], np.float32))
    assert depth[0, 0] == 1.0  # input untouched


def test_shift_is_added_to_the_scaled_inverse_depth():
    depth = np.array([[1.0, 2.0, 8.0]], np.float32)
    c = Correction(scale=2.0, shift=0.1)
    expected = 1.0 / (1.0 / (2.0 * depth.astype(np.float64)) + 0.1)
    np.testing.assert_allclose(c.apply(depth), expected, rtol=1e-6)


def test_negative_shift_without_a_depth_gives_nan_and_sky_stays_inf():
    depth = np.array([[1.0, 20.0, np.inf, np.nan]], np.float32)
    out = Correction(scale=1.0, shift=-0.1).apply(depth)
    assert out[0, 0] == pytest.approx(1.0 / 0.9, rel=1e-6)
    assert np.isnan(out[0, 1])  # 1/20 - 0.1 < 0: no depth
    assert out[0, 2] == np.inf
    assert np.isnan(out[0, 3])


@pytest.mark.parametrize('shift', [0.0, 0.05, -0.02])
def test_torch_and_numpy_agree(shift):
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.3, 30.0, (7, 9)).astype(np.float32)
    depth[0, 0], depth[1, 1] = np.nan, np.inf
    c = Correction(scale=0.8, shift=shift)
    np.testing.assert_allclose(c.apply(torch.from_numpy(depth)).numpy(), c.apply(depth),
                               rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize('scale', [0.0, -1.0, float('nan'), float('inf')])
def test_scale_must_be_finite_and_positive(scale):
    with pytest.raises(ValueError):
        Correction(scale=scale)
