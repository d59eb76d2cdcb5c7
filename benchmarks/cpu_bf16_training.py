"""fp32 vs bf16 autocast training throughput of ResNet50 on this CPU (AMX), issue 17's question for
the recipe. Batch 64, random data, AdamW; 2 warm-up steps, then 4 timed steps at 32 px and 2 at 64 px.

    PYTHONPATH=. python benchmarks/cpu_bf16_training.py
"""
import json
import time

import torch
import torch.nn.functional as F
from ml.config import ModelConfig
from ml.model import build_model

torch.manual_seed(0)


def step(m: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, amp: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        loss = F.cross_entropy(m(x).float(), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


res = {}
for size in (32, 64):
    for amp in (False, True):
        m = build_model(ModelConfig()).to(memory_format=torch.channels_last)
        m.train()
        opt = torch.optim.AdamW(m.parameters(), 1e-3)
        x = torch.randn(64, 3, size, size).to(memory_format=torch.channels_last)
        y = torch.randint(0, 2, (64,))
        step(m, opt, x, y, amp)
        step(m, opt, x, y, amp)
        n = 4 if size == 32 else 2
        t = time.perf_counter()
        for _ in range(n):
            step(m, opt, x, y, amp)
        dt = time.perf_counter() - t
        res[f"{size}_{'bf16' if amp else 'fp32'}"] = 64 * n / dt
        print(size, amp, 64 * n / dt, "img/s", flush=True)
print(json.dumps(res))
