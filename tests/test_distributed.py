"""Sharding, ordered merging, launch commands and the launch config (single process, fast)."""

import subprocess
import sys
from pathlib import Path

import pytest

from toolace_r import distributed
from toolace_r.config import ConfigError, load_config
from toolace_r.launch import launch_argv

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n,world", [(0, 2), (1, 3), (7, 2), (10, 3), (12, 4)])
def test_shards_cover_the_list_once_and_merge_back_in_order(n, world):
    items = [f"x{i}" for i in range(n)]
    parts = []
    for r in range(world):
        positions, mine = distributed.shard(items, r, world)
        assert mine == [items[i] for i in positions]
        parts.append(list(zip(positions, [s.upper() for s in mine])))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
    assert distributed.merge_in_order(parts[::-1], n) == [s.upper() for s in items]  # ranks in any order


def test_merge_refuses_gaps_and_doubles():
    with pytest.raises(ValueError, match="no result"):
        distributed.merge_in_order([[(0, "a")], [(2, "c")]], 3)
    with pytest.raises(ValueError, match="twice"):
        distributed.merge_in_order([[(0, "a"), (1, "b")], [(1, "b")]], 2)
    with pytest.raises(ValueError, match="outside"):
        distributed.shard([1, 2], 2, 2)


def test_single_process_defaults(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert (distributed.rank(), distributed.world_size(), distributed.local_rank()) == (0, 1, 0)
    assert distributed.gather_in_order([(1, "b"), (0, "a")], 2) == ["a", "b"]  # no process group needed
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.shard(list("abcde")) == ([1, 3], ["b", "d"]) and not distributed.is_main()


def test_launch_commands():
    acc = launch_argv("accelerate", 2, port=29999)
    assert acc[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert acc[-3:] == ["-m", "toolace_r", "worker"] and "--multi_gpu" in acc and "29999" in acc
    with_cfg = launch_argv("accelerate", 8, "configs/accelerate/fsdp.yaml")
    assert "--config_file" in with_cfg and "--multi_gpu" not in with_cfg
    tr = launch_argv("torchrun", 4, port=29998)
    assert tr[1:3] == ["-m", "torch.distributed.run"] and tr[tr.index("--nproc_per_node") + 1] == "4"
    with pytest.raises(ValueError, match="unknown launcher"):
        launch_argv("mpirun", 2)


def test_launch_config_validation():
    cfg = load_config(None, ["launch.launcher=torchrun", "launch.num_processes=2"])
    assert cfg.launch.num_processes == 2
    cfg = load_config(None, ["launch.launcher=accelerate", f"launch.accelerate_config={ROOT}/configs/accelerate/ddp.yaml"])
    assert cfg.launch.accelerate_config.endswith("ddp.yaml")
    bad = {
        "launch.num_processes=2": "needs a launcher",
        "launch.launcher=slurm": "must be one of",
        "launch.num_processes=0": ">= 1",
        "launch.launcher=torchrun launch.num_processes=3": "multiple of",  # train.batch_size 16
        "launch.launcher=torchrun launch.accelerate_config=x.yaml": "accelerate only",
        "launch.launcher=accelerate launch.accelerate_config=/no/such.yaml": "not found",
        f"launch.launcher=accelerate launch.accelerate_config={ROOT}/configs/accelerate/multi_node.yaml": "2 machines",
        "launch.jobs=-1": ">= 0",
        "launch.launcher=torchrun launch.jobs=2": "need launcher none",
        "vllm.tensor_parallel_size=0": ">= 1",
        "vllm.gpu_memory_utilization=1.5": "(0, 1]",
    }
    for overrides, why in bad.items():
        with pytest.raises(ConfigError, match=why.replace("(", r"\(").replace(")", r"\)")):
            load_config(None, overrides.split())


def test_auto_jobs_put_two_stages_side_by_side_on_a_cpu_only_machine_and_one_elsewhere():
    import os

    import torch

    from toolace_r.pipeline import run_jobs

    auto = 2 if (os.cpu_count() or 1) >= 2 and not torch.cuda.is_available() else 1
    assert run_jobs(load_config(None, [])) == auto
    assert run_jobs(load_config(None, ["launch.jobs=3"])) == 3
    assert run_jobs(load_config(None, ["launch.launcher=process"])) == 1  # every stage is a child process already
    assert run_jobs(load_config(None, ["model.backend=vllm"])) == 1


def test_accelerate_configs_are_valid():
    """The shipped accelerate configs parse as accelerate's own config class."""
    from accelerate.commands.config.config_args import load_config_from_file

    for name in ("ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3", "multi_node"):
        cfg = load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
        assert cfg.num_processes >= 1, name


def test_run_cli_launch_options_are_checked(tmp_path):
    res = subprocess.run([sys.executable, "-m", "toolace_r", "run", "--num-processes", "2", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2 and "needs a launcher" in res.stderr
    res = subprocess.run([sys.executable, "-m", "toolace_r", "run", "--resume", str(tmp_path), "--launcher", "torchrun"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2 and "--resume" in res.stderr
