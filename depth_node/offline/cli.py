# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
What every offline command line shares: the model options, one-line errors, exit codes.

Exit status of every console script (``depth_node``, ``depth_node_run``,
``depth_node_eval``, ``depth_node_bench``, ``depth_node_demo``):

- 0: success;
- 1: the command ran but failed at its job (no frame processed, a check failed);
- 2: it could not start: a bad argument, parameter, model or input file (one
  ``<prog>: error: ...`` line, as argparse does for usage errors), also at once
  when the model is a hub id that is neither cached nor fetchable;
- 130: interrupted (Ctrl-C).

The core's advice is in the node's parameter syntax (``model:=<dir>``); the
tools say it with their options (:data:`TOOL_TERMS`: ``--model <dir>``).
"""

import sys
from typing import Callable, Optional, Sequence

from ..errors import DepthNodeError
from ..params import DEFAULT_MODEL, DEVICE_CHOICES, PRECISION_CHOICES
from ..startup import in_terms

#: Exit statuses of the console scripts (module docstring).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


#: The node parameters the core's messages advise, and the tools' options for them.
TOOL_TERMS = {
    'model': '--model ', 'device': '--device ', 'precision': '--precision ',
    'reference_focal': '--reference-focal ', 'focal_scaling:=false': '--no-focal-scaling',
    'mask_sky:=false': '--keep-sky',
}


class OfflineInputError(DepthNodeError, ValueError):
    """An input file, folder or bag that the offline tools cannot use."""


def error_text(exc: BaseException) -> str:
    """Return an error's message in the tools' terms (``--model <dir>``, not ``model:=``)."""
    return in_terms(str(exc), TOOL_TERMS)


def announcer(prog: str) -> Callable[[str], None]:
    """Return what prints the loader's ``loading <model> on <device>...`` line (stderr)."""
    def announce(text: str) -> None:
        print(f'{prog}: {text}', file=sys.stderr, flush=True)
    return announce


def library_progress(terminal: Optional[bool] = None) -> None:
    """
    Keep the libraries' progress bars out of the tools' output, except downloads on a terminal.

    transformers' weight-loading bar never shows (the ``loading ...`` line says
    it); the Hugging Face Hub's download bars show only when stderr is a
    terminal (``terminal``; default: ``sys.stderr.isatty()``), as a first
    download takes minutes.
    """
    try:
        from huggingface_hub import constants
        from huggingface_hub.utils import enable_progress_bars
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return
    hf_logging.disable_progress_bar()  # transformers' bars, and the Hub's with them
    if terminal is None:
        terminal = sys.stderr.isatty()
    if terminal and getattr(constants, 'HF_HUB_DISABLE_PROGRESS_BARS', None) is not True:
        enable_progress_bars()


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
    library_progress()
    try:
        return run(args)
    except DepthNodeError as exc:
        print(f'{prog}: error: {error_text(exc)}', file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
