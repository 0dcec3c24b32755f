"""Training and inference speed of the transformer classifier.

Training: events/s of one epoch of the project's loop (``train.fit``: batches cut from tensors
held in memory) against the usual PyTorch pattern on the same data, a per-event
``torch.utils.data.Dataset`` batched by a ``DataLoader`` (default collate, no workers), in the same
run. Both train the same model (``--variant``, dims from config/config.yaml) from the same
initial weights with the same optimiser, schedule, batch size and number of events, and end
with the same validation pass; ``fit`` also writes its checkpoint. Variants: the training events/s
of every variant of the config at each ``--batch-sizes`` (the first is the baseline of the ratios),
and that as a fraction of the matrix-multiply peak measured in the same run (best float32 GFLOP/s
of ``torch.mm`` on square matrices, same threads), from the arithmetic each training event needs
(``training_flops``). Inference: events/s of ``inference.network_logits`` (the evaluation path)
for every variant of the config. Attention: every variant's training epoch with the model's written-out
attention against torch's ``scaled_dot_product_attention`` (boolean mask, dropout on the attention
probabilities: the model's previous implementation), interleaved in the same run.

The events come from the real chain: small samples of the five classes are generated,
ingested and standardised (about 10 s, not measured); the training split is repeated up to
``--events``. Random weights serve for inference: its speed does not depend on them.

    python bench/train_speed.py [--variant large_5h] [--events 16384] [--eval-events 50000]
                                [--batch-sizes 256 1024] [--repeats 3] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import interleaved, machine, summary, timed

from colliderfm import sim
from colliderfm.conf import load as load_config
from colliderfm.data import features as F
from colliderfm.data import ingest, standardize
from colliderfm.data.arrays import load_arrays
from colliderfm.evaluation import inference
from colliderfm.models import train as T
from colliderfm.models.transformer import Classifier, ModelConfig, SelfAttention, classifier_loss

CONFIG = Path(__file__).resolve().parent.parent / "config" / "config.yaml"
CLASSES = {0: "wjets", 1: "tchan", 2: "ttbar", 3: "ttt", 4: "tttt"}  # label -> generated process
VAL_EVENTS = 1024


# ------------------------------------------------------------------------- data


def real_dataset(workdir: Path, events_per_class: int, config: dict) -> tuple[dict, dict]:
    """Generate, ingest and standardise one sample per class; the train and val arrays."""
    sel = ingest.Selection.default(**config["selection"])
    features = []
    for label, process in CLASSES.items():
        root = workdir / f"{process}.root"
        sim.write_delphes(root, process, events_per_class, seed=label + 1)
        features.append(workdir / f"tops{label}.parquet")
        ingest.ingest_files([root], features[-1], f"tops{label}", label, sel)
    splits = {s: workdir / "dataset" / f"{s}.parquet" for s in standardize.SPLITS}
    standardize.standardize(
        features,
        {},
        splits=splits,
        scaler=workdir / "dataset" / "scaler.json",
        anomaly={},
        fractions=config["split"],
        seed=1,
        selection=config["selection"],
    )
    return load_arrays(splits["train"]), load_arrays(splits["val"])


def repeat_to(arrays: dict, n: int) -> dict:
    """The first ``n`` events of the arrays repeated end to end."""
    idx = np.arange(n) % len(arrays["label"])
    return {k: v[idx] for k, v in arrays.items()}


# ------------------------------------------------------------------------ loops


class PerEventDataset(torch.utils.data.Dataset):
    """The usual pattern: one event per ``__getitem__``; ``default_collate`` stacks them."""

    def __init__(self, tensors: dict):
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors["label"])

    def __getitem__(self, i: int) -> dict:
        return {k: v[i] for k, v in self.tensors.items()}


def fresh_model(cfg: ModelConfig, device, seed: int) -> Classifier:
    torch.manual_seed(seed)  # both loops start from the same weights
    return Classifier(cfg).to(device)


def project_epoch(cfg, tc, train, val, device, checkpoint: Path) -> None:
    """One epoch of ``train.fit`` (progress bar silenced); no checkpoint to resume from."""
    checkpoint.unlink(missing_ok=True)
    with contextlib.redirect_stderr(io.StringIO()):
        T.fit(
            fresh_model(cfg, device, tc.seed),
            classifier_loss,
            train,
            val,
            tc,
            checkpoint=checkpoint,
            setup_id="bench",
            device=device,
        )


def dataloader_epoch(cfg, tc, train, val, device) -> None:
    """The same epoch through per-event Dataset + DataLoader batches, moved to the device per batch."""
    model = fresh_model(cfg, device, tc.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, T.lr_lambda(math.ceil(len(train["label"]) / tc.batch_size), tc.warmup)
    )
    loader = torch.utils.data.DataLoader(
        PerEventDataset(train), batch_size=tc.batch_size, shuffle=True, generator=torch.Generator().manual_seed(tc.seed)
    )
    model.train()
    total = 0.0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        with T.autocast(device):
            loss = classifier_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(batch["label"])
    model.eval()
    with torch.no_grad(), T.autocast(device):
        for batch in torch.utils.data.DataLoader(PerEventDataset(val), batch_size=tc.batch_size):
            classifier_loss(model, {k: v.to(device) for k, v in batch.items()}).item()


def sdpa_forward(self, x, bias):
    """Attention as torch's scaled_dot_product_attention computes it, with a boolean key mask and dropout on
    the attention probabilities (the model's implementation before the written-out one): the baseline."""
    b, t, d = x.shape
    q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).split(d, dim=2))
    y = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=bias == 0, dropout_p=self.drop.p if self.training else 0.0
    )
    return self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


