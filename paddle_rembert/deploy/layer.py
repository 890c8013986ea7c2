"""The layer an export traces: a model's forward with the export's inputs by name, returning its outputs as a
tuple (also what the int8 engine runs, so both compute the same outputs from the same inputs)."""
from ..runtime.errors import PaddleRembertError
from .format import INPUT_NAMES


def export_layer(model, output_names, input_names=INPUT_NAMES):
    """A layer whose forward takes the named inputs (with or without token types) and returns the outputs."""
    import paddle

    class ExportModel(paddle.nn.Layer):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, input_ids, token_type_ids, attention_mask):
            out = self.model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                             return_dict=True)
            return tuple(out[name] for name in output_names)

    class ExportModelWithoutTypes(ExportModel):
        def forward(self, input_ids, attention_mask):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
            return tuple(out[name] for name in output_names)

    if tuple(input_names) == INPUT_NAMES:
        return ExportModel(model).eval()
    if tuple(input_names) == ("input_ids", "attention_mask"):
        return ExportModelWithoutTypes(model).eval()
    raise PaddleRembertError(f"cannot export with inputs {list(input_names)}")
