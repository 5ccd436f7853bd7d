"""``honeyswitch train``: learn a service's normal client requests into a model file."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from honeyswitch.detect.anomaly import ModelConfig, Shape, collect, save_model, train_model
from honeyswitch.detect.anomaly.train import MAX_SAMPLES

_DEFAULTS = ModelConfig()


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
                   help="decode %%XX in first line and tail for the rare-byte part (recommended for HTTP)")
    p.add_argument("--ngram", type=int, default=0, metavar="N",
                   help="add the Anagram-like n-gram part (off by default: patent note in the docs)")
    p.add_argument("--quantile", type=float, default=_DEFAULTS.quantile,
                   help="quantile of out-of-fold training scores used as threshold (default %(default)s)")
    p.add_argument("--margin", type=float, default=_DEFAULTS.margin, help="threshold multiplier (default %(default)s)")
    p.add_argument("--min-bucket-samples", type=int, default=_DEFAULTS.min_bucket_samples,
                   help="merge length buckets until each has this many samples (default %(default)s)")
    p.add_argument("--cap", type=int, default=_DEFAULTS.shape.cap, help="bytes of each request looked at (default %(default)s)")
    p.add_argument("--max-samples", type=int, default=MAX_SAMPLES, help="sample at most this many requests")
    p.set_defaults(func=run)
    return p


def _config(args: argparse.Namespace) -> ModelConfig:
    return dataclasses.replace(
        ModelConfig(), quantile=args.quantile, margin=args.margin, ngram=args.ngram,
        min_bucket_samples=args.min_bucket_samples,
        shape=Shape(cap=args.cap, percent_decode=args.percent_decode))


def run(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
        if args.from_pcap and args.port is None:
            raise ValueError("--from-pcap needs --port")
        source, where = (("dir", args.from_dir) if args.from_dir else
                         ("pcap", args.from_pcap) if args.from_pcap else ("transcripts", args.from_transcripts))
        data = collect(source, where, cap=cfg.shape.cap, port=args.port, max_samples=args.max_samples)
        model = train_model(data.requests, cfg, args.service)
        save_model(model, args.output)
    except (ValueError, OSError) as exc:
        print(f"honeyswitch train: {exc}", file=sys.stderr)
        return 2
    buckets = ", ".join(f"{v}={len(vm.edges)}" for v, vm in model.views.items())
    print(f"service {model.service}: {len(data.requests)} samples"
          + (f" (sampled from {data.seen})" if data.seen > len(data.requests) else ""))
    if data.skipped:
        print("skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(data.skipped.items())))
    print(f"buckets: {buckets}")
    print(f"threshold: {model.threshold:.4f} (quantile {cfg.quantile}, margin {cfg.margin})")
    print(f"wrote {args.output}")
    return 0
