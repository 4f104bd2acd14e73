"""The instance identity: a hash of everything rendered for an instance, so every spec change that
alters what runs starts a new instance (through the gate) and nothing else restarts anything."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest

from plugin_operator import desired, models, naming, render
from plugin_operator.runtime_probes import RuntimeProbes
from plugin_operator.settings import OperatorSettings
from plugin_runtime import config, errors

from . import samples


def _instance(changes: dict[str, Any] | None = None, **kwargs: Any) -> desired.Instance:
    return samples.make_instance(samples.make_spec(**(changes or {})), **kwargs)


def test_identity_is_a_stable_sha256_of_the_rendering() -> None:
    reordered = dict(reversed(list(samples.SECRET_VERSIONS.items())))

    assert _instance().identity == _instance(secret_versions=reordered).identity
    assert re.fullmatch(r"[0-9a-f]{64}", _instance().identity)


def test_identity_follows_secret_rotation() -> None:
    rotated = {**samples.SECRET_VERSIONS, "prometheus-basic": "816"}

    assert _instance(secret_versions=rotated).identity != _instance().identity


def test_secret_values_never_enter_the_identity() -> None:
    assert _instance(secrets={"PLUGIN_SECRET_X": "a"}).identity == _instance(secrets={"PLUGIN_SECRET_X": "b"}).identity


CHANGES_THAT_RUN_DIFFERENTLY = {
    "replicas": {"replicas": 5},
    "resources": {"resources": {"limits": {"cpu": "2", "memory": "1Gi"}}},
    "image": {"image": "registry.example.com/custom:1"},
    "egress": {"egress": [{"cidr": "192.168.0.0/16", "ports": [9200]}]},
    "config": {"config": {**samples.SPEC["config"], "base_url": "https://other.example.com"}},
    "version": {"version": "1.4.3"},
    "timeout": {"sandbox": {**samples.SPEC["sandbox"], "timeout": "10s"}},
    "secret-ref-removed": {"secretRefs": samples.SPEC["secretRefs"][:1]},
    "secret-ref-retargeted": {
        "secretRefs": [{**samples.SPEC["secretRefs"][0], "key": "other-key"}, samples.SPEC["secretRefs"][1]]
    },
    "queries": {"queries": samples.SPEC["queries"][:1]},
    "auto-register": {"autoRegister": {"queries": True, "datasources": False}},
}


@pytest.mark.parametrize("changes", CHANGES_THAT_RUN_DIFFERENTLY.values(), ids=CHANGES_THAT_RUN_DIFFERENTLY)
def test_every_change_to_what_runs_is_a_new_instance_with_its_own_objects(changes: dict[str, Any]) -> None:
    before, after = _instance(), _instance(changes)

    assert after.identity != before.identity and after.instance_id != before.instance_id
    assert after.names.deployment != before.names.deployment
    assert after.names.configmap != before.names.configmap
    # The two run side by side: neither selects the other's pods.
    after_selector = render.deployment(after.inputs)["spec"]["selector"]["matchLabels"]
    before_pods = render.deployment(before.inputs)["spec"]["template"]["metadata"]["labels"]
    assert not after_selector.items() <= before_pods.items()


CHANGES_THAT_RUN_THE_SAME = {
    "description": {"description": "something else"},
    "display-name": {"displayName": "Another name"},
    "author": {"author": "Someone"},
    "enabled": {"enabled": False},
    "depends-on": {"dependsOn": ["other-plugin"]},
    "deletion-policy": {"deletionPolicy": "Delete"},
}


@pytest.mark.parametrize("changes", CHANGES_THAT_RUN_THE_SAME.values(), ids=CHANGES_THAT_RUN_THE_SAME)
def test_changes_that_alter_nothing_running_keep_the_instance(changes: dict[str, Any]) -> None:
    before, after = _instance(), _instance(changes)

    assert after.identity == before.identity
    assert after.objects(admin_token="t") == before.objects(admin_token="t")


def test_the_config_is_rendered_enabled_and_unwatched() -> None:
    """Enabling is an admin call, never a rollout; a plugins folder changes only through the operator."""
    [plugin] = _instance({"enabled": False}).runtime_config.plugins

    assert plugin.enabled is True
    assert _instance().runtime_config.watch_interval_seconds is None


FOLDER = {"version": "0.3.0", "contractFormat": "native", "path": "hello-world"}


def test_folder_plugins_mount_the_plugins_image_as_their_plugins_directory() -> None:
    target = desired.Target(
        image="runtime:1", plugins_dir=render.PLUGINS_DIR, plugins_image="plugins:7", kubernetes=True
    )
    instance = samples.make_instance(models.PluginSpec.model_validate(FOLDER), cr_name="hello", target=target)
    pod = render.deployment(instance.inputs)["spec"]["template"]["spec"]

    assert instance.runtime_config.plugins_dir == render.PLUGINS_DIR
    assert {"name": "plugins", "image": {"reference": "plugins:7", "pullPolicy": "IfNotPresent"}} in pod["volumes"]
    assert {"name": "plugins", "mountPath": render.PLUGINS_DIR, "readOnly": True} in pod["containers"][0][
        "volumeMounts"
    ]
    newer = desired.Target(
        image="runtime:1", plugins_dir=render.PLUGINS_DIR, plugins_image="plugins:8", kubernetes=True
    )
    rebuilt = samples.make_instance(models.PluginSpec.model_validate(FOLDER), cr_name="hello", target=newer)
    assert rebuilt.identity != instance.identity  # new plugin code rolls out through the gate


def test_adapter_plugins_get_no_plugins_volume() -> None:
    target = desired.Target(
        image="runtime:1", plugins_dir=render.PLUGINS_DIR, plugins_image="plugins:7", kubernetes=True
    )
    pod = render.deployment(samples.make_instance(target=target).inputs)["spec"]["template"]["spec"]

    assert [volume["name"] for volume in pod["volumes"]] == ["config", "tmp"]


def test_a_folder_plugin_without_a_plugins_image_is_refused_in_kubernetes() -> None:
    target = desired.Target(image="runtime:1", kubernetes=True)

    with pytest.raises(errors.InvalidInput, match="PLUGIN_OPERATOR_PLUGINS_IMAGE"):
        samples.make_instance(models.PluginSpec.model_validate(FOLDER), cr_name="hello", target=target)


def test_locally_a_folder_plugin_reads_the_operators_plugins_directory() -> None:
    instance = samples.make_instance(
        models.PluginSpec.model_validate(FOLDER),
        cr_name="hello",
        target=desired.Target(image="x", plugins_dir="/srv/plugins"),
    )

    assert instance.runtime_config.plugins_dir == "/srv/plugins"


def test_target_follows_the_operator_settings() -> None:
    kubernetes = desired.target(OperatorSettings(plugins_image="plugins:1", default_image="rt:1"))
    without_image = desired.target(OperatorSettings(default_image="rt:1"))

    assert (kubernetes.plugins_dir, kubernetes.plugins_image, kubernetes.image, kubernetes.kubernetes) == (
        render.PLUGINS_DIR,
        "plugins:1",
        "rt:1",
        True,
    )
    assert (without_image.plugins_dir, without_image.plugins_image, without_image.kubernetes) == (None, None, True)


QUICK_PROBES = RuntimeProbes(
    liveness_period_seconds=2, liveness_failure_threshold=4, readiness_period_seconds=3, readiness_failure_threshold=5
)


def _probes(instance: desired.Instance) -> dict[str, tuple[int, int]]:
    [container] = render.deployment(instance.inputs)["spec"]["template"]["spec"]["containers"]
    return {
        kind: (container[kind]["periodSeconds"], container[kind]["failureThreshold"])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }


def test_the_operators_probe_settings_reach_the_runtime_pods(validate: Callable[[dict[str, Any]], None]) -> None:
    instance = samples.make_instance(target=desired.target(OperatorSettings(runtime_probes=QUICK_PROBES)))

    assert _probes(instance) == {"startupProbe": (2, 30), "livenessProbe": (2, 4), "readinessProbe": (3, 5)}
    validate(render.deployment(instance.inputs))
    default = samples.make_instance(target=desired.target(OperatorSettings()))
    assert _probes(default) == {"startupProbe": (2, 30), "livenessProbe": (10, 3), "readinessProbe": (5, 2)}


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(RuntimeProbes)])
def test_changing_a_probe_setting_rolls_the_runtime_like_any_template_change(field: str) -> None:
    """The timings are part of the pod template, so of the identity: a new instance, through the gate."""
    before = samples.make_instance(target=desired.target(OperatorSettings()))
    changed = dataclasses.replace(RuntimeProbes(), **{field: getattr(QUICK_PROBES, field)})
    after = samples.make_instance(target=desired.target(OperatorSettings(runtime_probes=changed)))

    assert after.identity != before.identity and after.instance_id != before.instance_id
    assert after.names.deployment != before.names.deployment
    # Nothing else about the instance changed: the same config, only the pod template's probes.
    assert after.runtime_config == before.runtime_config
    assert _probes(after) != _probes(before)


def test_runtime_auth_settings_reach_the_config_and_the_identity() -> None:
    jwt = config.IncomingAuth(mode="jwt", jwks_url="https://issuer.example/jwks")
    target = desired.Target(image=samples.TARGET.image, auth=jwt, kubernetes=True)

    assert samples.make_instance(target=target).runtime_config.auth == jwt
    assert samples.make_instance(target=target).identity != _instance().identity


def test_instance_ids_name_the_version_and_the_identity() -> None:
    instance = _instance()

    assert instance.instance_id == f"1.4.2-{instance.identity[:10]}"
    assert naming.INSTANCE_LABEL in render.deployment(instance.inputs)["spec"]["selector"]["matchLabels"]
