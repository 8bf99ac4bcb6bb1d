# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
compressed_depth_image_transport's decoder (and RVL encoder), ported to Python for the tests.

Ported from ros-perception/image_transport_plugins, branch rolling (the code
Jazzy and later release; 4.0.0 added RVL):
``compressed_depth_image_transport/src/codec.cpp`` ``decodeCompressedDepthImage``
and ``src/rvl_codec.cpp`` ``RvlCodec::DecompressRVL`` / ``CompressRVL``, line by
line: the ``format`` parsed with ``find``, the 12-byte ``ConfigHeader`` read
with ``memcpy`` (little-endian, as on every ROS platform), the inverse depth
turned back with ``depthQuantA / ((float)q - depthQuantB)``, RVL nibbles
shifted out of 32-bit words. Humble's decoder is the same without RVL (it
reads everything after ``;`` as PNG). Nothing here uses depth_node's encoder,
so the tests check depth_node's messages against what upstream's subscriber
plugin would make of them.
"""

import struct

import cv2
import numpy as np

#: sensor_msgs::image_encodings::bitDepth of the encodings used here.
BIT_DEPTH = {'32FC1': 32, '16UC1': 16, 'mono16': 16, '8UC1': 8, 'mono8': 8}
SIZEOF_CONFIG_HEADER = 12  # enum compressionFormat (int) + float depthParam[2]


def upstream_decompress_rvl(buf: bytes, num_pixels: int) -> np.ndarray:
    """RvlCodec::DecompressRVL: nibbles shifted out of 32-bit words, zigzag deltas."""
    output = np.zeros(num_pixels, np.uint16)
    state = {'p': 0, 'word': 0, 'nibbles': 0}

    def decode_vle():
        value, bits = 0, 29
        while True:
            if not state['nibbles']:
                state['word'] = struct.unpack_from('<I', buf, state['p'])[0]  # *pBuffer_++
                state['p'] += 4
                state['nibbles'] = 8
            nibble = state['word'] & 0xF0000000
            value |= ((nibble << 1) & 0xFFFFFFFF) >> bits
            state['word'] = (state['word'] << 4) & 0xFFFFFFFF
            state['nibbles'] -= 1
            bits -= 3
            if not nibble & 0x80000000:
                return value

    out, previous, to_decode = 0, 0, num_pixels
    while to_decode:
        zeros = decode_vle()
        to_decode -= zeros
        out += zeros  # output is zero-filled already
        nonzeros = decode_vle()
        to_decode -= nonzeros
        for _ in range(nonzeros):
            positive = decode_vle()
            delta = (positive >> 1) ^ -(positive & 1)
            current = (previous + delta) & 0xFFFF  # unsigned short
            output[out] = current
            out += 1
            previous = current
    return output


def upstream_decode(fmt: str, data: bytes):
    """
    decodeCompressedDepthImage: return (encoding, H x W image) or None where it fails.

    The 32-bit image is float32 metres with NaN for q == 0; the 16-bit one the
    PNG/RVL pixels as they are.
    """
    split = fmt.find(';')
    image_encoding = fmt if split < 0 else fmt[:split]
    if split < 0:
        method = 'png'  # older versions write PNG only
    else:
        ending = fmt[split:]
        if 'compressedDepth png' in ending:
            method = 'png'
        elif 'compressedDepth rvl' in ending:
            method = 'rvl'
        elif 'compressedDepth' in ending and 'compressedDepth ' not in ending:
            method = 'png'
        else:
            return None  # "Unsupported image format"
    data = bytes(data)
    if not len(data) > SIZEOF_CONFIG_HEADER:
        return None
    _, quant_a, quant_b = struct.unpack('<iff', data[:SIZEOF_CONFIG_HEADER])  # memcpy
    image_data = data[SIZEOF_CONFIG_HEADER:]

    def rvl(checked):
        cols, rows = struct.unpack('<II', image_data[:8])
        if checked:
            if rows == 0 or cols == 0:
                return None
            num_pixels = rows * cols
            if num_pixels > 2**31 - 1 or num_pixels > len(image_data) * 5:
                return None  # "Received malformed RVL-encoded image"
        return upstream_decompress_rvl(image_data[8:], rows * cols).reshape(rows, cols)

    if BIT_DEPTH[image_encoding] == 32:
        if method == 'png':
            decompressed = cv2.imdecode(np.frombuffer(image_data, np.uint8),
                                        cv2.IMREAD_UNCHANGED)
        else:
            decompressed = rvl(checked=True)
        if decompressed is None or decompressed.size == 0:
            return None
        assert decompressed.dtype == np.uint16
        # depthQuantA / ((float)q - depthQuantB), NaN for q == 0; in float.
        q = decompressed.astype(np.float32)
        with np.errstate(divide='ignore'):
            depth = np.float32(quant_a) / (q - np.float32(quant_b))
        depth[decompressed == 0] = np.nan
        return image_encoding, depth.astype(np.float32)
    if method == 'png':
        image = cv2.imdecode(np.frombuffer(image_data, np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        image = rvl(checked=False)
    if image is None or image.size == 0:
        return None
    return image_encoding, image


def upstream_compress_rvl(pixels: np.ndarray) -> bytes:
    """RvlCodec::CompressRVL (to compare streams byte for byte)."""
    words = []
    state = {'word': 0, 'nibbles': 0}

    def encode_vle(value):
        while True:
            nibble = value & 0x7
            value >>= 3
            if value:
                nibble |= 0x8
            state['word'] = ((state['word'] << 4) | nibble) & 0xFFFFFFFF
            state['nibbles'] += 1
            if state['nibbles'] == 8:
                words.append(state['word'])
                state['nibbles'], state['word'] = 0, 0
            if not value:
                return

    values = [int(v) for v in np.asarray(pixels).ravel()]
    i, end, previous = 0, len(values), 0
    while i != end:
        zeros = 0
        while i != end and not values[i]:
            i += 1
            zeros += 1
        encode_vle(zeros)
        nonzeros = 0
        while i + nonzeros != end and values[i + nonzeros]:
            nonzeros += 1
        encode_vle(nonzeros)
        for _ in range(nonzeros):
            current = values[i]
            i += 1
            delta = current - previous
            encode_vle((delta << 1) ^ (delta >> 31))  # int: >> 31 is 0 or -1
            previous = current
    if state['nibbles']:
        words.append((state['word'] << 4 * (8 - state['nibbles'])) & 0xFFFFFFFF)
    return struct.pack(f'<{len(words)}I', *words)
