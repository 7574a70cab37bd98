"""The lifecycle state machine: the happy paths, every guard with the rule it names, roles as data, and an
exhaustive check that no action runs from a status its table does not list."""

from __future__ import annotations

from datetime import date
from typing import get_args

import pytest

from certseal.errors import Forbidden, ValidationError
from certseal.licenses.lifecycle import (
    TRANSITIONS,
    Action,
    ActorRole,
    Effects,
    IllegalTransition,
    LicenseState,
    Status,
    TransitionContext,
    apply,
    available_actions,
    may_perform,
    renewal_window,
    role_token,
    roles_for,
)
from certseal.licenses.schema import ActionName, Family, LicenseType, RoleToken, builtin_registry

PRODUCTION = builtin_registry().get("drug-production")
PHARMACIST = builtin_registry().get("pharmacist-registration")
DISTRIBUTION = builtin_registry().get("drug-distribution")
DEVICE = builtin_registry().get("medical-device-production")
OFFICER = ActorRole.OFFICER_PROVINCE.value


def ctx(today: date, **kwargs: object) -> TransitionContext:
    return TransitionContext(today=today, **kwargs)  # type: ignore[arg-type]


def issued(valid_until: date, version: int = 1, number: str = "鄂20260001") -> LicenseState:
    return LicenseState(Status.ISSUED, version, number, date(2021, 1, 1), date(2021, 1, 1), valid_until)


def refused(license_type: LicenseType, action: Action, state: LicenseState, context: TransitionContext) -> str:
    with pytest.raises(IllegalTransition) as caught:
        apply(license_type, action, state, context)
    assert isinstance(caught.value, ValidationError)
    assert caught.value.action is action and caught.value.status is state.status
    return f"{caught.value.field}: {caught.value.rule}"


def test_vocabulary_matches_the_type_file_schema() -> None:
    assert {a.value for a in Action} == set(get_args(ActionName))
    assert {r.value for r in ActorRole} == set(get_args(RoleToken))


def test_drug_production_from_draft_to_cancellation() -> None:
    day = date(2026, 1, 5)  # a Monday
    state = LicenseState()
    state = apply(PRODUCTION, Action.CREATE, state, ctx(day, actor_role="enterprise-user")).after
    assert state.status is Status.DRAFT
    state = apply(PRODUCTION, Action.EDIT, state, ctx(day, actor_role="enterprise-user")).after
    state = apply(PRODUCTION, Action.SUBMIT, state, ctx(day, actor_role="enterprise-user")).after
    assert state.status is Status.SUBMITTED
    state = apply(
        PRODUCTION,
        Action.APPROVE,
        state,
        ctx(day, actor_role=OFFICER, confirmed=frozenset({"on_site_inspection_passed"})),
    ).after
    assert state.status is Status.APPROVED

    issue = apply(PRODUCTION, Action.ISSUE, state, ctx(day, actor_role=OFFICER))
    assert issue.to_status is Status.ISSUED
    assert issue.after.version == 1
    assert (issue.after.issued_on, issue.after.valid_from, issue.after.valid_until) == (day, day, date(2031, 1, 4))
    assert issue.effects == Effects(
        new_version=True,
        assign_number=True,
        keep_number=False,
        render=True,
        publish=True,
        report_national_by=date(2026, 1, 12),  # 5 working days (NMPA 2025 No. 35)
    )
    state = LicenseState(Status.ISSUED, 1, "鄂20260001", day, day, date(2031, 1, 4))  # the service assigned the number

    change_day = date(2027, 3, 1)
    change = apply(
        PRODUCTION,
        Action.CHANGE,
        state,
        ctx(change_day, actor_role=OFFICER, changed_fields=frozenset({"production_sites", "quality_head"})),
    )
    assert change.after.number == "鄂20260001" and change.after.version == 2
    assert change.after.valid_until == date(2031, 1, 4) and change.after.issued_on == change_day
    assert change.effects.keep_number and change.effects.supersede_previous and change.effects.render
    assert not change.effects.assign_number
    assert change.audit["changed_fields"] == ["production_sites", "quality_head"]

    renew = apply(PRODUCTION, Action.RENEW, change.after, ctx(date(2030, 7, 1), actor_role=OFFICER))
    assert renew.after.number == "鄂20260001" and renew.after.version == 3
    assert (renew.after.valid_from, renew.after.valid_until) == (date(2031, 1, 5), date(2036, 1, 4))
    assert renew.effects.keep_number and renew.effects.supersede_previous

    today = date(2031, 6, 1)
    suspended = apply(PRODUCTION, Action.SUSPEND, renew.after, ctx(today, actor_role=OFFICER, reason="GMP 检查不符合"))
    assert suspended.to_status is Status.SUSPENDED and suspended.effects == Effects(publish=True)
    resumed = apply(PRODUCTION, Action.RESUME, suspended.after, ctx(today, actor_role=OFFICER))
    assert resumed.to_status is Status.ISSUED
    revoked = apply(
        PRODUCTION, Action.REVOKE, resumed.after, ctx(today, actor_role=OFFICER, reason="《药品管理法》第一百二十六条")
    )
    cancelled = apply(
        PRODUCTION, Action.CANCEL, revoked.after, ctx(today, actor_role=OFFICER, ground="license_revoked")
    )
    assert cancelled.to_status is Status.CANCELLED
    assert cancelled.audit == {
        "type": "drug-production",
        "action": "cancel",
        "from": "revoked",
        "to": "cancelled",
        "version": 3,
        "number": "鄂20260001",
        "valid_until": "2036-01-04",
        "actor_role": OFFICER,
        "on": "2031-06-01",
        "ground": "license_revoked",
        "ground_label": "许可证依法被撤销、撤回或者吊销",
    }
    assert available_actions(PRODUCTION, Status.CANCELLED) == []


