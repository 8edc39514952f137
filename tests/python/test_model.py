"""recur.Model without NumPy: load, save, labels, config, predict, sample,
and every error path (missing library, wrong files, closed handles)."""
import os
import threading
import unittest

from common import (LABELS, SYMBOLS, TempDir, read_bytes, recur, run_python, tiny_model,
                    write_bytes)


class ModelTest(TempDir):
    def test_save_load_round_trip(self):
        with tiny_model(cell="lstm", layers=2, bidirectional=True) as m:
            m.set_meta("user.note", "from python")
            p = self.path("m.safetensors")
            m.save(p)
            before = m.predict(["abc", "zz"], top=3)
        with recur.Model.load(p) as m2:
            self.assertEqual(m2.labels, LABELS)
            self.assertEqual("".join(m2.vocab), SYMBOLS)
            c = m2.config
            self.assertEqual((c["task"], c["cell"], c["hidden"], c["layers"], c["bidirectional"],
                              c["embed"]), ("classify", "lstm", 8, 2, True, 4))
            self.assertEqual(m2.get_meta("user.note"), "from python")
            self.assertIsNone(m2.get_meta("user.absent"))
            self.assertEqual(m2.predict(["abc", "zz"], top=3), before)

    def test_predict_is_sorted_log_probabilities(self):
        with tiny_model() as m:
            res = m.predict(["hello"], top=5)  # more than the labels: all of them
            self.assertEqual(len(res), 1)
            self.assertEqual(sorted(l for l, _ in res[0]), sorted(LABELS))
            lps = [lp for _, lp in res[0]]
            self.assertEqual(lps, sorted(lps, reverse=True))
            self.assertAlmostEqual(sum(2.718281828459045 ** lp for lp in lps), 1.0, places=5)
            # One string gives one list; token ids give what the text gives.
            self.assertEqual(m.predict("hello", top=2), res[0][:2])
            self.assertEqual(m.predict([m.encode("hello")], top=2), [res[0][:2]])

    def test_many_texts_span_runner_batches(self):
        with tiny_model() as m:
            texts = ["n%s" % SYMBOLS[i % 26] * (1 + i % 7) for i in range(600)]
            res = m.predict(texts, top=1)
            self.assertEqual(len(res), 600)
            self.assertEqual(res[257], m.predict(texts[257], top=1))

    def test_threads_each_get_a_runner(self):
        with tiny_model() as m:
            texts = ["abc", "hello", "xyz"] * 50
            want = m.predict(texts, top=2)
            got, errors = {}, []

            def work(k):
                try:
                    got[k] = m.predict(texts, top=2)
                except Exception as e:  # reported below
                    errors.append(e)
            ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errors, [])
            self.assertTrue(all(got[k] == want for k in range(4)))

    def test_sample_is_repeatable_and_uses_the_vocabulary(self):
        with tiny_model(task="generate", cell="lstm") as g:
            a = g.sample(label="beta", n=5, seed=7, temperature=0.8, max_length=10)
            self.assertEqual(a, g.sample(label=1, n=5, seed=7, temperature=0.8, max_length=10))
            self.assertEqual(len(a), 5)
            for name in a:
                self.assertTrue(1 <= len(name) <= 10 and set(name) <= set(SYMBOLS), name)
            for name in g.sample(n=3, start="qu", seed=1, top_k=3):
                self.assertTrue(name.startswith("qu"))
            with self.assertRaises(recur.ArgumentError):
                g.sample(label="omega")
            with self.assertRaises(recur.ArgumentError):
                g.sample(temperature=0)
            with self.assertRaises(recur.ArgumentError):
                g.sample(start="Q")  # never seen
            with self.assertRaises(recur.ArgumentError):
                g.predict(["abc"])

    def test_wrong_files_raise_recurs_line(self):
        with self.assertRaises(recur.FileError) as e:
            recur.Model.load(self.path("absent.safetensors"))
        self.assertIn("absent.safetensors", str(e.exception))
        self.assertEqual(e.exception.status, "io")
        self.assertIsInstance(e.exception, OSError)
        bad = self.path("bad.safetensors")
        write_bytes(bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
        with self.assertRaises(recur.FormatError) as e:
            recur.Model.load(bad)
        self.assertIn("bad.safetensors", e.exception.message)
        self.assertNotIn("\n", e.exception.message)
        # A model file with one byte flipped fails its checksum.
        good = self.path("good.safetensors")
        with tiny_model() as m:
            m.save(good)
        raw = bytearray(read_bytes(good))
        raw[-3] ^= 0xFF
        write_bytes(bad, bytes(raw))
        with self.assertRaisesRegex(recur.FormatError, "checksum"):
            recur.Model.load(bad)
        with self.assertRaises(recur.FileError):
            tiny_model().save(os.path.join(self.tmp, "no", "such", "dir", "m.safetensors"))

    def test_bad_arguments(self):
        with self.assertRaisesRegex(recur.ArgumentError, "unknown cell"):
            tiny_model(cell="transformer")
        with self.assertRaises(recur.ArgumentError):
            tiny_model(hidden=0)
        with self.assertRaisesRegex(recur.FormatError, "repeats"):
            tiny_model(vocab="abca")
        with self.assertRaises(recur.DataError):
            tiny_model().predict([b"\xff\xfe"])
        m = tiny_model()
        m.close()
        m.close()  # twice is fine
        with self.assertRaisesRegex(recur.ArgumentError, "closed"):
            m.predict(["abc"])
        self.assertIn("closed", repr(m))

    def test_missing_library_is_one_line(self):
        r = run_python("import recur\nrecur.Model.load('x.safetensors')",
                       {"RECUR_LIBRARY": self.path("nope.so")})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("recur.LibraryError: RECUR_LIBRARY=%s: no such file" % self.path("nope.so"),
                      r.stderr)
        not_lib = self.path("fake.so")
        write_bytes(not_lib, b"not an ELF file")
        r = run_python("import recur\nprint(recur.library_version())", {"RECUR_LIBRARY": not_lib})
        self.assertIn("recur.LibraryError: cannot load %s" % not_lib, r.stderr)
        # The package imports, and says where the library is, without using it.
        r = run_python("import recur; print(recur.__version__)",
                       {"RECUR_LIBRARY": self.path("nope.so")})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_layout_mismatch_is_one_line(self):
        # A binding whose recur_model_config is 4 bytes longer than the library's.
        code = ("import ctypes, recur._lib as L\n"
                "class Longer(ctypes.Structure):\n"
                "    _fields_ = L.ModelConfig._fields_ + [('extra', ctypes.c_double)]\n"
                "L._ABI_STRUCTS[4] = Longer\n"
                "import recur\nrecur.library_version()")
        r = run_python(code)
        self.assertNotEqual(r.returncode, 0)
        last = r.stderr.strip().splitlines()[-1]
        self.assertRegex(last, r"^recur.LibraryError: .*librecur.so: librecur 0\.\d+\.\d+: "
                               r"recur_model_config is \d+ bytes, the binding expects \d+")
        r = run_python("import recur._lib as L\nL.ABI_VERSION = (9, 1)\n"
                       "import recur\nrecur.library_version()")
        self.assertIn("does not match the binding, written for version 9.1",
                      r.stderr.strip().splitlines()[-1])

    def test_library_is_the_build_trees(self):
        self.assertTrue(recur.library_path().endswith("librecur.so"))
        self.assertEqual(recur.library_version(), recur.__version__)


if __name__ == "__main__":
    unittest.main()
