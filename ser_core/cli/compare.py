"""`ser compare RUN_A RUN_B`: the paired comparison of two runs on the same folds."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired comparison of two runs on the same folds (speakers, clips)")
    p.add_argument("run_a", help="run folder A")
    p.add_argument("run_b", help="run folder B")
    p.add_argument("--json", action="store_true", help="the whole comparison as JSON")
    p.set_defaults(handler=compare)


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