def test_illegal_transition_names_the_allowed_statuses() -> None:
    rule = refused(PRODUCTION, Action.ISSUE, LicenseState(Status.DRAFT), ctx(date(2026, 1, 5)))
    assert rule == "status: cannot issue a 药品生产许可证 that is draft: only from approved"
    rule = refused(PRODUCTION, Action.CREATE, issued(date(2030, 1, 1)), ctx(date(2026, 1, 5)))
    assert rule == "status: cannot create a 药品生产许可证 that is issued: only from (none)"


@pytest.mark.parametrize("family", list(Family))
def test_no_action_runs_from_a_status_outside_its_table(family: Family) -> None:
    license_type = PRODUCTION if family is Family.ENTERPRISE else PHARMACIST
    for action in Action:
        sources, _ = TRANSITIONS[family][action]
        for status in [None, *Status]:
            if status in sources:
                continue
            with pytest.raises(IllegalTransition) as caught:
                apply(
                    license_type,
                    action,
                    LicenseState(status, 1, "n", None, None, date(2030, 1, 1)),
                    ctx(date(2026, 1, 1)),
                )
            assert caught.value.field == "status"


def test_terminal_statuses() -> None:
    for status in (Status.CANCELLED, Status.REJECTED, Status.WITHDRAWN):
        assert available_actions(PRODUCTION, status) == []
    assert available_actions(PRODUCTION, Status.REVOKED) == [Action.CANCEL]
    assert available_actions(PHARMACIST, Status.EXPIRED) == [Action.RENEW, Action.CANCEL]


def test_applications_return_reject_withdraw() -> None:
    submitted = LicenseState(Status.SUBMITTED)
    today = date(2026, 1, 5)
    assert (
        refused(PRODUCTION, Action.RETURN, submitted, ctx(today))
        == "reason: returning for correction a 药品生产许可证 needs a reason"
    )
    back = apply(PRODUCTION, Action.RETURN, submitted, ctx(today, reason="缺少车间平面图"))
    assert back.to_status is Status.DRAFT and back.audit["reason"] == "缺少车间平面图"
    rule = refused(PHARMACIST, Action.REJECT, submitted, ctx(today, ground="late"))
    assert rule.startswith(
        "ground: a refusal ground of the 执业药师注册证 is required ('late' is not one): lacks_legal_capacity"
    )
    rejected = apply(PHARMACIST, Action.REJECT, submitted, ctx(today, ground="recent_criminal_sentence"))
    assert rejected.to_status is Status.REJECTED and rejected.audit["ground_label"] == "刑罚执行完毕不满三年"
    assert apply(PHARMACIST, Action.WITHDRAW, submitted, ctx(today)).to_status is Status.WITHDRAWN


