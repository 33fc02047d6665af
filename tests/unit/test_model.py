"""IrtNet's network: the MoE against an explicit per-expert loop, load balancing, the query-major compute
shape against the pair-by-pair formulation, and the alignment loss."""

from __future__ import annotations

import pytest
import torch

from irtnet.models.alignment import query_model_alignment, query_model_ranking, query_query_alignment
from irtnet.models.irt import pair_logit, weighted_bce
from irtnet.models.irtnet import PRESETS, IrtNetConfig, IrtNetModule
from irtnet.models.moe import MixtureOfExperts, MoEConfig, dropout


def _expert(moe_experts, e: int, x: torch.Tensor) -> torch.Tensor:
    h = torch.relu(x @ moe_experts.w1[e] + moe_experts.b1[e])
    return h @ moe_experts.w2[e] + moe_experts.b2[e]


def _loop_moe(moe: MixtureOfExperts, x: torch.Tensor) -> torch.Tensor:
    """The MoE written the slow, obvious way: one query and one expert at a time."""
    c = moe.config
    logits = moe.gate(x)
    out = []
    for i in range(x.shape[0]):
        chosen = torch.topk(logits[i] + moe.bias, c.top_k).indices
        w = torch.softmax(logits[i, chosen], dim=0)
        h = sum(w[j] * _expert(moe.experts, int(e), x[i]) for j, e in enumerate(chosen))
        if moe.shared is not None:
            h = h + _expert(moe.shared, 0, x[i])
        out.append(h)
    return torch.stack(out)


@pytest.mark.parametrize("top_k,shared", [(6, True), (2, True), (3, False), (1, False)])
def test_batched_moe_equals_per_expert_loop(top_k, shared):
    torch.manual_seed(0)
    moe = MixtureOfExperts(5, MoEConfig(n_experts=6, top_k=top_k, hidden=7, out=4, dropout=0.0,
                                        shared_expert=shared)).eval()
    moe.bias.copy_(torch.randn(6))  # the bias changes the selection only
    x = torch.randn(11, 5)
    h, gate = moe(x)
    torch.testing.assert_close(h, _loop_moe(moe, x), rtol=1e-5, atol=1e-5)
    assert float(gate.load.sum()) == 11 * top_k


def test_balancing_acts_when_sparse_and_is_inert_when_dense():
    torch.manual_seed(0)
    sparse = MixtureOfExperts(4, MoEConfig(n_experts=4, top_k=1, hidden=8, out=3, balance_gamma=0.05))
    with torch.no_grad():  # a gate that sends (almost) every query to expert 0
        sparse.gate.weight.mul_(0.3)
        sparse.gate.bias.copy_(torch.tensor([3.0, 0.0, 0.0, 0.0]))
    x = torch.randn(64, 4)
    assert sparse(x)[1].load[0] >= 60
    for _ in range(200):
        sparse.update_bias(sparse(x)[1].load)
    assert sparse(x)[1].load.max() <= 32  # the bias now spreads the queries
    assert sparse.bias[0] < 0

    dense = MixtureOfExperts(4, MoEConfig(n_experts=4, top_k=4, hidden=8, out=3))
    before = dense.bias.clone()
    dense.update_bias(torch.tensor([64.0, 0, 0, 0]))
    torch.testing.assert_close(dense.bias, before)


def _case(seed: int = 0, n_q: int = 9, n_m: int = 5):
    g = torch.Generator().manual_seed(seed)
    observed = torch.rand(n_q, n_m, generator=g) < 0.6
    observed[:, 0] = True
    q, m = observed.nonzero(as_tuple=True)
    target = torch.rand(len(q), generator=g).round()
    target[::4] = 0.3  # fractional outcomes too
    weight = torch.randint(1, 4, (len(q),), generator=g).float()
    x = torch.randn(n_q, 6, generator=g)
    return x, q, m, target, weight


@pytest.mark.parametrize("preset_moe", [MoEConfig(n_experts=4, top_k=4, hidden=8, out=5, dropout=0.0),
                                        MoEConfig(n_experts=4, top_k=2, hidden=8, out=5, dropout=0.0)])
