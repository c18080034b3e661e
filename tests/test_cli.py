"""`flashsim`: start-up without heavy imports; `train`: the --collection/--source pair, the error naming the known pairs."""

import subprocess
import sys

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
    known = "Electron, Event, FatJet, FsrPhoton, Jet, Muon, Photon, SV, SubJet, Tau"
    assert f"unknown collection(s) ['Foo'] (known: {known})" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


_HEAVY = ("torch", "awkward", "uproot", "coffea", "dask")


def test_parser_imports_no_heavy_module():
    # `flashsim --help` and `flashsim <sub> --help` build every subparser: none may import a heavy module
    code = ("import sys, flashsim_coffea.cli as cli; cli.parser(); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({_HEAVY!r})))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_help_of_every_subcommand_imports_no_heavy_module():
    code = ("import sys, flashsim_coffea.cli as cli\n"
            "for sub in ([], ['generate'], ['extract'], ['train'], ['train-all'], ['validate'], ['bench']):\n"
            "    try:\n"
            "        cli.main([*sub, '--help'])\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, sub\n"
            f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({_HEAVY!r})))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_generate_pileup_default_is_the_generators():
    from flashsim_coffea.reference.generate import PILEUP_MU

    assert cli.parser().parse_args(["generate", "--process", "dy", "--events", "1", "--seed", "1",
                                    "--out", "x.root"]).pileup == PILEUP_MU
