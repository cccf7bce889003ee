"""The independent realism judges: accuracy on real test images, confidence along paths, class arithmetic,
and their numbers in ``evaluate`` and ``compare``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run
from latent_geodesics import datasets, judges
from latent_geodesics._check import UserError
from latent_geodesics.evaluation import evaluate_paths
from latent_geodesics.generators import fashion32, load_generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import baseline_path


def _real(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "mnist":
        return datasets.read_mnist("test", limit=n)
    data_dir = Path(fashion32.DEFAULT_DATA_DIR)
    if not (data_dir / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return (fashion32.read_fashion_mnist(data_dir, "test", limit=n),
            datasets.read_fashion_mnist_labels(data_dir, "test", limit=n))


# ---- pure functions on known inputs ----------------------------------------------------------------------------

def test_off_class_fraction_counts_interior_frames_of_a_third_class():
    classes = torch.tensor([[3, 3, 5, 8, 8],    # the 5 is off-class: 1 of 3 interior frames
                            [1, 2, 2, 2, 1],    # every interior frame is a third class
                            [4, 4, 4, 4, 4],    # one class throughout
                            [0, 7, 0, 7, 7]])   # only the endpoints' classes
    torch.testing.assert_close(judges.off_class_fraction(classes),
                               torch.tensor([1 / 3, 1.0, 0.0, 0.0], dtype=torch.float64))
    assert judges.off_class_fraction(torch.tensor([[1, 2]])).tolist() == [0.0]  # no interior frame


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 9).flatmap(lambda n: st.lists(st.lists(st.integers(0, 4), min_size=n, max_size=n),
                                                     min_size=1, max_size=4)))
def test_off_class_fraction_agrees_with_counting_by_hand(rows):
    got = judges.off_class_fraction(torch.tensor(rows)).tolist()
    for row, frac in zip(rows, got):
        inner = row[1:-1]
        expected = sum(c not in (row[0], row[-1]) for c in inner) / len(inner) if inner else 0.0
        assert frac == pytest.approx(expected)


def test_path_stats_from_known_probabilities():
    probs = torch.tensor([[[0.9, 0.1, 0.0], [0.4, 0.2, 0.4], [0.1, 0.6, 0.3], [0.0, 0.2, 0.8]]])  # (1, 4, 3)
    s = judges.judge_path_stats(probs)
    torch.testing.assert_close(s["confidence"], torch.tensor([[0.9, 0.4, 0.6, 0.8]]))
    assert s["classes"].tolist() == [[0, 0, 1, 2]]  # a tie goes to the first class
    torch.testing.assert_close(s["confidence_min"], torch.tensor([0.4]))
    torch.testing.assert_close(s["confidence_mean"], torch.tensor([0.675]))
    torch.testing.assert_close(s["off_class"], torch.tensor([0.5], dtype=torch.float64))


# ---- the shipped judges on real images ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,least", [("mnist", 0.93), ("fashion-mnist", 0.85)])
def test_judge_is_accurate_on_real_test_images(name, least):
    judge = judges.load_judge(name)
    x, y = _real(name, 300)
    probs = judges.judge_frames(judge, x.split(100))
    assert probs.shape == (300, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(300))
    accuracy = (probs.argmax(1) == y).float().mean().item()
    assert accuracy >= least, accuracy
    assert accuracy <= judge.record["test_accuracy"] + 0.05  # the shipped record is not flattering itself
    conf, _ = judges.confidence_and_class(probs)
    assert conf.median() > 0.9  # sure of real images


def test_confidence_dips_in_the_middle_of_a_cross_fade_between_classes():
    """A pixel cross-fade between real digits of two classes: sure at the ends, unsure halfway."""
    judge = judges.load_judge("mnist")
    x, y = _real("mnist", 200)
    conf_all, cls_all = judges.confidence_and_class(judges.judge_frames(judge, x))
    sure = (conf_all > 0.99) & (cls_all == y)
    a = int(torch.nonzero(sure & (y == 0))[0])
    b = int(torch.nonzero(sure & (y == 1))[0])
    t = torch.linspace(0, 1, 11).view(-1, 1, 1, 1)
    fade = (1 - t) * x[a] + t * x[b]  # (11, 1, 28, 28)
    s = judges.judge_path_stats(judges.judge_frames(judge, fade).unsqueeze(0))
    conf, cls = s["confidence"][0], s["classes"][0]
    assert cls[0] == 0 and cls[-1] == 1
    assert conf[0] > 0.99 and conf[-1] > 0.99
    assert conf[4:7].min() < 0.9 * min(conf[0], conf[-1])  # less sure halfway


def test_judge_for_zoo_models_and_bad_input():
    assert judges.judge_for(load_generator("zoo:mnist28")).name == "mnist"
    assert judges.judge_for(load_generator("zoo:fashion32")).name == "fashion-mnist"
    with pytest.raises(UserError, match="unknown judge"):
        judges.load_judge("cifar")
    with pytest.raises(UserError, match="28x28"):
        judges.load_judge("mnist")(torch.zeros(1, 1, 32, 32))


def test_evaluate_paths_reports_the_judge_along_a_linear_path():
    gen = load_generator("zoo:mnist28")
    judge = judges.judge_for(gen)
    z0, z1 = gen.sample_latents(2, seed=1), gen.sample_latents(2, seed=2)
    points = baseline_path(gen, "linear", z0, z1, 6)  # (2, 7, 64)
    report = evaluate_paths(gen, {"pixel": build_metric("pixel")}, points, baselines=(), judge=judge)
    j = report["methods"]["path"]["judge"]
    assert len(j["confidence"]) == 2 and len(j["confidence"][0]) == 7
    with torch.no_grad():
        ends = judge(gen(torch.cat([z0, z1])))
    assert [row[0] for row in j["classes"]] == ends[:2].argmax(1).tolist()
    assert [row[-1] for row in j["classes"]] == ends[2:].argmax(1).tolist()
    for b in range(2):
        assert j["confidence_min"][b] == pytest.approx(min(j["confidence"][b]), rel=1e-6)
        assert 0.1 <= j["confidence_min"][b] <= 1.0
        assert 0.0 <= j["off_class"][b] <= 1.0
    assert evaluate_paths(gen, {"pixel": build_metric("pixel")}, points, baselines=())["methods"]["path"]["judge"] \
        is None


def test_compare_and_evaluate_show_the_judge(tmp_path):
    out = tmp_path / "cmp"
    result = run("compare", "--model", "zoo:mnist28", "--methods", "linear,slerp", "--pairs", "2", "--frames", "5",
                 "--out", out)
    assert result.exit_code == 0, result.output
    assert "judge min" in result.stderr and "off-class" in result.stderr
    assert "judge min confidence" in (out / "report.html").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["judge"]["name"] == "mnist" and report["judge"]["test_accuracy"] > 0.9
    s = report["methods"]["linear"]["summary"]
    ev = report["methods"]["linear"]["evaluation"]["judge"]
    assert s["judge_confidence_min"] == pytest.approx(sorted(ev["confidence_min"])[0] / 2
                                                      + sorted(ev["confidence_min"])[1] / 2)
    result = run("evaluate", out / "paths.npz", "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    assert "judge min" in result.stdout and "off-class" in result.stdout
    ev2 = json.loads((tmp_path / "e.json").read_text())["methods"]["linear"]["judge"]
    assert ev2["confidence_min"] == pytest.approx(ev["confidence_min"], rel=1e-5)
