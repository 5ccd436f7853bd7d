"""A worker process: ``python -m honeyswitch.cluster.child``, started by the supervisor
with its listening sockets and its channel passed as file descriptors."""
from __future__ import annotations

import argparse
import json
import logging
import socket
import sys

from ..config import ConfigError, load
from .worker import WorkerSetup

EXIT_CONFIG = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="honeyswitch-worker")
    p.add_argument("--config", required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--shard", choices=("source", "connection"), required=True)
    p.add_argument("--channel-fd", type=int, required=True)
    p.add_argument("--listen-fds", required=True, help='JSON: {"service": [fd, ...]}')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load(args.config)
    except ConfigError as e:
        print(f"honeyswitch worker {args.index}: {e}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=cfg.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s [worker {args.index}] %(name)s: %(message)s")
    listeners = {name: [socket.socket(fileno=fd) for fd in fds]
                 for name, fds in json.loads(args.listen_fds).items()}
    setup = WorkerSetup(args.index, args.count, args.shard, socket.socket(fileno=args.channel_fd), listeners)
    from ..app import App
    from ..loop import run_loop

    try:
        run_loop(App(cfg, worker=setup).run())
    except ConfigError as e:
        print(f"honeyswitch worker {args.index}: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as e:
        print(f"honeyswitch worker {args.index}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
