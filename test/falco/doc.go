// Package falco runs ruled's plugin inside the real Falco
// (../shared/falco/falco, see falcotest) with the shipped Falco-side files,
// plugin/falco/falco.yaml and plugin/falco/ruled_rules.yaml, as a user would
// install them:
//
//   - replay: every rule of ruled_rules.yaml fires on the events of the
//     default pack's test cases (rules/tests) made for its ruled twin, and
//     on no other case (the near misses); Falco's upstream falco_rules.yaml
//     loads beside them; the ruled-side matches (ruled.rule, ruled.priority,
//     ruled.output) reach Falco rules;
//   - Falco's own view of the plugin: --list=ruled names every field of
//     plugin/FIELDS.md, --plugin-info shows the init schema, a bad init
//     config is refused with Falco's message naming the key, and an empty
//     init_config map means the defaults;
//   - live (root, Docker): with open_params "audit,procconn" and audit_mode
//     multicast, an attack in a real busybox container raises the Falco
//     alert with the container's fields, and the audit rules the plugin
//     added are gone after Falco stops.
//
// Replay runs need no root. Under CI=true every test fails instead of
// skipping when Falco cannot start.
package falco
