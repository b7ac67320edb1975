"""Preflight: what the backup user cannot see, found before anything is exported.

A backup, and a COUNT() reconciliation run as the same user, both miss what that user cannot
see: records outside its sharing, fields field-level security hides, encrypted values it reads
masked, files without Query All Files. The verdict would then call a backup SAFE TO CANCEL while
data is missing. The preflight reads the user's permissions, compares FieldDefinition with each
describe, and compares `/limits/recordCount` (org-wide, sharing does not apply) with the user's
own COUNT(). Each gap names its object and fields, its effect, and the exact fix.

It runs at the start of `run` (after the describes, before the export), of `verify
--against-org`, and alone as `sfbackup check`. Its calls are counted as the run's calls outside
any object.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sfbackup.backup.plan import check_object_names, selected_objects
from sfbackup.config import Settings
from sfbackup.errors import SalesforceError, UsageError
from sfbackup.salesforce import access, composite, describe, faults, query_rest
from sfbackup.salesforce.access import LABELS, QUERY_ALL_FILES_OBJECTS, UserAccess
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.objects import ID_FILTERED_OBJECTS
from sfbackup.salesforce.schema import ObjectSchema
from sfbackup.verify.findings import BLIND_SPOT_KINDS  # the gaps that block SAFE TO CANCEL

__all__ = ["BLIND_SPOT_KINDS", "Gap", "Preflight", "check_access", "describe_objects",
           "preflight_objects", "run_preflight"]


_PERMISSION_SET_STEPS = (
    "Setup > Users > Permission Sets > New (or the backup user's permission set) > System "
    "Permissions > Edit > tick {label} > Save; then Manage Assignments > Add Assignment > {user}"
)


@dataclass(frozen=True)
class Gap:
    """One thing the backup user cannot see (or do): where, its effect, and how to fix it."""

    kind: str  # BLIND_SPOT_KINDS, missing_permission (a note), unchecked (what could not be read)
    object: str | None
    fields: tuple[str, ...]
    effect: str
    fix: str
    blocks_safe: bool
    org_count: int | None = None
    visible_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "object": self.object,
            "fields": list(self.fields),
            "effect": self.effect,
            "fix": self.fix,
            "blocks_safe": self.blocks_safe,
            "org_count": self.org_count,
            "visible_count": self.visible_count,
        }

    def one_line(self) -> str:
        where = ".".join(x for x in (self.object, ",".join(self.fields)) if x)
        label = "BLOCKS SAFE" if self.blocks_safe else "note"
        return f"{label:<11} {self.kind}{' ' + where if where else ''}: {self.effect}"


@dataclass
class Preflight:
    """What the preflight found about one user and a set of objects."""

    user: UserAccess
    username: str | None
    objects: list[str]
    gaps: list[Gap] = field(default_factory=list)
    hidden: dict[str, list[str]] = field(default_factory=dict)  # object -> FLS-hidden fields
    masked: dict[str, list[str]] = field(default_factory=dict)  # object -> fields read masked
    record_counts: dict[str, int] = field(default_factory=dict)  # /limits/recordCount
    visible_counts: dict[str, int] = field(default_factory=dict)  # the user's COUNT()
    api_calls: int = 0
    seconds: float = 0.0

    @property
    def blocking(self) -> list[Gap]:
        return [g for g in self.gaps if g.blocks_safe]

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": {**self.user.to_dict(), "username": self.username},
            "objects": list(self.objects),
            "blocking": len(self.blocking),
            "gaps": [g.to_dict() for g in self.gaps],
            "hidden_fields": {k: list(v) for k, v in sorted(self.hidden.items())},
            "masked_fields": {k: list(v) for k, v in sorted(self.masked.items())},
            "record_counts": dict(sorted(self.record_counts.items())),
            "visible_counts": dict(sorted(self.visible_counts.items())),
            "api_calls": self.api_calls,
            "seconds": self.seconds,
        }


def check_access(client: SalesforceClient, settings: Settings) -> Preflight:
    """`sfbackup check`: the preflight of the objects a run with `settings` would export (names
    describeGlobal does not list are refused as `run` refuses them: UsageError)."""
    started, calls_before = time.monotonic(), client.calls_made
    backup = settings.backup
    sobjects = describe.describe_global(client)
    if isinstance(backup.objects, tuple) and "backup.objects" in settings.origins:
        check_object_names(sobjects, backup.objects, origin=settings.origin_of("backup.objects"))
    names, _ = selected_objects(sobjects, backup)
    found = preflight_objects(client, names, username=settings.connection.username, files=backup.files,
                              concurrency=backup.concurrency)
    found.api_calls = client.calls_made - calls_before  # the describes too: what `check` cost
    found.seconds = round(time.monotonic() - started, 3)
    return found


def preflight_objects(
    client: SalesforceClient, names: Iterable[str], *, username: str | None, files: bool,
    concurrency: int = 1,
) -> Preflight:
    """The preflight of the objects `names` (described here; those the user cannot describe are
    left out): `verify --against-org` runs it for a snapshot's objects. `concurrency`: calls at
    once (`backup.concurrency`)."""
    started, calls_before = time.monotonic(), client.calls_made
    schemas = describe_objects(client, names, concurrency=concurrency)
    found = run_preflight(client, schemas, username=username, files=files, concurrency=concurrency)
    found.api_calls = client.calls_made - calls_before
    found.seconds = round(time.monotonic() - started, 3)
    return found


def describe_objects(
    client: SalesforceClient, names: Iterable[str], *, concurrency: int = 1
) -> dict[str, ObjectSchema]:
    """The describes of `names` as this user sees them, 25 per Composite call (`concurrency` calls
    at once); objects it cannot describe are left out. A describe a composite call did not answer
    (a transient failure, an org refusing /composite) is made alone."""
    wanted = list(dict.fromkeys(names))
    requests: dict[str, composite.SubRequest] = {}
    for name in wanted:
        try:
            requests[name] = composite.describe_request(name)
        except UsageError:
            continue  # not an API name: its describe alone says so
    found, _ = composite.call_all(client, list(requests.values()), follow_up=lambda _r, _a: None,
                                  concurrency=concurrency)  # fmt: skip
    out: dict[str, ObjectSchema] = {}
    for name in wanted:
        answered = found.get(requests[name]) if name in requests else None
        try:
            if answered is None or answered.alone:
                out[name] = describe.describe(client, name)
            elif answered.error is not None:
                raise answered.error
            else:
                out[name] = ObjectSchema.from_describe(answered.body)
        except SalesforceError as exc:
            if exc.error_code not in ("NOT_FOUND", "INVALID_TYPE"):
                raise
    return out


def run_preflight(
    client: SalesforceClient,
    schemas: Mapping[str, ObjectSchema],
    *,
    username: str | None = None,
    files: bool = True,
    concurrency: int = 1,
) -> Preflight:
    """Find what the client's user cannot see of the described objects `schemas` (as it sees
    them). `files`: file bodies are backed up, so Query All Files matters. `concurrency`: calls
    at once (FieldDefinition and /limits/recordCount take dozens for a thousand objects)."""
    started, calls_before = time.monotonic(), client.calls_made
    unreadable_permissions: SalesforceError | None = None
    try:
        user = access.read_user_access(client)
    except SalesforceError as exc:  # a timeout or a refusal of the permission queries themselves
        # Judged as holding none of them: what the counts then show is still evidence.
        unreadable_permissions = exc
        user = access.UserAccess(client.user_id or "", {}, (), "unreadable")
    if not username:  # OAuth and client-credentials logins name no user: the fixes should
        username = access.username_of(client)
    result = Preflight(user, username, sorted(schemas))
    who = username or user.user_id or "the backup user"
    if unreadable_permissions is not None:
        failure = unreadable_permissions
        answer = f"{failure.error_code + ': ' if failure.error_code else ''}{failure.message}"
        result.gaps.append(
            Gap(
                "unchecked",
                None,
                (),
                "the backup user's permissions could not be read (UserPermissionAccess / PermissionSet "
                f"answered {answer}): View All Data, "
                "Query All Files and View Encrypted Data are taken as missing",
                "run `sfbackup check` again later; if it keeps failing, check the user's permission sets "
                f"in Setup > Users > {who} > Permission Set Assignments",
                True,
            )
        )
    definitions, unreadable = access.field_definitions(client, result.objects, concurrency=concurrency)
    for name, why in sorted(unreadable.items()):
        result.gaps.append(
            Gap(
                "unchecked",
                name,
                (),
                f"field-level security of {name} could not be checked: FieldDefinition answered {why}",
                "run `sfbackup check` again later; if it keeps failing, compare the object's fields in "
                "Setup > Object Manager with the backup's schema/<Object>.json by hand",
                True,  # a field it hides would go unnoticed: not SAFE until it is checked
            )
        )
    for name in result.objects:
        schema = schemas[name]
        hidden = access.hidden_fields(schema, definitions.get(name, {}))
        if hidden:
            result.hidden[name] = hidden
            result.gaps.append(_hidden_gap(name, hidden, who, user))
        encrypted = access.encrypted_fields(schema)
        if encrypted and not user.has("view_encrypted_data"):
            result.masked[name] = encrypted
            result.gaps.append(
                Gap(
                    "masked_field",
                    name,
                    tuple(encrypted),
                    f"{', '.join(f'{name}.{f}' for f in encrypted)} (Text (Encrypted)) "
                    f"{'comes' if len(encrypted) == 1 else 'come'} back masked (****) to this user: "
                    "the backup stores null, never the mask, so the values are not in it",
                    "grant View Encrypted Data: " + _steps("view_encrypted_data", who),
                    True,
                )
            )
    try:
        result.record_counts = access.record_counts(client, result.objects, concurrency=concurrency)
    except SalesforceError as exc:  # older API versions have no /limits/recordCount
        result.gaps.append(
            Gap(
                "unchecked",
                None,
                (),
                f"/limits/recordCount could not be read ({exc.message}): records outside the user's "
                "sharing were not counted",
                "use API version 40.0 or later (connection.api_version)",
                not user.has("view_all_data"),
            )
        )
    _visibility(client, result, schemas, who, files=files)
    if not user.has("modify_all_data"):
        result.gaps.append(
            Gap(
                "missing_permission",
                None,
                (),
                "the user lacks Modify All Data: a restore as this user cannot write every record, and "
                "unless it has Modify Metadata the Metadata API refuses it, so the org's configuration "
                "is not backed up",
                "before restoring, grant Modify All Data: " + _steps("modify_all_data", who),
                False,
            )
        )
    result.gaps.sort(key=lambda g: (not g.blocks_safe, g.kind, g.object or "", g.fields))
    result.api_calls = client.calls_made - calls_before
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _visibility(
    client: SalesforceClient,
    result: Preflight,
    schemas: Mapping[str, ObjectSchema],
    who: str,
    *,
    files: bool,
) -> None:
    """Sharing and files: the user's COUNT() against /limits/recordCount where they may differ."""
    user = result.user
    for name in result.objects:
        governed_by_files = name in QUERY_ALL_FILES_OBJECTS
        if user.has("view_all_data") and (user.has("query_all_files") or not governed_by_files):
            continue  # View All Data (and Query All Files for files): nothing is outside its sharing
        org = result.record_counts.get(name)
        visible = None
        if org is not None and name not in ID_FILTERED_OBJECTS:  # those refuse an unfiltered COUNT()
            try:
                if schemas[name].has_field("CreatedDate"):  # split on QUERY_TIMEOUT, as the export
                    visible = query_rest.count_splitting(client, name, where=None, include_deleted=False)
                else:
                    visible = query_rest.count(client, name, include_deleted=False)
            except SalesforceError as exc:
                result.gaps.append(_uncounted_gap(name, exc, who))
        if visible is not None:
            result.visible_counts[name] = visible
        unseen = org - visible if org is not None and visible is not None else None
        if unseen and unseen > 0 and not governed_by_files:
            # the count is cached: records changed in the last day may not be in it yet
            since = datetime.now(UTC) - access.RECORD_COUNT_STALENESS
            try:
                fields = [f.name for f in schemas[name].fields]
                recent = access.changed_since(client, name, since, fields=fields)
            except SalesforceError:
                recent = 0
            if unseen <= recent:
                result.gaps.append(
                    Gap(
                        "record_count_stale",
                        name,
                        (),
                        f"/limits/recordCount counts {org} {name} records and this user {visible}: the "
                        f"{unseen} fewer are within the {recent} changed in the last 24 hours, which "
                        "the cached count may not reflect yet",
                        "nothing: run `sfbackup check` again tomorrow to compare fresh counts",
                        False,
                        org,
                        visible,
                    )
                )
                continue
        numbers = (
            f"{unseen} of the org's {org} {name} records (/limits/recordCount, approximate) are not "
            f"visible to this user (its COUNT(): {visible})"
            if unseen
            else None
        )
        if governed_by_files and files and not user.has("query_all_files"):
            effect = numbers or (
                f"without Query All Files, queries on {name} return only the files this user owns, is "
                "linked to or reaches through a library; others are left out"
            )
            result.gaps.append(
                Gap(
                    "files_not_visible",
                    name,
                    (),
                    effect,
                    "grant Query All Files (it needs View All Data): " + _steps("query_all_files", who),
                    True,
                    org,
                    visible,
                )
            )
        elif unseen and unseen > 0:
            result.gaps.append(
                Gap(
                    "records_not_visible",
                    name,
                    (),
                    numbers or "",
                    "grant View All Data: "
                    + _steps("view_all_data", who)
                    + " (or, for some objects only, the object permission View All: Setup > Users > "
                    "Permission Sets > the set > Object Settings > the object > Edit > View All)",
                    True,
                    org,
                    visible,
                )
            )
    if not user.has("view_all_data") and not any(g.kind == "records_not_visible" for g in result.gaps):
        result.gaps.append(
            Gap(
                "missing_permission",
                None,
                (),
                "the user lacks View All Data; it sees every record of the objects checked today, but "
                "records shared differently later would be left out",
                "grant View All Data: " + _steps("view_all_data", who),
                False,
            )
        )


