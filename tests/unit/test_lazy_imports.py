"""bitsniper.lazy_imports: modules of the named packages run on first use, others as usual; and Great
Expectations, imported that way by bitsniper.validation, validates without ever running SciPy or Altair."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bitsniper.lazy_imports import lazily

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def packages(tmp_path: Path) -> Iterator[Path]:
    """Two throw-away packages whose modules write to ``ran.txt`` when they run."""
    ran = tmp_path / "ran.txt"
    for package in ("lazy_demo_heavy", "lazy_demo_plain"):
        folder = tmp_path / package
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / "mod.py").write_text(f"open({str(ran)!r}, 'a').write('{package}.mod\\n')\nVALUE = 42\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield ran
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("lazy_demo_")]:
            del sys.modules[name]


def _ran(ran: Path) -> list[str]:
    return ran.read_text().splitlines() if ran.exists() else []


def test_a_named_package_runs_on_first_use_only(packages: Path) -> None:
    with lazily("lazy_demo_heavy"):
        import lazy_demo_heavy.mod as heavy
        import lazy_demo_plain.mod as plain
    assert _ran(packages) == ["lazy_demo_plain.mod"]  # the other package ran at import, as usual
    assert heavy.VALUE == 42 and plain.VALUE == 42  # first use runs it, whole
    assert _ran(packages) == ["lazy_demo_plain.mod", "lazy_demo_heavy.mod"]


def test_outside_the_block_imports_are_eager(packages: Path) -> None:
    with lazily("lazy_demo_heavy"):
        pass
    import lazy_demo_heavy.mod  # noqa: F401

    assert _ran(packages) == ["lazy_demo_heavy.mod"]


def test_validation_never_runs_scipy_or_altair() -> None:
    """In a fresh process, as in a validate_data task: the suite passes on the shipped sample, and SciPy's
    subpackages and Altair never ran (the ~80 MB and ~1.3 s the task no longer pays)."""
    probe = """
import sys
from bitsniper.candles import read_candles_csv
from bitsniper.validation import validate_candles
candles = read_candles_csv("include/sample_candles_15m.csv.gz")
report = validate_candles(candles, int(candles.time[-1]), 900_000)
ran = [n for n, m in sys.modules.items() if n.split(".")[0] in ("scipy", "altair") and type(m).__name__ != "_LazyModule"]
print(report.passed, report.evaluated, " ".join(sorted(ran)))
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    passed, evaluated, *ran = done.stdout.split()
    assert passed == "True" and int(evaluated) == 27
    # SciPy's package itself runs (GX reads an attribute of it: 9 small modules), none of its subpackages
    # (scipy.stats and what it pulls: ~480 modules), nothing of Altair.
    assert not [name for name in ran if name.startswith(("scipy.stats", "scipy.special", "scipy.linalg", "altair"))], ran
    assert len(ran) < 20, ran
