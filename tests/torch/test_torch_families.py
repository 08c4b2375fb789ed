"""The PyTorch room reads the core's family table: every name the table gives PyTorch resolves as
``warmstart.<name>`` to the class the room builds for that model_type, and every public model class
of ``warmstart/torch/models`` is in the table."""

from __future__ import annotations

import pytest
from test_families import model_classes

import warmstart
import warmstart.torch.models
from warmstart import families
from warmstart.config import AutoConfig
from warmstart.torch import AutoModel, AutoModelForCausalLM
from warmstart.torch import families as room

ROWS = sorted(families.FAMILIES)


@pytest.mark.parametrize("model_type", ROWS)
def test_the_tables_names_are_the_classes_the_room_uses(model_type):
    row, fam = families.FAMILIES[model_type], room.FAMILIES[model_type]
    encoder, decoder = row.names("torch")
    assert getattr(warmstart, encoder) is fam.encoder and getattr(warmstart, decoder) is fam.decoder
    assert getattr(warmstart.torch, decoder) is fam.decoder
    config = AutoConfig.for_model(model_type)
    assert room.family(config) is fam
    assert AutoModel.model_class(config) is fam.encoder
    assert AutoModelForCausalLM.model_class(config) is fam.decoder


def test_every_model_class_of_the_room_is_in_the_table():
    defined = set(model_classes(warmstart.torch.models))
    assert defined and defined == set(families.public_names("torch"))
    assert set(room.CLASSES) == defined <= set(warmstart.torch.__all__)


def test_a_model_type_the_table_lacks_is_one_error():
    config = AutoConfig.for_model("bert")
    config.model_type = "llama"
    with pytest.raises(ValueError, match="'llama' is not supported as an encoder or decoder"):
        room.family(config)
