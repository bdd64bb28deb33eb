"""Feishu's signature, checked against the published vectors (reference/feishu.md §6)."""

from monitor.notify.feishu import sign


def test_the_official_vector() -> None:
    assert sign(1599360473, "demo") == "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="


def test_the_other_public_vectors() -> None:
    assert sign("100", "demo") == "jquNHnVOwmDRfw+vqTIrY5dooJAgi5EcRtLsQE4wfXg="
    assert sign(1700000000, "test-secret") == "mbm4Y4oluIPQ00qlBIhX8vAZ0EKv3nw0LuTb91jPL84="


def test_it_is_not_dingtalks_algorithm() -> None:
    assert sign(1599360473, "demo") != "DkEDUyVoOOJ539qBvUgMyzkzIdRWlf4e/V3Rq+ONJnQ="
