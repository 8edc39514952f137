"""Dense NumPy sequences (recur.fit_dense, Model.predict_dense, Model.evaluate)
and quantized models: tag and regression models trained by the library
give what the same PyTorch modules give on the same weights (1e-5), their
metrics are what NumPy computes from the predictions, and an int8 / bf16
model loads, runs close to its fp32 original and reports its dtype."""
import unittest

from common import TempDir, needs_numpy, needs_torch, np, recur, recur_cli, torch


def data(N=120, T=9, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(N, T, F)) * 2 + 1).astype(np.float32)
    L = rng.integers(2, T + 1, size=N)
    return X, L


def torch_rows(model, X, L):
    """The model's head rows from an equivalent torch module built from its
    state dict: input standardised by input_norm, nn.LSTM on packed
    sequences, nn.Linear on the final states (both directions) or on every
    step; log-softmax for classes."""
    c, sd = model.config, {k: torch.tensor(v) for k, v in model.state_dict().items()}
    bi = c["bidirectional"]
    rnn = torch.nn.LSTM(c["input_size"], c["hidden"], num_layers=c["layers"], bidirectional=bi,
                        batch_first=True)
    rnn.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("rnn.")})
    head = torch.nn.Linear((2 if bi else 1) * c["hidden"], sd["out.weight"].shape[0])
    head.load_state_dict({"weight": sd["out.weight"], "bias": sd["out.bias"]})
    mean, std = model.input_norm
    x = (torch.tensor(X) - torch.tensor(mean)) / torch.tensor(std)
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(L), batch_first=True,
                                                         enforce_sorted=False)
        y, (h, _) = rnn(packed)
        if c["head"] == "final":
            out = head(torch.cat([h[-2], h[-1]], 1) if bi else h[-1])
        else:
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True,
                                                          total_length=X.shape[1])
            out = head(y)
        if c["task"] != "regress":
            out = torch.log_softmax(out, -1)
    return out.numpy()


@needs_numpy
class DenseTasks(TempDir):
    def test_regress_fits_predicts_and_scores(self):
        X, L = data()
        y = np.stack([[X[i, :L[i], 0].mean(), X[i, L[i] - 1, 1]] for i in range(len(L))])
        m, hist = recur.fit_dense(X, y, task="regress", lengths=L, epochs=6, hidden=12, lr=0.01,
                                  bidirectional=True, seed=2)
        self.assertEqual(m.config["outputs"], 2)
        self.assertEqual(len(hist["valid_loss"]), 6)
        self.assertLess(hist["valid_loss"][-1], hist["valid_loss"][0])
        p = m.predict_dense(X, L)
        self.assertEqual(p.shape, (len(L), 2))
        e = m.evaluate(X, y, L)
        err = p - y
        self.assertAlmostEqual(e["mse"], float((err ** 2).mean()), places=5)
        self.assertAlmostEqual(e["mae"], float(np.abs(err).mean()), places=5)
        r2 = np.mean(1 - (err ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0))
        self.assertAlmostEqual(e["r2"], float(r2), places=4)
        self.assertAlmostEqual(e["loss"], e["mse"], places=5)  # MSELoss, mean per element
        # A list of [T_i, F] arrays is the same data.
        q = m.predict_dense([X[i, :L[i]] for i in range(5)])
        np.testing.assert_allclose(q, p[:5], rtol=0, atol=1e-6)
        path = self.path("r.safetensors")
        m.save(path)
        np.testing.assert_array_equal(recur.Model.load(path).predict_dense(X, L), p)

    def test_tag_per_step(self):
        X, L = data(seed=1)
        tags = (X[:, :, 1] > 1).astype(np.int32) + (X[:, :, 0] > 2)
        m, _ = recur.fit_dense(X, tags, task="tag", lengths=L, epochs=5, hidden=12, lr=0.02,
                               labels=["lo", "mid", "hi"], bidirectional=True)
        self.assertEqual(m.labels, ["lo", "mid", "hi"])
        lp = m.predict_dense(X, L)
        self.assertEqual(lp.shape, (len(L), X.shape[1], 3))
        self.assertTrue((lp[0, L[0]:] == 0).all())  # past the end: zeros
        e = m.evaluate(X, tags, L)
        mask = np.arange(X.shape[1])[None, :] < L[:, None]
        right = (lp.argmax(-1) == tags) & mask
        self.assertEqual(e["steps"], int(mask.sum()))
        self.assertAlmostEqual(e["accuracy"], right.sum() / mask.sum(), places=12)
        exact = np.mean([right[i, :L[i]].all() for i in range(len(L))])
        self.assertAlmostEqual(e["exact_match"], exact, places=12)
        self.assertEqual(len(e["f1"]), 3)

    def test_bad_input_is_refused(self):
        X, L = data(N=10)
        with self.assertRaises(recur.ArgumentError):
            recur.fit_dense(X, np.zeros(10), task="tag", lengths=L)  # tags need [N, T]
        with self.assertRaises(recur.ArgumentError):
            recur.fit_dense(X, np.zeros(10), lengths=np.full(10, 99))
        m, _ = recur.fit_dense(X, np.zeros(10), lengths=L, epochs=1, hidden=4)
        with self.assertRaises(recur.ArgumentError):
            m.predict_dense(X[:, :, :2], L)  # 2 features, the model reads 3