def test_first_registration_needs_every_prerequisite() -> None:
    submitted = LicenseState(Status.SUBMITTED)
    today = date(2026, 1, 5)
    partial = frozenset({"qualification_certificate", "no_bad_conduct_record", "fit_for_work"})
    rule = refused(PHARMACIST, Action.APPROVE, submitted, ctx(today, confirmed=partial))
    assert rule == (
        "confirmed: approve needs these confirmed first: 经执业单位同意 (employer_consent); "
        "按规定完成继续教育学习 (continuing_education_complete)"
    )
    everything = partial | {"employer_consent", "continuing_education_complete"}
    approved = apply(PHARMACIST, Action.APPROVE, submitted, ctx(today, confirmed=everything))
    assert approved.to_status is Status.APPROVED


def test_pharmacist_issue_needs_the_external_number_and_production_refuses_one() -> None:
    approved = LicenseState(Status.APPROVED)
    today = date(2026, 1, 5)
    assert refused(PHARMACIST, Action.ISSUE, approved, ctx(today)).startswith(
        "number: 执业药师注册证 numbers are assigned elsewhere"
    )
    done = apply(PHARMACIST, Action.ISSUE, approved, ctx(today, number="42201903000123"))
    assert done.after.number == "42201903000123" and not done.effects.assign_number
    assert done.effects.report_national_by is None
    assert refused(PRODUCTION, Action.ISSUE, approved, ctx(today, number="鄂20269999")).startswith(
        "number: 药品生产许可证 numbers are generated from '{province}{year:4}{seq:4}'"
    )


def test_pharmacist_renewal_window_is_30_days() -> None:
    state = issued(date(2026, 6, 30))
    assert renewal_window(PHARMACIST, date(2026, 6, 30)) == (None, date(2026, 5, 31))
    confirmed = frozenset({"continuing_education_complete", "employer_consent"})
    rule = refused(PHARMACIST, Action.RENEW, state, ctx(date(2026, 6, 1), confirmed=confirmed))
    assert rule == (
        "applied_on: renewal of the 执业药师注册证 must be applied for at least 30 days before expiry (2026-05-31); "
        "applied on 2026-06-01"
    )
    renewed = apply(PHARMACIST, Action.RENEW, state, ctx(date(2026, 5, 31), confirmed=confirmed))
    assert renewed.after.valid_until == date(2031, 6, 30)
    assert refused(PHARMACIST, Action.RENEW, state, ctx(date(2026, 5, 1))).startswith("confirmed: renew needs")


def test_renewal_decided_after_expiry_on_a_timely_application() -> None:
    expired = LicenseState(Status.EXPIRED, 1, "X1", None, None, date(2026, 6, 30))
    confirmed = frozenset({"continuing_education_complete", "employer_consent"})
    late_decision = ctx(date(2026, 7, 10), applied_on=date(2026, 5, 20), confirmed=confirmed)
    renewed = apply(PHARMACIST, Action.RENEW, expired, late_decision)
    assert renewed.to_status is Status.ISSUED and renewed.after.valid_from == date(2026, 7, 1)
    assert renewed.audit["applied_on"] == "2026-05-20"
    assert refused(PHARMACIST, Action.RENEW, expired, ctx(date(2026, 7, 10), confirmed=confirmed)).startswith(
        "applied_on: renewal of the 执业药师注册证 must be applied for at least 30 days"
    )


def test_drug_production_renewal_six_months() -> None:
    state = issued(date(2031, 1, 4))
    assert renewal_window(PRODUCTION, date(2031, 1, 4)) == (None, date(2030, 7, 4))
    apply(PRODUCTION, Action.RENEW, state, ctx(date(2030, 7, 4)))
    assert refused(PRODUCTION, Action.RENEW, state, ctx(date(2030, 7, 5))).endswith(
        "at least 6 months before expiry (2030-07-04); applied on 2030-07-05"
    )


