# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
The documentation's links: README.md and every guide under doc/ (issue 20).

Every relative link (``[text](path#anchor)``, images included) must name a file
that exists and, where it has one, an anchor that is a heading of that file
(GitHub's anchors: the heading in lower case, punctuation dropped, spaces as
hyphens); every guide must be one click from README.
"""

from pathlib import Path
import re

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md'] + sorted((REPO / 'doc').glob('*.md'))
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')


def prose(path: Path):
    """Yield the lines of a Markdown file outside fenced code blocks."""
    fenced = False
    for line in path.read_text(encoding='utf-8').splitlines():
        if line.lstrip().startswith('```'):
            fenced = not fenced
        elif not fenced:
            yield line


def anchors(path: Path) -> set:
    """Return GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in prose(path):
        m = re.match(r'#{1,6} (.+)$', line)
        if m:
            title = re.sub(r'`', '', m.group(1).strip().lower())
            found.add(re.sub(r'[^\w\- ]', '', title).replace(' ', '-'))
    return found


def links(path: Path):
    """Yield the relative link targets of a Markdown file (code spans left out)."""
    for line in prose(path):
        line = re.sub(r'`[^`]*`', '', line)
        for target in LINK.findall(line):
            if not re.match(r'[a-z]+:', target):
                yield target


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_to_a_file_and_anchor(doc):
    broken = []
    for target in links(doc):
        file, _, anchor = target.partition('#')
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            broken.append(f'{target}: no file {dest}')
        elif anchor and dest.suffix == '.md' and anchor not in anchors(dest):
            broken.append(f'{target}: no heading #{anchor} in {dest.name}')
    assert not broken, f'{doc.name}: ' + '; '.join(broken)


def test_every_guide_is_one_click_from_readme():
    linked = {(REPO / target.partition('#')[0]).resolve()
              for target in links(REPO / 'README.md') if target.partition('#')[0]}
    guides = set((REPO / 'doc').glob('*.md'))
    assert guides and not {g.resolve() for g in guides} - linked


def test_readme_is_a_short_front_page():
    text = (REPO / 'README.md').read_text(encoding='utf-8')
    titles = [line[3:] for line in prose(REPO / 'README.md') if line.startswith('## ')]
    assert titles == ['Quick start', 'In a ROS 2 workspace', 'Topics', 'Parameters',
                      'Troubleshooting', 'Guides']
    assert len(text.splitlines()) < 340
