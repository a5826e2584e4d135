"""`ser voice add | list | remove`: voice profiles that calibrate predictions to one person (ser_core.voices)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("voice", help="voice profiles: a few clips of one person that calibrate predictions to them",
                       epilog="Use a profile with: ser predict RUN FILES --voice NAME")
    actions = p.add_subparsers(title="actions", metavar="ACTION")
    a = actions.add_parser("add", help="add clips of one speaker to a voice (created if new)")
    a.add_argument("name")
    a.add_argument("files", nargs="+", help="recordings of that speaker, a sentence each")
    a.add_argument("--run", help="check the clips with this run's audio settings (default: the standard ones)")
    a.set_defaults(handler=add)
    a = actions.add_parser("list", help="the saved voices")
    a.set_defaults(handler=list_)
    a = actions.add_parser("remove", help="delete a saved voice and its clips")
    a.add_argument("name")
    a.set_defaults(handler=remove)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def add(args: argparse.Namespace) -> int:
    from ser_core.config import AudioConfig
    from ser_core.voices import SUGGESTED_CLIPS, add_to_voice, too_few_clips

    audio = AudioConfig()
    if args.run:
        from ser_core.predict import Predictor

        audio = Predictor.load(args.run).features.audio
    clips, unreadable = [], []
    for path in args.files:
        try:
            clips.append((path, Path(path).read_bytes()))
        except OSError as exc:
            unreadable.append(path)
            print(f"ser: refused {path}: {exc.strerror.lower()}", file=sys.stderr)
    voice, refused = add_to_voice(args.name, clips, audio)
    for r in refused:
        print(f"ser: refused {r.name}: {r.reason}", file=sys.stderr)
    more = f"; {SUGGESTED_CLIPS} or more calibrate best" if len(voice.clips) < SUGGESTED_CLIPS else ""
    print(f"voice {voice.name}: {len(voice.clips)} clips, {voice.speech_s:.1f} s of speech{more}")
    if few := too_few_clips(voice):
        print(f"ser: warning: {few}", file=sys.stderr)
    return 1 if refused or unreadable else 0


def list_(args: argparse.Namespace) -> int:
    from ser_core.voices import list_voices

    voices = list_voices()
    if not voices:
        print("no saved voices; add one with: ser voice add NAME FILES...")
    for voice in voices:
        print(f"{voice.name}: {len(voice.clips)} clips, {voice.speech_s:.1f} s of speech (since {voice.created})")
    return 0


def remove(args: argparse.Namespace) -> int:
    from ser_core.voices import remove_voice

    remove_voice(args.name)
    print(f"removed voice {args.name}")
    return 0
