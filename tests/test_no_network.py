import socket

import pytest


@pytest.mark.probes_network
def test_tests_cannot_reach_the_network():
    with pytest.raises(Exception):
        socket.create_connection(("93.184.216.34", 80), timeout=2)
