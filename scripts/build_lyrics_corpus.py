#!/usr/bin/env python3
"""Rebuild the bundled public-domain lyrics corpus used by the char-rnn model.

The script writes two plain-text files into ``src/tunesmith/data/lyrics/``:

``kjv-songs.txt``
    English song and poetry texts from the King James Bible: Psalms, Song of
    Solomon, Lamentations, Proverbs, Ecclesiastes, Job and Isaiah, followed by
    the songs embedded in the narrative books (Exodus 15, Deuteronomy 32,
    Judges 5, 1 Samuel 2, 2 Samuel 1 and 22), Jeremiah and the poetic minor
    prophets, until the text reaches roughly 1 MB.  Verse numbers and
    book/chapter references are removed: one verse per line, one chapter
    (psalm, song) per block, blocks separated by a single blank line.
    The text comes from Debian's ``bible-kjv-text`` package, read through the
    ``bible`` program of the ``bible-kjv`` package.

``chorale-hymns.txt``
    German hymn texts taken from the lyrics of the soprano part of the
    J. S. Bach chorales shipped in music21's corpus.  Syllables are joined
    using music21's syllabic information, one musical phrase (ending at a
    fermata) per line, one chorale per block; stanzas already present
    (same words, ignoring case and spacing) are dropped.

Both files are UTF-8 with LF line endings and end with a newline.  The output
is deterministic: running the script twice gives byte-identical files.

Usage (from the repository root)::

    apt-get install bible-kjv-text     # also pulls in bible-kjv (the CLI)
    .venv/bin/python scripts/build_lyrics_corpus.py

Options: ``--only kjv`` or ``--only chorales`` rebuilds one file;
``--out-dir DIR`` writes somewhere else (e.g. to compare with the bundled copy).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT_DIR = REPO_ROOT / "src" / "tunesmith" / "data" / "lyrics"

KJV_FILENAME = "kjv-songs.txt"
CHORALE_FILENAME = "chorale-hymns.txt"

# ---------------------------------------------------------------------------
# English: King James Bible
# ---------------------------------------------------------------------------

# Passages in the order they are added.  Each entry is
# (description, first reference, last reference, book code the `bible`
# program prints in its references).  Out-of-range chapter/verse numbers are
# clamped by `bible` to the end of the book, so "ps999:999" means
# "to the end of Psalms".
KJV_PASSAGES: list[tuple[str, str, str, str]] = [
    # The song and wisdom books.
    ("Psalms", "ps1:1", "ps999:999", "Psa"),
    ("Song of Solomon", "song1:1", "song999:999", "SSol"),
    ("Lamentations", "lam1:1", "lam999:999", "Lam"),
    ("Proverbs", "prov1:1", "prov999:999", "Prv"),
    ("Ecclesiastes", "eccl1:1", "eccl999:999", "Eccl"),
    ("Job", "job1:1", "job999:999", "Job"),
    ("Isaiah", "isa1:1", "isa999:999", "Isa"),
    # Songs inside the narrative books.
    ("Song of Moses and Miriam", "exod15:1", "exod15:21", "Exo"),
    ("Song of Moses", "deut32:1", "deut32:43", "Deu"),
    ("Song of Deborah", "judg5:1", "judg5:31", "Jdgs"),
    ("Song of Hannah", "1sam2:1", "1sam2:10", "1Sm"),
    ("David's lament for Saul and Jonathan", "2sam1:19", "2sam1:27", "2Sm"),
    ("Song of David", "2sam22:1", "2sam22:51", "2Sm"),
    # Prophetic poetry, used to fill the corpus up to the target size.
    ("Jeremiah", "jer1:1", "jer999:999", "Jer"),
    ("Hosea", "hos1:1", "hos999:999", "Hos"),
    ("Joel", "joel1:1", "joel999:999", "Joel"),
    ("Amos", "amos1:1", "amos999:999", "Amos"),
    ("Obadiah", "obad1:1", "obad999:999", "Obad"),
    ("Micah", "mic1:1", "mic999:999", "Mic"),
    ("Nahum", "nah1:1", "nah999:999", "Nahum"),
    ("Habakkuk", "hab1:1", "hab999:999", "Hab"),
    ("Zephaniah", "zeph1:1", "zeph999:999", "Zep"),
]

# Whole chapters are added, in the order above, until the file holds at least
# this many UTF-8 bytes (the result lands between 1.00 and ~1.01 MB).
KJV_TARGET_BYTES = 1_000_000

# `bible -f` prints one verse per line as "<Book><chapter>:<verse> <text>".
_KJV_LINE = re.compile(r"^(?P<book>[1-3]?[A-Za-z]+)(?P<chapter>\d+):(?P<verse>\d+) (?P<text>.+)$")


def _bible_program() -> str:
    path = shutil.which("bible")
    if path is None:
        sys.exit(
            "error: the `bible` program was not found.\n"
            "Install it with: apt-get install bible-kjv-text  (pulls in bible-kjv)"
        )
    return path


def debian_package_version(package: str) -> str:
    """Installed version of a Debian package, or 'unknown'."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_kjv_passage(first: str, last: str, book_code: str) -> list[list[str]]:
    """Return the verses of a passage as a list of chapters (lists of verses).

    Uses ``bible -f`` (plain output: one verse per line, prefixed with its
    reference) and strips the reference.
    """
    out = subprocess.run(
        [_bible_program(), "-f", f"{first}-{last}"],
        stdin=subprocess.DEVNULL, check=True, capture_output=True,
    ).stdout.decode("ascii")  # the KJV data is plain ASCII; fail loudly if not

    chapters: list[list[str]] = []
    current_chapter = None
    expected_verse = None
    for line in out.splitlines():
        if not line.strip():
            continue
        m = _KJV_LINE.match(line)
        if m is None:
            raise ValueError(f"unexpected line from `bible`: {line!r}")
        if m["book"] != book_code:
            raise ValueError(f"expected book {book_code!r}, got line {line!r}")
        chapter, verse = int(m["chapter"]), int(m["verse"])
        if chapter != current_chapter:
            chapters.append([])
            current_chapter = chapter
        elif verse != expected_verse:
            raise ValueError(f"verse gap before {line!r}")
        expected_verse = verse + 1
        text = " ".join(m["text"].split())  # normalise whitespace
        chapters[-1].append(text)
    if not chapters:
        raise ValueError(f"`bible` returned nothing for {first}-{last}")
    return chapters


