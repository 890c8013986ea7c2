"""The machine's matmul ceilings, measured in the benchmark's own run: a 2048^3 GEMM per precision.

fp32: Paddle, PyTorch and onnxruntime; bf16: our oneDNN kernel (bf16 operands) and PyTorch;
int8: onnxruntime's ``MatMulInteger`` (u8 x s8, VNNI/AMX where the CPU has them) and our int8 Linear
(oneDNN's u8 x s8 GEMM with its per-token quantization and correction passes included). Each framework
runs in the runner's subprocess for it (``ceiling-paddle``, ``ceiling-torch``, ``ceiling-ort``).
The runner divides each backend's model FLOP/s by the best ceiling of its precision.
"""
import time

import numpy as np

from . import common

N = 2048


SECONDS = 3.0  # per GEMM (--ceiling-seconds)


def gemm_rate(fn, n=N, seconds=None):
    """Best and median GFLOP/s of an ``n``^3 GEMM over at least ``seconds`` (and 3 runs)."""
    seconds = SECONDS if seconds is None else seconds
    fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"gflops": 2 * n ** 3 / min(times) / 1e9, "median_gflops": 2 * n ** 3 / float(np.median(times)) / 1e9}


def paddle_ceilings(threads):
    common.set_threads(threads, ("paddle",))
    import paddle

    from paddle_rembert.kernels import bf16, int8

    a, b = paddle.randn([N, N]), paddle.randn([N, N])
    out = {"fp32 Paddle": gemm_rate(lambda: paddle.matmul(a, b).numpy())}
    if bf16.available():
        ab, bb = a.astype("bfloat16"), b.astype("bfloat16")
        out["bf16 ours (oneDNN)"] = gemm_rate(lambda: bf16.matmul_raw(ab, bb).numpy())
    if int8.unsupported_reason() is None:
        table = int8.Int8Table()
        table.add(b, *int8.quantize_weight(b.numpy()))
        entry = table.get(b)
        out["int8 ours (oneDNN u8 x s8, per token)"] = gemm_rate(lambda: int8.linear(a, entry).numpy())
    return out


def torch_ceilings(threads):
    common.set_threads(threads, ("torch",))
    import torch

    a, b = torch.randn(N, N), torch.randn(N, N)
    ab, bb = a.bfloat16(), b.bfloat16()
    return {"fp32 PyTorch": gemm_rate(lambda: a @ b), "bf16 PyTorch": gemm_rate(lambda: ab @ bb)}


def ort_ceilings(threads):
    threads = common.set_threads(threads, ())
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def session(op, a_type, b_type, out_type):
        graph = helper.make_graph([helper.make_node(op, ["a", "b"], ["y"])], "g",
                                  [helper.make_tensor_value_info("a", a_type, [N, N]),
                                   helper.make_tensor_value_info("b", b_type, [N, N])],
                                  [helper.make_tensor_value_info("y", out_type, [N, N])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(0)
    s8 = session("MatMulInteger", TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32)
    a8, b8 = rng.integers(0, 255, (N, N), dtype=np.uint8), rng.integers(-127, 127, (N, N), dtype=np.int8)
    s32 = session("MatMul", TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT)
    a32, b32 = rng.standard_normal((N, N), dtype=np.float32), rng.standard_normal((N, N), dtype=np.float32)
    return {"int8 onnxruntime (u8 x s8)": gemm_rate(lambda: s8.run(None, {"a": a8, "b": b8})),
            "fp32 onnxruntime": gemm_rate(lambda: s32.run(None, {"a": a32, "b": b32}))}


CHILDREN = {"ceiling-paddle": paddle_ceilings, "ceiling-torch": torch_ceilings, "ceiling-ort": ort_ceilings}


def best(ceilings):
    """``{precision: best GFLOP/s}`` over the measured GEMMs."""
    out = {}
    for name, v in ceilings.items():
        precision = name.split()[0]
        out[precision] = max(out.get(precision, 0.0), v["gflops"])
    return out


def table(ceilings):
    rows = [[name, f"{v['gflops']:.0f}", f"{v['median_gflops']:.0f}"] for name, v in ceilings.items()]
    return common.format_table(["GEMM 2048^3", "GFLOP/s (best)", "median"], rows)
