"""`admission`: a plugin id is claimed by one Plugin; what a deleted Plugin's removal takes."""

from __future__ import annotations

import pytest

from plugin_operator import admission

UID = "uid-mine"


def _claim(uid: str | None, *, removed: bool = False, owner_exists: bool = True) -> admission.Claim:
    return admission.Claim(uid=uid, removed=removed, owner="team/other", version="3.0.0", owner_exists=owner_exists)


@pytest.mark.parametrize(
    ("claim", "verdict", "reason"),
    [
        (None, admission.Verdict.GO, ""),
        (_claim(UID), admission.Verdict.GO, ""),
        (_claim(None), admission.Verdict.GO, ""),
        (_claim("uid-other", removed=True), admission.Verdict.GO, ""),
        (_claim("uid-other", owner_exists=False), admission.Verdict.GO, "StaleClaim"),
        (_claim("uid-other"), admission.Verdict.FAIL, "Conflict"),
    ],
    ids=["unclaimed", "claimed-by-itself", "row-without-uid", "claimant-removed", "claimant-gone", "rival"],
)
def test_a_plugin_id_is_claimed_by_one_plugin(
    claim: admission.Claim | None, verdict: admission.Verdict, reason: str
) -> None:
    ruling = admission.admit_claim("prom", UID, claim)

    assert (ruling.verdict, ruling.reason) == (verdict, reason)
    assert admission.rival(claim, UID) is (reason in ("StaleClaim", "Conflict"))
    if verdict is admission.Verdict.FAIL:
        assert "team/other" in ruling.message and "3.0.0" in ruling.message and "spec.pluginId" in ruling.message


@pytest.mark.parametrize(
    ("claim", "action"),
    [
        (None, admission.Removal.STOP),
        (_claim("uid-other"), admission.Removal.STOP),
        (_claim("uid-other", removed=True), admission.Removal.STOP),
        (_claim(UID), admission.Removal.DEREGISTER),
        (_claim(UID, removed=True), admission.Removal.DONE),
    ],
    ids=["never-claimed", "a-rivals-id", "a-removed-rivals-id", "its-own", "already-removed"],
)
def test_a_removal_deregisters_only_what_the_plugin_owns_and_only_once(
    claim: admission.Claim | None, action: admission.Removal
) -> None:
    assert admission.removal(UID, claim) is action