def _uncounted_gap(name: str, exc: SalesforceError, who: str) -> Gap:
    """The user's COUNT() of `name` failed. A refusal the run records for the object (a required
    filter, an external object) is the run's to explain; anything else (QUERY_TIMEOUT on a huge
    table...) leaves records outside the user's sharing unmeasured, and blocks SAFE."""
    why = f"{exc.error_code + ': ' if exc.error_code else ''}{exc.message}"
    if faults.refusal_coverage(exc.error_code, exc.message) is not None:
        return Gap("unchecked", name, (), f"{name} could not be counted as this user, so its sharing "
                   f"was not checked: {why}",
                   "nothing for the preflight; a run records the object's refusal in its coverage",
                   False)  # fmt: skip
    return Gap(
        "unchecked", name, (),
        f"{name} could not be counted as this user ({why}): how many of its records {who} cannot "
        "see (sharing) was not measured",
        "grant View All Data (then sharing hides nothing): " + _steps("view_all_data", who)
        + "; or run `sfbackup check` again when the org is less busy",
        True,
    )  # fmt: skip


def _hidden_gap(name: str, hidden: list[str], who: str, user: UserAccess) -> Gap:
    profile = user.profile or "the user's profile"
    named = ", ".join(f"{name}.{f}" for f in hidden)
    each = hidden[0] if len(hidden) == 1 else f"each of {', '.join(hidden)}"
    return Gap(
        "hidden_field",
        name,
        tuple(hidden),
        f"field-level security hides {named} from this user: its describe leaves "
        f"{'it' if len(hidden) == 1 else 'them'} out (FieldDefinition lists "
        f"{'it' if len(hidden) == 1 else 'them'}), so no backup made as this user holds the values",
        f"make {each} readable for {who}: Setup > Object Manager > {name} > Fields & Relationships > "
        f"{each} > Set Field-Level Security > Visible for the profile '{profile}' (or in a permission "
        f"set: Permission Sets > the set > Object Settings > {name} > Edit > Read Access)",
        True,
    )


def _steps(permission: str, who: str) -> str:
    return _PERMISSION_SET_STEPS.format(label=LABELS[permission], user=who)
