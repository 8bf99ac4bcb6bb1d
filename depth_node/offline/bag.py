# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
rosbag2 output of the offline tools, with the pure-Python ``rosbags`` library.

``rosbags`` is a dependency of the package (setup.py; rosdep key
``python3-rosbags-pip``); where it is missing, :func:`require_rosbags` says so
in one line. Output messages are built by :mod:`depth_node.messages` with the
typestore's classes (:func:`depth_node.messages.rosbags_types`), the same
builders the node uses with rclpy's.
"""

from pathlib import Path
from typing import Dict, Optional

from .cli import OfflineInputError

#: rosbag2 metadata version written (Jazzy and later read it; see doc/offline_tools.md for Humble).
BAG_VERSION = 9


def require_rosbags() -> None:
    """Raise OfflineInputError with the install hint when ``rosbags`` is not importable."""
    try:
        import rosbags  # noqa: F401
    except ImportError:
        raise OfflineInputError(
            "rosbag2 input/output needs the Python package 'rosbags': pip install rosbags "
            '(rosdep key python3-rosbags-pip)') from None


def bag_typestore():
    """Return the rosbags typestore of the newest ROS 2 distribution this rosbags knows."""
    require_rosbags()
    from rosbags.typesys import get_typestore, Stores
    for name in ('ROS2_KILTED', 'ROS2_JAZZY', 'ROS2_HUMBLE'):
        store = getattr(Stores, name, None)
        if store is not None:
            return get_typestore(store)
    return get_typestore(Stores.LATEST)


class BagWriter:
    """A new rosbag2 (sqlite3 or MCAP) that copies input connections and adds new topics."""

    def __init__(self, path, storage: str = 'sqlite3', typestore=None):
        require_rosbags()
        from rosbags.rosbag2 import StoragePlugin, Writer
        plugins = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
        if storage not in plugins:
            raise OfflineInputError(f"bag storage must be 'sqlite3' or 'mcap'; got {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise OfflineInputError(f'{self.path} exists already; rosbag2 output must be new')
        self.typestore = typestore or bag_typestore()
        self.writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugins[storage])
        self.writer.open()
        self._copied: Dict[int, object] = {}
        self._by_key: Dict[tuple, object] = {}
        self.topics: Dict[str, object] = {}
        self.counts: Dict[str, int] = {}

    def copy_connection(self, conn) -> Optional[object]:
        """Register an input connection (same type, definition and QoS); return it or None."""
        if id(conn) in self._copied:
            return self._copied[id(conn)]
        ext = conn.ext
        key = (conn.topic, conn.msgtype)
        out = self._by_key.get(key)
        if out is None:
            kwargs = {}
            msgdef = getattr(getattr(conn, 'msgdef', None), 'data', '') or ''
            if msgdef and str(conn.digest).startswith('RIHS01_'):
                kwargs.update(msgdef=msgdef, rihs01=conn.digest)
            elif conn.msgtype in self.typestore.types:
                kwargs.update(typestore=self.typestore)
            else:
                self._copied[id(conn)] = None
                return None
            out = self.writer.add_connection(
                conn.topic, conn.msgtype,
                serialization_format=getattr(ext, 'serialization_format', 'cdr'),
                offered_qos_profiles=list(getattr(ext, 'offered_qos_profiles', []) or []),
                **kwargs)
            self._by_key[key] = out
            self.topics.setdefault(conn.topic, out)
            self.counts.setdefault(conn.topic, 0)
        self._copied[id(conn)] = out
        return out

    def write_raw(self, raw) -> None:
        """Copy one input message unchanged (a :class:`~depth_node.offline.sources.RawMessage`)."""
        out = self.copy_connection(raw.connection)
        if out is not None:
            self.writer.write(out, raw.timestamp, raw.data)
            self.counts[raw.connection.topic] += 1

    def write(self, topic: str, msgtype: str, timestamp: int, msg) -> None:
        """Serialise ``msg`` (CDR) onto ``topic``, adding the topic on first use."""
        conn = self.topics.get(topic)
        if conn is None:
            conn = self.writer.add_connection(topic, msgtype, typestore=self.typestore)
            self.topics[topic] = conn
            self.counts[topic] = 0
        self.writer.write(conn, int(timestamp), self.typestore.serialize_cdr(msg, msgtype))
        self.counts[topic] += 1

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self.writer.close()
