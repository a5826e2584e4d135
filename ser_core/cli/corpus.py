"""`ser corpus list | prepare | demo | sources | download` and `ser features`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="list, prepare or generate corpora")
    csub = corpus.add_subparsers(title="corpus commands", metavar="ACTION")

    p = csub.add_parser("list", help="the corpus kinds ser reads")
    p.set_defaults(handler=list_kinds)

    p = csub.add_parser(
        "prepare",
        help="one manifest over one or more corpora",
        description="Scan corpora into one manifest (path, corpus, speaker, emotion, gender, duration). "
        "Speakers are prefixed with their corpus; files that cannot be used are reported and skipped.",
    )
    p.add_argument("sources", nargs="+", metavar="KIND=DIR", help="e.g. ravdess=~/data/RAVDESS savee=~/data/SAVEE")
    p.add_argument("-o", "--output", required=True, help="manifest CSV to write")
    p.add_argument("--skipped", help="also write the skipped-files report here (CSV)")
    p.set_defaults(handler=prepare)

    p = csub.add_parser("sources", help="the corpora ser can download, or where to get the others")
    p.set_defaults(handler=list_sources)

    p = csub.add_parser(
        "download",
        help="download a public corpus, verify its checksum, unpack it and prepare its manifest",
        description="Fetch a corpus with its published checksum (a partial download resumes), unpack it "
        "and write its manifest. Its licence is printed first and kept beside the files. "
        "`ser corpus sources` lists the corpora and their status.",
    )
    p.add_argument("name", help="the corpus (ser corpus sources)")
    p.add_argument("--to", metavar="DIR", help="folder to fetch into (default $SER_HOME/corpora/NAME)")
    p.add_argument("--from", dest="origin", metavar="URL_OR_FILE",
                   help="a mirror's URL, or the archive you already have (checked like a download)")
    p.add_argument("--hash", metavar="ALG:HEX", help="the checksum to check against (sha256:... or md5:...), "
                   "where the registry has none or a mirror's differs")
    p.add_argument("--unverified", action="store_true",
                   help="accept an archive no checksum is known for (its SHA-256 is printed and recorded)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=download)

    p = csub.add_parser("demo", help="write the synthetic demo corpus (no download)")
    p.add_argument("dir", help="output folder")
    p.add_argument("--speakers", type=int, default=10, help="speakers, half female (default 10)")
    p.add_argument("--sentences", type=int, default=8, help="pseudo-sentences each speaker says in every emotion")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=demo)

    p = sub.add_parser("features", help="featurise a manifest into the cache (parallel, content-keyed)")
    p.add_argument("-m", "--manifest", required=True)
    p.add_argument("--recipe", default="demo", help="whose features (log-mels, or a functionals model's): "
                   "a recipe name or file (ser recipes)")
    p.add_argument("--model", help="the recipe's model whose features to compute (default: the recipe's)")
    p.add_argument("--cache", help="cache folder (default $SER_HOME/cache/features)")
    p.add_argument("--workers", type=int, help="processes (default: all cores)")
    p.set_defaults(handler=features)


def list_kinds(args: argparse.Namespace) -> int:
    from ser_core.corpora import CORPORA

    width = max(map(len, CORPORA))
    for kind, loader in CORPORA.items():
        print(f"{kind:<{width}}  {loader.description}")
    return 0


def list_sources(args: argparse.Namespace) -> int:
    from ser_core.corpora.download import sources

    for src in sources().values():
        if not src.automatic:
            how = "by hand: " + src.homepage
        else:
            size = f"{src.size / 1e6:,.0f} MB, " if src.size else ""
            how = f"download, {size}" + (f"checked with {src.hash.split(':')[0]}" if src.hash else "NO published checksum")
        print(f"{src.name:<8} {src.title}\n         {how}\n         licence: {src.licence}")
    return 0


def download(args: argparse.Namespace) -> int:
    from ser_core.corpora.download import fetch_corpus, source

    src = source(args.name)
    print(src.licence_text())
    bar = None if args.quiet else _ProgressBar(src.filename or src.name)
    try:
        fetched = fetch_corpus(src, args.to, origin=args.origin, known_hash=args.hash,
                               unverified=args.unverified, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    print_summary(fetched.manifest)
    check = (f"verified ({fetched.verified_with})" if fetched.verified_with
             else "NOT verified: no checksum was known; record this one")
    print(f"\narchive {fetched.archive}: {check}; sha256:{fetched.sha256}")
    if len(fetched.skipped):
        print(f"skipped {len(fetched.skipped)} files (see `ser corpus prepare --skipped`)")
    print(f"wrote {fetched.manifest_path} ({len(fetched.manifest)} clips); train with "
          f"`ser train -m {fetched.manifest_path} --out RUN`")
    return 0


class _ProgressBar:
    """A tqdm bar fed the downloader's (bytes so far, total) calls; opened on the first one."""

    def __init__(self, label: str):
        self.label, self.bar, self.shown = label, None, 0

    def __call__(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=self.label)
            self.shown = done
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _parse_source(text: str) -> tuple[str, str]:
    kind, sep, path = text.partition("=")
    if not sep or not kind or not path:
        raise ValueError(f"expected KIND=DIR (e.g. ravdess=~/data/RAVDESS), got {text!r}")
    return kind, str(Path(path).expanduser())


def prepare(args: argparse.Namespace) -> int:
    from ser_core.corpora.aggregate import aggregate, write_manifest

    manifest, skipped = aggregate([_parse_source(s) for s in args.sources])
    path = write_manifest(manifest, args.output)
    print_summary(manifest)
    if len(skipped):
        print(f"\nskipped {len(skipped)} files:")
        for row in skipped.head(20).itertuples():
            print(f"  {row.path}: {row.reason}")
        if len(skipped) > 20:
            print(f"  ... and {len(skipped) - 20} more" + ("" if args.skipped else " (--skipped FILE lists them all)"))
        if args.skipped:
            skipped.to_csv(args.skipped, index=False)
    print(f"\nwrote {path} ({len(manifest)} clips)")
    return 0


def print_summary(manifest) -> None:
    from ser_core.corpora.aggregate import summarize

    for name, table in summarize(manifest).items():
        print(f"\n{name}")
        print(table.to_string())


def demo(args: argparse.Namespace) -> int:
    from ser_core.corpora.demo import generate_demo_corpus

    manifest = generate_demo_corpus(args.dir, n_speakers=args.speakers, n_sentences=args.sentences, seed=args.seed)
    print_summary(manifest)
    print(f"\nwrote {len(manifest)} clips to {args.dir} (manifest: {Path(args.dir) / 'manifest.csv'})")
    return 0


def features(args: argparse.Namespace) -> int:
    from ser_core.corpora.aggregate import read_manifest
    from ser_core.features.store import featurize_manifest
    from ser_core.recipes import resolve

    spec = resolve(args.recipe, {"model.name": args.model} if args.model else {})
    result = featurize_manifest(read_manifest(args.manifest), spec.stored_features,
                                cache_dir=args.cache, workers=args.workers)
    print(result.describe())
    for row in result.failures.head(20).itertuples():
        print(f"  skipped {row.path}: {row.reason}")
    return 0
