"""PyTorch in and out: from_torch and to_torch give identical outputs (1e-5)
on random configurations: cells x layers x directions x ragged lengths, with
and without an embedding, batch_first or not."""
import os
import random
import unittest

from common import TempDir, needs_torch, np, recur, tiny_model, torch


def make_module(cell, L, bi, embed, batch_first, V=12, H=7, C=4, bias=True):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            I = embed or V
            self.emb = nn.Embedding(V, embed) if embed else None
            kw = dict(num_layers=L, bidirectional=bi, batch_first=batch_first, bias=bias)
            if cell.startswith("rnn_"):
                self.lstm = nn.RNN(I, H, nonlinearity=cell[4:], **kw)
            else:
                self.lstm = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](I, H, **kw)
            self.drop = nn.Dropout(0.1)
            self.fc = nn.Linear((2 if bi else 1) * H, C)

        def forward(self, tokens, lengths):  # tokens [T, B] (or [B, T] with batch_first)
            x = self.emb(tokens) if self.emb is not None else \
                nn.functional.one_hot(tokens, V).float()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                                       enforce_sorted=False)
            _, h = self.lstm(packed)
            h = h[0] if isinstance(h, tuple) else h
            h = torch.cat([h[-2], h[-1]], 1) if bi else h[-1]
            return nn.functional.log_softmax(self.fc(self.drop(h)), dim=1)
    return Net().eval()


def padded(seqs, batch_first=False):
    T = max(len(s) for s in seqs)
    t = torch.zeros(T, len(seqs), dtype=torch.long)
    for j, s in enumerate(seqs):
        t[:len(s), j] = torch.tensor(s)
    return (t.T.contiguous() if batch_first else t), torch.tensor([len(s) for s in seqs])


@needs_torch
class FromTorchTest(TempDir):
    def test_random_configurations_match(self):
        rnd = random.Random(11)
        torch.manual_seed(11)
        configs = [(c, L, bi) for c in ("rnn_tanh", "rnn_relu", "lstm", "gru")
                   for L in (1, 2, 3) for bi in (False, True)]
        for cell, L, bi in configs:
            embed = rnd.choice([0, 5])
            batch_first = rnd.random() < 0.5
            with self.subTest(cell=cell, layers=L, bi=bi, embed=embed, batch_first=batch_first):
                net = make_module(cell, L, bi, embed, batch_first, bias=rnd.random() < 0.8)
                seqs = [[rnd.randrange(12) for _ in range(rnd.choice([1, 2, 5, 9]))]
                        for _ in range(6)]
                tokens, lengths = padded(seqs, batch_first)
                with torch.no_grad():
                    want = net(tokens, lengths).numpy()
                m = recur.from_torch(net, labels="wxyz")
                self.assertEqual(m.labels, list("wxyz"))
                np.testing.assert_allclose(m.classify(seqs), want, atol=1e-5)
                # ... through a model file, and back into torch.
                p = self.path("m.safetensors")
                m.save(p)
                back = recur.Model.load(p).to_torch()
                tok_tm, _ = padded(seqs)
                with torch.no_grad():
                    np.testing.assert_allclose(back(tok_tm, lengths).numpy(), want, atol=1e-5)
                m.close()

    def test_bare_layers_round_trip(self):
        rng = np.random.default_rng(2)
        for kind in ("RNN", "LSTM", "GRU"):
            t = getattr(torch.nn, kind)(4, 6, num_layers=2, bidirectional=True, batch_first=True)
            r = recur.from_torch(t)
            self.assertIsInstance(r, getattr(recur, kind))
            x = rng.standard_normal((3, 5, 4)).astype(np.float32)
            with torch.no_grad():
                y_t, h_t = t(torch.from_numpy(x))
            y_r, h_r = r(x)
            np.testing.assert_allclose(y_r, y_t.numpy(), atol=1e-5)
            h_t = h_t[0] if kind == "LSTM" else h_t
            h_r = h_r[0] if kind == "LSTM" else h_r
            np.testing.assert_allclose(h_r, h_t.numpy(), atol=1e-5)
            t2 = r.to_torch()
            self.assertTrue(t2.batch_first and t2.bidirectional and t2.num_layers == 2)
            for k, v in t.state_dict().items():
                np.testing.assert_array_equal(t2.state_dict()[k].numpy(), v.numpy())

    def test_text_models_keep_their_vocabulary(self):
        with tiny_model(cell="lstm", layers=2, bidirectional=True, embed=0) as m:
            net = m.to_torch()
            self.assertEqual(net.labels, m.labels)
            m2 = recur.from_torch(net, vocab=net.vocab, labels=net.labels)
            np.testing.assert_allclose(m2.classify(["hello", "abc"]),
                                       m.classify(["hello", "abc"]), atol=1e-6)
        with tiny_model(task="generate", cell="gru", label_embed=3) as g:
            net = g.to_torch()
            ids = [1] + g.encode("abc")
            tok = torch.tensor(ids).reshape(-1, 1)
            with torch.no_grad():
                lp = net(tok, torch.tensor([2]))[-1, 0].numpy()
            r = g.runner()
            buf = (recur.model.c_float * g.config["vocab_size"])()
            r.reset(2)
            for t in ids:
                r.step(t, buf)
            np.testing.assert_allclose(np.frombuffer(buf, np.float32), lp, atol=1e-5)

    def test_modules_recur_cannot_run_are_refused(self):
        nn = torch.nn
        with self.assertRaisesRegex(ValueError, "needs an nn.RNN/LSTM/GRU and an nn.Linear"):
            recur.from_torch(nn.Sequential(nn.Linear(3, 3)))
        with self.assertRaisesRegex(ValueError, "child '1' .LayerNorm. has no recur counterpart"):
            recur.from_torch(nn.Sequential(nn.GRU(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)))
        with self.assertRaisesRegex(ValueError, "the head reads 4 values, the final state has 8"):
            recur.from_torch(nn.Sequential(nn.GRU(3, 4, bidirectional=True), nn.Linear(4, 2)))
        with self.assertRaisesRegex(ValueError, "proj_size"):
            recur.from_torch(nn.LSTM(3, 4, proj_size=2))
        with self.assertRaisesRegex(ValueError, "3 labels for a head of 2"):
            recur.from_torch(nn.Sequential(nn.GRU(3, 4), nn.Linear(4, 2)), labels="abc")
        with self.assertRaisesRegex(ValueError, "2 vocab symbols for 5 ids"):
            recur.from_torch(nn.Sequential(nn.Embedding(5, 3), nn.GRU(3, 4), nn.Linear(4, 2)),
                             vocab="ab")


