"""PaddleNLP Taskflow for paddle-rembert exports: ``import paddle_rembert.deploy.taskflow`` first.

>>> import paddle_rembert.deploy.taskflow  # noqa: F401  (registers the task class below)
>>> from paddlenlp import Taskflow
>>> cls = Taskflow("text_classification", task_path="exported/", is_static_model=True, batch_size=8)
>>> cls(["a text", "another"])
[{'predictions': [{'label': 'positive', 'score': 0.93}], 'text': 'a text'}, ...]

Importing this module replaces the task class of ``Taskflow("text_classification")`` (mode
``finetune``, the default) with :class:`ExportTextClassificationTask`, a subclass of PaddleNLP's
``TextClassificationTask`` that changes only what an export from ``paddle-rembert export``
needs and otherwise defers to PaddleNLP:

* **Finding the static model.** PaddleNLP 2.8.1 looks only for ``*.pdmodel`` files, but Paddle 3
  (PIR) writes ``inference.json``; PaddleNLP 3.0.0b4 takes *any* ``*.json`` in the folder
  (``config.json``, ``tokenizer_config.json``, ...) for the model. Here a model is a
  ``NAME.json`` or ``NAME.pdmodel`` that has a ``NAME.pdiparams`` beside it, so the other JSON
  files are never mistaken for it. This applies to every static ``text_classification`` model.
* **Creating the predictor.** ``Config.enable_memory_optim()`` makes ``create_predictor`` fail on
  a PIR program in Paddle 3.3.1 (``Not find predictor_id ... memory_optimize_pass``), so it is
  not called for ``.json`` programs. Everything else is as PaddleNLP sets it (oneDNN on CPU).
* **Our exports only** (a folder with ``export_meta.json``; ``is_static_model=True`` is implied):
  the tokenizer is paddle-rembert's (identical to transformers'), the maximum length is the
  export's, and exactly the inputs the export declares are fed, by name: ``input_ids``, the
  0/1 ``int64`` ``attention_mask`` and, if the export takes them, ``token_type_ids`` (zeros when
  the tokenizer gives none). (PaddleNLP turns the mask into a 4-D float ``-1e4`` mask and feeds
  inputs by position.) The mask is always fed, so results never depend on the batch size.
  PaddleNLP's usage-statistics request is skipped for a local export, for that task object only
  (``from_hf_hub=True``, which in PaddleNLP 2.8.1 only skips that request and a dygraph path
  that static models never take; the module-global ``DOWNLOAD_CHECK`` is left alone).
* **An empty list** of texts gives an empty list of results (PaddleNLP raises IndexError).
* **Threads** (our exports): each thread that calls the task runs its own ``clone()`` of the predictor,
  so one task may serve several threads at once.

Labels come from ``config.json``'s ``id2label`` (PaddleNLP reads it there), and so, for our exports,
does ``problem_type`` (a multi-label model gets PaddleNLP's ``multi_label`` sigmoids; a regression
model is refused); tokenization, batching, softmax and the output format are PaddleNLP's own.
"""
import os

import numpy as np

from ..runtime.errors import PaddleRembertError
from .engines import ThreadClones
from .format import META_FILE, read_meta

try:
    from paddlenlp.taskflow import taskflow as _taskflow
    from paddlenlp.taskflow.text_classification import TextClassificationTask
except ImportError as e:  # pragma: no cover - paddlenlp is in the test extra
    raise ImportError(f"paddle_rembert.deploy.taskflow needs paddlenlp (pip install paddlenlp): {e}") from e


def find_static_model(task_path):
    """``(prefix, extension)`` of the static model in ``task_path``: a ``.json`` or ``.pdmodel``
    program with a ``.pdiparams`` of the same name; ``.json`` wins, then the name ``inference``."""
    if not os.path.isdir(task_path):
        raise IOError(f"task_path {task_path} is not a directory")
    files = set(os.listdir(task_path))
    found = []
    for name in sorted(files):
        for ext in (".json", ".pdmodel"):
            if name.endswith(ext) and name[: -len(ext)] + ".pdiparams" in files:
                found.append((name[: -len(ext)], ext))
    if not found:
        raise IOError(f"{task_path} should include a static model: NAME.json (Paddle 3 PIR) or NAME.pdmodel, "
                      f"with NAME.pdiparams beside it")
    found.sort(key=lambda pe: (pe[1] != ".json", pe[0] != "inference", pe[0]))
    return found[0]


def is_export(task_path):
    return bool(task_path) and os.path.isfile(os.path.join(task_path, META_FILE))


def _taskflow_problem_type(task_path):
    """PaddleNLP's ``problem_type`` for an export's ``config.json`` one (PaddleNLP never reads it there, and
    would give a multi-label model softmax scores); a regression head (so is one output without a problem_type,
    as transformers infers it) has no Taskflow form."""
    from ..runtime.files import read_json

    config = read_json(os.path.join(task_path, "config.json"), "model config")
    config = config if isinstance(config, dict) else {}
    problem_type = config.get("problem_type")
    labels = config.get("id2label")
    num_labels = len(labels) if isinstance(labels, dict) else config.get("num_labels")
    if problem_type == "regression" or (problem_type is None and num_labels == 1):
        raise ValueError(f"{task_path} is a regression model; Taskflow's text_classification has no regression "
                         f"form: use paddle-rembert predict or Predictor")
    return "multi_label" if problem_type == "multi_label_classification" else "multi_class"


