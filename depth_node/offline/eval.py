# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
``depth_node_eval``: metric accuracy against ground truth, and scale calibration.

Reads a folder of RGB images with metric ground-truth depth (NYU Depth v2,
KITTI or a generic layout, see :func:`depth_node.offline.datasets.find_samples`),
predicts depth with the node's own pipeline (or takes precomputed
predictions, or any callable), and reports the papers' metrics
(:mod:`depth_node.metrics`) per image (CSV) and in total, optionally with
median scaling next to the metric numbers.

``--fit-scale`` fits the one factor s with ground truth ~= s x prediction
(robust median over all valid pixels) and prints the ``reference_focal`` that
makes the node apply it: depth is proportional to 1 / reference_focal, so
new = current / s.

``--anchor-points N`` anchors every prediction to N points of its ground truth
(a simulated sparse sensor, :class:`~depth_node.offline.anchors.SimulatedSensor`)
and ``--anchor-depth DIR`` to depth files, with the node's anchoring stage
(:mod:`depth_node.anchor`), so the metric columns are the anchored ones.

``--sequence`` takes the frames as one stream and reports the scale's
flicker, AbsRel and lag without and with temporal stabilisation
(:mod:`depth_node.offline.sequence`).
"""

import argparse
import csv
from dataclasses import dataclass, field, replace
import math
from pathlib import Path
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from .anchors import AnchorFolder, SimulatedSensor
from .cameras import CameraSpec, find_intrinsics_file, read_intrinsics_file
from .cli import add_model_arguments, announcer, cli_main, OfflineInputError
from .datasets import find_prediction, find_samples, read_depth, Sample
from .metrics import (evaluate_image, ImageResult, mean_metrics, METRIC_NAMES, METRIC_TITLES,
                      Protocol, PROTOCOLS, reference_focal_for_scale, ScaleFit, ScaleFitter)
from .predictions import BagPredictor
from .sequence import (add_temporal_arguments, evaluate_sequence, format_sequence,
                       temporal_parameters)
from .sources import is_bag, read_rgb
from ..anchor import AnchorReport, AnchorStage
from ..frame import FrameProcessor, OutputOptions
from ..models import load_model
from ..outputs import temporal_options
from ..params import check_parameter, PARAMETERS_BY_NAME

PROG = 'depth_node_eval'

#: A prediction provider: (sample, rgb H x W x 3 uint8, camera_info or None) -> metres.
Predictor = Callable[[Sample, np.ndarray, Optional[object]], np.ndarray]


class ModelPredictor:
    """Predict with a loaded :class:`DepthModel` through the node's :class:`FrameProcessor`."""

    def __init__(self, model, focal_scaling: bool = True):
        self.model = model
        self.processor = FrameProcessor(model)
        self.options = OutputOptions(focal_scaling=bool(focal_scaling), publish_points=False)

    def __call__(self, sample: Sample, rgb: np.ndarray, info) -> np.ndarray:
        """
        Return metric depth (metres) of one RGB image, scaled by its intrinsics.

        Without intrinsics (only with ``--no-focal-scaling``) the network's depth
        is taken as it is, without a camera.
        """
        if info is not None:
            return self.processor.process_pixels(rgb, (0, 1, 2), info, self.options).depth
        if self.options.focal_scaling:
            raise OfflineInputError(
                f'{sample.name}: no intrinsics for focal scaling; pass --camera-info or --fx '
                '(or --no-focal-scaling)')
        return self.model.predict(rgb, (0, 1, 2), focal=None)

    def anchored(self, sample: Sample, rgb: np.ndarray, info, anchor, options: OutputOptions
                 ) -> Tuple[np.ndarray, AnchorReport, list]:
        """
        Return ``(depth, anchor report, events)`` of one image anchored to ``anchor``.

        Through the frame path as the node runs it (``options`` carries the
        ``anchor.*`` values); each image is anchored on its own (no held
        correction from the previous one).
        """
        if info is None:
            depth = self(sample, rgb, info)
            return _anchor_host(AnchorStage(), depth, anchor, options)
        self.processor.anchoring.reset()
        out = self.processor.process_pixels(
            rgb, (0, 1, 2), info, replace(self.options, **_anchor_fields(options)),
            anchor=anchor)
        return out.depth, out.anchor, list(out.events)


