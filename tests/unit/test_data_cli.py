"""``recsys data`` commands: output, files written, and one red line + exit 1 on bad input."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from recsys.cli.data import app
from recsys.data import load_dataset

runner = CliRunner()


def test_info_shows_counts_density_and_distribution(tmp_path: Path, ml100k_dir: Path) -> None:
    result = runner.invoke(app, ["info", "ml-100k", "--data-dir", str(ml100k_dir.parent)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for fragment in ("users", "movies", "ratings", "density", "44.4444%", "1997-12-04"):
        assert fragment in text
    # 4 ratings by 3 users of 3 movies: one each of 1, 3, 4 and 5 stars
    assert "rating 5" in text and "1 (25.0%)" in text and "rating 2" not in text


def test_info_missing_dataset_is_one_red_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "ml-1m", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: dataset folder") and "recsys data fetch ml-1m" in lines[0]
    assert "Traceback" not in result.output


def test_info_bad_file_names_file_and_line(tmp_path: Path, ml100k_dir: Path) -> None:
    (ml100k_dir / "u.data").write_text("1\t10\t5\t881250949\n1\t10\t4\t881250950\n")
    result = runner.invoke(app, ["info", "ml-100k", "--data-dir", str(ml100k_dir.parent)])
    assert result.exit_code == 1
    assert f"{ml100k_dir / 'u.data'}:2: duplicate rating" in result.stderr


def test_synth_writes_a_loadable_folder_and_refuses_to_overwrite(tmp_path: Path) -> None:
    args = ["synth", "--users", "50", "--items", "40", "--interactions", "400", "--seed", "1"]
    args += ["--name", "tiny", "--data-dir", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    dataset = load_dataset(tmp_path / "tiny")
    assert (len(dataset.users), len(dataset.movies), len(dataset.ratings)) == (50, 40, 400)
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.stderr
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_synth_bad_parameter(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["synth", "--users", "2", "--items", "8", "--interactions", "9"]
        + ["--data-dir", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert "interactions=9 is out of range: allowed 1..8" in result.stderr


def test_fetch_from_a_local_folder(tmp_path: Path, csv_dir: Path) -> None:
    data_dir = tmp_path / "data"
    args = ["fetch", "mini", "--from", str(csv_dir), "--data-dir", str(data_dir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "copied" in result.stdout
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already" in again.stdout


def test_fetch_unknown_dataset_is_one_red_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fetch", "ml-7k", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: unknown dataset 'ml-7k'")
