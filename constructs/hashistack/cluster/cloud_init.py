"""Cloud-init for a cluster node, as a model: one boot script that installs the pinned agents,
then places their configs, fetches their secrets with the instance role, prepares volumes and
starts the units, and tells the autoscaling group whether the boot succeeded.

The order matters and is the reason for this shape:

1. ``write_files`` (cloud-init's init stage) only *stages* files under ``STAGING`` and writes the
   boot script. HashiCorp's packages own ``/etc/<product>.d/<product>.hcl`` as conffiles: a file
   there before ``apt-get install`` makes dpkg stop at its conffile prompt, which fails with no
   terminal.
2. ``runcmd`` (the final stage) runs the boot script: packages first (the repository's signing
   key checked against its pinned fingerprint, every product at its pinned version), then the
   service users exist and every directory an agent reads is created owned by that agent's user.

No secret ever appears in ``user_data``: gossip keys, TLS material and ACL tokens are named by
:class:`SecretRef` (SSM parameters) and fetched on the instance; a missing or empty parameter
fails the boot with a message naming it.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shlex
from dataclasses import dataclass

from ..errors import HashistackError

__all__ = ["BOOT_SCRIPT", "CloudInit", "ConfigFile", "Directory", "SecretFile", "SecretRef", "Volume",
           "decode_user_data", "require_ref"]

PRIVATE_IP = "__PRIVATE_IP__"
"""Placeholder the boot script replaces with the instance's private IP (from IMDSv2)."""
INSTANCE_ID = "__INSTANCE_ID__"
"""Placeholder the boot script replaces with the instance's id (from IMDSv2)."""

STAGING = "/var/lib/hashistack/staged"
"""Where ``write_files`` stages every file until the packages that own its directory are installed."""

BOOT_SCRIPT = "/usr/local/sbin/hashistack-boot"
BOOT_LOG = "/var/log/hashistack-boot.log"
USER_DATA_LIMIT = 16384
"""EC2's limit on user data, in bytes before base64."""
USER_DATA_BUDGET = 12 * 1024
"""What a node's user data may take (gzip-compressed, as shipped), well below EC2's limit so that a
growing boot is refused at synth long before a launch fails."""
LIFECYCLE_HOOK = "hashistack-boot"
UNIT_WAIT_S = 480
"""How long the boot keeps starting units that are not ready yet (a Consul agent reports ready only
after joining a server, which may still be booting) before it gives up, for all units together:
with the packages before it (a few minutes) and one last start's systemd timeout (90 s), inside
the launch hook's 900 s."""
BOOT_PREREQUISITES = ("ca-certificates", "curl", "gnupg")
"""What the boot itself runs before the package step (the signing key's download and check):
installed first, as a minimal image may lack them."""
"""The launch lifecycle hook every node group holds new instances in until their boot completes."""

_PARAM = re.compile(r"^/[A-Za-z0-9_.\-/]+$")
_PATH = re.compile(r"^/[A-Za-z0-9_.\-/]+$")
_USER = re.compile(r"^([a-z_][a-z0-9_-]*|\d{1,10})$")  # a system user's name, or a numeric id
_MODE = re.compile(r"^0[0-7]{3}$")


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret held in SSM Parameter Store (SecureString), never the value."""

    parameter: str

    @staticmethod
    def ssm(parameter: str) -> "SecretRef":
        return SecretRef(parameter)


def require_ref(value: object, *, where: str, field_name: str) -> SecretRef:
    """``value`` as a SecretRef, or an error saying a literal secret was passed."""
    if isinstance(value, SecretRef) and _PARAM.fullmatch(value.parameter):
        return value
    shown = "<redacted literal>" if isinstance(value, str) else repr(value)
    raise HashistackError(
        f"{where}: {field_name} = {shown}: secrets are passed by reference, never as literals (they would land in "
        "user_data and Terraform state); use SecretRef.ssm('/hashistack/<env>/...') and store the value in SSM")


def _check_user(where: str, field: str, name: str) -> None:
    if not _USER.fullmatch(name):
        raise HashistackError(f"{where}: {field} = {name!r}: use a system user name such as 'consul' or a numeric id")


def _check_file(where: str, path: str, owner: str, mode: str) -> None:
    if not _PATH.fullmatch(path) or ".." in path.split("/"):
        raise HashistackError(f"{where}: path = {path!r}: use an absolute path of letters, digits, '_', '.', '-'")
    _check_user(where, "owner", owner)
    if not _MODE.fullmatch(mode):
        raise HashistackError(f"{where}: mode = {mode!r}: use an octal mode such as '0640'")


@dataclass(frozen=True, kw_only=True)
class ConfigFile:
    """A file placed after the packages are installed (never a secret), owned by ``owner`` (group
    ``owner`` too) so the agent's service user can read it."""

    path: str
    content: str
    mode: str = "0640"
    owner: str = "root"


