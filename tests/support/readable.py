"""Turns a synthesized stack into the form its snapshot shows: what a reviewer reads.

cdktf's ``//`` metadata (construct paths and ids) is dropped; a ``nomad_job``'s jobspec is
decoded from its one escaped JSON line into the job itself (with Terraform's ``$${``/``%%{``
escapes undone, so it reads as Nomad receives it); a Vault policy's HCL becomes a list of lines;
a launch template's base64 user data is decoded into its cloud-config (configs as lines); IAM
policy documents are decoded from their JSON string.
"""

from __future__ import annotations

import json

from hashistack.cluster.cloud_init import decode_user_data
from hashistack.terraform_escape import unescape
from scripts.plan_report import strip_metadata


def readable(stack: dict) -> dict:
    stack = strip_metadata(stack)
    resources = stack.get("resource", {})
    for job in resources.get("nomad_job", {}).values():
        if isinstance(job.get("jobspec"), str) and job.get("json"):
            job["jobspec"] = json.loads(unescape(job["jobspec"]))
    for policy in resources.get("vault_policy", {}).values():
        if isinstance(policy.get("policy"), str):
            policy["policy"] = policy["policy"].splitlines()
    for template in resources.get("aws_launch_template", {}).values():
        if isinstance(template.get("user_data"), str):
            header, body = decode_user_data(template["user_data"]).split("\n", 1)
            doc = json.loads(body)
            for f in doc.get("write_files", []):
                f["content"] = f["content"].splitlines()
            doc["runcmd"] = [[*cmd[:-1], cmd[-1].splitlines()] for cmd in doc.get("runcmd", [])]
            template["user_data"] = {"header": header, "cloud-config": doc}
    for kind in ("aws_iam_role", "aws_iam_role_policy"):
        for resource in resources.get(kind, {}).values():
            for key in ("policy", "assume_role_policy"):
                if isinstance(resource.get(key), str) and resource[key].startswith("{"):
                    resource[key] = json.loads(resource[key])
    return stack
