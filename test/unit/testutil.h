/* Tiny assertion helpers for the C unit tests. A failed check prints where
 * and why and makes the test exit 1 at the end (or at once with REQUIRE). */
#ifndef STRAPTO_TESTUTIL_H
#define STRAPTO_TESTUTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tu_failures;
static int tu_checks;

#define CHECK(cond) do { tu_checks++; if (!(cond)) { tu_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); tu_checks++; \
    if (_a != _b) { tu_failures++; fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
    __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); tu_checks++; \
    if (!_a || !_b || strcmp(_a, _b)) { tu_failures++; fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", \
    __FILE__, __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)
#define REQUIRE(cond) do { tu_checks++; if (!(cond)) { \
    fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)
#define TEST_DONE() do { fprintf(stderr, "%d checks, %d failed\n", tu_checks, tu_failures); \
    return tu_failures ? 1 : 0; } while (0)

#endif
