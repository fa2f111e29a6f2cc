import os
from pathlib import Path

import pytest

from tunesmith.corpus import Document, list_files, read_documents, relative_name, split_by_document
from tunesmith.corpus.text import read_text_corpus
from tunesmith.errors import UserError


def test_folder_skips_binary_and_counts_it(lyrics_folder, capsys):
    (lyrics_folder / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    docs = read_text_corpus(str(lyrics_folder))
    err = capsys.readouterr().err
    assert "cover.png" in err and "binary" in err
    assert "read 6 text files" in err and "skipped 1" in err
    assert not any("cover.png" in d.name for d in docs)
    assert "".join(d.content for d in docs).count("The night is long") > 0


def test_cp1252_file_is_read_with_a_warning(tmp_path, capsys):
    path = tmp_path / "old.txt"
    path.write_bytes("Caf\u00e9 song \u2014 \u201cquoted\u201d\n".encode("cp1252") * 50)
    docs = read_text_corpus(str(path))
    err = capsys.readouterr().err
    assert "old.txt is not UTF-8; read it as cp1252" in err
    assert "Café song — “quoted”" in "".join(d.content for d in docs)


def test_single_file_is_cut_into_sections_at_blank_lines(lyrics_file):
    docs = read_text_corpus(str(lyrics_file))
    assert len(docs) >= 20
    assert "".join(d.content for d in docs) == lyrics_file.read_text()
    assert all(d.content.endswith("\n") for d in docs[:-1])


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_corpus_is_an_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match="has no text; give a non-empty .txt file"):
        read_text_corpus(str(path))


def test_binary_file_given_alone_is_an_error(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(UserError, match="binary file"):
        read_text_corpus(str(path))


def test_split_is_deterministic_and_stable_when_files_are_added():
    docs = [Document(f"song{i}.txt", "x") for i in range(200)]
    train, val, test = split_by_document(docs, 0.1)
    assert not test
    assert 8 <= len(val) <= 35 and len(train) + len(val) == 200
    names = lambda ds: {d.name for d in ds}  # noqa: E731
    assert names(split_by_document(list(reversed(docs)), 0.1)[1]) == names(val)
    more = docs + [Document(f"new{i}.txt", "x") for i in range(50)]
    train_more, val_more, _ = split_by_document(more, 0.1)
    assert names(train) <= names(train_more) and names(val) <= names(val_more)


def test_tiny_corpus_still_holds_one_document_out():
    docs = [Document("a.txt", "x"), Document("b.txt", "y")]
    train, val, test = split_by_document(docs, 0.05, test_fraction=0.05)
    assert len(train) == 1 and len(val) == 1 and not test
    three = docs + [Document("c.txt", "z")]
    train, val, test = split_by_document(three, 0.05, test_fraction=0.05)
    assert len(train) == len(val) == len(test) == 1


def test_test_split_is_disjoint_and_stable():
    docs = [Document(f"take{i}.wav", "x") for i in range(300)]
    train, val, test = split_by_document(docs, 0.1, test_fraction=0.1)
    names = lambda ds: {d.name for d in ds}  # noqa: E731
    assert len(names(train) | names(val) | names(test)) == 300
    assert not names(val) & names(test) and 10 <= len(test) <= 55
    assert names(val) == names(split_by_document(docs, 0.1)[1])  # a test split leaves validation as it was
    more = docs + [Document(f"new{i}.wav", "x") for i in range(50)]
    assert names(test) <= names(split_by_document(more, 0.1, test_fraction=0.1)[2])


def test_bundled_lyrics_corpus_reads():
    docs = read_text_corpus("lyrics")
    text = "".join(d.content for d in docs)
    assert len(text) > 500_000
    assert "The LORD is my shepherd" in text


def rglob_list_files(root: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """list_files as it was written before os.scandir (Path.rglob and a stat per file): the reference."""
    if root.is_file():
        return [root]
    return [p for p in sorted(root.rglob("*")) if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
            and p.name.lower() != "readme.md" and (suffixes is None or p.suffix.lower() in suffixes)]


@pytest.fixture
def messy_tree(tmp_path: Path) -> Path:
    """Hidden files and folders, READMEs, nested folders, other suffixes, names that sort one way as
    strings and another as paths (a-b/ and a/), links to a file, to nowhere and to a folder."""
    root = tmp_path / "tree"
    for name in ["a.mid", "B.MID", "c.midi", "d.kar", "notes.txt", "README.md", "readme.MD", "x.", "noext",
                 ".hidden.mid", ".git/config", ".git/x.mid", "a/b.mid", "a/README.md", "a/.c.mid", "a-b/z.mid",
                 "a-b/y.mid", "a0/q.mid", "deep/er/still/w.MIDI", "deep/er/still/.no/v.mid", "d.mid/inside.mid",
                 "z/.hidden/k.mid", "readme.md/in-a-folder.mid"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    os.symlink(root / "a.mid", root / "link.mid")
    os.symlink(root / "nowhere.mid", root / "dangling.mid")
    os.symlink(root / "a", root / "linked-folder")  # not entered, as Path.rglob does not
    os.mkfifo(root / "pipe.mid")  # not a regular file
    return root


def test_list_files_gives_the_list_path_rglob_gave(messy_tree):
    midi = (".mid", ".midi", ".kar")
    for suffixes in (None, midi, (".txt",), ()):
        assert list_files(messy_tree, suffixes) == rglob_list_files(messy_tree, suffixes)
    assert [p.relative_to(messy_tree).as_posix() for p in list_files(messy_tree, midi)] == [
        "B.MID", "a/b.mid", "a-b/y.mid", "a-b/z.mid", "a.mid", "a0/q.mid", "c.midi", "d.kar", "d.mid/inside.mid",
        "deep/er/still/w.MIDI", "link.mid", "readme.md/in-a-folder.mid"]  # part by part: "a" < "a-b" < "a.mid"
    assert list_files(messy_tree / "a.mid", midi) == [messy_tree / "a.mid"]  # a file given alone
    assert list_files(messy_tree / "missing", midi) == rglob_list_files(messy_tree / "missing", midi) == []
    relative = Path(os.path.relpath(messy_tree))  # a folder given by a relative path keeps it in its files
    assert list_files(relative, midi) == rglob_list_files(relative, midi) and not list_files(relative)[0].is_absolute()


def test_documents_are_named_by_their_path_below_the_folder(messy_tree):
    files = list_files(messy_tree, (".mid",))
    docs = read_documents(messy_tree, files, lambda path: path.name, "test", "")
    assert [d.name for d in docs] == [p.relative_to(messy_tree).as_posix() for p in files]
    assert "a-b/y.mid" in [d.name for d in docs]
    for path, root in [(Path("a/b.mid"), Path(".")), (Path("/a/b.mid"), Path("/")), (Path("/ab/c"), Path("/ab")),
                       (Path("/ab/c/d"), Path("/ab/c")), (messy_tree / "a/b.mid", messy_tree)]:
        assert relative_name(path, root, str(root)) == path.relative_to(root).as_posix()
    with pytest.raises(ValueError):
        relative_name(Path("/abc/d"), Path("/ab"), "/ab")  # not below it, though its name begins alike
