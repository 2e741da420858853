"""Real Terraform on the synthesized E-infra stacks: `terraform validate` of every environment
with the offline AWS provider mirror, and an apply/destroy of dev-infra against a moto server on
127.0.0.1, asserting on the resources it really created (the ingress load balancer included: its
listener's certificate is a self-signed one imported into moto's ACM first, whose ARN replaces
the environment's).

The apply and the destroy spend most of their two and a half minutes in the AWS provider's fixed
waits (a load balancer is polled only after 30 s, twice; a Route 53 change after 10-15 s), the
longest chain of waits in the suite, so:
- the apply starts in the background as soon as the first test here asks for it, from dev-infra
  built alone by the run's early synth (tests/conftest.py), and the validation runs meanwhile;
- the apply test waits for it, asserts on what it created, and starts the destroy; the destroy's
  result is checked at the end of the worker's session (fixture ``dev_infra_apply``), so the
  worker runs other modules meanwhile;
- terraform and its moto server run at a higher priority where that is permitted
  (tests.support.processes.prefer): their short bursts between waits do not queue behind the suite's
  CPU-bound work."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import json
import re

import pytest

from stacks.environments import DEV, ENVIRONMENTS

from hashistack import MachineImage

from tests.conftest import APPLY_STACK, apply_stack
from tests.support.terraform_tools import (
    MOTO_ACCOUNT,
    Terraform,
    against_moto,
    moto_server,
    require_terraform,
    teardown_stack,
    write_stack,
)

pytestmark = pytest.mark.integration


def moto_images() -> list[dict]:
    """moto's image list, replaced by one image matching the environment's filter (moto ships no
    Debian image) next to one of another owner with the same name, which must not be chosen."""
    image = DEV.machine_image
    return [{"ami_id": ami, "state": "available", "public": True, "owner_id": owner, "image_location": "x",
             "root_device_type": "ebs", "root_device_name": "/dev/xvda", "description": "Debian 13",
             "image_type": "machine", "platform": None, "architecture": "x86_64",
             "name": "debian-13-amd64-20261101-2100", "virtualization_type": "hvm", "hypervisor": "xen"}
            for ami, owner in (("ami-0d1e2b3a4c5d6e7f8", image.owners[0]), ("ami-0badbadbadbadbad0", "999999999999"))]


class BackgroundApply:
    """``terraform init`` + ``apply`` of dev-infra against moto, running in a thread; ``result()``
    waits for it (re-raising its failure); ``start_destroy()`` queues the destroy behind it, and
    ``close()`` waits for both and returns the destroy's result (None if it never started)."""

    def __init__(self, tf: Terraform, url: str, cert_arn: str, stack: dict) -> None:
        self.tf, self.url, self.cert_arn, self.stack = tf, url, cert_arn, stack
        self._pool = concurrent.futures.ThreadPoolExecutor(1)
        self.future = self._pool.submit(self._apply)
        self.destroyed: concurrent.futures.Future | None = None

    def _apply(self):
        self.tf.run("init", "-input=false")
        return self.tf.run("apply", "-auto-approve", "-input=false", "-parallelism=20", preferred=True)

    def _destroy(self):
        # The README's teardown: deletion protection off (deployed), then destroy. AWS refuses
        # to delete a protected load balancer and moto does not, so the refusal is checked here.
        # (targeted at what the step changes: moto reads launch templates back with extra fields,
        # so a full apply would also update the groups and start instance refreshes it lacks)
        teardown = teardown_stack(self.stack)
        changed = [f"{kind}.{name}" for kind, resources in teardown["resource"].items()
                   for name, body in resources.items() if body != self.stack["resource"][kind][name]]
        assert len(changed) == 5, changed  # 4 load balancers, the log bucket
        write_stack(teardown, self.tf.workdir)
        self.tf.run("apply", "-auto-approve", "-input=false", "-parallelism=20",
                    *(f"-target={address}" for address in changed), preferred=True)
        import boto3

        elbv2 = boto3.client("elbv2", region_name=DEV.region, endpoint_url=self.url,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
        protected = [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]
                     if {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
                         LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}["deletion_protection.enabled"] == "true"]
        assert protected == [], f"AWS would refuse to delete {protected}: deletion protection is still on"
        # what was just applied is what the state says: no refresh (180 reads) before deleting
        try:
            return self.tf.run("destroy", "-auto-approve", "-input=false", "-parallelism=20", "-refresh=false",
                               preferred=True)
        except AssertionError as e:
            # moto, now and then under parallel deletes, drops a group's rule with another call
            # before terraform deletes it; a second destroy (with refresh) finds it gone. Any
            # other failure stands.
            if "InvalidPermission.NotFound" not in str(e):
                raise
            return self.tf.run("destroy", "-auto-approve", "-input=false", "-parallelism=20", preferred=True)

    @contextlib.contextmanager
    def attached(self):
        """The moto endpoint, for the block that asserts on what the apply created; when the
        block is left, the apply has finished."""
        try:
            yield self.url
        finally:
            concurrent.futures.wait([self.future])

    def result(self):
        return self.future.result()

    def start_destroy(self) -> None:
        if self.destroyed is None:
            self.destroyed = self._pool.submit(self._destroy)

    def close(self):
        concurrent.futures.wait([self.future])
        self._pool.shutdown()
        return self.destroyed.result() if self.destroyed is not None else None


