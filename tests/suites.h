/* One line per test suite: SUITE(unit) for tests_<unit> in test_<unit>.c. */
SUITE(core)
SUITE(gradcheck)
SUITE(parity)
SUITE(text)
SUITE(dataset)
SUITE(safetensors)
SUITE(optim)
SUITE(model)
