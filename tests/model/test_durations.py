"""Text layout by durations: the index helpers, and TextEmbedding's use of a text index."""
import numpy as np
import pytest
import torch

from jamflow.errors import UserError
from jamflow.model.durations import (check_table, even_index, index_from_durations, table_durations,
                                     text_index_for)
from jamflow.model.embeddings import TextEmbedding, windowed_positions

TABLE = {"frames_per_token": [4.0, 8.0, 2.0, 1.0], "lead_frames": 3.0, "trail_frames": 5.0}


def test_index_from_durations_marks_silences_and_padding():
    index = index_from_durations([2, 3, 0, 1, 2], 10)  # lead 2, tokens 3/0/1, trail 2, then 2 padding
    assert index.tolist() == [-1, -1, 0, 0, 0, 2, -1, -1, -1, -1]
    assert index_from_durations([1, 5, 1], 4).tolist() == [-1, 0, 0, 0]  # cut to n


@pytest.mark.parametrize("nt,n", [(3, 10), (7, 7), (5, 23), (1, 4)])
def test_even_index_is_average_upsampling(nt, n):
    torch.manual_seed(0)
    emb = TextEmbedding(10, 8, conv_layers=1, mask_padding=True, average_upsampling=True)
    text = torch.randint(0, 10, (1, nt))
    spread = emb(text, n)
    indexed = emb(text, n, text_index=even_index(nt, n)[None])
    torch.testing.assert_close(indexed, spread)


def test_text_index_shows_each_frame_its_token_and_zero_in_silence():
    torch.manual_seed(0)
    emb = TextEmbedding(10, 8, conv_layers=2, mask_padding=True, average_upsampling=True)
    text = torch.tensor([[3, 1, 4]])
    index = torch.tensor([[-1, 0, 0, 1, 2, 2, 2, -1]])
    out = emb(text, 8, text_index=index)
    features = emb(text, 8, text_index=torch.arange(8)[None].clamp(max=2))  # frame j shows token min(j, 2)
    assert out[0, 0].abs().sum() == 0 and out[0, -1].abs().sum() == 0
    torch.testing.assert_close(out[0, 1], features[0, 0])
    torch.testing.assert_close(out[0, 3], features[0, 1])
    torch.testing.assert_close(out[0, 5], features[0, 2])
    with pytest.raises(UserError, match="text_index"):
        emb(text, 8, text_index=index[:, :5])


def test_table_durations_fill_the_frames_in_proportion():
    d = table_durations([0, 1, 3], 60, TABLE)
    assert d.sum() == 60 and d[0] == 3 and d[-1] == 5
    assert abs(d[2] / d[1] - 2.0) < 0.2 and d[3] >= 3  # token 1 is twice token 0; token 3 gets its share
    short = table_durations([1], 8, TABLE)  # silences give way: at most a quarter of the frames
    assert short.sum() == 8 and short[0] + short[-1] <= 2
    with pytest.raises(UserError, match="token ids"):
        table_durations([9], 20, TABLE)


def test_parts_lay_out_back_to_back_with_running_token_positions():
    index = text_index_for(TABLE, [([0, 1], 30, True, True), ([2, 2, 1], 25, False, True)], 60)
    first, second = index[:30], index[30:55]
    assert set(first[first >= 0].tolist()) == {0, 1}
    assert second[0] == 2  # the new text starts speaking at once (no lead silence)
    assert set(second[second >= 0].tolist()) == {2, 3, 4}
    assert (index[55:] == -1).all()
    assert (torch.diff(index[index >= 0]) >= 0).all()  # monotonic


def test_check_table_names_the_problem():
    check_table(TABLE, 4, True)
    with pytest.raises(UserError, match="keys"):
        check_table({"frames_per_token": [1.0]}, 4, True)
    with pytest.raises(UserError, match="positive"):
        check_table({**TABLE, "frames_per_token": [1.0, 0.0]}, 4, True)
    with pytest.raises(UserError, match="text_mask_padding"):
        check_table(TABLE, 4, False)


def test_model_config_with_a_table_round_trips(tmp_path):
    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    table = {**TABLE, "frames_per_token": list(np.linspace(1, 9, 256))}
    cfg = get_preset("tiny", audio=dict(text_num_embeds=256, text_durations=table))
    JAMModel(cfg).save_pretrained(tmp_path)
    assert JAMModel.from_pretrained(tmp_path).cfg.audio.text_durations == table


END = 7  # the sentence-end token of these tests


def sentences(*lengths: int) -> torch.Tensor:
    """Token ids (shifted: filler 0) of sentences of these lengths, each ending in END + 1."""
    ids = []
    for length in lengths:
        ids += [2] * (length - 1) + [END + 1]
    return torch.tensor([ids])


def test_windowed_positions_restart_at_the_sentence_that_would_overflow():
    ends = torch.tensor([END + 1])
    pos = windowed_positions(sentences(5, 4, 6, 12, 3), ends, window=10)[0].tolist()
    assert pos == [*range(9), *range(6), *range(12), *range(3)]  # 5+4 fit; 6 restarts; 12 alone runs past
    assert windowed_positions(sentences(5, 4, 6), ends, window=15)[0].tolist() == list(range(15))


def test_text_positions_within_the_window_are_unchanged():
    torch.manual_seed(0)
    plain = TextEmbedding(10, 8, conv_layers=2, mask_padding=True, average_upsampling=True)
    windowed = TextEmbedding(10, 8, conv_layers=2, mask_padding=True, average_upsampling=True,
                             pos_window=12, sentence_ends=[END])
    windowed.load_state_dict(plain.state_dict())
    text = sentences(5, 6) - 1  # the API's ids: the embedding shifts them by one
    index = torch.arange(11)[None]
    torch.testing.assert_close(windowed(text, 11, text_index=index), plain(text, 11, text_index=index))
    long = sentences(5, 6, 6) - 1  # the third sentence restarts at position 0
    a = windowed(long, 17, text_index=torch.arange(17)[None])
    assert not torch.allclose(a, plain(long, 17, text_index=torch.arange(17)[None]))
