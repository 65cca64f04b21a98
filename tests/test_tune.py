"""Fine-tuning (engine/tune.py): the tuned model is a working sentence-transformers folder that
puts the trained questions closer to their articles' text, and the judge ranks articles by it."""

from __future__ import annotations

import numpy as np
import pytest

from helpcenter.engine.tune import Pair, dense_mrr, fine_tune, held_out

PAIRS = [
    Pair("钱扣了东西没到", "orders/paid", "付款成功但订单显示未支付：等待十分钟，仍未更新请联系客服并提供交易号。"),
    Pair("号登不上去了", "account/login", "无法登录账号：先确认网络，再用找回密码重置，多次失败会被临时锁定。"),
    Pair("快递一直不动", "orders/track", "物流信息长时间不更新：核对追踪号码，带上订单号联系客服查询。"),
    Pair("人工客服在哪", "contact/human", "转人工客服：在对话里输入“人工”，或者在工作时间拨打客服电话。"),
]


def test_holding_out_is_stable_and_takes_about_its_share():
    queries = [f"问题{i}" for i in range(1000)]
    assert [held_out(q, 0.2) for q in queries] == [held_out(q, 0.2) for q in queries]
    assert 150 < sum(held_out(q, 0.2) for q in queries) < 250


def test_dense_mrr_ranks_articles_by_their_best_passage():
    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "q": [0.9, 0.1]}

    def encode(texts, role):
        return np.array([vectors[t] for t in texts], dtype=np.float32)

    passages = [("x/one", "b", "passage"), ("x/two", "a", "passage")]
    assert dense_mrr(encode, [Pair("q", "x/two", "")], passages) == 1.0
    assert dense_mrr(encode, [Pair("q", "x/one", "")], passages) == 0.5


@pytest.mark.model
def test_a_tuned_model_brings_the_trained_questions_closer_to_their_articles(tmp_path):
    from sentence_transformers import SentenceTransformer

    from helpcenter.engine.default_model import ensure_default_model

    base = str(ensure_default_model())
    out = fine_tune(base, PAIRS * 4, tmp_path / "tuned", epochs=3, batch_size=4, lr=1e-4)

    def closeness(path: str) -> float:
        model = SentenceTransformer(path, device="cpu")
        q = model.encode([p.query for p in PAIRS], prompt="query: ", normalize_embeddings=True)
        d = model.encode([p.text for p in PAIRS], prompt="passage: ", normalize_embeddings=True)
        sims = q @ d.T
        return float(np.mean(np.diag(sims) - (sims.sum(1) - np.diag(sims)) / (len(PAIRS) - 1)))

    assert (out / "helpcenter-tune.json").is_file()
    # Each question's own article gains on the others' (the loss it was trained with).
    assert closeness(str(out)) > closeness(base) + 0.02


def _env(settings, **extra) -> dict[str, str]:
    return {"HELPCENTER_INSTANCE_DIR": settings.instance_dir, "HELPCENTER_ARTICLES_DIR": settings.articles_dir,
            "HELPCENTER_INDEX_DIR": settings.index_dir, "HELPCENTER_USER_DICT": "", **extra}


def test_tune_says_what_it_cannot_tune(make_app):
    from click.testing import CliRunner

    from helpcenter.cli import main

    settings = make_app().extensions["hc_settings"]
    hashed = CliRunner().invoke(main, ["tune"], env=_env(settings, HELPCENTER_MODEL="hash"))
    assert hashed.exit_code == 2 and "only such a model can be fine-tuned" in hashed.output
    off = CliRunner().invoke(main, ["tune"], env=_env(settings, HELPCENTER_MODEL="hash", HELPCENTER_LEARNING="off"))
    assert off.exit_code == 2 and "learning is off" in off.output


@pytest.mark.model
def test_tune_trains_on_learned_questions_and_keeps_the_model_only_if_it_judges_better(make_app, tmp_path):
    import json

    from click.testing import CliRunner

    from helpcenter.cli import main
    from helpcenter.engine.build import build_index
    from helpcenter.engine.model_files import DEFAULT_MODEL_NAME
    from helpcenter.insights import learning

    app = make_app()
    settings = app.extensions["hc_settings"].with_overrides(model=DEFAULT_MODEL_NAME,
                                                             index_dir=str(tmp_path / "real-index"))
    build_index(settings)
    env = _env(settings, HELPCENTER_MODEL=DEFAULT_MODEL_NAME)
    store = app.extensions["hc_storage"]
    learning.decide(store, "密码想不起来了咋整", "account/forgot-password", "accepted", "writer@example.com")
    few = CliRunner().invoke(main, ["tune"], env=env)
    assert few.exit_code == 1 and "not enough learned questions" in few.output and "1 pairs" in few.output

    topics = {"account/forgot-password": ["密码忘了", "登录密码找不回", "重置不了密码", "想改新密码"],
              "account/stolen-account": ["号被盗", "账号被别人登了", "有人盗我号", "账号异常登录"],
              "contact/email": ["客服邮箱", "发邮件给客服", "邮件联系", "客服的邮件地址"],
              "orders/track-order": ["快递查不到", "物流不更新", "包裹没动静", "追踪号没信息"]}
    for article, words in topics.items():
        for word in words:
            for ask in ("怎么办", "怎么弄", "咋整啊", "求助", "急", "在哪", "谁能帮忙", "了怎么处理"):
                learning.decide(store, f"{word}{ask}", article, "accepted", "writer@example.com")
    out = tmp_path / "tuned"
    res = CliRunner().invoke(main, ["tune", "--json", "--out", str(out), "--min-pairs", "20"], env=env)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["pairs"] + report["held_out"] == 129 and report["held_out"] >= 20
    assert 0 < report["base_mrr"] <= 1 and 0 < report["tuned_mrr"] <= 1
    assert report["kept"] == (report["tuned_mrr"] >= report["base_mrr"] + 0.01)
    assert out.is_dir() == report["kept"]  # a model that is not better is not left taking up disk
    if report["kept"]:
        saved = json.loads((out / "helpcenter-tune.json").read_text("utf-8"))
        assert saved["tuned_mrr"] == report["tuned_mrr"] and saved["pairs"] == report["pairs"]
