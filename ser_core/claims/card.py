"""A claim's card, and the run that would settle it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import pandas as pd

from ser_core.claims.rules import RULES


@dataclass(frozen=True)
class Settle:
    """A run that would settle a claim: `ser ARGS`, writing folder `out`."""

    why: str
    args: tuple[str, ...]
    out: str
    meta: dict = field(default_factory=dict)  # what the app's job records keep (a sweep's grid)
    ready: bool = True  # False when a manifest must be filled in first: shown, with no button

    @property
    def command(self) -> str:
        return "ser " + shlex.join(self.args)


@dataclass
class Card:
    """One claim: the paper's words (ours), the evidence from the runs, the verdict and how to settle it."""

    key: str
    title: str
    claim: str
    verdict: str
    reason: str
    evidence: list[str] = field(default_factory=list)
    settle: list[Settle] = field(default_factory=list)
    table: pd.DataFrame | None = None  # kernels: the sweep's cells

    @property
    def rule(self) -> str:
        return RULES[self.key]

    def text(self) -> str:
        """The card as plain text (ser claims)."""
        lines = [self.title, f"  The paper: {self.claim}", f"  Verdict: {self.verdict.upper()}. {self.reason}"]
        lines += [f"  - {line}" for line in self.evidence]
        lines.append(f"  Rule: {self.rule}")
        for settle in self.settle:
            lines += [f"  To settle it: {settle.why}", f"    {settle.command}"]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        table = None if self.table is None else self.table.drop(columns=["path"]).to_dict(orient="records")
        return {"key": self.key, "title": self.title, "claim": self.claim, "verdict": self.verdict,
                "reason": self.reason, "evidence": self.evidence, "rule": self.rule, "cells": table,
                "settle": [{"why": s.why, "command": s.command, "out": s.out, "ready": s.ready} for s in self.settle]}
