// Package respond runs opt-in containment when an alert matches a
// `responses:` entry of the agent's config: commit an evidence image,
// disconnect the container from its networks, pause, stop or kill it,
// through the container runtime's API.
//
// Responses run beside the event path: Offer only matches and queues (a
// bounded queue; what does not fit is dropped and counted), one worker acts.
// Every action is logged and reported as an alert of its own, whose rule
// name starts with "response: " so receivers can tell a response from a
// detection. Host processes are never acted on, a container at most once per
// entry per cool-down, a failed action does not stop the next one, and
// dry_run reports what would be done without doing it.
package respond
