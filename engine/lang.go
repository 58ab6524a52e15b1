package engine

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/expr-lang/expr/parser"
	"github.com/ruled/ruled/engine/falcolang"
	"gopkg.in/yaml.v3"
)

// Lang is the condition language of a rules file.
type Lang int

// Condition languages.
const (
	LangExpr  Lang = iota // ruled's own: expr
	LangFalco             // Falco's filter language
)

func (l Lang) String() string {
	if l == LangFalco {
		return "Falco's language"
	}
	return "expr"
}

// langMarker forces a file's language: a comment line
// `# ruled: language=falco` (or expr) anywhere in the file.
var langMarker = regexp.MustCompile(`(?m)^#\s*ruled:\s*language\s*=\s*(\S+)\s*$`)

// detectLang decides a file's language: the marker comment when present;
// else Falco's when an item has a key only Falco's files have (source,
// warn_evttypes, skip-if-unknown-filter, capture), or when some conditions
// only Falco's parser accepts and none only expr's does; else expr.
func detectLang(f File, root *yaml.Node) (Lang, error) {
	if m := langMarker.FindSubmatch(f.Data); m != nil {
		switch string(m[1]) {
		case "falco":
			return LangFalco, nil
		case "expr":
			return LangExpr, nil
		}
		return 0, fmt.Errorf("# ruled: language=%s: want falco or expr", m[1])
	}
	var conds []string
	for _, it := range root.Content {
		if it.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(it.Content); i += 2 {
			k := it.Content[i].Value
			switch {
			case falcoRuleKeys[k]:
				return LangFalco, nil
			case k == "condition" && it.Content[i+1].Kind == yaml.ScalarNode:
				conds = append(conds, it.Content[i+1].Value)
			}
		}
	}
	// Falco's when some conditions only Falco's parser accepts and none
	// only expr's does: a lone slip (an = in an expr file) should not turn
	// a whole expr file into Falco's.
	falcoOnly, exprOnly := 0, 0
	for _, c := range conds {
		if strings.TrimSpace(c) == "" {
			continue
		}
		_, eerr := parser.Parse(rewriteSpellings(c))
		_, ferr := falcolang.Parse(c)
		switch {
		case eerr != nil && ferr == nil:
			falcoOnly++
		case eerr == nil && ferr != nil:
			exprOnly++
		}
	}
	if falcoOnly > 0 && exprOnly == 0 {
		return LangFalco, nil
	}
	return LangExpr, nil
}

// condLang is Falco's language for a condition expr's parser rejects and
// Falco's accepts, else expr.
func condLang(c string) Lang {
	if strings.TrimSpace(c) == "" {
		return LangExpr
	}
	if _, err := parser.Parse(rewriteSpellings(c)); err == nil {
		return LangExpr
	}
	if _, err := falcolang.Parse(c); err == nil {
		return LangFalco
	}
	return LangExpr
}
