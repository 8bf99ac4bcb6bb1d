# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Why a start failed, said in the terms of the command that was started.

Two jobs for the entry points, both ROS-free:

- :func:`in_terms`: the core advises in the node's parameter syntax
  (``pass model:=<dir>``); each entry point says it in its own
  (:data:`NODE_TERMS`: ``-p model:=<dir>``; the tools' ``--model <dir>``;
  ``make demo``'s ``MODEL=<dir>``).
- :func:`ros_args_problem` (before ``rclpy.init``) and
  :func:`explain_ros_args` (after it raised): rcl refuses a bad ``--ros-args``
  list with a log line of its own and an exception whose text points into its
  C sources; these say in one line what is wrong with the arguments (a missing
  parameter file, ``ros__parameters`` misspelt, ``-p name`` without a value,
  ``-r name`` without a target) and how to write it.
"""

import difflib
import os
import re
from typing import List, Mapping, Optional, Sequence

import yaml

from .params import PARAMETERS

#: rcl's parameter-file key under which a node's parameters live.
ROS_PARAMETERS = 'ros__parameters'
#: ROS arguments that take the next token as their value (rcl's ``arguments.h``).
VALUE_FLAGS = ('--log-level', '--log-file-name', '--log-config-file', '-e', '--enclave')
#: ROS arguments without a value.
PLAIN_FLAGS = tuple(f'--{on}-{what}-logs' for on in ('enable', 'disable')
                    for what in ('rosout', 'stdout', 'external-lib'))

#: The node's parameters on its command line: ``model:=`` -> ``-p model:=``.
NODE_TERMS = {spec.name: f'-p {spec.name}:=' for spec in PARAMETERS}

# A piece of advice in parameter syntax: ``name:=value`` (value up to a space or bracket).
_ADVICE = re.compile(r'(?<![\w.:/-])(?<!-p )([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*):=([\w.]*)')
# rcl's pointers into its sources: ", at /project/src/rcl/arguments.c:415".
_SOURCE = re.compile(r',? at \S+\.c:\d+')


def in_terms(text: str, terms: Mapping[str, str]) -> str:
    """
    Rewrite the core's ``name:=value`` advice in ``text`` with ``terms``.

    ``terms`` maps a parameter name to what replaces ``name:=`` (``'model'`` ->
    ``'--model '``), or a whole ``name:=value`` to its replacement
    (``'focal_scaling:=false'`` -> ``'--no-focal-scaling'``); other advice stays.
    """
    def rewrite(match):
        name, value = match.group(1), match.group(2)
        whole = terms.get(f'{name}:={value}')
        if whole is not None:
            return whole
        prefix = terms.get(name)
        return match.group(0) if prefix is None else prefix + value
    return _ADVICE.sub(rewrite, text)


def ros_arguments(argv: Sequence[str]) -> List[str]:
    """Return the tokens of every ``--ros-args`` section of ``argv`` (up to ``--``)."""
    tokens, inside = [], False
    for token in argv:
        if token == '--ros-args':
            inside = True
        elif token == '--' and inside:
            inside = False
        elif inside:
            tokens.append(token)
    return tokens


def ros_args_problem(argv: Sequence[str]) -> Optional[str]:
    """
    Return what rcl will certainly refuse in ``argv``'s ROS arguments, or None.

    Checked before ``rclpy.init`` (which logs a line of its own before it
    raises): ``-p``/``-r`` rules without ``:=`` or a value, and parameter files
    that are missing or have values outside every ``ros__parameters`` block.
    """
    return _argument_problem(ros_arguments(argv), strict=False)


def explain_ros_args(argv: Sequence[str], error: str = '') -> str:
    """
    Return one line saying what is wrong with ``argv``'s ROS arguments.

    ``error`` is the text of the exception rcl raised; when nothing in the
    arguments explains it, that text is returned without its source locations.
    """
    problem = _argument_problem(ros_arguments(argv), strict=True)
    if problem is not None:
        return problem
    text = _SOURCE.sub('', str(error)).strip()
    text = re.sub(r'^failed to initialize rcl: ', '', text)
    unknown = re.fullmatch(r"\[('[^']*'(?:, '[^']*')*)\]", text)  # UnknownROSArgsError
    if unknown:
        names = ', '.join(re.findall(r"'([^']*)'", unknown.group(1)))
        return f'unknown ROS argument(s) {names} (see the ROS 2 command-line arguments)'
    return f'cannot start ROS: {text}' if text else 'cannot start ROS'


def _argument_problem(tokens: List[str], strict: bool) -> Optional[str]:
    """Return the first problem in ``tokens``; ``strict`` also names unknown flags."""
    i = 0
    while i < len(tokens):
        flag = tokens[i]
        value = tokens[i + 1] if i + 1 < len(tokens) else None
        if flag in ('-p', '--param', '-r', '--remap'):
            problem = _rule_problem(flag, value)
        elif flag == '--params-file':
            problem = (f'{flag} needs a file: --params-file <file.yaml>' if value is None
                       else params_file_problem(value, syntax=strict))
        elif flag in VALUE_FLAGS:
            problem = f'{flag} needs a value' if value is None and strict else None
        elif flag in PLAIN_FLAGS or not strict:
            i += 1
            continue
        else:
            return f'unknown ROS argument {flag} (see the ROS 2 command-line arguments)'
        if problem is not None:
            return problem
        i += 2
    return None


def _rule_problem(flag: str, rule: Optional[str]) -> Optional[str]:
    """Check one ``-p name:=value`` or ``-r from:=to``."""
    param = flag in ('-p', '--param')
    what, example = ('value', '<value>') if param else ('target', '<new name>')
    if rule is None or rule.startswith('-'):
        return f'{flag} needs name:={example}' + (f' (got {rule})' if rule else '')
    name, sep, value = rule.partition(':=')
    if not sep or not value:
        return f'{flag} {rule}: no {what}; write {flag} {name}:={example}'
    if not name:
        return f'{flag} {rule}: no name before :='
    return None


def params_file_problem(path: str, syntax: bool = True) -> Optional[str]:
    """
    Return what rcl cannot use in the parameter file ``path``, or None.

    ``syntax`` false passes files that PyYAML cannot parse (rcl's own parser
    decides about those).
    """
    where = f'--params-file {path}'
    if not os.path.exists(path):
        return f'{where}: no such file'
    if os.path.isdir(path):
        return f'{where}: is a directory, not a YAML file'
    try:
        with open(path, encoding='utf-8') as f:
            root = yaml.compose(f)
    except OSError as exc:
        return f'{where}: cannot read it ({exc.strerror or exc})'
    except yaml.YAMLError as exc:
        if not syntax:
            return None
        mark = getattr(exc, 'problem_mark', None)
        line = f' at line {mark.line + 1}' if mark is not None else ''
        return f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc}{line})"
    except UnicodeDecodeError:
        return f'{where}: not a text (UTF-8) file' if syntax else None
    if root is None:
        return None
    if not isinstance(root, yaml.MappingNode):
        return (f'{where}: the file must map node names to their {ROS_PARAMETERS}, e.g. '
                f"'/**: {{{ROS_PARAMETERS}: {{rate: 5.0}}}}'")
    return _layout_problem(where, root, [])


def _layout_problem(where: str, node: yaml.MappingNode, path: list) -> Optional[str]:
    """Find a value outside every ``ros__parameters`` block (rcl refuses the file then)."""
    for key, value in node.value:
        name = str(key.value)
        if name == ROS_PARAMETERS:
            if not isinstance(value, yaml.MappingNode):
                return (f"{where}: {ROS_PARAMETERS} (line {key.start_mark.line + 1}) must hold "
                        'name: value pairs')
            continue
        if isinstance(value, yaml.MappingNode):
            problem = _layout_problem(where, value, path + [key])
            if problem is not None:
                return problem
            continue
        for candidate in reversed(path + [key]):
            text = str(candidate.value)
            close = difflib.SequenceMatcher(None, text.lower(), ROS_PARAMETERS).ratio()
            if close >= 0.75 or (close >= 0.5 and 'param' in text.lower()):
                return (f"{where}: '{text}' (line {candidate.start_mark.line + 1}) is not "
                        f"'{ROS_PARAMETERS}' (two underscores): rcl reads a node's parameters "
                        f'only under {ROS_PARAMETERS}')
        return (f"{where}: '{name}' (line {key.start_mark.line + 1}) has a value outside any "
                f"{ROS_PARAMETERS} block; write '<node name>:' then '  {ROS_PARAMETERS}:' "
                "then the parameters (e.g. '/**:')")
    return None
