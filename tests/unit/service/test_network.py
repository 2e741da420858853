"""A service's ports: in range, each label and container port once, host ports clear of the
platform's (derived from the cluster's port matrix), and a health check that speaks the protocol
its port's label names."""

from __future__ import annotations

import pytest

from hashistack import HashistackError
from hashistack.cluster.ports import PORT_MATRIX
from hashistack.service import HealthCheck, ServiceSpec, plan_service
from stacks.environments import DEV

IMAGE = "registry.example.com/team/web:1.0.0"


def plan(**props):
    props.setdefault("health", HealthCheck.http("/health"))
    return plan_service(ServiceSpec(name="web", image=IMAGE, **props), DEV)


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_a_port_outside_1_to_65535_is_refused_with_the_range(port):
    with pytest.raises(HashistackError, match=rf"^dev/web: port = {port}: use a TCP port from 1 to 65535 \(the port the "
                                              r"app listens on in its container\)$"):
        plan(port=port)


@pytest.mark.parametrize("spec", PORT_MATRIX, ids=lambda s: f"{s.product}-{s.port_text}")
def test_a_static_port_the_platform_holds_is_refused_for_every_port_of_the_matrix(spec):
    with pytest.raises(HashistackError) as error:
        plan(static_port=spec.to_port)
    assert str(error.value).startswith(f"dev/web: static_port = {spec.to_port}: every client holds this port "
                                       f"({spec.product}'s {spec.name} port): pick a host port outside")


def test_the_ingress_proxys_port_is_refused_to_any_other_service():
    port = DEV.ingress.proxy_port
    with pytest.raises(HashistackError, match=rf"^dev/web: static_port = {port}: the ingress proxy listens on this port "
                                              r"on every client"):
        plan(static_port=port)
    assert plan(static_port=9443).job.groups[0].network.ports[0].static == 9443  # a free one is taken


def test_an_extra_port_is_neither_the_services_port_nor_its_label():
    with pytest.raises(HashistackError, match=r"^dev/web: extra_ports\[admin\] = 8080: 8080 is the service's own port: "
                                              r"an extra port would open it on the host beside the sidecar"):
        plan(extra_ports={"admin": 8080})
    with pytest.raises(HashistackError, match=r"^dev/web: extra_ports\[http\] = 9000: 'http' is already the label of the "
                                              r"service's port"):
        plan(extra_ports={"http": 9000})
    with pytest.raises(HashistackError, match=r"^dev/web: extra_ports\[metrics\] = 0: use a TCP port from 1 to 65535$"):
        plan(extra_ports={"metrics": 0})


def test_a_health_check_speaks_the_protocol_its_port_is_named_for():
    with pytest.raises(HashistackError, match=r"^dev/web: health = \"HealthCheck.grpc\(...\) on port 'http'\": the "
                                              r"port's label says it serves http: check it with HealthCheck.http"):
        plan(health=HealthCheck.grpc())
    with pytest.raises(HashistackError, match=r"the port's label says it serves grpc"):
        plan(port_label="grpc", health=HealthCheck.http("/health"))
    assert plan(port_label="grpc", health=HealthCheck.grpc()).job.groups[0].services[0].checks[0].type == "grpc"
