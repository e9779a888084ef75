"""The operator's API client skips aiohttp's per-request proxy and netrc lookups when
nothing in the environment could change where a request goes (issue 11: CPU per run)."""

from __future__ import annotations

from pathlib import Path

from kubernetes_asyncio.client import ApiClient, Configuration

from runwright.kube.client import env_settings_apply, without_env_lookups


def test_no_proxy_variable_and_no_netrc_means_nothing_to_look_up(tmp_path: Path) -> None:
    assert not env_settings_apply({"HOME": str(tmp_path), "no_proxy": ""}, tmp_path)


def test_a_proxy_variable_in_either_case_keeps_the_lookups(tmp_path: Path) -> None:
    assert env_settings_apply({"HTTPS_PROXY": "http://proxy:3128"}, tmp_path)
    assert env_settings_apply({"all_proxy": "socks5://p:1080"}, tmp_path)


def test_a_netrc_file_keeps_the_lookups(tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine api login u password p\n")
    assert env_settings_apply({}, tmp_path)
    assert env_settings_apply({"NETRC": "/etc/netrc"}, tmp_path / "none")


async def test_the_session_stops_trusting_the_environment() -> None:
    api = ApiClient(Configuration(host="https://127.0.0.1:1"))
    session = api.rest_client.pool_manager
    assert session.trust_env  # kubernetes_asyncio's default: look up every request
    without_env_lookups(api)
    assert not session.trust_env
    await api.close()
