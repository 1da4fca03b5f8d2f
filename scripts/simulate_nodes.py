"""Run a data-parallel ``train.py`` job as 1 or 2 simulated nodes on this machine and print what each rank ended with.

    python scripts/simulate_nodes.py --nodes 2 --log_dir /tmp/nodes -- --config my.yaml --distribute True ...

Each node is one ``msrun`` (``--node_rank n``, ``--local_worker_num workers/nodes``, master on 127.0.0.1). ``msrun``
starts the cluster's scheduler on every node whose network interfaces hold the master address, which on one
machine is every node; the nodes after the first therefore see an ``ip`` command that lists another address, as a
second machine would. Prints one JSON object: return codes, each rank's final weights digest, seconds.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
_OTHER_MACHINE_IP = '[{"ifname": "simulated0", "addr_info": [{"family": "inet", "local": "10.255.0.2"}]}]'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(node: int, log_dir: Path) -> Dict[str, str]:
    env = dict(os.environ, GLOG_v=os.environ.get("GLOG_v", "3"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # msrun starts ranks with `python`
    if node:
        bin_dir = log_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        (bin_dir / "ip").write_text(f"#!/bin/sh\necho '{_OTHER_MACHINE_IP}'\n")
        (bin_dir / "ip").chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def run_job(train_args: Sequence, nodes: int, log_dir: Path, workers: int = 2, timeout: float = 1800) -> Dict:
    """Run ``train.py train_args`` on ``workers`` ranks spread over ``nodes`` msrun processes."""
    if nodes < 1 or workers % nodes:
        raise SystemExit(f"workers ({workers}) must be a multiple of nodes ({nodes}).")
    log_dir, port, start = Path(log_dir), _free_port(), time.perf_counter()
    procs: List[subprocess.Popen] = []
    for node in range(nodes):
        node_dir = log_dir / f"node{node}"
        command = ["msrun", "--worker_num", str(workers), "--local_worker_num", str(workers // nodes),
                   "--master_addr", "127.0.0.1", "--master_port", str(port), "--node_rank", str(node),
                   "--join", "True", "--cluster_time_out", "300", "--log_dir", str(node_dir),
                   str(ROOT / "train.py"), *[str(a) for a in train_args]]
        procs.append(subprocess.Popen(command, env=_environment(node, node_dir),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    codes = [proc.wait(timeout=timeout) for proc in procs]
    digests = {}
    for log in sorted(_run_directory(train_args).glob("train*.log")):
        match = re.search(r"rank (\d+) final weights sha256 (\w+)", log.read_text(errors="replace"))
        if match:
            digests[int(match.group(1))] = match.group(2)
    return dict(nodes=nodes, workers=workers, returncodes=codes, digests=[digests[r] for r in sorted(digests)],
                seconds=round(time.perf_counter() - start, 1))


def _run_directory(train_args: Sequence) -> Path:
    """The ckpt_save_dir of the command line (each rank logs its final weights digest there)."""
    args = [str(a) for a in train_args]
    folder = args[args.index("--ckpt_save_dir") + 1] if "--ckpt_save_dir" in args else "./ckpt"
    return Path(folder).resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="ranks in all")
    parser.add_argument("--log_dir", default="nodes_log")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: the arguments of train.py")
    args = parser.parse_args()
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    print(json.dumps(run_job(train_args, args.nodes, Path(args.log_dir), args.workers)))


if __name__ == "__main__":
    main()