def _anchor_fields(options: OutputOptions) -> dict:
    return {name: getattr(options, name) for name in (
        'anchor_depth', 'anchor_points', 'anchor_hold_time', 'anchor_min_inliers',
        'anchor_max_correction')}


def _anchor_host(stage: AnchorStage, depth: np.ndarray, anchor, options: OutputOptions):
    """Anchor a host prediction with the node's stage, on its own; ``(depth, report, events)``."""
    stage.reset()
    events: list = []
    correction = stage.update(depth, None, options, (anchor,) if anchor is not None else (),
                              None, '', events)
    depth = np.asarray(depth, dtype=np.float32)
    if correction is not None:
        depth = correction.apply(depth)
    return depth, stage.report, events


class EvalAnchoring:
    """
    The anchors of ``depth_node_eval`` (``--anchor-points N`` or ``--anchor-depth DIR``).

    ``source`` is a :class:`~depth_node.offline.anchors.SimulatedSensor` or an
    :class:`~depth_node.offline.anchors.AnchorFolder`; ``options`` the
    ``anchor.*`` values. A model's prediction is anchored inside its frame
    path, a stored prediction by the same stage afterwards.
    """

    def __init__(self, source, options: OutputOptions):
        self.source = source
        self.options = options
        self._stage = AnchorStage()

    def describe(self) -> str:
        """Return the anchors in words, for the report."""
        if isinstance(self.source, SimulatedSensor):
            return self.source.describe()
        return f'anchors from the depth files in {self.source.folder}'

    def anchor(self, sample: Sample, gt: np.ndarray, protocol: Protocol):
        """Return the anchor message of one sample (None: no anchor file)."""
        if isinstance(self.source, SimulatedSensor):
            return self.source.anchor(gt, protocol, sample.name)
        return self.source.anchor(sample.name)

    def predict(self, predict: 'Predictor', sample: Sample, rgb: np.ndarray, info,
                anchor) -> Tuple[np.ndarray, AnchorReport, list]:
        """Return ``(anchored depth, report, events)`` of one sample."""
        if isinstance(predict, ModelPredictor):
            return predict.anchored(sample, rgb, info, anchor, self.options)
        return _anchor_host(self._stage, predict(sample, rgb, info), anchor, self.options)


def anchor_options(args) -> OutputOptions:
    """Return the anchoring options of the command line, checked as the node's parameters."""
    min_inliers = check_parameter('anchor.min_inliers', args.anchor_min_inliers)
    max_correction = check_parameter('anchor.max_correction', args.anchor_max_correction)
    return OutputOptions(anchor_depth=True, anchor_hold_time=0.0,
                         anchor_min_inliers=min_inliers, anchor_max_correction=max_correction)


class FolderPredictor:
    """Precomputed predictions: ``<name>.npy`` (metres) or ``<name>_depth.png`` (mm)."""

    def __init__(self, folder, depth_scale: float = 1000.0):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise OfflineInputError(f'predictions folder {self.folder} does not exist')
        self.depth_scale = float(depth_scale)

    def __call__(self, sample: Sample, rgb: np.ndarray, info) -> np.ndarray:
        """Return the stored prediction of ``sample`` in metres."""
        path = find_prediction(self.folder, sample.name)
        if path is None:
            raise OfflineInputError(
                f'no prediction for {sample.name} in {self.folder} (looked for {sample.name}'
                '.npy, _depth.npy, _depth.png, .png)')
        return read_depth(path, self.depth_scale)


