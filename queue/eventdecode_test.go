package queue

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

var sampleEvents = []Event{
	{Contact: 1, Round: 1, Type: EventDelivered, Attempt: 1, At: time.Date(2026, 12, 6, 3, 4, 5, 123456789, time.UTC)},
	{Contact: 18446744073709551615, Type: EventFailed, Attempt: 5, Reason: "550 5.1.1 <a@b>: \"no\" such\tuser\n é ✓", At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	{Contact: 7, Round: 3, Type: EventRetry, Attempt: 2, Reason: "421 try later", TakenOver: true, At: time.Unix(0, 1).UTC()},
	{Contact: 8, Type: EventReclaimed, At: time.Unix(1700000000, 0).UTC()},
	{Contact: 9, Type: EventSkipped, Reason: "the send was cancelled", At: time.Unix(1700000000, 5).UTC()},
}

// The fast decoder reads exactly what encoding/json reads from the
// encoder's output, and gives up (for encoding/json) on anything else.
func TestDecodeEventsMatchesEncodingJSON(t *testing.T) {
	for n := 0; n <= len(sampleEvents); n++ {
		raw := string(appendEvents(nil, sampleEvents[:n]))
		var want []Event
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		got, err := parseEvents(raw)
		if err != nil || !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%d events:\n got %+v %v\nwant %+v", n, got, err, want)
		}
	}
	// Valid JSON in another form still reads, through encoding/json.
	got, err := parseEvents(`[ {"t":"delivered","k":4,"at":"2026-12-06T03:04:05Z"} ]`)
	if err != nil || len(got) != 1 || got[0].Contact != 4 || got[0].Type != EventDelivered {
		t.Fatalf("another form: %+v %v", got, err)
	}
	if _, err := parseEvents(`[{"k":1,`); err == nil {
		t.Fatal("a cut batch was accepted")
	}
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add(string(appendEvents(nil, sampleEvents)))
	f.Add(`[{"k":1,"t":"delivered","at":"2026-12-06T03:04:05Z"}]`)
	f.Fuzz(func(t *testing.T, raw string) {
		fast, err := decodeEvents(raw, nil)
		if err != nil {
			return
		}
		var want []Event
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("the fast path accepted %q, which encoding/json refuses: %v", raw, err)
		}
		if !reflect.DeepEqual(fast, want) && !(len(fast) == 0 && len(want) == 0) {
			t.Fatalf("%q:\nfast %+v\njson %+v", raw, fast, want)
		}
	})
}
