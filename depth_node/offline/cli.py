# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
What every offline command line shares: the model options, one-line errors, exit codes.

Exit status of every console script (``depth_node``, ``depth_node_run``,
``depth_node_eval``, ``depth_node_bench``, ``depth_node_demo``):

- 0: success;
- 1: the command ran but failed at its job (no frame processed, a check failed);
- 2: it could not start: a bad argument, parameter, model or input file (one
  ``<prog>: error: ...`` line, as argparse does for usage errors);
- 130: interrupted (Ctrl-C).
"""

import sys
from typing import Callable, Optional, Sequence

from ..errors import DepthNodeError
from ..params import DEFAULT_MODEL, DEVICE_CHOICES, PRECISION_CHOICES

#: Exit statuses of the console scripts (module docstring).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class OfflineInputError(DepthNodeError, ValueError):
    """An input file, folder or bag that the offline tools cannot use."""


def add_model_arguments(group, help_reference_focal: str) -> None:
    """Add the node's model options (--model, --device, --precision, focal, sky) to ``group``."""
    group.add_argument('--model', default=DEFAULT_MODEL,
                       help='Hugging Face id or local checkpoint directory (default: %(default)s)')
    group.add_argument('--device', default='auto', help=' | '.join(DEVICE_CHOICES))
    group.add_argument('--precision', default='auto', help=' | '.join(PRECISION_CHOICES))
    group.add_argument('--reference-focal', type=float, default=0.0, help=help_reference_focal)
    group.add_argument('--no-focal-scaling', action='store_true',
                       help='do not rescale depth by camera focal / training focal')
    group.add_argument('--keep-sky', action='store_true',
                       help="Depth Anything 3: keep the predicted depth where the sky head sees "
                            "sky instead of +inf (the node's mask_sky:=false)")


def cli_main(prog: str, parser, run: Callable, argv: Optional[Sequence[str]]) -> int:
    """Parse ``argv`` and call ``run(args)``; expected errors end in one line and exit 2."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except DepthNodeError as exc:
        print(f'{prog}: error: {exc}', file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
