/* One line per test suite: SUITE(unit) for tests_<unit> in test_<unit>.c. */
SUITE(core)
SUITE(gradcheck)