@dataclass(frozen=True, kw_only=True)
class SecretFile:
    """A secret fetched at boot from SSM into ``path``.

    ``template`` is a printf format with one ``%s`` for the value (an HCL fragment such as
    ``encrypt = "%s"``); such values must be plain tokens (letters, digits, ``+/=_-``), and the
    boot refuses any other. Without a template the value is written as is (PEM files).
    """

    ref: SecretRef
    path: str
    mode: str = "0600"
    owner: str = "root"
    template: str | None = None


@dataclass(frozen=True, kw_only=True)
class Directory:
    """A directory the boot creates (or fixes) with this owner, group (the owner's name by
    default) and mode."""

    path: str
    owner: str = "root"
    mode: str = "0750"
    group: str | None = None


@dataclass(frozen=True, kw_only=True)
class Volume:
    """An EBS volume attached as ``device``: formatted (ext4) on first boot, mounted at
    ``mount_point`` by UUID (in ``/etc/fstab``), its root owned by ``owner``."""

    device: str
    mount_point: str
    owner: str
    mode: str = "0750"
    size_gib: int = 50


def _q(value: str) -> str:
    return shlex.quote(value)


# The boot script's fixed part: helpers, written once, checked by shellcheck with the rest. Their
# documentation stays here rather than in the script, which every node carries in its user data
# (EC2 takes at most 16 KiB):
# - lifecycle RESULT: tell the autoscaling group how the boot ended; it keeps a new instance out of
#   service until then, and `terraform apply` waits for healthy capacity (on_exit abandons).
# - fetch PARAMETER...: the parameters' values in one call (SSM takes up to 10 names), each into
#   $SECRETS/<parameter name>; a missing or empty parameter stops the boot, naming it. awscli
#   brings python3, which splits the reply.
# - secret PARAMETER PATH OWNER MODE [FORMAT]: a fetched value into PATH (through the printf
#   FORMAT, whose one %s takes the value, when given; such values must be plain tokens).
# - start UNIT: start a unit, again and again while it is not ready (systemd fails a Type=notify
#   start after TimeoutStartSec), until UNITS_UNTIL (UNIT_WAIT seconds after the units' step
#   began, for all units together, so the boot ends inside the launch hook's timeout).
# - place PATH OWNER MODE: a staged file to its place, once its package has created the user.
# - volume DEVICE MOUNT_POINT OWNER MODE: format on first boot, mount by UUID, survive reboots.
# - find_volume DEVICE: DEVICE where the image names it so (Xen, or NVMe with amazon-ec2-utils'
#   udev rule already active); else the NVMe disk whose serial is the id of the EBS volume EC2
#   attached as DEVICE (ec2:DescribeVolumes), so no image-specific udev rule is needed.
_PRELUDE = r'''set -euo pipefail
umask 022
export DEBIAN_FRONTEND=noninteractive
exec > >(tee -a /var/log/hashistack-boot.log) 2>&1

log() { echo "hashistack-boot[$ROLE]: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

IMDS=http://169.254.169.254/latest
IMDS_TOKEN=""
imds() {
  if [ -z "$IMDS_TOKEN" ]; then
    IMDS_TOKEN=$(curl -fsS --retry 5 -X PUT "$IMDS/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")
  fi
  curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/$1"
}

lifecycle() {
  local instance_id
  instance_id=$(imds meta-data/instance-id) || return 1
  aws autoscaling complete-lifecycle-action --region "$REGION" --auto-scaling-group-name "$ASG_NAME" \
    --lifecycle-hook-name "$LIFECYCLE_HOOK" --instance-id "$instance_id" --lifecycle-action-result "$1"
}
BOOT_DONE=0
on_exit() {
  local rc=$?
  if [ "$BOOT_DONE" != 1 ]; then
    log "boot failed (exit $rc); abandoning this instance"
    lifecycle ABANDON || log "could not complete the lifecycle action"
  fi
}
trap on_exit EXIT

SECRETS=/run/hashistack-secrets
SPLIT='
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
values = {p["Name"]: p["Value"] for p in json.load(sys.stdin)["Parameters"]}
missing = [n for n in names if not values.get(n) or values[n] == "None"]
if missing:
    print(" ".join(missing))
    sys.exit(0)
for n in names:
    path = out + n
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "w") as f:
        f.write(values[n])
'
fetch() {
  local reply missing
  install -d -m 0700 "$SECRETS"
  if ! reply=$(aws ssm get-parameters --region "$REGION" --with-decryption --names "$@" --output json 2>&1); then
    die "cannot read SSM parameters $*: $reply"
  fi
  missing=$(printf '%s' "$reply" | python3 -c "$SPLIT" "$SECRETS" "$@") || die "cannot parse the SSM reply"
  [ -z "$missing" ] || die "SSM parameter missing or empty: $missing"
}

secret() {
  local value
  [ -s "$SECRETS$1" ] || die "SSM parameter $1 was not fetched"
  value=$(cat "$SECRETS$1")
  if [ $# -ge 5 ]; then
    case "$value" in
      *[!A-Za-z0-9+/=_-]*) die "SSM parameter $1 holds characters a token never has" ;;
    esac
  fi
  install -m "$4" -o "$3" -g "$3" /dev/null "$2"
  if [ $# -ge 5 ]; then
    # shellcheck disable=SC2059 # the format is the model's, the value its only argument
    printf "$5" "$value" > "$2"
  else
    printf '%s\n' "$value" > "$2"
  fi
}

place() {
  install -D -m "$3" -o "$2" -g "$2" "$STAGING$1" "$1"
}

start() {
  until systemctl restart "$1"; do
    if [ "$SECONDS" -ge "$UNITS_UNTIL" ]; then
      log "$1 did not start within $UNIT_WAIT s"
      return 1
    fi
    log "$1 is not ready yet; starting it again in 10 s"
    sleep 10
  done
}

find_volume() {
  local want=$1 i vol serial name
  for i in $(seq 1 60); do
    if [ -b "$want" ]; then echo "$want"; return 0; fi
    vol=$(aws ec2 describe-volumes --region "$REGION" --output text --query 'Volumes[0].VolumeId' \
      --filters "Name=attachment.instance-id,Values=$(imds meta-data/instance-id)" \
      "Name=attachment.device,Values=$want" 2>/dev/null) || vol=""
    if [ -n "$vol" ] && [ "$vol" != None ]; then
      for serial in "$SYSFS"/block/*/device/serial; do
        [ -r "$serial" ] || continue
        if [ "$(tr -d ' ' < "$serial")" = "${vol//-/}" ]; then
          name=${serial#"$SYSFS"/block/}
          echo "/dev/${name%%/*}"
          return 0
        fi
      done
    fi
    [ "$i" = 60 ] && return 1
    udevadm settle 2>/dev/null || true
    sleep "$VOLUME_POLL_S"
  done
}

volume() {
  local device uuid
  device=$(find_volume "$1") || die "data volume $1 never appeared"
  device=$(readlink -f "$device")
  if ! blkid "$device" >/dev/null 2>&1; then
    log "formatting $device"
    mkfs.ext4 -q -L "$(basename "$2" | cut -c1-16)" "$device"
  fi
  uuid=$(blkid -s UUID -o value "$device")
  [ -n "$uuid" ] || die "no filesystem UUID on $device"
  install -d "$2"
  grep -q "UUID=$uuid " /etc/fstab || echo "UUID=$uuid $2 ext4 defaults,nofail,noatime 0 2" >> /etc/fstab
  mountpoint -q "$2" || mount "$2"
  chown "$3:$3" "$2"
  chmod "$4" "$2"
}
'''


