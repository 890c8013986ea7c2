"""Hub ids (``org/name`` + ``revision``) resolve through huggingface_hub's cache, offline, as transformers does."""
import hashlib
import os
import shutil
import types

import numpy as np
import pytest

import paddle_rembert as pr
from paddle_rembert import PaddleRembertError
from paddle_rembert import testing as T
from paddle_rembert.checkpoint import hub
from paddle_rembert.cli import main

REPO = "org/tiny-albert"
COMMITS = {"main": "a" * 40, "v1": "b" * 40}


def add_snapshot(hf_home, repo_id, ref, commit, src_dir):
    """Put ``src_dir``'s files in huggingface_hub's cache layout: blobs by hash, snapshot symlinks, refs/<ref>."""
    repo = os.path.join(hf_home, "hub", "models--" + repo_id.replace("/", "--"))
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    snapshot = os.path.join(repo, "snapshots", commit)
    os.makedirs(snapshot)
    for name in os.listdir(src_dir):
        with open(os.path.join(src_dir, name), "rb") as f:
            data = f.read()
        blob = hashlib.sha256(data).hexdigest()
        with open(os.path.join(repo, "blobs", blob), "wb") as f:
            f.write(data)
        os.symlink(os.path.join("..", "..", "blobs", blob), os.path.join(snapshot, name))
    with open(os.path.join(repo, "refs", ref), "w") as f:
        f.write(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """An HF_HOME whose cache holds org/tiny-albert at main (a torch-layout model) and at v1 (other weights)."""
    root = tmp_path_factory.mktemp("hub")
    texts = T.synthetic_texts(60)
    main_dir = T.write_tiny_model_dir(str(root / "src-main"), "albert", texts, vocab_size=80, torch_layout=True)
    v1_dir = str(root / "src-v1")
    shutil.copytree(main_dir, v1_dir)
    os.remove(os.path.join(v1_dir, "model.safetensors"))
    pr.AlbertModel.from_pretrained(main_dir)  # the same config ...
    model = pr.AlbertModel(pr.AlbertConfig.from_pretrained(main_dir))  # ... with other (random) weights
    model.save_pretrained(v1_dir)
    hf_home = str(root / "hf_home")
    for ref, src in (("main", main_dir), ("v1", v1_dir)):
        add_snapshot(hf_home, REPO, ref, COMMITS[ref], src)
    return types.SimpleNamespace(hf_home=hf_home, main=main_dir, v1=v1_dir)


@pytest.fixture
def offline(hub_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", hub_cache.hf_home)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)  # no local directory named org/...
    return hub_cache


def word_embeddings(model):
    return model.get_input_embeddings().weight.numpy()


def test_models_configs_and_tokenizers_load_by_hub_id(offline):
    want = pr.AlbertModel.from_pretrained(offline.main)
    for model in (pr.AlbertModel.from_pretrained(REPO), pr.AutoModel.from_pretrained(REPO)):
        assert type(model) is pr.AlbertModel
        np.testing.assert_array_equal(word_embeddings(model), word_embeddings(want))
    assert pr.AutoConfig.from_pretrained(REPO) == pr.AlbertConfig.from_pretrained(offline.main)
    assert pr.AlbertConfig.from_pretrained(REPO) == pr.AlbertConfig.from_pretrained(offline.main)
    text = "river stone cloud lamp"
    local = pr.AutoTokenizer.from_pretrained(offline.main)
    for tokenizer in (pr.AutoTokenizer.from_pretrained(REPO), pr.AlbertTokenizer.from_pretrained(REPO)):
        assert tokenizer(text)["input_ids"] == local(text)["input_ids"]
    classifier = pr.AutoModelForSequenceClassification.from_pretrained(REPO, num_labels=3)
    assert classifier.config.num_labels == 3


def test_revision_selects_the_snapshot(offline):
    main_model = pr.AlbertModel.from_pretrained(REPO, revision="main")
    v1 = pr.AlbertModel.from_pretrained(REPO, revision="v1")
    by_hash = pr.AlbertModel.from_pretrained(REPO, revision=COMMITS["v1"])
    np.testing.assert_array_equal(word_embeddings(v1), word_embeddings(pr.AlbertModel.from_pretrained(offline.v1)))
    np.testing.assert_array_equal(word_embeddings(by_hash), word_embeddings(v1))
    assert not np.array_equal(word_embeddings(main_model), word_embeddings(v1))
    model_type, config_path = pr.models.auto.read_model_type(REPO, revision="v1")
    assert model_type == "albert" and COMMITS["v1"] in config_path


def test_convert_and_trainer_accept_hub_ids(offline, tmp_path, capsys):
    assert main(["convert", "--quiet", REPO, str(tmp_path / "pd")]) == 0, capsys.readouterr().err
    converted = pr.AlbertModel.from_pretrained(str(tmp_path / "pd"))
    want = pr.AlbertModel.from_pretrained(offline.main)
    np.testing.assert_array_equal(word_embeddings(converted), word_embeddings(want))
    assert main(["convert", "--quiet", REPO, str(tmp_path / "pd1"), "--revision", "v1", "--to", "torch"]) == 0
    from paddle_rembert.data.tasks import get_task
    from paddle_rembert.trainer.trainer import load_model

    task = get_task("xnli")
    model = load_model(types.SimpleNamespace(model_name_or_path=REPO, model_type=None), task)
    assert model.config.num_labels == task.num_labels


def test_a_local_directory_of_that_name_wins(offline, tmp_path):
    shutil.copytree(offline.v1, tmp_path / "org" / "tiny-albert")
    model = pr.AlbertModel.from_pretrained(REPO)
    np.testing.assert_array_equal(word_embeddings(model), word_embeddings(pr.AlbertModel.from_pretrained(offline.v1)))
    assert hub.resolve(REPO) == REPO


def test_unknown_id_offline_is_one_line_naming_it(offline, capsys, tmp_path):
    with pytest.raises(PaddleRembertError) as info:
        pr.AutoModel.from_pretrained("org/missing")
    message = str(info.value)
    assert "'org/missing'" in message and "HF_HUB_OFFLINE" in message and "--local-dir" in message
    assert "\n" not in message
    with pytest.raises(PaddleRembertError, match="'org/tiny-albert' \\(revision 'v9'\\)"):
        pr.AlbertModel.from_pretrained(REPO, revision="v9")
    with pytest.raises(PaddleRembertError, match="tokenizer 'org/missing'"):
        pr.AutoTokenizer.from_pretrained("org/missing")
    assert main(["convert", "--quiet", "org/missing", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("paddle-rembert convert: error: model 'org/missing'")


def test_unreachable_endpoint_falls_back_to_the_cache(hub_cache, monkeypatch, tmp_path):
    """Online mode honours HF_ENDPOINT; when it cannot be reached, cached ids still load and others are named."""
    monkeypatch.setenv("HF_HOME", hub_cache.hf_home)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: connection refused at once
    monkeypatch.chdir(tmp_path)
    assert isinstance(pr.AlbertModel.from_pretrained(REPO), pr.AlbertModel)
    with pytest.raises(PaddleRembertError, match="'org/missing' is not a local directory and could not be fetched"):
        pr.AlbertModel.from_pretrained("org/missing")


def test_what_counts_as_a_hub_id(tmp_path):
    assert hub.is_hub_id("google/rembert") and hub.is_hub_id("bert-base-uncased")
    for path in ("/abs/org/name", "a/b/c", "../x", "org/na--me", "org/", str(tmp_path)):
        assert not hub.is_hub_id(path), path
    with pytest.raises(PaddleRembertError, match="model directory not found: /no/such/dir"):
        pr.AlbertModel.from_pretrained("/no/such/dir")
    assert hub.weight_patterns({"model.safetensors", "pytorch_model.bin", "tf_model.h5"}) == ["model.safetensors"]
    assert "model-*-of-*.safetensors" in hub.weight_patterns({"model.safetensors.index.json"})

