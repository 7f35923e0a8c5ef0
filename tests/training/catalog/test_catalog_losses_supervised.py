"""cross_entropy, autoregressive_cross_entropy and mse against their formulas."""

import math

import pytest
import torch

from soen_train.training.losses import LOSSES, LossContext, align_for_mse, call_loss


def ce(logits, label):
    """-log softmax(logits)[label] by hand."""
    return -logits[label] + math.log(sum(math.exp(v) for v in logits))


def test_cross_entropy_seq2static():
    out = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    ctx = LossContext(outputs=out, targets=torch.tensor([0, 1]))
    expected = (ce([2.0, 0.0], 0) + ce([0.0, 1.0], 1)) / 2
    assert call_loss("cross_entropy", ctx).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_seq2seq_flattens_and_ignores_padding():
    out = torch.tensor([[[2.0, 0.0], [5.0, -5.0], [0.0, 1.0]]])
    ctx = LossContext(outputs=out, targets=torch.tensor([[0, -100, 1]]))
    expected = (ce([2.0, 0.0], 0) + ce([0.0, 1.0], 1)) / 2
    assert call_loss("cross_entropy", ctx).item() == pytest.approx(expected, rel=1e-6)
    # a custom ignore_index
    ctx2 = LossContext(outputs=out, targets=torch.tensor([[0, 7, 1]]))
    assert call_loss("cross_entropy", ctx2, {"ignore_index": 7}).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"outputs \(2, 2\), targets \(2, 3\)"):
        call_loss("cross_entropy", LossContext(outputs=torch.zeros(2, 2), targets=torch.zeros(2, 3).long()))
    with pytest.raises(ValueError, match="needs integer class labels"):
        call_loss("cross_entropy", LossContext(outputs=torch.zeros(2, 2), targets=torch.tensor([0.5, 1.0])))
    with pytest.raises(ValueError, match="loss 'cross_entropy' needs targets"):
        call_loss("cross_entropy", LossContext(outputs=torch.zeros(2, 2)))


def test_autoregressive_cross_entropy_scores_the_next_token():
    out = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [9.0, -9.0]]])  # the last step is unused
    tokens = torch.tensor([[0, 1, 1]])
    expected = (ce([1.0, 0.0], 1) + ce([0.0, 2.0], 1)) / 2
    ctx = LossContext(outputs=out, targets=tokens)
    assert call_loss("autoregressive_cross_entropy", ctx).item() == pytest.approx(expected, rel=1e-6)
    # without targets the tokens come from one-hot inputs
    one_hot = torch.nn.functional.one_hot(tokens, 2).float()
    ctx_inputs = LossContext(outputs=out, inputs=one_hot)
    assert call_loss("autoregressive_cross_entropy", ctx_inputs).item() == pytest.approx(expected, rel=1e-6)


def test_autoregressive_cross_entropy_errors():
    out = torch.zeros(1, 3, 2)
    with pytest.raises(ValueError, match=r"outputs cover \(1, 3\) .* tokens are \(1, 4\)"):
        call_loss("autoregressive_cross_entropy", LossContext(outputs=out, targets=torch.zeros(1, 4).long()))
    with pytest.raises(ValueError, match="found no token ids"):
        call_loss("autoregressive_cross_entropy", LossContext(outputs=out, inputs=torch.rand(1, 3, 2) + 0.1))
    with pytest.raises(ValueError, match=r"needs sequence outputs \[B, T, V\]"):
        call_loss("autoregressive_cross_entropy", LossContext(outputs=torch.zeros(1, 2), targets=torch.zeros(1, 2).long()))


def test_mse_equal_shapes():
    out = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    tgt = torch.tensor([[0.0, 2.0], [1.0, 5.0]])
    ctx = LossContext(outputs=out, targets=tgt)
    assert call_loss("mse", ctx).item() == pytest.approx((1 + 0 + 4 + 1) / 4)


@pytest.mark.parametrize(
    "out_shape, tgt_shape, aligned",
    [
        ((2, 5, 3), (2, 6, 3), (2, 5, 3)),  # teacher history with step 0: dropped
        ((2, 6, 3), (2, 5, 3), (2, 5, 3)),
        ((2, 5, 1), (2, 5), (2, 5, 1)),
        ((2, 3), (2, 5, 3), (2, 3)),
        ((2, 5, 3), (2, 3), (2, 3)),
        ((4, 1), (4,), (4, 1)),
    ],
)
def test_mse_alignment_rules(out_shape, tgt_shape, aligned):
    out, tgt = align_for_mse(torch.rand(out_shape), torch.rand(tgt_shape))
    assert out.shape == tgt.shape == aligned


def test_mse_alignment_values():
    out = torch.tensor([[1.0, 3.0]])  # [B, K]
    tgt = torch.tensor([[[0.0, 2.0], [2.0, 2.0]]])  # [B, T, K] -> time mean [1, 2]
    assert call_loss("mse", LossContext(outputs=out, targets=tgt)).item() == pytest.approx(0.5)
    hist = torch.tensor([[[9.0], [1.0], [2.0]]])  # [B, T+1, 1] target history with step 0
    pred = torch.tensor([[[1.0], [4.0]]])
    assert call_loss("mse", LossContext(outputs=pred, targets=hist)).item() == pytest.approx(2.0)


def test_mse_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"outputs \(2, 3\) and targets \(2, 4\) cannot be aligned"):
        call_loss("mse", LossContext(outputs=torch.zeros(2, 3), targets=torch.zeros(2, 4)))


def test_gradients_flow():
    out = torch.tensor([[2.0, 0.0]], requires_grad=True)
    call_loss("cross_entropy", LossContext(outputs=out, targets=torch.tensor([1]))).backward()
    assert out.grad is not None and out.grad[0, 1] < 0
    assert "cross_entropy" in LOSSES
