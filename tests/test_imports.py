"""The import graph of neuromer is one-way, and ``import neuromer`` / ``neuromer --help`` stay light.

The layer map below is the one place that says which module sits where (docs/architecture.md
explains it). Data flow:

    io -> session -> epochs/trials -> features -> align -> models -> compare -> report -> pipeline/CLI

and the import rule that follows from it: a module may import modules of its own layer or of
layers below it, never above, and the graph has no cycle. The data model (protocol, session,
windows) sits below the readers: readers produce Sessions and Trials, so the model never imports
a reader. Every ``import`` counts, at module level or inside a function (a function-level import
still makes the importing module depend on the imported one; it only delays the cost).

Names a lazy package exports (``from .audio import stimulus_table``, see :mod:`neuromer._lazy`)
count as imports of the submodule that defines them. Importing ``a.b.c`` also runs the packages
``a`` and ``a.b``; those implicit imports are not edges here (each package's own imports are).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "neuromer"

#: Layers from the bottom up; a module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # errors, logging, argument checks, lazy exports, atomic writes, published stream names:
    # no science, used everywhere
    ("base", ("neuromer", "neuromer.errors", "neuromer._logging", "neuromer._checks", "neuromer._lazy",
              "neuromer._cluster", "neuromer.io._atomic", "neuromer.live._names")),
    # the data model: what readers produce and everything else consumes
    ("model", ("neuromer.protocol", "neuromer.session", "neuromer.windows")),
    # sessions -> trials: cleaning (non-finite samples, filters), and the rules that turn markers
    # into trials, with the trigger-code table they apply (io.triggers: it lives with the readers
    # that decode trigger channels but needs nothing from them)
    ("trials", ("neuromer.badsamples", "neuromer.preprocess", "neuromer.epochs", "neuromer.io.triggers")),
    # readers and writers of files (XDF, DEAP, MNE formats, BIDS); readers find a recording's
    # trials with the marker rules of neuromer.epochs
    ("io", ("neuromer.io",)),
    # window features of each modality (audio includes its perceived-emotion predictor)
    ("features", ("neuromer.eeg", "neuromer.physio", "neuromer.audio")),
    # stimulus onsets refined from the recorded sound use the readers and the audio features
    ("align", ("neuromer.align", "neuromer.onsets")),
    # writes a whole study (stimuli, protocol, XDF and DEAP files) with the io writers; its planted
    # neural-tracking response uses the sound envelope of neuromer.onsets
    ("simulate", ("neuromer.simulate",)),
    # the trained audio-emotion models live next to the audio code but use neuromer.models
    ("models", ("neuromer.models", "neuromer.audio.emotion_model", "neuromer.audio.evaluation",
                "neuromer.audio.dynamic", "neuromer.audio.segments")),
    # temporal response functions (numerical core, its null, inputs from the audio features and
    # refined onsets); the per-subject stage scores tracking with the comparison statistics
    ("compare", ("neuromer.compare", "neuromer.trf", "neuromer.trf_null", "neuromer.trf_data",
                 "neuromer.trf_stage")),
    ("report", ("neuromer.report", "neuromer.figures", "neuromer.trf_report")),
    # live sessions use io, features and models, and nothing above uses them
    ("live", ("neuromer.live",)),
    # the group stage of a run (decoding, comparison, importance), called by the pipeline
    ("analysis", ("neuromer.analysis",)),
    ("pipeline", ("neuromer.pipeline",)),
    ("cli", ("neuromer.cli", "neuromer.__main__", "neuromer.features_cli", "neuromer.audio.cli",
             "neuromer.live.cli")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def layer_of(module: str) -> int:
    best, layer = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # the root package names itself only, or every new module would land in "base"
            below = module.startswith(prefix + ".") and prefix != "neuromer"
            if (module == prefix or below) and len(prefix) > best:
                best, layer = len(prefix), i
    assert layer is not None, f"{module} has no layer: add it to LAYERS in tests/test_imports.py"
    return layer


def _lazy_source(package: str, name: str) -> str | None:
    """The submodule a lazy package loads ``name`` from (None if the package is not lazy)."""
    exports = getattr(importlib.import_module(package), "_lazy_exports", {})
    return f"{package}.{exports[name]}" if name in exports else None


def _targets(module: str, node: ast.AST) -> list[str]:
    """The neuromer modules an import statement depends on."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "neuromer"]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if module in PACKAGES else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "neuromer":
        return []
    out = []
    for alias in node.names:
        if f"{target}.{alias.name}" in MODULES:  # `from . import compare`: the submodule itself
            out.append(f"{target}.{alias.name}")
        elif target in PACKAGES and _lazy_source(target, alias.name):
            out.append(_lazy_source(target, alias.name))
        else:
            out.append(target)
    return out


