"""One place per fact: the options and the exceptions are tables in the core, exported to
Python (``OPTION_TABLE``, ``EXCEPTIONS``); everything that lists them (the compiled module, the
stub, the Salt modules' docs, the README) is checked against them here."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import EXCEPTIONS, OPTION_TABLE, OPTIONS
from saltext.docker_deploy.utils import keywords_markdown, options_markdown

PACKAGE = Path(docker_deploy.__file__).parent
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def options_of(call: str) -> dict:
    return {row["name"]: row["default"] for row in OPTION_TABLE if call in row["calls"]}


def stub_keywords(function: str) -> list[dict]:
    """The keyword-only parameters of each definition (overload) of `function` in the stub,
    as {name: default}."""
    tree = ast.parse((PACKAGE / "_core.pyi").read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            args = node.args
            found.append(
                {
                    arg.arg: ast.literal_eval(default) if default is not None else "<required>"
                    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                }
            )
    assert found, f"{function} is not in the stub"
    return found


def test_the_table_is_well_formed():
    names = [row["name"] for row in OPTION_TABLE]
    assert len(names) == len(set(names)), names
    for row in OPTION_TABLE:
        assert row["type"] in {"bool", "str", "int", "float", "dict", "list", "object"}, row
        assert row["doc"] and row["calls"], row
    assert list(options_of("redeploy")) == OPTIONS


@pytest.mark.parametrize(
    ("function", "call", "besides"),
    [
        ("redeploy", "redeploy", set()),
        ("rollback", "rollback", set()),
        ("remove", "remove", set()),
        ("pull", "pull", set()),
        ("check", "check", set()),
        ("redeploy_group", "redeploy_group", set()),
        ("update", "update", set()),
        # preview is redeploy with dry_run on, and an image to assume.
        ("preview", "redeploy", {"image_id"}),
    ],
)
def test_the_stub_declares_each_option_with_the_tables_default(function, call, besides):
    for declared in stub_keywords(function):
        expected = options_of(call)
        if function in ("redeploy", "preview"):
            # The overloads tell the two result types apart by `replicas`: None, or required.
            assert declared.pop("replicas") in (None, "<required>")
            del expected["replicas"]
        if function == "preview":
            del expected["dry_run"]
        declared = {k: v for k, v in declared.items() if k not in besides}
        assert declared == expected, function
        assert list(declared) == list(expected), f"{function}: in the table's order"


def test_the_compiled_functions_refuse_what_the_table_does_not_give_them():
    """The pyfunctions take their options from the table: one a call does not take is refused
    by name, before any Docker call."""
    with pytest.raises(docker_deploy.InvalidSpec, match="not an option of rollback"):
        docker_deploy.rollback("web", pull_timeout=5)
    with pytest.raises(docker_deploy.InvalidSpec, match="not an option of pull"):
        docker_deploy.pull("reg/web", dry_run=True)
    with pytest.raises(docker_deploy.InvalidSpec, match="not an option of a group entry"):
        docker_deploy.redeploy_group([{"name": "web", "image": "reg/web", "concurrency": 2}])
    with pytest.raises(docker_deploy.InvalidSpec, match="not an option of redeploy_group"):
        docker_deploy.redeploy_group([], strategy="stop-first")
    # update redeploys with each container's recorded options: it takes none of those.
    with pytest.raises(docker_deploy.InvalidSpec, match="not an option of update"):
        docker_deploy.update("reg/web:qa", strategy="stop-first")
    with pytest.raises(docker_deploy.InvalidSpec, match="container name pattern"):
        docker_deploy.update("reg/web:qa", names=["web/1"])


def test_the_salt_docs_list_every_option_of_each_function():
    spec = importlib.util.spec_from_file_location(
        "dd_states_doc", PACKAGE / "states" / "docker_deploy_mod.py"
    )
    states = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(states)
    spec = importlib.util.spec_from_file_location(
        "dd_modules_doc", PACKAGE / "modules" / "docker_deploy_mod.py"
    )
    modules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modules)
    for function, call in [
        (states.deployed, "redeploy"),
        (states.group, "redeploy_group"),
        (states.group, "group_entry"),
        (states.absent, "remove"),
        (modules.redeploy, "redeploy"),
        (modules.redeploy_group, "redeploy_group"),
        (modules.rollback, "rollback"),
        (modules.remove, "remove"),
        (modules.update, "update"),
    ]:
        doc = function.__doc__
        assert not re.search(r"\{\w*options\}", doc), doc
        for row in OPTION_TABLE:
            if call in row["calls"]:
                assert f"\n    {row['name']}\n        {row['doc']}" in doc, (function, row)


def test_the_readme_table_of_options_is_the_tables():
    table = options_markdown(OPTION_TABLE)
    assert table in README, (
        "README.md's table of options differs from OPTION_TABLE; paste this:\n" + table
    )


def test_every_exception_is_the_tables_with_its_base_and_doc():
    names = [row["name"] for row in EXCEPTIONS]
    for row in EXCEPTIONS:
        cls = getattr(docker_deploy, row["name"])
        assert cls.__module__ == "saltext.docker_deploy"
        assert cls.__bases__[0].__name__ == row["base"], row
        assert cls.__doc__ == row["doc"]
        assert row["name"] in docker_deploy.__all__
    assert names[0] == "DeployError"
    assert all(issubclass(getattr(docker_deploy, n), docker_deploy.DeployError) for n in names)
    # The stub declares the same classes, with the same bases.
    tree = ast.parse((PACKAGE / "_core.pyi").read_text())
    stub = {
        node.name: node.bases[0].id
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.bases and isinstance(node.bases[0], ast.Name)
        if node.bases[0].id in {"Exception", *names}
    }
    assert stub == {row["name"]: row["base"] for row in EXCEPTIONS}
    # The README's table of errors names each, and no other.
    section = README.split("### Errors", 1)[1].split("\n### ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert sorted(listed) == sorted(names)


def test_the_readme_table_of_keywords_is_the_tables():
    table = keywords_markdown(docker_deploy.SPEC_TABLE)
    assert table in README, "README.md's keyword table differs from SPEC_TABLE; paste:\n" + table
    assert [row["name"] for row in docker_deploy.SPEC_TABLE] == docker_deploy.SPEC_KEYWORDS
