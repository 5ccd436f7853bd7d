"""``honeyswitch transcript ID``: show (or export as pcap) a session's transcript."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..record.transcripts import read_transcript, render_text, to_pcap, transcript_file
from .common import add_config_arg, fail, load_config, print_json, shown


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transcript", help="show the transcript of a session that reached the honeypot")
    add_config_arg(p)
    p.add_argument("session_id")
    p.add_argument("--pcap", metavar="OUT", help="write a pcap file for Wireshark instead")
    p.add_argument("--json", action="store_true",
                   help="print it as the dashboard gets it (escaped text and hex per record)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    sid = args.session_id
    try:
        path = transcript_file(cfg.transcripts_dir, sid)
    except ValueError:
        return fail(f"not a session id: {shown(sid)}")
    if not path.exists():
        return fail(f"no transcript for session {sid} in {cfg.transcripts_dir}")
    if args.json:
        from ..api.views import transcript_json

        print_json(transcript_json(path))
        return 0
    records = list(read_transcript(path))
    if args.pcap:
        meta = records[0] if records and records[0].get("header") else {}
        to_pcap(records, meta, Path(args.pcap))
        print(f"wrote {args.pcap}")
        return 0
    print(render_text(records), end="")
    return 0
