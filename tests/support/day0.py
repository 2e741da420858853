"""The day-0 rehearsal: the README's bring-up, command for command, for a fresh environment, with
every layer's real engine where one runs here and source-derived stand-ins where none does.

The script is the first ``sh`` block of the README's "Bring-up" section; each ``make`` command in
it maps to one step below, and a command the rehearsal does not know fails it. Per step:

- ``make bootstrap ENV=E PHASE=secrets``: the real bootstrap against moto (SSM).
- ``make deploy ENV=E-infra``: what Terraform would create, from the synthesized ``E-infra``: the
  node groups' instances (in moto, with their auto-join tags) and each node role's boot from its
  launch template's user data. A node boots in a file-system model (what the packages, the boot's
  directories, SSM secrets and configs leave, owner and mode) and starts its units through
  :mod:`tests.support.systemd_standin`, which is no kinder than systemd and the products: a unit starts
  only if its file exists and its ``EnvironmentFile=``, ``ConditionFileNotEmpty=``, every config
  file and every certificate and key its config names exist and are readable by its ``User=``; a
  ``Type=notify`` Consul agent is ready only when Consul's own start would signal it
  (:mod:`tests.support.consul_rules`), judged on what the cluster knows at that moment of the rehearsal.
- ``make tunnel ENV=E``: the tunnel's plan against moto (which instance, which ports), checked
  against what that server's config listens on; the APIs then answer on the tunnel's local ports:
  Consul's and Nomad's ACL stand-ins (tests/support/bootstrap_standins.py) and a real OpenBao server, each
  serving HTTPS with the certificate phase ``secrets`` issued for that server.
- ``make bootstrap ENV=E PHASE=cluster ...``: the real bootstrap through those addresses; the
  first apply of ``E-vault`` is tests/support/bootstrap_vault_apply.py (the synthesized stack applied to
  OpenBao, its provider's address resolved as Terraform resolves it). Then every Consul agent is
  judged again (anti-entropy retries until its token exists).
- ``make deploy ENV=E``: every job of ``E`` placed on the clients as Nomad would
  (:mod:`tests.support.nomad_rules`): at least its ``count`` of feasible clients; and both ends of every
  seam agree (:mod:`tests.support.seams`), so a workload's login path, audiences and names meet.

A step that cannot succeed is recorded as a :class:`Finding` naming the step and the missing
precondition, and the rehearsal goes on where later steps can still be judged, so one run shows
every seam that breaks.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import boto3
from cryptography import x509

from hashistack.cluster import Role
from hashistack.cluster.boot import NodeBoot, node_boots
from hashistack.cluster.cloud_init import INSTANCE_ID, PRIVATE_IP
from hashistack.cluster.secrets import ClusterSecrets
from hashistack.environment import Environment

from tests.support import consul_rules, nomad_rules, systemd_standin
from tests.support.vault_engine import oidc_login
from tests.support.bootstrap_helpers import run_bootstrap
from tests.support.sandbox.packages import _UNITS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Bring-up: day 0"
APPLY = ROOT / "tests" / "support" / "bootstrap_vault_apply.py"
ROLES = (Role.CONSUL_SERVER, Role.NOMAD_SERVER, Role.VAULT_SERVER, Role.NOMAD_CLIENT)
PRODUCT_USERS = ("consul", "nomad", "vault")
CNI_PACKAGE = "containernetworking-plugins"
CNI_OUTPUT = "CNI {plugin} plugin version unknown\nCNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0\n"
"""What the plugins of Debian 13's containernetworking-plugins (1.1.1+ds1-3+b17) print when run
without arguments (read from the package tests/real/test_boot_sandbox.py installs; Nomad takes the
first token that parses as a version: 1.0.0)."""


def readme_commands(text: str | None = None) -> list[str]:
    """The ``make`` commands of the README's bring-up block, in order (comments and a trailing
    ``&`` dropped)."""
    text = README.read_text() if text is None else text
    section = text.split(SECTION, 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip().removesuffix("&").strip()
        if line.startswith("make "):
            commands.append(line)
    return commands


@dataclass(frozen=True)
class Finding:
    step: str
    problem: str

    def __str__(self) -> str:
        return f"{self.step}: {self.problem}"


class StepFailed(Exception):
    pass


# -- a node's files -------------------------------------------------------------------------------


@dataclass
class File:
    owner: str
    mode: int
    content: str = ""
    directory: bool = False


class Node:
    """One booted instance of a role, as files and unit states."""

    def __init__(self, role: Role, boot: NodeBoot, values: dict[str, str]) -> None:
        self.role, self.boot = role, boot
        ci = boot.cloud_init
        self.files: dict[str, File] = {}
        self.users = {"root"}
        products = [p for p, _ in ci.products]
        for product in products:  # the packages' layout (tests/support/sandbox/packages.py)
            self.users.add(product)
            confdir = f"/etc/{product}.d"
            self.files[confdir] = File(product, 0o755, directory=True)
            self.files[f"{confdir}/{product}.hcl"] = File(product, 0o644, "# packaged default\n")
            self.files[f"{confdir}/{product}.env"] = File(product, 0o644, "")
        for d in ci.directories:
            self.files[d.path] = File(d.owner, int(d.mode, 8), directory=True)
        for v in ci.volumes:
            self.files[v.mount_point] = File(v.owner, int(v.mode, 8), directory=True)
        for s in ci.secrets:
            value = values[s.ref.parameter]
            self.files[s.path] = File(s.owner, int(s.mode, 8), s.template % value if s.template else value + "\n")
        self.instance_id = f"i-0{list(Role).index(role):016x}"
        for f in ci.files:  # the boot's substitution, in the files it names
            content = (f.content.replace(PRIVATE_IP, "10.0.1.10").replace(INSTANCE_ID, self.instance_id)
                       if f.path in ci.substitute else f.content)
            self.files[f.path] = File(f.owner, int(f.mode, 8), content)
        self.units: dict[str, str] = {}

    def readable(self, path: str, user: str) -> str | None:
        """None if ``user`` can read ``path`` (every directory above it searchable), else why not."""
        if path not in self.files:
            return f"{path} does not exist"
        if user == "root":
            return None
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/" + "/".join(parts[:i])
            f = self.files.get(d)
            if f is not None and not _allows(f, user, 0o1):
                return f"{d} ({f.owner} {oct(f.mode)}) is not searchable by {user}"
        f = self.files[path]
        return None if _allows(f, user, 0o4) else f"{path} ({f.owner} {oct(f.mode)}) is not readable by {user}"

    def config(self, directory: str) -> dict:
        """Every ``*.hcl`` file of a config directory, merged as the agents merge them."""
        return systemd_standin.config(self, directory)

    # tests.support.systemd_standin.NodeView
    def unit_text(self, name: str) -> str | None:
        ci = self.boot.cloud_init
        product = name.removesuffix(".service")
        if product in dict(ci.products):
            return textwrap.dedent(_UNITS[product])
        staged = f"/etc/systemd/system/{name}"
        if staged in self.files:
            return self.files[staged].content
        packaged = {"docker.service": "docker.io" in ci.os_packages,
                    "systemd-resolved.service": "systemd-resolved" in ci.os_packages,
                    "amazon-ssm-agent.service": ci.ssm_agent_url is not None}
        return "[Service]\n" if packaged.get(name) else None

    def exists(self, path: str) -> bool:
        return path in self.files

    def content(self, path: str) -> str:
        return self.files[path].content

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.files if p.startswith(prefix) and "/" not in p[len(prefix):])


def _allows(f: File, user: str, bit: int) -> bool:
    if f.owner == user:  # files are installed owner:owner (install -o X -g X)
        return bool(f.mode & (bit << 6) or f.mode & (bit << 3))
    return bool(f.mode & bit)


class Rehearsal:
    def __init__(self, env: Environment, synth, aws: dict[str, str], monkeypatch, workdir: Path, *,
                 boots: dict[Role, NodeBoot] | None = None, commands: list[str] | None = None,
                 vault_stack: dict | None = None, keyholders: tuple[Path, ...] = ()) -> None:
        from tests.support.bootstrap_standins import ConsulStandIn

        self.env, self.synth, self.aws, self.monkeypatch, self.workdir = env, synth, aws, monkeypatch, workdir
        self.secrets = ClusterSecrets.under(f"/hashistack/{env.name}")
        self.boots = boots
        self.commands = readme_commands() if commands is None else commands
        self.vault_stack = vault_stack if vault_stack is not None else synth.stack(f"{env.name}-vault")
        self.findings: list[Finding] = []
        self.consul_acl = ConsulStandIn()  # the Consul servers' ACL state: no token is known until phase cluster
        self.nodes: dict[Role, Node] = {}
        self.servers: dict[str, object] = {}
        self.tunnel: dict[str, int] | None = None
        self.log: list[str] = []
        self.environments = "stacks.environments"
        self.again = False
        self.idp = None
        oidc = [m for m in env.vault.login_methods if m.kind == "oidc"]
        if keyholders or oidc:
            self._prepare_environment(keyholders, oidc)

    def _prepare_environment(self, keys: tuple[Path, ...], oidc: list) -> None:
        """The README's preconditions outside development: the recovery keyholders' public keys
        listed in the environment's ``bootstrap.recovery_pgp_key_paths`` (an edit of
        stacks/environments.py, made here in a module of the rehearsal's own), and each OIDC
        login's client secret from the identity provider in its variable. The provider is a
        stand-in (tests/support/vault_engine.py JwksStandIn, with the token endpoint that checks the
        secret); the module points the login's discovery at it, as the real one is unreachable."""
        from tests.support.vault_engine import JwksStandIn

        module = f"rehearsal_environments_{self.env.name}"
        (self.workdir / "pgp").mkdir(exist_ok=True)
        paths = []
        for key in keys:  # relative to the bootstrap's --root, as in the project
            (self.workdir / "pgp" / key.name).write_bytes(key.read_bytes())
            paths.append(f"pgp/{key.name}")
        logins = ""
        if oidc:
            self.idp = JwksStandIn(self.workdir).start()
            for m in oidc:
                self.idp.clients[m.client_id] = f"rehearsal-secret-{m.path}"
                self.monkeypatch.setenv(m.secret_variable, f"rehearsal-secret-{m.path}")
            logins = (", vault=dataclasses.replace(e.vault, login_methods=tuple(dataclasses.replace(\n"
                      f"    m, discovery_url={self.idp.issuer!r}, discovery_ca_pem={self.idp.ca_pem!r})"
                      " if m.kind == 'oidc' else m for m in e.vault.login_methods))")
        (self.workdir / f"{module}.py").write_text(
            "import dataclasses\n"
            "from stacks.environments import ENVIRONMENTS as _ALL\n"
            "ENVIRONMENTS = tuple(dataclasses.replace(e, bootstrap=dataclasses.replace(\n"
            f"    e.bootstrap, recovery_pgp_key_paths={tuple(paths)!r}){logins}) if e.name == {self.env.name!r}"
            " else e for e in _ALL)\n")
        self.monkeypatch.syspath_prepend(str(self.workdir))
        self.environments = module

    # -- driver ---------------------------------------------------------------------------

    def run(self, *, again: bool = False) -> list[Finding]:
        """The script, then (``again``) its bootstrap commands a second time, which must change
        nothing: re-running any command is safe."""
        try:
            steps = [re.sub(r"ENV=prod\b", f"ENV={self.env.name}", c) for c in self.commands]  # the README's is prod
            for step in steps:
                try:
                    self._step(step)
                except StepFailed as e:
                    self.findings.append(Finding(f"`{step}`", str(e)))
            if again and not self.findings:
                self.again = True
                for step in (s for s in steps if " bootstrap " in f" {s} "):
                    try:
                        self._step(step)
                    except StepFailed as e:
                        self.findings.append(Finding(f"`{step}` run again", str(e)))
        finally:
            self.close()
        return self.findings

    def close(self) -> None:
        for s in [self.consul_acl, *self.servers.values(), *([self.idp] if self.idp else [])]:
            s.stop()
        self.servers.clear()
        self.idp = None

    def _step(self, command: str) -> None:
        words = shlex.split(command)
        target, args = words[1], dict(w.split("=", 1) for w in words[2:] if "=" in w)
        env_arg = args.get("ENV", "")
        self.log.append(command)
        if target == "bootstrap" and args.get("PHASE") == "secrets":
            return self.bootstrap_secrets()
        if target == "deploy" and env_arg == f"{self.env.name}-infra":
            return self.deploy_infra()
        if target == "tunnel" and env_arg == self.env.name:
            return self.open_tunnel(args)
        if target == "bootstrap" and args.get("PHASE") == "cluster":
            return self.bootstrap_cluster(args)
        if target == "deploy" and env_arg == self.env.name:
            return self.deploy_services(args)
        raise StepFailed("the rehearsal does not know this command; teach tests/support/day0.py what it does")

    # -- steps ----------------------------------------------------------------------------

    def bootstrap_secrets(self) -> None:
        run = run_bootstrap("--env", self.env.name, "--phase", "secrets", "--environments", self.environments,
                            "--root", str(self.workdir),
                            env=self.aws, monkeypatch=self.monkeypatch)
        if run.code != 0:
            raise StepFailed(f"exit {run.code}:\n{run.output}")
        if self.again and "- no changes" not in run.stdout:
            raise StepFailed(f"a second run changed something:\n{run.stdout}")

    def _values(self) -> dict[str, str]:
        ssm = boto3.client("ssm", region_name=self.env.region)
        names = [s.parameter for s in self.secrets.catalogue()]
        values = {}
        for i in range(0, len(names), 10):
            for p in ssm.get_parameters(Names=names[i:i + 10], WithDecryption=True)["Parameters"]:
                values[p["Name"]] = p["Value"]
        return values

    def deploy_infra(self) -> None:
        infra = self.synth.stack(f"{self.env.name}-infra")
        boots = self.boots
        if boots is None:
            boots = node_boots(self.env, self.secrets)
            self._check_user_data(boots)
        values = self._values()
        self._instances(infra)
        problems = []
        for role in ROLES:
            missing = [s.ref.parameter for s in boots[role].cloud_init.secrets if not values.get(s.ref.parameter)]
            if missing:
                problems.append(f"{role.value}: the boot reads SSM parameters that no earlier step created: "
                                f"{', '.join(sorted(set(missing)))}")
                continue
            self.nodes[role] = Node(role, boots[role], values)
        # every node group boots at once: a Consul server joins its peers once its own start
        # returned, and the other agents are ready once a server has started (its unit active)
        consul_server = self.nodes.get(Role.CONSUL_SERVER)
        server_starts = consul_server is not None and consul_rules.start_returns(
            consul_server.config("/etc/consul.d"), known_tokens=self.consul_acl.tokens) is None
        state = systemd_standin.ClusterState(consul_servers_started=server_starts, known_tokens=self.consul_acl.tokens)
        for role, node in self.nodes.items():  # Consul servers first (ROLES' order)
            if role is not Role.CONSUL_SERVER and consul_server is not None:
                state.consul_servers_started = consul_server.units.get("consul") == "active"
            running: dict[str, bool] = {}
            for unit in node.boot.cloud_init.services:
                why = systemd_standin.start(node, unit, state, running)
                node.units[unit] = "active" if why is None else f"failed: {why}"
                if why:
                    problems.append(f"{role.value}: {unit} never becomes ready ({why}); the boot abandons the "
                                    "instance, the group replaces it in a loop and the deploy fails at "
                                    "wait_for_capacity_timeout")
        if problems:
            raise StepFailed("\n  ".join(problems))

    def _check_user_data(self, boots: dict[Role, NodeBoot]) -> None:
        """The boots the rehearsal models are the ones the launch templates ship."""
        from tests.support.boot_docs import launch_templates, user_data_text

        templates = launch_templates(self.synth, self.env)
        for role in ROLES:
            assert user_data_text(templates[role]) == boots[role].cloud_init.render(), role

    def _instances(self, infra: dict) -> None:
        """The instances the node groups launch, in moto, tagged as the groups tag them."""
        ec2 = boto3.client("ec2", region_name=self.env.region)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for group in infra["resource"]["aws_autoscaling_group"].values():
            tags = [{"Key": t["key"], "Value": t["value"]} for t in group.get("tag") or [] if t.get("propagate_at_launch")]
            ec2.run_instances(ImageId=image, MinCount=group["desired_capacity"], MaxCount=group["desired_capacity"],
                              InstanceType="t3.micro", TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])

    def open_tunnel(self, args: dict[str, str]) -> None:
        from hashistack.bootstrap import tunnel

        from tests.support.bootstrap_bao import BaoServer
        from tests.support.bootstrap_standins import ConsulStandIn, NomadStandIn

        values = self._values()
        v = {s.field: values.get(s.parameter, "") for s in self.secrets.catalogue()}
        missing = [f for f in ("consul_server_cert", "nomad_server_cert", "vault_cert", "ca_cert") if not v[f]]
        if missing:
            raise StepFailed(f"the servers' certificates are not in SSM ({', '.join(missing)}): no earlier step made them")
        self.servers = {
            "consul": ConsulStandIn(tls=(v["consul_server_cert"], v["consul_server_key"])),
            "nomad": NomadStandIn(tls=(v["nomad_server_cert"], v["nomad_server_key"])),
            "vault": BaoServer(self.workdir / "vault", cert_pem=v["vault_cert"], key_pem=v["vault_key"],
                               ca_pem=v["ca_cert"]),
        }
        # the Consul servers' ACL state is the stand-in's that phase cluster talks to
        self.consul_acl.stop()
        self.consul_acl = self.servers["consul"]  # type: ignore[assignment]
        # the local ends: where the engines listen (the documented LOCAL_PORTS option)
        ports = {p: s.port for p, s in self.servers.items()}  # type: ignore[attr-defined]
        tunnels = tunnel.plan(self.env, boto3.client("ec2", region_name=self.env.region), ports)
        problems = []
        for t in tunnels:
            role = tunnel.SERVER_ROLES[t.product]
            node = self.nodes.get(role)
            if node is None:
                problems.append(f"{t.product}: no booted {role.value} to forward to")
                continue
            why = consul_rules.serves_on_loopback(t.product, node, t.remote_port)
            if why:
                problems.append(f"{t.product}: {t.instance_id}:{t.remote_port}: {why}")
        if problems:
            raise StepFailed("\n  ".join(problems))
        # the command itself (its plan and the exports it writes for `make deploy ... TUNNEL=1`);
        # --dry-run: Session Manager does not run here, the engines above answer on those ports
        self.monkeypatch.setenv("XDG_CACHE_HOME", str(self.workdir / "cache"))
        run = run_bootstrap("--env", self.env.name, "--phase", "tunnel", "--environments", self.environments,
                            "--dry-run", "--local-ports", ",".join(f"{p}={port}" for p, port in ports.items()),
                            env=self.aws, monkeypatch=self.monkeypatch)
        if run.code != 0:
            raise StepFailed(f"exit {run.code}:\n{run.output}")
        self.tunnel = ports

    def bootstrap_cluster(self, args: dict[str, str]) -> None:
        extra: list[str] = []
        if args.get("TUNNEL"):
            if self.tunnel is None:
                raise StepFailed("TUNNEL=1 without a tunnel: no earlier step opened one (make tunnel ENV=...)")
            extra += ["--via-tunnel", "--local-ports", ",".join(f"{p}={port}" for p, port in self.tunnel.items())]
        else:
            hosts = [getattr(self.env, p).address for p in ("consul", "nomad", "vault")]
            raise StepFailed("the APIs are unreachable on the documented operator path: the bootstrap dials "
                             f"{', '.join(hosts)}, names in the cluster's private zone behind internal load "
                             "balancers, and no step opened a route from the operator's machine")
        stack_json = self.workdir / f"{self.env.name}-vault.json"
        stack_json.write_text(json.dumps(self.vault_stack))
        record = self.workdir / "root-token"
        run = run_bootstrap("--env", self.env.name, "--phase", "cluster", "--environments", self.environments,
                            "--root", str(self.workdir), *extra,
                            "--vault-apply", f"{sys.executable} {APPLY} {record} {stack_json}",
                            env=self.aws, monkeypatch=self.monkeypatch)
        if run.code != 0:
            raise StepFailed(f"exit {run.code}:\n{run.output[-3000:]}")
        if self.again:
            if "- no changes" not in run.stdout:
                raise StepFailed(f"a second run changed something:\n{run.stdout}")
            return
        # anti-entropy: every agent's registration now goes through, if its token exists
        problems = []
        for role, node in self.nodes.items():
            cfg = node.config("/etc/consul.d")
            why = consul_rules.token_problem(cfg, self.consul_acl.tokens, self.consul_acl.policies)
            if why:
                problems.append(f"{role.value}: consul: {why}")
        if problems:
            raise StepFailed("\n  ".join(problems))
        # operators log in through each OIDC login now that the root token is gone
        vault = self.servers["vault"]
        for m in (m for m in self.env.vault.login_methods if m.kind == "oidc"):
            role = next(r for r in m.roles if "platform-operator" in r.policies)
            claims = {"sub": "operator", **{k: list(v) if isinstance(v, tuple) else v
                                            for k, v in role.bound_claims.items()}}
            login = oidc_login(f"https://127.0.0.1:{self.tunnel['vault']}", vault.ca_file,  # type: ignore[attr-defined]
                               self.idp, role.name, claims, path=m.path)
            if login.status_code != 200 or "platform-operator" not in login.json()["auth"]["policies"]:
                raise StepFailed(f"an operator cannot log in through the {m.path} login: HTTP {login.status_code}: "
                                 f"{login.text[:300]}")

    def _operator_reaches_nomad(self, args: dict[str, str]) -> str | None:
        """Where the services stack's Nomad provider dials from the operator's machine, resolved
        as Terraform does (TF_VAR_ from the tunnel's exports with TUNNEL=1), and why that fails."""
        from tests.support.bootstrap_vault_apply import provider_address

        environ: dict[str, str] = {}
        if args.get("TUNNEL") == "1":
            exports = self.workdir / "cache" / "hashistack" / f"{self.env.name}.tunnel.env"
            if self.tunnel is None or not exports.is_file():
                return "TUNNEL=1 without a tunnel: no earlier step opened one"
            for word in shlex.split(exports.read_text()):
                if "=" in word:
                    key, value = word.split("=", 1)
                    environ[key] = value
        address = provider_address(self.synth.stack(self.env.name), "nomad", environ)
        if self.tunnel is not None and address == f"https://127.0.0.1:{self.tunnel['nomad']}":
            return None
        return (f"the Nomad provider dials {address}, which the operator's machine cannot reach (a name in the "
                "cluster's private zone, or no tunnel there); deploy through the tunnel: make deploy ENV=... TUNNEL=1")

    def deploy_services(self, args: dict[str, str] | None = None) -> None:
        reach = self._operator_reaches_nomad(args or {})
        if reach:
            raise StepFailed(reach)
        clients = self.clients()
        jobs = [json.loads(j["jobspec"])["Job"] for j in
                (self.synth.stack(self.env.name)["resource"].get("nomad_job") or {}).values()]
        problems = []
        node = self.nodes.get(Role.NOMAD_CLIENT)
        if node is not None and any((s.get("Connect") or {}).get("SidecarService") is not None
                                    for job in jobs for g in job.get("TaskGroups") or [] for s in g.get("Services") or []):
            # Envoy dials the local agent's gRPC TLS port through Nomad's socket relay, with TLS only
            # when grpc_ca_file is set (Consul command/connect/envoy/envoy.go xdsAddress)
            nomad_cfg, consul_cfg = node.config("/etc/nomad.d"), node.config("/etc/consul.d")
            if not _verifies(node, nomad_cfg, consul_cfg, ca_key="grpc_ca_file"):
                problems.append("Envoy sidecars cannot verify the local Consul agent's gRPC TLS certificate with "
                                f"Nomad's consul.grpc_ca_file ({nomad_cfg.get('consul', [{}])[0].get('grpc_ca_file')})")
        # the handshakes between the layers (a workload's login path, audiences, names): both ends agree
        from tests.support.seams import seam_problems

        problems += seam_problems(self.env, self.synth.stack(f"{self.env.name}-infra"), self.vault_stack,
                                  self.synth.stack(self.env.name))
        for job in jobs:
            for p in nomad_rules.placements(job, clients):
                if p.feasible < p.wanted:
                    problems.append(f"job {job['ID']} group {p.group}: {p.feasible} of {p.wanted} placeable; "
                                    + "; ".join(p.reasons[:1]))
        if problems:
            raise StepFailed("\n  ".join(problems))

    def clients(self) -> list[nomad_rules.Client]:
        node = self.nodes.get(Role.NOMAD_CLIENT)
        if node is None:
            return []
        infra = self.synth.stack(f"{self.env.name}-infra")
        group = next(g for g in infra["resource"]["aws_autoscaling_group"].values()
                     if g["name"].endswith(f"-{Role.NOMAD_CLIENT.value}"))
        nomad_cfg = node.config("/etc/nomad.d")
        consul_cfg = node.config("/etc/consul.d")
        token = re.search(r'token = "([^"]+)"', node.files["/etc/nomad.d/consul-token.hcl"].content).group(1)
        may_read = consul_rules.grants(self.consul_acl.tokens, self.consul_acl.policies, token, "agent", "read")
        records = {r["name"] for r in infra["resource"]["aws_route53_record"].values()}
        vault_host = re.sub(r"^https://([^:/]+).*$", r"\1", str(nomad_cfg["vault"][0]["address"]))
        vault = self.servers.get("vault")
        vault_up = vault is not None and vault.get("sys/init").json().get("initialized") is True  # type: ignore[attr-defined]
        ci = node.boot.cloud_init
        plugins = ({f"/usr/lib/cni/{p}": CNI_OUTPUT.format(plugin=p) for p in nomad_rules.BRIDGE_PLUGINS}
                   if CNI_PACKAGE in ci.os_packages else {})
        out = []
        for i in range(int(group["desired_capacity"])):
            c = nomad_rules.Client(name=f"client-{i}", datacenter=str(nomad_cfg["datacenter"]),
                                   region=str(nomad_cfg["region"]))
            nomad_rules.consul_attributes(c, nomad_cfg, consul_cfg,
                                          consul_version=self.env.packages.consul_version.split("-")[0],
                                          agent_serves_tls=_verifies(node, nomad_cfg, consul_cfg),
                                          token_may_read_agent=may_read and node.units.get("consul") == "active")
            nomad_rules.vault_attributes(c, nomad_cfg, vault_version=self.env.packages.vault_version.split("-")[0],
                                         reachable=vault_host in records and vault_up)
            nomad_rules.cni_attributes(c, nomad_cfg, plugins)
            nomad_rules.docker_driver(c, nomad_cfg, docker_running=node.units.get("docker") == "active")
            nomad_rules.host_volumes(c, nomad_cfg, {d.path for d in ci.directories})
            out.append(c)
        return out


