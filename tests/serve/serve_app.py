"""A jamflow server for the tests, in a process of its own: the tiny checkpoint and a 2-iteration
Griffin-Lim vocoder (the default one takes seconds per request on 2 cores), through the same
`create_app` + uvicorn as `jamflow serve`.

    python serve_app.py CKPT PORT [--queue N] [--timeout_s S]
"""
import argparse
import os

import torch
import uvicorn

from jamflow.infer.api import JAMFlow
from jamflow.serve import ServeConfig, create_app
from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("ckpt")
    p.add_argument("port", type=int)
    p.add_argument("--queue", type=int, default=2)
    p.add_argument("--timeout_s", type=float, default=300)
    a = p.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    jam = JAMFlow.from_pretrained(a.ckpt, device="cpu", dtype="float32", progress=False,
                                  vocoder=GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2)))
    app = create_app(jam, ServeConfig(queue=a.queue, timeout_s=a.timeout_s))
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")
