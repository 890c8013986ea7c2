"""PaddleNLP 2.8.1 Taskflow runs our PIR export after ``import paddle_rembert.deploy.taskflow``.

These use the real paddlenlp package (a test dependency), not a stand-in.
"""
import os
import shutil

import numpy as np
import paddlenlp  # a test dependency: missing, it fails here rather than skipping
import pytest
from paddlenlp import Taskflow
from paddlenlp.taskflow.taskflow import TASKS

import paddle_rembert.deploy.taskflow as rt
from paddle_rembert.deploy.inference import Predictor

from .conftest import TEXTS

# Lengths from 3 to ~40 tokens, so that batches of 8 are padded a lot.
MANY = TEXTS + [" ".join(TEXTS[:4]), "lamp", " ".join(TEXTS[2:5])]


def test_paddlenlp_is_the_real_package():
    assert paddlenlp.__version__.startswith("2.8"), paddlenlp.__version__
    assert TASKS["text_classification"]["modes"]["finetune"]["task_class"] is rt.ExportTextClassificationTask
    assert issubclass(rt.ExportTextClassificationTask, rt._ORIGINAL_TASK_CLASS)


@pytest.mark.parametrize("family", ["albert", "rembert"])
def test_taskflow_equals_predict_for_batch_sizes_1_and_8(exports, family):
    out = exports(family, "sequence-classification")[1]
    expected = Predictor(out).predict(MANY, batch_size=3)
    assert len({r["label"] for r in expected}) > 1
    for batch_size in (1, 8):
        flow = Taskflow("text_classification", task_path=out, is_static_model=True, batch_size=batch_size)
        results = flow(MANY)
        assert [r["text"] for r in results] == MANY
        for r, want in zip(results, expected):
            (pred,) = r["predictions"]
            assert pred["label"] == want["label"]
            assert float(pred["score"]) == pytest.approx(want["score"], abs=1e-6)
    # the single-string call; an export is static even when is_static_model is not passed
    (one,) = Taskflow("text_classification", task_path=out)(MANY[0])
    assert one["predictions"][0]["label"] == expected[0]["label"]


def test_taskflow_feeds_the_2d_mask_by_name(exports):
    out = exports("albert", "sequence-classification")[1]
    flow = Taskflow("text_classification", task_path=out, is_static_model=True, batch_size=4)
    task = flow.task_instance
    assert task._static_model_file.endswith("inference.json")
    assert task.input_names == ["input_ids", "token_type_ids", "attention_mask"]
    seen = []

    class Spy:
        def __init__(self, handle):
            self.handle = handle

        def copy_from_cpu(self, array):
            seen.append(array)
            return self.handle.copy_from_cpu(array)

    handles = task._clones.get()[1]  # this thread's predictor's
    handles[2] = Spy(handles[2])
    flow(MANY[:4])
    assert seen
    assert seen[0].ndim == 2 and seen[0].dtype == np.int64 and set(np.unique(seen[0])) <= {0, 1}
    assert (seen[0] == 0).any(), "a batch of unequal texts has padding"


def test_one_taskflow_serves_several_threads(exports):
    """Each thread gets its own results: with one predictor for all, each of two threads got the other's
    scores on nearly every call."""
    from concurrent.futures import ThreadPoolExecutor

    out = exports("albert", "sequence-classification")[1]
    flow = Taskflow("text_classification", task_path=out, is_static_model=True, batch_size=4)
    groups = [MANY[:4], MANY[4:7], MANY[7:], MANY[2:6]]
    want = [flow(g) for g in groups]
    assert len({str(w) for w in want}) == len(groups)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: flow(groups[i % 4]), range(48)))
    assert all(g == want[i % 4] for i, g in enumerate(got))


def test_unpatched_taskflow_cannot_load_a_pir_export(exports):
    """Why the patch exists: PaddleNLP 2.8.1 looks for *.pdmodel only."""
    out = exports("albert", "sequence-classification")[1]
    with pytest.raises(IOError, match=r"\.pdmodel"):
        rt._ORIGINAL_TASK_CLASS(task="text_classification", model="finetune", task_path=out, is_static_model=True)


