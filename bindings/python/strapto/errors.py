"""Exceptions carrying the library's error code and message."""
from ._lib import lib

OK = 0
EINVAL = -1
ENOMEM = -2
ESTATE = -3
EPARSE = -4
EIO = -5
ETIMEDOUT = -6
ECLOSED = -7
EAGAIN = -8
ETOOBIG = -9
ENOTFOUND = -10
EUNSUPPORTED = -11
ECRYPTO = -12
ELIMIT = -13
EINTERNAL = -14


def strerror(code):
    """The library's static name for an error code (strapto_strerror)."""
    return lib.strapto_strerror(int(code)).decode("utf-8", "replace")


class StraptoError(Exception):
    """A libstrapto call failed. `code` is the negative STRAPTO_E* code,
    `strerror` the library's message for it, `call` the C function."""

    def __init__(self, code, call=None, detail=None):
        self.code = int(code)
        self.strerror = strerror(self.code)
        self.call = call
        self.detail = detail
        msg = self.strerror
        if call:
            msg = "%s: %s" % (call, msg)
        if detail:
            msg = "%s (%s)" % (msg, detail)
        msg += " [%d]" % self.code
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.code, self.call, self.detail))


class InvalidArgumentError(StraptoError, ValueError):
    pass


class OutOfMemoryError(StraptoError, MemoryError):
    pass


class StateError(StraptoError):
    pass


class ParseError(StraptoError, ValueError):
    pass


class IOFailure(StraptoError):
    pass


class TimeoutFailure(StraptoError):
    pass


class ClosedError(StraptoError):
    pass


class WouldBlockError(StraptoError):
    pass


class TooBigError(StraptoError, ValueError):
    pass


class NotFoundError(StraptoError, LookupError):
    pass


class UnsupportedError(StraptoError):
    pass


class CryptoError(StraptoError):
    pass


class LimitError(StraptoError):
    pass


class InternalError(StraptoError):
    pass


_BY_CODE = {
    EINVAL: InvalidArgumentError, ENOMEM: OutOfMemoryError, ESTATE: StateError, EPARSE: ParseError,
    EIO: IOFailure, ETIMEDOUT: TimeoutFailure, ECLOSED: ClosedError, EAGAIN: WouldBlockError,
    ETOOBIG: TooBigError, ENOTFOUND: NotFoundError, EUNSUPPORTED: UnsupportedError, ECRYPTO: CryptoError,
    ELIMIT: LimitError, EINTERNAL: InternalError,
}


def error(code, call=None, detail=None):
    """The exception (not raised) for a negative code."""
    return _BY_CODE.get(int(code), StraptoError)(code, call, detail)


def check(rc, call=None, detail=None):
    """Raise for a negative return code; return rc otherwise."""
    if rc < 0:
        raise error(rc, call, detail)
    return rc
