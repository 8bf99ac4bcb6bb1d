# Copyright 2026 depth_node contributors
# SPDX-License-Identifier: Apache-2.0
"""
Static checks of launch/depth_node.launch.py and config/depth_node.yaml.

Both are held against the node's parameter table, ``depth_node.params.PARAMETERS``, so
that the code, the YAML, the launch file and README.md cannot disagree (STYLE.md,
section 2). ``launch`` and ``launch_ros`` are not installable here, so the launch file is
read with ``ast``, and then run once against small stand-ins for the launch API to check
what it hands to the node.
"""

import ast
import importlib.util
import math
from pathlib import Path
import re
import sys
import types

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'depth_node.launch.py'
CONFIG_FILE = REPO / 'config' / 'depth_node.yaml'
README = REPO / 'README.md'

# The launch arguments (STYLE.md, section 7) and their defaults.
LAUNCH_ARGUMENTS = {
    'namespace': '',
    'params_file': None,  # the installed config/depth_node.yaml, checked separately
    'model': '',
    'rate': '',
    'cameras': '',
    'remaps': '',
    'log_level': 'info',
    'use_sim_time': 'false',
    'image_topic': 'image',
    'camera_info_topic': 'camera_info',
    'autostart': 'true',
    'use_respawn': 'false',
    'rviz': 'false',
    'camera_frame': 'camera_optical_frame',
    'camera_pose': '',
    'base_frame': 'base_link',
}

# Parameters every rclpy node has without declaring them.
BUILTIN_PARAMETERS = {'use_sim_time'}

PYTHON_TYPES = {'string': (str,), 'double': (float,), 'integer': (int,), 'bool': (bool,),
                'string_array': (list, tuple)}


@pytest.fixture(scope='module')
def parameters():
    """Return the node's declared parameters, by name."""
    params = pytest.importorskip(
        'depth_node.params', reason='depth_node.params (the parameter table) not written yet')
    return {p.name: p for p in params.PARAMETERS}


@pytest.fixture(scope='module')
def launch_tree():
    return ast.parse(LAUNCH_FILE.read_text(encoding='utf-8'), filename=str(LAUNCH_FILE))


def _calls(tree, name):
    """Return the calls of a function or class called ``name`` in ``tree``."""
    return [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, 'id', None) == name or getattr(node.func, 'attr', None) == name)]


def _str_arg(call):
    first = call.args[0] if call.args else None
    assert isinstance(first, ast.Constant) and isinstance(first.value, str), ast.dump(call)
    return first.value


def _keywords(call):
    return {k.arg: k.value for k in call.keywords}


def flatten(mapping, prefix=''):
    """Flatten nested parameter dicts into 'a.b' names, keeping their order."""
    items = []
    for key, value in mapping.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            items += flatten(value, name + '.')
        else:
            items.append((name, value))
    return items


@pytest.fixture(scope='module')
def yaml_parameters():
    """Return config/depth_node.yaml's parameters as an ordered list of (name, value)."""
    data = yaml.safe_load(CONFIG_FILE.read_text(encoding='utf-8'))
    assert list(data) == ['/**'], 'the file applies to any node name: one /** key'
    assert list(data['/**']) == ['ros__parameters']
    return flatten(data['/**']['ros__parameters'])


# --- the launch file, read statically -----------------------------------------------------

def test_launch_declares_exactly_the_documented_arguments(launch_tree):
    declared = {}
    for call in _calls(launch_tree, 'DeclareLaunchArgument'):
        kw = _keywords(call)
        name = _str_arg(call)
        assert name not in declared, f'{name} declared twice'
        assert 'description' in kw, f'launch argument {name} has no description'
        assert 'default_value' in kw, f'launch argument {name} has no default'
        declared[name] = kw['default_value']
    assert sorted(declared) == sorted(LAUNCH_ARGUMENTS)
    for name, default in LAUNCH_ARGUMENTS.items():
        if default is not None:
            assert ast.literal_eval(declared[name]) == default, name


def test_launch_uses_every_argument_and_only_declared_ones(launch_tree):
    # LaunchConfiguration('x') directly, or through the OpaqueFunction's arg('x') helper.
    calls = _calls(launch_tree, 'LaunchConfiguration') + _calls(launch_tree, 'arg')
    used = {c.args[0].value for c in calls
            if c.args and isinstance(c.args[0], ast.Constant)}
    assert used == set(LAUNCH_ARGUMENTS), (
        f'unused: {set(LAUNCH_ARGUMENTS) - used}, undeclared: {used - set(LAUNCH_ARGUMENTS)}')


def test_launch_sets_only_declared_parameters(launch_tree, parameters):
    """Every parameter name written in the launch file is one the node declares."""
    names = set()
    for node in ast.walk(launch_tree):
        if isinstance(node, ast.Dict):  # {'use_sim_time': ...}
            names |= {k.value for k in node.keys if isinstance(k, ast.Constant)}
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
              and isinstance(node.slice, ast.Constant)):  # overrides['model'] = ...
            names.add(node.slice.value)
    assert names, 'no parameter overrides found in the launch file'
    unknown = names - set(parameters) - BUILTIN_PARAMETERS
    assert not unknown, f'the launch file sets undeclared parameters: {sorted(unknown)}'


