"""Object names and label values: DNS-1035, at most 63 characters, deterministic, distinct for distinct inputs."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin_operator import models, naming

DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")

# Plugin names are DNS-1123 subdomains (up to 253 characters); versions follow the PluginSpec pattern.
CR_NAMES = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?){0,4}\Z")
VERSIONS = st.from_regex(models._VERSION_PATTERN.replace("^", r"\A").replace("$", r"\Z"))

LONG_NAME = "a-very-long-plugin-name-that-a-platform-team-chose-for-its-prometheus-adapter"
CASES = [
    ("prometheus-adapter", "1.4.2"),
    ("prometheus-adapter", "1.4.2+build_7"),
    ("prometheus-adapter", "1.4.2_build+7"),
    ("prometheus-adapter", "1-4-2"),
    ("prometheus-adapter", "1.4.2-rc.1"),
    ("prometheus-adapter", "V1.4.2"),
    ("prometheus-adapter", "1.4.2."),
    ("9-lives", "1.0.0"),
    ("team.prometheus", "1.0.0"),
    ("team-prometheus", "1.0.0"),
    (LONG_NAME, "1.0.0"),
    (LONG_NAME + "-x", "1.0.0"),
    (LONG_NAME, "2024.10.31+" + "b" * 40),
    ("p", "9" * 63),
]


def _all(names: naming.Names) -> list[str]:
    return [names.deployment, names.configmap, names.service, names.network_policy]


@pytest.mark.parametrize(("cr_name", "version"), CASES)
def test_names_are_dns_1035_labels(cr_name: str, version: str) -> None:
    for name in _all(naming.names(cr_name, version)):
        assert len(name) <= 63, name
        assert DNS_1035_LABEL.fullmatch(name), name


def test_names_stay_readable() -> None:
    names = naming.names("prometheus-adapter", "1.4.2")

    assert re.fullmatch(r"prometheus-adapter-1-4-2-[0-9a-f]{8}", names.deployment)
    assert names.configmap == names.deployment + "-config"
    assert names.service == names.network_policy == "prometheus-adapter"


def test_versions_differing_only_in_punctuation_get_distinct_objects() -> None:
    deployments = {naming.names(cr, version).deployment for cr, version in CASES if cr == "prometheus-adapter"}

    assert len(deployments) == 7


def test_plugin_and_version_boundaries_cannot_be_confused() -> None:
    assert naming.names("prom-1", "0").deployment != naming.names("prom", "1.0").deployment
    assert naming.names("prom-v1", "0").configmap != naming.names("prom", "v1.0").configmap


def test_plugins_differing_only_in_punctuation_get_distinct_services() -> None:
    assert naming.names("team.prometheus", "1").service != naming.names("team-prometheus", "1").service


def test_truncated_names_keep_their_kind_suffix_and_stay_distinct() -> None:
    first, second = naming.names(LONG_NAME, "1.0.0"), naming.names(LONG_NAME + "-x", "1.0.0")

    assert first.configmap.endswith("-config") and len(first.configmap) == 63
    assert first.deployment != second.deployment and first.service != second.service


@settings(max_examples=300, deadline=None)
@given(cr_name=CR_NAMES, version=VERSIONS)
def test_any_plugin_name_and_version_give_valid_stable_names(cr_name: str, version: str) -> None:
    names = naming.names(cr_name, version)

    assert names == naming.names(cr_name, version)
    for name in _all(names):
        assert len(name) <= 63 and DNS_1035_LABEL.fullmatch(name), (cr_name, version, name)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(CR_NAMES, VERSIONS), min_size=2, max_size=6, unique=True))
def test_distinct_plugin_versions_never_share_a_deployment(pairs: list[tuple[str, str]]) -> None:
    rendered = [naming.names(cr_name, version) for cr_name, version in pairs]

    for a, b in itertools.combinations(rendered, 2):
        assert a.deployment != b.deployment and a.configmap != b.configmap


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("1.4.2", True),
        ("prometheus-adapter", True),
        ("team.prometheus", True),
        ("1.4.2+build", False),
        ("x" * 64, False),
        ("1.", False),
    ],
)
def test_label_values_are_valid_and_kept_when_possible(text: str, kept: bool) -> None:
    value = naming.label_value(text)

    assert len(value) <= 63 and LABEL_VALUE.fullmatch(value)
    assert (value == text) is kept


@settings(max_examples=300, deadline=None)
@given(a=VERSIONS, b=VERSIONS)
def test_label_values_of_distinct_versions_differ(a: str, b: str) -> None:
    assert (naming.label_value(a) == naming.label_value(b)) is (a == b)
