package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

var scanCases = []string{
	`{}`, `[]`, `0`, `-0`, `1.5e-3`, `1E+2`, `"s"`, `true`, `false`, `null`, ` {"a" : [1, {"b":null}] } `,
	`{"model":"gpt-4o","messages":[{"role":"user","content":"caf\u00e9 \"quoted\" \\ \/ \b\f\n\r\t"}],"stream":true}`,
	"\"\xff\xfe\"", "\"\x7f\"", `"12345678901234567890"`,
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `"\u12"`, `"\x"`, "\"\t\"", `[1 2]`,
	`{"a" 1}`, `{"a":}`, `{1:2}`, `nul`, `truex`, `{}x`, `1 2`, `"unterminated`, `[`, `[[]`, `{"a":[}`, `"a\`,
}

// Valid answers as encoding/json does, on every table case.
func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range scanCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

// Nesting is accepted to encoding/json's depth and refused past it — and a
// body of millions of brackets (which overflowed the stack of gjson's
// recursive validator, a fatal error) is refused promptly.
func TestDepth(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	}
	if _, err := Scan(nest(MaxDepth-1), nil); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	if _, err := Scan(nest(MaxDepth), nil); !errors.Is(err, ErrTooDeep) || json.Valid(nest(MaxDepth)) {
		t.Fatalf("depth %d: %v (encoding/json valid: %v)", MaxDepth+1, err, json.Valid(nest(MaxDepth)))
	}
	start := time.Now()
	if _, err := Scan(nest(8_500_000), nil); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("17 MB of brackets: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing deep nesting took %v", d)
	}
}

type member struct {
	name    string
	escaped bool
	raw     string
}

func members(t *testing.T, body string) ([]member, bool, error) {
	t.Helper()
	var got []member
	obj, err := Scan([]byte(body), func(name []byte, escaped bool, start, end int) {
		got = append(got, member{string(name), escaped, body[start:end]})
	})
	return got, obj, err
}

// Every top-level member is reported once, in order, with its raw value;
// nested members are not.
func TestMembers(t *testing.T) {
	body := ` {"a":1, "b" : [1,{"c":2}] ,"d":"x\"y","e":{},"f":{"g":{"h":[]}},"i\u006a":null,"k":[]} `
	got, obj, err := members(t, body)
	want := []member{{"a", false, "1"}, {"b", false, `[1,{"c":2}]`}, {"d", false, `"x\"y"`}, {"e", false, "{}"},
		{"f", false, `{"g":{"h":[]}}`}, {`i\u006a`, true, "null"}, {"k", false, "[]"}}
	if err != nil || !obj || len(got) != len(want) {
		t.Fatalf("Scan = %v, %v; members %+v", obj, err, got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, body := range []string{`[{"a":1}]`, `"s"`, `{}`} {
		got, obj, err := members(t, body)
		if err != nil || len(got) != 0 || obj != (body[0] == '{') {
			t.Errorf("%s: members %+v, object %v, %v", body, got, obj, err)
		}
	}
}

// FuzzScan holds Scan to encoding/json: the same verdict on every input,
// and for an object, members that rebuild it exactly.
func FuzzScan(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rebuilt bytes.Buffer
		rebuilt.WriteByte('{')
		obj, err := Scan(b, func(name []byte, _ bool, start, end int) {
			if rebuilt.Len() > 1 {
				rebuilt.WriteByte(',')
			}
			rebuilt.WriteByte('"')
			rebuilt.Write(name)
			rebuilt.WriteString(`":`)
			rebuilt.Write(b[start:end])
		})
		rebuilt.WriteByte('}')
		if (err == nil) != json.Valid(b) {
			t.Fatalf("Scan(%q) = %v, encoding/json valid %v", b, err, json.Valid(b))
		}
		if err != nil {
			return
		}
		if gjson.ValidBytes(b) != true {
			t.Fatalf("gjson rejects %q", b)
		}
		if obj {
			var want, got bytes.Buffer
			if json.Compact(&want, b) != nil || json.Compact(&got, rebuilt.Bytes()) != nil || want.String() != got.String() {
				t.Fatalf("members of %q rebuild %q", b, rebuilt.Bytes())
			}
		}
	})
}

func BenchmarkScan(b *testing.B) {
	turn := `{"role":"user","content":[{"type":"text","text":"` + strings.Repeat(`Refactor the parser so it handles \"quoted\" input.\n`, 40) + `","cache_control":{"type":"ephemeral"}}]}`
	bodies := map[string][]byte{
		"bench-307B":   []byte(`{"model": "openai/gpt-4o-mini", "messages": [{"role": "system", "content": "You are a concise assistant."}, {"role": "user", "content": "Request wabcdefg: one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"}], "temperature": 0.2, "max_tokens": 256, "stream": true}`),
		"claude-100KB": []byte(`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"messages":[` + strings.TrimSuffix(strings.Repeat(turn+",", 45), ",") + `]}`),
	}
	for name, body := range bodies {
		b.Run(name+"/jsonscan", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !Valid(body) {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(name+"/gjson", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !gjson.ValidBytes(body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