@dataclass(frozen=True, kw_only=True)
class CloudInit:
    """One node's boot.

    :param role: the node role (log prefix and lifecycle hook context).
    :param asg_name: the node group's autoscaling group (its lifecycle hook is completed at the end).
    :param repository_url: the apt repository of the HashiCorp products.
    :param key_url: the repository's signing key; its fingerprint must be ``key_fingerprint``.
    :param products: ``(package, version)`` installed from that repository and held.
    :param os_packages: Debian packages installed alongside.
    :param ssm_agent_url: AWS's Debian package of the SSM agent (Session Manager, the break-glass
        path); Debian's archive does not carry it.
    :param directories: created (or fixed) after install, before secrets and configs.
    :param volumes: EBS volumes formatted and mounted after install.
    :param secrets: fetched from SSM after the directories exist.
    :param files: configs and units, staged by ``write_files`` and placed after install.
    :param substitute: files whose ``__PRIVATE_IP__`` and ``__INSTANCE_ID__`` become the
        instance's address and id.
    :param commands: shell commands run after files are placed, before the units start.
    :param services: units enabled and started, each on its own, so one failing unit never hides
        another; the boot fails if any did not start.
    """

    role: str
    aws_region: str
    asg_name: str
    repository_url: str
    key_url: str
    key_fingerprint: str
    products: tuple[tuple[str, str], ...]
    os_packages: tuple[str, ...] = ()
    ssm_agent_url: str | None = None
    directories: tuple[Directory, ...] = ()
    volumes: tuple[Volume, ...] = ()
    secrets: tuple[SecretFile, ...] = ()
    files: tuple[ConfigFile, ...] = ()
    substitute: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    swap_off: bool = False

    def __post_init__(self) -> None:
        where = f"cloud-init {self.role}"
        for d in self.directories:
            _check_file(where, d.path, d.owner, d.mode)
            if d.group is not None:
                _check_user(where, "group", d.group)
        for v in self.volumes:
            _check_file(where, v.mount_point, v.owner, v.mode)
        for s in self.secrets:
            _check_file(where, s.path, s.owner, s.mode)
            require_ref(s.ref, where=where, field_name=f"secret {s.path}")
            if s.template is not None and s.template.count("%s") != 1:
                raise HashistackError(f"{where}: template of {s.path} = {s.template!r}: use exactly one %s")
        paths = [f.path for f in self.files]
        for f in self.files:
            _check_file(where, f.path, f.owner, f.mode)
        if len(set(paths)) != len(paths):
            raise HashistackError(f"{where}: files = {paths}: each path once")

    def script(self) -> str:
        """The boot script (bash), deterministic."""
        head = ["#!/bin/bash",
                f"# hashistack node boot: {self.role}. Rendered from the cluster model; not edited on the node.",
                f"ROLE={_q(self.role)}", f"REGION={_q(self.aws_region)}", f"ASG_NAME={_q(self.asg_name)}",
                f"LIFECYCLE_HOOK={_q(LIFECYCLE_HOOK)}", f"STAGING={_q(STAGING)}", f"UNIT_WAIT={UNIT_WAIT_S}",
                "SYSFS=/sys", "VOLUME_POLL_S=2"]
        steps: list[str] = []
        if self.swap_off:
            steps += ["", "# Vault runs with disable_mlock under raft: no swap, ever.",
                      "swapoff -a", "sed -i '/\\sswap\\s/ s/^/#/' /etc/fstab"]
        pinned = " ".join(_q(f"{name}={version}") for name, version in self.products)
        held = " ".join(_q(name) for name, _ in self.products)
        steps += [
            "", "# 1. Packages first: the repository only with a signing key of the pinned fingerprint.",
            'log "installing packages"',
            "apt-get update -q",
            "apt-get install -y -q --no-install-recommends " + " ".join(BOOT_PREREQUISITES),
            "keydir=$(mktemp -d)",
            f"curl -fsSL --retry 5 {_q(self.key_url)} -o \"$keydir/key.asc\"",
            "gpg --homedir \"$keydir\" --batch --quiet --import \"$keydir/key.asc\"",
            f"if ! gpg --homedir \"$keydir\" --batch --list-keys {_q(self.key_fingerprint)} >/dev/null 2>&1; then",
            "  held=$(gpg --homedir \"$keydir\" --batch --show-keys --with-colons \"$keydir/key.asc\" "
            "| awk -F: '$1 == \"pub\" { p = 1; next } p && $1 == \"fpr\" { printf \" %s\", $10; p = 0 }')",
            f"  die \"signing key of {self.repository_url} does not hold the pinned key {self.key_fingerprint} "
            "(it holds:${held:- nothing})\"",
            "fi",
            "# the keyring trusts exactly the pinned key, whatever else the file holds",
            "install -d -m 0755 /usr/share/keyrings",
            f"gpg --homedir \"$keydir\" --batch --export {_q(self.key_fingerprint)} > /usr/share/keyrings/hashicorp.gpg",
            "rm -rf \"$keydir\"",
            "# shellcheck source=/dev/null",
            ". /etc/os-release",
            f"echo \"deb [signed-by=/usr/share/keyrings/hashicorp.gpg] {self.repository_url} $VERSION_CODENAME main\" "
            "> /etc/apt/sources.list.d/hashicorp.list",
            "apt-get update -q",
            "apt-get install -y -q --no-install-recommends " + " ".join(
                [_q(p) for p in self.os_packages if p not in BOOT_PREREQUISITES] + [pinned]).strip(),
            f"apt-mark hold {held}",
        ]
        if self.ssm_agent_url:
            steps += ["curl -fsSL --retry 5 " + _q(self.ssm_agent_url) + " -o /run/amazon-ssm-agent.deb",
                      "apt-get install -y -q /run/amazon-ssm-agent.deb", "rm -f /run/amazon-ssm-agent.deb"]
        if self.directories:
            steps += ["", "# 2. Every directory an agent reads belongs to that agent's user."]
            steps += [f"install -d -m {d.mode} -o {d.owner} -g {d.group or d.owner} {_q(d.path)}"
                      for d in self.directories]
        if self.volumes:
            steps += ["", "# 3. Data volumes: formatted once, mounted by UUID."]
            steps += [f"volume {_q(v.device)} {_q(v.mount_point)} {v.owner} {v.mode}" for v in self.volumes]
        if self.secrets:
            steps += ["", "# 4. Secrets from SSM with the instance role."]
            names = sorted({s.ref.parameter for s in self.secrets})
            for i in range(0, len(names), 10):
                steps.append("fetch " + " ".join(_q(n) for n in names[i:i + 10]))
            for s in self.secrets:
                args = [_q(s.ref.parameter), _q(s.path), s.owner, s.mode] + ([_q(s.template)] if s.template else [])
                steps.append("secret " + " ".join(args))
        if self.secrets:
            steps.append('rm -rf "$SECRETS"')
        if self.files:
            steps += ["", "# 5. Configs and units, now that their packages and users exist."]
            steps += [f"place {_q(f.path)} {f.owner} {f.mode}" for f in self.files]
        if self.substitute:
            steps += ["", "private_ip=$(imds meta-data/local-ipv4)", "instance_id=$(imds meta-data/instance-id)",
                      "[ -n \"$private_ip\" ] || die \"no private IP from the instance metadata service\"",
                      "[ -n \"$instance_id\" ] || die \"no instance id from the instance metadata service\""]
            steps += [f"sed -i \"s/{PRIVATE_IP}/$private_ip/g; s/{INSTANCE_ID}/$instance_id/g\" {_q(p)}"
                      for p in self.substitute]
        if self.commands:
            steps += [""] + list(self.commands)
        if self.services:
            units = " ".join(_q(s) for s in self.services)
            steps += [
                "", "# 6. Units in order, each on its own: one failing never hides another; one not ready",
                "#    yet (its dependency still booting) is started again until UNIT_WAIT.",
                "systemctl daemon-reload",
                "failed=\"\"",
                "UNITS_UNTIL=$((SECONDS + UNIT_WAIT))",
                f"for unit in {units}; do",
                "  if ! systemctl enable \"$unit\"; then failed=\"$failed $unit\"; continue; fi",
                "  start \"$unit\" || failed=\"$failed $unit\"",
                "done",
                f"for unit in {units}; do",
                "  case \" $failed \" in *\" $unit \"*) continue ;; esac  # already reported",
                "  for _ in $(seq 1 30); do systemctl is-active --quiet \"$unit\" && break; sleep 2; done",
                "  systemctl is-active --quiet \"$unit\" || failed=\"$failed $unit\"",
                "done",
                "[ -z \"$failed\" ] || die \"units that did not start:$failed\"",
            ]
        steps += ["", "lifecycle CONTINUE", "BOOT_DONE=1", 'log "boot complete"']
        return "\n".join(head) + "\n" + _PRELUDE + "\n".join(steps) + "\n"

    def document(self) -> dict:
        """The cloud-config document (write_files stage everything; runcmd runs the script)."""
        staged = [{"path": f"{STAGING}{f.path}", "content": f.content, "permissions": "0600", "owner": "root:root"}
                  for f in self.files]
        boot = {"path": BOOT_SCRIPT, "content": self.script(), "permissions": "0755", "owner": "root:root"}
        return {"write_files": [boot, *staged], "runcmd": [[BOOT_SCRIPT]]}

    def render(self) -> str:
        """``#cloud-config`` user data (JSON is valid YAML), deterministic: one key per line (so a
        diff of it shows the file that changed), indented by one space."""
        return "#cloud-config\n" + json.dumps(self.document(), indent=1, sort_keys=True) + "\n"

    def user_data(self) -> bytes:
        """What the launch template ships: :meth:`render` gzip-compressed (cloud-init decompresses
        gzip user data before reading it: cloudinit/user_data.py), deterministic (no timestamp),
        refused at synth above :data:`USER_DATA_BUDGET`."""
        data = gzip.compress(self.render().encode(), compresslevel=9, mtime=0)
        if len(data) > USER_DATA_BUDGET:
            raise HashistackError(
                f"cloud-init {self.role}: user data = {len(data)} bytes gzip-compressed: the budget is "
                f"{USER_DATA_BUDGET} (EC2 takes at most {USER_DATA_LIMIT}); ship less in the boot (fewer or smaller "
                "files, or fetch them at boot)")
        return data


def decode_user_data(encoded: str) -> str:
    """A launch template's ``user_data`` (base64, gzip-compressed or not) as the cloud-config text."""
    raw = base64.b64decode(encoded)
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
