package extend

import (
	"strings"
	"testing"
)

// TestRegistry: refused registrations (bad name, nil, other API version,
// duplicate) cannot be selected and say why; an unknown name lists the
// registered ones and the fix.
func TestRegistry(t *testing.T) {
	ok := func(env ReportEnv) (ReportApp, error) { return env.Builtin, nil }
	RegisterReportApp("reg-ok", APIVersion, ok)
	RegisterReportApp("Bad Name", APIVersion, ok)
	RegisterReportApp("reg-nil", APIVersion, nil)
	RegisterReportApp("reg-v9", 9, ok)
	RegisterReportApp("reg-twice", APIVersion, ok)
	RegisterReportApp("reg-twice", APIVersion, ok)

	if _, err := LookupReportApp("reg-ok"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Bad Name":  "register report factory: expected a factory name",
		"reg-nil":   "the factory function is nil",
		"reg-v9":    "was written for extend API v9, but this coordinator provides v1",
		"reg-twice": "is registered twice",
		"reg-none":  "REPORT_APP_FACTORY=reg-none: no report factory of that name is registered (registered: [reg-ok]): register it in the node's extensions/ package with extend.RegisterReportApp(\"reg-none\", 1, ...), or unset REPORT_APP_FACTORY",
	} {
		if _, err := LookupReportApp(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: expected an error containing %q, found %v", name, want, err)
		}
	}
	if _, err := LookupPredictService("reg-ok"); err == nil || !strings.Contains(err.Error(), "PREDICT_SERVICE_FACTORY=reg-ok") {
		t.Errorf("a report factory selected as predict service: %v", err)
	}
	var listed int
	for _, r := range Registered() {
		if strings.HasPrefix(r.Name, "reg-") || r.Name == "Bad Name" {
			listed++
			if (r.Err == nil) != (r.Name == "reg-ok") || r.Error == "" && r.Err != nil {
				t.Errorf("registration %+v", r)
			}
		}
	}
	if listed != 5 {
		t.Errorf("expected 5 registrations, found %d: %+v", listed, Registered())
	}
}

func TestCheckName(t *testing.T) {
	for name, valid := range map[string]bool{"custom-report": true, "a": true, "v1.2_x": true, "": false, "-x": false, "X": false, "a b": false, strings.Repeat("a", 65): false} {
		if (CheckName(name) == nil) != valid {
			t.Errorf("CheckName(%q) = %v", name, CheckName(name))
		}
	}
}
