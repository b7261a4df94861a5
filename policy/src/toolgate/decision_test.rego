# Unit tests of the default policy (opa test policy/src). Each test names the rule it covers.
package toolgate_test

import data.toolgate

now_ns := 1767261600000000000 # 2026-01-01T10:00:00Z

base := {
	"version": 1,
	"agent": {"namespace": "agents", "service_account": "research", "pod": "research-0", "spiffe_id": null, "labels": {}},
	"task": null,
	"tool": {"name": "github", "access": "read", "data_classification": "internal", "labels": {}, "route": null, "captures": {}},
	"request": {"method": "GET", "scheme": "https", "host": "api.github.com", "port": 443, "path": "/repos", "query": {}, "headers": {}},
	"mcp": null,
	"time": {"now": "2026-01-01T10:00:00Z", "now_ns": now_ns},
}

task := {
	"id": "t1",
	"intent": "triage issues",
	"declared_tools": ["github", "slack/post_message"],
	"started_at": "2026-01-01T09:00:00Z",
	"expires_at": "2026-01-01T11:00:00Z",
	"calls": 3,
	"source": "issuer",
	"issuer": "orchestrator",
	"limits": {"max_calls": null},
}

with_tool(fields) := object.union(base, {"tool": fields})

test_read_without_task_allowed if {
	d := toolgate.decision with input as base
	d.allow == true
	d.reasons == ["read access without a task"]
	d.credential == {"ttl_s": 900}
	not d.approval
}

test_write_without_task_denied if {
	d := toolgate.decision with input as with_tool({"access": "write"})
	d.allow == false
	d.reasons == ["write access to tool github needs a task that declares it"]
}

test_execute_without_task_denied if {
	not toolgate.allow with input as with_tool({"access": "execute"})
}

test_write_in_declaring_task_allowed_with_short_ttl if {
	d := toolgate.decision with input as object.union(with_tool({"access": "write"}), {"task": task})
	d.allow == true
	d.reasons == ["tool github declared by task t1"]
	d.credential.ttl_s == 300
}

test_undeclared_tool_denied if {
	d := toolgate.decision with input as object.union(with_tool({"name": "jira"}), {"task": task})
	d.allow == false
	d.reasons == ["tool jira is not among the tools task t1 declared"]
}

test_undeclared_tool_approval_when_configured if {
	d := toolgate.decision with input as object.union(with_tool({"name": "jira"}), {"task": task})
		with data.toolgate_config as {"undeclared_tool": "approval"}
	d.allow == true
	d.approval.reason == "tool jira is not among the tools task t1 declared"
}

test_mcp_tool_declared_individually if {
	inp := object.union(with_tool({"name": "slack", "access": "write"}), {
		"task": task,
		"mcp": {"method": "tools/call", "tool": "post_message", "arguments": {}},
	})
	toolgate.allow with input as inp
}

test_mcp_other_tool_of_same_server_denied if {
	inp := object.union(with_tool({"name": "slack", "access": "write"}), {
		"task": task,
		"mcp": {"method": "tools/call", "tool": "delete_channel", "arguments": {}},
	})
	not toolgate.allow with input as inp
}

test_expired_task_denied if {
	t := object.union(task, {"expires_at": "2026-01-01T09:59:59Z"})
	d := toolgate.decision with input as object.union(base, {"task": t})
	d.reasons == ["task t1 has expired"]
}

test_bad_expiry_denied if {
	t := object.union(task, {"expires_at": "tomorrow"})
	d := toolgate.decision with input as object.union(base, {"task": t})
	d.reasons == ["task t1 has no valid expires_at"]
}

test_call_budget if {
	t := object.union(task, {"calls": 1000})
	d := toolgate.decision with input as object.union(base, {"task": t})
	d.reasons == ["task t1 has used its budget of 1000 calls"]
	toolgate.allow with input as object.union(base, {"task": t}) with data.toolgate_config as {"max_task_calls": 5000}
}

test_classification_above_default_ceiling_denied if {
	d := toolgate.decision with input as with_tool({"data_classification": "confidential"})
	d.allow == false
	d.reasons == ["tool github handles confidential data, above this agent's classification ceiling"]
}

test_classification_unknown_denied if {
	not toolgate.allow with input as with_tool({"data_classification": "secret"})
}

test_classification_null_allowed if {
	toolgate.allow with input as with_tool({"data_classification": null})
}

test_classification_ceiling_by_namespace if {
	cfg := {"classification_ceiling": {"namespaces": {"agents": "confidential"}}}
	toolgate.allow with input as with_tool({"data_classification": "confidential"}) with data.toolgate_config as cfg
	not toolgate.allow with input as with_tool({"data_classification": "restricted"}) with data.toolgate_config as cfg
}

test_classification_ceiling_service_account_beats_namespace if {
	cfg := {"classification_ceiling": {"namespaces": {"agents": "restricted"}, "service_accounts": {"agents/research": "public"}}}
	not toolgate.allow with input as base with data.toolgate_config as cfg
}

test_delegate_needs_approval if {
	d := toolgate.decision with input as object.union(with_tool({"access": "delegate"}), {"task": task})
	d.allow == true
	d.approval.reason == "delegate access to tool github needs approval"
	d.credential.ttl_s == 120
}

test_scope_label_narrows_credential if {
	d := toolgate.decision with input as with_tool({"labels": {"toolgate.dev/scope": "repo:read  issues:read"}})
	d.credential == {"ttl_s": 900, "scope": ["repo:read", "issues:read"]}
}

test_unsupported_input_version_denied if {
	d := toolgate.decision with input as object.union(base, {"version": 2})
	d.reasons == ["policy input version is not supported by this policy"]
}

test_several_denials_all_reported_sorted if {
	inp := object.union(with_tool({"access": "write", "data_classification": "restricted"}), {"version": 9})
	d := toolgate.decision with input as inp
	count(d.reasons) == 3
	d.reasons == sort(d.reasons)
}

test_agent_declared_task_never_unlocks_write_execute_delegate if {
	t := object.union(task, {"source": "agent", "issuer": null})
	every access in ["write", "execute", "delegate"] {
		d := toolgate.decision with input as object.union(with_tool({"access": access}), {"task": t})
		d.allow == false
		d.reasons == [concat("", [access, " access to tool github needs a task from a trusted issuer (task t1 was declared by the agent)"])]
	}
}

test_agent_declared_task_reads if {
	t := object.union(task, {"source": "agent", "issuer": null})
	toolgate.allow with input as object.union(base, {"task": t})
}

test_task_without_source_counts_as_agent_declared if {
	t := object.remove(task, ["source"])
	not toolgate.allow with input as object.union(with_tool({"access": "write"}), {"task": t})
}

test_agent_declared_even_when_config_relaxes_task_requirement if {
	t := object.union(task, {"source": "agent", "issuer": null})
	not toolgate.allow with input as object.union(with_tool({"access": "write"}), {"task": t})
		with data.toolgate_config as {"task_required_for": []}
}

test_grant_call_limit if {
	t := object.union(task, {"calls": 3, "limits": {"max_calls": 3}})
	d := toolgate.decision with input as object.union(base, {"task": t})
	d.reasons == ["task t1 has used the 3 calls its grant allows"]
	toolgate.allow with input as object.union(base, {"task": object.union(t, {"calls": 2})})
}
