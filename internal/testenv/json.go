package testenv

import "fmt"

// EmptyJSONElement is the path of the first empty string, object or array in v (a decoded
// JSON value), "" when there is none: FHIR forbids empty elements (ele-1).
func EmptyJSONElement(v any, path string) string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return path
		}
	case map[string]any:
		if len(x) == 0 {
			return path
		}
		for k, c := range x {
			if p := EmptyJSONElement(c, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		if len(x) == 0 {
			return path
		}
		for i, c := range x {
			if p := EmptyJSONElement(c, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}
