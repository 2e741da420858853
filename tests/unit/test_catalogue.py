"""The per-environment catalogue: each service planned once per synth, and the rules between
services (names, upstreams, ingress routes) checked in one place."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from hashistack import HashistackError
from hashistack.catalogue import EnvironmentServices
from hashistack.ingress import PROXY_NAME
from hashistack.service import HealthCheck, Ingress, ServiceSpec, Upstream, plan
from stacks.app import build_app
from stacks.apps import services
from stacks.environments import DEV, ENVIRONMENTS

IMAGE = "registry.example.com/team/app:1.0.0"


def spec(name: str, **props) -> ServiceSpec:
    return ServiceSpec(name=name, image=IMAGE, health=HealthCheck.http("/health"), **props)


@pytest.fixture
def plans_made(monkeypatch) -> Counter:
    """Counts plan_service calls per (environment, service), through every module's reference."""
    original = plan.plan_service
    made: Counter = Counter()

    def counting(spec, env, **kwargs):
        made[(env.name, spec.name)] += 1
        return original(spec, env, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "plan_service", None) is original:
            monkeypatch.setattr(module, "plan_service", counting)
    return made


def test_each_service_is_planned_once_per_environment_per_synth(plans_made):
    # the layers that read services (the vault and service stacks) of every environment
    selected = ",".join(name for env in ENVIRONMENTS for name in env.stack_names[1:])
    app = build_app(environments=ENVIRONMENTS, stacks=selected)
    deployed = {(env.name, s.name) for env in ENVIRONMENTS for s in services(env).deployed}
    plans_made.clear()  # the expected set above planned too: count only the app's build
    app = build_app(environments=ENVIRONMENTS, stacks=selected)
    assert set(plans_made) == deployed and set(plans_made.values()) == {1}, plans_made
    assert app.node.children


def test_the_catalogue_plans_each_spec_once_and_the_stacks_use_its_plans(plans_made):
    catalogue = EnvironmentServices.build(DEV, [spec("a", upstreams=(Upstream("b", 9091),)), spec("b")])
    assert dict(plans_made) == {("dev", "a"): 1, ("dev", "b"): 1, ("dev", PROXY_NAME): 1}
    assert catalogue.plan("a").upstreams == (Upstream("b", 9091),)


def test_names_are_unique_across_the_environments_services():
    with pytest.raises(HashistackError, match=r"^dev/b: service_name = 'shop': already the name of the service in "
                                              r"dev/a; give each service its own name$"):
        EnvironmentServices.build(DEV, [spec("a", service_name="shop"), spec("b", service_name="shop")])
    with pytest.raises(HashistackError, match=r"^x\.py: name = 'a': already the name of the service in w\.py"):
        EnvironmentServices.build(DEV, [spec("a"), spec("a")], origins=["w.py", "x.py"])


def test_an_upstream_names_a_service_of_the_environment_in_the_mesh():
    with pytest.raises(HashistackError, match=r"^dev/a: upstreams\[nope\]\.service = 'nope': no service of "
                                              r"environment 'dev' is registered under this name; use one of \['a'\]$"):
        EnvironmentServices.build(DEV, [spec("a", upstreams=(Upstream("nope", 9091),))])
    with pytest.raises(HashistackError, match=r"^dev/a: upstreams\[b\]\.service = 'b': b is registered in Nomad's own "
                                              r"catalogue"):
        EnvironmentServices.build(DEV, [spec("a", upstreams=(Upstream("b", 9091),)),
                                        ServiceSpec(name="b", image=IMAGE, registration="nomad")])


def test_a_host_and_path_routed_twice_is_refused_naming_both():
    with pytest.raises(HashistackError, match=r"^dev/b: ingress = 'a.dev.example.com/': service 'a' already routes "
                                              r"host 'a.dev.example.com' path '/'"):
        EnvironmentServices.build(DEV, [spec("a", ingress=Ingress.https("a.dev.example.com")),
                                        spec("b", ingress=Ingress.https("a.dev.example.com"))])


def test_something_other_than_a_spec_is_refused():
    with pytest.raises(HashistackError, match=r"^dev: services = dict: give each service as a "
                                              r"hashistack.service.ServiceSpec$"):
        EnvironmentServices.build(DEV, [{"name": "a"}])  # type: ignore[list-item]


def test_the_intentions_follow_the_upstreams_and_ingresses():
    catalogue = EnvironmentServices.build(DEV, [spec("a", upstreams=(Upstream("b", 9091),),
                                                     ingress=Ingress.https("a.dev.example.com")), spec("b")])
    assert catalogue.intentions.edges() == [("a", "b"), (PROXY_NAME, "a")]
