// render: a stand-in for `helm template`, for checking the chart where no helm binary can be
// installed (this machine has none, nor any way to fetch one). It renders a chart the way
// Helm does, with the same building blocks: Go's text/template, the sprig function library,
// and Helm's own additions (include, tpl, required, toYaml, fromYaml, toJson, lookup), values
// from values.yaml deep-merged with overrides, and the .Release, .Chart and .Capabilities
// objects. The output is Helm's: each rendered template after "---" and a "# Source:" line,
// empty ones left out; NOTES.txt goes to stderr.
//
//	go run render.go CHART_DIR RELEASE NAMESPACE [OVERRIDES_JSON]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", args...)
	os.Exit(1)
}

func readYAML(path string) map[string]interface{} {
	bytes, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(bytes, &out); err != nil {
		fail("%s: %v", path, err)
	}
	return out
}

// merge puts override's keys into base, maps merged key by key; a null override removes the
// key, as `--set key=null` does.
func merge(base, override map[string]interface{}) map[string]interface{} {
	for key, value := range override {
		if value == nil {
			delete(base, key)
			continue
		}
		inner, isMap := value.(map[string]interface{})
		baseInner, baseIsMap := base[key].(map[string]interface{})
		if isMap && baseIsMap {
			base[key] = merge(baseInner, inner)
		} else {
			base[key] = value
		}
	}
	return base
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: render CHART_DIR RELEASE NAMESPACE [OVERRIDES_JSON]")
	}
	chartDir, release, namespace := os.Args[1], os.Args[2], os.Args[3]
	chart := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	values := readYAML(filepath.Join(chartDir, "values.yaml"))
	if len(os.Args) > 4 {
		overrides := map[string]interface{}{}
		if err := json.Unmarshal([]byte(os.Args[4]), &overrides); err != nil {
			fail("overrides: %v", err)
		}
		values = merge(values, overrides)
	}
	chartName, _ := chart["name"].(string)
	data := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
			"Description": chart["description"],
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.31.0", "Major": "1", "Minor": "31"},
		},
	}

	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = func(v interface{}) string {
		out, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(out), "\n")
	}
	funcs["fromYaml"] = func(text string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(text), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["toJson"] = func(v interface{}) string {
		out, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(out)
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var out strings.Builder
		err := root.ExecuteTemplate(&out, name, data)
		return out.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var out strings.Builder
		err = t.Execute(&out, data)
		return out.String(), err
	}
	funcs["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil || value == "" {
			return nil, fmt.Errorf("%s", message)
		}
		return value, nil
	}
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil // as `helm template`: no cluster to ask
	}
	root.Funcs(funcs).Option("missingkey=zero")

	paths, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		fail("%v", err)
	}
	sort.Strings(paths)
	for _, path := range paths {
		text, err := os.ReadFile(path)
		if err != nil {
			fail("%v", err)
		}
		name := chartName + "/templates/" + filepath.Base(path)
		if _, err := root.New(name).Parse(string(text)); err != nil {
			fail("%v", err)
		}
	}
	for _, path := range paths {
		base := filepath.Base(path)
		name := chartName + "/templates/" + base
		if strings.HasPrefix(base, "_") {
			continue
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
		var out strings.Builder
		if err := root.ExecuteTemplate(&out, name, data); err != nil {
			fail("%v", err)
		}
		rendered := strings.ReplaceAll(out.String(), "<no value>", "")
		if base == "NOTES.txt" {
			fmt.Fprint(os.Stderr, rendered)
			continue
		}
		if strings.TrimSpace(rendered) == "" {
			continue
		}
		fmt.Printf("---\n# Source: %s\n%s\n", name, strings.TrimSpace(rendered))
	}
}