if __name__ == "__main__":
    unittest.main()


@needs_torch
class ImportCommandTest(TempDir):
    """recur import: a plain state_dict (PyTorch names, no metadata) -> a model."""

    def test_state_dicts_import_with_the_same_outputs(self):
        from common import recur_cli, save_state_dict
        torch.manual_seed(3)
        for cell, L, bi, embed in (("lstm", 1, False, 6), ("gru", 2, True, 0),
                                   ("rnn_relu", 2, False, 5)):
            with self.subTest(cell=cell, L=L, bi=bi, embed=embed):
                net = make_module(cell, L, bi, embed, batch_first=False)
                sd = {k: v.numpy() for k, v in net.state_dict().items()}
                src, dst = self.path("sd.safetensors"), self.path("m.safetensors")
                save_state_dict(sd, src)
                args = ["import", src, "-o", dst, "--vocab", "abcdefghij", "--labels", "p,q,r,s"]
                if cell == "rnn_relu":
                    args += ["--cell", "rnn_relu"]
                r = recur_cli(*args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("-> " + dst, r.stdout)
                with recur.Model.load(dst) as m:
                    self.assertEqual(m.labels, list("pqrs"))
                    self.assertEqual((m.config["cell"], m.config["layers"]), (cell, L))
                    texts = ["abc", "j", "hgfedcba"]
                    tokens, lengths = padded([m.encode(t) for t in texts])
                    with torch.no_grad():
                        want = net(tokens, lengths).numpy()
                    np.testing.assert_allclose(m.classify(texts), want, atol=1e-5)
                    self.assertEqual(m.get_meta("imported_from"), src)

    def test_state_dicts_that_do_not_fit_are_one_line(self):
        from common import recur_cli, save_state_dict
        net = make_module("lstm", 1, False, 6, batch_first=False)
        sd = {k: v.numpy() for k, v in net.state_dict().items()}
        src, dst = self.path("sd.safetensors"), self.path("m.safetensors")
        cases = [
            (dict(sd), ["--vocab", "abc"], "embedding \"emb.weight\" has 12 rows, the vocabulary 5"),
            (dict(sd), ["--vocab", "abcdefghij", "--cell", "gru"], "4 gates, a gru has 3"),
            (dict(sd), ["--vocab", "abcdefghij", "--hidden", "9"], "the flags say otherwise"),
            (dict(sd), ["--vocab", "abcdefghij", "--labels", "a,b"], "2 labels given, the head has 4"),
            (dict(sd), [], "give the vocabulary once"),
            ({k: v for k, v in sd.items() if not k.startswith("fc.")}, ["--vocab", "abcdefghij"],
             "no linear head"),
            (dict(sd, **{"norm.scale": np.ones(3, np.float32)}), ["--vocab", "abcdefghij"],
             "tensor \"norm.scale\" has no place"),
            ({k: v for k, v in sd.items() if k != "lstm.bias_hh_l0"}, ["--vocab", "abcdefghij"],
             "lstm.bias_hh_l0"),
        ]
        for tensors, flags, message in cases:
            with self.subTest(message=message):
                save_state_dict(tensors, src)
                r = recur_cli("import", src, "-o", dst, *flags)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(message, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertFalse(os.path.exists(dst))
