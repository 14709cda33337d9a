//go:build integration

package intake

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/testenv"
)

// pythonBulkScript indexes 50 ECS documents with the official client's helpers.bulk and prints how many succeeded:
// failed SSH logons for 50 accounts from one address, as a script shipping parsed auth logs sends them. Each claims
// tenant globex in a plain field, which must not change the tenant (the token's).
const pythonBulkScript = `
import sys
from datetime import datetime, timezone
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch(sys.argv[1], api_key=sys.argv[2])
print(es.info()["version"]["number"], file=sys.stderr)
now = datetime.now(timezone.utc).isoformat()
docs = ({"_index": "logs-py", "_op_type": "create", "_source": {"@timestamp": now, "tenant": "globex",
         "event": {"category": ["authentication"], "action": "ssh_login", "outcome": "failure"},
         "source": {"ip": sys.argv[3]}, "user": {"name": "user%d" % i}, "process": {"name": "sshd"}}}
        for i in range(50))
ok, errors = helpers.bulk(es, docs, max_retries=3)
print(ok, len(errors))
`

// pythonElasticsearch returns the python of a virtual environment with the elasticsearch client, installing it
// in the user's cache folder on first use. Without it, the test is skipped, or fails under
// VIGIL_REQUIRE_INTEGRATION=1.
func pythonElasticsearch(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	venv := filepath.Join(cache, "vigil-test", "py-elasticsearch8")
	py := filepath.Join(venv, "bin", "python")
	if exec.Command(py, "-c", "import elasticsearch").Run() == nil {
		return py
	}
	out, err := exec.Command("python3", "-m", "venv", venv).CombinedOutput()
	if err == nil {
		out, err = exec.Command(filepath.Join(venv, "bin", "pip"), "install", "-q", "elasticsearch>=8,<9").CombinedOutput()
	}
	if err != nil {
		msg := "python elasticsearch client not installable: " + err.Error() + ": " + string(out)
		if os.Getenv(testenv.EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

func TestIntegrationPythonHelpersBulk(t *testing.T) {
	addr := testenv.Kafka(t)
	py := pythonElasticsearch(t)
	topic := testenv.CreateTopic(t, addr, 1)
	s := realServer(t, multiTenantConfig(t, addr, topic))
	script := filepath.Join(t.TempDir(), "bulk.py")
	if err := os.WriteFile(script, []byte(pythonBulkScript), 0o600); err != nil {
		t.Fatal(err)
	}
	const address = "198.51.100.9"
	out, err := exec.CommandContext(context.Background(), py, script, "http://"+s.Addr(), tokenAcme, address).CombinedOutput()
	if err != nil {
		t.Fatalf("helpers.bulk: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := lines[len(lines)-1]; got != "50 0" {
		t.Fatalf("got %q, want \"50 0\" (50 indexed, no errors); output:\n%s", got, out)
	}
	for _, ev := range consume(t, addr, []ingest.KafkaTopic{{Name: topic, MultiTenant: true}}, 50) {
		if ev.Tenant != "acme" {
			t.Fatalf("got tenant %s, want acme", ev.Tenant)
		}
	}
	alerts := runVigil(t, addr, []string{"{name: " + topic + ", multi_tenant: true}"}, sprayAlerts("acme", address)...)
	for rule, list := range alerts {
		for _, a := range list {
			if a["vigil.alert.tenant"] != "acme" {
				t.Errorf("alert of %s in tenant %v, want acme (the token's, not the documents' claim)", rule, a["vigil.alert.tenant"])
			}
		}
	}
}