def build_kjv() -> tuple[str, list[str]]:
    """Build the KJV text; return (text, list of descriptions of what was used)."""
    blocks: list[str] = []
    size = 0  # UTF-8 bytes so far, counting the separating blank lines
    used: list[str] = []
    for description, first, last, book_code in KJV_PASSAGES:
        if size >= KJV_TARGET_BYTES:
            break
        chapters = read_kjv_passage(first, last, book_code)
        taken = 0
        for verses in chapters:
            if size >= KJV_TARGET_BYTES:
                break
            block = "\n".join(verses) + "\n"
            blocks.append(block)
            size += len(block.encode("utf-8")) + 1
            taken += 1
        note = "" if taken == len(chapters) else f" (first {taken} of {len(chapters)} chapters)"
        used.append(f"{description}{note}")
    text = "\n".join(blocks)
    assert not re.search(r"\d", text), "verse numbers left in the KJV text"
    return text, used


# ---------------------------------------------------------------------------
# German: Bach chorale texts from music21's corpus
# ---------------------------------------------------------------------------

# Typographic characters normalised to plain ones, so the two files share a
# small character set.
_CHAR_FIXES = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u00a0": " ",
})
_STANZA_NUMBER = re.compile(r"^\s*\d+\.\s*")
# A dash inside one syllable marks a melisma split ("i – son." -> "ison.").
_INNER_DASH = re.compile(r"(?<=\w)\s*[\u2013\u2014]\s*(?=\w)")


def _natural_key(path) -> list:
    name = Path(str(path)).name
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def _clean_syllable(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_CHAR_FIXES)
    text = _STANZA_NUMBER.sub("", text)  # "1. Was" -> "Was"
    text = _INNER_DASH.sub("", text)
    return " ".join(text.split())


def _melody_part(score):
    """The part carrying the hymn text: the soprano, else the most texted part."""
    parts = list(score.parts)
    for part in parts:
        if part.partName and "sopran" in part.partName.lower():
            if any(n.lyrics for n in part.recurse().notes):
                return part
    best = max(parts, key=lambda p: sum(1 for n in p.recurse().notes if n.lyrics), default=None)
    if best is None or not any(n.lyrics for n in best.recurse().notes):
        return None
    return best


def _has_fermata(note) -> bool:
    from music21 import expressions

    return any(isinstance(e, expressions.Fermata) for e in note.expressions)


def _sing(notes, number: int, by_punctuation: bool = False) -> list[str]:
    """Join the syllables of lyric line `number` over `notes` into phrases.

    A phrase ends at a fermata (the end of a chorale line), or, with
    `by_punctuation` (for encodings without fermatas), after a word ending in
    punctuation.  A syllable is glued to the next one when its syllabic type
    is 'begin' or 'middle' or when it ends in a hyphen.  (A handful of
    syllables are mis-marked in the encodings, e.g. "al ler"; they are left
    as they are rather than guessed at.)
    """
    # Flatten to a list of syllables (text, syllabic) and phrase breaks (None).
    events: list[tuple[str, str | None] | None] = []
    for n in notes:
        for lyr in n.lyrics:
            if lyr.number == number and lyr.text:
                syl = _clean_syllable(lyr.text)
                if syl:
                    events.append((syl, lyr.syllabic))
        if _has_fermata(n):
            events.append(None)

    lines: list[str] = []
    words: list[str] = []
    current = ""
    for event in events:
        if event is None:
            if current:
                words.append(current)
                current = ""
            if words:
                lines.append(" ".join(words))
                words = []
            continue
        syl, syllabic = event
        glue = syllabic in ("begin", "middle") or syl.endswith("-")
        current += syl.rstrip("-")
        if not glue:
            words.append(current)
            current = ""
            if by_punctuation and words[-1][-1] in ",;:.!?":
                lines.append(" ".join(words))
                words = []
    if current:
        words.append(current)
    if words:
        lines.append(" ".join(words))
    return lines


