package appliance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/finding"
)

// without is valid() less one key, as an environment that misspells it has.
func without(key string, kv ...string) map[string]string {
	m := with(kv...)
	delete(m, key)
	return m
}

func TestNearMissKeyIsAnError(t *testing.T) {
	for _, c := range []struct {
		name, key, known string
	}{
		{"case", "LoadBalance.Service_IP_Range", KeyServiceRanges},
		{"leading and trailing space", " loadbalance.service_ip_range ", KeyServiceRanges},
		{"tab and newline", "\tloadbalance.service_ip_range\n", KeyServiceRanges},
		{"hyphens", "loadbalance.service-ip-range", KeyServiceRanges},
		{"space inside", "loadbalance. service_ip_range", KeyServiceRanges},
		{"a secret's key", "Appliance.Root_Pwd", KeyRootPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			const value = "10.99.0.0/24-Sup3rS3cret"
			_, _, fs := FromProperties(without(c.known, c.key, value))
			errs := errorsAt(fs, c.known)
			if len(errs) != 1 {
				t.Fatalf("want one error at %s, got:\n%v", c.known, fs)
			}
			msg := errs[0].String()
			for _, w := range []string{fmt.Sprintf("%q", c.key), fmt.Sprintf("%q", c.known)} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %s", msg, w)
				}
			}
			if strings.Contains(fs.Error(), "Sup3rS3cret") {
				t.Errorf("findings show the value:\n%v", fs)
			}
		})
	}
}

// Both spellings present: the near miss is still an error, so the
// operator learns which one the appliance used.
func TestNearMissNextToTheRealKey(t *testing.T) {
	_, _, fs := FromProperties(with("LOADBALANCE.SERVICE_IP_RANGE", "10.1.0.0/24"))
	if len(errorsAt(fs, KeyServiceRanges)) != 1 {
		t.Fatalf("want an error at %s, got:\n%v", KeyServiceRanges, fs)
	}
}

func TestUnknownKeyIsAWarning(t *testing.T) {
	for _, c := range []struct {
		key, hint string
	}{
		{"loadbalance.service_ip_ranges", "did you mean loadbalance.service_ip_range?"},
		{"network.nameserver", "did you mean network.nameservers?"},
		{"service_ip_range", "did you mean loadbalance.service_ip_range?"},
		{"vami.timezone", "remove it"},
	} {
		t.Run(c.key, func(t *testing.T) {
			_, _, fs := FromProperties(with(c.key, "s3cret-value"))
			if fs.HasErrors() {
				t.Fatalf("an unknown key made the configuration invalid:\n%v", fs)
			}
			var got *finding.Finding
			for i, f := range fs {
				if f.Where == c.key {
					got = &fs[i]
				}
			}
			if got == nil || got.Severity != finding.Warning {
				t.Fatalf("no warning naming %q in:\n%v", c.key, fs)
			}
			if !strings.Contains(got.Hint, c.hint) {
				t.Errorf("hint %q, want it to contain %q", got.Hint, c.hint)
			}
			if strings.Contains(fs.Error(), "s3cret-value") {
				t.Errorf("findings show the value:\n%v", fs)
			}
		})
	}
}

func TestKnownKeysGiveNoKeyFindings(t *testing.T) {
	_, _, fs := FromProperties(valid())
	for _, f := range fs {
		if strings.Contains(f.Message, "not a property") || strings.Contains(f.Message, "the OVF environment has the key") {
			t.Errorf("finding about a known key: %v", f)
		}
	}
}

// Thousands of stray keys give a bounded report that still counts them.
func TestManyStrayKeysAreCounted(t *testing.T) {
	m := valid()
	for i := range 5000 {
		m[fmt.Sprintf("x.key%d", i)] = "v"
		m[fmt.Sprintf("LOADBALANCE.SERVICE_IP_RANGE%s", strings.Repeat(" ", i+1))] = "v"
	}
	_, _, fs := FromProperties(m)
	if n := len(fs); n > 2*maxKeyFindings+2+5 {
		t.Fatalf("%d findings for stray keys, want at most %d", n, 2*maxKeyFindings+2)
	}
	all := fs.Error()
	for _, w := range []string{"4980 more keys differ", "4980 more keys are not"} {
		if !strings.Contains(all, w) {
			t.Errorf("findings do not say %q:\n%s", w, all)
		}
	}
	if !fs.HasErrors() {
		t.Error("near misses beyond the cap no longer make the configuration invalid")
	}
}
