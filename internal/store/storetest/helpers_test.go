package storetest

import "testing"

func TestJSONSame(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"b": [1, 2], "a": 1}`, true},
		{`{"x":12345678901234567890}`, `{"x":12345678901234567890}`, true},
		{`{"x":12345678901234567890}`, `{"x":12345678901234567000}`, false},
		{`{"x":1.5e-7}`, `{"x":0.00000015}`, true},
		{`{"x":3.0}`, `{"x":3}`, true},
		{`{"s":"\u00e9"}`, `{"s":"é"}`, true},
		{`[1,2]`, `[2,1]`, false},
		{`{"a":null}`, `{}`, false},
	}
	for _, c := range cases {
		got, err := jsonSame([]byte(c.a), []byte(c.b))
		if err != nil {
			t.Fatalf("jsonSame(%s, %s): %v", c.a, c.b, err)
		}
		if got != c.same {
			t.Errorf("jsonSame(%s, %s): expected %v, got %v", c.a, c.b, c.same, got)
		}
	}
	if _, err := jsonSame([]byte(`{"x":NaN}`), []byte(`{}`)); err == nil {
		t.Errorf("jsonSame with NaN text: expected an error")
	}
}