class ExportTextClassificationTask(TextClassificationTask):
    """PaddleNLP's ``TextClassificationTask`` that also runs PIR programs and paddle-rembert exports."""

    def __init__(self, task, model="finetune", **kwargs):
        task_path = kwargs.get("task_path")
        self._export_meta = None
        if is_export(task_path):
            kwargs["is_static_model"] = True  # an export holds no dygraph weights: never convert it again
            try:
                self._export_meta = read_meta(task_path)
            except PaddleRembertError as e:
                raise IOError(str(e)) from None
            if self._export_meta["task"] != "sequence-classification":
                raise ValueError(f"{task_path} is a {self._export_meta['task']} export; text_classification "
                                 f"needs `paddle-rembert export --task sequence-classification`")
            kwargs["from_hf_hub"] = True  # a local export: no usage-statistics request (see above)
            kwargs.setdefault("problem_type", _taskflow_problem_type(task_path))
        super().__init__(task=task, model=model, **kwargs)
        if self._export_meta is not None and "max_length" not in self.kwargs:
            self._max_length = int(self._export_meta.get("max_length") or self._max_length)

    # -- finding the model ---------------------------------------------------------------------
    def _get_static_model_name(self):
        name, self._static_model_ext = find_static_model(self._task_path)
        return name

    def _get_inference_model(self):
        if not (self.is_static_model and getattr(self, "_static_model_ext", None) == ".json"):
            return super()._get_inference_model()
        # PaddleNLP 2.8.1 checks for and loads NAME.pdmodel; a PIR program is NAME.json.
        self.inference_model_path = os.path.join(self._task_path, self._static_model_name)
        self._static_model_file = self.inference_model_path + ".json"
        self._static_params_file = self.inference_model_path + ".pdiparams"
        if self._export_meta is None and self._pir_is_quantized():
            self._infer_precision = "int8"
            self._predictor_type = "paddle-inference"
        if self._predictor_type != "paddle-inference":
            return self._prepare_onnx_mode()
        import paddle

        self._config = paddle.inference.Config(self._static_model_file, self._static_params_file)
        self._prepare_static_mode()

    def _pir_is_quantized(self):
        import paddle

        program = paddle.jit.load(self.inference_model_path).program()
        return any("quantize" in op.name() for op in program.global_block().ops)

    def _prepare_static_mode(self):
        if getattr(self, "_static_model_ext", None) == ".json":
            self._prepare_pir_predictor()
        else:
            super()._prepare_static_mode()
        # what our exports run: each calling thread its own clone (one predictor fed from two threads gave each
        # the other's scores; PaddleNLP's own tasks share theirs)
        self._clones = ThreadClones(self.predictor, self.input_names, self.predictor.get_output_names()[:1])

    def _prepare_pir_predictor(self):
        import paddle

        # PaddleNLP's settings, without enable_memory_optim() (it breaks PIR predictors in Paddle 3.3.1)
        device = paddle.get_device()
        if device == "cpu":
            self._config.disable_gpu()
            self._config.enable_mkldnn()
            if self._infer_precision == "int8":
                self._config.switch_ir_optim(True)
                self._config.enable_mkldnn_int8()
        elif device.split(":", 1)[0] == "npu":
            self._config.disable_gpu()
            self._config.enable_custom_device("npu", self.kwargs["device_id"])
        else:
            self._config.enable_use_gpu(100, self.kwargs["device_id"])
            self._config.delete_pass("embedding_eltwise_layernorm_fuse_pass")
            self._config.delete_pass("fused_multi_transformer_encoder_pass")
        self._config.set_cpu_math_library_num_threads(self._num_threads)
        self._config.switch_use_feed_fetch_ops(False)
        self._config.disable_glog_info()
        self.predictor = paddle.inference.create_predictor(self._config)
        self.input_names = list(self.predictor.get_input_names())
        self.input_handles = [self.predictor.get_input_handle(name) for name in self.input_names]
        self.output_handle = [self.predictor.get_output_handle(name) for name in self.predictor.get_output_names()]

    def _check_input_text(self, inputs):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and isinstance(inputs[0], list) and not inputs[0]:
            return []  # Taskflow(...)([]): no texts, no results
        return super()._check_input_text(inputs)

    # -- our exports: tokenizer and inputs -------------------------------------------------------
    def _construct_tokenizer(self):
        if self._export_meta is None:
            return super()._construct_tokenizer()
        from ..models.auto import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self._task_path)

    def _run_model(self, inputs):
        if self._export_meta is None or self._predictor_type != "paddle-inference":
            return super()._run_model(inputs)
        outputs = {"text": inputs["text"], "batch_logits": []}
        for batch in inputs["batches"]:
            feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.input_names if name in batch}
            if "attention_mask" not in feed:  # a tokenizer without masks: padding is pad_token_id
                feed["attention_mask"] = (feed["input_ids"] != self._tokenizer.pad_token_id).astype(np.int64)
            if "token_type_ids" in self.input_names and "token_type_ids" not in feed:
                feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
            predictor, input_handles, (output_handle,) = self._clones.get()
            for name, handle in zip(self.input_names, input_handles):
                handle.copy_from_cpu(np.ascontiguousarray(feed[name]))
            predictor.run()
            outputs["batch_logits"].append(output_handle.copy_to_cpu().tolist())
        return outputs


def register():
    """Make ``Taskflow("text_classification")`` (mode ``finetune``) use :class:`ExportTextClassificationTask`.

    Idempotent; called on import. Returns the class it replaced.
    """
    entry = _taskflow.TASKS["text_classification"]["modes"]["finetune"]
    previous = entry["task_class"]
    entry["task_class"] = ExportTextClassificationTask
    return previous


_ORIGINAL_TASK_CLASS = register()
