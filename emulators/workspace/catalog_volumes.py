"""Unity Catalog volumes and functions, as a mixin of :class:`~emulators.workspace.catalog.UnityCatalog`
(state in the catalog's :class:`RecordStore`; no HTTP here)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog_records import COLUMN_TYPE_NAMES, apply_update, check_name, clean, now_ms
from emulators.workspace.errors import ApiError, already_exists, invalid, not_found

_FUNCTION_REQUIRED = (
    "name",
    "catalog_name",
    "schema_name",
    "input_params",
    "data_type",
    "full_data_type",
    "routine_body",
    "routine_definition",
    "parameter_style",
    "is_deterministic",
    "sql_data_access",
    "is_null_call",
    "security_type",
    "specific_name",
)


class VolumesAndFunctions:
    """Volumes and functions of a schema; needs the catalog's ``store``, ``get_schema``, ``_parent_schema``
    and ``_managed_location``."""

    store: RecordStore

    if TYPE_CHECKING:

        def get_schema(self, full_name: str) -> dict[str, Any]: ...

        def _parent_schema(self, body: dict[str, Any]) -> dict[str, Any]: ...

        def _managed_location(self, schema: dict[str, Any]) -> str: ...

    # volumes ------------------------------------------------------------------------------------
    def create_volume(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        schema = self._parent_schema(body)
        name = check_name(body.get("name"), "volume")
        full_name = f"{schema['full_name']}.{name}"
        volume_type = str(body.get("volume_type") or "").upper()
        if volume_type not in ("MANAGED", "EXTERNAL"):
            raise invalid("volume_type must be MANAGED or EXTERNAL.")
        location = (body.get("storage_location") or "").rstrip("/") or None
        if volume_type == "EXTERNAL" and not location:
            raise invalid("An EXTERNAL volume needs a storage_location.")
        if volume_type == "MANAGED" and location:
            raise invalid("A MANAGED volume cannot have a storage_location.")
        volume_id = str(uuid.uuid4())
        now = now_ms()
        record = clean(
            {
                "catalog_name": schema["catalog_name"],
                "schema_name": schema["name"],
                "name": name,
                "full_name": full_name,
                "comment": body.get("comment"),
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "volume_id": volume_id,
                "volume_type": volume_type,
                "storage_location": location or f"{self._managed_location(schema)}/volumes/{volume_id}",
            }
        )
        with self.store.lock:
            if not self.store.insert("volume", full_name, record):
                raise already_exists("volume", full_name)
            self.store.put("volume-id", volume_id, {"full_name": full_name})
        return record

    def get_volume(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("volume", full_name.lower())
        if record is None:
            raise not_found("volume", full_name)
        return record

    def get_volume_by_id(self, volume_id: str) -> dict[str, Any]:
        index = self.store.get("volume-id", str(volume_id))
        record = self.store.get("volume", index["full_name"]) if index else None
        if record is None:
            raise ApiError(404, "VOLUME_DOES_NOT_EXIST", f"Volume with id '{volume_id}' does not exist.")
        return record

    def list_volumes(self, catalog_name: str, schema_name: str) -> list[dict[str, Any]]:
        schema = self.get_schema(f"{catalog_name}.{schema_name}")
        return [body for _, body in self.store.scan("volume", schema["full_name"] + ".")]

    def update_volume(self, full_name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        with self.store.lock:
            record = self.get_volume(full_name)
            apply_update(record, body, principal, ("comment", "owner"))
            new_name = body.get("new_name")
            if new_name and check_name(new_name, "volume") != record["name"]:
                old = record["full_name"]
                record["name"] = check_name(new_name, "volume")
                record["full_name"] = f"{record['catalog_name']}.{record['schema_name']}.{record['name']}"
                if self.store.get("volume", record["full_name"]):
                    raise already_exists("volume", record["full_name"])
                self.store.delete("volume", old)
                self.store.put("volume-id", record["volume_id"], {"full_name": record["full_name"]})
            self.store.put("volume", record["full_name"], record)
            return record

    def delete_volume(self, full_name: str) -> None:
        with self.store.lock:
            record = self.get_volume(full_name)
            self.store.delete("volume", record["full_name"])
            self.store.delete("volume-id", record["volume_id"])

    # functions ----------------------------------------------------------------------------------
    def create_function(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        info = body.get("function_info")
        if not isinstance(info, dict):
            raise invalid("function_info is required.")
        missing = [f for f in _FUNCTION_REQUIRED if info.get(f) is None]
        if missing:
            raise invalid(f"function_info is missing required fields: {', '.join(missing)}.")
        schema = self._parent_schema(info)
        name = check_name(info.get("name"), "function")
        full_name = f"{schema['full_name']}.{name}"
        enums = {
            "routine_body": ("SQL", "EXTERNAL"),
            "parameter_style": ("S",),
            "sql_data_access": ("CONTAINS_SQL", "READS_SQL_DATA", "NO_SQL"),
            "security_type": ("DEFINER",),
        }
        for field, allowed in enums.items():
            if info[field] not in allowed:
                raise invalid(f"function_info.{field} must be one of {', '.join(allowed)}.")
        if str(info["data_type"]).upper() not in COLUMN_TYPE_NAMES:
            raise invalid(f"function_info.data_type '{info['data_type']}' is not a known type.")
        now = now_ms()
        record = clean(
            {
                **{k: v for k, v in info.items() if k != "full_name"},
                "name": name,
                "catalog_name": schema["catalog_name"],
                "schema_name": schema["name"],
                "data_type": str(info["data_type"]).upper(),
                "full_name": full_name,
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "function_id": str(uuid.uuid4()),
            }
        )
        if not self.store.insert("function", full_name, record):
            raise already_exists("function", full_name)
        return record

    def get_function(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("function", full_name.lower())
        if record is None:
            raise not_found("function", full_name)
        return record

    def list_functions(self, catalog_name: str, schema_name: str) -> list[dict[str, Any]]:
        schema = self.get_schema(f"{catalog_name}.{schema_name}")
        return [body for _, body in self.store.scan("function", schema["full_name"] + ".")]

    def delete_function(self, full_name: str) -> None:
        if not self.store.delete("function", full_name.lower()):
            raise not_found("function", full_name)
