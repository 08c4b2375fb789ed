"""The seed document's PyTorch examples, run with only the import changed.

Hub ids are served from a local Hugging Face cache that the test builds (offline): the MiniLM checkpoint
stands in for google-bert/bert-base-uncased.
"""

import pytest
import torch
from hub_cache import add_to_hf_cache


@pytest.fixture
def bert_base_in_cache(hf_cache, minilm_dir):
    add_to_hf_cache(hf_cache, "google-bert/bert-base-uncased", minilm_dir)


def test_random_init_from_configs():
    from warmstart import BertConfig, EncoderDecoderConfig, EncoderDecoderModel

    config_encoder = BertConfig()
    config_decoder = BertConfig()

    config = EncoderDecoderConfig.from_encoder_decoder_configs(config_encoder, config_decoder)
    model = EncoderDecoderModel(config=config)

    assert sum(p.numel() for p in model.parameters()) == 247_363_386


def test_warm_start_from_two_pretrained_checkpoints(bert_base_in_cache):
    from warmstart import BertTokenizer, EncoderDecoderModel

    tokenizer = BertTokenizer.from_pretrained("google-bert/bert-base-uncased")
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        "google-bert/bert-base-uncased", "google-bert/bert-base-uncased"
    )

    assert tokenizer.cls_token_id == 101
    assert any("crossattention" in k for k in model.newly_initialized)


def test_training_loss(bert_base_in_cache):
    from warmstart import BertTokenizer, EncoderDecoderModel

    tokenizer = BertTokenizer.from_pretrained("google-bert/bert-base-uncased")
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        "google-bert/bert-base-uncased", "google-bert/bert-base-uncased"
    )

    model.config.decoder_start_token_id = tokenizer.cls_token_id
    model.config.pad_token_id = tokenizer.pad_token_id

    input_ids = tokenizer(
        "The tower is 324 metres (1,063 ft) tall, about the same height as an 81-storey building, and the tallest structure in Paris. Its base is square, measuring 125 metres (410 ft) on each side.During its construction, the Eiffel Tower surpassed the Washington Monument to become the tallest man-made structure in the world, a title it held for 41 years until the Chrysler Building in New York City was  finished in 1930. It was the first structure to reach a height of 300 metres. Due to the addition of a broadcasting aerial at the top of the tower in 1957, it is now taller than the Chrysler Building by 5.2 metres (17 ft).Excluding transmitters, the Eiffel Tower is the second tallest free-standing structure in France after the Millau Viaduct.",
        return_tensors="pt",
    ).input_ids

    labels = tokenizer(
        "the eiffel tower surpassed the washington monument to become the tallest structure in the world. it was the first structure to reach a height of 300 metres in paris in 1930. it is now taller than the chrysler building by 5. 2 metres ( 17 ft ) and is the second tallest free - standing structure in paris.",
        return_tensors="pt",
    ).input_ids

    # the forward function automatically creates the correct decoder_input_ids
    loss = model(input_ids=input_ids, labels=labels).loss

    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    loss.backward()  # it trains
    assert model.decoder.bert.encoder.layer[0].crossattention.self.query.weight.grad is not None
