"""`perception train`: train the multi-task network (single process, or DDP under torchrun)."""

from __future__ import annotations

import argparse
import os


def add_parser(subparsers) -> argparse.ArgumentParser:
    from perception.cli.common import add_config_flags
    from perception.engine.train_config import TrainConfig

    parser = subparsers.add_parser(
        "train",
        help="train the multi-task network",
        description="Train on a dataset YAML or BDD100K-layout directory. With the defaults it trains on the synthetic "
        "world (datasets/synthetic.yaml), rendering data/synthetic first when it is missing. Multi-GPU: "
        "torchrun --nproc_per_node N -m perception.cli.main train ...",
    )
    parser.add_argument("--cfg", default=None, metavar="YAML", help="a train config YAML; flags given here override it")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from weights/last.pt exactly")
    # every other training option is a TrainConfig field: one place to add one
    add_config_flags(parser, TrainConfig)
    parser.add_argument("--synth-num", type=int, default=2000, help="images to render when the synthetic data is missing")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    from perception.cli.common import add_json_option

    add_json_option(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from perception.cli.common import config_flags, write_json
    from perception.engine.resume import resume_config
    from perception.engine.synthetic_data import ensure_synthetic_data
    from perception.engine.train_config import TrainConfig, load_train_config
    from perception.engine.trainer import Trainer
    from perception.errors import InputError

    main_process = int(os.environ.get("RANK", "0")) == 0
    flags = config_flags(args, TrainConfig)
    if args.resume:
        if args.cfg:
            raise InputError(f"--cfg {args.cfg}: a resumed run keeps the config saved in its last.pt; drop --cfg")
        config, changed, checkpoint = resume_config(flags.get("out", TrainConfig().out), **flags)
        if main_process:
            print(f"perception train: resuming {config.out} from weights/last.pt at epoch {checkpoint['epoch']}, "
                  f"step {checkpoint['step']} (epoch step {checkpoint['epoch_step']})")
        if changed and main_process:
            print("perception train: resuming with " + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
                  + "; the LR schedule is recomputed over the new length")
    else:
        checkpoint = None
        base = load_train_config(args.cfg).to_dict() if args.cfg else {}
        config = TrainConfig.from_dict(base | flags, source=args.cfg or "command line")
        generated = ensure_synthetic_data(config, args.synth_num, progress=not args.quiet)
        if generated and main_process:
            print(f"perception train: rendered {args.synth_num} synthetic images into {generated['out']} "
                  f"({generated['seconds']:.0f} s) because {config.data} pointed at a missing root")
    summary = Trainer(config, resume=args.resume, progress=not args.quiet, checkpoint=checkpoint).fit()
    if main_process:
        metrics = summary["val_metrics"]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        print(f"trained {summary['steps']} steps ({summary['epochs']} epochs) in {summary['seconds']:.0f} s, "
              f"{summary['images_per_second']:.1f} img/s on {summary['device']} x{summary['world_size']}")
        print(f"val: {shown or 'no validation split'}")
        print(f"weights: {summary['last']}" + (f", best {summary['best']}" if summary["best"] else ""))
        _print_best(summary.get("best_model"))
        from perception.data.errors import summary_lines

        for split, skips in (summary.get("data_skips") or {}).items():
            for line in summary_lines(skips, f"data ({split})"):
                print(line)
        negative = (summary["multitask"].get("gradient_monitor") or {}).get("negative_pairs")
        if negative:
            print(f"negative transfer: task gradients stayed opposed (cosine < 0) for {', '.join(negative)}")
        write_json(args.json, summary)
    return 0


def _print_best(best: dict | None) -> None:
    """best.pt's epoch and metrics: the `val:` line above is the last epoch's, which best.pt may not be."""
    if not best:
        return
    shown = ", ".join(f"{k} {v:.4f}" for k, v in best["metrics"].items() if isinstance(v, float))
    print(f"best.pt: epoch {best['epoch']} (step {best['step']}): {shown or 'no validation'}")
    if best["validated"]:
        fitness = best["validated"].get("fitness")
        print(f"best.pt validated again at the end: fitness {fitness:.4f}"
              + ("" if best["metrics"].get("fitness") is None else f" (saved {best['metrics']['fitness']:.4f})"))
