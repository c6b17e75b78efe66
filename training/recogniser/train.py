"""Train the small CNN + CTC line recogniser on synthetic lines (synth.py); export ONNX.

nice -n 10 python train.py --out /tmp/rec/run1 --minutes 60
python train.py --out /tmp/rec/run1 --export-only   # ONNX from the last checkpoint
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from synth import CHARSET, HEIGHT, LineMaker, encode  # noqa: E402

from flipchart_ocr.evaluate import edit_distance  # noqa: E402  (the benchmarks' CER)

NUM_CLASSES = len(CHARSET) + 1


def conv(cin, cout, k=3, p=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=p, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Recogniser(nn.Module):
    """Input N x 1 x 32 x W (ink = 1, paper = 0); output N x C x 1 x W/4 (log-probs)."""

    def __init__(self, width: int = 192):
        super().__init__()
        self.body = nn.Sequential(
            conv(1, 32),
            nn.MaxPool2d(2),  # 16 x W/2
            conv(32, 64),
            nn.MaxPool2d(2),  # 8 x W/4
            conv(64, 96),
            conv(96, 96),
            nn.MaxPool2d((2, 1)),  # 4 x W/4
            conv(96, 128),
            conv(128, 128),
            conv(128, width, k=(4, 3), p=(0, 1)),  # 1 x W/4
        )
        self.head = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(width, width, (1, 5), padding=(0, 2), bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                )
                for _ in range(3)
            ]
        )
        self.drop = nn.Dropout(0.15)
        self.out = nn.Conv2d(width, NUM_CLASSES, 1)

    def forward(self, x):
        x = self.body(x)
        for layer in self.head:
            x = x + layer(x)
        return self.out(self.drop(x))


def batch(maker: LineMaker, size: int):
    images, labels = zip(*(maker.sample() for _ in range(size)), strict=False)
    width = max(im.shape[1] for im in images)
    width = (width + 3) // 4 * 4
    x = np.zeros((size, 1, HEIGHT, width), np.float32)
    widths = []
    for i, im in enumerate(images):
        x[i, 0, :, : im.shape[1]] = (255 - im.astype(np.float32)) / 255.0
        widths.append(im.shape[1] // 4)
    targets = [encode(label) for label in labels]
    return x, widths, targets, labels


class Stream(torch.utils.data.IterableDataset):
    def __init__(self, seed, size):
        self.seed, self.size = seed, size

    def __iter__(self):
        maker = LineMaker(self.seed)
        while True:
            x, widths, targets, labels = batch(maker, self.size)
            yield (
                torch.from_numpy(x),
                torch.tensor(widths),
                [torch.tensor(t) for t in targets],
                list(labels),
            )


def greedy(logits: torch.Tensor) -> list[str]:
    best = logits.argmax(1)[:, 0, :].numpy()
    out = []
    for row in best:
        chars, prev = [], 0
        for k in row:
            if k != prev and k != 0:
                chars.append(CHARSET[k - 1])
            prev = k
        out.append("".join(chars))
    return out


def export(model: Recogniser, path: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 1, HEIGHT, 256)
    torch.onnx.export(
        model,
        dummy,
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "n", 3: "w"}, "logits": {0: "n", 3: "t"}},
        opset_version=13,
        dynamo=False,
    )
    (path.with_suffix(".charset.txt")).write_text(CHARSET, encoding="utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    model = Recogniser()
    ckpt = args.out / "last.pt"
    if args.export_only:
        model.load_state_dict(torch.load(ckpt, weights_only=False)["model"])
        export(model, args.out / "recogniser.onnx")
        return
    print("params", sum(p.numel() for p in model.parameters()), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, seen = 0, 0
    if args.resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, seen = state["step"], state["seen"]
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    # Fixed validation lines: training fonts, held-out seed (a sanity check, not the test).
    val_maker = LineMaker(999_999)
    val = [batch(val_maker, 32) for _ in range(4)]
    loader = torch.utils.data.DataLoader(
        Stream(args.seed + step, args.batch), batch_size=None, num_workers=1, prefetch_factor=4
    )
    start = time.time()
    total = args.minutes * 60
    losses = []
    for x, widths, targets, labels in loader:
        elapsed = time.time() - start
        if elapsed > total:
            break
        # One-cycle-ish: warm-up 200 steps, then cosine over the time budget.
        frac = elapsed / total
        lr = args.lr * min(1.0, (step + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        logits = model(x)[:, :, 0, :]  # N C T
        logp = F.log_softmax(logits, 1).permute(2, 0, 1)  # T N C
        tl = torch.tensor([len(t) for t in targets])
        loss = ctc(logp, torch.cat(targets), widths, tl)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        seen += len(labels)
        losses.append(loss.item())
        if step % 50 == 0:
            print(
                f"step {step} seen {seen} loss {np.mean(losses[-50:]):.3f} lr {lr:.5f} {elapsed / 60:.1f} min",
                flush=True,
            )
        if step % 250 == 0:
            model.eval()
            e = n = 0
            with torch.no_grad():
                for vx, _vw, _vt, vl in val:
                    pred = greedy(model(torch.from_numpy(vx)))
                    for p, t in zip(pred, vl, strict=False):
                        e += edit_distance(p, t)
                        n += len(t)
            print(f"  val CER {e / n:.3f}  e.g. {vl[0]!r} -> {pred[0]!r}", flush=True)
            torch.save(
                {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seen": seen},
                ckpt,
            )
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seen": seen}, ckpt
    )
    print(f"done: {step} steps, {seen} lines", flush=True)
    export(model, args.out / "recogniser.onnx")


if __name__ == "__main__":
    main()
