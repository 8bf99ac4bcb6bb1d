# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Node-side cost of large messages in rclpy: filling ``msg.data`` and publishing.

    .venv/bin/python tools/msg_transport_bench.py            # fills and publishes
    .venv/bin/python tools/msg_transport_bench.py --no-sub   # no subscriber process

1. Fill: the copying setter (what ``msg.data = buf`` does on Jazzy and later by
   default) against :mod:`depth_node.msgfill`'s zero-copy route, for a 32FC1
   depth Image and an xyz+rgb PointCloud2 at 640x480 .. 3840x2160. Each sample
   uses a fresh buffer, as every frame does.
2. Publish: ``publish(msg)`` against ``serialize_message`` + ``publish(bytes)``
   (pre-serialised), for 16-byte (xyz + rgb) and 12-byte (xyz) clouds, with a
   reliable subscriber in another process (unless ``--no-sub``). Prints medians.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

SIZES = {'640x480': (480, 640), '1280x720': (720, 1280), '1920x1080': (1080, 1920),
         '3840x2160': (2160, 3840)}

SUBSCRIBER = '''
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
rclpy.init()
node = rclpy.create_node("transport_bench_sub")
node.create_subscription(PointCloud2, "cloud", lambda m: None,
                         QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
try:
    rclpy.spin(node)
except BaseException:
    pass
'''


def median_ms(fn, n):
    samples = []
    for _ in range(n):
        samples.append(fn())
    return float(np.median(samples)) * 1e3


def fill_table(repeat):
    from sensor_msgs.msg import Image, PointCloud2, PointField

    from depth_node.msgfill import byte_buffer, keeps_reference, new_message, set_data
    fields = [PointField(name=n, offset=4 * i, datatype=7, count=1)
              for i, n in enumerate(('x', 'y', 'z', 'rgb'))]
    print('fill (median ms, fresh buffer each time)')
    print(f"{'size':<11}{'Image copy':>12}{'zero-copy':>11}{'Cloud copy':>12}{'zero-copy':>11}")
    for name, (h, w) in SIZES.items():
        def image(zero_copy):
            buf = byte_buffer(h * w * 4)
            t0 = time.perf_counter()
            if zero_copy:
                msg = new_message(Image, height=h, width=w, encoding='32FC1', is_bigendian=0,
                                  step=4 * w)
                set_data(msg, buf)
            else:
                msg = Image(height=h, width=w, encoding='32FC1', is_bigendian=0, step=4 * w)
                msg.data = buf
            dt = time.perf_counter() - t0
            assert keeps_reference(msg, buf) == zero_copy or not hasattr(msg, '_check_fields')
            return dt

        def cloud(zero_copy):
            buf = byte_buffer(h * w * 16)
            t0 = time.perf_counter()
            kwargs = dict(height=h, width=w, fields=fields, is_bigendian=False, point_step=16,
                          row_step=16 * w, is_dense=False)
            if zero_copy:
                msg = new_message(PointCloud2, **kwargs)
                set_data(msg, buf)
            else:
                msg = PointCloud2(**kwargs)
                msg.data = buf
            return time.perf_counter() - t0
        row = [median_ms(lambda: image(False), repeat), median_ms(lambda: image(True), repeat),
               median_ms(lambda: cloud(False), repeat), median_ms(lambda: cloud(True), repeat)]
        print(f'{name:<11}' + ''.join(f'{v:>12.3f}' if i % 2 == 0 else f'{v:>11.3f}'
                                      for i, v in enumerate(row)))


def publish_table(repeat, with_subscriber):
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import PointCloud2, PointField

    from depth_node.msgfill import byte_buffer, new_message, set_data
    rclpy.init()
    node = rclpy.create_node('transport_bench')
    pub = node.create_publisher(PointCloud2, 'cloud',
                                QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    sub = None
    if with_subscriber:
        sub = subprocess.Popen([sys.executable, '-c', SUBSCRIBER])
        deadline = time.monotonic() + 30.0
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
    print(f"publish (median ms; subscriber: {'yes, another process' if sub else 'none'})")
    print(f"{'size':<11}{'B/pt':>5}{'MB':>7}{'publish(msg)':>14}{'serialize':>11}"
          f"{'publish(bytes)':>16}")
    try:
        for name, (h, w) in list(SIZES.items())[:3]:
            for nf in (4, 3):
                names = ('x', 'y', 'z', 'rgb')[:nf]
                msg = new_message(
                    PointCloud2, height=h, width=w, is_bigendian=False, point_step=4 * nf,
                    row_step=4 * nf * w, is_dense=False,
                    fields=[PointField(name=n, offset=4 * i, datatype=7, count=1)
                            for i, n in enumerate(names)])
                set_data(msg, byte_buffer(h * w * 4 * nf))

                def timed(fn):
                    t0 = time.perf_counter()
                    fn()
                    return time.perf_counter() - t0
                a = median_ms(lambda: timed(lambda: pub.publish(msg)), repeat)
                s = median_ms(lambda: timed(lambda: serialize_message(msg)), repeat)
                raw = serialize_message(msg)
                b = median_ms(lambda: timed(lambda: pub.publish(raw)), repeat)
                print(f'{name:<11}{4 * nf:>5}{len(msg.data) / 1e6:>7.1f}{a:>14.2f}{s:>11.2f}'
                      f'{b:>16.2f}')
    finally:
        if sub is not None:
            sub.terminate()
            sub.wait()
        node.destroy_node()
        rclpy.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeat', type=int, default=15)
    parser.add_argument('--no-sub', action='store_true', help='publish without a subscriber')
    args = parser.parse_args()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fill_table(args.repeat)
    print()
    publish_table(args.repeat, not args.no_sub)


if __name__ == '__main__':
    main()
