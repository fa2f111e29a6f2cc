"""End to end, as a user types it: train a tiny model, sample with a primer, evaluate; and every
kind of bad input answered by one clear line, a non-zero exit and no traceback."""

import json


from tunesmith.cli import main
from conftest import TUNESMITH, run_cli, run_command, tiny_args


def test_train_sample_eval_from_the_command_line(tmp_path, lyrics_folder):
    run = tmp_path / "run"
    trained = run_command(*TUNESMITH, "train", "char-rnn", "--data", str(lyrics_folder), "--run", str(run),
                          "--steps", "30", *tiny_args())
    assert trained.returncode == 0, trained.stderr
    assert "finished at step 30" in trained.stdout and "step/s" in trained.stderr  # the progress bar

    sampled = run_command(*TUNESMITH, "sample", str(run), "--primer", "Oh my darling", "--length", "120",
                          "--seed", "4", "--temperature", "0.8")
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.startswith("Oh my darling")
    assert len(sampled.stdout) == len("Oh my darling") + 120 + 1
    again = run_command(*TUNESMITH, "sample", str(run), "--primer", "Oh my darling", "--length", "120",
                        "--seed", "4", "--temperature", "0.8")
    assert again.stdout == sampled.stdout

    out = tmp_path / "new.txt"
    written = run_command(*TUNESMITH, "sample", str(run), "--num-outputs", "3", "--length", "50", "--out", str(out),
                          "--checkpoint", "last", "--top-k", "5")
    assert written.returncode == 0, written.stderr
    files = sorted(tmp_path.glob("new-*.txt"))
    assert [f.name for f in files] == ["new-1.txt", "new-2.txt", "new-3.txt"]
    assert all(len(f.read_text(encoding="utf-8")) == 50 for f in files)
    rewritten = run_command(*TUNESMITH, "sample", str(run), "--length", "10", "--out", str(files[0]))
    assert rewritten.returncode == 0 and len(files[0].read_text(encoding="utf-8")) == 50  # never overwritten
    assert (tmp_path / "new-1-2.txt").is_file()

    evaluated = run_command(*TUNESMITH, "eval", str(run), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["unit"] == "character" and result["split"] == "validation" and result["tokens"] > 100
    assert 0 < result["loss_nats"] < 5 and abs(result["bits_per_unit"] * 0.6931 - result["loss_nats"]) < 1e-3


def test_eval_on_other_text_and_unknown_primer_characters(trained_run, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("Sing me a song of the morning light €€€\n" * 30, encoding="utf-8")
    code, out, err = run_cli(capsys, "eval", str(trained_run), "--data", str(other), "--json")
    assert code == 0, err
    assert json.loads(out)["split"] == "all" and "not in the model's vocabulary" in err
    code, out, err = run_cli(capsys, "sample", str(trained_run), "--primer", "Sing €uro", "--length", "5")
    assert code == 0, err
    assert "never saw" in err and "'€'" in err
    assert out.startswith("Sing uro")


def test_help_on_every_verb_has_an_example(capsys):
    for verb in ["train", "sample", "eval", "runs", "board"]:
        try:
            code = main([verb, "--help"])
        except SystemExit as exit_info:
            code = exit_info.code
        assert code == 0
        assert "example" in capsys.readouterr().out, verb
    code, out, err = run_cli(capsys, "train", "char-rnn", "--help")
    assert code == 0 and "hidden_size" in out and "384" in out and "cell" in out and "lstm|gru|rnn" in out


def bad_inputs(tmp_path, trained_run):
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    short = tmp_path / "short.txt"
    short.write_text("la la la\n", encoding="utf-8")
    not_a_run = tmp_path / "notarun"
    not_a_run.mkdir()
    (not_a_run / "x.txt").write_text("x")
    return [
        (["train", "char-rnn", "--data", str(tmp_path / "missing.txt")], "no such file or folder"),
        (["train", "char-rnn", "--data", str(empty)], "no usable text file in"),
        (["train", "char-rnn", "--data", str(binary)], "is a binary file"),
        (["train", "char-rnn", "--data", str(short)], "fewer than one training sequence"),
        (["train", "wavenet-9000"], "unknown recipe 'wavenet-9000'"),
        (["train", "char-rnn", "--set", "colour=blue"], "has no such setting"),
        (["train", "char-rnn", "--set", "hidden_size=big"], "hidden_size takes a whole number"),
        (["train", "char-rnn", "--set", "cell=transformer"], "choose one of lstm, gru, rnn"),
        (["train", "char-rnn", "--steps", "0"], "--steps must be above 0"),
        (["sample", str(not_a_run)], "is not a run directory"),
        (["sample", str(tmp_path / "nowhere")], "no such run"),
        (["sample", str(trained_run), "--temperature", "0"], "temperature must be above 0"),
        (["sample", str(trained_run), "--checkpoint", "7"], "no checkpoint at step 7"),
        (["eval", str(not_a_run)], "is not a run directory"),
        (["runs", str(tmp_path / "nowhere")], "no such folder"),
    ]


def test_bad_input_gets_one_line_and_a_non_zero_exit(tmp_path, trained_run, capsys):
    for argv, message in bad_inputs(tmp_path, trained_run):
        code, out, err = run_cli(capsys, *argv)
        assert code != 0, argv
        assert message in err, (argv, err)
        lines = [line for line in err.splitlines() if line.startswith("tunesmith: error:")]
        assert len(lines) == 1, (argv, err)


def test_bad_input_in_a_fresh_process_has_no_traceback(tmp_path):
    missing = run_command(*TUNESMITH, "train", "char-rnn", "--data", str(tmp_path / "missing"))
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("tunesmith: error: no such file or folder")
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
