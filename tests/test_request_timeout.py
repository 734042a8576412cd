"""Every plain API request is bounded: a server that accepts the connection and never answers fails the
call within the read timeout instead of hanging the test (fixtures.kube.BoundedApiClient)."""
import socket
import threading
import time

import pytest
import urllib3

from kubernetes import client

from fixtures import kube


def test_a_silent_api_server_fails_a_request_within_the_read_timeout(monkeypatch):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    held = []
    threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
    monkeypatch.setattr(kube, "REQUEST_TIMEOUT", (1, 1))
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{srv.getsockname()[1]}"
    cfg.retries = 0
    api = client.CoreV1Api(kube.BoundedApiClient(cfg))
    t0 = time.monotonic()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as failed:  # retries=0: the first timeout ends it
        api.list_namespace()
    assert isinstance(failed.value.reason, urllib3.exceptions.ReadTimeoutError), failed.value
    assert time.monotonic() - t0 < 5
    srv.close()
