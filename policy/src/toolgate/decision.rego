# The default toolgate policy. Entrypoint: toolgate/decision (data.toolgate.decision).
#
# Input: the PolicyInput document, version 1 (docs/policy-input.md).
# Result: {allow, reasons, approval?, credential?} (docs/policy.md). Anything else denies.
#
# Settings come from data.toolgate_defaults (data.json in this bundle) overridden, key by key,
# by data.toolgate_config (policy.data in toolgate.yaml). Every deny rule adds a reason; the call
# is allowed only when no deny rule fires. Whatever cannot be evaluated (unknown classification,
# unparsable expiry, missing settings) denies: the policy fails closed like the engine around it.
#
# Only builtins that the WASM target supports natively or that toolgate provides on the host
# (time.*, see proxy/src/decide/policy/builtins.ts) may be used here; print() is not used
# because the SDK writes it to stdout, where decision records go.
package toolgate

default config := {}

config := data.toolgate_config

default defaults := {}

defaults := data.toolgate_defaults

# object.union merges recursively; the operator's config wins. WASM evaluation does not keep
# rule values between calls, so the merge would run on every decision: skip it when the
# operator set nothing (the common case), it is then the defaults as they are.
settings := defaults if {
	config == {}
} else := object.union(defaults, config)

access := input.tool.access

tool := input.tool.name

has_task if input.task != null

# A task declares a whole tool ("github") or, for MCP, one tool of that server ("github/create_issue").
declared if tool in input.task.declared_tools

declared if {
	is_string(input.mcp.tool)
	concat("/", [tool, input.mcp.tool]) in input.task.declared_tools
}

undeclared_needs_approval if settings.undeclared_tool == "approval"

# A task is the platform's word only when it came from a verified grant (input.task.source ==
# "issuer"); any other task (source "agent", or no source at all) was declared by the agent itself
# and never unlocks more than read access.
issuer_task if input.task.source == "issuer"

agent_task if {
	has_task
	not issuer_task
}

# ---- classification ceiling: the most specific setting wins (service account, namespace, default)

agent_sa_key := concat("/", [input.agent.namespace, input.agent.service_account]) if {
	is_string(input.agent.namespace)
	is_string(input.agent.service_account)
}

ceiling := c if {
	c := settings.classification_ceiling.service_accounts[agent_sa_key]
} else := c if {
	c := settings.classification_ceiling.namespaces[input.agent.namespace]
} else := settings.classification_ceiling.default

within_ceiling if {
	settings.classification_levels[input.tool.data_classification] <= settings.classification_levels[ceiling]
}

task_expires_ns := time.parse_rfc3339_ns(input.task.expires_at)

# ---- deny rules

deny contains msg if {
	not input.version == settings.input_version
	msg := "policy input version is not supported by this policy"
}

deny contains msg if {
	not has_task
	access in settings.task_required_for
	msg := concat("", [access, " access to tool ", tool, " needs a task that declares it"])
}

deny contains msg if {
	has_task
	not declared
	not undeclared_needs_approval
	msg := concat("", ["tool ", tool, " is not among the tools task ", input.task.id, " declared"])
}

deny contains msg if {
	agent_task
	access in {"write", "execute", "delegate"}
	msg := concat("", [access, " access to tool ", tool, " needs a task from a trusted issuer (task ", input.task.id, " was declared by the agent)"])
}

deny contains msg if {
	has_task
	is_number(input.task.limits.max_calls)
	input.task.calls >= input.task.limits.max_calls
	msg := concat("", ["task ", input.task.id, " has used the ", format_int(input.task.limits.max_calls, 10), " calls its grant allows"])
}

deny contains msg if {
	has_task
	not task_expires_ns
	msg := concat("", ["task ", input.task.id, " has no valid expires_at"])
}

deny contains msg if {
	task_expires_ns <= input.time.now_ns
	msg := concat("", ["task ", input.task.id, " has expired"])
}

deny contains msg if {
	has_task
	input.task.calls >= settings.max_task_calls
	msg := concat("", ["task ", input.task.id, " has used its budget of ", format_int(settings.max_task_calls, 10), " calls"])
}

deny contains msg if {
	input.tool.data_classification != null
	not within_ceiling
	msg := concat("", [
		"tool ", tool, " handles ", input.tool.data_classification,
		" data, above this agent's classification ceiling",
	])
}

# ---- step-up approval (the call is allowed, pending approval)

approval_reasons contains msg if {
	access in settings.approval_for_access
	msg := concat("", [access, " access to tool ", tool, " needs approval"])
}

approval_reasons contains msg if {
	has_task
	not declared
	undeclared_needs_approval
	msg := concat("", ["tool ", tool, " is not among the tools task ", input.task.id, " declared"])
}

# ---- why an allowed call is allowed

allow_reasons contains msg if {
	not has_task
	msg := concat("", [access, " access without a task"])
}

allow_reasons contains msg if {
	declared
	msg := concat("", ["tool ", tool, " declared by task ", input.task.id])
}

allow_reasons contains "undeclared tool allowed pending approval" if {
	has_task
	not declared
	undeclared_needs_approval
}

# ---- credential narrowing: a shorter TTL for riskier access, scopes from a tool label

credential_field["ttl_s"] := settings.credential_ttl_s[access]

credential_field["scope"] := scopes if {
	scopes := [s | some s in split(input.tool.labels[settings.scope_label], " "); s != ""]
	count(scopes) > 0
}

approval_part := {"approval": {"reason": concat("; ", sort(approval_reasons))}} if {
	count(approval_reasons) > 0
} else := {}

credential_part := {"credential": credential_field} if {
	count(credential_field) > 0
} else := {}

# ---- the entrypoint

decision := {"allow": false, "reasons": sort(deny)} if {
	count(deny) > 0
} else := object.union(object.union({"allow": true, "reasons": sort(allow_reasons)}, approval_part), credential_part)

allow := decision.allow