def test_query_major_loss_and_gradients_equal_pair_by_pair(preset_moe):
    x, q, m, target, weight = _case()
    torch.manual_seed(1)
    net = IrtNetModule(IrtNetConfig(dim=3, moe=preset_moe, input_noise=0.0), d_in=6, n_models=5).eval()

    # query-major: the network once per query, all of its models with one matrix product, missing masked
    logits = net(x).logits[q, m]
    loss = weighted_bce(logits, target, weight)
    grads = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)

    # pair by pair: the network run again for every (model, query) pair, as the research code does
    pair = torch.stack([net(x[qi:qi + 1], pairs=(torch.tensor([0]), mi.view(1))).logits[0] for qi, mi in zip(q, m)])
    loss_ref = weighted_bce(pair, target, weight)
    grads_ref = torch.autograd.grad(loss_ref, list(net.parameters()), allow_unused=True)

    torch.testing.assert_close(loss, loss_ref)
    for g, r in zip(grads, grads_ref):
        if g is None or r is None:
            assert g is None and r is None
        else:
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_pair_logit_matches_dense_logit():
    x, q, m, *_ = _case(3)
    net = IrtNetModule(PRESETS["small"], d_in=6, n_models=5).eval()
    dense = net(x).logits
    sparse = net(x, pairs=(q, m)).logits
    torch.testing.assert_close(dense[q, m], sparse)
    torch.testing.assert_close(pair_logit(net.theta, *net.query_params(x)[:2], q, m), sparse)


def test_noise_and_dropout_act_in_training_only():
    net = IrtNetModule(IrtNetConfig(dim=2, moe=MoEConfig(n_experts=2, top_k=2, hidden=4, out=3, dropout=0.5),
                                    input_noise=0.5), d_in=4, n_models=3)
    x = torch.randn(5, 4)
    net.eval()
    torch.testing.assert_close(net(x).logits, net(x).logits)
    net.train()
    assert not torch.allclose(net(x).logits, net(x).logits)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_a_share_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    h = torch.rand(400, 500) + 0.5
    out = dropout(h, p, training=True)
    dropped = out == 0
    assert abs(float(dropped.float().mean()) - p) < 0.01
    torch.testing.assert_close(out[~dropped], h[~dropped] / (1 - p))
    assert abs(float(out.mean() / h.mean()) - 1) < 0.01
    assert dropout(h, p, training=False) is h
    g = torch.ones_like(h, requires_grad=True)
    dropout(g, p, training=True).sum().backward()
    assert torch.unique(g.grad).tolist() == pytest.approx([0.0, 1 / (1 - p)])


def test_kofn_target_is_the_binomial_likelihood():
    logits = torch.tensor([0.3, -1.2])
    k, n = torch.tensor([3.0, 1.0]), torch.tensor([4.0, 5.0])
    p = torch.sigmoid(logits)
    nll = -(k * torch.log(p) + (n - k) * torch.log(1 - p)).sum() / n.sum()
    torch.testing.assert_close(weighted_bce(logits, k / n, n), nll)


def test_alignment_pulls_queries_towards_correct_models():
    theta = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    q, m = torch.tensor([0, 0]), torch.tensor([0, 1])
    target = torch.tensor([1.0, 0.0])  # model 0 right, model 1 wrong
    near = query_model_alignment(torch.tensor([[1.0, 0.1]]), theta, q, m, target)
    far = query_model_alignment(torch.tensor([[0.1, 1.0]]), theta, q, m, target)
    assert near < far
    # a query every model got right carries no contrast
    assert float(query_model_alignment(torch.tensor([[1.0, 0.0]]), theta, q, m, torch.ones(2))) == 0.0
    a = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    together = query_query_alignment(a, torch.tensor([0, 0, 1, 1]))
    apart = query_query_alignment(a, torch.tensor([0, 1, 0, 1]))
    assert together < apart


def test_alignment_weights_enter_the_training_objective():
    from irtnet.training.batching import Batch

    x, q, m, target, weight = _case()
    off = IrtNetModule(IrtNetConfig(dim=3, moe=PRESETS["small"].moe), d_in=6, n_models=5)
    on = IrtNetModule(IrtNetConfig(dim=3, moe=PRESETS["small"].moe, align_weight=1.0, align_query_weight=0.5),
                      d_in=6, n_models=5)
    batch = Batch(x, None, q, m, target, weight, target.round(), cluster=torch.arange(9) % 2)
    assert off.auxiliary_loss(off(x), batch) is None
    extra = on.auxiliary_loss(on(x), batch)
    assert extra is not None and float(extra.detach()) > 0 and extra.requires_grad