@contextlib.contextmanager
def sdpa_attention():
    written = SelfAttention.forward
    SelfAttention.forward = sdpa_forward
    try:
        yield
    finally:
        SelfAttention.forward = written


def sdpa_epoch(*args) -> None:
    with sdpa_attention():
        project_epoch(*args)


# ------------------------------------------------------------------------- main


def train_speed(args, config, train_arrays, val_arrays, device, workdir: Path) -> None:
    cfg = ModelConfig(
        **config["model"]["variants"][args.variant], dropout=config["model"]["dropout"], n_classes=len(CLASSES)
    )
    tc = T.TrainConfig.from_block({**config["classifier"], "epochs": 1, "min_epoch_events": 0}, seed=1)
    train = repeat_to(train_arrays, args.events)
    on_device = T.to_tensors(train, device), T.to_tensors(repeat_to(val_arrays, VAL_EVENTS), device)
    cpu = torch.device("cpu")
    on_cpu = T.to_tensors(train, cpu), T.to_tensors(repeat_to(val_arrays, VAL_EVENTS), cpu)
    times = interleaved(
        {
            "train.fit": lambda: project_epoch(cfg, tc, *on_device, device, workdir / "resume.pt"),
            "DataLoader": lambda: dataloader_epoch(cfg, tc, *on_cpu, device),
        },
        args.repeats,
    )
    print(
        f"training {args.variant} (dim {cfg.dim}, heads {cfg.heads}, layers {cfg.layers}, ff {cfg.ff}), "
        f"batch {tc.batch_size}, "
        f"{args.events} events per epoch + {VAL_EVENTS} validation events:"
    )
    for name, t in times.items():
        print(f"{name:>12}: {summary(t)}  -> {args.events / min(t):,.0f} events/s (best)")
    ratios = [d / p for p, d in zip(times["train.fit"], times["DataLoader"])]
    print(
        f"speed ratio train.fit / DataLoader: {min(times['DataLoader']) / min(times['train.fit']):.2f} (best/best), "
        f"median of paired runs {statistics.median(ratios):.2f}"
    )


def training_flops(cfg: ModelConfig) -> float:
    """Floating-point operations of one training event: 2 per multiply-add of the forward pass (every
    linear layer over its tokens, QK^T and AV of attention), times 3 for forward + backward."""
    tokens, d, ff = F.N_SLOTS + 1, cfg.dim, cfg.ff
    inputs = F.N_SLOTS * 2 * len(F.OBJECT_VARS) * d + 2 * len(F.EVENT_VARS) * d
    per_layer = tokens * (4 * d * d + 2 * d * ff) + 2 * tokens * tokens * d
    head = 2 * d * d + d * cfg.n_classes
    return 3 * 2 * (inputs + cfg.layers * per_layer + head)


def matmul_peak(device, size: int = 1024, repeats: int = 5) -> float:
    """Best float32 FLOP/s of one square matrix product on the configured threads."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * size**3 / best


def linear_ceiling(cfg: ModelConfig, batch: int, device, peak: float, repeats: int = 3) -> float:
    """Fraction of the matmul peak that the variant's own linear-layer products reach on their own: forward,
    input-gradient and weight-gradient ``torch.mm`` of every block's layers over batch x 17 token rows. No
    training step can be more efficient than its matrix products, so this bounds the whole model's fraction."""
    rows, d, ff = batch * (F.N_SLOTS + 1), cfg.dim, cfg.ff
    products = []
    for n_in, n_out in ((d, 3 * d), (d, d), (d, ff), (ff, d)):
        x, w, g = (torch.randn(*shape, device=device) for shape in ((rows, n_in), (n_in, n_out), (rows, n_out)))
        products += [(x, w), (g, w.T), (x.T, g)]
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in products)
    best = min(timed(lambda: [a @ b for a, b in products]) for _ in range(repeats))
    return flops / best / peak