@dataclass
class EvalReport:
    """Per-image results, their means and (optionally) the fitted scale."""

    protocol: Protocol
    images: List[ImageResult] = field(default_factory=list)
    scale: float = 1.0
    scale_fit: Optional[ScaleFit] = None
    #: With anchoring: what it did per image (by name), and its lines.
    anchors: Dict[str, AnchorReport] = field(default_factory=dict)
    anchor_lines: List[str] = field(default_factory=list)

    @property
    def mean(self) -> dict:
        """Metric accuracy averaged over images."""
        return mean_metrics([r.metrics for r in self.images])

    @property
    def scaled_mean(self) -> Optional[dict]:
        """Median-scaled accuracy averaged over images (None without median scaling)."""
        if not self.images or self.images[0].scaled_metrics is None:
            return None
        return mean_metrics([r.scaled_metrics for r in self.images])

    @property
    def valid(self) -> int:
        """Total pixels evaluated."""
        return sum(r.valid for r in self.images)

    @property
    def missing(self) -> int:
        """Total pixels with ground truth but no prediction."""
        return sum(r.missing for r in self.images)


def resize_prediction(pred: np.ndarray, shape) -> np.ndarray:
    """Resize a prediction to the ground truth's ``(H, W)`` (bilinear, as ZoeDepth does)."""
    pred = np.asarray(pred, dtype=np.float32)
    if pred.shape == tuple(shape):
        return pred
    return cv2.resize(pred, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


def evaluate(samples: Sequence[Sample], predict: Predictor, protocol: Protocol, *,
             camera: Optional[CameraSpec] = None, depth_scale: Optional[float] = None,
             median_scaling: bool = False, fit: bool = False, scale: float = 1.0,
             progress: bool = False, anchoring: Optional[EvalAnchoring] = None) -> EvalReport:
    """
    Evaluate ``predict`` on ``samples`` with ``protocol``.

    ``camera`` (if set) overrides each sample's own intrinsics; ``depth_scale``
    (if set) overrides the sample's and the protocol's ground-truth PNG scale.
    ``scale`` multiplies every prediction before the metrics (to check a
    calibration); ``fit`` fits the scale of the raw predictions. ``anchoring``
    anchors each prediction first (the metrics are then the anchored ones).
    """
    report = EvalReport(protocol, scale=float(scale))
    fitter = ScaleFitter(protocol) if fit else None
    for sample in tqdm(samples, desc=PROG, unit='image', file=sys.stderr,
                       disable=None if progress else True, dynamic_ncols=True):
        rgb = read_rgb(sample.rgb_path)
        cam = camera if camera is not None and camera.is_set() else sample.camera
        info = cam.for_size(rgb.shape[1], rgb.shape[0]) if cam is not None else None
        gt_scale = depth_scale or sample.depth_scale or protocol.depth_scale
        gt = read_depth(sample.depth_path, gt_scale)
        if anchoring is None:
            pred = predict(sample, rgb, info)
        else:
            anchor = anchoring.anchor(sample, gt, protocol)
            pred, anchor_report, events = anchoring.predict(predict, sample, rgb, info, anchor)
            report.anchors[sample.name] = anchor_report
            report.anchor_lines += [f'{sample.name}: {e.text}' for e in events
                                    if e.kind != 'anchor_acquired']
            if anchor is None:
                report.anchor_lines.append(f'{sample.name}: no anchor file')
        pred = resize_prediction(pred, gt.shape)
        report.images.append(evaluate_image(gt, pred, protocol, name=sample.name,
                                            median_scaling=median_scaling, scale=scale))
        if fitter is not None:
            fitter.add(gt, pred)
    if fitter is not None:
        report.scale_fit = fitter.result()
    return report


def write_csv(path, report: EvalReport) -> None:
    """Write one row per image and a final ``mean`` row."""
    scaled = report.scaled_mean is not None
    anchored = bool(report.anchors)
    header = ['name', 'valid_px', 'missing_px', *METRIC_NAMES]
    if scaled:
        header += ['median_scale', *(f'ms_{n}' for n in METRIC_NAMES)]
    if anchored:
        header += ['anchor_state', 'anchor_scale', 'anchor_inliers', 'anchor_anchors']
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in report.images:
            row = [r.name, r.valid, r.missing, *(_num(r.metrics[n]) for n in METRIC_NAMES)]
            if scaled:
                row += [_num(r.median_scale), *(_num(r.scaled_metrics[n]) for n in METRIC_NAMES)]
            if anchored:
                row += _anchor_cells(report.anchors.get(r.name))
            writer.writerow(row)
        row = ['mean', report.valid, report.missing,
               *(_num(report.mean[n]) for n in METRIC_NAMES)]
        if scaled:
            scales = [r.median_scale for r in report.images if r.median_scale is not None]
            row += [_num(float(np.median(scales)) if scales else math.nan),
                    *(_num(report.scaled_mean[n]) for n in METRIC_NAMES)]
        writer.writerow(row)


def _anchor_cells(a: Optional[AnchorReport]) -> list:
    if a is None or a.correction is None:
        return [a.state if a is not None else 'off', 'nan', 0, 0]
    return [a.state, _num(a.correction.scale), a.inliers, a.anchors]


def format_anchors(report: EvalReport) -> str:
    """Return one line on what anchoring did over the images."""
    used = [a for a in report.anchors.values() if a.correction is not None]
    text = f'anchored {len(used)} of {len(report.anchors)} image(s)'
    if used:
        scales = [a.correction.scale for a in used]
        inliers = [a.inliers for a in used]
        text += (f': scale {min(scales):.4f} .. {max(scales):.4f}, inliers '
                 f'{min(inliers)} .. {max(inliers)} of {max(a.anchors for a in used)}')
    return text


def _num(value) -> str:
    return 'nan' if value is None or not math.isfinite(value) else f'{value:.6g}'


def format_table(report: EvalReport, per_image: bool = False) -> str:
    """Return the metrics as a fixed-width text table."""
    width = max([22] + [len(r.name) + 2 for r in report.images] if per_image else [22])
    titles = ''.join(f'{METRIC_TITLES[n]:>9}' for n in METRIC_NAMES)
    lines = [f"{'':<{width}}{'pixels':>10}{titles}"]

    def row(label, pixels, metrics):
        return f'{label:<{width}}{pixels:>10}' + ''.join(
            f'{metrics[n]:>9.4f}' for n in METRIC_NAMES)

    if per_image:
        for r in report.images:
            lines.append(row(r.name, r.valid, r.metrics))
            if r.scaled_metrics is not None:
                lines.append(row(f'  x{r.median_scale:.3f}', '', r.scaled_metrics))
    lines.append(row('mean, metric', report.valid, report.mean))
    if report.scaled_mean is not None:
        lines.append(row('mean, median-scaled', '', report.scaled_mean))
    return '\n'.join(lines)


def format_scale_fit(fit: ScaleFit, current: Optional[float], focal_scaling: bool,
                     source: str) -> str:
    """
    Return the calibration result and the reference_focal to configure.

    ``current`` is the reference focal in use (None or 0 when unknown); ``source``
    says where it came from, ``'none'`` for a model without one (Depth Pro).
    """
    if not math.isfinite(fit.scale):
        return 'scale fit: no valid pixels (check the depth caps, crop and depth scale)'
    lo, hi = fit.spread()
    lines = [
        f'scale fit over {fit.frames} frame(s), {fit.pixels} pixels: '
        f'ground truth / prediction = {fit.scale:.4f} (median; per frame {lo:.4f} .. {hi:.4f})',
    ]
    if not focal_scaling:
        lines.append('focal scaling was off: reference_focal has no effect then. Fit again '
                     'with focal scaling on (the node default) to get a reference_focal.')
        return '\n'.join(lines)
    if source == 'none':
        lines.append('this model has no reference_focal (Depth Pro: depth follows the camera '
                     'fx); the node cannot apply the factor through a parameter')
        return '\n'.join(lines)
    if not current:
        lines.append(f'reference_focal_new = reference_focal_current / {fit.scale:.4f} '
                     '(pass --reference-focal CURRENT, or --model, to compute it; '
                     'depth_node logs the value in use at start-up)')
        return '\n'.join(lines)
    new = reference_focal_for_scale(current, fit.scale)
    lines += [
        f'reference_focal: current {current:.1f} px ({source}) -> new {new:.1f} px '
        f'(new = current / scale; depth is proportional to 1 / reference_focal)',
        'put this in config/depth_node.yaml (under /**: ros__parameters:):',
        f'    reference_focal: {new:.1f}',
        f'or run the node with: --ros-args -p reference_focal:={new:.1f}',
    ]
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``depth_node_eval``."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description='Evaluate metric depth against ground truth (AbsRel, SqRel, RMSE, RMSE log, '
                    'log10, delta1-3) and fit the scale for a camera (--fit-scale).')
    p.add_argument('data', help='folder of RGB images + ground-truth depth (rgb/ + depth/, '
                                'test_annotations.json, or *depth* files beside the images)')
    p.add_argument('--dataset', choices=sorted(PROTOCOLS), default='generic',
                   help='protocol: nyu (Eigen crop, 1e-3..10 m, PNG mm), kitti (Garg crop, '
                        '1e-3..80 m, PNG /256), generic (whole image, > 1e-3 m, PNG mm); '
                        'default: %(default)s')
    p.add_argument('--crop', choices=('none', 'eigen_nyu', 'garg', 'eigen_kitti'),
                   help="override the protocol's crop")
    p.add_argument('--min-depth', type=float, help="override the protocol's minimum (m)")
    p.add_argument('--max-depth', type=float, help="override the cap (m; 0 = none)")
    p.add_argument('--depth-scale', type=float,
                   help='ground-truth PNG units per metre (default: per file index, else '
                        'protocol: 1000 mm, KITTI 256; TUM 5000); .npy is metres')
    g = p.add_argument_group('intrinsics (default: test_annotations.json or a camera_info.yaml '
                             'in the folder)')
    g.add_argument('--camera-info', metavar='FILE', help='camera_info YAML or Open3D JSON')
    g.add_argument('--fx', type=float)
    g.add_argument('--fy', type=float)
    g.add_argument('--cx', type=float)
    g.add_argument('--cy', type=float)
    g = p.add_argument_group('predictions')
    add_model_arguments(g, "px at network input; 0 = the checkpoint's")
    g.add_argument('--predictions', metavar='DIR|BAG',
                   help='evaluate precomputed predictions instead of a model: a folder of '
                        '<name>.npy (metres) or <name>_depth.png (mm, as depth_node_run --out '
                        'writes), or a rosbag2 of depth_node_run --out-bag (depth/image or '
                        'depth/image/compressedDepth)')
    g.add_argument('--prediction-topic', metavar='TOPIC',
                   help='depth topic of a --predictions bag (default: the only '
                        '<ns>/depth/image or <ns>/depth/image/compressedDepth)')
    g = p.add_argument_group('report')
    g.add_argument('--median-scaling', action='store_true',
                   help='also report scale-free accuracy (per-image median scaling)')
    g.add_argument('--scale', type=float, default=1.0,
                   help='multiply predictions by this factor first (check a fitted scale)')
    g.add_argument('--csv', metavar='PATH', help='write per-image metrics and the mean')
    g.add_argument('--per-image', action='store_true', help='print every image')
    g.add_argument('--max-frames', type=int, default=0, help='evaluate the first N pairs')
    g.add_argument('--no-progress', action='store_true')
    g = p.add_argument_group(
        'anchoring (the node\'s anchor.* parameters; doc/anchoring.md)')
    g.add_argument('--anchor-points', type=int, default=0, metavar='N',
                   help='anchor every prediction to N points drawn from its ground truth (a '
                        'simulated sparse sensor); the metric columns are the anchored ones '
                        '(0 = no anchoring, the default)')
    g.add_argument('--anchor-noise', type=float, default=0.02, metavar='SIGMA',
                   help='relative noise of each simulated anchor: z = gt exp(SIGMA n), n ~ '
                        'N(0, 1) (default: %(default)s; 0 = the ground truth as it is)')
    g.add_argument('--anchor-outliers', type=float, default=0.05, metavar='FRACTION',
                   help='fraction of simulated anchors that measure gt x U(0.3, 3) instead '
                        '(default: %(default)s)')
    g.add_argument('--anchor-seed', type=int, default=0, help='seed of the simulated anchors')
    g.add_argument('--anchor-depth', metavar='DIR',
                   help='anchor to one depth file per image from DIR instead (matched by name; '
                        '16-bit PNG, .npy metres), as depth_node_run --anchor-depth')
    g.add_argument('--anchor-depth-scale', type=float, default=1000.0, metavar='UNITS',
                   help='PNG units per metre of --anchor-depth files (default: %(default)s)')
    g.add_argument('--anchor-min-inliers', type=int,
                   default=PARAMETERS_BY_NAME['anchor.min_inliers'].default,
                   help='anchor.min_inliers (default: %(default)s)')
    g.add_argument('--anchor-max-correction', type=float,
                   default=PARAMETERS_BY_NAME['anchor.max_correction'].default,
                   help='anchor.max_correction (default: %(default)s)')
    g = p.add_argument_group('calibration')
    g.add_argument('--fit-scale', action='store_true',
                   help='fit ground truth / prediction (robust median) and print the '
                        'reference_focal for config/depth_node.yaml')
    g = add_temporal_arguments(p, enable=False)
    g.add_argument('--sequence', action='store_true',
                   help='take the frames (natural order) as one stream at --fps and report, '
                        'without and with temporal stabilisation, the frame-to-frame change of '
                        'the scale error (median gt / prediction), mean AbsRel and the lag '
                        'after a cut and after a synthetic scale step')
    g.add_argument('--fps', type=float, default=30.0,
                   help='frame rate of the sequence, for its stamps (default: %(default)s)')
    g.add_argument('--every', type=int, default=1, metavar='N',
                   help='sequence of every Nth frame (e.g. a node at rate 10 on a 30 Hz camera: '
                        '--every 3 --fps 10; default: %(default)s)')
    g.add_argument('--step-size', type=float, default=0.2, metavar='REL',
                   help='synthetic scale step of the lag trials (default: %(default)s; 0 = '
                        'none)')
    g.add_argument('--step-every', type=int, default=0, metavar='N',
                   help='place the synthetic step at every Nth frame (default: at a quarter, '
                        'half and three quarters of the sequence)')
    return p


