# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The documentation as tests read it: README.md, then every guide under doc/.

Tests that hold the documentation to the code read the text here, so a fact
may live on the front page or in a guide (issue 20: the README is a front page,
the guides hold the rest).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The front page first, then the guides in name order.
FILES = [REPO / 'README.md'] + sorted((REPO / 'doc').glob('*.md'))


def text() -> str:
    """Return every documentation file's text, joined by blank lines."""
    return '\n\n'.join(path.read_text(encoding='utf-8') for path in FILES)
