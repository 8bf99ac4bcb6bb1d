# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
What README promises a new user, checked against the code (issue 16 item 14).

The option lists of the offline tools are held against their argparse parsers
(both ways: every option documented, every documented option real), the command
lines of README's examples run from a fresh shell (``.venv/bin/...``) and parse,
the FastDepth evaluation example is reproduced from its recipe, and the tables of
diagnostics keys, parameter ranges and model families are held against the code.
"""

import importlib.util
import os
from pathlib import Path
import re
import shlex
import xml.etree.ElementTree as ET

import documentation
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
SHARED = REPO.parent / 'shared'
NYU = SHARED / 'data' / 'rgbd' / 'nyu'
FASTDEPTH = SHARED / 'models' / 'fastdepth_nyu_int8_224.tflite'
TOOLS = ('depth_node_run', 'depth_node_eval', 'depth_node_bench', 'depth_node_demo')


# --------------------------------------------------------------------------- README parsing

def readme_lines():
    """Return the lines of README and the guides under doc/ (documentation.text)."""
    return documentation.text().splitlines()


def headings():
    """Return ``(line index, level, title)`` of every ``##``/``###`` heading outside code."""
    found, fenced = [], False
    for i, line in enumerate(readme_lines()):
        if line.lstrip().startswith('```'):
            fenced = not fenced
        elif not fenced:
            m = re.match(r'(#{2,4}) (.+)$', line)
            if m:
                found.append((i, len(m.group(1)), m.group(2).strip()))
    return found


def section(title: str, subsections: bool = True) -> str:
    """Return the text under heading ``title`` (with or without its subsections)."""
    lines = readme_lines()
    marks = headings()
    for k, (start, level, name) in enumerate(marks):
        if name == title:
            end = len(lines)
            for nxt, nxt_level, _ in marks[k + 1:]:
                if nxt_level <= level or not subsections:
                    end = nxt
                    break
            return '\n'.join(lines[start + 1:end])
    raise AssertionError(f'the documentation has no section {title!r}')


def inline_code(text: str):
    """Return the inline code spans of ``text`` outside fenced blocks."""
    prose, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith('```'):
            fenced = not fenced
        elif not fenced:
            prose.append(line)
    return re.findall(r'(?<!`)`([^`\n]+)`(?!`)', '\n'.join(prose))


def fenced_commands(text: str):
    """Return the command lines of fenced blocks: continuations joined, ``$ `` dropped."""
    commands, fenced, pending = [], False, ''
    for line in text.splitlines():
        if line.lstrip().startswith('```'):
            fenced, pending = not fenced, ''
            continue
        if not fenced:
            continue
        line = pending + line.strip()
        if line.endswith('\\'):
            pending = line[:-1] + ' '
            continue
        pending = ''
        line = line[2:] if line.startswith('$ ') else line
        commands.append(line.split('  #')[0].strip())
    return commands


def parser_of(tool: str):
    from depth_node.offline import bench, eval as evaluate, run
    return {'depth_node_run': run.build_parser, 'depth_node_eval': evaluate.build_parser,
            'depth_node_bench': bench.build_parser}[tool]()


#: Where README documents each tool's options (the Offline tools introduction is shared).
TOOL_SECTIONS = {
    'depth_node_run': ('Offline tools/intro', 'depth_node_run'),
    'depth_node_eval': ('Offline tools/intro', 'depth_node_eval',
                        'Calibrating the scale for your camera'),
    'depth_node_bench': ('Performance',),
}


def tool_text(tool: str) -> str:
    parts = []
    for title in TOOL_SECTIONS[tool]:
        if title.endswith('/intro'):
            parts.append(section(title[:-len('/intro')], subsections=False))
        else:
            parts.append(section(title))
    return '\n'.join(parts)


def options_of(parser):
    return sorted({o for action in parser._actions for o in action.option_strings
                   if o.startswith('--') and o != '--help'})


# --------------------------------------------------------------------------- options