def run(args) -> int:
    """Evaluate as ``args`` says and print the report; return the exit status."""
    protocol = PROTOCOLS[args.dataset].with_overrides(args.min_depth, args.max_depth, args.crop)
    root = Path(args.data)
    anchoring = eval_anchoring(args)
    if args.sequence and anchoring is not None:
        raise OfflineInputError('--sequence does not take --anchor-points or --anchor-depth '
                                '(yet): evaluate the anchored scale without it')
    samples = find_samples(root)
    if args.max_frames > 0:
        samples = samples[:args.max_frames]
    info_path = args.camera_info
    if info_path is None and all(s.camera is None for s in samples):
        found = find_intrinsics_file(root)
        info_path = str(found) if found else None
    camera = CameraSpec(read_intrinsics_file(info_path) if info_path else None,
                        args.fx, args.fy, args.cx, args.cy)
    current = None
    source = ''
    if args.predictions and is_bag(args.predictions):
        predict = BagPredictor(args.predictions, args.prediction_topic, count=len(samples))
        label = predict.describe()
        if args.reference_focal > 0:
            current, source = args.reference_focal, '--reference-focal'
    elif args.predictions:
        predict = FolderPredictor(args.predictions)
        label = f'predictions in {args.predictions}'
        if args.reference_focal > 0:
            current, source = args.reference_focal, '--reference-focal'
    else:
        model = load_model(args.model, args.device, args.precision,
                           reference_focal=args.reference_focal, mask_sky=not args.keep_sky,
                           announce=announcer(PROG))
        predict = ModelPredictor(model, not args.no_focal_scaling)
        label = model.describe()
        current = model.reference_focal
        source = ('none' if current is None else '--reference-focal'
                  if args.reference_focal > 0 else "the checkpoint's default")
    print(f'{PROG}: {len(samples)} image(s) in {root}; protocol {protocol.summary()}')
    print(f'{PROG}: {label}')
    if args.sequence:
        return run_sequence(args, samples, predict, protocol, camera)
    if anchoring is not None:
        print(f'{PROG}: {anchoring.describe()}')
    report = evaluate(samples, predict, protocol, camera=camera, depth_scale=args.depth_scale,
                      median_scaling=args.median_scaling or args.fit_scale, fit=args.fit_scale,
                      scale=args.scale, progress=not args.no_progress, anchoring=anchoring)
    if args.scale != 1.0:
        print(f'{PROG}: predictions multiplied by {args.scale:g}')
    print(format_table(report, args.per_image))
    if report.missing:
        print(f'{PROG}: {report.missing} pixels with ground truth had no prediction (NaN) and '
              'were left out')
    if anchoring is not None:
        for line in report.anchor_lines:
            print(f'{PROG}: warning: {line}', file=sys.stderr)
        print(f'{PROG}: {format_anchors(report)}')
    if args.csv:
        write_csv(args.csv, report)
        print(f'{PROG}: wrote {args.csv}')
    if report.scale_fit is not None:
        print(format_scale_fit(report.scale_fit, current, not args.no_focal_scaling, source))
    return 0 if report.valid else 1


