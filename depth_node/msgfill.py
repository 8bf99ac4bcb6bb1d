# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Put large byte payloads into ``msg.data`` without copying them.

What rclpy's generated message classes do with ``msg.data = value`` for a
``uint8[]`` field (rosidl_generator_py ``_msg.py.em``):

- Humble: an ``array.array('B')`` is stored as is (no copy); anything else is
  checked element by element (under ``__debug__``) and copied into a new array.
- Jazzy, Kilted, Rolling: every message has a ``_check_fields`` flag (the
  ``check_fields`` constructor keyword, default from ``ROS_PYTHON_CHECK_FIELDS``).
  With it False (the default) the setter *always* copies
  (``array.array('B', value)``; a numpy array or memoryview is even copied item
  by item). With it True an ``array.array('B')`` is stored as is.
- ``data=`` given to the constructor is always copied, on every distribution.

So the zero-copy route on all three is: build the payload in an
``array.array('B')`` (:func:`byte_buffer`, then write into it through
:func:`byte_view`), construct the message with ``check_fields=True`` where the
class has that flag (:func:`new_message`), then assign ``msg.data``
(:func:`set_data`); :func:`filled_message` does all of it for any message
class. Publishing copies the bytes once into the C message
(``convert_from_py`` reads any buffer with ``PyBuffer_ToContiguous``), as it
must; the Python side adds nothing. rosbags-style message classes (dataclasses
whose ``data`` is a numpy ``uint8`` array) get a zero-copy numpy view instead.
"""

import array
from typing import Any

import numpy as np


def byte_buffer(nbytes: int) -> array.array:
    """
    Return a zero-filled ``array.array('B')`` of ``nbytes`` bytes for ``msg.data``.

    Repeating one zero byte fills (and pages in) the memory in one pass, faster
    than ``np.zeros`` followed by a copy.
    """
    return array.array('B', b'\0') * int(nbytes)


def byte_view(buf: array.array, dtype, shape) -> np.ndarray:
    """Return a writable numpy view of ``buf`` as ``dtype`` in ``shape`` (no copy)."""
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def as_byte_array(data: Any) -> array.array:
    """
    Return ``data`` as an ``array.array('B')``: itself when it already is one, else one copy.

    Accepts anything with the buffer protocol (numpy arrays in C order, bytes,
    bytearray, memoryview, ``array.array`` of another type); the copy is a
    single ``memcpy`` (``frombytes``), never an item-by-item loop.
    """
    if isinstance(data, array.array) and data.typecode == 'B':
        return data
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data)
    view = memoryview(data)
    if not view.c_contiguous:
        raise ValueError('message data must be a C-contiguous buffer')
    out = array.array('B')
    out.frombytes(view.cast('B'))
    return out


def is_rclpy_message(msg_class) -> bool:
    """Whether ``msg_class`` is an rclpy (rosidl_generator_py) message class."""
    return '_data' in getattr(msg_class, '__slots__', ()) and hasattr(
        msg_class, 'get_fields_and_field_types')


def has_check_fields(msg_class) -> bool:
    """Whether the class has the ``check_fields`` constructor flag (Jazzy and later)."""
    return '_check_fields' in getattr(msg_class, '__slots__', ())


def new_message(msg_class, **fields):
    """
    Construct ``msg_class(**fields)`` so that :func:`set_data` keeps its buffer by reference.

    On Jazzy and later this passes ``check_fields=True`` (so every field given
    here or set later is type-checked, and an ``array.array('B')`` assigned to
    ``data`` is stored without a copy); on Humble and for non-rclpy classes it
    is the plain constructor. Do not pass ``data`` here: constructors copy it.
    """
    if 'data' in fields:
        raise TypeError("pass 'data' to set_data(), not to the constructor (it copies)")
    if has_check_fields(msg_class):
        return msg_class(check_fields=True, **fields)
    return msg_class(**fields)


def set_data(msg, data: Any) -> None:
    """
    Set ``msg.data`` to the bytes of ``data``, without a copy where the route allows.

    rclpy messages made by :func:`new_message` (or any Humble message) keep an
    ``array.array('B')`` by reference; other buffers are first copied once into
    one (:func:`as_byte_array`). Classes whose ``data`` is a numpy array
    (rosbags) get a ``uint8`` view of the same memory.
    """
    if is_rclpy_message(type(msg)):
        msg.data = as_byte_array(data)
        return
    msg.data = _uint8_view(data)


def filled_message(msg_class, data: Any, **fields):
    """
    Return ``msg_class(**fields)`` whose ``data`` is ``data``'s bytes, copied only if it must be.

    The one route for large payloads (depth and input images, clouds), for
    rclpy classes (:func:`new_message` then :func:`set_data`: an
    ``array.array('B')`` is kept by reference, other buffers are copied once)
    and for rosbags-style classes, whose constructors need every field: there
    ``data`` is passed as a ``uint8`` numpy view of the same memory.
    """
    if is_rclpy_message(msg_class):
        msg = new_message(msg_class, **fields)
        set_data(msg, data)
        return msg
    return msg_class(data=_uint8_view(data), **fields)


def _uint8_view(data: Any) -> np.ndarray:
    """Return a flat ``uint8`` numpy view of a contiguous buffer (a copy only if it is not)."""
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data)
    return np.frombuffer(data, dtype=np.uint8)


def keeps_reference(msg, data) -> bool:
    """Whether ``msg.data`` is ``data`` itself or shares its first byte (no copy was made)."""
    held = msg.data
    if held is data:
        return True
    try:
        return _address(held) == _address(data) and len(memoryview(held).cast('B')) == len(
            memoryview(data).cast('B'))
    except (TypeError, ValueError):
        return False


def _address(buf) -> int:
    """Return the address of the first byte of a buffer (array.array or numpy)."""
    if isinstance(buf, array.array):
        return buf.buffer_info()[0]
    return np.asarray(buf).__array_interface__['data'][0]
