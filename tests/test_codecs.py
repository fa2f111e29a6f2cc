from tunesmith.codecs import CharCodec, load_codec


def test_char_codec_round_trip_and_vocabulary(tmp_path):
    text = "Sing, O sing!\nÜber alles — 'tis the end.\n"
    codec = CharCodec.fit([text, "xyz"])
    assert codec.vocab_size == len(set(text + "xyz"))
    tokens = codec.encode(text)
    assert len(tokens) == len(text)
    assert codec.decode(tokens) == text
    codec.save(tmp_path / "codec.json")
    again = load_codec(tmp_path / "codec.json")
    assert isinstance(again, CharCodec)
    assert again.encode(text) == tokens and again.chars == codec.chars


def test_char_codec_reports_and_drops_unknown_characters():
    codec = CharCodec.fit(["hello world\n"])
    assert codec.unknown("hello €uro") == ["€", "u"]
    assert codec.decode(codec.encode("hello €uro")) == "hello ro"
    assert sorted(codec.boundary_tokens()) == sorted([codec.index[" "], codec.index["\n"]])
    assert codec.start_tokens() == [codec.index["\n"]]
