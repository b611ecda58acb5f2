package queue

import (
	"context"
	"fmt"
	"maps"
	"testing"
)

func finalOutcome(contact uint64, final string) Outcome {
	return Outcome{Job: Job{ContactID: contact, Round: 1}, Final: final,
		Event: Event{Contact: contact, Round: 1, Type: EventDelivered, Attempt: 1}}
}

// The marks of a send whose owner reads the bitmap go to the bitmap, two
// bits a contact: every outcome reads back as written, through DoneMarks
// and AllMarks, and a cleared mark is gone. Contacts past the bitmap's
// bound are marked in the hash.
func TestMarksInTheBitmap(t *testing.T) {
	ctx := context.Background()
	rdb := scriptsRedis(t)
	const id = 7
	want := map[uint64]string{}
	var outs []Outcome
	for c := uint64(1); c <= 1000; c++ {
		final := []string{"sent", "failed", "skipped"}[c%3]
		outs = append(outs, finalOutcome(c, final))
		want[c] = final
	}
	far := uint64(maxBitmapContact + 1)
	outs = append(outs, finalOutcome(far, "sent"), Outcome{Job: Job{ContactID: 2000}, Event: Event{Contact: 2000, Type: EventRetry}})
	want[far] = "sent"
	if err := Commit(ctx, rdb, "w", id, outs, true); err != nil {
		t.Fatal(err)
	}
	all, err := AllMarks(ctx, rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(all, want) {
		t.Fatalf("AllMarks: %d marks, want %d (first differences: %v)", len(all), len(want), firstDiffs(all, want))
	}
	if n, _ := rdb.HLen(ctx, DoneKey(id)).Result(); n != 1 {
		t.Errorf("%d marks in the hash, want 1 (the contact past the bitmap's bound)", n)
	}
	if size, _ := rdb.StrLen(ctx, MarksKey(id)).Result(); size != 1001/4+1 {
		t.Errorf("the bitmap is %d bytes, want %d: two bits a contact", size, 1001/4+1)
	}
	got, err := DoneMarks(ctx, rdb, id, []uint64{1, 2, 3, 999, far, 2000, 5000})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(map[uint64]string{1: "failed", 2: "skipped", 3: "sent", 999: "sent", far: "sent"}) {
		t.Errorf("DoneMarks: %v", got)
	}
	if err := ClearMarks(ctx, rdb, id, []uint64{1, 3, far}); err != nil {
		t.Fatal(err)
	}
	got, err = DoneMarks(ctx, rdb, id, []uint64{1, 2, 3, far})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(map[uint64]string{2: "skipped"}) {
		t.Errorf("after clearing 1, 3 and %d: %v", far, got)
	}
}

// A send whose live settings do not say "bitmap" was started by an owner
// that reads and clears only the hash: its marks go there, and this tui
// reads and clears them too.
func TestMarksInTheHashForAnEarlierOwner(t *testing.T) {
	ctx := context.Background()
	rdb := scriptsRedis(t)
	const id = 8
	if err := Commit(ctx, rdb, "w", id, []Outcome{finalOutcome(1, "sent"), finalOutcome(2, "failed")}, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, MarksKey(id)).Result(); n != 0 {
		t.Error("a bitmap was written for an owner that does not read it")
	}
	if m, _ := rdb.HGetAll(ctx, DoneKey(id)).Result(); fmt.Sprint(m) != "map[1:sent 2:failed]" {
		t.Errorf("the hash holds %v", m)
	}
	// The earlier owner clears a mark as it does: HDEL.
	if err := rdb.HDel(ctx, DoneKey(id), "2").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := DoneMarks(ctx, rdb, id, []uint64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[1:sent]" {
		t.Errorf("DoneMarks: %v", got)
	}
	if err := ClearMarks(ctx, rdb, id, []uint64{1}); err != nil {
		t.Fatal(err)
	}
	if all, _ := AllMarks(ctx, rdb, id); len(all) != 0 {
		t.Errorf("marks left after clearing: %v", all)
	}
}

// The settings an owner writes say that it reads the bitmap.
func TestControlSaysMarksAreInTheBitmap(t *testing.T) {
	ctx := context.Background()
	rdb := scriptsRedis(t)
	if err := SetControl(ctx, rdb, 9, Control{State: StateSending}); err != nil {
		t.Fatal(err)
	}
	m, err := rdb.HGetAll(ctx, ControlKey(9)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !ParseControl(m).BitmapMarks {
		t.Errorf("settings %v do not say the marks are in the bitmap", m)
	}
	if ParseControl(map[string]string{"state": "sending"}).BitmapMarks {
		t.Error("settings without the field say the bitmap")
	}
}

func firstDiffs(got, want map[uint64]string) []string {
	var out []string
	for k, v := range want {
		if got[k] != v && len(out) < 5 {
			out = append(out, fmt.Sprintf("%d: %q, want %q", k, got[k], v))
		}
	}
	return out
}
