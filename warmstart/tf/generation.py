def generate(model, input_ids, generation_config, **kwargs):
    raise NotImplementedError