def test_ranking_loss_trains_the_order_of_models_not_the_difficulty():
    import math

    q, target = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0])
    logits = torch.tensor([1.0, 0.0, 2.0, 0.0, 0.0])
    # query 0: -log softmax of its correct model; query 1 (every model right) carries no order and is skipped
    assert math.isclose(float(query_model_ranking(logits, q, target, 2)), math.log(math.e + 1) - 1, rel_tol=1e-6)
    shifted = logits + torch.tensor([5.0, 5.0, -3.0, -3.0, -3.0])  # a query's difficulty cancels
    assert math.isclose(float(query_model_ranking(shifted, q, target, 2)),
                        float(query_model_ranking(logits, q, target, 2)), rel_tol=1e-6)
    wrong_order = torch.tensor([0.0, 1.0, 2.0, 0.0, 0.0])
    assert query_model_ranking(wrong_order, q, target, 2) > query_model_ranking(logits, q, target, 2)
    # fractional targets (pass rates) are a distribution over the models
    soft = query_model_ranking(torch.tensor([0.0, 0.0]), torch.tensor([0, 0]), torch.tensor([0.75, 0.25]), 1)
    assert math.isclose(float(soft), math.log(2), rel_tol=1e-6)
    assert float(query_model_ranking(logits, q, torch.ones(5), 2)) == 0.0


def test_rank_weight_enters_the_training_objective_on_pair_logits():
    from irtnet.training.batching import Batch

    x, q, m, target, weight = _case()
    net = IrtNetModule(IrtNetConfig(dim=3, moe=PRESETS["small"].moe, rank_weight=0.5), d_in=6, n_models=5)
    batch = Batch(x, None, q, m, target, weight, target.round())
    out = net(x, pairs=(q, m))
    extra = net.auxiliary_loss(out, batch)
    expected = 0.5 * query_model_ranking(out.logits, q, target, x.shape[0])
    assert extra is not None and extra.requires_grad
    torch.testing.assert_close(extra, expected)
    dense = net(x)  # a dense batch scores every model: the loss reads the labelled pairs of it
    torch.testing.assert_close(net.auxiliary_loss(dense, batch),
                               0.5 * query_model_ranking(dense.logits[q, m], q, target, x.shape[0]))


def test_group_abilities_add_one_dimension_per_benchmark():
    cfg = IrtNetConfig(dim=3, moe=PRESETS["small"].moe, use_groups=True, input_noise=0.0)
    net = IrtNetModule(cfg, d_in=6, n_models=4, n_groups=2).eval()
    assert net.theta.shape == (4, 3 + 2)
    x = torch.randn(3, 6)
    a, b, _ = net.query_params(x, torch.tensor([0, 1, 2]))  # 2 = unknown benchmark
    torch.testing.assert_close(a[:, 3:], torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    with torch.no_grad():  # a benchmark-specific ability moves only that benchmark's queries
        before = net(x, torch.tensor([0, 1, 2])).logits.clone()
        net.theta[:, 3] += 1.0
        delta = net(x, torch.tensor([0, 1, 2])).logits - before
    torch.testing.assert_close(delta, torch.tensor([[1.0] * 4, [0.0] * 4, [0.0] * 4]))


def test_linear_skip_adds_a_linear_map_of_the_input_to_a_and_b():
    cfg = IrtNetConfig(dim=3, moe=PRESETS["small"].moe, use_groups=True, input_noise=0.0, linear_skip=True)
    net = IrtNetModule(cfg, d_in=6, n_models=4, n_groups=2).eval()
    plain = IrtNetModule(cfg.model_copy(update={"linear_skip": False}), d_in=6, n_models=4, n_groups=2).eval()
    assert net.skip is not None and plain.skip is None
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("skip.")})
    x, groups = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 2])
    with torch.no_grad():
        a, b, _ = net.query_params(x, groups)
        a0, b0, _ = plain.query_params(x, groups)  # the same network without the linear path
        s = net.skip(torch.cat([x, net.group_emb(groups)], dim=-1))  # it reads the benchmark embedding too
    torch.testing.assert_close(a[:, :3], a0[:, :3] + s[:, :3])
    torch.testing.assert_close(a[:, 3:], a0[:, 3:])  # the benchmark one-hot block is left as it is
    torch.testing.assert_close(b, b0 + s[:, 3])
    net.train()
    net(x, groups).logits.sum().backward()
    assert net.skip.weight.grad is not None and net.skip.weight.grad.abs().sum() > 0
