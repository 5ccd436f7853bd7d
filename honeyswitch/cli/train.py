"""``honeyswitch train``: learn a service's normal client requests into a model file.

numpy and the anomaly package are imported when the command runs, so the rest of the
CLI works on an installation without the ``detect`` extra.
"""
from __future__ import annotations

import argparse

from .common import EXIT_FAIL, EXIT_OK, fail, shown


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "train", help="build an anomaly model from benign traffic",
        description="Fit a PAYL-style anomaly model of one service's normal client requests "
                    "and calibrate its threshold on the same data (out-of-fold).")
    p.add_argument("--service", required=True, help="service name the model is for")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-dir", metavar="DIR", help="directory of sample files, one request per file")
    src.add_argument("--from-pcap", metavar="FILE", help="pcap/pcapng capture (needs --port)")
    src.add_argument("--from-transcripts", metavar="DIR", help="JSON-lines transcripts (a file or a directory)")
    p.add_argument("--port", type=int, help="server TCP port in the capture")
    p.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    p.add_argument("--percent-decode", action="store_true",
                   help="decode %%XX in the first line and tail for the rare-byte part (recommended for HTTP)")
    p.add_argument("--ngram", type=int, default=0, metavar="N",
                   help="add the Anagram-like n-gram part (off by default: see the patent note in the docs)")
    p.add_argument("--quantile", type=float, help="quantile of out-of-fold training scores taken as "
                                                   "threshold (default 0.99: about 1%% false positives)")
    p.add_argument("--margin", type=float, help="threshold multiplier (default 1.0)")
    p.add_argument("--min-bucket-samples", type=int, help="merge length buckets until each has this many (default 30)")
    p.add_argument("--cap", type=int, help="bytes of each request looked at (default 16384)")
    p.add_argument("--max-samples", type=int, default=50000, help="sample at most this many requests (default %(default)s)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from honeyswitch.detect.anomaly import collect, save_model, train_model

    try:
        cfg = _config(args)
        if args.from_pcap and args.port is None:
            raise ValueError("--from-pcap needs --port")
        source, where = (("dir", args.from_dir) if args.from_dir else
                         ("pcap", args.from_pcap) if args.from_pcap else ("transcripts", args.from_transcripts))
        data = collect(source, where, cap=cfg.shape.cap, port=args.port, max_samples=args.max_samples)
        model = train_model(data.requests, cfg, args.service)
        save_model(model, args.output)
    except OSError as exc:
        return fail(f"train: {shown(exc.filename or '')}: {exc.strerror or exc}", EXIT_FAIL)
    except ValueError as exc:
        return fail(f"train: {shown(exc)}", EXIT_FAIL)
    buckets = ", ".join(f"{v}={len(vm.edges)}" for v, vm in model.views.items())
    sampled = f" (sampled from {data.seen})" if data.seen > len(data.requests) else ""
    print(f"service {shown(model.service)}: {len(data.requests)} samples{sampled}")
    if data.skipped:
        print("skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(data.skipped.items())))
    print(f"buckets: {buckets}")
    print(f"threshold: {model.threshold:.4f} (quantile {cfg.quantile}, margin {cfg.margin})")
    print(f"wrote {shown(args.output)}")
    return EXIT_OK


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import dataclasses

    from honeyswitch.detect.anomaly import ModelConfig, Shape

    base = ModelConfig()
    given = {"quantile": args.quantile, "margin": args.margin, "min_bucket_samples": args.min_bucket_samples}
    shape = Shape(cap=args.cap if args.cap is not None else base.shape.cap, percent_decode=args.percent_decode)
    return dataclasses.replace(base, ngram=args.ngram, shape=shape,
                               **{k: v for k, v in given.items() if v is not None})
