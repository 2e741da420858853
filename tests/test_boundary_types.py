"""Wrong types are refused when a spec is built, with one line that names the service, the field
(by path into nested options), the value, the type expected and the fix: never a traceback from
inside the plan."""

from __future__ import annotations

import pytest

from hashistack import HashistackError
from hashistack.service import ConfigFile, HealthCheck, ServiceSpec, Tls, VaultSecret

IMAGE = "registry.example.com/team/web:1.0.0"


@pytest.mark.parametrize("props, message", [
    ({"count": "3"}, "web: count = '3': ServiceSpec.count takes a whole number or None, not str; write 3 without quotes"),
    ({"port": "8080"}, "web: port = '8080': ServiceSpec.port takes a whole number, not str; write 8080 without quotes"),
    ({"port": 8080.0}, "web: port = 8080.0: ServiceSpec.port takes a whole number, not float; give a whole number"),
    ({"count": True}, "web: count = True: ServiceSpec.count takes a whole number or None, not bool; give a whole number "
                      "or None"),
    ({"health": "http"}, "web: health = 'http': ServiceSpec.health takes HealthCheck or None, not str; build a "
                         "HealthCheck (see its constructors), not a string"),
    ({"args": ["serve"]}, "web: args = ['serve']: ServiceSpec.args takes a tuple (each item a string), not list; write a "
                          "tuple, e.g. ('serve',) (a spec is frozen)"),
    ({"env": {"LOG_LEVEL": 1}}, "web: env[LOG_LEVEL] = 1: ServiceSpec.env[LOG_LEVEL] takes a string, not int; give a "
                                "string"),
    ({"registration": "k8s"}, "web: registration = 'k8s': ServiceSpec.registration takes one of 'consul', 'nomad', not "
                              "str; give one of 'consul', 'nomad'"),
    ({"kill_timeout_s": "30"}, "web: kill_timeout_s = '30': ServiceSpec.kill_timeout_s takes a number, not str; write "
                               "30 without quotes"),
    ({"secrets": (VaultSecret.kv("web/config", mount_at="/app/s.json"), "web/other")},
     "web: secrets[1] = 'web/other': ServiceSpec.secrets[1] takes VaultSecret, not str; build a VaultSecret (see its "
     "constructors), not a string"),
    ({"tls": Tls(alt_names=["web.example.com"])},  # type: ignore[arg-type]
     "web: tls.alt_names = ['web.example.com']: ServiceSpec.tls.alt_names takes a tuple (each item a string), not list; "
     "write a tuple, e.g. ('web.example.com',) (a spec is frozen)"),
    ({"health": HealthCheck.http("/health", interval_s="10s")},  # type: ignore[arg-type]
     "web: health.interval_s = '10s': ServiceSpec.health.interval_s takes a number, not str; give a number"),
    ({"customize": "priority=70"}, "web: customize = 'priority=70': ServiceSpec.customize takes a function or None, not "
                                   "str; give a function or None"),
])
def test_a_wrong_type_is_refused_in_one_line_naming_the_field_and_the_fix(props, message):
    with pytest.raises(HashistackError) as error:
        ServiceSpec(name="web", image=IMAGE, **props)
    assert str(error.value) == message


def test_the_right_types_pass_including_ints_for_numbers_and_nested_options():
    spec = ServiceSpec(name="web", image=IMAGE, port=8081, kill_timeout_s=30, shutdown_delay_s=2.5,
                       config_files=(ConfigFile.inline("a = 1\n", mount_at="/app/config/app.conf"),),
                       health=HealthCheck.http("/health", interval_s=10), env={"A": "1"}, extra_ports={"metrics": 9100})
    assert spec.port == 8081 and spec.kill_timeout_s == 30