def test_launch_starts_the_installed_executable(launch_tree):
    nodes = [n for n in _calls(launch_tree, 'Node')
             if isinstance(_keywords(n).get('package'), ast.Constant)
             and _keywords(n)['package'].value == 'depth_node']
    assert len(nodes) == 1
    kw = _keywords(nodes[0])
    assert ast.literal_eval(kw['package']) == 'depth_node'
    assert ast.literal_eval(kw['name']) == 'depth_node'
    executable = ast.literal_eval(kw['executable'])
    setup_py = (REPO / 'setup.py').read_text(encoding='utf-8')
    assert re.search(rf"'{executable} = depth_node\.node:main'", setup_py), (
        f'setup.py has no console script {executable!r} -> depth_node.node:main')
    for key in ('namespace', 'parameters', 'remappings', 'arguments'):
        assert key in kw, f'Node(...) without {key}='


def test_launch_runs_no_code_from_its_arguments(launch_tree):
    forbidden = {'eval', 'exec', 'compile', 'system', 'popen', 'Popen', 'run', 'call',
                 'check_call', 'check_output', 'PythonExpression'}
    called = {getattr(n.func, 'id', None) or getattr(n.func, 'attr', None)
              for n in ast.walk(launch_tree) if isinstance(n, ast.Call)}
    assert not called & forbidden
    imported = {a.name.split('.')[0] for n in ast.walk(launch_tree)
                if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or '').split('.')[0] for n in ast.walk(launch_tree)
                 if isinstance(n, ast.ImportFrom)}
    assert not imported & {'subprocess', 'shlex'}


def test_setup_installs_launch_and_config_files():
    setup_py = (REPO / 'setup.py').read_text(encoding='utf-8')
    assert "glob.glob('launch/*.launch.py')" in setup_py
    assert "glob.glob('config/*.yaml')" in setup_py
    assert "glob.glob('config/nav2/*.yaml')" in setup_py
    assert LAUNCH_FILE.name.endswith('.launch.py') and CONFIG_FILE.suffix == '.yaml'


# --- the launch file, run against stand-ins for the launch API ----------------------------

class _Recorded:
    """Stand-in for a launch action or description: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


class _LaunchConfiguration:

    def __init__(self, name, default=None):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


def _fake_module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


@pytest.fixture
def launch_module(monkeypatch):
    """Import the launch file with the launch API replaced by recording stand-ins."""
    fakes = {
        'launch': _fake_module('launch', LaunchDescription=_Recorded),
        'launch.actions': _fake_module(
            'launch.actions', DeclareLaunchArgument=_Recorded, OpaqueFunction=_Recorded,
            SetEnvironmentVariable=_Recorded),
        'launch.substitutions': _fake_module(
            'launch.substitutions', LaunchConfiguration=_LaunchConfiguration),
        'launch_ros': _fake_module('launch_ros'),
        'launch_ros.actions': _fake_module('launch_ros.actions', Node=_Recorded),
        'ament_index_python': _fake_module('ament_index_python'),
        'ament_index_python.packages': _fake_module(
            'ament_index_python.packages',
            get_package_share_directory=lambda package: f'/opt/share/{package}'),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location('depth_node_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch(module, **arguments):
    """Run generate_launch_description() and its OpaqueFunction; return depth_node's kwargs."""
    nodes, values = _launch_all(module, **arguments)
    return nodes[0].kwargs, values


def _launch_all(module, **arguments):
    """Run generate_launch_description() and its OpaqueFunction; return all its nodes."""
    description = module.generate_launch_description()
    entities = description.args[0]
    values = {}
    opaque = []
    for entity in entities:
        if 'default_value' in entity.kwargs:
            values[entity.args[0]] = entity.kwargs['default_value']
        elif 'function' in entity.kwargs:
            opaque.append(entity)
    values.update(arguments)
    context = types.SimpleNamespace(launch_configurations=values)
    assert len(opaque) == 1
    nodes = opaque[0].kwargs['function'](context)
    assert nodes[0].kwargs['package'] == 'depth_node'
    return nodes, values


def test_launch_defaults_leave_the_yaml_in_charge(launch_module):
    node, values = _launch(launch_module)
    assert values['params_file'] == '/opt/share/depth_node/config/depth_node.yaml'
    assert node['parameters'] == [values['params_file'],
                                  {'use_sim_time': False, 'autostart': True}]
    assert node['respawn'] is False
    assert len(_launch_all(launch_module)[0]) == 1  # no rviz2, no static transforms
    assert node['namespace'] == ''
    assert node['remappings'] == [('image', 'image'), ('camera_info', 'camera_info')]
    assert node['arguments'] == ['--ros-args', '--log-level', 'info']


