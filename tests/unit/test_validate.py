"""A trailing newline is refused wherever a name, id or path is validated: Python's ``$`` matches
before a final newline, so every validator uses ``fullmatch`` (or ``\\Z``). Without it ``"dev\\n"``
would become a stack name, a job ID or a Vault policy path that fails only at apply."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hashistack import HashistackError, IngressSettings
from hashistack.service import ConfigFile, Tls, VaultSecret
from hashistack.service.plan import plan_service
from stacks.environments import DEV, PROD

from tests.unit.service.test_go_service import spec

ENVIRONMENT_FIELDS = {
    "name": "dev\n",
    "region": "eu-west-1\n",
    "account_id": DEV.account_id + "\n",
    "domain": DEV.domain + "\n",
    "ami_id": "ami-0123456789abcdef0\n",
}


@pytest.mark.parametrize("field", sorted(ENVIRONMENT_FIELDS))
def test_environment_fields_refuse_a_trailing_newline(field):
    value = ENVIRONMENT_FIELDS[field]
    with pytest.raises(HashistackError, match=rf": {field} = {re.escape(repr(value))}: "):
        dataclasses.replace(DEV, **{field: value})


def test_nested_settings_refuse_a_trailing_newline():
    with pytest.raises(HashistackError, match=r"ingress\.public_domain = 'example\.com\\n': "):
        dataclasses.replace(PROD, ingress=dataclasses.replace(PROD.ingress, public_domain="example.com\n"))
    with pytest.raises(HashistackError, match=r"ingress\.certificate_arn = '.*\\n': "):
        assert isinstance(PROD.ingress, IngressSettings)
        dataclasses.replace(PROD, ingress=dataclasses.replace(PROD.ingress,
                                                              certificate_arn=PROD.ingress.certificate_arn + "\n"))
    with pytest.raises(HashistackError, match=r"consul\.datacenter = 'dc1\\n': "):
        dataclasses.replace(DEV, consul=dataclasses.replace(DEV.consul, datacenter="dc1\n"))


SERVICE_CHANGES = {  # the change, and the field and value the refusal names
    "name": ({"name": "payments\n"}, r"name = 'payments\\n': "),
    "image": ({"image": "registry.example.com/payments:1.4.2\n"},
              r"config\.image = 'registry\.example\.com/payments:1\.4\.2\\n': name an image"),
    "secret path": ({"secrets": (VaultSecret.kv("payments/config\n", mount_at="/app/config/secrets.json"),)},
                    r"secrets\.path = 'payments/config\\n': use a path inside the KV mount"),
    "env var": ({"env": {"LOG_LEVEL\n": "info"}}, r"env = 'LOG_LEVEL\\n': environment variable names are"),
    "config path": ({"config_files": (ConfigFile.inline("x", mount_at="/app/config/app.conf\n"),)},
                    r"\.mount_at = '/app/config/app\.conf\\n': use the absolute container path"),
    "tls directory": ({"tls": Tls(mount_dir="/app/tls\n")},
                      r"tls\.mount_dir = '/app/tls\\n': use an absolute container directory"),
}


@pytest.mark.parametrize("case", sorted(SERVICE_CHANGES))
def test_service_fields_refuse_a_trailing_newline(case):
    changes, message = SERVICE_CHANGES[case]
    with pytest.raises(HashistackError, match=rf"^dev/payments: (.|\n)*{message}"):
        plan_service(spec(**changes), DEV, where="dev/payments")


def test_a_message_stays_one_printable_line_whatever_the_input_carries():
    """A name that is itself the control character still yields one line, the character escaped as
    Python writes it, so the line cannot be broken (or a second, forged line added) by input."""
    from hashistack.service import ServiceSpec

    for name, shown in (("\n", "\\n"), ("web\x1f", "web\\x1f"), ("web\u200b", "web\\u200b")):
        with pytest.raises(HashistackError) as error:
            ServiceSpec(name=name, image="registry.example.com/team/web:1.0.0", args=["serve"])  # type: ignore[arg-type]
        message = str(error.value)
        assert message.isprintable() and message.startswith(f"{shown}: args = ['serve']: "), message


@pytest.mark.parametrize("tags, field", [({"team\n": "a"}, "tags"), ({"team": "a\tb"}, "tags['team']"),
                                         ({"team": "\x00"}, "tags['team']")])
def test_tags_hold_only_the_characters_aws_accepts(tags, field):
    with pytest.raises(HashistackError, match=rf"^environment \"dev\": {re.escape(field)} = .*AWS allows letters, "
                                              r"digits, spaces and _ \. : / = \+ - @ in tags$"):
        dataclasses.replace(DEV, tags=tags)
    assert dataclasses.replace(DEV, tags={"cost center": "Équipe 7 / run:prod"}).tags["cost center"]


@pytest.mark.parametrize("tag", ["team\n", " team", ""])
def test_a_service_tag_is_printable_without_padding(tag):
    from hashistack.service import ServiceSpec
    from hashistack.service.plan import plan_service

    with pytest.raises(HashistackError, match=r"tags = .*: a tag is printable text without surrounding spaces"):
        plan_service(ServiceSpec(name="web", image="registry.example.com/team/web:1.0.0", tags=(tag,)), DEV)
