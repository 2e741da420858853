"""Wrong types are refused when a spec is built, with one line that names the service, the field
(by path into nested options), the value, the type expected and the fix: never a traceback from
inside the plan."""

from __future__ import annotations

import dataclasses

import pytest

from hashistack import HashistackError
from hashistack.service import ConfigFile, HealthCheck, ServiceSpec, Tls, VaultSecret
from stacks.environments import DEV, ENVIRONMENTS, PROD

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
                          "tuple, e.g. ('serve',) (a frozen value holds tuples)"),
    ({"env": {"LOG_LEVEL": 1}}, "web: env[LOG_LEVEL] = 1: ServiceSpec.env[LOG_LEVEL] takes a string, not int; write it "
                                "in quotes, '1'"),
    ({"registration": "k8s"}, "web: registration = 'k8s': ServiceSpec.registration takes one of 'consul', 'nomad', not "
                              "str; give one of 'consul', 'nomad'"),
    ({"kill_timeout_s": "30"}, "web: kill_timeout_s = '30': ServiceSpec.kill_timeout_s takes a number, not str; write "
                               "30 without quotes"),
    ({"secrets": (VaultSecret.kv("web/config", mount_at="/app/s.json"), "web/other")},
     "web: secrets[1] = 'web/other': ServiceSpec.secrets[1] takes VaultSecret, not str; build a VaultSecret (see its "
     "constructors), not a string"),
    ({"tls": Tls(alt_names=["web.example.com"])},  # type: ignore[arg-type]
     "web: tls.alt_names = ['web.example.com']: ServiceSpec.tls.alt_names takes a tuple (each item a string), not list; "
     "write a tuple, e.g. ('web.example.com',) (a frozen value holds tuples)"),
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


# --- environments: the same checker, over Environment and every settings object nested in it --------

ENVIRONMENT_CASES = [
    (PROD, {"account_id": 333333333333},
     "environment \"prod\": account_id = 333333333333: Environment.account_id takes a string, not int; write it in "
     "quotes, '333333333333'"),
    (PROD, {"tier": "production"},
     "environment \"prod\": tier = 'production': Environment.tier takes Tier, not str; write Tier.PRODUCTION"),
    (PROD, {"network": dataclasses.replace(PROD.network, az_count="3")},
     "environment \"prod\": network.az_count = '3': Environment.network.az_count takes a whole number, not str; "
     "write 3 without quotes"),
    (PROD, {"network": dataclasses.replace(PROD.network, operator_cidrs=["10.100.0.0/24"])},
     "environment \"prod\": network.operator_cidrs = ['10.100.0.0/24']: Environment.network.operator_cidrs takes a "
     "tuple (each item a string), not list; write a tuple, e.g. ('10.100.0.0/24',) (a frozen value holds tuples)"),
    (PROD, {"vault": dataclasses.replace(PROD.vault, login_methods=list(PROD.vault.login_methods))},
     "environment \"prod\": vault.login_methods = [LoginMethod(...), LoginMethod(...)]: Environment.vault."
     "login_methods takes a tuple (each item LoginMethod), not list; write a tuple, (...) instead of [...] (a "
     "frozen value holds tuples)"),
    (PROD, {"clients": dataclasses.replace(PROD.clients, min_size=2.0)},
     "environment \"prod\": clients.min_size = 2.0: Environment.clients.min_size takes a whole number, not float; "
     "give a whole number"),
    (PROD, {"state": None},
     "environment \"prod\": state = None: Environment.state takes LocalState or S3State, not NoneType; pass "
     "LocalState(...) or S3State(...)"),
    (PROD, {"tags": {"team": 7}},
     "environment \"prod\": tags[team] = 7: Environment.tags[team] takes a string, not int; write it in quotes, '7'"),
    (DEV, {"nomad": dataclasses.replace(DEV.nomad, memory_oversubscription="true")},
     "environment \"dev\": nomad.memory_oversubscription = 'true': Environment.nomad.memory_oversubscription takes "
     "True or False, not str; write True or False, without quotes"),
    (DEV, {"ingress": dataclasses.replace(DEV.ingress, proxy_port="8443")},
     "environment \"dev\": ingress.proxy_port = '8443': Environment.ingress.proxy_port takes a whole number, not "
     "str; write 8443 without quotes"),
    (DEV, {"bootstrap": dataclasses.replace(DEV.bootstrap, ca_ttl_h="87600h")},
     "environment \"dev\": bootstrap.ca_ttl_h = '87600h': Environment.bootstrap.ca_ttl_h takes a whole number, "
     "not str; give a whole number"),
]


@pytest.mark.parametrize("base, changes, message", ENVIRONMENT_CASES)
def test_an_environment_with_a_wrong_type_anywhere_is_refused_in_one_line_naming_its_path(base, changes, message):
    with pytest.raises(HashistackError) as error:
        dataclasses.replace(base, **changes)
    assert str(error.value) == message
    assert "\n" not in str(error.value)


def test_the_apps_environments_pass_the_type_check():
    from hashistack._types import check_types

    for env in ENVIRONMENTS:
        check_types(env, env.name, construct="Environment")