@pytest.mark.parametrize('tool', sorted(TOOL_SECTIONS))
def test_readme_lists_every_option_of_each_tool_and_no_other(tool):
    """Read from the parser, so an option added to a tool only needs its README line."""
    options = options_of(parser_of(tool))
    spans = inline_code(tool_text(tool))
    starts = {re.match(r'--[a-z][a-z0-9_-]*', s).group() for s in spans if s.startswith('--')}
    undocumented = sorted(set(options) - starts)
    assert not undocumented, f"README's {tool} sections do not name {undocumented}"
    unknown = sorted(starts - set(options))
    assert not unknown, f"README's {tool} sections name options it does not have: {unknown}"


def test_offline_examples_run_from_a_fresh_shell():
    """Each example command is .venv/bin/<tool> (or .venv/bin/python) and its options parse."""
    seen = set()
    for command in fenced_commands(documentation.text()):
        first = command.split()[0] if command.split() else ''
        name = os.path.basename(first)
        if name not in TOOLS and not name.startswith('python'):
            continue  # output, YAML, other commands
        words = shlex.split(command)
        if name in TOOLS:
            assert words[0] == f'.venv/bin/{name}', command
            seen.add(name)
            if name != 'depth_node_demo':
                parser_of(name).parse_args(words[1:])  # SystemExit (a failure) if not
        elif name.startswith('python') and any(
                w.startswith(('tools/', 'depth_node')) or 'depth_node' in w for w in words[1:]):
            assert words[0] == '.venv/bin/python', command
    assert {'depth_node_run', 'depth_node_eval', 'depth_node_bench'} <= seen
    for span in inline_code(documentation.text()):
        words = span.split()
        if words and words[0].startswith('python') and any(
                w.startswith('tools/') or w == 'depth_node' or w.startswith('depth_node.')
                for w in words[1:]):
            assert words[0] == '.venv/bin/python', span


# --------------------------------------------------------------------------- FastDepth recipe

def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_block(first: str):
    """Return ``[(command, [expected output lines])]`` of the fenced block starting ``first``."""
    lines = readme_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    runs = []
    for line in lines[start:]:
        if line.startswith('```'):
            break
        if line.startswith('$ '):
            runs.append((line[2:], []))
        else:
            runs[-1][1].append(line)
    return runs


def test_fastdepth_recipe_gives_the_readme_example(tmp_path, monkeypatch, capsys):
    """Make README's fastdepth_pred/ with its recipe, and get README's numbers from it."""
    if not NYU.is_dir() or not FASTDEPTH.is_file():
        pytest.skip('../shared/data/rgbd/nyu or ../shared/models FastDepth is absent')
    pytest.importorskip('ai_edge_litert.interpreter', reason='ai-edge-litert is not installed')
    from depth_node.offline import eval as evaluate
    # A fresh workspace: the repository root is the working directory, shared/ beside it.
    work = tmp_path / 'ws' / 'repo'
    work.mkdir(parents=True)
    (tmp_path / 'ws' / 'shared').symlink_to(SHARED)
    monkeypatch.chdir(work)
    runs = example_block('$ .venv/bin/python tools/fastdepth_predictions.py')
    programs = [shlex.split(command)[0] for command, _ in runs]
    assert programs == ['.venv/bin/python', '.venv/bin/depth_node_eval']
    recipe = shlex.split(runs[0][0])
    assert recipe[1] == 'tools/fastdepth_predictions.py'
    assert load_tool('fastdepth_predictions').main(recipe[2:]) == 0
    assert capsys.readouterr().out.splitlines() == runs[0][1]
    assert sorted(p.name for p in (work / 'fastdepth_pred').iterdir()) == [
        'rgb_00000.npy', 'rgb_00050.npy', 'rgb_00100.npy']
    argv = shlex.split(runs[1][0])[1:]
    assert evaluate.main(argv) == 0
    assert capsys.readouterr().out.splitlines() == runs[1][1]
    # Calibrating the scale: "the same command with --fit-scale --reference-focal 596.1 added".
    assert evaluate.main(argv + ['--fit-scale', '--reference-focal', '596.1']) == 0
    out = capsys.readouterr().out.splitlines()
    lines = readme_lines()
    start = lines.index('   scale fit over 3 frame(s), 629506 pixels: ground truth / prediction '
                        '= 1.0373 (median; per frame 0.9899 .. 1.0557)')
    fit = [line[3:] for line in lines[start:lines.index('   ```', start)]]
    assert out[-len(fit):] == fit


