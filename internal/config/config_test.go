package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "caduceus.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	for _, c := range []struct {
		name, body, wantErr string
		check               func(t *testing.T, c Config)
	}{
		{name: "defaults", body: `hostname = "mx.example.fr"`, check: func(t *testing.T, c Config) {
			if c.Limits.MessageSize != 50<<20 || c.Delivery.Expire.Duration != 120*time.Hour || c.Web.IdleTimeout.Duration != 30*time.Minute {
				t.Errorf("defaults not applied: %+v", c)
			}
			if c.Listen.SMTP != "" {
				t.Errorf("a listener is on by default: %q", c.Listen.SMTP)
			}
		}},
		{name: "full", body: `
hostname = "mx.example.fr"
data_dir = "data"
[listen]
smtp = "127.0.0.1:2525"
imaps = ":993"
[limits]
message_size = 1048576
[delivery]
relay = "relay.example.fr:25"
expire = "48h"
`, check: func(t *testing.T, c Config) {
			if c.Listen.SMTP != "127.0.0.1:2525" || c.Listen.IMAPS != ":993" || c.Limits.MessageSize != 1<<20 || c.Delivery.Relay != "relay.example.fr:25" || c.Delivery.Expire.Duration != 48*time.Hour {
				t.Errorf("values not read: %+v", c)
			}
			if !filepath.IsAbs(c.DataDir) {
				t.Errorf("data_dir %q not made absolute", c.DataDir)
			}
		}},
		{name: "unknown key", body: "hostname = \"x\"\n[listen]\nsmpt = \":25\"\n", wantErr: "unknown key listen.smpt"},
		{name: "unknown section", body: "[limit]\nmessage_size = 5\n", wantErr: "unknown key limit"},
		{name: "bad listen", body: "[listen]\nimap = \"143\"\n", wantErr: "listen.imap"},
		{name: "bad database", body: `database = "mysql://x"`, wantErr: "database"},
		{name: "half tls", body: "[tls]\ncert = \"a.crt\"\n", wantErr: "tls"},
		{name: "tiny size", body: "[limits]\nmessage_size = 10\n", wantErr: "message_size"},
		{name: "bad duration", body: "[delivery]\nexpire = \"forever\"\n", wantErr: "forever"},
		{name: "syntax", body: "hostname = \n", wantErr: "read config"},
		{name: "trust", body: `
[trust]
enabled = true
ca_bundle = "/etc/caduceus/igc-sante.p7b"
crls = ["http://igc-sante.example/ac.crl", "/etc/caduceus/ac2.crl"]
whitelist = "https://espacedeconfiance.mssante.fr/listeblanchemssante.xml"
refresh = "30m"
`, check: func(t *testing.T, c Config) {
			if !c.Trust.Enabled || c.Trust.CABundle != "/etc/caduceus/igc-sante.p7b" || len(c.Trust.CRLs) != 2 || c.Trust.Refresh.Duration != 30*time.Minute {
				t.Errorf("trust not read: %+v", c.Trust)
			}
		}},
		{name: "support", body: "hostname = \"x\"\n[support]\naddress = \"support@editeur.example\"\n", check: func(t *testing.T, c Config) {
			if c.Support.Address != "support@editeur.example" {
				t.Errorf("support.address not read: %+v", c.Support)
			}
		}},
		{name: "bad support", body: "hostname = \"x\"\n[support]\naddress = \"the helpdesk\"\n", wantErr: "support.address"},
		{name: "trust off by default", body: `hostname = "x"`, check: func(t *testing.T, c Config) {
			if c.Trust.Enabled || c.Trust.Refresh.Duration != time.Hour {
				t.Errorf("trust defaults: %+v", c.Trust)
			}
		}},
		{name: "trust without whitelist", body: "[trust]\nenabled = true\nca_bundle = \"b.pem\"\n", wantErr: "trust: enabled needs"},
		{name: "trust plain http whitelist", body: "[trust]\nenabled = true\nca_bundle = \"b.pem\"\nwhitelist = \"http://x/l.xml\"\n", wantErr: "https"},
		{name: "trust half client pair", body: "[trust]\nclient_cert = \"c.crt\"\n", wantErr: "client_key"},
		{name: "trust refresh too short", body: "[trust]\nrefresh = \"1s\"\n", wantErr: "trust.refresh"},
		{name: "retry", body: "[delivery]\nretry_first = \"2s\"\nretry_max = \"1s\"\n", wantErr: "retry_max"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, ok := load(t, c.body, c.wantErr)
			if !ok {
				return
			}
			c.check(t, cfg)
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	c := Defaults()
	env := map[string]string{"CADUCEUS_DATABASE": "postgres://db/caduceus", "CADUCEUS_HOSTNAME": "node2"}
	applyEnv(&c, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if c.Database != "postgres://db/caduceus" || c.Hostname != "node2" {
		t.Fatalf("overrides not applied: %+v", c)
	}
}

func TestIMAPLimits(t *testing.T) {
	c, err := Load(write(t, "[imap]\nmax_conns_per_account = 20\nidle_timeout = \"45m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.IMAP.MaxConnsPerAccount != 20 || c.IMAP.IdleTimeout.Duration != 45*time.Minute || c.IMAP.MaxConnsPerIP != 500 {
		t.Fatalf("imap = %+v", c.IMAP)
	}
	if _, err := Load(write(t, "[imap]\nidle_timeout = \"5m\"\n")); err == nil || !strings.Contains(err.Error(), "imap.idle_timeout") {
		t.Fatalf("a 5-minute idle timeout: %v", err)
	}
}

func TestBlobs(t *testing.T) {
	for _, c := range []struct {
		name, body, wantErr string
		want                Blobs
	}{
		{name: "defaults", body: "", want: Blobs{CompactInterval: Duration{time.Hour}, CompactThreshold: 0.5, CompactGrace: Duration{time.Hour}, CacheSize: 512 << 20}},
		{name: "s3", body: "[blobs]\nstore = \"s3://mail?endpoint=127.0.0.1:7070&region=r&tls=false\"\ncredentials = \"/etc/caduceus/s3\"\ncache_size = \"2GiB\"\n",
			want: Blobs{Store: "s3://mail?endpoint=127.0.0.1:7070&region=r&tls=false", Credentials: "/etc/caduceus/s3", CacheSize: 2 << 30, CompactInterval: Duration{time.Hour}, CompactThreshold: 0.5, CompactGrace: Duration{time.Hour}}},
		{name: "cache in MB", body: "[blobs]\ncache_size = \"100MB\"\n", want: Blobs{CacheSize: 100e6, CompactInterval: Duration{time.Hour}, CompactThreshold: 0.5, CompactGrace: Duration{time.Hour}}},
		{name: "cache off", body: "[blobs]\ncache_size = \"0\"\n", want: Blobs{CompactInterval: Duration{time.Hour}, CompactThreshold: 0.5, CompactGrace: Duration{time.Hour}}},
		{name: "bad cache size", body: "[blobs]\ncache_size = \"lots\"\n", wantErr: "size"},
		{name: "not s3", body: "[blobs]\nstore = \"https://user:hunter2@s3.example.fr/mail\"\n", wantErr: "blobs.store: want empty"},
		{name: "credentials without s3", body: "[blobs]\ncredentials = \"/etc/caduceus/s3\"\n", wantErr: "blobs.credentials"},
		{name: "set", body: "[blobs]\ncompact_interval = \"6h\"\ncompact_threshold = 0.3\ncompact_grace = \"10m\"\n",
			want: Blobs{CompactInterval: Duration{6 * time.Hour}, CompactThreshold: 0.3, CompactGrace: Duration{10 * time.Minute}, CacheSize: 512 << 20}},
		{name: "off", body: "[blobs]\ncompact_interval = \"0s\"\n", want: Blobs{CompactThreshold: 0.5, CompactGrace: Duration{time.Hour}, CacheSize: 512 << 20}},
		{name: "too often", body: "[blobs]\ncompact_interval = \"10s\"\n", wantErr: "blobs.compact_interval"},
		{name: "threshold zero", body: "[blobs]\ncompact_threshold = 0.0\n", wantErr: "blobs.compact_threshold"},
		{name: "threshold above one", body: "[blobs]\ncompact_threshold = 1.5\n", wantErr: "blobs.compact_threshold"},
		{name: "no grace", body: "[blobs]\ncompact_grace = \"0s\"\n", wantErr: "blobs.compact_grace"},
		{name: "unknown key", body: "[blobs]\ncompact_treshold = 0.4\n", wantErr: "unknown key blobs.compact_treshold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, ok := load(t, c.body, c.wantErr)
			if !ok {
				return
			}
			if cfg.Blobs != c.want {
				t.Fatalf("blobs = %+v, want %+v", cfg.Blobs, c.want)
			}
		})
	}
}

func TestAuditRetention(t *testing.T) {
	for _, c := range []struct {
		name, body, wantErr string
		want                time.Duration
	}{
		{name: "default a year", want: 365 * 24 * time.Hour},
		{name: "two years", body: "[audit]\nretention = \"17520h\"\n", want: 2 * 365 * 24 * time.Hour},
		{name: "a month is too short", body: "[audit]\nretention = \"720h\"\n", wantErr: "audit.retention"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, ok := load(t, c.body, c.wantErr)
			if ok && cfg.Audit.Retention.Duration != c.want {
				t.Fatalf("retention = %v, want %v", cfg.Audit.Retention, c.want)
			}
		})
	}
}

// load reads a configuration of body. With wantErr it checks that loading
// fails with an error naming it and returns false; otherwise it returns the
// configuration, failing the test on any error.
func load(t *testing.T, body, wantErr string) (Config, bool) {
	t.Helper()
	cfg, err := Load(write(t, body))
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want it to mention %q", err, wantErr)
		}
		return cfg, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg, true
}