def test_windows_that_open_and_close() -> None:
    # distribution: between 6 and 2 months before expiry (unconfirmed, from the type file)
    state = issued(date(2031, 1, 4))
    assert renewal_window(DISTRIBUTION, date(2031, 1, 4)) == (date(2030, 7, 4), date(2030, 11, 4))
    assert "opens 6 months before expiry (2030-07-04)" in refused(
        DISTRIBUTION, Action.RENEW, state, ctx(date(2030, 7, 3))
    )
    apply(DISTRIBUTION, Action.RENEW, state, ctx(date(2030, 7, 4)))
    # device: between 90 and 30 working days (Monday–Friday) before expiry
    earliest, latest = renewal_window(DEVICE, date(2031, 1, 3))  # a Friday
    assert latest == date(2030, 11, 22) and earliest == date(2030, 8, 30)


def test_change_rules() -> None:
    state = issued(date(2030, 5, 31), number="42201903000123")
    today = date(2026, 3, 2)
    consent = frozenset({"employer_consent"})
    ok = apply(PHARMACIST, Action.CHANGE, state, ctx(today, changed_fields=frozenset({"employer"}), confirmed=consent))
    assert ok.after.number == "42201903000123" and ok.after.version == 2
    rule = refused(
        PHARMACIST, Action.CHANGE, state, ctx(today, changed_fields=frozenset({"mobile"}), confirmed=consent)
    )
    assert rule == (
        "changed_fields: a change of the 执业药师注册证 covers only 执业地区, 执业类别, 执业范围, 执业单位, "
        "执业单位统一社会信用代码; not 手机号码 (mobile)"
    )
    rule = refused(PHARMACIST, Action.CHANGE, state, ctx(today, changed_fields=frozenset({"certificate_number"})))
    assert rule == "changed_fields: 注册证编号 (certificate_number) cannot be changed by a change of the 执业药师注册证"
    assert refused(PRODUCTION, Action.CHANGE, state, ctx(today, changed_fields=frozenset({"uscc"}))).startswith(
        "changed_fields: 统一社会信用代码 (uscc) cannot be changed"
    )
    assert (
        refused(PRODUCTION, Action.CHANGE, state, ctx(today))
        == "changed_fields: a change must name the fields it changes"
    )
    assert refused(PHARMACIST, Action.CHANGE, state, ctx(today, changed_fields=frozenset({"employer"}))).startswith(
        "confirmed: change needs these confirmed first: 经新执业单位同意"
    )
    late = ctx(date(2030, 6, 1), changed_fields=frozenset({"employer"}), confirmed=consent)
    assert refused(PHARMACIST, Action.CHANGE, state, late) == (
        "status: the 执业药师注册证 expired on 2030-05-31: expire, renew or cancel it instead"
    )


def test_cancellation_grounds() -> None:
    today = date(2026, 3, 2)
    live = issued(date(2030, 5, 31))
    rule = refused(PHARMACIST, Action.CANCEL, live, ctx(today))
    assert rule.startswith(
        "ground: a cancellation ground of the 执业药师注册证 is required (none given): expired_not_renewed"
    )
    assert refused(PHARMACIST, Action.CANCEL, live, ctx(today, ground="expired_not_renewed")) == (
        "ground: 注册有效期满未延续 applies only to an expired 执业药师注册证 (valid until 2030-05-31)"
    )
    assert refused(PHARMACIST, Action.CANCEL, live, ctx(today, ground="certificate_revoked")) == (
        "ground: 注册证被依法撤销或者吊销 applies only to a revoked 执业药师注册证"
    )
    for ground in ("own_request", "death_or_missing", "incapacity", "criminal_penalty"):
        assert apply(PHARMACIST, Action.CANCEL, live, ctx(today, ground=ground)).to_status is Status.CANCELLED
    expired = LicenseState(Status.EXPIRED, 1, "X", None, None, date(2026, 1, 1))
    assert (
        apply(PHARMACIST, Action.CANCEL, expired, ctx(today, ground="expired_not_renewed")).to_status
        is Status.CANCELLED
    )
    revoked = LicenseState(Status.REVOKED, 1, "X", None, None, date(2030, 1, 1))
    assert refused(PHARMACIST, Action.CANCEL, revoked, ctx(today, ground="own_request")) == (
        "ground: a revoked 执业药师注册证 is cancelled only on the ground "
        "注册证被依法撤销或者吊销 (certificate_revoked)"
    )


