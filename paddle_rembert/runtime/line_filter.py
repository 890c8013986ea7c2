"""Copy stdin to stdout line by line (a line ends at ``\\n`` or ``\\r``), less the fixed notices below.

Run as a script (``python -I -S line_filter.py``, standard library only) by the command line's export, whose
output passes through it (:func:`paddle_rembert.cli.quiet_export`), and predict, whose engine's creation does.
A child process, not a thread, reads the pipe: C++ code that writes while holding Python's lock would otherwise
wait forever on a full pipe.
"""
import os
import re
import sys

# Printed by Paddle's C++ on every export (its own arange, cumsum ... pass ``out=None``), by onnxruntime's graph
# optimiser when int8 pre-processing drops a constant paddle2onnx left unused, by Paddle Inference's bf16 setting in
# a process's first predictor (glog INFO "... is enabled", or "... is disabled. Simulation will be used" under
# PADDLE_REMBERT_BF16=emulate: disable_glog_info() silences glog only once a predictor is made), and by paddle2onnx
# on every conversion; their warnings and errors ("[ERROR][Paddle2ONNX] ...") pass
NOTICES = (b"Paddle static graph(PIR) not support input out tensor",
           b"CleanUnusedInitializersAndNodeArgs] Removing initializer",
           b"Hardware support for BFLOAT16 is ")
BANNERS = (b"[Paddle2ONNX] Start parsing the Paddle model file", b"[Paddle2ONNX] Use opset_version = ",
           b"[Paddle2ONNX] PaddlePaddle model is exported as ONNX format now")


def keep(line):
    return not (line.startswith(BANNERS) or any(notice in line for notice in NOTICES))


def main():
    pending = b""
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        *lines, pending = re.split(rb"(?<=[\r\n])", pending + chunk)  # \r too: a progress bar's redraw
        for line in lines:
            if keep(line):
                os.write(1, line)
    if pending and keep(pending):
        os.write(1, pending)


if __name__ == "__main__":
    sys.exit(main())