def eval_anchoring(args) -> Optional[EvalAnchoring]:
    """Return the anchoring of the command line (None: no anchoring)."""
    if args.anchor_points < 0:
        raise OfflineInputError(f'--anchor-points must be >= 0; got {args.anchor_points}')
    if args.anchor_points and args.anchor_depth:
        raise OfflineInputError('pass --anchor-points N or --anchor-depth DIR, not both')
    if not (args.anchor_noise >= 0 and 0 <= args.anchor_outliers <= 1):
        raise OfflineInputError('--anchor-noise must be >= 0 and --anchor-outliers within 0..1')
    if not args.anchor_points and not args.anchor_depth:
        return None
    options = anchor_options(args)
    if args.anchor_depth:
        return EvalAnchoring(AnchorFolder(args.anchor_depth, args.anchor_depth_scale), options)
    return EvalAnchoring(SimulatedSensor(args.anchor_points, args.anchor_noise,
                                         args.anchor_outliers, args.anchor_seed), options)


def run_sequence(args, samples: Sequence[Sample], predict: Predictor, protocol: Protocol,
                 camera: CameraSpec) -> int:
    """Evaluate the samples as one stream without and with stabilisation; print the report."""
    if (args.fps <= 0 or args.every < 1 or args.step_every < 0
            or not 0.0 <= args.step_size < 10.0):
        raise OfflineInputError('--fps must be > 0, --every >= 1, --step-every >= 0 and '
                                '--step-size within [0, 10)')
    samples = samples[::args.every]
    cfg = {name: check_parameter(name, value) for name, value in temporal_parameters(args).items()}
    opts = temporal_options(cfg)
    predictions = []
    for sample in tqdm(samples, desc=PROG, unit='image', file=sys.stderr,
                       disable=True if args.no_progress else None, dynamic_ncols=True):
        rgb = read_rgb(sample.rgb_path)
        cam = camera if camera.is_set() else sample.camera
        info = cam.for_size(rgb.shape[1], rgb.shape[0]) if cam is not None else None
        predictions.append(np.asarray(predict(sample, rgb, info), dtype=np.float32))

    def ground_truth(i: int) -> np.ndarray:
        sample = samples[i]
        return read_depth(sample.depth_path,
                          args.depth_scale or sample.depth_scale or protocol.depth_scale)

    report = evaluate_sequence(predictions, ground_truth, protocol, opts, fps=args.fps,
                               step=args.step_size, step_every=args.step_every,
                               resize=resize_prediction)
    print(format_sequence(report))
    return 0 if len(samples) >= 2 else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``depth_node_eval``."""
    return cli_main(PROG, build_parser(), run, argv)


if __name__ == '__main__':
    sys.exit(main())