def test_suspend_resume_revoke_expire() -> None:
    state = issued(date(2026, 6, 30))
    assert refused(PRODUCTION, Action.SUSPEND, state, ctx(date(2026, 3, 1))) == (
        "reason: suspending a 药品生产许可证 needs a reason"
    )
    assert (
        refused(PRODUCTION, Action.REVOKE, state, ctx(date(2026, 3, 1)))
        == "reason: revoking a 药品生产许可证 needs a reason"
    )
    suspended = LicenseState(Status.SUSPENDED, 1, "X", None, None, date(2026, 6, 30))
    assert refused(PRODUCTION, Action.RESUME, suspended, ctx(date(2026, 7, 1))).startswith(
        "status: the 药品生产许可证 expired on 2026-06-30"
    )
    assert refused(PRODUCTION, Action.EXPIRE, state, ctx(date(2026, 6, 30))) == (
        "status: the 药品生产许可证 is valid until 2026-06-30; it cannot expire on 2026-06-30"
    )
    expired = apply(PRODUCTION, Action.EXPIRE, suspended, ctx(date(2026, 7, 1), actor_role="system"))
    assert expired.to_status is Status.EXPIRED and expired.effects.publish and not expired.effects.new_version


def test_import_of_legacy_licenses() -> None:
    today = date(2026, 3, 2)
    current = apply(
        PRODUCTION,
        Action.IMPORT,
        LicenseState(),
        ctx(today, number="鄂Ha20050005", valid_from=date(2022, 1, 1), valid_until=date(2026, 12, 31)),
    )
    assert current.to_status is Status.ISSUED and current.after.number == "鄂Ha20050005"
    assert current.effects.keep_number and not current.effects.assign_number and not current.effects.render
    old = apply(
        PRODUCTION, Action.IMPORT, LicenseState(), ctx(today, number="鄂Ha20000001", valid_until=date(2005, 1, 1))
    )
    assert old.to_status is Status.EXPIRED
    assert refused(PRODUCTION, Action.IMPORT, LicenseState(), ctx(today, valid_until=today)).startswith("number:")
    assert refused(PRODUCTION, Action.IMPORT, LicenseState(), ctx(today, number="X")).startswith("valid_until:")


def test_roles_are_data() -> None:
    submitted = LicenseState(Status.SUBMITTED)
    today = date(2026, 1, 5)
    with pytest.raises(Forbidden, match="role enterprise-user may not approve a 药品生产许可证"):
        apply(PRODUCTION, Action.APPROVE, submitted, ctx(today, actor_role="enterprise-user"))
    with pytest.raises(Forbidden):
        apply(PRODUCTION, Action.APPROVE, submitted, ctx(today, actor_role="licensing-officer:city"))
    # retail distribution licenses are decided at city/county level (override in the type file)
    assert apply(
        DISTRIBUTION, Action.APPROVE, submitted, ctx(today, actor_role="licensing-officer:county")
    ).after.status
    assert may_perform(PRODUCTION, Action.CREATE, "enterprise-user")
    assert not may_perform(PRODUCTION, Action.CREATE, "pharmacist")
    assert may_perform(PHARMACIST, Action.CREATE, "pharmacist")
    assert may_perform(PRODUCTION, Action.EXPIRE, "system")
    assert not any(may_perform(PRODUCTION, action, "auditor") for action in Action)
    assert roles_for(PRODUCTION, Action.ISSUE) == {"provincial-admin", "licensing-officer:province"}


def test_bare_role_in_a_type_file_admits_every_level() -> None:
    document = PRODUCTION.document.model_copy(
        update={
            "lifecycle": PRODUCTION.document.lifecycle.model_copy(update={"roles": {"approve": ["licensing-officer"]}})
        }
    )
    adjusted = LicenseType(document)
    assert may_perform(adjusted, Action.APPROVE, "licensing-officer:county")
    assert not may_perform(adjusted, Action.APPROVE, "provincial-admin")


def test_role_tokens_from_a_data_scope() -> None:
    assert role_token("licensing-officer", "420000") == "licensing-officer:province"
    assert role_token("licensing-officer", "420100") == "licensing-officer:city"
    assert role_token("licensing-officer", "420111") == "licensing-officer:county"
    assert role_token("provincial-admin", "420000") == "provincial-admin"
