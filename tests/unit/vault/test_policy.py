"""The Vault policy model: HCL that parses, grants that match Vault's path rules, and lint."""

from __future__ import annotations

import pytest

from hashistack import HashistackError
from hashistack.vault import Policy, Rule

from tests.support.hcl import policy_paths


def app_policy(*rules: Rule) -> Policy:
    return Policy(name="svc-web", rules=rules, kv_mounts=("secret",), pki_mounts=("pki-int", "pki-root"))


READ = Rule(path="secret/data/dev/web/config", capabilities=("read",))
ISSUE = Rule(path="pki-int/issue/web", capabilities=("update",))


def test_renders_hcl_that_parses():
    text = app_policy(READ, ISSUE).lint().render()
    assert policy_paths(text) == {"secret/data/dev/web/config": ["read"], "pki-int/issue/web": ["update"]}


def test_grants_follow_vault_path_matching():
    policy = app_policy(READ, Rule(path="secret/data/dev/+/shared", capabilities=("read",)),
                        Rule(path="secret/metadata/dev/web/*", capabilities=("list",)))
    assert policy.grants("secret/data/dev/web/config", "read")
    assert not policy.grants("secret/data/dev/web/config", "update")
    assert not policy.grants("secret/data/dev/web/config2", "read")
    assert policy.grants("secret/data/dev/other/shared", "read")
    assert not policy.grants("secret/data/dev/a/b/shared", "read")
    assert policy.grants("secret/metadata/dev/web/x/y", "list")


def test_deny_wins():
    policy = Policy(name="p", rules=(Rule(path="secret/data/a", capabilities=("read",)),
                                     Rule(path="secret/data/*", capabilities=("deny",))), application=False)
    assert not policy.grants("secret/data/a", "read")


def lint_fails(pattern: str, *rules: Rule) -> None:
    with pytest.raises(HashistackError, match=pattern):
        app_policy(*rules).lint(where="dev/web")


def test_rejects_kv_path_without_data_or_metadata():
    lint_fails(r'^dev/web: vault policy "svc-web": path\[secret/dev/web\] = \'secret/dev/web\': a KV v2 path reads '
               r'through secret/data/<path>', Rule(path="secret/dev/web", capabilities=("read",)))


@pytest.mark.parametrize("path", ["secret/*", "*"])
def test_rejects_mount_wide_wildcard(path):
    lint_fails(rf'path\[{path.replace("*", chr(92) + "*")}\] = .*: no mount-wide wildcards in an application policy',
               Rule(path=path, capabilities=("read",)))


def test_rejects_sudo_in_application_policy():
    lint_fails(r'path\[secret/data/dev/web\]\.capabilities = \'sudo\': an application policy never holds sudo',
               Rule(path="secret/data/dev/web", capabilities=("read", "sudo")))


@pytest.mark.parametrize("cap", ["write", "admin"])
def test_rejects_unknown_capability(cap):
    lint_fails(rf'capabilities = \'{cap}\': use capabilities from .* \(the legacy policy = "write" form is not '
               r'accepted\)', Rule(path="secret/data/dev/web", capabilities=(cap,)))


@pytest.mark.parametrize("path", ["pki-int/sign-verbatim/web", "pki-root/root/sign-intermediate", "pki-int/config/urls"])
def test_rejects_pki_paths_beyond_issue(path):
    lint_fails(rf'path\[{path}\] = .*: an application only gets \["update"\] on .*/issue/<role>; never root/, '
               r'sign-verbatim or config/', Rule(path=path, capabilities=("update",)))


def test_rejects_duplicate_paths():
    lint_fails(r'path\[secret/data/dev/web/config\] = .*: list each path once', READ, READ)
