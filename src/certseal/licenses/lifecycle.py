"""The license lifecycle as an explicit state machine: statuses, actions, transitions per type family, guards, roles.

States (`Status`): draft → submitted → approved → issued → suspended → revoked / cancelled / expired, plus
returned-to-draft, rejected and withdrawn applications. A change (变更) or renewal (延续/重新发证) of an issued
license is an action that keeps it `issued` and makes a new version: "changed" and "renewed" are kinds of version
(`Transition.action`), not statuses, so a changed license can be changed again, suspended or renewed.

``apply(license_type, action, current, context) -> Transition`` checks, in order, that the action exists for the
type's family from the current status, that the actor's role may perform it (if `context.actor_role` is given;
raises `Forbidden`), and the action's guard, then returns the new `LicenseState`, the `Effects` the service must carry
out (new version? keep or assign the number? render and seal again? supersede the previous version? publish so the
QR code shows current data? report to the national module by when?) and an audit record (a plain dict for
``uow.record``). An illegal transition raises `IllegalTransition` (a `ValidationError`) naming the rule.

Guards, with their parameters from the type's JSON:

- return needs a reason (withdraw records one if given); reject needs a refusal ground of the type (or a reason
  if it lists none);
- approve, renew, change need every confirmation listed for the action (``lifecycle.confirmations``), e.g. the five
  prerequisites of a pharmacist's first registration; `context.confirmed` holds the confirmed codes;
- issue: numbers are generated (`Effects.assign_number`) or, for ``number.mode = external``, supplied in
  `context.number`; validity from `context.today` to ``validity_end``;
- change: not after expiry; `context.changed_fields` must be changeable (``change.changeable_fields`` /
  ``locked_fields``; the number and the validity dates never are); the number is kept (``change.keep_number``);
- renew: the application (`context.applied_on`, default today) must fall in the window ``renewal.opens`` …
  ``renewal.apply_by`` before expiry (pharmacist: at least 30 days; drug production: at least 6 months); allowed
  from `expired` too when the application was in time; the new validity follows the previous expiry;
- suspend / revoke need a reason; resume refuses a license that expired meanwhile;
- cancel needs a cancellation ground of the type; grounds marked ``"when": "expired"`` need an expired license and
  ``"when": "revoked"`` a revoked one (the only ground that cancels a revoked license);
- expire only after the validity end; import (legacy data) needs the number and the validity end and lands in
  `issued` or, if already past, `expired`.

Roles (who may perform what) are data: the family defaults below, replaced per action by ``lifecycle.roles`` in the
type's JSON. Tokens: ``provincial-admin``, ``licensing-officer`` (any level) or ``licensing-officer:province|city|
county``, ``auditor`` (reads only, no action), ``enterprise-user``, ``pharmacist``, ``system`` (scheduled jobs).
The access-control layer maps a principal to its token (`role_token`) and enforces them; `may_perform` answers.

All dates come from `context.today`; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, get_args

from certseal.errors import Forbidden, NotFound, ValidationError
from certseal.licenses.numbering import import_number
from certseal.licenses.schema import ActionName, Family, Ground, LicenseType, RoleToken


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ISSUED = "issued"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Action(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    RETURN = "return"
    REJECT = "reject"
    APPROVE = "approve"
    ISSUE = "issue"
    IMPORT = "import"
    CHANGE = "change"
    RENEW = "renew"
    SUSPEND = "suspend"
    RESUME = "resume"
    REVOKE = "revoke"
    CANCEL = "cancel"
    EXPIRE = "expire"


class ActorRole(StrEnum):
    PROVINCIAL_ADMIN = "provincial-admin"
    LICENSING_OFFICER = "licensing-officer"
    OFFICER_PROVINCE = "licensing-officer:province"
    OFFICER_CITY = "licensing-officer:city"
    OFFICER_COUNTY = "licensing-officer:county"
    AUDITOR = "auditor"
    ENTERPRISE_USER = "enterprise-user"
    PHARMACIST = "pharmacist"
    SYSTEM = "system"


if {a.value for a in Action} != set(get_args(ActionName)) or {r.value for r in ActorRole} != set(get_args(RoleToken)):
    raise RuntimeError("schema.ActionName/RoleToken and lifecycle.Action/ActorRole must name the same values")

# A status of None means "no license yet" (before create or import).
From = frozenset[Status | None]
LIVE: From = frozenset({Status.ISSUED, Status.SUSPENDED})

_BASE_TRANSITIONS: dict[Action, tuple[From, Status | None]] = {
    # action: (allowed current statuses, next status; None = decided by the guard)
    Action.CREATE: (frozenset({None}), Status.DRAFT),
    Action.EDIT: (frozenset({Status.DRAFT}), Status.DRAFT),
    Action.SUBMIT: (frozenset({Status.DRAFT}), Status.SUBMITTED),
    Action.WITHDRAW: (frozenset({Status.DRAFT, Status.SUBMITTED}), Status.WITHDRAWN),
    Action.RETURN: (frozenset({Status.SUBMITTED}), Status.DRAFT),
    Action.REJECT: (frozenset({Status.SUBMITTED}), Status.REJECTED),
    Action.APPROVE: (frozenset({Status.SUBMITTED}), Status.APPROVED),
    Action.ISSUE: (frozenset({Status.APPROVED}), Status.ISSUED),
    Action.IMPORT: (frozenset({None}), None),
    Action.CHANGE: (frozenset({Status.ISSUED}), Status.ISSUED),
    Action.RENEW: (frozenset({Status.ISSUED, Status.EXPIRED}), Status.ISSUED),
    Action.SUSPEND: (frozenset({Status.ISSUED}), Status.SUSPENDED),
    Action.RESUME: (frozenset({Status.SUSPENDED}), Status.ISSUED),
    Action.REVOKE: (LIVE, Status.REVOKED),
    Action.CANCEL: (frozenset({Status.ISSUED, Status.SUSPENDED, Status.EXPIRED, Status.REVOKED}), Status.CANCELLED),
    Action.EXPIRE: (LIVE, Status.EXPIRED),
}
TRANSITIONS: dict[Family, dict[Action, tuple[From, Status | None]]] = {
    Family.ENTERPRISE: dict(_BASE_TRANSITIONS),
    Family.PHARMACIST: dict(_BASE_TRANSITIONS),
}

_APPLICANTS_BASE = (
    ActorRole.PROVINCIAL_ADMIN,
    ActorRole.OFFICER_PROVINCE,
    ActorRole.OFFICER_CITY,
    ActorRole.OFFICER_COUNTY,
)
_DECIDERS = frozenset({ActorRole.PROVINCIAL_ADMIN, ActorRole.OFFICER_PROVINCE})


def _default_roles(applicant: ActorRole) -> dict[Action, frozenset[str]]:
    applicants = frozenset({applicant, *_APPLICANTS_BASE})
    roles: dict[Action, frozenset[str]] = {a: frozenset(_DECIDERS) for a in Action}
    roles.update({a: applicants for a in (Action.CREATE, Action.EDIT, Action.SUBMIT, Action.WITHDRAW)})
    roles[Action.EXPIRE] = frozenset({ActorRole.SYSTEM, ActorRole.PROVINCIAL_ADMIN})
    return roles


DEFAULT_ROLES: dict[Family, dict[Action, frozenset[str]]] = {
    Family.ENTERPRISE: _default_roles(ActorRole.ENTERPRISE_USER),
    Family.PHARMACIST: _default_roles(ActorRole.PHARMACIST),
}


class IllegalTransition(ValidationError):
    """The action is not allowed now; `rule` says which rule forbids it (maps to HTTP 422 / exit 2)."""

    def __init__(self, action: Action, status: Status | None, field: str, rule: str) -> None:
        super().__init__(field, rule)
        self.action = action
        self.status = status


@dataclass(frozen=True)
class LicenseState:
    """What the lifecycle needs to know of a license (status None = it does not exist yet)."""

    status: Status | None = None
    version: int = 0
    number: str | None = None
    issued_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class TransitionContext:
    """Inputs of one action: `today` always; the rest as the action needs (see the module docstring)."""

    today: date
    actor_role: str | None = None
    reason: str | None = None
    ground: str | None = None
    confirmed: frozenset[str] = frozenset()
    changed_fields: frozenset[str] = frozenset()
    applied_on: date | None = None
    number: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class Effects:
    """What the service must do after the transition."""

    new_version: bool = False  # store a new version (every earlier one stays viewable)
    assign_number: bool = False  # allocate a number from the type's pattern (numbering.allocate_number)
    keep_number: bool = True  # the new version carries the previous number
    render: bool = False  # render 正本/副本 again and seal them
    supersede_previous: bool = False  # mark the previous version superseded
    publish: bool = False  # update the public record the QR code resolves to
    report_national_by: date | None = None  # send to the national module by this date


@dataclass(frozen=True)
class Transition:
    action: Action
    before: LicenseState
    after: LicenseState
    effects: Effects
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def from_status(self) -> Status | None:
        return self.before.status

    @property
    def to_status(self) -> Status:
        assert self.after.status is not None
        return self.after.status


# ---------------------------------------------------------------------------------------------------------------
# Roles


def roles_for(license_type: LicenseType, action: Action) -> frozenset[str]:
    """Role tokens allowed to perform `action` on this type (the type's override or the family default)."""
    override = license_type.document.lifecycle.roles.get(action.value)
    if override is not None:
        return frozenset(override)
    return DEFAULT_ROLES[license_type.family][action]


def may_perform(license_type: LicenseType, action: Action, role: str) -> bool:
    """True if the role token (e.g. ``licensing-officer:city``) may perform the action; a bare role in the allowed
    set (``licensing-officer``) admits every level."""
    allowed = roles_for(license_type, action)
    return role in allowed or role.split(":", 1)[0] in allowed


def role_token(role: str, division_code: str | None = None) -> str:
    """The token of a licensing officer whose data scope is a 6-digit division code (420000 province, 420100 city,
    420111 county); other roles are their own token."""
    if role != ActorRole.LICENSING_OFFICER or not division_code:
        return role
    if division_code.endswith("0000"):
        return ActorRole.OFFICER_PROVINCE.value
    return (ActorRole.OFFICER_CITY if division_code.endswith("00") else ActorRole.OFFICER_COUNTY).value


# ---------------------------------------------------------------------------------------------------------------
# The machine


def available_actions(license_type: LicenseType, status: Status | None) -> list[Action]:
    """Actions whose transition starts from `status` (guards not evaluated): for menus and API hints."""
    table = TRANSITIONS[license_type.family]
    return [action for action, (sources, _) in table.items() if status in sources]


def renewal_window(license_type: LicenseType, valid_until: date) -> tuple[date | None, date | None]:
    """(earliest, latest) application dates for renewing a license valid until `valid_until` (None = open end)."""
    renewal = license_type.document.renewal
    earliest = renewal.opens.before(valid_until) if renewal.opens else None
    latest = renewal.apply_by.before(valid_until) if renewal.apply_by else valid_until
    return earliest, latest


def apply(license_type: LicenseType, action: Action, current: LicenseState, context: TransitionContext) -> Transition:
    """Check and perform one lifecycle action; see the module docstring for every rule."""
    table = TRANSITIONS[license_type.family]
    sources, target = table[action]
    if current.status not in sources:
        allowed = ", ".join(sorted("(none)" if s is None else s.value for s in sources))
        raise IllegalTransition(
            action,
            current.status,
            "status",
            f"cannot {action.value} a {license_type.name} that is {current.status or '(none)'}: only from {allowed}",
        )
    if context.actor_role is not None and not may_perform(license_type, action, context.actor_role):
        raise Forbidden(
            f"role {context.actor_role} may not {action.value} a {license_type.name}; "
            f"allowed: {', '.join(sorted(roles_for(license_type, action)))}"
        )
    guard = _GUARDS.get(action, _no_guard)
    after, effects, notes = guard(_Step(license_type, action, current, context, target))
    audit = _audit_record(license_type, action, current, after, context, notes)
    return Transition(action, current, after, effects, audit)


@dataclass(frozen=True)
class _Step:
    license_type: LicenseType
    action: Action
    current: LicenseState
    context: TransitionContext
    target: Status | None

    def refuse(self, field: str, rule: str) -> IllegalTransition:
        return IllegalTransition(self.action, self.current.status, field, rule)

    def moved(self, **changes: Any) -> LicenseState:
        return replace(self.current, status=changes.pop("status", self.target), **changes)

    @property
    def name(self) -> str:
        return self.license_type.name

    def need_reason(self, what: str) -> str:
        reason = (self.context.reason or "").strip()
        if not reason:
            raise self.refuse("reason", f"{what} a {self.name} needs a reason")
        return reason

    def need_confirmations(self) -> None:
        required = self.license_type.document.lifecycle.confirmations.get(self.action.value, [])
        missing = [c for c in required if c.code not in self.context.confirmed]
        if missing:
            listed = "; ".join(f"{c.label} ({c.code})" for c in missing)
            raise self.refuse("confirmed", f"{self.action.value} needs these confirmed first: {listed}")

    def not_expired(self) -> None:
        until = self.current.valid_until
        if until is not None and self.context.today > until:
            raise self.refuse("status", f"the {self.name} expired on {until}: expire, renew or cancel it instead")

    def report_by(self) -> date | None:
        days = self.license_type.document.lifecycle.national_report_working_days
        if days is None:
            return None
        day, left = self.context.today, days
        while left:
            day += timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        return day


_Outcome = tuple[LicenseState, Effects, dict[str, Any]]


def _no_guard(step: _Step) -> _Outcome:
    return step.moved(), Effects(), {"reason": step.context.reason}


def _return(step: _Step) -> _Outcome:
    return step.moved(), Effects(), {"reason": step.need_reason("returning for correction")}


def _reject(step: _Step) -> _Outcome:
    grounds = step.license_type.document.lifecycle.refusal_grounds
    if not grounds:
        return step.moved(), Effects(), {"reason": step.need_reason("rejecting")}
    ground = _find_ground(step, grounds, "refusal")
    return step.moved(), Effects(), {"ground": ground.code, "ground_label": ground.label, "reason": step.context.reason}


def _approve(step: _Step) -> _Outcome:
    step.need_confirmations()
    return step.moved(), Effects(), {"confirmed": sorted(step.context.confirmed)}


def _issue(step: _Step) -> _Outcome:
    spec = step.license_type.document.number
    number: str | None = None
    if spec.mode == "external":
        if not step.context.number:
            raise step.refuse("number", f"{step.name} numbers are assigned elsewhere: supply the number to issue")
        number = import_number(step.context.number).value
    elif step.context.number:
        raise step.refuse("number", f"{step.name} numbers are generated from {spec.pattern!r}; do not supply one")
    today = step.context.today
    after = step.moved(
        version=1, number=number, issued_on=today, valid_from=today, valid_until=step.license_type.validity_end(today)
    )
    effects = Effects(
        new_version=True,
        assign_number=number is None,
        keep_number=False,
        render=True,
        publish=True,
        report_national_by=step.report_by(),
    )
    return after, effects, {}


def _import(step: _Step) -> _Outcome:
    context = step.context
    if not context.number:
        raise step.refuse("number", "importing a license needs its number (kept as it is)")
    if context.valid_until is None:
        raise step.refuse("valid_until", "importing a license needs its 有效期至")
    number = import_number(context.number).value
    status = Status.EXPIRED if context.valid_until < context.today else Status.ISSUED
    after = step.moved(
        status=status,
        version=1,
        number=number,
        issued_on=context.valid_from,
        valid_from=context.valid_from,
        valid_until=context.valid_until,
    )
    return after, Effects(new_version=True, keep_number=True, publish=True), {"legacy_number": number}


def _change(step: _Step) -> _Outcome:
    step.not_expired()
    document = step.license_type.document
    changed = step.context.changed_fields
    if not changed:
        raise step.refuse("changed_fields", "a change must name the fields it changes")
    fixed = {
        document.number.field,
        document.dates.issued_on,
        document.dates.valid_until,
        *document.change.locked_fields,
    }
    if document.dates.valid_from:
        fixed.add(document.dates.valid_from)
    allowed = document.change.changeable_fields
    for key in sorted(changed):
        label = _label(step.license_type, key)
        if key in fixed:
            raise step.refuse("changed_fields", f"{label} ({key}) cannot be changed by a change of the {step.name}")
        if allowed is not None and key not in allowed:
            names = ", ".join(_label(step.license_type, k) for k in allowed)
            raise step.refuse("changed_fields", f"a change of the {step.name} covers only {names}; not {label} ({key})")
    step.need_confirmations()
    today = step.context.today
    keep_validity = document.change.keep_validity
    after = step.moved(
        version=step.current.version + 1,
        issued_on=today,
        valid_from=step.current.valid_from if keep_validity else today,
        valid_until=step.current.valid_until if keep_validity else step.license_type.validity_end(today),
    )
    effects = _new_version_effects(step, document.change.keep_number)
    return after, effects, {"changed_fields": sorted(changed), "reason": step.context.reason}


def _renew(step: _Step) -> _Outcome:
    until = step.current.valid_until
    if until is None:
        raise step.refuse("valid_until", f"the {step.name} has no 有效期至 to renew from")
    applied = step.context.applied_on or step.context.today
    earliest, latest = renewal_window(step.license_type, until)
    renewal = step.license_type.document.renewal
    if latest is not None and applied > latest:
        ahead = f"at least {renewal.apply_by.describe()} before expiry " if renewal.apply_by else "before expiry "
        raise step.refuse(
            "applied_on", f"renewal of the {step.name} must be applied for {ahead}({latest}); applied on {applied}"
        )
    if earliest is not None and applied < earliest:
        opens = renewal.opens.describe() if renewal.opens else ""
        raise step.refuse(
            "applied_on", f"renewal of the {step.name} opens {opens} before expiry ({earliest}); applied on {applied}"
        )
    step.need_confirmations()
    today = step.context.today
    start = until + timedelta(days=1) if renewal.validity_from == "previous_expiry" else today
    after = step.moved(
        version=step.current.version + 1,
        issued_on=today,
        valid_from=start,
        valid_until=step.license_type.validity_end(start),
    )
    effects = _new_version_effects(step, renewal.keep_number)
    return after, effects, {"applied_on": applied, "previous_valid_until": until}


def _new_version_effects(step: _Step, keep_number: bool) -> Effects:
    return Effects(
        new_version=True,
        assign_number=not keep_number,
        keep_number=keep_number,
        render=True,
        supersede_previous=True,
        publish=True,
        report_national_by=step.report_by(),
    )


def _suspend(step: _Step) -> _Outcome:
    step.not_expired()
    return step.moved(), Effects(publish=True), {"reason": step.need_reason("suspending")}


def _resume(step: _Step) -> _Outcome:
    step.not_expired()
    return step.moved(), Effects(publish=True), {"reason": step.context.reason}


def _revoke(step: _Step) -> _Outcome:
    return step.moved(), Effects(publish=True), {"reason": step.need_reason("revoking")}


def _cancel(step: _Step) -> _Outcome:
    ground = _find_ground(step, step.license_type.document.lifecycle.cancellation_grounds, "cancellation")
    status, until, today = step.current.status, step.current.valid_until, step.context.today
    expired = status is Status.EXPIRED or (until is not None and today > until)
    if ground.when == "expired" and not expired:
        raise step.refuse("ground", f"{ground.label} applies only to an expired {step.name} (valid until {until})")
    if ground.when == "revoked" and status is not Status.REVOKED:
        raise step.refuse("ground", f"{ground.label} applies only to a revoked {step.name}")
    if status is Status.REVOKED and ground.when != "revoked":
        revoked = [g for g in step.license_type.document.lifecycle.cancellation_grounds if g.when == "revoked"]
        named = ", ".join(f"{g.label} ({g.code})" for g in revoked) or "(none defined)"
        raise step.refuse("ground", f"a revoked {step.name} is cancelled only on the ground {named}")
    notes = {"ground": ground.code, "ground_label": ground.label, "reason": step.context.reason}
    return step.moved(), Effects(publish=True), notes


def _expire(step: _Step) -> _Outcome:
    until = step.current.valid_until
    if until is None or step.context.today <= until:
        raise step.refuse("status", f"the {step.name} is valid until {until}; it cannot expire on {step.context.today}")
    return step.moved(), Effects(publish=True), {"valid_until": until}


def _find_ground(step: _Step, grounds: list[Ground], kind: str) -> Ground:
    code = (step.context.ground or "").strip()
    found = next((g for g in grounds if g.code == code), None)
    if found is None:
        listed = "; ".join(f"{g.code} ({g.label})" for g in grounds)
        said = f"{code!r} is not one" if code else "none given"
        raise step.refuse("ground", f"a {kind} ground of the {step.name} is required ({said}): {listed}")
    return found


def _label(license_type: LicenseType, key: str) -> str:
    try:
        return license_type.field(key).label
    except NotFound:  # an unknown key is reported by the caller's rule, with the key itself as label
        return key


_GUARDS: Mapping[Action, Callable[[_Step], _Outcome]] = {
    Action.RETURN: _return,
    Action.REJECT: _reject,
    Action.APPROVE: _approve,
    Action.ISSUE: _issue,
    Action.IMPORT: _import,
    Action.CHANGE: _change,
    Action.RENEW: _renew,
    Action.SUSPEND: _suspend,
    Action.RESUME: _resume,
    Action.REVOKE: _revoke,
    Action.CANCEL: _cancel,
    Action.EXPIRE: _expire,
}


def _audit_record(
    license_type: LicenseType,
    action: Action,
    before: LicenseState,
    after: LicenseState,
    context: TransitionContext,
    notes: Mapping[str, Any],
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": license_type.code,
        "action": action.value,
        "from": before.status.value if before.status else None,
        "to": after.status.value if after.status else None,
        "version": after.version,
        "number": after.number,
        "valid_until": after.valid_until.isoformat() if after.valid_until else None,
        "actor_role": context.actor_role,
        "on": context.today.isoformat(),
    }
    for key, value in notes.items():
        if value is not None:
            record[key] = value.isoformat() if isinstance(value, date) else value
    return record
