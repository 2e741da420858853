"""The one template parser (hashistack.nomad.vault_calls): every quoting form consul-template
accepts, the capability each Vault function needs, and the checks that use it: a config file may
not read Vault in any form, and every read a template makes is granted with its capability."""

from __future__ import annotations

import pytest

from hashistack import HashistackError
from hashistack.nomad.vault_calls import vault_calls
from hashistack.service import ConfigFile, VaultSecret
from hashistack.service.plan import plan_service
from stacks.environments import DEV

from .test_go_service import spec


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


def test_a_list_in_a_secret_template_needs_list_and_is_refused_without_it():
    """``secrets`` lists: the policy grants read on the declared secret only, so the template
    would get 403 at run time; it is refused at synth, naming the capability."""
    template = ('{{ .Data.data | toJSON }}{{ range secrets "secret/metadata/dev/payments/" }}{{ . }}{{ end }}')
    with pytest.raises(HashistackError, match=r"template reads Vault path 'secret/metadata/dev/payments/' \(list\), "
                                              r"but policy 'svc-payments' does not grant it"):
        plan_service(spec(secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/s.json",
                                                  template=template),)), DEV, where="dev/payments")


def test_a_raw_string_read_of_another_services_path_is_refused():
    template = "{{ .Data.data.a }}{{ with secret `secret/data/dev/ledger/db` }}{{ .Data.data.b }}{{ end }}"
    with pytest.raises(HashistackError, match=r"template reads Vault path 'secret/data/dev/ledger/db' \(read\)"):
        plan_service(spec(secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/s.json",
                                                  template=template),)), DEV, where="dev/payments")