def variant_speeds(args, config, train_arrays, val_arrays, device, workdir: Path) -> None:
    peak = matmul_peak(device)
    print(f"matrix-multiply peak (torch.mm 1024x1024, float32): {peak / 1e9:.1f} GFLOP/s")
    train = T.to_tensors(repeat_to(train_arrays, args.events), device)
    val = T.to_tensors(repeat_to(val_arrays, VAL_EVENTS), device)
    base = args.batch_sizes[0]
    for name, variant in config["model"]["variants"].items():
        cfg = ModelConfig(**variant, dropout=config["model"]["dropout"], n_classes=len(CLASSES))
        flops = training_flops(cfg)
        rates = {}
        for batch in args.batch_sizes:
            tc = T.TrainConfig.from_block(
                {**config["classifier"], "epochs": 1, "min_epoch_events": 0, "batch_size": batch}, seed=1
            )
            t = [timed(project_epoch, cfg, tc, train, val, device, workdir / "resume.pt") for _ in range(args.repeats)]
            rates[batch] = args.events / min(t)
            print(
                f"{name:>10} batch {batch:>5}: {rates[batch]:>9,.0f} events/s (best of {args.repeats}), "
                f"{flops / 1e6:.2f} MFLOP/event -> {100 * rates[batch] * flops / peak:.1f} % of the matmul peak, "
                f"{rates[batch] / rates[base]:.2f} x batch {base}; its linear layers' products alone "
                f"{100 * linear_ceiling(cfg, batch, device, peak):.0f} %"
            )


def attention_speed(args, config, train_arrays, val_arrays, device, workdir: Path) -> None:
    """Every variant's training epoch with the model's attention against the SDPA baseline, interleaved."""
    train = T.to_tensors(repeat_to(train_arrays, args.events), device)
    val = T.to_tensors(repeat_to(val_arrays, VAL_EVENTS), device)
    batch = args.batch_sizes[0]
    tc = T.TrainConfig.from_block(
        {**config["classifier"], "epochs": 1, "min_epoch_events": 0, "batch_size": batch}, seed=1
    )
    print(f"attention written out (model.SelfAttention) vs torch scaled_dot_product_attention, batch {batch}:")
    for name, variant in config["model"]["variants"].items():
        cfg = ModelConfig(**variant, dropout=config["model"]["dropout"], n_classes=len(CLASSES))
        run = (cfg, tc, train, val, device, workdir / "resume.pt")
        t = interleaved({"written": lambda: project_epoch(*run), "sdpa": lambda: sdpa_epoch(*run)}, args.repeats)
        print(
            f"{name:>10}: {args.events / min(t['written']):>7,.0f} vs {args.events / min(t['sdpa']):>7,.0f} "
            f"events/s -> speed ratio {min(t['sdpa']) / min(t['written']):.2f}"
        )


def eval_speed(args, config, arrays, device) -> None:
    arrays = repeat_to(arrays, args.eval_events)
    print(f"inference (inference.network_logits, batches of 8192), {args.eval_events} events:")
    for name, variant in config["model"]["variants"].items():
        cfg = ModelConfig(**variant, dropout=config["model"]["dropout"], n_classes=len(CLASSES))
        model = Classifier(cfg).to(device).eval()
        t = [timed(inference.network_logits, model, arrays, device) for _ in range(args.repeats)]
        print(f"{name:>12}: {summary(t)}  -> {args.eval_events / min(t):,.0f} events/s (best)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="large_5h", help="model variant of config/config.yaml to train")
    ap.add_argument("--events", type=int, default=16_384, help="training events per epoch")
    ap.add_argument("--eval-events", type=int, default=50_000)
    ap.add_argument("--generate", type=int, default=4_000, help="events generated per class")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[256, 1024],
        help="training batch sizes of the variant comparison (the first is the baseline)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the workflow's default is 1)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    config = load_config(CONFIG)  # validated: the schema fills what the file leaves out
    T.setup_torch(args.threads, seed=1)
    device = T.pick_device(args.device)
    print(machine())
    print(
        f"device {device}, {torch.get_num_threads()} CPU thread(s)"
        + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "")
    )
    with tempfile.TemporaryDirectory() as tmp:
        train_arrays, val_arrays = real_dataset(Path(tmp), args.generate, config)
        print(f"dataset: {len(train_arrays['label'])} training events from {args.generate} generated per class")
        train_speed(args, config, train_arrays, val_arrays, device, Path(tmp))
        variant_speeds(args, config, train_arrays, val_arrays, device, Path(tmp))
        attention_speed(args, config, train_arrays, val_arrays, device, Path(tmp))
        eval_speed(args, config, train_arrays, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
