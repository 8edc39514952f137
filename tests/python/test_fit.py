"""recur.fit: librecur's training driver from Python (no NumPy needed)."""
import os
import random
import unittest

from common import TempDir, recur


def last_letter_data(n, seed):
    """Texts whose label is their last letter: learnable in a few epochs."""
    rnd = random.Random(seed)
    data = []
    for _ in range(n):
        end = rnd.choice("xyz")
        data.append(("".join(rnd.choice("abcdefgh") for _ in range(rnd.randint(2, 7))) + end,
                     "ends-" + end))
    return data


class FitTest(TempDir):
    def test_fit_reaches_95_percent_and_reports_history(self):
        steps = []
        m, h = recur.fit(last_letter_data(900, 1), valid=0.2, epochs=4, hidden=16, embed=8,
                         batch=16, lr=0.01, progress=steps.append,
                         model_path=self.path("best.safetensors"))
        with m:
            self.assertEqual(h["epoch"], [1, 2, 3, 4])
            self.assertGreaterEqual(max(h["valid_accuracy"]), 0.95, h)
            self.assertLess(h["train_loss"][-1], h["train_loss"][0])
            self.assertEqual(m.labels, ["ends-x", "ends-y", "ends-z"])
            self.assertEqual(m.predict("abcx", top=1)[0][0], "ends-x")
            self.assertTrue(os.path.exists(self.path("best.safetensors")))
            self.assertTrue(steps and steps[-1]["done"] == steps[-1]["total"])
            self.assertEqual({s["epoch"] for s in steps}, {1, 2, 3, 4})
            # Held-out data of its own: it scores the same as the model says.
            test = last_letter_data(200, 2)
            hits = sum(p[0][0] == l for p, (_, l) in zip(m.predict([t for t, _ in test], top=1),
                                                        test))
            self.assertGreaterEqual(hits / len(test), 0.9)

    def test_data_forms_and_stopping(self):
        pairs = last_letter_data(200, 3)
        as_dict = {}
        for t, l in pairs:
            as_dict.setdefault(l, []).append(t)
        seen = []
        m, h = recur.fit(as_dict, valid=pairs[:30], epochs=5, hidden=8, embed=4, progress=False,
                         on_epoch=lambda e: seen.append(e["epoch"]) or e["epoch"] < 2)
        self.assertEqual(h["epoch"], [1, 2])
        self.assertEqual(seen, [1, 2])
        m.close()
        m, h = recur.fit(([t for t, _ in pairs], [l for _, l in pairs]), epochs=1, hidden=8,
                         cell="gru", bidirectional=True, progress=False)
        self.assertEqual(m.config["cell"], "gru")
        self.assertTrue(m.config["bidirectional"])
        m.close()

    def test_errors_in_callbacks_and_options(self):
        pairs = last_letter_data(100, 4)

        def boom(_):
            raise RuntimeError("from the callback")
        with self.assertRaisesRegex(RuntimeError, "from the callback"):
            recur.fit(pairs, epochs=2, hidden=8, progress=boom)
        with self.assertRaisesRegex(TypeError, "unexpected options: hiden"):
            recur.fit(pairs, hiden=8)
        with self.assertRaisesRegex(recur.ArgumentError, "optim"):
            recur.fit(pairs, optim="lbfgs")
        with self.assertRaisesRegex(recur.ArgumentError, "not in the training data: other"):
            recur.fit(pairs, valid=[("abc", "other")], progress=False)
        with self.assertRaisesRegex(recur.ArgumentError, "epochs 0"):
            recur.fit(pairs, epochs=0, progress=False)
        with self.assertRaises(recur.FileError):
            recur.fit(self.path("no-such-folder"))

    def test_a_folder_of_label_files(self):
        folder = self.path("data")
        os.mkdir(folder)
        by = {}
        for t, l in last_letter_data(300, 5):
            by.setdefault(l, []).append(t)
        for l, texts in by.items():
            with open(os.path.join(folder, l + ".txt"), "w", encoding="utf-8") as f:
                f.write("\n".join(texts) + "\n")
        m, h = recur.fit(folder, epochs=2, hidden=8, embed=4, progress=False)
        self.assertEqual(sorted(m.labels), sorted(by))
        self.assertEqual(len(h["valid_loss"]), 2)
        m.close()


if __name__ == "__main__":
    unittest.main()
