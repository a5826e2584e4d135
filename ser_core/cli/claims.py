"""`ser claims`: the paper's three claims, each with the verdict the user's runs give and the run that would settle it."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="the paper's claims re-tested on your runs and sweeps: holds, does not "
                                      "hold, or not enough evidence (and what to run)")
    p.add_argument("--runs", help="folder of run folders (default: $SER_HOME/runs)")
    p.add_argument("--sweeps", help="folder of kernel-study sweeps (default: $SER_HOME/sweeps)")
    p.add_argument("--json", action="store_true", help="the cards as JSON")
    p.set_defaults(handler=claims)


def claims(args: argparse.Namespace) -> int:
    from ser_core.claims import claim_cards
    from ser_core.paths import runs_dir, sweeps_dir

    cards = claim_cards(args.runs or runs_dir(), args.sweeps or sweeps_dir())
    if args.json:
        print(json.dumps([card.to_dict() for card in cards], indent=2))
        return 0
    print("\n\n".join(card.text() for card in cards))
    return 0
