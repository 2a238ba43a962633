"""The package's imports, read from the source (ast): no cycles, and no layer imports one above it."""
import ast
import os
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PKG = osp.join(ROOT, 'mmcrosskd')

# Lower numbers are lower layers; a module may import only its own layer and the ones below.
LAYERS = {'registry': 0, 'version': 0, 'compat': 0, 'configs_anchor': 0, 'utils': 1, 'losses': 2,
          'datasets': 2, 'analysis': 3, 'models': 4, 'optim': 4, 'hooks': 5, 'runner': 6, 'runner_utils': 6}


def _module_name(path):
    rel = osp.relpath(path, ROOT)[:-len('.py')].split(os.sep)
    return '.'.join(rel[:-1] if rel[-1] == '__init__' else rel)


def _imports(path, name):
    """The ``mmcrosskd.*`` modules a file imports (anywhere in it, function bodies included)."""
    package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split('.')[0] == 'mmcrosskd')
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.split('.')[0] != 'mmcrosskd':
                continue
            # `from . import x` / `from .pkg import mod`: the imported name may itself be a module
            for alias in node.names:
                sub = f'{target}.{alias.name}'
                found.add(sub if _exists(sub) else target)
    return found


def _exists(module):
    path = osp.join(ROOT, *module.split('.'))
    return osp.isfile(path + '.py') or osp.isfile(osp.join(path, '__init__.py'))


def import_graph():
    graph = {}
    for folder, _, files in os.walk(PKG):
        if 'configs' in osp.relpath(folder, PKG).split(os.sep):
            continue
        for f in files:
            if f.endswith('.py'):
                path = osp.join(folder, f)
                name = _module_name(path)
                graph[name] = _imports(path, name)
    return graph


def _layer(module):
    parts = module.split('.')
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_subpackage_has_a_layer():
    graph = import_graph()
    unknown = sorted({m.split('.')[1] for m in graph if '.' in m} - set(LAYERS))
    assert not unknown, f'new top-level modules {unknown}: give them a layer in LAYERS'


def test_no_layer_imports_a_higher_one():
    bad = []
    for module, targets in import_graph().items():
        low = _layer(module)
        for target in targets:
            high = _layer(target)
            if low is not None and high is not None and high > low:
                bad.append(f'{module} -> {target}')
    assert not bad, 'lower layers import higher ones: ' + ', '.join(sorted(bad))


def test_no_import_cycles():
    graph = import_graph()
    # a package's __init__ importing its own modules is not a cycle with them: drop parent -> child edges
    edges = {m: {t for t in ts if t in graph and t != m and not t.startswith(m + '.')} for m, ts in graph.items()}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, 'import cycles: ' + '; '.join(' -> '.join(c) for c in cycles)


def test_the_checks_see_a_violation(tmp_path, monkeypatch):
    """The graph reader finds a lower layer's import of a higher one (so the checks above can fail)."""
    bad = tmp_path / 'mmcrosskd' / 'losses'
    bad.mkdir(parents=True)
    (bad / 'x.py').write_text('from ..models.distiller import CrossTaskDistiller\n'
                              'def f():\n    from mmcrosskd.hooks import ExportStudentHook\n')
    found = _imports(str(bad / 'x.py'), 'mmcrosskd.losses.x')
    assert found == {'mmcrosskd.models.distiller', 'mmcrosskd.hooks'}
    assert _layer('mmcrosskd.losses.x') < _layer('mmcrosskd.models.distiller')
