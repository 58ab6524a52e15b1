package event

import "time"

// Alert is what a matching rule produces, in Falco's alert JSON shape so that
// falcosidekick and other Falco consumers accept it unchanged.
type Alert struct {
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     Priority       `json:"priority"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Hostname     string         `json:"hostname"`
	// Suppressed counts alerts of this rule that the rate limiter held back
	// since the previous alert of the rule was emitted.
	Suppressed uint64 `json:"suppressed,omitempty"`
	// Event is the event that matched; outputs may use it, it is not encoded.
	Event *Event `json:"-"`
}

// AlertSource is Alert.Source for every ruled alert.
const AlertSource = "ruled"
