"""The TensorFlow room reads the core's family table: every name the table gives TF resolves as
``warmstart.<name>`` to the class the room builds for that model_type, and every public model class
of ``warmstart/tf/models`` is in the table."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from test_families import model_classes

import warmstart
import warmstart.tf.models
from warmstart import families
from warmstart.config import AutoConfig
from warmstart.tf import TFAutoModel, TFAutoModelForCausalLM
from warmstart.tf import families as room


@pytest.mark.parametrize("model_type", sorted(families.FAMILIES))
def test_the_tables_names_are_the_classes_the_room_uses(model_type):
    row, fam = families.FAMILIES[model_type], room.FAMILIES[model_type]
    encoder, decoder = row.names("tf")
    assert getattr(warmstart, encoder) is fam.encoder and getattr(warmstart, decoder) is fam.decoder
    assert getattr(warmstart.tf, decoder) is fam.decoder
    config = AutoConfig.for_model(model_type)
    assert room.family(config) == fam
    assert TFAutoModel.model_class(config) is fam.encoder
    assert TFAutoModelForCausalLM.model_class(config) is fam.decoder


def test_every_model_class_of_the_room_is_in_the_table():
    defined = set(model_classes(warmstart.tf.models))
    assert defined and defined == set(families.public_names("tf"))
    assert set(room.CLASSES) == defined <= set(warmstart.tf.__all__)
