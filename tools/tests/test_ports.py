"""Choosing ports for servers to bind later."""

from __future__ import annotations

import socket

import pytest
from ifuno_tools.local.ports import free_ports

pytestmark = pytest.mark.integration


def test_ports_chosen_together_are_all_different_and_free_to_bind() -> None:
    for _ in range(20):
        chosen = free_ports(8)
        assert len(set(chosen)) == 8
        with socket.socket() as first, socket.socket() as last:
            first.bind(("127.0.0.1", chosen[0]))
            last.bind(("127.0.0.1", chosen[-1]))
