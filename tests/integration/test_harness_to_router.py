"""From the user's own lm-evaluation-harness output folders to a running router, with the README's commands:
`irtnet data import lm-eval`, `irtnet train`, `irtnet route` and the service's `/v1/route`.

The folders are written the way lm-eval writes them (`<model_sanitized>/results_<ts>.json` beside one
`samples_<task>_<ts>.jsonl` per task), for six models and three tasks whose answers follow a planted pattern:
each task has its own best model. A new question in a task's wording must be routed to that task's best model.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from irtnet.cli.main import app

TS = "2026-03-04T05-06-07.000001"
TASKS = {  # task -> (its wording, the index of its best model)
    "arith": ("Compute the sum of {a} and {b} and give the number", 0),
    "capitals": ("Name the capital city of country number {a} on the list {b}", 2),
    "code": ("Write a python function that returns {a} times {b} as an integer", 4),
}
MODELS = [f"org/model-{i}" for i in range(6)]


def _write_runs(root, n_docs: int = 60, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for m, model in enumerate(MODELS):
        folder = root / model.replace("/", "__")
        folder.mkdir(parents=True)
        results = {"model_name": model, "lm_eval_version": "0.4.9", "results": {},
                   "configs": {t: {"doc_to_text": "{{question}}"} for t in TASKS},
                   "versions": {t: 1.0 for t in TASKS}, "config": {"model": "hf", "model_args": f"pretrained={model}"}}
        for task, (wording, best) in TASKS.items():
            p_correct = 0.9 if m == best else 0.35
            rows = []
            for d in range(n_docs):
                question = wording.format(a=d, b=d * 7 % 13)
                acc = float(rng.random() < p_correct)
                rows.append({"doc_id": d, "doc": {"question": question}, "target": "x", "filter": "none",
                             "metrics": ["acc"], "doc_hash": hashlib.sha256(question.encode()).hexdigest(),
                             "arguments": {"gen_args_0": {"arg_0": question, "arg_1": " x"}}, "acc": acc})
            results["results"][task] = {"alias": task, "acc,none": float(np.mean([r["acc"] for r in rows]))}
            (folder / f"samples_{task}_{TS}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / f"results_{TS}.json").write_text(json.dumps(results))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("harness")
    _write_runs(root / "lm-eval-out")
    runner = CliRunner()
    res = runner.invoke(app, ["data", "import", "lm-eval", str(root / "lm-eval-out"), "-o", str(root / "t.parquet")])
    assert res.exit_code == 0, res.output
    assert "6 models x 180 queries" in " ".join(res.output.split())
    res = runner.invoke(app, ["train", str(root / "t.parquet"), "-o", str(root / "run"), "--encoder", "hashing-256",
                              "--epochs", "40", "--threads", "1"])
    assert res.exit_code == 0, res.output
    return root / "run"


@pytest.mark.parametrize("task", list(TASKS))
def test_a_new_question_is_routed_to_its_tasks_best_model(run_dir, task):
    wording, best = TASKS[task]
    res = CliRunner().invoke(app, ["route", str(run_dir), wording.format(a=999, b=5), "--top", "1"])
    assert res.exit_code == 0, res.output
    assert MODELS[best] in res.output, res.output


def test_the_service_routes_raw_text_with_no_key(run_dir):
    from fastapi.testclient import TestClient

    from irtnet.serve.app import create_app

    with TestClient(create_app(run_dir)) as client:
        wording, best = TASKS["capitals"]
        reply = client.post("/v1/route", json={"prompt": wording.format(a=321, b=4)})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["model"] == MODELS[best], body
