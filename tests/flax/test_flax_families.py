"""The Flax room reads the core's family table: every name the table gives Flax resolves as
``warmstart.<name>`` to the room's class for that model_type (no encoder where it lists none), and
every public model class the room defines is in the table."""

from __future__ import annotations

import pytest

pytest.importorskip("flax")

from test_families import model_classes
from tiny_configs import BART_TINY, ELECTRA_TINY, GPT2_TINY, TINY

import warmstart
import warmstart.flax.models
from warmstart import families
from warmstart.config import AutoConfig
from warmstart.flax import families as room

ROWS = sorted(t for t, row in families.FAMILIES.items() if row.flax is not None)
SIZES = {"bart": BART_TINY, "electra": ELECTRA_TINY, "gpt2": GPT2_TINY}


@pytest.mark.parametrize("model_type", ROWS)
def test_the_tables_names_are_the_classes_the_room_uses(model_type):
    row, fam = families.FAMILIES[model_type], room.FAMILIES[model_type]
    config = AutoConfig.for_model(model_type)
    assert room.family(config) is fam
    assert (fam.encoder is None) == (row.flax[0] is None)
    for name, built, is_decoder in zip(row.flax, fam, (False, True)):
        if name is None:
            continue
        cls = getattr(warmstart, name)
        assert cls is getattr(warmstart.flax, name) is built
        assert model_type in cls.model_types and cls.is_decoder_class == is_decoder
        roles = dict(is_decoder=True, add_cross_attention=True) if is_decoder else {}
        model = cls(AutoConfig.for_model(model_type, **SIZES.get(model_type, TINY), **roles))
        assert type(model.module) is type(cls.module_class(model.config))


def test_every_model_class_of_the_room_is_in_the_table():
    defined = model_classes(warmstart.flax.models)
    families_classes = {name for name, cls in defined.items() if getattr(cls, "model_types", ())}
    assert families_classes == set(families.public_names("flax"))
    assert set(room.CLASSES) == families_classes <= set(warmstart.flax.__all__)


def test_a_family_the_room_lacks_is_one_error_naming_the_sides_that_have_it():
    lacking = [t for t, row in families.FAMILIES.items() if row.flax is None]
    assert lacking, "the check needs a family Flax lacks"
    with pytest.raises(ValueError, match="has no Flax classes; it is on: PyTorch, TensorFlow"):
        room.family(AutoConfig.for_model(lacking[0]))
