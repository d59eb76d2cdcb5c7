"""The diagnostic run for benchmarks/precision.md section 2, as run (paths of that session):
relative change of the layer4 activations of the stand-in checkpoint under bf16 (this branch's
folded path, PyTorch autocast, bf16 weights unfolded) and fp32 BatchNorm folding."""
import sys
from typing import Any

import torch
sys.path.insert(0, "/work/wt-h17")
from ml.checkpoint import load_checkpoint
from ml import precision
from ml.data.sources import load_samples
from ml.imageio import decode_image
from ml.preprocess import center_crop, to_tensor
torch.set_num_threads(2)
model, meta = load_checkpoint("/tmp/h17/probe/model128.pt")
model.eval()
net: Any = model  # a torchvision ResNet: avgpool and fc are its attributes
s = [x for x in load_samples("/work/shared/data/unsplash-gemini") if x.split == "test"][::6][:24]
x = torch.stack([to_tensor(center_crop(decode_image(a.read_bytes()).convert("RGB"), 128)[0], meta.preprocess) for a in s])
b = precision.to_bf16(model)
with torch.inference_mode():
    body = torch.nn.Sequential(*list(model.children())[:-2])
    f32 = body(x)
    fb = b.features(x)
    p32 = torch.flatten(net.avgpool(f32), 1)
    pb = torch.flatten(b.avgpool(fb), 1)
rel = ((fb - f32).norm() / f32.norm()).item()
relp = ((pb - p32).norm(dim=1) / p32.norm(dim=1))
w = (net.fc.weight[1] - net.fc.weight[0]).detach()
l32 = p32 @ w
lb = pb @ w
print("layer4 rel err", rel, "pooled rel err median", relp.median().item())
print("logit diff spread: std over images", l32.std().item(), "mean |dlogit|", (lb - l32).abs().mean().item())
print("|w| * |f| / |w.f| (amplification)", ((w.norm() * p32.norm(dim=1)) / l32.abs().clamp_min(1e-6)).median().item())
# a well-conditioned head on the same features: class-mean difference direction
fold = precision.fold_batchnorm(model)
with torch.no_grad():
    ff = torch.nn.Sequential(*list(fold.children())[:-2])(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fa = body(x).float()
    bb = torch.nn.Sequential(*list(model.children())[:-2])
    import copy
    bu = copy.deepcopy(bb).to(torch.bfloat16)
    fu = bu(x.to(torch.bfloat16)).float()
print("fp32 folded rel err", ((ff - f32).norm() / f32.norm()).item())
print("autocast unfolded rel err", ((fa - f32).norm() / f32.norm()).item())
print("bf16 weights unfolded rel err", ((fu - f32).norm() / f32.norm()).item())
mx = max(m.weight.abs().max().item() for m in fold.modules() if isinstance(m, torch.nn.Conv2d))
print("max |folded conv weight|", mx)