def test_model_discovery_ignores_other_json_files(tmp_path):
    """PaddleNLP 3.0.0b4 takes any *.json (config.json too) for the model; we need a .pdiparams twin."""
    for name in ("config.json", "tokenizer_config.json", "special_tokens_map.json", "export_meta.json",
                 "aaa.json", "inference.json", "inference.pdiparams"):
        (tmp_path / name).write_text("{}")
    assert rt.find_static_model(str(tmp_path)) == ("inference", ".json")
    os.remove(tmp_path / "inference.json")
    (tmp_path / "model.pdmodel").write_text("")
    (tmp_path / "model.pdiparams").write_text("")
    assert rt.find_static_model(str(tmp_path)) == ("model", ".pdmodel")
    (tmp_path / "zzz.json").write_text("{}")
    (tmp_path / "zzz.pdiparams").write_text("")
    assert rt.find_static_model(str(tmp_path)) == ("zzz", ".json")  # a PIR program wins over .pdmodel
    for name in ("model.pdmodel", "zzz.json", "zzz.pdiparams"):
        os.remove(tmp_path / name)
    with pytest.raises(IOError, match="static model"):
        rt.find_static_model(str(tmp_path))


def test_taskflow_finds_our_model_among_json_files_when_renamed(exports, tmp_path):
    """A model named other than ``inference`` still loads; config.json and friends are not taken for it."""
    out = exports("rembert", "sequence-classification")[1]
    renamed = tmp_path / "renamed"
    shutil.copytree(out, renamed)
    for ext in (".json", ".pdiparams"):
        os.rename(renamed / f"inference{ext}", renamed / f"model{ext}")
    expected = Predictor(out).predict(MANY[:3])
    flow = Taskflow("text_classification", task_path=str(renamed), is_static_model=True)
    assert [r["predictions"][0]["label"] for r in flow(MANY[:3])] == [r["label"] for r in expected]


def test_taskflow_rejects_an_export_of_another_task(exports):
    out = exports("rembert", "token-classification")[1]
    with pytest.raises(ValueError, match="sequence-classification"):
        Taskflow("text_classification", task_path=out, is_static_model=True)


def test_register_is_idempotent():
    assert rt.register() is rt.ExportTextClassificationTask
    assert TASKS["text_classification"]["modes"]["finetune"]["task_class"] is rt.ExportTextClassificationTask


def test_an_empty_list_gives_no_results_and_the_download_flag_stays_untouched(exports, monkeypatch):
    import paddlenlp.taskflow.task as taskflow_task
    from paddlenlp.taskflow import utils as taskflow_utils

    monkeypatch.setattr(taskflow_utils, "DOWNLOAD_CHECK", False)
    checks = []
    monkeypatch.setattr(taskflow_task, "download_check", checks.append)  # no network request from the test
    flow = Taskflow("text_classification", task_path=exports("albert", "sequence-classification")[1])
    assert checks == [] and taskflow_utils.DOWNLOAD_CHECK is False  # skipped for our export only
    assert flow([]) == []


def test_taskflow_feeds_exactly_the_inputs_of_an_export_without_token_types(export_without_token_types):
    _, out = export_without_token_types
    flow = Taskflow("text_classification", task_path=out, batch_size=4)
    assert flow.task_instance.input_names == ["input_ids", "attention_mask"]
    expected = Predictor(out).predict(MANY)
    for got, want in zip(flow(MANY), expected):
        assert got["predictions"][0]["label"] == want["label"]
        assert float(got["predictions"][0]["score"]) == pytest.approx(want["score"], abs=1e-5)


def test_taskflow_reads_the_exports_problem_type(exports, tmp_path):
    """PaddleNLP never reads problem_type from config.json: a multi-label export would get softmax scores."""
    import json

    out = shutil.copytree(exports("albert", "sequence-classification")[1], tmp_path / "multi")
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "problem_type": "multi_label_classification"}))
    expected = Predictor(str(out), threshold=0.5).predict(MANY)
    results = Taskflow("text_classification", task_path=str(out))(MANY)
    assert any(want["labels"] for want in expected) and not all(len(w["labels"]) == 1 for w in expected)
    for r, want in zip(results, expected):
        assert [p["label"] for p in r["predictions"]] == want["labels"]
        for p in r["predictions"]:
            assert float(p["score"]) == pytest.approx(want["probabilities"][p["label"]], abs=1e-6)
    # one output without a problem_type is a regression head too, as transformers infers it (it scored 1.0 always)
    one_output = {k: v for k, v in config.items() if k not in ("problem_type", "label2id")}
    for regression in ({**config, "problem_type": "regression"}, dict(one_output, id2label={"0": "LABEL_0"})):
        (out / "config.json").write_text(json.dumps(regression))
        with pytest.raises(ValueError, match="regression model; Taskflow's text_classification has no regression"):
            Taskflow("text_classification", task_path=str(out))
