"""`flashsim train`: the --collection/--source pair, and the error naming the known pairs."""

import pytest

from flashsim_coffea import cli


def test_train_unknown_source_names_the_known_pairs(tt_sample, tmp_path, capsys):
    # the full key is not a source name: the error lists the names per collection
    rc = cli.main(["train", "--collection", "Event", "--source", "Event_event", "--data", str(tt_sample),
                   "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "unknown source 'Event_event' of collection 'Event'" in err
    assert "Muon: genmuon, jetfake" in err and "Event: event" in err
    assert not any(tmp_path.iterdir())


def test_train_help_lists_sources_per_collection(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Tau: genvistau, jetfake" in out


def test_train_all_collections_trains_only_those_sources(tt_sample, tmp_path, capsys):
    rc = cli.main(["train-all", "--collections", "Photon", "--data", str(tt_sample), "--out", str(tmp_path / "m"),
                   "--epochs", "1", "--skip-sparse", "--no-progress"])
    assert rc == 0
    trained = sorted(p.name for p in (tmp_path / "m").iterdir() if p.is_dir())
    assert trained == ["Photon_genelectron", "Photon_genphoton"]  # Photon_jetfake: 3 objects, skipped
    rc = cli.main(["train-all", "--collections", "Photon", "Foo", "--data", str(tt_sample), "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "unknown collection(s) ['Foo'] (known: Electron, Event, Jet, Muon, Photon, Tau)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
