"""`ser compare RUN_A RUN_B` and `ser fuse RUN_A RUN_B --out RUN`: two runs on the same folds, side by side or fused."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired comparison of two runs on the same folds (speakers, clips)")
    p.add_argument("run_a", help="run folder A")
    p.add_argument("run_b", help="run folder B")
    p.add_argument("--json", action="store_true", help="the whole comparison as JSON")
    p.set_defaults(handler=compare)

    p = sub.add_parser("fuse", help="late fusion of two runs on the same folds, weighted on validation speakers")
    p.add_argument("run_a", help="run folder A (e.g. a cnn3d run)")
    p.add_argument("run_b", help="run folder B (e.g. a functionals run)")
    p.add_argument("--out", required=True, help="run folder to write")
    p.set_defaults(handler=fuse)


def compare(args: argparse.Namespace) -> int:
    from ser_core.training.compare import compare_runs
    from ser_core.training.runs import RunFolder

    result = compare_runs(RunFolder(args.run_a), RunFolder(args.run_b))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(result["summary"])
    print(f"UA {result['ua_a']:.3f} ({result['a']}) against {result['ua_b']:.3f} ({result['b']}); "
          f"McNemar over {result['clips']} clips: {result['mcnemar']['only_a_right']} right only in A, "
          f"{result['mcnemar']['only_b_right']} only in B, p = {result['mcnemar']['p']:.2g}")
    for fold, row in result["per_fold"].items():
        print(f"  {fold:>12}: {row['a']:.3f} - {row['b']:.3f} = {row['difference']:+.3f}")
    return 0


def fuse(args: argparse.Namespace) -> int:
    from ser_core.training.fusion import fuse_runs
    from ser_core.training.runs import RunFolder

    results = fuse_runs(RunFolder(args.run_a), RunFolder(args.run_b), args.out)
    weights = ", ".join(f"{w:.1f}" for w in results["weights"])
    print(f"UA {results['ua']:.3f}  WA {results['wa']:.3f}  macro-F1 {results['macro_f1']:.3f}  "
          f"(weight of A per fold: {weights})")
    print(f"run folder: {args.out}")
    return 0