def import_edges() -> list[tuple[str, str, int]]:
    """Every (importer, imported, line) among neuromer's own modules."""
    edges = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, node):
                    assert target in MODULES, f"{path}:{node.lineno} imports {target}, which does not exist"
                    if target != module:
                        edges.append((module, target, node.lineno))
    return edges


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT.parent)}:{line}"


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_upward_import():
    bad = []
    for src, dst, line in import_edges():
        if layer_of(dst) > layer_of(src):
            bad.append(f"{_where(src, line)}: {src} ({LAYERS[layer_of(src)][0]}) imports {dst} "
                       f"({LAYERS[layer_of(dst)][0]}, a layer above)")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def find_cycle(edges: list[tuple[str, str, int]]) -> list[tuple[str, str, int]] | None:
    """One cycle of the graph as its edges, or None."""
    graph: dict[str, list[tuple[str, int]]] = {}
    for src, dst, line in edges:
        graph.setdefault(src, []).append((dst, line))
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[tuple[str, str, int]] = []

    def visit(node: str):
        state[node] = 1
        for nxt, line in graph.get(node, []):
            path.append((node, nxt, line))
            if state.get(nxt) == 1:
                start = next(i for i, e in enumerate(path) if e[0] == nxt)
                return path[start:]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
            path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_edges())
    assert cycle is None, "import cycle:\n" + "\n".join(
        f"{_where(src, line)}: {src} imports {dst}" for src, dst, line in cycle)


def test_checker_catches_cycles_and_upward_imports():
    # the checker itself: a planted cycle is found, and a planted upward edge has a higher layer
    assert find_cycle([("a", "b", 1), ("b", "c", 2), ("c", "a", 3)]) == [("a", "b", 1), ("b", "c", 2),
                                                                        ("c", "a", 3)]
    assert find_cycle([("a", "b", 1), ("a", "c", 2), ("c", "b", 3)]) is None
    assert layer_of("neuromer.session") < layer_of("neuromer.io.deap") < layer_of("neuromer.pipeline")
    assert layer_of("neuromer.audio.cli") == layer_of("neuromer.cli") > layer_of("neuromer.audio.summary")
    with pytest.raises(AssertionError, match="has no layer"):
        layer_of("neuromer.new_module")
    # a lazy package's export counts as an import of the submodule that defines it
    node = ast.parse("from .audio import stimulus_table").body[0]
    assert _targets("neuromer.pipeline", node) == ["neuromer.audio.summary"]
    node = ast.parse("from ..io._atomic import write_table").body[0]
    assert _targets("neuromer.audio.cli", node) == ["neuromer.io._atomic"]
    node = ast.parse("from . import _lsl").body[0]
    assert _targets("neuromer.live.cli", node) == ["neuromer.live._lsl"]


# ------------------------------------------------------------------------ start-up
HEAVY = ("mne", "scipy", "sklearn", "librosa", "pandas", "xgboost", "dask", "distributed", "neurokit2",
         "pylsl", "matplotlib", "numba", "pyarrow", "skops", "pyxdf")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=ROOT.parent).stdout.split()
    return {m.split(".")[0] for m in out} & set(HEAVY)


@pytest.mark.parametrize("code", [
    "import neuromer",
    "import neuromer.cli as c; c.build_parser()",
    "import neuromer.audio, neuromer.live, neuromer.eeg, neuromer.physio, neuromer.models, neuromer.io",
])
def test_light_imports(code):
    assert _loaded_after(code) == set()


@pytest.mark.parametrize("argv", [["--help"], ["features", "eeg", "--help"], ["audio", "features", "--help"],
                                  ["run", "--help"], ["online", "--help"]])
def test_help_loads_no_heavy_library(argv):
    code = (f"import contextlib, io\nfrom neuromer.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
    assert _loaded_after(code) == set()


def test_features_eeg_loads_only_what_it_uses(tmp_path):
    # the command reads a trials file, computes EEG features and writes Parquet: no scipy (its
    # import alone was a third of the command's time), no mne (not needed for a .dat file), no
    # scikit-learn, no audio stack
    import numpy as np

    from neuromer.io import write_trials
    from neuromer.session import Trials

    data = np.random.default_rng(0).standard_normal((2, 4, 640))
    path = write_trials(Trials(data, 128.0, ["Fz", "Cz", "F3", "F4"], ["eeg"] * 4), tmp_path / "s01.dat")
    code = (f"from neuromer.cli import main\n"
            f"assert main(['features', 'eeg', {str(path)!r}, '--out', {str(tmp_path / 'x.parquet')!r}]) == 0")
    assert _loaded_after(code) == {"pyarrow"}  # pandas neither: the table is written as columns
    assert (tmp_path / "x.parquet").is_file()


def test_public_names_resolve():
    import neuromer

    for name in neuromer.__all__:
        assert getattr(neuromer, name) is not None, name
    assert set(dir(neuromer)) == set(neuromer.__all__)  # public names only, loaded or not
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        neuromer.nope  # noqa: B018
    for package in ("audio", "live", "eeg", "physio", "models"):
        mod = importlib.import_module(f"neuromer.{package}")
        for name in mod.__all__:
            assert getattr(mod, name) is not None, f"neuromer.{package}.{name}"
        assert set(mod.__all__) <= set(dir(mod))


def test_functions_named_like_their_module_stay_functions():
    # importing the submodule binds it on the package; the public function must win
    code = ("import neuromer, neuromer.live\n"
            "import neuromer.align, neuromer.preprocess, neuromer.live.play, neuromer.live.record\n"
            "import neuromer.live.present\n"
            "from neuromer.live import play\n"
            "assert callable(neuromer.align) and callable(neuromer.preprocess), 'top'\n"
            "assert callable(play) and callable(neuromer.live.record) and callable(neuromer.live.present)\n"
            "import sys; assert sys.modules['neuromer.live.play'].__name__ == 'neuromer.live.play'\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent)
    assert out.stdout.strip() == "ok", out.stderr
