import os
import pathlib
import sys

import pytest

ICE = [a for a in os.environ.get("STRAPTO_ICE_ADDRESSES", "127.0.0.1").split(",") if a]

# the repository's aiortc patches (test/interop/aiortc_patch.py) when the
# tests run from a checkout; a minimal address pin otherwise
_interop = pathlib.Path(__file__).resolve().parents[3] / "test" / "interop"
if (_interop / "aiortc_patch.py").exists() and str(_interop) not in sys.path:
    sys.path.append(str(_interop))


def pin_aiortc():
    try:
        import aiortc_patch
        return aiortc_patch.apply(ICE)
    except ImportError:

        import aioice.ice

        def get_host_addresses(use_ipv4, use_ipv6):
            return [a for a in ICE if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]
        aioice.ice.get_host_addresses = get_host_addresses
        return ICE


@pytest.fixture
def ctx():
    import strapto
    with strapto.Context(threads=2) as c:
        yield c


@pytest.fixture
def ice():
    return ICE
