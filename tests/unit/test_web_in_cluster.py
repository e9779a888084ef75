"""In a pod the server knows where the API server is from its address and CA only: no token is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwright.web import ClusterAccess, Identity

ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def test_the_api_server_comes_from_the_service_env_and_the_mounted_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    access = ClusterAccess.in_cluster(ENV, ca)
    assert not access.kubeconfig_identity
    with pytest.raises(PermissionError, match="no token"):
        access.client(Identity(None))
    ipv6 = ClusterAccess.in_cluster({**ENV, "KUBERNETES_SERVICE_HOST": "fd00::1"}, ca)
    assert ipv6._base.host == "https://[fd00::1]:443"
    assert access._base.host == "https://10.96.0.1:443"
    assert access._base.ssl_ca_cert == str(ca)
    assert not access._base.api_key, "no token of the pod's own"


def test_outside_a_cluster_or_without_the_ca_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="--cluster-kubeconfig FILE"):
        ClusterAccess.in_cluster({}, tmp_path / "ca.crt")
    with pytest.raises(RuntimeError, match=r"kube-root-ca\.crt"):
        ClusterAccess.in_cluster(ENV, tmp_path / "ca.crt")
