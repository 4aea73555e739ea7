"""`epochs` refuses an existing --out before it reads the recording (found by the damaged-input sweep:
the refusal came only after the whole, possibly damaged, recording had been read and cut)."""

from neuromer.cli import main


def test_existing_out_is_refused_before_the_input_is_read(tmp_path, capsys):
    mine = tmp_path / "mine.dat"
    mine.write_bytes(b"the user's file")
    garbage = tmp_path / "rec.xdf"
    garbage.write_bytes(b"XDF:" + bytes(100))  # would be a read error if it were read first
    assert main(["epochs", str(garbage), "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err == f"neuromer: error: {mine}: file exists; refusing to overwrite it (pass --overwrite to replace it).\n"
    assert mine.read_bytes() == b"the user's file"


def test_out_that_is_a_folder_is_refused(tmp_path, capsys):
    assert main(["epochs", str(tmp_path / "none.xdf"), "--out", str(tmp_path), "--overwrite"]) == 2
    assert "is a directory" in capsys.readouterr().err
