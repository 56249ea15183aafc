"""`perception train`: train the multi-task network (single process, or DDP under torchrun)."""

from __future__ import annotations

import argparse
import os


def add_parser(subparsers) -> argparse.ArgumentParser:
    from perception.config import BALANCING_MODES, FREEZE_MODES

    parser = subparsers.add_parser(
        "train",
        help="train the multi-task network",
        description="Train on a dataset YAML or BDD100K-layout directory. With the defaults it trains on the synthetic "
        "world (datasets/synthetic.yaml), rendering data/synthetic first when it is missing. Multi-GPU: "
        "torchrun --nproc_per_node N -m perception.cli.main train ...",
    )
    parser.add_argument("--data", default=None, help="dataset YAML or directory (default datasets/synthetic.yaml)")
    parser.add_argument("--model", default=None, help="scale n|s|m or a model YAML (default s)")
    parser.add_argument("--cfg", default=None, metavar="YAML", help="a train config YAML; flags given here override it")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--time", type=float, default=None, metavar="HOURS",
                        help="train for this long instead of --epochs: the epoch count is re-estimated after each epoch "
                        "and the LR schedule ends with the budget")
    parser.add_argument("--batch", type=int, default=None, help="global batch size (split across processes)")
    parser.add_argument("--imgsz", nargs=2, type=int, metavar=("H", "W"), default=None, help="input size (default 384 640)")
    parser.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate")
    parser.add_argument("--out", default=None, help="run directory (default runs/train)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from weights/last.pt exactly")
    parser.add_argument("--device", default=None, help="auto|cpu|cuda|cuda:N")
    parser.add_argument("--amp", choices=["bf16", "fp16", "off"], default=None, help="mixed precision on CUDA (default bf16)")
    parser.add_argument("--workers", type=int, default=None, help="data loader workers per process")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    parser.add_argument("--save-period", type=int, default=None, help="steps between mid-epoch last.pt saves")
    parser.add_argument("--val-period", type=int, default=None, help="epochs between validations (default 1; the last "
                        "epoch is always validated)")
    parser.add_argument("--balancing", choices=list(BALANCING_MODES), default=None,
                        help="task loss weighting: fixed, uncertainty, dwa, gradnorm or pcgrad (docs/multitask.md)")
    parser.add_argument("--grad-monitor", type=int, default=None, metavar="N",
                        help="every N steps measure task-gradient cosines on the encoder (task_gradients.png); 0 = off")
    parser.add_argument("--weights", default=None, metavar="CKPT",
                        help="start from this checkpoint's weights (new optimizer/schedule; heads and classes may differ)")
    parser.add_argument("--freeze", choices=list(FREEZE_MODES), default=None, help="train only what is not frozen")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="training augmentation (default on; --no-augment trains on the letterboxed images)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    parser.add_argument("--sync-bn", action="store_true", default=None, help="SyncBatchNorm under DDP")
    parser.add_argument("--synth-num", type=int, default=2000, help="images to render when the synthetic data is missing")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    from perception.cli.common import add_json_option

    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.cli.common import write_json
    from perception.engine.run_setup import ensure_synthetic_data, resume_config
    from perception.engine.train_config import TrainConfig, load_train_config
    from perception.engine.trainer import Trainer
    from perception.errors import InputError

    main_process = int(os.environ.get("RANK", "0")) == 0
    flags = {
        "data": args.data, "model": args.model, "epochs": args.epochs, "time": args.time, "batch": args.batch, "imgsz": args.imgsz,
        "lr": args.lr, "out": args.out, "device": args.device, "amp": args.amp, "workers": args.workers,
        "max_steps": args.max_steps, "save_period": args.save_period, "val_period": args.val_period,
        "balancing": args.balancing, "seed": args.seed, "compile": args.compile, "sync_bn": args.sync_bn,
        "grad_monitor_period": args.grad_monitor, "augment": args.augment, "weights": args.weights, "freeze": args.freeze,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    if args.resume:
        if args.cfg:
            raise InputError(f"--cfg {args.cfg}: a resumed run keeps the config saved in its last.pt; drop --cfg")
        config, changed = resume_config(flags.get("out", TrainConfig().out), **flags)
        if changed and main_process:
            print("perception train: resuming with " + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
                  + "; the LR schedule is recomputed over the new length")
    else:
        base = load_train_config(args.cfg).to_dict() if args.cfg else {}
        config = TrainConfig.from_dict(base | flags, source=args.cfg or "command line")
        generated = ensure_synthetic_data(config, args.synth_num, progress=not args.quiet)
        if generated and main_process:
            print(f"perception train: rendered {args.synth_num} synthetic images into {generated['out']} "
                  f"({generated['seconds']:.0f} s) because {config.data} pointed at a missing root")
    summary = Trainer(config, resume=args.resume, progress=not args.quiet).fit()
    if main_process:
        metrics = summary["val_metrics"]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        print(f"trained {summary['steps']} steps ({summary['epochs']} epochs) in {summary['seconds']:.0f} s, "
              f"{summary['images_per_second']:.1f} img/s on {summary['device']} x{summary['world_size']}")
        print(f"val: {shown or 'no validation split'}")
        print(f"weights: {summary['last']}" + (f", best {summary['best']}" if summary["best"] else ""))
        negative = (summary["multitask"].get("gradient_monitor") or {}).get("negative_pairs")
        if negative:
            print(f"negative transfer: task gradients stayed opposed (cosine < 0) for {', '.join(negative)}")
        write_json(args.json, summary)
    return 0