@needs_torch
class DenseAgainstTorch(unittest.TestCase):
    def test_regress_and_tag_match_torch(self):
        X, L = data(N=40, seed=3)
        y = X[:, 0, :2].copy()
        tags = (X[:, :, 2] > 1).astype(np.int32)
        for task, target, bi in (("regress", y, False), ("regress", y, True), ("tag", tags, True),
                                 ("tag", tags, False)):
            with self.subTest(task=task, bidirectional=bi):
                m, _ = recur.fit_dense(X, target, task=task, lengths=L, epochs=2, hidden=6,
                                       bidirectional=bi, layers=2 if bi else 1)
                ours, theirs = m.predict_dense(X, L), torch_rows(m, X, L)
                if task == "tag":  # zeros past each end on our side
                    mask = np.arange(X.shape[1])[None, :] < L[:, None]
                    ours, theirs = ours[mask], theirs[mask]
                np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


@needs_numpy
class Quantized(TempDir):
    def test_quantized_models_load_and_run(self):
        X, L = data(N=30, seed=4)
        m, _ = recur.fit_dense(X, X[:, 0, :1].copy(), lengths=L, epochs=2, hidden=16)
        ref = m.predict_dense(X, L)
        path = self.path("f32.safetensors")
        m.save(path)
        for dtype, tol in (("int8", 0.05), ("bf16", 0.05)):
            with self.subTest(dtype=dtype):
                q = recur.Model.load(path).quantize(dtype)
                self.assertEqual(q.dtype, dtype)
                qp = self.path(dtype + ".safetensors")
                q.save(qp)
                back = recur.Model.load(qp)
                self.assertEqual(back.dtype, dtype)
                self.assertIn(dtype, repr(back))
                out = back.predict_dense(X, L)
                np.testing.assert_array_equal(out, q.predict_dense(X, L))
                scale = float(np.abs(ref).max()) + 1e-6
                self.assertLess(float(np.abs(out - ref).max()) / scale, tol)
                with self.assertRaises(recur.RecurError):  # training needs fp32 weights
                    back.quantize(dtype)
        with self.assertRaises(recur.ArgumentError):
            recur.Model.load(path).quantize("int4")

    def test_cli_quantized_classifier(self):
        m = recur.Model.create(task="classify", cell="gru", hidden=8, embed=4, vocab="abcdef",
                               labels=["x", "y"], seed=1)
        path, qpath = self.path("c.safetensors"), self.path("c8.safetensors")
        m.save(path)
        r = recur_cli("quantize", path, "-o", qpath, "--dtype", "int8")
        if r.returncode != 0:
            self.skipTest("recur quantize: %s" % r.stderr.strip())
        q = recur.Model.load(qpath)
        self.assertEqual(q.dtype, "int8")
        a, b = m.classify(["abc", "fed"]), q.classify(["abc", "fed"])
        np.testing.assert_allclose(np.exp(a), np.exp(b), atol=0.05)


if __name__ == "__main__":
    unittest.main()
