# The journal's documented schema (docs/manifests.md, "Journal"): the keys CI
# relies on, as one jq expression (sourced by the experiment tests).
SCHEMA='(.experiment | type == "object") and (.start | type == "string") and
	(.end | type == "string") and (.duration | type == "number") and
	(.status | IN("completed", "failed", "aborted", "interrupted")) and
	(.deviated | type == "boolean") and (.steady_states | type == "object") and
	(.steady_states.during | type == "array") and (.run | type == "array") and
	(.rollbacks | type == "array") and (.duress.verdict | type == "string") and
	(.duress.exit_code | type == "number") and (.duress.phases.before | type == "object") and
	(.duress.phases.during | type == "object") and (.duress.revert.not_reverted | type == "array") and
	(.duress.recovery | has("probes_s") and has("pressure_s")) and
	(.duress.probes | type == "array") and (.duress.kernel_events | type == "array") and
	(.duress.silent_failures | type == "array") and
	([.run[] | has("activity") and has("status") and has("start") and has("end") and has("duration")] | all)'
