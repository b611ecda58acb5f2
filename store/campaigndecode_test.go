package store

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// decodeCampaign must read exactly what json.Unmarshal reads.

func checkCampaignDecode(t *testing.T, raw []byte) {
	t.Helper()
	var want Campaign
	wantErr := json.Unmarshal(raw, &want)
	var got Campaign
	err := decodeCampaign(raw, &got)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, json.Unmarshal's %v", raw, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", raw, got, want)
	}
}

func TestDecodeCampaignMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 15, 123456789, time.UTC)
	finished := now.Add(time.Hour)
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func() string { return jsonStrings[rng.IntN(len(jsonStrings))] }
	for i := 0; i < 2000; i++ {
		c := Campaign{ID: rng.Uint64(), Name: pick(), Channel: Channel(pick()), From: pick(), URL: pick(),
			Subject: pick(), Body: pick() + "\n" + pick(), Rate: rng.IntN(3) * (rng.IntN(2000) - 1000),
			Status: Statuses[rng.IntN(len(Statuses))], Version: rng.Uint64N(1000),
			CreatedAt: now.Add(time.Duration(rng.Int64N(1 << 50))), UpdatedAt: now, UpdatedBy: pick()}
		if rng.IntN(3) > 0 {
			c.Tags = []string{pick(), pick()}
		}
		if rng.IntN(3) == 0 {
			c.MessagingType, c.MessageTag = MessagingType(pick()), pick()
		}
		if rng.IntN(3) > 0 {
			c.ExcludeTags = []string{}
		}
		if rng.IntN(2) == 0 {
			c.LastSend = &SendInfo{StartedAt: now, StartedBy: pick(), Total: rng.IntN(100), Sent: rng.IntN(100), Failed: -rng.IntN(2)}
			if rng.IntN(2) == 0 {
				c.LastSend.FinishedAt = &finished
			}
		}
		raw, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		checkCampaignDecode(t, raw)
	}
	for _, raw := range []string{
		`{}`, `null`, `{"id":1}x`, `{"id":-1}`, `{"rate":1e3}`, `{"rate":-7}`, `{"Name":"case"}`, `{"name":null}`,
		`{"last_send":null}`, `{"last_send":{}}`, `{"last_send":{"finished_at":null}}`,
		`{"last_send":{"total":1},"last_send":{"sent":2}}`, `{"tags":["a"],"tags":["b","c"]}`,
		`{"created_at":"2025-03-01T09:30:15+02:00"}`, `{"unknown":1}`, ` { "id" : 3 , "name" : "sp ace" } `,
		`{"name":"a\u00e9\"b"}`, `{"id":1,}`, `{"id":18446744073709551616}`,
		// Found by FuzzDecodeCampaign.
		`{}0`, `{"id":00}`, "{} \x00", `{"version":1}` + "\x00",
	} {
		checkCampaignDecode(t, []byte(raw))
	}
}

func FuzzDecodeCampaign(f *testing.F) {
	c := fxCampaign("seed")
	c.LastSend = &SendInfo{Total: 3}
	seed, _ := json.Marshal(&c)
	f.Add(seed)
	f.Add([]byte(`{"last_send":{"finished_at":"2025-03-01T09:30:15Z"},"rate":-1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkCampaignDecode(t, raw)
	})
}
