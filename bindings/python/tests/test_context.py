import threading
import time

import pytest

import strapto
from strapto import errors


def test_version_and_library():
    assert strapto.version() == "0.1.0"
    assert strapto.library_path


def test_context_manager_and_threads():
    with strapto.Context(threads=3) as ctx:
        assert ctx.threads == 3
        assert not ctx.closed
    assert ctx.closed
    ctx.close()  # idempotent
    with pytest.raises(errors.ClosedError) as ei:
        ctx.bus.publish("x")
    assert ei.value.code == errors.ECLOSED
    assert ei.value.strerror == strapto.strerror(errors.ECLOSED)


def test_post_runs_on_loop_thread(ctx):
    done = threading.Event()
    seen = {}

    def task():
        seen["thread"] = threading.current_thread()
        done.set()
    ctx.post(task)
    assert done.wait(5)
    assert seen["thread"] is not threading.main_thread()


def test_close_from_callback_is_refused_and_logged(ctx, caplog):
    done = threading.Event()

    def task():
        try:
            ctx.close()
        finally:
            done.set()
    ctx.post(task)
    assert done.wait(5)
    time.sleep(0.05)
    assert not ctx.closed
    assert any("callback" in r.getMessage() for r in caplog.records)


def test_error_carries_code_and_message():
    e = errors.error(errors.ETOOBIG, "strapto_dc_send")
    assert isinstance(e, errors.TooBigError) and isinstance(e, strapto.StraptoError)
    assert e.code == -9 and e.call == "strapto_dc_send"
    assert e.strerror in str(e)
    with pytest.raises(strapto.StraptoError):
        errors.check(-1, "x")
    assert errors.check(5) == 5


def test_invalid_log_level():
    with pytest.raises(errors.InvalidArgumentError):
        strapto.set_log_level("loud")
    old = strapto.get_log_level()
    strapto.set_log_level("error")
    assert strapto.get_log_level() == strapto.LOG_ERROR
    strapto.set_log_level(old)