# --------------------------------------------------------------------------- tables

def table_cells(title: str):
    """Return the rows of the first table in README section ``title`` as lists of cells."""
    rows = [line for line in section(title, subsections=False).splitlines()
            if line.startswith('|')]
    return [[c.strip() for c in row.strip('|').split(' | ')] for row in rows[2:]]


def test_diagnostics_table_names_every_key_and_fault():
    from depth_node.diagnostics import FAULT_DROPS, KEYS
    documented = set()
    for row in table_cells('Diagnostics'):
        documented |= set(re.findall(r'`([^`]+)`', row[0]))
    missing = [k for k in KEYS if k not in documented]
    assert not missing, f"README's Diagnostics table lacks {missing}"
    error = next(line for line in section('Diagnostics').split('\n- ') if '**ERROR**' in line)
    assert set(FAULT_DROPS) <= set(re.findall(r'`([a-z_]+)`', error)), error


def test_parameter_table_shows_every_declared_range():
    from depth_node.params import PARAMETERS
    rows = {re.sub(r'`', '', row[0]): row for row in table_cells('Parameters')}
    for spec in PARAMETERS:
        if spec.range is None:
            continue
        shown = f'{spec.range[0]:g}..{spec.range[1]:g}'
        assert shown in rows[spec.name][3], (spec.name, shown, rows[spec.name][3])


#: Every model family, as a user reads it; a family added to the loader is named here too.
FAMILY_NAMES = ('Depth Anything V2', 'ZoeDepth', 'Depth Pro', 'Depth Anything 3')


def test_every_family_is_named_where_a_user_looks():
    from depth_node.models.loader import FAMILIES
    from depth_node.params import PARAMETERS_BY_NAME
    assert len(FAMILIES) == len(FAMILY_NAMES), 'name the new family in FAMILY_NAMES'
    description = ET.parse(REPO / 'package.xml').getroot().find('description').text
    places = {
        'the model parameter': PARAMETERS_BY_NAME['model'].description,
        'package.xml': ' '.join(description.split()),
        "README's model row": ' | '.join(next(
            r for r in table_cells('Parameters') if r[0] == '`model`')),
    }
    for where, text in places.items():
        missing = [name for name in FAMILY_NAMES if name not in text]
        assert not missing, f'{where} does not name {missing}: {text}'


# --------------------------------------------------------------------------- topics

def test_outputs_go_into_the_node_namespace(ros_context, fast_da_dir):
    """README, Topics: absolute remaps in the root namespace publish /depth/image, ..."""
    from depth_node.node import DepthNode
    from rclpy.parameter import Parameter
    cases = {
        ('', ('-r', 'image:=/camera/color/image_raw')): '',
        ('/camera/color', ('-r', 'image:=image_raw')): '/camera/color',
    }
    for (namespace, remap), prefix in cases.items():
        node = DepthNode('depth_node_topics', context=ros_context, namespace=namespace,
                         cli_args=['--ros-args', *remap], parameter_overrides=[
                             Parameter('model', value=fast_da_dir),
                             Parameter('device', value='cpu')])
        try:
            assert node.resolve_topic_name('image') == '/camera/color/image_raw'
            published = {name for name, _ in node.get_publisher_names_and_types_by_node(
                node.get_name(), node.get_namespace())}
            for topic in ('depth/image', 'depth/camera_info', 'points', 'depth/colored'):
                assert f'{prefix}/{topic}' in published, (namespace, sorted(published))
        finally:
            node.destroy_node()


def test_run_bag_namespace_root_is_the_root_namespace(tmp_path, tiny_da_dir):
    """README: depth_node_run's --namespace / writes the outputs as a root-namespace node."""
    from depth_node.offline import run
    from rosbags.rosbag2 import Reader
    sample = REPO / 'depth_node' / 'sample'
    bag = tmp_path / 'bag'
    assert run.main([str(sample), '--model', tiny_da_dir, '--device', 'cpu', '--max-frames',
                     '1', '--out-bag', str(bag), '--namespace', '/', '--no-progress']) == 0
    with Reader(bag) as reader:
        topics = sorted(c.topic for c in reader.connections)
    assert topics == ['/camera_info', '/depth/camera_info', '/depth/image', '/image_raw',
                      '/points']
