package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// documentedEnv reads the environment that a shipped configuration's header comment runs it with: the VIGIL_*
// assignments of its `vigil run -c` example (continued over lines ending in a backslash).
func documentedEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var header strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		if strings.HasSuffix(line, `\`) {
			header.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		header.WriteString(line + "\n")
	}
	env := map[string]string{}
	for _, line := range strings.Split(header.String(), "\n") {
		before, _, ok := strings.Cut(line, "vigil run -c")
		if !ok {
			continue
		}
		for _, m := range regexp.MustCompile(`(VIGIL_[A-Z0-9_]+)=(\S+)`).FindAllStringSubmatch(before, -1) {
			env[m[1]] = m[2]
		}
	}
	return env
}

// composeEnv reads the environment docker-compose.yml gives the vigil service.
func composeEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c.Services["vigil"].Environment
}

// onlyEnv makes env the whole VIGIL_* environment for the rest of the test.
func onlyEnv(t *testing.T, env map[string]string) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "VIGIL_") {
			t.Setenv(name, "") // restored after the test
			os.Unsetenv(name)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// TestShippedConfigs loads each shipped configuration with the environment its documentation gives it (the
// header's example command; for docker.yaml, docker-compose.yml) and checks that it validates, that the production
// ones are as complete as the quickstart (its rule folders, the rules-intel lookup rules and the same enrichment
// tables), that every file they name exists (docker.yaml's /etc/vigil is the image's copy of configs/), and that the
// rules' own tests pass with those tables, as `vigil rules test --enrich` runs them.
func TestShippedConfigs(t *testing.T) {
	root, _ := filepath.Abs("../..")
	t.Chdir(root)
	quick, err := loadConfig("configs/quickstart.yaml")
	if err != nil {
		t.Fatalf("quickstart: %v", err)
	}
	for _, name := range []string{"quickstart.yaml", "kafka-to-file.yaml", "kafka-to-search.yaml", "docker.yaml"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("configs", name)
			env := documentedEnv(t, path)
			if name == "docker.yaml" {
				env = composeEnv(t, "docker-compose.yml")
				// The image copies configs/ to /etc/vigil: check the same files here.
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				path = filepath.Join(t.TempDir(), name)
				writeTestFile(t, path, string(bytes.ReplaceAll(data, []byte("/etc/vigil/"), []byte(root+"/configs/"))))
			}
			if name != "quickstart.yaml" && len(env) == 0 {
				t.Fatalf("no documented environment found for %s", name)
			}
			onlyEnv(t, env)
			cfg, err := loadConfig(path)
			if err != nil {
				t.Fatalf("with the documented environment %v: %v", env, err)
			}
			local := func(p string) string { return strings.TrimPrefix(p, root+"/") }
			var paths []string
			for _, p := range cfg.Rules.Paths {
				paths = append(paths, local(p))
			}
			for _, p := range quick.Rules.Paths {
				if !slices.Contains(paths, p) {
					t.Errorf("rules.paths %v: want %s, as the quickstart has", paths, p)
				}
			}
			tables := func(c *Config) string {
				return fmt.Sprintf("%+v %+v %+v", c.Enrich.GeoIP, c.Enrich.Assets, c.Enrich.ThreatIntel)
			}
			if got, want := strings.ReplaceAll(tables(cfg), root+"/", ""), tables(quick); got != want {
				t.Errorf("enrich:\ngot  %s\nwant %s (the quickstart's tables, as placeholders)", got, want)
			}
			e := cfg.Enrich
			files := append(append(append([]string{e.GeoIP.City, e.GeoIP.ASN}, e.Assets.Files...), e.ThreatIntel.Files...), cfg.Rules.Paths...)
			for _, fs := range e.Assets.Tenants {
				files = append(files, fs...)
			}
			for _, f := range files {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("a file the configuration names: %v", err)
				}
			}
			var out, errOut bytes.Buffer
			if code := run(append([]string{"rules", "test", "--enrich", path}, cfg.Rules.Paths...), nil, &out, &errOut); code != 0 {
				t.Errorf("vigil rules test --enrich %s: exit %d\n%s%s", name, code, out.String(), errOut.String())
			}
		})
	}
}
