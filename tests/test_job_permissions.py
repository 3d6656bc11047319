"""Job permissions in the workspace stand-in, through databricks-sdk unchanged (issue 16): CAN_VIEW <
CAN_MANAGE_RUN < CAN_MANAGE < IS_OWNER, the creator's ownership, workspace admins' inherited CAN_MANAGE,
levels held through nested groups, job visibility in jobs/list, ownership moved, changes taking effect on
the next call, and an audit row for every refusal and change (service ``jobs``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, PermissionDenied
from databricks.sdk.service import jobs

from emulators.workspace.testing import PRINCIPAL, InProcessWorkspace
from tests.helpers.people import AccessWorld, make_people

Level = jobs.JobPermissionLevel


@dataclass
class World(AccessWorld):
    script: str

    def job(self, owner: str, name: str = "") -> int:
        """A job made by ``owner`` (``admin`` or a user of ``clients``), so the owner is its creator."""
        w = self.admin if owner == "admin" else self.clients[owner]
        task = jobs.Task(task_key="main", spark_python_task=jobs.SparkPythonTask(python_file=self.script))
        return w.jobs.create(name=name or f"job-{uuid.uuid4().hex[:6]}", tasks=[task]).job_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = Path(tmp_path_factory.mktemp("job-acls"))
    script = folder / "ok.py"
    script.write_text("print('ran')\n")
    ws = InProcessWorkspace(folder / "ws").start()
    people = make_people(ws, outer="runners")  # bob ∈ juniors ∈ runners
    yield World(ws, ws.client(), people.clients, people.names, str(script))
    ws.stop()


def _levels(w: WorkspaceClient, job_id: int) -> dict[str, tuple[str, bool]]:
    found = {}
    for entry in w.jobs.get_permissions(str(job_id)).access_control_list:
        name = entry.user_name or entry.group_name or entry.service_principal_name
        (permission,) = entry.all_permissions
        found[name] = (permission.permission_level.value, bool(permission.inherited))
    return found


def test_the_creator_owns_and_others_see_nothing(world: World) -> None:
    job_id = world.job("alice")
    alice, carol = world.clients["alice"], world.clients["carol"]
    assert _levels(world.admin, job_id) == {
        world.names["alice"]: ("IS_OWNER", False),
        "admins": ("CAN_MANAGE", True),  # inherited from the root object /jobs/
    }
    alice.jobs.get(job_id)
    assert job_id in {j.job_id for j in alice.jobs.list()}
    with pytest.raises(PermissionDenied, match=f"does not have View permissions on job {job_id}"):
        carol.jobs.get(job_id)
    assert job_id not in {j.job_id for j in carol.jobs.list()}  # job visibility control
    carol_name = world.names["carol"]
    message = f'User "{carol_name}" does not have Manage Run or Owner or Admin permissions on job {job_id}'
    with pytest.raises(PermissionDenied, match=message):
        carol.jobs.run_now(job_id)
    run_id = alice.jobs.run_now(job_id).result(timeout=dt.timedelta(seconds=60)).run_id
    with pytest.raises(PermissionDenied):
        carol.jobs.get_run(run_id)
    with pytest.raises(PermissionDenied, match="Manage or Owner or Admin"):
        carol.jobs.delete(job_id)
    with pytest.raises(PermissionDenied):
        carol.jobs.update_permissions(
            str(job_id),
            access_control_list=[
                jobs.JobAccessControlRequest(
                    user_name=world.names["carol"], permission_level=Level.CAN_MANAGE
                )
            ],
        )
    # the admin (a metastore admin here) manages every job without an entry of its own
    assert world.admin.jobs.get_run(run_id).state.result_state == jobs.RunResultState.SUCCESS
    assert PRINCIPAL not in _levels(world.admin, job_id)


def test_levels_are_ordered_and_reach_nested_group_members(world: World) -> None:
    job_id = world.job("alice")
    alice, bob = world.clients["alice"], world.clients["bob"]
    grant = jobs.JobAccessControlRequest(group_name=world.names["runners"], permission_level=Level.CAN_VIEW)
    alice.jobs.update_permissions(str(job_id), access_control_list=[grant])
    bob.jobs.get(job_id)  # bob ∈ juniors ∈ runners
    with pytest.raises(PermissionDenied, match="Manage Run"):
        bob.jobs.run_now(job_id)
    grant.permission_level = Level.CAN_MANAGE_RUN
    alice.jobs.update_permissions(str(job_id), access_control_list=[grant])  # takes effect on the next call
    run = bob.jobs.run_now(job_id).result(timeout=dt.timedelta(seconds=60))
    assert bob.jobs.get_run(run.run_id).state.result_state == jobs.RunResultState.SUCCESS
    with pytest.raises(PermissionDenied, match="Manage or Owner or Admin"):
        bob.jobs.reset(job_id, new_settings=jobs.JobSettings(name="renamed"))
    # PUT replaces the direct entries (the owner stays): the group's level is gone
    alice.jobs.set_permissions(str(job_id), access_control_list=[])
    with pytest.raises(PermissionDenied):
        bob.jobs.get(job_id)
    assert set(_levels(alice, job_id)) == {world.names["alice"], "admins"}


def test_ownership_moves_to_a_user_and_never_to_a_group(world: World) -> None:
    job_id = world.job("alice")
    alice, carol = world.clients["alice"], world.clients["carol"]
    with pytest.raises(InvalidParameterValue, match="cannot be the owner"):
        alice.jobs.update_permissions(
            str(job_id),
            access_control_list=[
                jobs.JobAccessControlRequest(
                    group_name=world.names["runners"], permission_level=Level.IS_OWNER
                )
            ],
        )
    alice.jobs.update_permissions(
        str(job_id),
        access_control_list=[
            jobs.JobAccessControlRequest(user_name=world.names["carol"], permission_level=Level.IS_OWNER)
        ],
    )
    levels = _levels(carol, job_id)
    assert levels[world.names["carol"]] == ("IS_OWNER", False) and world.names["alice"] not in levels
    with pytest.raises(PermissionDenied):
        alice.jobs.get(job_id)  # the previous owner kept nothing
    carol.jobs.reset(job_id, new_settings=carol.jobs.get(job_id).settings)


def test_refusals_and_changes_are_audit_rows(world: World) -> None:
    job_id = world.job("alice")
    with pytest.raises(PermissionDenied):
        world.clients["carol"].jobs.run_now(job_id)
    grant = jobs.JobAccessControlRequest(user_name=world.names["carol"], permission_level=Level.CAN_VIEW)
    world.clients["alice"].jobs.update_permissions(str(job_id), access_control_list=[grant])
    rows = [r for r in world.audit(service_name="jobs") if r["request_params"].get("job_id") == str(job_id)]
    denied = [r for r in rows if r["action_name"] == "runNow"]
    assert [(r["user_identity"]["email"], r["response"]["status_code"]) for r in denied] == [
        (world.names["carol"], 403)
    ]
    (change,) = [r for r in rows if r["action_name"] == "changeJobAcl"]
    assert (
        change["user_identity"]["email"] == world.names["alice"] and change["response"]["status_code"] == 200
    )


def test_permission_levels_are_listed(world: World) -> None:
    job_id = world.job("admin")
    levels = world.admin.jobs.get_permission_levels(str(job_id)).permission_levels
    assert [x.permission_level.value for x in levels] == [
        "CAN_VIEW",
        "CAN_MANAGE_RUN",
        "CAN_MANAGE",
        "IS_OWNER",
    ]


def test_entries_of_deleted_principals_still_show_with_their_kind(world: World) -> None:
    """An entry whose principal was deleted from the directory is still answered (as before the delete)
    and grants nothing: GET does not fail on it (it answered 400 "does not exist" before)."""
    job_id = world.job("alice")
    robot = world.admin.service_principals.create(display_name=f"robot-{uuid.uuid4().hex[:6]}")
    team = world.admin.groups.create(display_name=f"team-{uuid.uuid4().hex[:6]}")
    acl = [
        jobs.JobAccessControlRequest(
            service_principal_name=robot.application_id, permission_level=Level.CAN_VIEW
        ),
        jobs.JobAccessControlRequest(group_name=team.display_name, permission_level=Level.CAN_MANAGE_RUN),
    ]
    world.clients["alice"].jobs.update_permissions(str(job_id), access_control_list=acl)
    world.admin.service_principals.delete(robot.id)
    world.admin.groups.delete(team.id)
    entries = world.clients["alice"].jobs.get_permissions(str(job_id)).access_control_list
    shown = {(e.service_principal_name, e.group_name): e.all_permissions[0].permission_level for e in entries}
    assert shown[(robot.application_id, None)] == jobs.JobPermissionLevel.CAN_VIEW
    assert shown[(None, team.display_name)] == jobs.JobPermissionLevel.CAN_MANAGE_RUN