def chorale_stanzas(score) -> list[list[str]]:
    """Reconstruct the stanza(s) of a chorale as lists of lines.

    Chorales are mostly in bar form (A A B): the opening section is repeated
    with a second line of text under the same notes.  In the corpus encodings
    the opening section therefore carries more lyric lines than the rest.  If
    the opening carries 2*k lines and the remainder k lines, stanza i is
    opening line 2i-1, opening line 2i, then remainder line i.  If every note
    carries the same lyric lines, each line number is one stanza.
    """
    part = _melody_part(score)
    if part is None:
        return []
    notes = list(part.recurse().notes)
    texted = [i for i, n in enumerate(notes) if any(l.text for l in n.lyrics)]
    if not texted:
        return []
    # A few encodings have no fermatas; there, end a line at punctuation.
    by_punct = sum(1 for n in notes if _has_fermata(n)) < 2
    all_numbers = sorted({l.number for n in notes for l in n.lyrics if l.text})
    final_numbers = sorted({l.number for l in notes[texted[-1]].lyrics if l.text})
    extra = set(all_numbers) - set(final_numbers)
    if not extra:
        return [_sing(notes, k, by_punct) for k in final_numbers]

    split = max(i for i, n in enumerate(notes) if any(l.number in extra for l in n.lyrics)) + 1
    head, tail = notes[:split], notes[split:]
    head_numbers = sorted({l.number for n in head for l in n.lyrics if l.text})
    tail_numbers = sorted({l.number for n in tail for l in n.lyrics if l.text})
    if tail_numbers != final_numbers or len(head_numbers) != 2 * len(tail_numbers):
        # Unknown layout: keep only the most complete lyric line.
        main = final_numbers[0]
        return [_sing(notes, main, by_punct)]
    stanzas = []
    for i, k in enumerate(tail_numbers):
        a, b = head_numbers[2 * i], head_numbers[2 * i + 1]
        stanzas.append(_sing(head, a, by_punct) + _sing(head, b, by_punct) + _sing(tail, k, by_punct))
    return stanzas


def build_chorales() -> tuple[str, dict]:
    """Build the chorale text; return (text, statistics)."""
    import music21
    from music21 import corpus

    paths = sorted(
        (p for p in corpus.getComposer("bach") if Path(str(p)).suffix in (".mxl", ".xml", ".krn", ".musicxml")),
        key=_natural_key,
    )
    blocks: list[str] = []
    seen: set[str] = set()
    stats = {"files": len(paths), "without_text": 0, "duplicates": 0, "music21": music21.__version__}
    for path in paths:
        score = corpus.parse(path)
        stanzas = [[line for line in s if line] for s in chorale_stanzas(score)]
        stanzas = [s for s in stanzas if s]
        if not stanzas:
            stats["without_text"] += 1
            continue
        # Deduplicate stanza by stanza (ignoring case and spacing): many
        # chorales set the same hymn verse, and some files hold two verses.
        lines: list[str] = []
        for stanza in stanzas:
            key = " ".join(" ".join(stanza).split()).casefold()
            if key in seen:
                stats["duplicates"] += 1
                continue
            seen.add(key)
            lines.extend(stanza)
        if lines:
            blocks.append("\n".join(lines) + "\n")
    stats["blocks"] = len(blocks)
    return "\n".join(blocks), stats


# ---------------------------------------------------------------------------


def write_text(path: Path, text: str) -> None:
    text = text.replace("\r\n", "\n").rstrip("\n") + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    blocks = text.count("\n\n") + 1
    print(f"wrote {path}: {len(text.encode('utf-8'))} bytes, {len(text)} characters, {blocks} blocks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output directory")
    parser.add_argument("--only", choices=("kjv", "chorales"), help="rebuild only one of the files")
    args = parser.parse_args(argv)

    if args.only in (None, "kjv"):
        print(f"bible-kjv-text {debian_package_version('bible-kjv-text')}, "
              f"bible-kjv {debian_package_version('bible-kjv')}")
        text, used = build_kjv()
        print("KJV passages:", "; ".join(used))
        write_text(args.out_dir / KJV_FILENAME, text)

    if args.only in (None, "chorales"):
        text, stats = build_chorales()
        print(f"music21 {stats['music21']}: {stats['files']} Bach files, "
              f"{stats['without_text']} without text, {stats['duplicates']} duplicate stanzas dropped")
        write_text(args.out_dir / CHORALE_FILENAME, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
