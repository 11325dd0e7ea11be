"""`python -m treadle.runtime.temporal worker ...`: a Temporal worker process.

Example: python -m treadle.runtime.temporal worker --temporal-address 127.0.0.1:7233 --task-queue treadle
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from treadle.runtime.temporal.worker import run_worker


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m treadle.runtime.temporal")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="Run a worker hosting treadle's workflow and activities.")
    worker.add_argument("--temporal-address", required=True, help="HOST:PORT of the Temporal frontend.")
    worker.add_argument("--namespace", default="default", help="The Temporal namespace.")
    worker.add_argument("--task-queue", default="treadle", help="The task queue to poll.")
    worker.add_argument("--identity", default=None, help="The worker's identity in Temporal.")
    worker.add_argument(
        "--allow-run", action="store_true", help="Let `run: shell|script|container` start processes."
    )
    worker.add_argument(
        "--sticky-timeout",
        type=float,
        default=10.0,
        help="Seconds a run's next workflow task waits for this worker before any worker takes it.",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_worker(
        args.temporal_address,
        args.namespace,
        args.task_queue,
        allow_run=args.allow_run,
        identity=args.identity,
        sticky_timeout=args.sticky_timeout,
        stop=stop,
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the worker until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
