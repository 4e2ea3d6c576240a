package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// defaultFile is read when no --config is given, if it exists.
const defaultFile = "config.yaml"

// configFile is the parsed config file.
type configFile struct {
	path     string          // as given, or defaultFile; "" when there is no file
	settings map[string]any  // nested, keys lower-cased, for viper
	keys     map[string]bool // the known keys the file sets (non-null)
	warnings []string        // unknown keys
}

// readFile reads path, or defaultFile when path is "" (no file is fine
// then). Structural problems (a section that is not a mapping, a key given
// twice) are errors; unknown keys are warnings.
func readFile(path string) (*configFile, error) {
	explicit := path != ""
	if !explicit {
		path = defaultFile
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
	case !explicit && errors.Is(err, fs.ErrNotExist):
		return &configFile{}, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, &fileError{path: path, msg: "config file does not exist (check --config)", err: err}
	default:
		return nil, &fileError{path: path, msg: "cannot read config file: " + unwrapPathError(err).Error(), err: err}
	}

	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &fileError{path: path, msg: yamlMessage(err), err: err}
	}
	f := &configFile{path: path, settings: map[string]any{}, keys: map[string]bool{}}
	if doc == nil { // empty, or only comments
		return f, nil
	}
	top, ok := asMap(doc)
	if !ok {
		return nil, &fileError{path: path, msg: fmt.Sprintf("top level is %s, not a mapping of keys (e.g. cluster: default)", formatValue(doc))}
	}
	var errs []error
	f.walk("", top, f.settings, &errs)
	return f, join(errs)
}

// yamlMessage returns yaml's error on one line: "yaml: line 3: did not find
// expected key", or "yaml: line 2: mapping key "cluster" already defined at
// line 1; line 4: ..." for the errors yaml.v3 lists one per line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return "yaml: " + strings.Join(te.Errors, "; ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// unwrapPathError drops the path that *fs.PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// walk copies m into out with lower-cased keys, records the known keys,
// and reports unknown keys and misshapen sections. prefix is the dotted key
// of m ("" at the top).
func (f *configFile) walk(prefix string, m map[string]any, out map[string]any, errs *[]error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		val := m[k]
		lk := strings.ToLower(k)
		key := lk
		if prefix != "" {
			key = prefix + "." + lk
		}
		if _, dup := out[lk]; dup {
			*errs = append(*errs, &keyError{key: key, msg: fmt.Sprintf("given twice in %s (keys are case-insensitive)", f.path)})
			continue
		}
		switch {
		case isKnownKey(key):
			if f.keys[key] {
				// Also set in dotted form elsewhere in the file.
				*errs = append(*errs, &keyError{key: key, msg: fmt.Sprintf("given twice in %s", f.path)})
				continue
			}
			out[lk] = val
			if val != nil {
				f.keys[key] = true
			}
		case isSection(key):
			if val == nil { // "etcd:" with everything under it commented out
				continue
			}
			sub, ok := asMap(val)
			if !ok {
				*errs = append(*errs, &keyError{key: key, msg: fmt.Sprintf("%s is not a mapping (e.g. %s)", formatValue(val), sectionExample(key)), source: "in " + f.path})
				continue
			}
			subOut := map[string]any{}
			out[lk] = subOut
			f.walk(key, sub, subOut, errs)
		default:
			if sub, ok := asMap(val); ok && len(sub) > 0 {
				f.walk(key, sub, map[string]any{}, errs) // all unknown, warned key by key
				continue
			}
			f.warnings = append(f.warnings, unknownKeyWarning(f.path, key))
		}
	}
}

func isKnownKey(key string) bool {
	_, ok := lookupKeyDef(key)
	return ok
}

func sectionExample(section string) string {
	for _, d := range keyDefs {
		if rest, ok := strings.CutPrefix(d.name, section+"."); ok {
			return fmt.Sprintf("%s: {%s: ...}", section[strings.LastIndex(section, ".")+1:], rest)
		}
	}
	return section + ": {...}"
}

// asMap returns v as a map with string keys, if it is a mapping.
func asMap(v any) (map[string]any, bool) {
	switch v := v.(type) {
	case map[string]any:
		return v, true
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = e
		}
		return m, true
	}
	return nil, false
}
