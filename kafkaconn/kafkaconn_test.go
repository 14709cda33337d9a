package kafkaconn

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestInlineYAML: a component embeds Config inline, so the connection keys sit beside its own keys, as in every
// shipped configuration.
func TestInlineYAML(t *testing.T) {
	var got struct {
		Config `yaml:",inline"`
		Topic  string `yaml:"topic"`
	}
	src := "brokers: [k1:9092]\nclient_id: c\nconnect_timeout: 3s\ntls: {enabled: true, server_name: k}\n" +
		"sasl: {mechanism: plain, username: u, password: p}\ntopic: t\n"
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Brokers[0] != "k1:9092" || got.ClientID != "c" || got.ConnectTimeout != 3*time.Second ||
		got.TLS.ServerName != "k" || got.SASL.Username != "u" || got.Topic != "t" {
		t.Fatalf("got %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("got %v, want valid", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Brokers: []string{"k:9092"}}, ""},
		{"no brokers", Config{}, "at least one broker"},
		{"no port", Config{Brokers: []string{"k"}}, "not host:port"},
		{"cert without key", Config{Brokers: []string{"k:1"}, TLS: TLS{Enabled: true, CertFile: "c"}}, "go together"},
		{"tls off", Config{Brokers: []string{"k:1"}, TLS: TLS{CAFile: "ca"}}, "tls.enabled is false"},
		{"sasl mech", Config{Brokers: []string{"k:1"}, SASL: SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, "GSSAPI"},
		{"sasl two passwords", Config{Brokers: []string{"k:1"},
			SASL: SASL{Mechanism: "PLAIN", Username: "u", Password: "p", PasswordFile: "f"}}, "exactly one"},
		{"creds without mech", Config{Brokers: []string{"k:1"}, SASL: SASL{Username: "u"}}, "no mechanism"},
	} {
		err := c.cfg.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	d := Config{}.WithDefaults()
	if d.ClientID != DefaultClientID || d.ConnectTimeout != DefaultConnectTimeout {
		t.Fatalf("got %+v", d)
	}
	dl, err := (&Config{Brokers: []string{"k:1"}}).Dialer()
	if err != nil || dl.ClientID != "vigil" || dl.Timeout != DefaultConnectTimeout {
		t.Fatalf("got %+v, %v", dl, err)
	}
}
