// Shared test helpers (linked into every unit test as loupe_testing).
#ifndef LOUPE_TESTING_TESTING_H_
#define LOUPE_TESTING_TESTING_H_
#endif  // LOUPE_TESTING_TESTING_H_