def _verifies(node: Node, nomad_cfg: dict, consul_cfg: dict, ca_key: str = "ca_file") -> bool:
    """Whether the Consul agent's certificate verifies with Nomad's ``consul.<ca_key>`` for the
    host Nomad (or, for ``grpc_ca_file``, Envoy through ``grpc_address``) dials: signed by that CA,
    valid now, serverAuth in its extended key usage, and an IP or DNS SAN equal to the host."""
    import datetime as dt

    from cryptography.x509.oid import ExtendedKeyUsageOID

    consul = nomad_cfg.get("consul", [{}])[0]
    ca_path = consul.get(ca_key)
    cert_path = (consul_cfg.get("tls") or [{}])[0].get("defaults", [{}])[0].get("cert_file")
    if not ca_path or not cert_path or ca_path not in node.files or cert_path not in node.files:
        return False
    ca = x509.load_pem_x509_certificate(node.files[ca_path].content.encode())
    cert = x509.load_pem_x509_certificate(node.files[cert_path].content.encode())
    try:
        cert.verify_directly_issued_by(ca)
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except Exception:
        return False
    now = dt.datetime.now(dt.timezone.utc)
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc) or ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        return False
    dialed = consul.get("grpc_address" if ca_key == "grpc_ca_file" else "address", "")
    host = str(dialed).removeprefix("https://").rsplit(":", 1)[0]
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(n) for n in sans.get_values_for_type(x509.IPAddress)} | set(sans.get_values_for_type(x509.DNSName))
    return host in names


def rehearse(env: Environment, synth, moto_servers, monkeypatch, workdir: Path, keyholders: tuple[Path, ...] = (),
             **kw) -> list[Finding]:
    """The rehearsal in a fresh moto account of the environment's."""
    from tests.support.bootstrap_helpers import aws_env, fresh_account

    aws = aws_env(fresh_account(moto_servers, env.account_id))
    return Rehearsal(env, synth, aws, monkeypatch, workdir, keyholders=keyholders, **kw).run()


__all__ = ["Finding", "Rehearsal", "readme_commands", "rehearse"]
