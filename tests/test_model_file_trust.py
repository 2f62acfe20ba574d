"""Opening a model file never runs code or trusts bytes unasked: a factory backbone needs
--trust-factory, and every file is checked against the sha256 the journal recorded."""

import copy
import json

import pytest
from typer.testing import CliRunner

import nasxfer
from nasxfer.cli import app
from nasxfer.errors import NasxferError
from nasxfer.storage.store import resolve_run

from transfer_helpers import TINY_TRANSFER

cli = CliRunner()
FACTORY = "factory_backbones:tiny_cnn"
REFUSED = "its backbone is built by factory 'factory_backbones:tiny_cnn', which would run that code; pass --trust-factory if you trust this run"


@pytest.fixture(scope="module")
def factory_run(tmp_path_factory):
    import yaml

    data = copy.deepcopy(TINY_TRANSFER)
    data["model"]["backbone"] = {"factory": FACTORY, "weights": "none", "image_size": 8}
    data["search"]["space"] = {"model.head.hidden": {"choices": [[]]}}
    data["search"]["budget"] = {"trials": 1}
    data["train"]["epochs"] = 1
    root = tmp_path_factory.mktemp("factory")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    runs = root / "runs"
    result = cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    result = cli.invoke(app, ["finetune", "latest", "--epochs", "1", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    return runs, resolve_run(runs, "latest")


def test_a_factory_model_loads_only_when_trusted(factory_run, tmp_path):
    runs, store = factory_run
    final = store.path / "final" / "model.pt"
    with pytest.raises(NasxferError) as refused:
        nasxfer.load_model("latest", runs_dir=runs)
    assert str(refused.value) == f"{final}: {REFUSED}"
    assert nasxfer.load_model("latest", runs_dir=runs, trust_factory=True).class_names

    target = tmp_path / "out.ts"
    for command in (["export", "latest", "-o", str(target)], ["predict", "latest", str(tmp_path), "-o", str(tmp_path / "p.json")]):
        result = cli.invoke(app, [*command, "--runs-dir", str(runs)])
        assert result.exit_code == 2 and result.output.strip() == f"error: {final}: {REFUSED}", result.output
        assert not target.exists() and not (tmp_path / "p.json").exists()
    result = cli.invoke(app, ["export", "latest", "-o", str(target), "--runs-dir", str(runs), "--trust-factory"])
    assert result.exit_code == 0, result.output
    assert target.exists()


def test_a_trial_model_of_a_factory_run_is_refused_too(factory_run):
    runs, store = factory_run
    with pytest.raises(NasxferError, match="pass --trust-factory"):
        nasxfer.load_model("latest", runs_dir=runs, trial=1)


@pytest.fixture
def scratch_run(tmp_path, tiny_dict):
    from nasxfer.config import validate_config
    from nasxfer.search.runner import run_search
    from nasxfer.storage.store import RunStore

    tiny_dict["search"]["budget"] = {"trials": 1}
    config = validate_config(tiny_dict)
    runs = tmp_path / "runs"
    store = RunStore.create(runs, config, {})
    run_search(config, store)
    return runs, store


def test_a_tampered_model_file_is_refused(scratch_run):
    runs, store = scratch_run
    model = store.trial_dir(1) / "model.pt"
    model.write_bytes(model.read_bytes() + b"tampered")
    with pytest.raises(NasxferError, match="checksum does not match"):
        nasxfer.load_model("latest", runs_dir=runs, trial=1)


def without_recorded_hash(store):
    journal = store.path / "journal.jsonl"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    for row in rows:
        if row["event"] == "trial_finished":
            row["trial"]["checksums"] = {}
    journal.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_a_model_file_without_a_recorded_hash_loads_only_when_told(scratch_run, tmp_path):
    runs, store = scratch_run
    without_recorded_hash(store)
    model = store.trial_dir(1) / "model.pt"
    expected = f"{model}: no sha256 was recorded for it, so it cannot be verified; pass --no-verify to load it anyway"
    with pytest.raises(NasxferError) as refused:
        nasxfer.load_model("latest", runs_dir=runs, trial=1)
    assert str(refused.value) == expected
    target = tmp_path / "out.ts"
    result = cli.invoke(app, ["export", "latest", "--trial", "1", "-o", str(target), "--runs-dir", str(runs)])
    assert result.exit_code == 2 and result.output.strip() == f"error: {expected}" and not target.exists()
    assert nasxfer.load_model("latest", runs_dir=runs, trial=1, verify=False).class_names
    result = cli.invoke(app, ["export", "latest", "--trial", "1", "-o", str(target), "--runs-dir", str(runs), "--no-verify"])
    assert result.exit_code == 0 and target.exists()


@pytest.mark.parametrize("damage", ["tampered", "unrecorded"])
def test_a_run_backbone_over_an_unverifiable_model_file_is_refused(scratch_run, monkeypatch, damage):
    from nasxfer.models.backbones.earlier_run import source_payload

    runs, store = scratch_run
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))
    model = store.trial_dir(1) / "model.pt"
    if damage == "tampered":
        model.write_bytes(model.read_bytes() + b"tampered")
    else:
        without_recorded_hash(store)
    with pytest.raises(NasxferError, match="checksum does not match" if damage == "tampered" else "no sha256 was recorded"):
        source_payload(store.run_id)


def test_a_run_backbone_over_a_factory_run_needs_trust_factory(factory_run, tmp_path, monkeypatch):
    import yaml

    runs, store = factory_run
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))  # where run: backbones are looked up
    data = copy.deepcopy(TINY_TRANSFER)
    data["model"]["backbone"] = {"name": f"run:{store.run_id}"}
    data["search"]["space"] = {"model.head.hidden": {"choices": [[]]}}
    data["search"]["budget"] = {"trials": 1}
    data["train"]["epochs"] = 1
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    before = sorted(p.name for p in runs.iterdir())
    result = cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(runs)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: model.backbone.name: run '{store.run_id}': {store.path / 'final' / 'model.pt'}: its backbone is built "
        "by factory 'factory_backbones:tiny_cnn', which would run that code; pass --trust-factory "
        "(or set model.backbone.trust_factory: true) if you trust that run"
    )
    assert sorted(p.name for p in runs.iterdir()) == before  # nothing written
    result = cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(runs), "--trust-factory"])
    assert result.exit_code == 0, result.output

    # Finetune asks again when the run's config does not say so (e.g. trust given by --set once).
    transferred = resolve_run(runs, "latest")
    untrusted = transferred.config().apply({"model.backbone.trust_factory": False})
    (transferred.path / "config.yaml").write_text(untrusted.to_yaml())
    finetune = ["finetune", "latest", "--epochs", "1", "--runs-dir", str(runs)]
    result = cli.invoke(app, finetune)
    assert result.exit_code == 2 and "pass --trust-factory" in result.output, result.output
    assert not (transferred.path / "final").exists()
    result = cli.invoke(app, [*finetune, "--trust-factory"])
    assert result.exit_code == 0, result.output