def test_launch_overrides_are_typed(launch_module, parameters):
    node, _ = _launch(
        launch_module, model='org/some-model', rate='5', use_sim_time='True',
        namespace='robot1', image_topic='/cam/image_raw', camera_info_topic='/cam/info',
        log_level='debug')
    overrides = node['parameters'][1]
    assert overrides == {'use_sim_time': True, 'autostart': True, 'model': 'org/some-model',
                         'rate': 5.0}
    for name, value in overrides.items():
        if name in parameters:
            assert isinstance(value, PYTHON_TYPES[parameters[name].type]), name
    assert node['namespace'] == 'robot1'
    assert node['remappings'] == [('image', '/cam/image_raw'), ('camera_info', '/cam/info')]
    assert node['arguments'][-1] == 'debug'


def test_launch_cameras_and_their_remaps(launch_module):
    node, _ = _launch(
        launch_module, cameras='[front, rear]',
        remaps='front/image:=/front_camera/color/image_raw '
               'front/camera_info:=/front_camera/color/camera_info')
    assert node['parameters'][1]['cameras'] == ['front', 'rear']
    assert node['remappings'][2:] == [('front/image', '/front_camera/color/image_raw'),
                                      ('front/camera_info', '/front_camera/color/camera_info')]
    node, _ = _launch(launch_module, cameras='front rear')
    assert node['parameters'][1]['cameras'] == ['front', 'rear']


@pytest.mark.parametrize('arguments', [
    {'use_sim_time': 'maybe'}, {'rate': 'fast'}, {'autostart': 'sometimes'},
    {'use_respawn': '2'}, {'rviz': 'yes please'}, {'camera_pose': '1 2 3'},
    {'camera_pose': '0 0 0 0 0 x'}, {'remaps': 'front/image'}, {'remaps': ':=/x'}])
def test_launch_rejects_malformed_arguments(launch_module, arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        _launch(launch_module, **arguments)


# --- config/depth_node.yaml ---------------------------------------------------------------

def test_yaml_declares_every_parameter_in_table_order(yaml_parameters, parameters):
    names = [name for name, _ in yaml_parameters]
    unknown = [n for n in names if n not in parameters]
    missing = [n for n in parameters if n not in names]
    assert not unknown, f'config/depth_node.yaml sets undeclared parameters: {unknown}'
    assert not missing, f'config/depth_node.yaml lacks declared parameters: {missing}'
    assert names == list(parameters), 'keep the YAML in the order of PARAMETERS'


def test_yaml_values_are_the_declared_defaults(yaml_parameters, parameters):
    for name, value in yaml_parameters:
        spec = parameters[name]
        # ROS reads `10` as an integer and `10.0` as a double: the YAML must spell the type.
        assert type(value) in PYTHON_TYPES[spec.type], (
            f'{name}: {value!r} is {type(value).__name__}, declared {spec.type}')
        default = list(spec.default) if spec.type == 'string_array' else spec.default
        assert value == default, f'{name}: YAML {value!r} != declared {spec.default!r}'


def test_declared_defaults_match_their_types_and_ranges(parameters):
    for spec in parameters.values():
        assert spec.type in PYTHON_TYPES, spec
        assert type(spec.default) in PYTHON_TYPES[spec.type], spec
        assert spec.description.strip(), spec.name
        if getattr(spec, 'range', None) is not None:
            low, high = spec.range
            assert low <= spec.default <= high, spec
        if spec.type == 'double':
            assert math.isfinite(spec.default), spec


def test_yaml_is_read_by_rcl_with_the_declared_types(yaml_parameters, parameters, monkeypatch):
    """Load the file through rcl's own YAML parser, as --params-file does."""
    rclpy = pytest.importorskip('rclpy')
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.parameter import Parameter

    # rcl reads an empty list as no value: the node takes that as no cameras.
    ros_types = {'string': Parameter.Type.STRING, 'double': Parameter.Type.DOUBLE,
                 'integer': Parameter.Type.INTEGER, 'bool': Parameter.Type.BOOL,
                 'string_array': Parameter.Type.NOT_SET}
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', str(CONFIG_FILE)], context=context)
    try:
        node = rclpy.create_node('depth_node', context=context, start_parameter_services=False,
                                 enable_rosout=False)
        try:
            for name, _ in yaml_parameters:
                # Declared as the node declares it (dynamically typed), so the override's
                # own type shows.
                parameter = node.declare_parameter(
                    name, None, ParameterDescriptor(name=name, dynamic_typing=True))
                spec = parameters[name]
                assert parameter.type_ == ros_types[spec.type], name
                default = (list(spec.default) or None) if spec.type == 'string_array' \
                    else spec.default
                assert parameter.value == default, name
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


# --- README.md ----------------------------------------------------------------------------

def test_readme_documents_every_parameter(parameters):
    if not README.is_file():
        pytest.skip('README.md not written yet')
    text = README.read_text(encoding='utf-8')
    undocumented = [
        name for name in parameters
        if not re.search(rf'(`|\|\s*){re.escape(name)}(`|\s*\|)', text)]
    assert not undocumented, (
        f'README.md does not document (as `name` or a table cell): {undocumented}')
