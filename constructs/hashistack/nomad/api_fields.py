"""Field names of the Nomad API structs the job model emits, transcribed from Nomad's ``api``
package (api/jobs.go, api/tasks.go, api/services.go, api/resources.go, api/consul.go and
api/workload_identity.go, Nomad 1.10).

``nomad_job`` with ``json = true`` decodes the jobspec with Go's encoding/json, which silently
drops unknown keys: a misspelt field would vanish without a word. The tests walk every rendered
job and check each key against these sets, by position in the document.
The docker driver's ``Config`` is a free-form map read by the driver (snake_case keys).
"""

from __future__ import annotations

STRUCTS: dict[str, frozenset[str]] = {
    "Job": frozenset({
        "Region", "Namespace", "ID", "Name", "Type", "Priority", "AllAtOnce", "Datacenters", "NodePool",
        "Constraints", "Affinities", "TaskGroups", "Update", "Multiregion", "Spreads", "Periodic",
        "ParameterizedJob", "Reschedule", "Migrate", "Meta", "ConsulNamespace", "VaultNamespace", "UI",
    }),
    "TaskGroup": frozenset({
        "Name", "Count", "Constraints", "Affinities", "Tasks", "Spreads", "Volumes", "RestartPolicy",
        "Disconnect", "ReschedulePolicy", "EphemeralDisk", "Update", "Migrate", "Networks", "Meta",
        "Services", "ShutdownDelay", "StopAfterClientDisconnect", "MaxClientDisconnect", "Scaling",
        "Consul", "PreventRescheduleOnLost",
    }),
    "Task": frozenset({
        "Name", "Driver", "User", "Lifecycle", "Config", "Constraints", "Affinities", "Env", "Services",
        "Resources", "RestartPolicy", "Meta", "KillTimeout", "LogConfig", "Artifacts", "Vault", "Consul",
        "Templates", "DispatchPayload", "VolumeMounts", "CSIPluginConfig", "Leader", "ShutdownDelay",
        "KillSignal", "Kind", "ScalingPolicies", "Identity", "Identities", "Actions", "Schedule",
    }),
    "NetworkResource": frozenset({
        "Mode", "Device", "CIDR", "IP", "DNS", "ReservedPorts", "DynamicPorts", "Hostname", "MBits",
    }),
    "Port": frozenset({"Label", "Value", "To", "HostNetwork", "IgnoreCollision"}),
    "Service": frozenset({
        "Name", "Tags", "CanaryTags", "EnableTagOverride", "PortLabel", "AddressMode", "Address", "Checks",
        "CheckRestart", "Connect", "Meta", "CanaryMeta", "TaggedAddresses", "TaskName", "OnUpdate",
        "Identity", "Weights", "Provider", "Cluster", "Kind",
    }),
    "ServiceCheck": frozenset({
        "Name", "Type", "Command", "Args", "Path", "Protocol", "PortLabel", "Expose", "AddressMode",
        "Advertise", "Interval", "Timeout", "InitialStatus", "Notes", "TLSServerName", "TLSSkipVerify",
        "Header", "Method", "CheckRestart", "GRPCService", "GRPCUseTLS", "TaskName",
        "SuccessBeforePassing", "FailuresBeforeCritical", "FailuresBeforeWarning", "Body", "OnUpdate",
    }),
    "CheckRestart": frozenset({"Limit", "Grace", "IgnoreWarnings"}),
    "UpdateStrategy": frozenset({
        "Stagger", "MaxParallel", "HealthCheck", "MinHealthyTime", "HealthyDeadline", "ProgressDeadline",
        "Canary", "AutoRevert", "AutoPromote",
    }),
    "RestartPolicy": frozenset({"Interval", "Attempts", "Delay", "Mode", "RenderTemplates"}),
    "Spread": frozenset({"Attribute", "Weight", "SpreadTarget"}),
    "Constraint": frozenset({"LTarget", "RTarget", "Operand"}),
    "Resources": frozenset({
        "CPU", "Cores", "MemoryMB", "MemoryMaxMB", "DiskMB", "Networks", "Devices", "NUMA", "SecretsMB", "IOPS",
    }),
    "Template": frozenset({
        "SourcePath", "DestPath", "EmbeddedTmpl", "ChangeMode", "ChangeScript", "ChangeSignal", "Splay",
        "Perms", "Uid", "Gid", "LeftDelim", "RightDelim", "Envvars", "VaultGrace", "Wait", "ErrMissingKey",
        "Once",
    }),
    "Vault": frozenset({
        "Policies", "Role", "Namespace", "Cluster", "Env", "DisableFile", "ChangeMode", "ChangeSignal",
        "AllowTokenExpiration",
    }),
    "WorkloadIdentity": frozenset({
        "Name", "Audience", "ChangeMode", "ChangeSignal", "Env", "File", "Filepath", "ServiceName", "TTL",
    }),
    "LogConfig": frozenset({"MaxFiles", "MaxFileSizeMB", "Disabled", "Enabled"}),
}

# Where each struct sits: (parent struct, field) -> child struct; a list field holds many.
CHILDREN: dict[tuple[str, str], str] = {
    ("Job", "TaskGroups"): "TaskGroup",
    ("Job", "Update"): "UpdateStrategy",
    ("Job", "Spreads"): "Spread",
    ("Job", "Constraints"): "Constraint",
    ("TaskGroup", "Tasks"): "Task",
    ("TaskGroup", "Networks"): "NetworkResource",
    ("TaskGroup", "Services"): "Service",
    ("TaskGroup", "Update"): "UpdateStrategy",
    ("TaskGroup", "RestartPolicy"): "RestartPolicy",
    ("TaskGroup", "Spreads"): "Spread",
    ("TaskGroup", "Constraints"): "Constraint",
    ("NetworkResource", "DynamicPorts"): "Port",
    ("NetworkResource", "ReservedPorts"): "Port",
    ("Service", "Checks"): "ServiceCheck",
    ("ServiceCheck", "CheckRestart"): "CheckRestart",
    ("Task", "Resources"): "Resources",
    ("Task", "Templates"): "Template",
    ("Task", "Vault"): "Vault",
    ("Task", "Identities"): "WorkloadIdentity",
    ("Task", "LogConfig"): "LogConfig",
    ("Task", "Constraints"): "Constraint",
}

# Fields whose value is a free-form map (keys are data, not struct fields).
FREE_FORM: frozenset[tuple[str, str]] = frozenset({
    ("Job", "Meta"), ("TaskGroup", "Meta"), ("Task", "Meta"), ("Task", "Env"), ("Task", "Config"),
    ("Service", "Meta"),
})
