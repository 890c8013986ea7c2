"""The family registry: a family declared at run time works everywhere, and nothing else names families."""
import json
import os

import numpy as np
import paddle
import pytest

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.cli import main as cli_main
from paddle_rembert.deploy.export import export_model
from paddle_rembert.deploy.inference import Predictor
from paddle_rembert.models import registry
from paddle_rembert.models.albert import TOKENIZER_LAYOUT, make_tiny_tokenizer as albert_tiny_tokenizer
from paddle_rembert.runtime.errors import PaddleRembertError
from paddle_rembert.trainer.arguments import from_example_flags


# -- a renamed copy of ALBERT, known only to this file ---------------------------------------------
class ToyConfig(pr.AlbertConfig):
    model_type = "toy"


class ToyTokenizer(pr.AlbertTokenizer):
    pass


def _toy(base):
    return type("Toy" + base.__name__[len("Albert"):], (base,), {"config_class": ToyConfig})


TOY_CLASSES = tuple(_toy(getattr(pr, "Albert" + suffix)) for suffix in (
    "Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
    "ForTokenClassification", "ForQuestionAnswering"))


def toy_tokenizer(texts, out_dir, vocab_size=200, **options):
    albert_tiny_tokenizer(texts, out_dir, vocab_size, **options)
    path = os.path.join(out_dir, "tokenizer_config.json")
    with open(path) as f:
        config = json.load(f)
    with open(path, "w") as f:
        json.dump(dict(config, tokenizer_class="ToyTokenizer"), f)
    return out_dir


@pytest.fixture
def toy_family():
    family = registry.register(registry.Family(
        model_type="toy", prefix="Toy", config_class=ToyConfig, model_classes=TOY_CLASSES,
        tokenizer_class=ToyTokenizer, tokenizer_files=registry.get("albert").tokenizer_files,
        tiny_config=dict(registry.get("albert").tiny_config), make_tiny_tokenizer=toy_tokenizer,
        tokenizer_layout=TOKENIZER_LAYOUT, export_tasks={"ToyForPreTraining": "masked-lm"}))
    try:
        yield family
    finally:
        registry.unregister("toy")


def test_a_family_registered_at_run_time_works_everywhere(toy_family, tmp_path, capsys):
    paddle_dir = T.write_tiny_model_dir(str(tmp_path / "toy"), "toy", T.synthetic_texts(60), vocab_size=120)
    # Auto* and AutoTokenizer
    assert type(pr.AutoConfig.from_pretrained(paddle_dir)) is ToyConfig
    model = pr.AutoModelForSequenceClassification.from_pretrained(paddle_dir, num_labels=3)
    assert type(model).__name__ == "ToyForSequenceClassification"
    tokenizer = pr.AutoTokenizer.from_pretrained(paddle_dir)
    assert type(tokenizer) is ToyTokenizer
    assert "toy" in registry.model_types() and registry.family_of_class("ToyModel") is toy_family
    # convert both ways (the tokenizer files travel with the weights)
    assert cli_main(["convert", paddle_dir, str(tmp_path / "torch"), "--to", "torch", "--quiet"]) == 0
    assert cli_main(["convert", str(tmp_path / "torch"), str(tmp_path / "back"), "--quiet"]) == 0
    assert os.path.isfile(tmp_path / "back" / "spiece.model")
    a, b = pr.AutoModel.from_pretrained(paddle_dir), pr.AutoModel.from_pretrained(str(tmp_path / "back"))
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[key].numpy(), value.numpy())
    # export (the task inferred from architectures) and predict
    model.save_pretrained(str(tmp_path / "cls"))
    tokenizer.save_pretrained(str(tmp_path / "cls"))
    meta = export_model(str(tmp_path / "cls"), str(tmp_path / "export"))
    assert meta["task"] == "sequence-classification" and meta["model_type"] == "toy"
    results = Predictor(str(tmp_path / "export")).predict(["river stone", "cloud lamp paper"])
    assert len(results) == 2 and all(r["label"].startswith("LABEL_") for r in results)
    with paddle.no_grad():
        enc = tokenizer(["river stone"], return_tensors="pd")
        probs = paddle.nn.functional.softmax(model(**enc).logits, axis=-1).numpy()[0]
    assert results[0]["score"] == pytest.approx(float(probs.max()), abs=1e-5)
    # the trainer's --model_type accepts it
    args = from_example_flags(["--task", "xnli", "--model_type", "toy", "--model_name_or_path", paddle_dir,
                               "--do_train"])
    assert args.model_type == "toy"
    capsys.readouterr()


def test_unknown_families_are_clear_errors(tmp_path):
    with pytest.raises(PaddleRembertError, match="unknown model_type 'toy'"):
        registry.get("toy")
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2Model"]}))
    with pytest.raises(PaddleRembertError, match="has no model_type.*add \"model_type\""):
        pr.AutoConfig.from_pretrained(str(tmp_path))
    with pytest.raises(SystemExit):
        from_example_flags(["--task", "xnli", "--model_type", "toy", "--model_name_or_path", str(tmp_path)])


def test_a_config_without_model_type_resolves_like_transformers(tmp_path):
    """SpanBERT's config.json has no model_type: transformers reads the architectures, then the name."""
    config = pr.AlbertConfig(**T.TINY_CONFIGS["albert"]).to_dict()
    del config["model_type"]
    (tmp_path / "by-arch").mkdir()
    (tmp_path / "by-arch" / "config.json").write_text(json.dumps(dict(config, architectures=["AlbertModel"])))
    assert type(pr.AutoConfig.from_pretrained(str(tmp_path / "by-arch"))) is pr.AlbertConfig
    (tmp_path / "albert-by-name").mkdir()
    (tmp_path / "albert-by-name" / "config.json").write_text(json.dumps(config))
    assert type(pr.AutoConfig.from_pretrained(str(tmp_path / "albert-by-name"))) is pr.AlbertConfig
