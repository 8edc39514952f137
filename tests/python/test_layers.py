"""recur.RNN/LSTM/GRU and Model.classify on NumPy arrays: shapes, dtypes,
memory layouts, and outputs and gradients against torch autograd."""
import unittest

from common import needs_numpy, needs_torch, np, recur, tiny_model, torch

CELLS = [("RNN", dict(nonlinearity="tanh")), ("RNN", dict(nonlinearity="relu")),
         ("LSTM", {}), ("GRU", {})]


@needs_numpy
class ArrayRulesTest(unittest.TestCase):
    def test_classify_gives_a_float32_array(self):
        with tiny_model() as m:
            lp = m.classify(["abc", "hello", m.encode("xyz")])
            self.assertEqual((lp.shape, lp.dtype), ((3, 3), np.float32))
            np.testing.assert_allclose(np.exp(lp).sum(1), 1, rtol=1e-5)
            np.testing.assert_allclose(m.classify("abc")[0], lp[0], rtol=1e-5)
            self.assertEqual(m.classify([]).shape, (0, 3))

    def test_shapes_and_dtypes_are_checked(self):
        with recur.GRU(3, 4, num_layers=2) as g:
            x = np.zeros((5, 2, 3), np.float32)
            with self.assertRaisesRegex(ValueError, r"x has shape \[5, 2, 4\], expected \[T, B, 3\]"):
                g(np.zeros((5, 2, 4), np.float32))
            with self.assertRaisesRegex(TypeError, "floating-point"):
                g(np.zeros((5, 2, 3), np.int64))
            with self.assertRaisesRegex(TypeError, "lengths must be integers"):
                g(x, lengths=[1.5, 2.0])
            with self.assertRaisesRegex(ValueError, "lengths has 3 entries"):
                g(x, lengths=[1, 2, 3])
            with self.assertRaisesRegex(recur.ArgumentError, "length 6 > T = 5"):
                g(x, lengths=[6, 1])
            with self.assertRaisesRegex(ValueError, r"h0 has shape \[2, 2\], expected \[2, 2, 4\]"):
                g(x, h0=np.zeros((2, 2)))
            with self.assertRaisesRegex(ValueError, "c0 is for an LSTM"):
                g(x, c0=np.zeros((2, 2, 4)))
            with self.assertRaisesRegex(ValueError, "forward.train=True"):
                g.backward()
            g(x, train=True)
            with self.assertRaisesRegex(ValueError, r"dy has shape \[5, 2, 3\]"):
                g.backward(dy=np.zeros((5, 2, 3)))

    def test_other_dtypes_and_layouts_are_copied(self):
        with recur.LSTM(3, 4) as l:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((2, 6, 3))  # float64, and made non-contiguous below
            y32, _ = l(np.ascontiguousarray(x[:, ::2].transpose(1, 0, 2), np.float32))
            y, (h, c) = l(x[:, ::2].transpose(1, 0, 2), lengths=np.array([3, 3], np.int64))
            np.testing.assert_array_equal(y, y32)
            self.assertTrue(y.flags.c_contiguous and y.dtype == np.float32)

    def test_parameters_are_views(self):
        with recur.RNN(2, 3) as r:
            p = r.parameters
            self.assertEqual(sorted(p), ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0",
                                         "weight_ih_l0"])
            self.assertEqual(p["weight_ih_l0"].shape, (3, 2))
            x = np.ones((1, 1, 2), np.float32)
            for v in p.values():
                v[...] = 0
            p["bias_ih_l0"][...] = [0.5, -0.5, 0]
            y, _ = r(x)
            np.testing.assert_allclose(y[0, 0], np.tanh([0.5, -0.5, 0]), rtol=1e-6)
            w = r.parameters["weight_hh_l0"]
        del r
        w[...] = 1  # the view keeps the layer's memory alive

    def test_unbatched_and_batch_first(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((4, 2, 3)).astype(np.float32)
        with recur.GRU(3, 5, bidirectional=True) as g, \
                recur.GRU(3, 5, bidirectional=True, batch_first=True) as gb:
            gb.load_state_dict(g.state_dict())
            y, h = g(x, lengths=[4, 2])
            yb, hb = gb(x.transpose(1, 0, 2), lengths=[4, 2])
            np.testing.assert_array_equal(yb, y.transpose(1, 0, 2))
            np.testing.assert_array_equal(hb, h)
            y1, h1 = g(x[:, 1])
            self.assertEqual((y1.shape, h1.shape), ((4, 10), (2, 5)))
            np.testing.assert_allclose(y1, g(x[:, 1:2])[0][:, 0], rtol=1e-6)


def _torch_layer(kind, kw, I, H, L, bi, batch_first=False):
    return getattr(torch.nn, kind)(I, H, num_layers=L, bidirectional=bi,
                                   batch_first=batch_first, **kw)


@needs_torch
class TorchLayerParityTest(unittest.TestCase):
    def test_forward_and_gradients_match_autograd(self):
        rng = np.random.default_rng(5)
        torch.manual_seed(5)
        for kind, kw in CELLS:
            for L in (1, 2):
                for bi in (False, True):
                    for batch_first in (False, True):
                        with self.subTest(kind=kind, kw=kw, L=L, bi=bi, bf=batch_first):
                            self._check(rng, kind, kw, L, bi, batch_first)

    def _check(self, rng, kind, kw, L, bi, batch_first):
        T, B, I, H = 6, 4, 3, 5
        D = 2 if bi else 1
        tl = _torch_layer(kind, kw, I, H, L, bi, batch_first).double()
        rl = recur.from_torch(tl.float())
        tl.double()
        lengths = np.array(rng.permutation([T, 1, 3, T - 1]))
        x = rng.standard_normal((T, B, I))
        h0 = rng.standard_normal((L * D, B, H)) * 0.5
        c0 = rng.standard_normal((L * D, B, H)) * 0.5
        lstm = kind == "LSTM"
        xt = torch.tensor(x.transpose(1, 0, 2) if batch_first else x, requires_grad=True)
        h0t = torch.tensor(h0, requires_grad=True)
        c0t = torch.tensor(c0, requires_grad=True)
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                         batch_first=batch_first,
                                                         enforce_sorted=False)
        out, hn = tl(packed, (h0t, c0t) if lstm else h0t)
        yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                       total_length=T)
        # A loss that weighs every output and final state differently.
        wy = torch.tensor(rng.standard_normal(yt.shape))
        wh = torch.tensor(rng.standard_normal((L * D, B, H)))
        hn_t, cn_t = hn if lstm else (hn, None)
        loss = (yt * wy).sum() + (hn_t * wh).sum()
        if lstm:
            wc = torch.tensor(rng.standard_normal((L * D, B, H)))
            loss = loss + (cn_t * wc).sum()
        loss.backward()

        xr = x.transpose(1, 0, 2) if batch_first else x
        y, st = rl.forward(xr, lengths, h0, c0 if lstm else None, train=True)
        hn_r, cn_r = st if lstm else (st, None)
        np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-5)
        np.testing.assert_allclose(hn_r, hn_t.detach().numpy(), atol=1e-5)
        if lstm:
            np.testing.assert_allclose(cn_r, cn_t.detach().numpy(), atol=1e-5)
        rl.zero_grad()
        dx, dst = rl.backward(wy.numpy(), wh.numpy(), wc.numpy() if lstm else None)
        dh0, dc0 = dst if lstm else (dst, None)
        tol = dict(atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
        np.testing.assert_allclose(dh0, h0t.grad.numpy(), **tol)
        if lstm:
            np.testing.assert_allclose(dc0, c0t.grad.numpy(), **tol)
        for name, p in tl.named_parameters():
            np.testing.assert_allclose(rl.grads[name], p.grad.numpy(), err_msg=name, **tol)
        rl.close()


if __name__ == "__main__":
    unittest.main()
