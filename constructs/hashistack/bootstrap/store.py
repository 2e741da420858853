"""SSM Parameter Store access for the bootstrap: SecureString parameters under one KMS key,
tagged, written only when missing or on an explicit rotation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

__all__ = ["ParameterStore", "Stored"]


@dataclass(frozen=True)
class Stored:
    """A parameter as found: its value and the shape around it."""

    value: str
    type: str
    key_id: str | None

    def shape_problem(self, kms_key_id: str) -> str | None:
        if self.type != "SecureString":
            return f"is a {self.type} parameter, not a SecureString"
        if self.key_id != kms_key_id:
            return f"is encrypted with KMS key {self.key_id}, not the settings' {kms_key_id}"
        return None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class ParameterStore:
    """The environment's parameters through a boto3 SSM client."""

    def __init__(self, ssm, *, kms_key_id: str, tags: Mapping[str, str]) -> None:
        self.ssm = ssm
        self.kms_key_id = kms_key_id
        self.tags = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]

    def read(self, names: list[str]) -> dict[str, Stored]:
        """The parameters of ``names`` that exist (decrypted), by name."""
        key_ids: dict[str, str | None] = {}
        for chunk in _chunks(names, 10):
            pages = self.ssm.get_paginator("describe_parameters").paginate(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": chunk}])
            for page in pages:
                for p in page["Parameters"]:
                    key_ids[p["Name"]] = p.get("KeyId")
        found: dict[str, Stored] = {}
        for chunk in _chunks(names, 10):
            answer = self.ssm.get_parameters(Names=chunk, WithDecryption=True)
            for p in answer["Parameters"]:
                found[p["Name"]] = Stored(value=p["Value"], type=p["Type"], key_id=key_ids.get(p["Name"]))
        return found

    def create(self, name: str, value: str, description: str) -> None:
        self.ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId=self.kms_key_id,
                               Description=description[:1024], Tags=self.tags, Overwrite=False)

    def overwrite(self, name: str, value: str) -> None:
        self.ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId=self.kms_key_id, Overwrite=True)
        self.ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=self.tags)

    def delete(self, name: str) -> None:
        self.ssm.delete_parameter(Name=name)
