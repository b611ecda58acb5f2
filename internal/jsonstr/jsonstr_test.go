package jsonstr

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// seeds holds every byte class the quoting treats apart.
var seeds = []string{"", "plain", `a"b\c`, "<b>&amp;</b>", "\b\f\n\r\t\x00\x01\x1f\x7f", "é日😀",
	"\u2028\u2029", "\xff", "\xc3", "\xe2\x80", "\ufffd", "line\u2028sep<&>", "/"}

func marshalled(t *testing.T, s string) []byte {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func encodedNoHTML(t *testing.T, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		var sb strings.Builder
		for range r.IntN(20) {
			sb.WriteString(seeds[r.IntN(len(seeds))])
		}
		s := sb.String()
		if got, want := Append(nil, s), marshalled(t, s); !bytes.Equal(got, want) {
			t.Fatalf("case %d %q: Append %s, json.Marshal %s", i, s, got, want)
		}
		if got, want := AppendNoHTML(nil, s), encodedNoHTML(t, s); !bytes.Equal(got, want) {
			t.Fatalf("case %d %q: AppendNoHTML %s, Encoder without HTML escaping %s", i, s, got, want)
		}
	}
}

// Appending keeps what dst held.
func TestAppendKeepsThePrefix(t *testing.T) {
	got := AppendNoHTML(Append([]byte("x:"), "<"), "<")
	if string(got) != `x:"\u003c""<"` {
		t.Fatalf("got %s", got)
	}
}

func FuzzAppendMatchesEncodingJSON(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Append(nil, s), marshalled(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: Append %s, json.Marshal %s", s, got, want)
		}
		if got, want := AppendNoHTML(nil, s), encodedNoHTML(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: AppendNoHTML %s, Encoder without HTML escaping %s", s, got, want)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	s := strings.Repeat("Dear Ada, your order <#42> ships today & arrives soon.\n", 8)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = Append(buf[:0], s)
	}
}
