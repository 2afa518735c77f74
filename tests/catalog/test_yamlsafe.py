"""Untrusted YAML: plain types only, and no document that expands without bound."""

from __future__ import annotations

import time

import pytest

from cloudcpe.catalog.yamlsafe import MAX_EXPANDED_NODES, YamlError, load


def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once() -> None:
    start = time.monotonic()
    with pytest.raises(YamlError) as exc:
        load(billion_laughs(), "Definitions/bomb.yaml")
    assert time.monotonic() - start < 1
    assert str(exc.value).startswith("Definitions/bomb.yaml: aliases expand to more than")
    assert str(MAX_EXPANDED_NODES) in str(exc.value)


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(YamlError, match="refers to its own ancestor"):
        load("a: &a [1, *a]\n", "x.yaml")


def test_modest_anchors_and_merge_keys_still_work() -> None:
    doc = load("base: &b {cpu: 1}\nvdu1: *b\nvdu2:\n  <<: *b\n  mem: 2\n", "x.yaml")
    assert doc == {"base": {"cpu": 1}, "vdu1": {"cpu": 1}, "vdu2": {"cpu": 1, "mem": 2}}


def test_python_tags_are_not_constructed() -> None:
    with pytest.raises(YamlError, match=r"x\.yaml: not valid YAML"):
        load("a: !!python/object/apply:os.system ['true']\n", "x.yaml")


def test_syntax_errors_say_where() -> None:
    with pytest.raises(YamlError, match=r"x.yaml: not valid YAML \(line 2, column 1\)"):
        load("a: [1, 2\n", "x.yaml")


def test_binary_is_refused() -> None:
    with pytest.raises(YamlError, match="not UTF-8"):
        load(b"a: \xff\xfe", "x.yaml")
