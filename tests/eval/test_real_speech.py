from jamflow.eval.real_speech import librivox_utterances


def test_librivox_transcription_lines_give_wav_paths_and_plain_transcripts(tmp_path):
    (tmp_path / "transcription").write_text("<s> he was not an ill disposed young man </s> (book-0880)\n"
                                            "<s> and so it went </s> (book-0890)\n")
    assert librivox_utterances(tmp_path) == [(tmp_path / "book-0880.wav", "he was not an ill disposed young man"),
                                             (tmp_path / "book-0890.wav", "and so it went")]


def test_no_package_means_no_utterances(tmp_path):
    assert librivox_utterances(tmp_path / "absent") == []
