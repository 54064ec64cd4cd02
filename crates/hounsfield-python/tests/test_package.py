"""The package as a user meets it: stubs that match the compiled module, runnable docs."""

import ast
import doctest
import importlib
from pathlib import Path

import pytest

import hounsfield
from hounsfield import _native


def test_stubs_cover_the_native_module():
    stub = Path(_native.__file__).with_name("_native.pyi")
    if not stub.exists():  # an installed wheel keeps the stub beside the package
        stub = Path(hounsfield.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    native = {n for n in dir(_native) if not n.startswith("_")}
    assert stubbed == native, f"missing stubs: {native - stubbed}; stale: {stubbed - native}"


@pytest.mark.parametrize("module", ["hounsfield", "hounsfield.ct", "hounsfield.dask"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
