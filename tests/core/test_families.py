"""The core's family table (warmstart.families) is well-formed, and the lazy public names of
``warmstart`` are derived from it; no framework is imported (the rooms' own tests check that every
name resolves to the class the room uses)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import warmstart
from warmstart import families, keys
from warmstart.config import AutoConfig, Config, EncoderDecoderConfig, config_class

PREFIX = {"torch": "", "tf": "TF", "flax": "Flax"}


def model_classes(*where: ModuleType) -> dict[str, type]:
    """The public classes with ``from_pretrained`` that the modules ``where``, and the modules of
    the packages among them, define (a room's ``models``; the rooms' tests call it)."""
    modules = list(where)
    for package in where:
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            modules.append(importlib.import_module(f"{package.__name__}.{info.name}"))
    return {
        name: value
        for module in modules
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and hasattr(value, "from_pretrained")
        and not name.startswith("_")
    }


def test_every_config_class_has_one_row():
    def subclasses(cls):
        return {cls, *(c for sub in cls.__subclasses__() for c in subclasses(sub))}

    defined = {cls for cls in subclasses(Config) if cls.__module__ == "warmstart.config"}
    assert {row.config for row in families.FAMILIES.values()} == defined - {
        Config,
        EncoderDecoderConfig,
    }
    assert all(key == row.config.model_type for key, row in families.FAMILIES.items())
    assert config_class("encoder-decoder") is EncoderDecoderConfig


@pytest.mark.parametrize("model_type", sorted(families.FAMILIES))
def test_a_row_names_its_config_key_layout_and_a_decoder_on_pytorch(model_type):
    row = families.FAMILIES[model_type]
    assert type(AutoConfig.for_model(model_type)) is row.config is config_class(model_type)
    assert isinstance(row.layout, keys.KeyLayout)
    assert all(row.torch)
    assert row.module.isidentifier()


@pytest.mark.parametrize("side", families.SIDES)
def test_a_sides_names_carry_its_prefix_and_every_family_on_it_decodes(side):
    for row in families.FAMILIES.values():
        names = row.names(side)
        if names is None:
            continue
        assert names[1] is not None, (row.model_type, side)
        for name in names:
            if name is not None:
                assert name.startswith(PREFIX[side]) and name[len(PREFIX[side])].isupper()
                assert side != "torch" or not name.startswith(("TF", "Flax")), name


@pytest.mark.parametrize("side", families.SIDES)
def test_two_rows_share_a_class_name_only_when_they_share_its_file(side):
    owner: dict[str, str] = {}
    for row in families.FAMILIES.values():
        for name in row.names(side) or ():
            if name is not None:
                assert owner.setdefault(name, row.module) == row.module, name


def test_tied_names_are_checkpoint_names():
    for row in families.FAMILIES.values():
        assert all(name.endswith(".weight") for name in row.tied), row.model_type


def test_an_unknown_model_type_is_one_error_listing_the_families():
    with pytest.raises(ValueError, match="'llama' is not supported.*Supported encoders: bart"):
        families.family("llama", "torch")


def test_a_side_without_the_family_says_where_it_is():
    missing = [
        (t, s) for t, r in families.FAMILIES.items() for s in families.SIDES if not r.names(s)
    ]
    assert missing, "the check needs a family one side lacks"
    model_type, side = missing[0]
    with pytest.raises(ValueError, match=f"{model_type!r} has no .* classes; it is on: PyTorch"):
        families.family(model_type, side)


def test_lazy_names_are_the_tables_names_and_the_other_names():
    expected = {}
    for side in families.SIDES:
        names = (*families.public_names(side), *warmstart._OTHER_NAMES[side])
        for name in names:
            assert expected.setdefault(name, side) == side, f"{name} on two sides"
    assert expected == warmstart._LAZY
    assert len(warmstart.__all__) == len(set(warmstart.__all__))
    assert set(expected) <= set(warmstart.__all__) and set(expected) <= set(dir(warmstart))


def test_family_names_are_not_repeated_in_the_other_names():
    for side in families.SIDES:
        assert not set(families.public_names(side)) & set(warmstart._OTHER_NAMES[side]), side