@pytest.fixture(scope="session")
def dev_infra_apply(request, tmp_path_factory):
    """The apply, started in the background by the first test that asks for it, on its own moto
    server. Session-scoped: the apply test starts the destroy when it has asserted on what the
    apply created, and this fixture's teardown, at the end of the worker's session, waits for the
    destroy and fails the run unless it completed, so the worker runs other modules meanwhile."""
    terraform, mirror = require_terraform()
    pytest.importorskip("boto3", reason="boto3 (with moto[server]) is needed for the apply test")
    pytest.importorskip("moto.server", reason="moto[server] is needed for the apply test")
    assert DEV.machine_image == MachineImage()
    assert DEV.stack_names[0] == APPLY_STACK
    workdir = tmp_path_factory.mktemp("dev-infra-apply")
    with moto_server(workdir / "moto.log", moto_images(), preferred=True) as url:
        # the ingress listener's certificate: imported into moto's ACM, its ARN in place of the
        # environment's (the stack names it by ARN; moto refuses a listener whose certificate it lacks)
        import boto3

        assert DEV.ingress is not None
        cert_pem, key_pem = self_signed_certificate(DEV.ingress.public_domain)
        acm = boto3.client("acm", region_name=DEV.region, endpoint_url=url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        cert_arn = acm.import_certificate(Certificate=cert_pem.encode(),
                                          PrivateKey=key_pem.encode())["CertificateArn"]
        text = json.dumps(against_moto(apply_stack(request), url))
        assert text.count(DEV.ingress.certificate_arn) == 1
        stack = json.loads(text.replace(DEV.ingress.certificate_arn, cert_arn))
        tf = Terraform(write_stack(stack, workdir / "stack"), terraform, mirror)
        apply = BackgroundApply(tf, url, cert_arn, stack)
        yield apply
        destroyed = apply.close()
    if destroyed is not None:
        assert "Destroy complete!" in destroyed.stdout, destroyed.stdout[-4000:]


def test_every_infra_stack_passes_terraform_validate(dev_infra_apply, synth, tmp_path):
    """Each environment's infra stack as a module of one root, so that terraform loads the AWS
    provider's schema once for all of them (a few seconds of CPU each). A module's backend block
    only draws terraform's "Backend configuration ignored" warning there; an error names its file,
    <env>-infra/cdk.tf.json. dev_infra_apply first: the apply runs in the background meanwhile."""
    terraform, mirror = require_terraform()
    modules = {f"{env.name}-infra": {"source": f"./{env.name}-infra"} for env in ENVIRONMENTS}
    for name in modules:
        write_stack(synth.stack(name), tmp_path / name)
    (tmp_path / "main.tf.json").write_text(json.dumps({"module": modules}))
    tf = Terraform(tmp_path, terraform, mirror)
    tf.run("init", "-backend=false", "-input=false")
    result = tf.run("validate")
    assert "Success! The configuration is valid" in result.stdout, result.stdout[-4000:]
    warnings = re.findall(r"^Warning: (.+)$", result.stdout + result.stderr, flags=re.M)
    assert set(warnings) <= {"Backend configuration ignored"}, warnings


def self_signed_certificate(domain: str) -> tuple[str, str]:
    """(certificate, key) PEM for ``*.<domain>``, as ACM would import it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{domain}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"*.{domain}"), x509.DNSName(domain)]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def test_dev_infra_applies_and_destroys_against_moto(dev_infra_apply):
    import boto3

    cert_arn = dev_infra_apply.cert_arn  # the ingress listener's, imported into moto's ACM
    with dev_infra_apply.attached() as url:
        def client(service):
            return boto3.client(service, region_name=DEV.region, endpoint_url=url,
                                aws_access_key_id="testing", aws_secret_access_key="testing")

        try:
            applied = dev_infra_apply.result()
            assert "Apply complete!" in applied.stdout

            ec2 = client("ec2")
            vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [DEV.network.vpc_cidr]}])["Vpcs"]
            assert len(vpcs) == 1
            vpc_id = vpcs[0]["VpcId"]
            subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
            private, public = DEV.network.subnet_plan()
            assert sorted(s["CidrBlock"] for s in subnets) == sorted(private + public)
            assert not any(s["MapPublicIpOnLaunch"] for s in subnets)

            groups = {g["GroupName"]: g for g in ec2.describe_security_groups(
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]}
            ids = {name.removeprefix("hashistack-dev-"): g["GroupId"] for name, g in groups.items()
                   if name.startswith("hashistack-dev-")}
            assert set(ids) == {"nomad-server", "nomad-client", "consul-server", "vault-server", "lb", "ingress-lb"}
            rules = ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": list(ids.values())}])["SecurityGroupRules"]
            ingress = [r for r in rules if not r["IsEgress"]]

            def reaches(source, target, port, proto="tcp"):
                return any(r["GroupId"] == ids[target] and r["FromPort"] <= port <= r["ToPort"]
                           and r["IpProtocol"] == proto
                           and r.get("ReferencedGroupInfo", {}).get("GroupId") == ids[source] for r in ingress)

            assert reaches("nomad-client", "nomad-server", 4647)
            assert reaches("nomad-server", "nomad-server", 4648, "udp")
            assert reaches("vault-server", "vault-server", 8201)
            assert reaches("nomad-client", "consul-server", 8301, "udp")
            assert reaches("lb", "vault-server", 8200)
            # Vault fetches Nomad's JWKS through nomad.<domain>; Nomad nodes reach vault.<domain>
            assert reaches("vault-server", "lb", 4646) and reaches("consul-server", "lb", 4646)
            assert reaches("nomad-server", "lb", 8200) and reaches("nomad-client", "lb", 8200)
            assert not reaches("nomad-client", "vault-server", 8201)
            assert not reaches("nomad-client", "nomad-server", 4646)
            world = [r for r in ingress if r.get("CidrIpv4") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0"]
            assert world == []
            operator = [r for r in ingress if r.get("CidrIpv4") and r["GroupId"] != ids["ingress-lb"]]
            assert {r["GroupId"] for r in operator} == {ids["lb"]}
            assert sorted(r["FromPort"] for r in operator) == [4646, 8200, 8501]
            # the ingress load balancer: users on 443/80 from the company range; it reaches the
            # clients' proxy port, and nothing admits it anywhere else
            users = [r for r in ingress if r["GroupId"] == ids["ingress-lb"]]
            assert sorted((r["FromPort"], r["CidrIpv4"]) for r in users) == sorted(
                (port, cidr) for port in (80, 443) for cidr in DEV.ingress.allowed_cidrs)
            from_ingress = [(r["GroupId"], r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in ingress
                            if r.get("ReferencedGroupInfo", {}).get("GroupId") == ids["ingress-lb"]]
            proxy = DEV.ingress.proxy_port
            assert from_ingress == [(ids["nomad-client"], "tcp", proxy, proxy)]

            templates = ec2.describe_launch_templates()["LaunchTemplates"]
            assert len(templates) == 4
            for t in templates:
                data = ec2.describe_launch_template_versions(LaunchTemplateId=t["LaunchTemplateId"])[
                    "LaunchTemplateVersions"][0]["LaunchTemplateData"]
                assert data["MetadataOptions"]["HttpTokens"] == "required"
                assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
                assert all(m["Ebs"]["Encrypted"] for m in data["BlockDeviceMappings"])
                assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
                assert data["ImageId"] == "ami-0d1e2b3a4c5d6e7f8"
                assert data["BlockDeviceMappings"][0]["DeviceName"] == "/dev/xvda"

            asgs = {g["AutoScalingGroupName"]: g
                    for g in client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]}
            assert {name: (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]) for name, g in asgs.items()} == {
                "hashistack-dev-nomad-server": (1, 1, 1),
                "hashistack-dev-consul-server": (1, 1, 1),
                "hashistack-dev-vault-server": (1, 1, 1),
                "hashistack-dev-nomad-client": (DEV.clients.min_size, DEV.clients.max_size, DEV.clients.desired),
            }
            assert {g["HealthCheckType"] for g in asgs.values()} == {"EC2"}
            hooks = client("autoscaling").describe_lifecycle_hooks(
                AutoScalingGroupName="hashistack-dev-nomad-client")["LifecycleHooks"]
            assert {(h["LifecycleHookName"], h["LifecycleTransition"], h["DefaultResult"]) for h in hooks} == {
                ("hashistack-boot", "autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON"),
                ("hashistack-drain", "autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE")}
            join_tags_roles = ("nomad-server", "nomad-client", "consul-server", "vault-server")
            join_tags = {t["Value"] for g in asgs.values() for t in g["Tags"] if t["Key"] == "hashistack-join"}
            assert join_tags == {"dev-nomad-server", "dev-consul-server", "dev-vault-server", "dev-nomad-client"}

            kms = client("kms")
            aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
            key_id = aliases["alias/hashistack-dev-vault-unseal"]["TargetKeyId"]
            assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True

            elbv2 = client("elbv2")
            all_lbs = elbv2.describe_load_balancers()["LoadBalancers"]
            lbs = [lb for lb in all_lbs if lb["Type"] == "network"]
            assert sorted(lb["LoadBalancerName"] for lb in lbs) == ["hs-dev-consul", "hs-dev-nomad", "hs-dev-vault"]
            assert {lb["Scheme"] for lb in lbs} == {"internal"}

            # the ingress load balancer, as declared: internal (dev), in the private subnets
            (alb,) = [lb for lb in all_lbs if lb["Type"] == "application"]
            assert alb["LoadBalancerName"] == "hashistack-dev-ingress" and alb["Scheme"] == "internal"
            private_ids = {s["SubnetId"] for s in subnets if s["CidrBlock"] in private}
            assert {z["SubnetId"] for z in alb["AvailabilityZones"]} == private_ids
            assert alb["SecurityGroups"] == [ids["ingress-lb"]]
            attributes = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
                LoadBalancerArn=alb["LoadBalancerArn"])["Attributes"]}
            assert attributes["access_logs.s3.enabled"] == "true"
            assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
            assert attributes["deletion_protection.enabled"] == "true"  # every tier, until the teardown
            listeners = {x["Port"]: x for x in elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])[
                "Listeners"]}
            assert sorted(listeners) == [80, 443]
            https = listeners[443]
            assert https["Protocol"] == "HTTPS" and https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
            assert [c["CertificateArn"] for c in https["Certificates"]] == [cert_arn]
            (redirect,) = listeners[80]["DefaultActions"]
            assert listeners[80]["Protocol"] == "HTTP" and redirect["Type"] == "redirect"
            assert (redirect["RedirectConfig"]["Protocol"], redirect["RedirectConfig"]["Port"],
                    redirect["RedirectConfig"]["StatusCode"]) == ("HTTPS", "443", "HTTP_301")
            (group,) = elbv2.describe_target_groups(LoadBalancerArn=alb["LoadBalancerArn"])["TargetGroups"]
            assert (group["Protocol"], group["Port"], group["HealthCheckProtocol"], group["HealthCheckPath"]) == (
                "HTTPS", DEV.ingress.proxy_port, "HTTPS", "/ping")
            assert https["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
            assert asgs["hashistack-dev-nomad-client"]["TargetGroupARNs"] == [group["TargetGroupArn"]]

            # its access-log bucket, as declared: private, encrypted, versioned, expiring, TLS only
            s3 = client("s3")
            (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]
                         if b["Name"].startswith("hashistack-dev-lb-logs-")]
            assert attributes["access_logs.s3.bucket"] == bucket
            sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
            assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            assert all(block[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                                          "RestrictPublicBuckets"))
            assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
            (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
            assert rule["Expiration"]["Days"] == DEV.ingress.access_log_days
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
            assert {s["Sid"] for s in policy["Statement"]} == {"IngressLogDelivery", "ApiLogDelivery",
                                                               "ApiLogDeliveryAclCheck", "TlsOnly"}
            for lb in lbs:  # the API load balancers log to the same bucket, under api/
                api = {a["Key"]: a["Value"] for a in elbv2.describe_load_balancer_attributes(
                    LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
                assert (api["access_logs.s3.enabled"], api["access_logs.s3.bucket"], api["access_logs.s3.prefix"]) == (
                    "true", bucket, "api")
                assert api["deletion_protection.enabled"] == "true"

            roles = client("iam").list_roles()["Roles"]
            assert MOTO_ACCOUNT in roles[0]["Arn"]
            node_roles = [r["RoleName"] for r in roles
                          if r["RoleName"].startswith(tuple(f"hashistack-dev-{n}-" for n in join_tags_roles))]
            assert len(node_roles) == 4
            for role in node_roles:
                attached = client("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
                assert attached == []  # only the inline least-privilege policy (tests/real/test_node_permissions.py)

            route53 = client("route53")
            (zone,) = [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == f"{DEV.domain}."]
            # (that the zone is private, i.e. bound to the VPC, is asserted on the synthesized stack:
            # moto 5.2.5 keeps neither the VPC nor PrivateZone of a zone created with a VPC alone)
            records = {r["Name"]: r for r in route53.list_resource_record_sets(HostedZoneId=zone["Id"])[
                "ResourceRecordSets"] if r["Type"] == "A"}
            assert set(records) == {f"{name}.{DEV.domain}." for name in ("nomad", "consul", "vault")}
            lb_names = {lb["DNSName"].lower().rstrip(".") for lb in lbs}  # the API load balancers only
            assert {r["AliasTarget"]["DNSName"].lower().rstrip(".") for r in records.values()} == lb_names
        finally:
            # the destroy runs on while the worker goes on; the fixture's teardown checks that it completed
            dev_infra_apply.start_destroy()
