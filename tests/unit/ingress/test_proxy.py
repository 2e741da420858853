"""The ingress proxy as a model: routes and their rules, Traefik's configuration, the proxy's
service spec and Nomad job, and its place in the synthesized ``<env>`` and ``<env>-vault`` stacks.
The real Traefik runs these configurations in real/test_traefik_real.py."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import yaml

from hashistack import HashistackError
from hashistack.ingress import (
    LOCAL_PORT_BASE,
    PROXY_NAME,
    PROXY_USER,
    STATIC_FILE,
    TRAEFIK_IMAGE,
    Route,
    TraefikPaths,
    dynamic_config,
    ingress_routes,
    proxy_spec,
    render_yaml,
    stable_port,
    static_config,
)
from hashistack.ingress import routes as routes_module
from hashistack.service import HealthCheck, Ingress, ServiceSpec, Tls, Upstream, plan_service
from hashistack.terraform_escape import unescape
from hashistack.catalogue import EnvironmentServices
from stacks.apps import services
from stacks.environments import DEV, ENVIRONMENTS, PROD

from tests.support.nomad_api import api_field_problems

IMAGE = "registry.example.com/team/app:1.0.0"


def web(name: str, host: str | None = None, *, path: str = "/", tls: bool | Tls = False, **props) -> ServiceSpec:
    """A service of the tests; ``host`` defaults to ``<name>.<public domain of dev>``; ``tls=True``
    gives it a certificate that carries its ingress host."""
    host = host or f"{name}.dev.example.com"
    if tls is True:
        props["tls"] = Tls(alt_names=(host,))
    elif isinstance(tls, Tls):
        props["tls"] = tls
    props.setdefault("health", HealthCheck.http("/health", tls="skip-verify" if tls else None))
    return ServiceSpec(name=name, image=IMAGE, ingress=Ingress.https(host, path=path), **props)


def env_with(env, **ingress):
    return dataclasses.replace(env, ingress=dataclasses.replace(env.ingress, **ingress))


# --- routes ------------------------------------------------------------------------------------


def test_routes_take_a_stable_loopback_port_each_in_service_name_order():
    # given services declared in any order, one of them serving TLS
    specs = [web("shop", tls=True), ServiceSpec(name="internal", image=IMAGE), web("docs", "shop.dev.example.com",
                                                                                    path="/docs")]
    # when the routes are planned
    routes = ingress_routes(specs, DEV)
    # then each routed service gets the port its name derives, sorted by name; the rest none
    docs, shop = stable_port("docs"), stable_port("shop")
    assert routes == (
        Route(service="docs", host="shop.dev.example.com", path="/docs", local_port=docs, app_tls=False,
              server_name=None),
        Route(service="shop", host="shop.dev.example.com", path="/", local_port=shop, app_tls=True,
              server_name="shop.dev.example.com"),
    )
    assert routes[0].url == f"http://127.0.0.1:{docs}" and routes[1].url == f"https://127.0.0.1:{shop}"
    assert routes[1].rule == "Host(`shop.dev.example.com`) && PathPrefix(`/`)"
    assert ingress_routes(list(reversed(specs)), DEV) == routes
    assert all(LOCAL_PORT_BASE <= r.local_port < routes_module.LOCAL_PORT_CEILING for r in routes)


def test_a_new_routed_service_moves_no_other_services_port():
    # a newcomer sorting before, between and after the existing services
    before = {r.service: r.local_port for r in ingress_routes([web("docs"), web("shop")], DEV)}
    after = {r.service: r.local_port for r in ingress_routes([web("docs"), web("shop"), web("aaa"), web("inventory"),
                                                              web("zzz")], DEV)}
    assert {name: after[name] for name in before} == before


def _colliding_names() -> tuple[str, str]:
    seen: dict[int, str] = {}
    for i in range(10_000):
        name = f"svc{i}"
        port = stable_port(name)
        if port in seen:
            return seen[port], name
        seen[port] = name
    raise AssertionError("no two names share a port")


def test_two_names_on_one_port_are_refused_with_a_free_port_to_pin_and_a_pin_resolves_it():
    first, second = sorted(_colliding_names())  # the one later in name order is refused
    port = stable_port(first)
    with pytest.raises(HashistackError) as error:
        ingress_routes([web(first), web(second)], DEV)
    message = str(error.value)
    assert message.startswith(f"dev/{second}: ingress.local_port = {port}: the ingress proxy's loopback port for "
                              f"{second!r} is already the port of {first!r}: pin another with "
                              f"Ingress.https(..., local_port=")
    free = int(message.rsplit("local_port=", 1)[1].rstrip(")"))
    pinned = web(second, **{})  # the same service, its port pinned as the message says
    pinned = dataclasses.replace(pinned, ingress=Ingress.https(pinned.ingress.host, local_port=free))
    routes = {r.service: r.local_port for r in ingress_routes([web(first), pinned], DEV)}
    assert routes == {first: port, second: free}


def test_routes_use_the_consul_service_name_and_refuse_the_proxy_port():
    routes = ingress_routes([web("a", service_name="alpha"), web("b")], DEV)
    assert [(r.service, r.local_port) for r in routes] == [("alpha", stable_port("alpha")), ("b", stable_port("b"))]
    env = env_with(DEV, proxy_port=stable_port("alpha"))
    with pytest.raises(HashistackError, match=rf"^dev/a: ingress.local_port = {stable_port('alpha')}: the ingress "
                                              r"proxy's loopback port for 'alpha' is already the proxy's own port "
                                              r"\(IngressSettings.proxy_port\): pin another with"):
        ingress_routes([web("a", service_name="alpha"), web("b")], env)


@pytest.mark.parametrize("port", [LOCAL_PORT_BASE - 1, routes_module.LOCAL_PORT_CEILING])
def test_a_pinned_port_outside_the_proxys_loopback_range_is_refused(port):
    spec = dataclasses.replace(web("shop"), ingress=Ingress.https("shop.dev.example.com", local_port=port))
    with pytest.raises(HashistackError, match=rf"^dev/shop: ingress.local_port = {port!r}: use a whole number in "
                                              r"10000-18999"):
        plan_service(spec, DEV)


@pytest.mark.parametrize("port", ["10001", True])
def test_a_pinned_port_of_another_type_is_refused_when_the_spec_is_built(port):
    with pytest.raises(HashistackError, match=rf"^shop: ingress.local_port = {port!r}: ServiceSpec.ingress.local_port "
                                              r"takes a whole number or None, not (str|bool)"):
        dataclasses.replace(web("shop"), ingress=Ingress.https("shop.dev.example.com", local_port=port))


def test_base_lies_outside_agent_ports_nomads_dynamic_range_and_envoys_listeners():
    assert 8600 < routes_module.LOCAL_PORT_BASE < routes_module.LOCAL_PORT_CEILING <= 19000 < 20000


@pytest.mark.parametrize("path", ["/a`)||Host(`evil.dev.example.com", "//a", "/a/./b", "/a\\b", "/a\"b"])
def test_rejects_a_path_that_is_not_safe_in_a_traefik_rule(path):
    # the service's own plan accepts these paths; inside Traefik's rule a backtick would end the
    # string and add a matcher of the path's own
    with pytest.raises(HashistackError) as error:
        ingress_routes([web("shop", path=path)], DEV)
    assert str(error.value) == (
        f"dev/shop: ingress.path = {path!r}: use an absolute path prefix of URL-safe characters such as '/' or "
        "'/api' (no '..', '//' or backticks)")


@pytest.mark.parametrize("spec, env, message", [
    (web("shop"), dataclasses.replace(DEV, ingress=None),
     "dev/shop: ingress = 'shop.dev.example.com': environment 'dev' has no ingress tier"),
    (web("shop", "shop.example.org"), DEV,
     "dev/shop: ingress.host = 'shop.example.org': use a lowercase host name under the environment's public domain "
     "'dev.example.com'"),
    (dataclasses.replace(web("shop", "shop.example.com"), ingress=Ingress.http("shop.example.com")), PROD,
     "prod/shop: ingress = \"Ingress.http(host='shop.example.com')\": plain HTTP from users is for development only"),
    (web("shop", registration="nomad"), DEV, "dev/shop: ingress = 'shop.dev.example.com': the ingress proxy reaches "
                                             "services through Consul's service mesh"),
])
def test_routes_are_refused_with_the_service_plans_own_message(spec, env, message):
    # the service's plan validates its ingress; the proxy's routes fail the same way
    with pytest.raises(HashistackError) as error:
        ingress_routes([spec], env)
    assert str(error.value).startswith(message)
    with pytest.raises(HashistackError) as planned:
        plan_service(spec, env)
    assert str(planned.value) == str(error.value)


def test_a_tls_service_without_its_ingress_host_is_verified_by_its_common_name():
    (route,) = ingress_routes([web("shop", tls=Tls())], DEV)
    assert (route.app_tls, route.server_name) == (True, "shop.service.consul")


def test_accepts_plain_http_ingress_in_development_and_the_apex_host():
    spec = dataclasses.replace(web("shop"), ingress=Ingress.http("dev.example.com", path="/shop/"))
    (route,) = ingress_routes([spec], DEV)
    assert (route.host, route.path, route.app_tls) == ("dev.example.com", "/shop/", False)


def test_rejects_two_services_on_one_host_and_path_naming_both():
    with pytest.raises(HashistackError) as error:
        ingress_routes([web("shop"), web("store", "shop.dev.example.com")], DEV)
    assert str(error.value) == (
        "dev/store: ingress = 'shop.dev.example.com/': service 'shop' already routes host 'shop.dev.example.com' path "
        "'/': give each service its own host or path prefix")


def test_rejects_two_ingress_services_under_one_consul_name():
    with pytest.raises(HashistackError, match=r"^dev/b: service_name = 'shared': another service with ingress "
                                              r"registers under this name: give each service its own name$"):
        ingress_routes([web("a", service_name="shared"), web("b", service_name="shared")], DEV)


def test_rejects_more_routed_services_than_loopback_ports(monkeypatch):
    monkeypatch.setattr(routes_module, "LOCAL_PORT_CEILING", LOCAL_PORT_BASE + 1)
    with pytest.raises(HashistackError) as error:
        ingress_routes([web("a"), web("b")], DEV)
    assert str(error.value) == (
        "dev/b: ingress.local_port = 10000: the ingress proxy's loopback port for 'b' is already the port of 'a': no "
        "loopback port is free (10000-10000); run a second environment or fewer routed services")


# --- Traefik's configuration -------------------------------------------------------------------


def test_static_config_serves_https_and_ping_on_one_entrypoint_and_exposes_no_api():
    config = static_config(proxy_port=8443, trusted_cidrs=("10.10.0.0/16",))
    assert config["entryPoints"] == {"websecure": {
        "address": ":8443",
        "http": {"tls": {}, "aliasHeadersStrategy": "delete", "sanitizePath": True,
                 "encodedCharacters": {"allowEncodedSlash": False, "allowEncodedBackSlash": False,
                                       "allowEncodedNullCharacter": False}},
        "forwardedHeaders": {"trustedIPs": ["10.10.0.0/16"]},
        "transport": {"lifeCycle": {"requestAcceptGraceTimeout": "10s", "graceTimeOut": "10s"}}}}
    assert config["ping"] == {"entryPoint": "websecure", "manualRouting": True, "terminatingStatusCode": 503}
    assert config["providers"] == {"file": {"filename": TraefikPaths().dynamic_file, "watch": True}}
    assert config["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert config["accessLog"]["format"] == "json" and "filePath" not in config["accessLog"]  # stdout
    assert config["log"] == {"level": "INFO", "format": "json"}
    assert "api" not in config and "metrics" not in config


def test_dynamic_config_verifies_tls_services_for_their_ingress_host_against_the_pki_ca():
    routes = ingress_routes([web("shop", tls=True), web("docs", "shop.dev.example.com", path="/docs")], DEV)
    config = dynamic_config(routes)
    http = config["http"]
    assert http["routers"]["shop"] == {"entryPoints": ["websecure"], "service": "shop", "tls": {},
                                       "rule": "Host(`shop.dev.example.com`) && PathPrefix(`/`)"}
    assert http["services"]["shop"] == {"loadBalancer": {"servers": [{"url": f"https://127.0.0.1:{stable_port('shop')}"}],
                                                         "passHostHeader": True, "serversTransport": "shop"}}
    assert http["serversTransports"] == {"shop": {"serverName": "shop.dev.example.com",
                                                  "rootCAs": ["/etc/traefik/tls/bundle.pem"]}}
    assert http["services"]["docs"] == {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{stable_port('docs')}"}],
                                                         "passHostHeader": True}}
    assert config["tls"]["stores"]["default"]["defaultCertificate"] == {
        "certFile": "/etc/traefik/tls/bundle.pem", "keyFile": "/etc/traefik/tls/bundle.pem"}
    assert config["tls"]["options"]["default"]["minVersion"] == "VersionTLS12"


def test_dynamic_config_without_routes_holds_the_certificate_and_the_ping_router():
    config = dynamic_config(())
    assert set(config) == {"tls", "http"}
    assert config["http"] == {"routers": {"Ping": {
        "entryPoints": ["websecure"], "rule": "Path(`/ping`) && !HeaderRegexp(`X-Forwarded-For`, `.`)",
        "service": "ping@internal", "tls": {}}}, "services": {}}


def test_rendered_yaml_reads_back_as_the_configuration_with_sorted_keys():
    routes = ingress_routes([web("shop", tls=True), web("null"), web("on"), web("1st")], DEV)
    for config in (static_config(proxy_port=8443, trusted_cidrs=("10.10.0.0/16",)), dynamic_config(routes)):
        text = render_yaml(config, header="generated\nby a test")
        assert text.startswith("# generated\n# by a test\n")
        assert yaml.safe_load(text) == config  # quoted 'null', 'on' and '1st' stay strings
        assert text == render_yaml(json.loads(json.dumps(config)), header="generated\nby a test")
    top = [line.split(":")[0] for line in render_yaml(static_config(proxy_port=1, trusted_cidrs=())).splitlines()
           if not line.startswith((" ", "#"))]
    assert top == sorted(top)


def test_render_yaml_refuses_values_it_does_not_write():
    with pytest.raises(TypeError, match="float 1.5 is not a YAML scalar"):
        render_yaml({"a": 1.5})


# --- the proxy's spec and job ------------------------------------------------------------------


def test_proxy_spec_is_traefik_on_the_proxy_port_with_upstreams_for_the_routes():
    specs = [web("shop", tls=True), web("docs"), ServiceSpec(name="internal", image=IMAGE)]
    spec = proxy_spec(DEV, ingress_routes(specs, DEV))
    assert (spec.name, spec.image, spec.static_port, spec.port, spec.port_label) == (
        PROXY_NAME, TRAEFIK_IMAGE, 8443, 8443, "https")
    assert re.fullmatch(r"traefik:v\d+\.\d+\.\d+", spec.image)
    # the routed docs and shop, in name order, each on its own stable port
    assert spec.upstreams == (Upstream("docs", stable_port("docs")), Upstream("shop", stable_port("shop")))
    assert spec.user == PROXY_USER and not spec.user.startswith("0")
    assert spec.tls == Tls(mount_dir="/etc/traefik/tls", bundle_name="bundle.pem", ttl_h=72)
    assert spec.health == HealthCheck.http("/ping", tls="skip-verify", interval_s=10, timeout_s=2)
    assert spec.args == (f"--configFile={STATIC_FILE}",)
    assert spec.job_type == "system" and spec.count is None
    files = {cfg.mount_at: cfg for cfg in spec.config_files}
    body = "".join(line + "\n" for line in files[STATIC_FILE].content.splitlines() if not line.startswith("#"))
    assert body == render_yaml(static_config(proxy_port=8443, trusted_cidrs=(DEV.network.vpc_cidr,)))
    assert files[TraefikPaths().dynamic_file].on_change.mode == "noop"
    assert files[STATIC_FILE].on_change.mode == "restart"
    assert spec == proxy_spec(DEV, ingress_routes(list(reversed(specs)), DEV))  # deterministic


def test_rejects_a_service_named_like_the_proxy_and_an_environment_without_ingress():
    with pytest.raises(HashistackError, match=r"^dev/ingress-proxy: name = 'ingress-proxy': 'ingress-proxy' is the "
                                              r"environment's ingress proxy: give the service another name$"):
        EnvironmentServices.build(DEV, [ServiceSpec(name="ingress-proxy", image=IMAGE)])
    with pytest.raises(HashistackError, match=r"^dev/edge: service_name = 'ingress-proxy': 'ingress-proxy' is the"):
        EnvironmentServices.build(DEV, [ServiceSpec(name="edge", service_name="ingress-proxy", image=IMAGE)])
    with pytest.raises(HashistackError, match=r"^dev/ingress-proxy: ingress = None: environment 'dev' declares no "
                                              r"IngressSettings, so it has no ingress proxy"):
        proxy_spec(dataclasses.replace(DEV, ingress=None), [])


@pytest.mark.parametrize("env", [e for e in ENVIRONMENTS if e.ingress], ids=lambda e: e.name)
def test_proxy_job_renders_the_entrypoint_port_image_check_and_templates(env):
    domain = env.ingress.public_domain
    catalogue = EnvironmentServices.build(env, [web("shop", f"shop.{domain}", tls=True), web("docs", f"docs.{domain}")])
    plan = catalogue.plan(PROXY_NAME)
    job = json.loads(plan.jobspec)["Job"]
    assert api_field_problems({"Job": job}) == []
    (group,) = job["TaskGroups"]
    ports = [p for n in group["Networks"] for p in n.get("ReservedPorts") or ()]
    assert ports == [{"Label": "https", "Value": env.ingress.proxy_port, "To": env.ingress.proxy_port}]
    (service,) = group["Services"]
    assert service["Name"] == PROXY_NAME and service["Provider"] == "consul"
    (check,) = service["Checks"]
    # Traefik serves TLS itself: Consul's agent checks it at the allocation's address, in the mesh
    assert {k: check[k] for k in ("Type", "Path", "Protocol", "TLSSkipVerify", "AddressMode", "PortLabel")} == {
        "Type": "http", "Path": "/ping", "Protocol": "https", "TLSSkipVerify": True, "AddressMode": "alloc",
        "PortLabel": str(env.ingress.proxy_port)}
    # the sidecar carries the proxy's calls to the routed services: no Consul or Nomad token in Traefik
    upstreams = service["Connect"]["SidecarService"]["Proxy"]["Upstreams"]
    assert upstreams == [{"DestinationName": r.service, "LocalBindPort": r.local_port} for r in catalogue.routes]
    assert [u["DestinationName"] for u in upstreams] == ["docs", "shop"]
    assert job["Type"] == "system" and group["Networks"][0]["Mode"] == "bridge"
    assert group["Update"]["MaxParallel"] == 1 and group["Update"]["Canary"] == 0 and group["Update"]["AutoRevert"]
    (task,) = group["Tasks"]
    assert task["Config"]["image"] == TRAEFIK_IMAGE and task["Config"]["args"] == [f"--configFile={STATIC_FILE}"]
    assert task["User"] == PROXY_USER
    templates = {t["DestPath"]: t for t in task["Templates"]}
    static = templates["local/mnt/etc-traefik-conf/traefik.yml"]["EmbeddedTmpl"]
    dynamic = templates["local/mnt/etc-traefik-conf/dynamic.yml"]["EmbeddedTmpl"]
    assert f'address: ":{env.ingress.proxy_port}"' in static and 'entryPoint: "websecure"' in static
    assert yaml.safe_load(dynamic)["http"]["routers"]["shop"]["rule"] == f"Host(`shop.{domain}`) && PathPrefix(`/`)"
    bundle = templates["secrets/tls/bundle.pem"]
    assert bundle["Perms"] == "0400" and bundle["Uid"] == 65532
    assert bundle["EmbeddedTmpl"].startswith(
        f'{{{{ with pkiCert "{env.vault.pki_intermediate_mount}/issue/ingress-proxy" '
        '"common_name=ingress-proxy.service.consul"')
    mounts = {m["target"]: m["source"] for m in task["Config"]["mount"]}
    assert mounts == {"/etc/traefik/conf": "local/mnt/etc-traefik-conf", "/etc/traefik/tls": "secrets/tls"}
    # its Vault access: exactly its own certificate
    assert [(r.path, r.capabilities) for r in plan.policy.rules] == [
        (f"{env.vault.pki_intermediate_mount}/issue/ingress-proxy", ("update",))]
    assert plan.pki_role.allowed_domains == ("ingress-proxy.service.consul",)


def test_the_catalogue_deploys_the_proxy_where_the_environment_has_ingress():
    specs = (web("shop", tls=True), ServiceSpec(name="internal", image=IMAGE))
    catalogue = EnvironmentServices.build(DEV, specs)
    assert catalogue.specs == specs and catalogue.proxy == proxy_spec(DEV, ingress_routes(specs, DEV))
    assert catalogue.deployed == (*specs, catalogue.proxy) and set(catalogue.plans) == {"shop", "internal", PROXY_NAME}
    without = EnvironmentServices.build(dataclasses.replace(DEV, ingress=None), specs[1:])
    assert without.proxy is None and without.deployed == specs[1:] and without.routes == ()


# --- the synthesized stacks --------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_synthesized_stacks_deploy_the_proxy_and_grant_its_certificate(synth, env):
    deployed = PROXY_NAME in [s.name for s in services(env).deployed]
    assert deployed is (env.ingress is not None)
    jobs = {}
    for resource in synth.stack(env.name)["resource"]["nomad_job"].values():
        job = json.loads(unescape(resource["jobspec"]))["Job"]
        jobs[job["ID"]] = job
    assert (PROXY_NAME in jobs) is deployed
    vault = synth.stack(f"{env.name}-vault")["resource"]
    policies = {p["name"] for p in vault["vault_policy"].values()}
    assert (f"svc-{PROXY_NAME}" in policies) is deployed
    if not deployed:
        return
    group = jobs[PROXY_NAME]["TaskGroups"][0]
    assert group["Networks"][0]["ReservedPorts"][0]["Value"] == env.ingress.proxy_port
    assert group["Tasks"][0]["Config"]["image"] == TRAEFIK_IMAGE
    roles = {r["role_name"]: r for r in vault["vault_jwt_auth_backend_role"].values()}
    assert roles[PROXY_NAME]["bound_claims"] == {"nomad_job_id": PROXY_NAME, "nomad_namespace": "default"}
    pki = {r["name"]: r for r in vault["vault_pki_secret_backend_role"].values()}
    assert pki[PROXY_NAME]["allowed_domains"] == ["ingress-proxy.service.consul"]
