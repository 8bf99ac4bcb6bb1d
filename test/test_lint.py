# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Linters as tests, with the settings of ament_lint.

ament_flake8, ament_pep257, ament_copyright and ament_xmllint are not installable from
PyPI, so these tests run the same tools (flake8 + flake8-import-order, pydocstyle) with the
same configuration, and check the copyright header and package.xml directly. Each
``<test_depend>`` of package.xml maps to one test here (see ``TEST_DEPENDS``).
"""

import ast
from pathlib import Path
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

REPO = Path(__file__).resolve().parents[1]

# Python sources the linters look at, relative to the repository root.
LINTED_DIRS = ('depth_node', 'test', 'launch')
LINTED_FILES = ('setup.py',)

# The header every Python file starts with (after an optional shebang line).
COPYRIGHT_HEADER = (
    '# Copyright 2026 depth_node contributors',
    '# SPDX-License-Identifier: Apache-2.0',
)

# ament_pep257's default ("ament") convention: pydocstyle with these codes ignored and
# every other code checked, D213 included (ament_pep257/ament_pep257/main.py).
AMENT_PEP257_IGNORE = (
    'D100', 'D101', 'D102', 'D103', 'D104', 'D105', 'D106', 'D107',
    'D203', 'D212', 'D404',
)

# package.xml <test_depend> -> the test in this module that stands for it.
TEST_DEPENDS = {
    'ament_copyright': 'test_copyright',
    'ament_flake8': 'test_flake8',
    'ament_pep257': 'test_pep257',
    'ament_xmllint': 'test_xmllint',
    'python3-pytest': None,  # the runner itself
}


def python_files():
    """Return the linted Python files, sorted, relative to the repository root."""
    files = [REPO / f for f in LINTED_FILES if (REPO / f).is_file()]
    for d in LINTED_DIRS:
        files += [p for p in (REPO / d).rglob('*.py') if '__pycache__' not in p.parts]
    return sorted(files)


def _rel(path):
    return str(Path(path).resolve().relative_to(REPO))


@pytest.mark.linter
def test_flake8():
    """flake8 with ament_flake8's configuration (setup.cfg [flake8])."""
    pytest.importorskip('flake8')
    result = subprocess.run(
        [sys.executable, '-m', 'flake8', '--config', str(REPO / 'setup.cfg'),
         *[_rel(f) for f in python_files()]],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        'flake8 found problems (config: setup.cfg [flake8], as ament_flake8; imports '
        'in Google order: stdlib, then third-party and depth_node together, '
        'alphabetically, then relative):\n' + result.stdout + result.stderr)


def test_flake8_import_order_plugin_present():
    """ament_flake8 checks import order; without the plugin that check is silently off."""
    pytest.importorskip('flake8')
    try:
        import flake8_import_order  # noqa: F401
    except ImportError:
        pytest.skip('flake8-import-order is not installed: import order is not checked '
                    '(make venv installs it)')


@pytest.mark.linter
def test_pep257():
    """Docstrings in ament_pep257's convention."""
    pydocstyle = pytest.importorskip('pydocstyle')
    problems = []
    for error in pydocstyle.check([str(f) for f in python_files()],
                                  ignore=list(AMENT_PEP257_IGNORE)):
        if isinstance(error, pydocstyle.Error):
            problems.append(f'{_rel(error.filename)}:{error.line} {error.definition}: '
                            f'{error.message}')
        else:  # pydocstyle yields parse failures as exception objects
            problems.append(f'{error!r}')
    assert not problems, (
        'pep257 problems (ament convention: a multi-line docstring starts with """ alone '
        'on its line and the summary on the next one, D213):\n' + '\n'.join(problems))


@pytest.mark.linter
def test_copyright():
    """Every Python file starts with the project's copyright and SPDX license lines."""
    missing = []
    for path in python_files():
        text = path.read_text(encoding='utf-8')
        if not text.strip():
            continue  # empty files (e.g. a bare __init__.py) carry no code to license
        lines = text.splitlines()
        if lines and lines[0].startswith('#!'):
            lines = lines[1:]
        if tuple(lines[:2]) != COPYRIGHT_HEADER:
            missing.append(_rel(path))
    assert not missing, (
        'these files do not start with the header\n    ' + '\n    '.join(COPYRIGHT_HEADER)
        + '\n:\n' + '\n'.join(missing))


def test_license_file():
    """The repository carries the Apache-2.0 text that the headers point to."""
    text = (REPO / 'LICENSE').read_text(encoding='utf-8')
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text


def _package_xml():
    return ET.parse(REPO / 'package.xml').getroot()


@pytest.mark.linter
def test_xmllint():
    """package.xml is well formed and has the structure of a format 3 ament_python package."""
    root = _package_xml()  # raises ParseError when not well formed
    assert root.tag == 'package'
    assert root.get('format') == '3'

    # The schema's fixed sequence: name, version, description, maintainer+, license+.
    head = [child.tag for child in root if isinstance(child.tag, str)]
    n_maintainers = sum(1 for t in head if t == 'maintainer')
    n_licenses = sum(1 for t in head if t == 'license')
    assert n_maintainers >= 1 and n_licenses >= 1
    assert head[:3 + n_maintainers + n_licenses] == (
        ['name', 'version', 'description'] + ['maintainer'] * n_maintainers
        + ['license'] * n_licenses), head

    assert root.findtext('name') == 'depth_node'
    assert re.fullmatch(r'\d+\.\d+\.\d+', root.findtext('version'))
    assert root.findtext('description').strip()
    for maintainer in root.findall('maintainer'):
        assert maintainer.get('email') and maintainer.text.strip()
    assert root.findtext('license') == 'Apache-2.0'
    assert [e.text for e in root.findall('buildtool_depend')] == ['ament_python']
    assert root.findtext('export/build_type') == 'ament_python'

    deps = [(e.tag, e.text) for e in root if e.tag.endswith('depend')]
    duplicates = {d for d in deps if deps.count(d) > 1}
    assert not duplicates, f'duplicate dependencies in package.xml: {sorted(duplicates)}'


def test_package_xml_matches_setup_py():
    """Name and version agree between package.xml and setup.py."""
    root = _package_xml()
    tree = ast.parse((REPO / 'setup.py').read_text(encoding='utf-8'))
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)}
    setup_call = next(
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'setup')
    kwargs = {k.arg: k.value for k in setup_call.keywords}

    def value(node):
        if isinstance(node, ast.Name):
            return constants[node.id]
        return ast.literal_eval(node)

    assert value(kwargs['name']) == root.findtext('name')
    assert value(kwargs['version']) == root.findtext('version')


def test_every_test_depend_has_its_test():
    """Each <test_depend> in package.xml is exercised by a test (STYLE.md, section 6)."""
    declared = sorted(e.text for e in _package_xml().findall('test_depend'))
    assert declared == sorted(TEST_DEPENDS), (
        f'package.xml test_depends {declared} != mapped {sorted(TEST_DEPENDS)}')
    for test_name in filter(None, TEST_DEPENDS.values()):
        assert callable(globals().get(test_name)), test_name
