package queue

import (
	"reflect"
	"testing"
)

// A job's message fields survive the enqueue's encoder and a read back,
// and a plain job carries none of them.
func TestMessageFieldsRoundTrip(t *testing.T) {
	jobs := []Job{
		{CampaignID: 7, ContactID: 3, Round: 1, To: "a@example.com", Channel: "smtp", From: "n@example.com",
			Subject: "Hi", Body: "# Hi", Format: "markdown", Unsubscribe: "https://u.example.com/u/tok",
			UnsubscribeMailto: "mailto:u@example.com?subject=unsubscribe%20tok", Test: true},
		{CampaignID: 7, ContactID: 4, Round: 1, To: "b@example.com", Channel: "file", Subject: "Hi", Body: "plain", Format: "text"},
	}
	var enc xaddEncoder
	enc.prepare(jobs)
	for i := range jobs {
		j := &jobs[i]
		var got []string
		for _, a := range enc.args(JobsKey(7), jobs, i) {
			got = append(got, wire(t, a))
		}
		want := []string{"xadd", JobsKey(7), j.StreamID()}
		values := map[string]any{}
		vs := j.values()
		for k := 0; k < len(vs); k += 2 {
			want = append(want, vs[k].(string), vs[k+1].(string))
			values[vs[k].(string)] = vs[k+1]
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("job %d: encoder %q, values %q", i, got, want)
		}
		back, err := ParseJob(7, j.StreamID(), values)
		if err != nil {
			t.Fatal(err)
		}
		wantBack := *j
		wantBack.Attempt = 1
		if wantBack.Format == "text" {
			wantBack.Format = "" // text is the default and not written
		}
		if !reflect.DeepEqual(back, wantBack) {
			t.Errorf("job %d read back as\n%+v\nwant\n%+v", i, back, wantBack)
		}
	}
	if n := len(jobs[1].values()); n != 16 {
		t.Errorf("a plain job has %d values, want the 16 it had before message fields existed", n)
	}
}
